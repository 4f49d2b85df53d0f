"""The dependency graph: hand-computed propagation, validation, tables, severities."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import riskbench as rb
from helpers import ROOT
from riskbench.errors import ValidationError
from riskbench.graph import DependencyGraph, OutageLoss

EXAMPLE = ROOT / "examples" / "dependencies.yaml"


def chain(
    share: float = 0.6, *, buffer_days: float = 5, revenue: float = 100_000, **plant: Any
) -> DependencyGraph:
    """supplier -> plant (share, buffer) -> product (share 1, revenue per day)."""
    return DependencyGraph.from_dict(
        {
            "nodes": [
                {"id": "supplier", "kind": "supplier"},
                {"id": "plant", "kind": "site", "buffer_days": buffer_days, **plant},
                {"id": "product", "kind": "product", "revenue_per_day": revenue},
            ],
            "edges": [
                {"from": "supplier", "to": "plant", "share": share},
                {"from": "plant", "to": "product", "share": 1.0},
            ],
        }
    )


# -- propagation, by hand ------------------------------------------------------------------
def test_buffer_then_partial_loss_by_hand() -> None:
    # Buffer covers days 0-4; days 5-19 run at 40%: 15 days x 0.6 x 100k.
    impact = chain().outage("supplier", 20)
    assert impact.total_lost_revenue == pytest.approx(900_000, rel=1e-12)
    cap = impact.capacity
    assert cap["plant"].iloc[4] == 1.0
    assert cap["plant"].iloc[5] == pytest.approx(0.4)
    assert cap["product"].iloc[19] == pytest.approx(0.4)
    assert cap["plant"].iloc[20] == 1.0
    assert impact.horizon_days == 21
    assert list(impact.lost_revenue.index) == ["product"]


def test_outage_shorter_than_the_buffer_costs_nothing() -> None:
    assert chain().outage("supplier", 5).total_lost_revenue == 0.0


def test_fractional_days_and_no_buffer() -> None:
    impact = chain(buffer_days=0).outage("supplier", 2.5)
    assert impact.total_lost_revenue == pytest.approx(0.6 * 100_000 * 2.5)


def test_alternatives_replace_their_share_after_the_delay() -> None:
    g = chain(1.0, buffer_days=0, revenue=100, alternatives={"share": 0.5, "delay_days": 4})
    # Days 0-3 lose everything, days 4-9 half: (4 + 6 * 0.5) * 100.
    assert g.outage("supplier", 10).total_lost_revenue == pytest.approx(700)


def test_buffer_is_consumed_in_proportion_to_the_shortfall() -> None:
    def two_inputs(buffer_days: float) -> DependencyGraph:
        return DependencyGraph.from_dict(
            {
                "nodes": [
                    {"id": "a", "kind": "supplier"},
                    {"id": "b", "kind": "supplier"},
                    {"id": "plant", "kind": "site", "buffer_days": buffer_days},
                    {"id": "p", "kind": "product", "revenue_per_day": 100},
                ],
                "edges": [
                    {"from": "a", "to": "plant", "share": 0.5},
                    {"from": "b", "to": "plant", "share": 0.5},
                    {"from": "plant", "to": "p", "share": 1.0},
                ],
            }
        )

    # Half the input is lost: 4 buffer days last 8 days, then 2 days at 50%.
    assert two_inputs(4).outage("a", 10).total_lost_revenue == pytest.approx(100)
    # 4.25 days: day 8 is half covered (25% lost), day 9 50% lost.
    assert two_inputs(4.25).outage("a", 10).total_lost_revenue == pytest.approx(75)


def test_restart_holds_the_loss_after_the_inputs_return() -> None:
    g = chain(1.0, buffer_days=0, revenue=100, recovery_days=3)
    impact = g.outage("supplier", 5)
    assert impact.horizon_days == 5 + 3 + 1
    assert impact.total_lost_revenue == pytest.approx(800)
    assert list(impact.capacity["plant"]) == [0, 0, 0, 0, 0, 0, 0, 0, 1]


def test_a_recovery_distribution_is_used_at_its_mean() -> None:
    g = chain(
        1.0,
        buffer_days=0,
        revenue=100,
        recovery_days={"dist": "pert", "low": 1, "mode": 2, "high": 9},
    )
    assert g.outage("supplier", 5).total_lost_revenue == pytest.approx((5 + 3) * 100)


def test_horizon_cuts_the_loss() -> None:
    assert chain().outage("supplier", 20, horizon_days=10).total_lost_revenue == pytest.approx(
        5 * 0.6 * 100_000
    )


def test_outage_of_the_product_itself() -> None:
    assert chain().outage("product", 3).total_lost_revenue == pytest.approx(300_000)


def test_outage_arguments_are_checked() -> None:
    with pytest.raises(ValidationError, match=r"node: unknown node 'nope'; known nodes: plant"):
        chain().outage("nope", 3)
    with pytest.raises(ValidationError, match=r"days: must be a number of days >= 0, got -1"):
        chain().outage("supplier", -1)


# -- validation ----------------------------------------------------------------------------
def messages(data: Any) -> list[str]:
    with pytest.raises(ValidationError) as info:
        DependencyGraph.from_dict(data)
    return [str(i) for i in info.value.issues]


def test_every_problem_is_reported_at_once() -> None:
    found = messages(
        {
            "nodes": [
                {"id": "a", "kind": "supplier", "revenue_per_day": 5},
                {"id": "b", "kind": "factory"},
                {"id": "c", "kind": "site", "buffer_days": -2, "recovery_days": -1},
                {"id": "d", "kind": "site", "alternatives": {"share": 1.5, "delay_days": -3}},
                {"id": "a", "kind": "site"},
            ],
            "edges": [
                {"from": "a", "to": "c", "share": 0.7},
                {"from": "d", "to": "c", "share": 0.6},
                {"from": "a", "to": "ghost", "share": 0.1},
                {"from": "c", "to": "d", "share": -0.1},
            ],
            "colour": "red",
        }
    )
    expected = [
        "colour: is not a known key; allowed: name, currency, description, nodes, edges",
        "nodes[0] (a).revenue_per_day: only product and revenue nodes earn revenue, got 5 on a supplier node",
        "nodes[1] (b).kind: unknown kind 'factory'; allowed: supplier, site, system, process, product, revenue",
        "nodes[2] (c).buffer_days: must be a number of days >= 0, got -2",
        "nodes[2] (c).recovery_days: must be a number of days >= 0 or a distribution, got -1",
        "nodes[3] (d).alternatives.share: must be a fraction in [0, 1], got 1.5",
        "nodes[3] (d).alternatives.delay_days: must be a number of days >= 0, got -3",
        "edges[3] (c -> d).share: must be a fraction in [0, 1], got -0.1",
        "nodes[4] (a).id: duplicate id; first used by nodes[0]",
        "edges[2] (a -> ghost).to: unknown node 'ghost'; known nodes: a, b, c, d",
        "nodes[2] (c): input shares sum to 1.3 (a: 0.7, d: 0.6); allowed: at most 1",
        "edges: cycle c -> d -> c: a node cannot depend on itself; remove one of these edges",
    ]
    for message in expected:
        assert message in found, f"{message!r} not in {found}"
    assert len(found) == len(expected)


def test_cycles_are_named() -> None:
    found = messages(
        {
            "nodes": [{"id": x, "kind": "site"} for x in "xyz"],
            "edges": [
                {"from": "x", "to": "y", "share": 0.5},
                {"from": "y", "to": "z", "share": 0.5},
                {"from": "z", "to": "x", "share": 0.5},
            ],
        }
    )
    assert len(found) == 1
    assert "cycle" in found[0]
    assert all(n in found[0] for n in "xyz")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("text", "must be a mapping with nodes and edges, got 'text'"),
        ({"nodes": {}}, "nodes: must be a list, got {}"),
        ({"nodes": [3]}, "nodes[0]: must be a mapping with id and kind, got 3"),
        ({"nodes": [{"kind": "site"}]}, "nodes[0].id: must be a non-empty string, got None"),
        (
            {"nodes": [{"id": "a", "kind": "site", "recovery_days": {"dist": "pert", "low": 5}}]},
            "nodes[0] (a).recovery_days.mode: is required",
        ),
        (
            {
                "nodes": [
                    {
                        "id": "a",
                        "kind": "site",
                        "recovery_days": {"dist": "normal", "mean": 5, "sd": 1},
                    }
                ]
            },
            "nodes[0] (a).recovery_days: must not give negative days",
        ),
        (
            {"nodes": [{"id": "a", "kind": "site", "alternatives": 0.5}]},
            "nodes[0] (a).alternatives: must be a mapping with share and delay_days, got 0.5",
        ),
        (
            {"nodes": [{"id": "a", "kind": "site", "alternatives": {"delay_days": 2, "days": 1}}]},
            "nodes[0] (a).alternatives.days: is not a known key; allowed: share, delay_days",
        ),
        (
            {"nodes": [{"id": "a", "kind": "site", "alternatives": {"delay_days": 2}}]},
            "nodes[0] (a).alternatives.share: is required",
        ),
        (
            {"nodes": [{"id": "a", "kind": "site", "tags": ["x"]}]},
            "nodes[0] (a).tags: an extra attribute must be a plain value, got ['x']",
        ),
        ({"edges": ["a"]}, "edges[0]: must be a mapping with from, to and share, got 'a'"),
        ({"edges": [{"to": "b", "share": 1}]}, "edges[0].from: must be a node id, got None"),
        (
            {
                "nodes": [{"id": "a", "kind": "site"}, {"id": "b", "kind": "site"}],
                "edges": [{"from": "a", "to": "b"}],
            },
            "edges[0] (a -> b).share: is required (a fraction in [0, 1])",
        ),
        (
            {
                "nodes": [{"id": "a", "kind": "site"}, {"id": "b", "kind": "site"}],
                "edges": [{"from": "a", "to": "b", "share": 1, "weight": 2}],
            },
            "edges[0].weight: is not a known key; allowed: from, to, share",
        ),
        (
            {
                "nodes": [{"id": "a", "kind": "site"}, {"id": "b", "kind": "site"}],
                "edges": [
                    {"from": "a", "to": "b", "share": 0.1},
                    {"from": "a", "to": "b", "share": 0.1},
                ],
            },
            "edges[1] (a -> b): duplicate edge; give each dependency once",
        ),
        (
            {"nodes": [{"id": "p", "kind": "product", "revenue_per_day": -5}]},
            "nodes[0] (p).revenue_per_day: must be a revenue >= 0 per day, got -5",
        ),
        (
            {
                "nodes": [{"id": "b", "kind": "site"}],
                "edges": [{"from": "x", "to": "b", "share": 1}],
            },
            "edges[0] (x -> b).from: unknown node 'x'; known nodes: b",
        ),
        (
            {"nodes": [{"id": "a", "kind": "site", "buffer_days": "lots"}]},
            "nodes[0] (a).buffer_days: must be a number of days >= 0, got 'lots'",
        ),
    ],
)
def test_each_validation_message(data: Any, message: str) -> None:
    found = messages(data)
    assert any(m.startswith(message) for m in found), found


def test_yaml_errors_name_the_file(tmp_path: Path) -> None:
    path = tmp_path / "dependencies.yaml"
    path.write_text(
        "nodes:\n  - {id: tsmc, kind: supplier}\n  - {id: assembly, kind: site}\n"
        "edges:\n  - {from: tsmc, to: assembly, share: 1.5}\n"
    )
    with pytest.raises(ValidationError) as info:
        DependencyGraph.from_yaml(path)
    assert str(info.value) == (
        "dependencies.yaml: edges[0] (tsmc -> assembly).share: must be a fraction in [0, 1], got 1.5"
    )


def test_csv_gives_the_same_graph_as_the_dict(tmp_path: Path) -> None:
    nodes = tmp_path / "nodes.csv"
    edges = tmp_path / "edges.csv"
    nodes.write_text(
        "id,kind,revenue_per_day,buffer_days,recovery_days,alternatives_share,alternatives_delay_days\n"
        "supplier,supplier,,,,,\nplant,site,,5,,0.5,4\nproduct,product,100000,,,,\n"
    )
    edges.write_text("from,to,share\nsupplier,plant,0.6\nplant,product,1\n")
    g = DependencyGraph.from_csv(nodes, edges)
    expected = chain(alternatives={"share": 0.5, "delay_days": 4})
    assert g.to_dict()["nodes"] == expected.to_dict()["nodes"]
    assert g.outage("supplier", 20).total_lost_revenue == pytest.approx(
        expected.outage("supplier", 20).total_lost_revenue
    )
    edges.write_text("from,to,share\nsupplier,plant,lots\n")
    with pytest.raises(
        ValidationError, match=r"nodes.csv, edges.csv: edges\[0\] \(supplier -> plant\)"
    ):
        DependencyGraph.from_csv(nodes, edges)


def test_to_dict_round_trips() -> None:
    g = DependencyGraph.from_yaml(EXAMPLE)
    again = DependencyGraph.from_dict(g.to_dict())
    assert again.to_dict() == g.to_dict()


# -- analysis tables -----------------------------------------------------------------------
def test_single_points_of_failure_threshold() -> None:
    g = chain()
    # 30 days: the plant loses 30 x 100k (100 %), the supplier 25 x 60k (50 %).
    table = g.single_points_of_failure(30, 0.4)
    assert list(table["node"]) == ["plant", "supplier"]
    assert list(table["share"]) == pytest.approx([1.0, 0.5])
    assert list(g.single_points_of_failure(30, 0.6)["node"]) == ["plant"]
    assert g.single_points_of_failure(30, 1.0).empty


def test_concentration_shares() -> None:
    g = DependencyGraph.from_dict(
        {
            "nodes": [
                {"id": "a", "kind": "supplier", "region": "EU"},
                {"id": "b", "kind": "supplier", "region": "EU"},
                {"id": "c", "kind": "supplier", "region": "ASIA"},
                {"id": "plant", "kind": "site"},
                {"id": "p1", "kind": "product", "revenue_per_day": 300},
                {"id": "p2", "kind": "product", "revenue_per_day": 100},
            ],
            "edges": [
                {"from": "a", "to": "plant", "share": 0.6},
                {"from": "b", "to": "plant", "share": 0.4},
                {"from": "plant", "to": "p1", "share": 1.0},
                {"from": "c", "to": "p2", "share": 0.5},
            ],
        }
    )
    by_supplier = g.concentration().set_index("supplier")["share"]
    assert by_supplier.to_dict() == pytest.approx({"a": 0.45, "b": 0.3, "c": 0.125})
    by_region = g.concentration("region", kind="supplier").set_index("region")["share"]
    assert by_region.to_dict() == pytest.approx({"EU": 0.75, "ASIA": 0.125})
    with pytest.raises(ValidationError, match="no node has kind or attribute 'colour'"):
        g.concentration("colour")


def test_example_concentration_by_region_adds_up_the_suppliers() -> None:
    g = DependencyGraph.from_yaml(EXAMPLE)
    suppliers = g.concentration()
    assert ((suppliers["share"] >= 0) & (suppliers["share"] <= 1)).all()
    regions = g.concentration("region", kind="supplier")
    # Suppliers have no inputs, so a group's exposure is the sum of its members'.
    assert regions["share"].sum() == pytest.approx(suppliers["share"].sum())


def test_critical_paths() -> None:
    table = chain().critical_paths()
    assert table.to_dict("records") == [
        {
            "to": "product",
            "source": "supplier",
            "path": "supplier -> plant -> product",
            "share": 0.6,
        }
    ]
    g = DependencyGraph.from_yaml(EXAMPLE)
    paths = g.critical_paths().set_index("to")
    assert (
        paths.loc["hydraulic-valves", "path"]
        == "valve-forgings -> plant-poland -> hydraulic-valves"
    )
    assert paths.loc["hydraulic-valves", "share"] == pytest.approx(0.4)
    assert len(g.critical_paths(to="actuators")) == 1


def test_example_graph_loads_with_plausible_figures() -> None:
    g = DependencyGraph.from_yaml(EXAMPLE)
    assert 15 <= len(g.nodes) <= 30
    assert g.revenue_per_day == pytest.approx(1_600_000)
    kinds = {n.kind for n in g.nodes}
    assert kinds == {"supplier", "site", "system", "process", "product", "revenue"}
    spof = g.single_points_of_failure()
    assert not spof.empty
    assert spof["lost_revenue"].is_monotonic_decreasing


# -- Monte Carlo severity ----------------------------------------------------------------
def test_constant_days_give_the_deterministic_loss_exactly() -> None:
    g = DependencyGraph.from_yaml(EXAMPLE)
    loss = g.outage("erp", 12.5).total_lost_revenue
    sev = g.outage_loss_distribution("erp", rb.Constant(12.5))
    assert isinstance(sev, OutageLoss)
    assert sev.mean() == pytest.approx(loss, rel=1e-12)
    assert np.all(sev.sample(10, np.random.default_rng(0)) == loss)


def test_uniform_days_mean_is_the_average_loss() -> None:
    g = DependencyGraph.from_yaml(EXAMPLE)
    days = np.linspace(0, 40, 161)
    losses = [g.outage("plant-poland", d).total_lost_revenue for d in days]
    average = np.trapezoid(losses, days) / 40
    sev = g.outage_loss_distribution("plant-poland", rb.Uniform(0, 40))
    assert sev.mean() == pytest.approx(average, rel=0.01)
    draws = sev.sample(20_000, np.random.default_rng(1))
    assert draws.mean() == pytest.approx(average, rel=0.03)


def test_extra_cost_and_use_as_a_scenario_severity() -> None:
    g = chain()
    sev = g.outage_loss_distribution(
        "supplier",
        {"dist": "pert", "low": 2, "mode": 10, "high": 40},
        extra_cost=rb.Constant(50_000),
    )
    plain = g.outage_loss_distribution("supplier", rb.PERT(2, 10, 40))
    assert sev.mean() == pytest.approx(plain.mean() + 50_000)
    qs = sev.ppf(np.linspace(0, 1, 11))
    assert np.all(np.diff(qs) >= 0)
    assert sev.support_min == 50_000
    scenario = rb.Scenario(
        id="supplier-outage",
        title="Supplier outage",
        category="supply-chain",
        frequency=rb.Poisson(rate=0.5),
        severity=sev,
    )
    result = rb.simulate(rb.Portfolio([scenario]), trials=2_000, seed=0)
    assert result.summary().loc["supplier-outage", "mean"] > 0


def test_days_distribution_must_not_be_negative() -> None:
    with pytest.raises(ValidationError, match="days_dist: must not give negative days"):
        chain().outage_loss_distribution("supplier", rb.Uniform(-1, 3))


def test_the_docs_example_runs() -> None:
    text = (ROOT / "docs" / "analyses.md").read_text()
    section = text[text.index("## Dependency graph") :]
    end = section.find("\n## ", 1)
    section = section if end < 0 else section[:end]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, "docs/analyses.md", "exec"), namespace)


def test_graph_file_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(rb.ValidationError, match=r"missing\.yaml: no such file"):
        rb.DependencyGraph.from_yaml(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("nodes: [unclosed\n")
    with pytest.raises(
        rb.ValidationError, match=r"bad\.yaml: not valid YAML at line \d+, column \d+"
    ):
        rb.DependencyGraph.from_yaml(bad)

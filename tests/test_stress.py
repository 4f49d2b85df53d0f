"""Stress tests: shocks, stress sets, the paired comparison and reverse stress tests."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import riskbench as rb
from helpers import ROOT, scenario
from riskbench.mitigation import Mitigation
from riskbench.stress import (
    AddScenario,
    Combined,
    DropMitigation,
    ForceEvent,
    ScaleFrequency,
    ScaleSeverity,
    StressSet,
    load_stress_sets,
    reverse_stress,
    shock_from_dict,
    stress,
    stress_all,
)

STRESS_FILE = ROOT / "examples" / "stress.yaml"


def two() -> rb.Portfolio:
    return rb.Portfolio(
        [
            scenario("a", rb.Poisson(rate=1.5), rb.LogNormal.from_ci(1e4, 1e6), category="cyber"),
            scenario("b", rb.Poisson(rate=0.7), rb.Gamma(2, 1e-5), category="market"),
        ]
    )


def messages(err: pytest.ExceptionInfo[rb.ValidationError]) -> list[str]:
    return [str(i) for i in err.value.issues]


# ------------------------------------------------------------------- common random numbers
@pytest.mark.parametrize(
    "shock",
    [
        ScaleSeverity("a", 3.0),
        ScaleFrequency("a", 2.5),
        ForceEvent("a", quantile=0.95, count=2),
        AddScenario(scenario("c", rb.Bernoulli(p=0.3), rb.Constant(5e5))),
    ],
)
def test_a_shock_on_a_leaves_b_identical(shock: Any) -> None:
    res = stress(two(), shock, trials=5_000, seed=11)
    assert np.array_equal(res.scenario_losses("b", "base"), res.scenario_losses("b", "stressed"))
    row = res.table.loc["b"]
    assert row["mean_diff"] == 0
    assert row["mean_diff_se"] == 0


def test_scale_severity_multiplies_every_loss() -> None:
    p = rb.Portfolio([scenario("a", rb.Poisson(rate=2.0), rb.LogNormal.from_ci(1e4, 1e6))])
    res = stress(p, ScaleSeverity("a", 2.7), trials=5_000, seed=3)
    np.testing.assert_allclose(
        res.scenario_losses("a", "stressed"), 2.7 * res.scenario_losses("a", "base"), rtol=1e-12
    )
    assert res.table.loc["portfolio", "p99_ratio"] == pytest.approx(2.7, rel=1e-12)


@given(k=st.floats(1.0, 10.0), rate=st.floats(0.05, 5.0))
def test_scaling_up_never_lowers_a_year_even_with_insurance(k: float, rate: float) -> None:
    # The reverse stress test relies on this: severity factors move every year up.
    ins = rb.Insurance(
        per_event=rb.Layer(deductible=5e4, limit=2e5), annual=rb.Layer(deductible=1e4, limit=3e5)
    )
    p = rb.Portfolio([scenario("a", rb.Poisson(rate=rate), rb.Gamma(2, 1e-5), insurance=ins)])
    res = stress(p, ScaleSeverity("a", k), trials=500, seed=9)
    assert (res.stressed.annual_loss >= res.baseline.annual_loss - 1e-6).all()
    hit = stress(p, ScaleFrequency("a", k), trials=500, seed=9).stressed.counts["a"]
    assert (hit.to_numpy() >= res.baseline.counts["a"].to_numpy()).all()


def test_scale_frequency_on_poisson_raises_every_count() -> None:
    k = 3.0
    p = rb.Portfolio([scenario("a", rb.Poisson(rate=0.8), rb.Gamma(2, 1e-5))])
    res = stress(p, ScaleFrequency("a", k), trials=20_000, seed=5)
    base = res.baseline.counts["a"].to_numpy().astype(int)
    hit = res.stressed.counts["a"].to_numpy().astype(int)
    assert (hit >= base).all()
    ratio = hit.mean() / base.mean()
    # Counts: mean 2.4 vs 0.8 over 20,000 years; the ratio's relative error is < 1 %.
    assert ratio == pytest.approx(k, rel=0.03)
    row = res.table.loc["portfolio"]
    assert row["mean_ratio"] == pytest.approx(k, rel=0.05)
    assert (
        abs(row["mean_diff"] - (k - 1) * row["mean_base"])
        < 4 * row["mean_diff_se"] + 0.05 * (row["mean_base"])
    )


def test_scale_frequency_per_family() -> None:
    base = rb.Portfolio(
        [
            scenario("p", rb.Poisson(rate=0.5)),
            scenario("g", rb.Poisson(rate=rb.Gamma(2, 10))),
            scenario("u", rb.Poisson(rate=rb.PERT(0.1, 0.2, 0.6))),
            scenario("b", rb.Bernoulli(p=0.2)),
            scenario("n", rb.NegativeBinomial(r=2, p=0.6)),
        ]
    )
    out = ScaleFrequency(factor=4.0).apply(base)
    for s0, s1 in zip(base.scenarios, out.scenarios, strict=True):
        assert s1.frequency.mean() == pytest.approx(4 * s0.frequency.mean(), rel=1e-9), s0.id
    assert isinstance(out["g"].frequency.rate, rb.Gamma)  # type: ignore[attr-defined]
    assert out["n"].frequency.r == 2  # type: ignore[attr-defined]


def test_bernoulli_over_one_is_an_error_unless_capped() -> None:
    p = rb.Portfolio([scenario("b", rb.Bernoulli(p=0.4))])
    with pytest.raises(rb.ValidationError) as err:
        ScaleFrequency("b", 3).apply(p)
    (msg,) = messages(err)
    assert msg.startswith("factor: b: factor 3 x p 0.4 = 1.2 exceeds 1")
    assert "factor <= 2.5" in msg
    assert "cap=True" in msg
    capped = ScaleFrequency("b", 3, cap=True).apply(p)
    assert capped["b"].frequency.p == 1.0  # type: ignore[attr-defined]


def test_force_event_puts_the_quantile_in_every_year() -> None:
    sev = rb.LogNormal.from_ci(1e4, 1e6)
    p = rb.Portfolio([scenario("a", rb.Poisson(rate=0.1), sev), scenario("z")])
    shock = ForceEvent("a", quantile=0.9, count=2)
    forced = float(sev.ppf(0.9))
    assert shock.forced_value(p["a"]) == forced
    res = stress(p, shock, trials=3_000, seed=8)
    assert res.stressed.ids == ("a", "z", "a-forced-1", "a-forced-2")
    assert (res.scenario_losses("a-forced-1", "stressed") == forced).all()
    assert (res.stressed.annual_loss >= 2 * forced).all()
    assert np.array_equal(res.scenario_losses("a", "base"), res.scenario_losses("a", "stressed"))
    assert res.table.loc["a-forced-1", "mean_base"] == 0
    assert math.isnan(res.table.loc["a-forced-1", "mean_ratio"])
    one = ForceEvent("a").apply(p)
    assert one.ids[-1] == "a-forced"
    assert one["a-forced"].frequency == rb.Bernoulli(p=1.0)


def test_targets_all_and_category() -> None:
    p = two()
    every = ScaleSeverity(factor=2.0).apply(p)
    assert all(isinstance(s.severity, rb.dists.Scaled) for s in every.scenarios)
    cyber = ScaleSeverity(category="cyber", factor=2.0).apply(p)
    assert isinstance(cyber["a"].severity, rb.dists.Scaled)
    assert cyber["b"] == p["b"]


def test_combined_applies_in_order() -> None:
    shock = Combined(
        [ScaleSeverity("a", 2.0), {"kind": "scale_severity", "scenario": "a", "factor": 3}]
    )
    out = shock.apply(two())
    assert out["a"].severity.mean() == pytest.approx(6 * two()["a"].severity.mean())
    assert shock_from_dict(shock.to_dict()) == shock


# ------------------------------------------------------------------------- validation
@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda: ScaleSeverity("a", 0), "factor: must be > 0, got 0"),
        (lambda: ScaleFrequency("a", -2.0), "factor: must be > 0, got -2"),
        (
            lambda: ForceEvent("a", quantile=1.0),
            "quantile: must lie in (0, 1) (a fraction, 0.9 not 90), got 1",
        ),
        (
            lambda: ForceEvent("a", quantile=90),
            "quantile: must lie in (0, 1) (a fraction, 0.9 not 90), got 90",
        ),
        (lambda: ForceEvent("a", count=0), "count: must be a whole number >= 1, got 0"),
        (
            lambda: ScaleSeverity(category="cyberz", factor=2),
            "category: unknown category 'cyberz'; allowed: ['cyber'",
        ),
        (
            lambda: ScaleSeverity("a", 2, category="cyber"),
            "give a scenario id or a category, not both",
        ),
        (
            lambda: shock_from_dict({"kind": "nope"}),
            "kind: unknown shock kind 'nope'; allowed: ['add_scenario', 'combined'",
        ),
        (
            lambda: Combined([{"kind": "scale_severity", "factor": -1}]),
            "shocks[0].factor: must be > 0, got -1",
        ),
        (lambda: AddScenario({"id": "x", "title": "X"}), "scenario.category: is required"),
    ],
)
def test_shock_errors_name_field_value_and_allowed(make: Any, expected: str) -> None:
    with pytest.raises(rb.ValidationError) as err:
        make()
    assert any(m.startswith(expected) for m in messages(err)), messages(err)


def test_unknown_targets_are_reported_when_applied() -> None:
    with pytest.raises(rb.ValidationError) as err:
        ScaleSeverity("nope", 2.0).apply(two())
    assert messages(err) == [
        "scenario: unknown scenario id 'nope'; allowed: '*' or one of ['a', 'b']"
    ]
    with pytest.raises(rb.ValidationError) as err:
        ScaleSeverity(category="climate", factor=2.0).apply(two())
    assert messages(err) == [
        "category: no scenario in category 'climate'; categories in the portfolio: ['cyber', 'market']"
    ]
    with pytest.raises(rb.ValidationError, match=r"shocks\[1\].scenario: id 'a' is already"):
        stress(two(), [ScaleSeverity("a", 2.0), AddScenario(scenario("a"))], trials=10, seed=0)


def test_shocks_are_immutable() -> None:
    shock = ScaleSeverity("a", 2.0)
    with pytest.raises(Exception, match="frozen"):
        shock.factor = 3.0  # type: ignore[misc]


# ------------------------------------------------------------------------ stress files
def test_example_stress_file_loads_and_runs(example_portfolio: rb.Portfolio) -> None:
    sets = load_stress_sets(STRESS_FILE, portfolio=example_portfolio)
    assert {"severe but plausible", "2008-style demand shock", "cyber wave"} <= set(sets)
    out = stress_all(example_portfolio, sets, trials=2_000, seed=4)
    for name, res in out.items():
        row = res.table.loc["portfolio"]
        assert row["mean_stressed"] > row["mean_base"], name
        assert res.baseline is out["cyber wave"].baseline  # one baseline for all sets
    untouched = out["2008-style demand shock"].table.loc["plant-fire"]
    assert untouched["p99_diff"] == 0


def write(tmp_path: Path, data: Any) -> Path:
    path = tmp_path / "stress.yaml"
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def good_set(name: str = "ok") -> dict[str, Any]:
    return {"name": name, "shocks": [{"kind": "scale_severity", "scenario": "a", "factor": 2}]}


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (
            {
                "sets": [
                    good_set(),
                    {
                        "name": "cyber wave",
                        "shocks": [{"kind": "scale_frequency", "category": "cyber", "factor": -2}],
                    },
                ]
            },
            ["stress.yaml: sets[1] (cyber wave).shocks[0].factor: must be > 0, got -2"],
        ),
        (
            {
                "sets": [
                    {
                        "name": "x",
                        "shocks": [
                            {"kind": "force_event", "scenario": "a", "quantile": 1.5},
                            {"factor": 2},
                        ],
                    }
                ]
            },
            [
                "stress.yaml: sets[0] (x).shocks[0].quantile: must lie in (0, 1) (a fraction, 0.9 not 90), got 1.5",
                "stress.yaml: sets[0] (x).shocks[1].kind: unknown shock kind None; allowed: "
                "['add_scenario', 'combined', 'drop_mitigation', 'force_event', 'node_outage', 'scale_frequency', 'scale_severity']",
            ],
        ),
        (
            {
                "sets": [
                    {
                        "name": "x",
                        "shocks": [{"kind": "scale_severity", "factor": 2, "colour": "red"}],
                    }
                ]
            },
            ["stress.yaml: sets[0] (x).shocks[0].colour: is not a known key"],
        ),
        (
            {"sets": [{"name": "x", "shocks": []}]},
            ["stress.yaml: sets[0] (x).shocks: must be a non-empty list of shocks, got []"],
        ),
        ({"sets": [{"shocks": good_set()["shocks"]}]}, ["stress.yaml: sets[0].name: is required"]),
        (
            {"sets": [good_set(), good_set()]},
            ["stress.yaml: sets[1] (ok).name: duplicate name 'ok'"],
        ),
        ({"sets": []}, ["stress.yaml: sets: must be a non-empty list of stress sets, got []"]),
        ("sets: [a: b: c]", None),
    ],
)
def test_stress_file_errors_are_located(
    tmp_path: Path, data: Any, expected: list[str] | None
) -> None:
    with pytest.raises(rb.ValidationError) as err:
        load_stress_sets(write(tmp_path, data))
    lines = [f"{err.value.source}: {i}" for i in err.value.issues]
    if expected is None:
        assert lines[0].startswith("stress.yaml: not valid YAML at line 1")
    else:
        assert lines == expected


def test_stress_file_targets_are_checked_against_the_portfolio(tmp_path: Path) -> None:
    data = {
        "sets": [
            good_set(),
            {"name": "bad", "shocks": [{"kind": "scale_severity", "scenario": "zz", "factor": 2}]},
        ]
    }
    path = write(tmp_path, data)
    assert set(load_stress_sets(path)) == {"ok", "bad"}  # no portfolio: ids are not known
    with pytest.raises(rb.ValidationError) as err:
        load_stress_sets(path, portfolio=two())
    assert [str(i) for i in err.value.issues] == [
        "sets[1] (bad).shocks[0].scenario: unknown scenario id 'zz'; allowed: '*' or one of ['a', 'b']"
    ]


def test_stress_set_round_trips_and_accepts_objects() -> None:
    s = StressSet(
        name="n", shocks=[ScaleSeverity("a", 2.0), {"kind": "force_event", "scenario": "b"}]
    )
    again = StressSet(name="n", shocks=[shock_from_dict(x.to_dict()) for x in s.shocks])
    assert again == s


# ---------------------------------------------------------------------- reverse stress
def test_reverse_stress_matches_the_closed_form() -> None:
    rate, c, limit = 2.0, 1e5, 1.5e6
    p = rb.Portfolio([scenario("a", rb.Poisson(rate=rate), rb.Constant(c))])
    r = reverse_stress(p, kind="severity", limit=limit, trials=20_000, seed=1, repeats=3)
    expected = limit / (c * stats.poisson.ppf(0.99, rate))  # p99 of k*c*N is k*c*6
    assert r.status == "found"
    assert r.factor == pytest.approx(expected, rel=1e-3)
    assert all(f == pytest.approx(expected, rel=1e-3) for f in r.factors)
    assert r.spread < 1e-3 * expected
    assert "factor 2.5" in r.message


def test_reverse_stress_on_frequency_finds_a_crossing() -> None:
    p = rb.Portfolio([scenario("a", rb.Poisson(rate=1.0), rb.Constant(1.0))])
    r = reverse_stress(p, kind="frequency", limit=8, metric="mean", trials=5_000, seed=2, repeats=3)
    assert r.status == "found"
    assert r.factor == pytest.approx(8.0, rel=0.03)
    assert r.spread < 0.2


def test_reverse_stress_says_when_breached_or_not_reached() -> None:
    p = rb.Portfolio([scenario("a", rb.Poisson(rate=2.0), rb.Constant(1e5))])
    low = reverse_stress(p, kind="severity", limit=1e5, trials=2_000, seed=0, repeats=1)
    assert low.status == "breached at lower bound"
    assert low.factor == 1.0
    assert "breached without stress" in low.message
    high = reverse_stress(p, kind="severity", limit=1e9, trials=2_000, seed=0, repeats=1)
    assert high.status == "not reached"
    assert high.factor is None
    assert "not reached within bounds" in high.message


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"kind": "size"}, "kind: must be 'severity' or 'frequency', got 'size'"),
        (
            {"metric": "p999x"},
            "metric: must be 'mean', 'pNN' (p99) or 'tvarNN' (tvar99), got 'p999x'",
        ),
        ({"limit": -1}, "limit: must be a positive amount, got -1"),
        ({"bounds": (2, 1)}, "bounds: must be (low, high) with 0 < low < high, got (2, 1)"),
        ({"scenario": "nope"}, "scenario: unknown scenario id 'nope'"),
        ({"seed": -1}, "seed: must be a non-negative integer or None, got -1"),
    ],
)
def test_reverse_stress_input_errors(kwargs: dict[str, Any], expected: str) -> None:
    args: dict[str, Any] = {"kind": "severity", "limit": 1e6, "trials": 100, "seed": 0}
    args.update(kwargs)
    with pytest.raises(rb.ValidationError) as err:
        reverse_stress(two(), **args)
    assert any(m.startswith(expected) for m in messages(err)), messages(err)


def test_node_outage_adds_the_graphs_lost_revenue_every_year() -> None:
    from riskbench.graph import DependencyGraph

    portfolio = rb.load_portfolio("examples/register.yaml")
    shock = rb.NodeOutage("examples/dependencies.yaml", "valve-forgings", 30)
    expected = (
        DependencyGraph.from_yaml("examples/dependencies.yaml")
        .outage("valve-forgings", 30)
        .total_lost_revenue
    )
    assert expected > 0
    result = rb.stress(portfolio, shock, trials=2_000, seed=1)
    losses = result.stressed.scenario_losses("outage-valve-forgings")
    np.testing.assert_allclose(losses, expected)
    # Everything else is unchanged (common random numbers).
    np.testing.assert_array_equal(
        result.stressed.scenario_losses("plant-fire"), result.baseline.scenario_losses("plant-fire")
    )
    with pytest.raises(rb.ValidationError, match="days"):
        rb.NodeOutage("examples/dependencies.yaml", "valve-forgings", -1)
    card = shock_from_dict(
        {"kind": "node_outage", "graph": "examples/dependencies.yaml", "node": "erp", "days": 5}
    )
    assert isinstance(card, rb.NodeOutage)


# ------------------------------------------------------------------- dropping a mitigation
def guarded() -> tuple[rb.Portfolio, list[Mitigation]]:
    pf = rb.Portfolio(
        [
            scenario("a", rb.Poisson(rate=2.0), rb.Constant(1e5)),
            scenario("b", rb.Poisson(rate=0.7), rb.Gamma(2, 1e-5), category="market"),
        ]
    )
    plan = [
        Mitigation(id="halve-a", name="Halve A", scenarios=["a"], severity_factor=0.5),
        Mitigation(id="fewer-b", name="Fewer B", scenarios=["b"], frequency_factor=0.8),
    ]
    return pf, plan


def test_dropping_a_mitigation_undoes_it_year_by_year() -> None:
    pf, plan = guarded()
    res = stress(pf, DropMitigation("halve-a"), trials=5_000, seed=2, mitigations=plan)
    bare = stress(pf, ScaleSeverity("a", 1.0), trials=5_000, seed=2)
    base_a, stressed_a = res.scenario_losses("a", "base"), res.scenario_losses("a", "stressed")
    # The plan is in force in the baseline: half the unmitigated losses, year by year.
    assert np.array_equal(base_a, 0.5 * bare.scenario_losses("a", "base"))
    assert res.table.loc["a", "mean_base"] == pytest.approx(0.5 * bare.table.loc["a", "mean_base"])
    # Dropping it doubles every year's loss exactly (common random numbers).
    assert np.array_equal(stressed_a, 2 * base_a)
    assert res.table.loc["a", "mean_ratio"] == pytest.approx(2.0)
    # The other mitigation stays in force in both runs: b is unchanged.
    assert np.array_equal(res.scenario_losses("b", "base"), res.scenario_losses("b", "stressed"))
    assert res.table.loc["b", "mean_base"] < bare.table.loc["b", "mean_base"]


def test_the_plan_is_applied_after_the_other_shocks() -> None:
    pf, plan = guarded()
    shocks = [ScaleSeverity("a", 3.0), DropMitigation("fewer-b")]
    res = stress(pf, shocks, trials=2_000, seed=5, mitigations=plan)
    a_base = res.scenario_losses("a", "base")
    assert np.array_equal(res.scenario_losses("a", "stressed"), 3 * a_base)
    assert res.table.loc["b", "mean_stressed"] > res.table.loc["b", "mean_base"]
    # Without a DropMitigation the plan is simply in force in both runs.
    same = stress(pf, ScaleSeverity("b", 1.0), trials=2_000, seed=5, mitigations=plan)
    assert np.array_equal(same.scenario_losses("a", "base"), a_base)


def test_drop_mitigation_errors() -> None:
    pf, plan = guarded()
    with pytest.raises(rb.ValidationError) as info:
        stress(pf, DropMitigation("nope"), trials=10, seed=0, mitigations=plan)
    assert messages(info) == [
        "shocks[0].mitigation_id: unknown mitigation id 'nope'; "
        "mitigations in the plan: ['halve-a', 'fewer-b']"
    ]
    with pytest.raises(rb.ValidationError, match=r"pass mitigations=\[\.\.\.\]") as info:
        stress(pf, Combined([ScaleSeverity("a", 2.0), DropMitigation("halve-a")]), trials=10)
    assert info.value.issues[0].loc == "shocks[0].shocks[1].mitigation_id"
    with pytest.raises(rb.ValidationError, match="mitigation_id"):
        DropMitigation("")


def test_drop_mitigation_in_a_stress_file(tmp_path: Path) -> None:
    pf, plan = guarded()
    data = {
        "sets": [
            {
                "name": "controls fail",
                "shocks": [{"kind": "drop_mitigation", "mitigation_id": "halve-a"}],
            },
            good_set("a doubled"),
        ]
    }
    sets = load_stress_sets(write(tmp_path, data), portfolio=pf)
    assert sets["controls fail"].shocks == (DropMitigation("halve-a"),)
    assert shock_from_dict(DropMitigation("halve-a").to_dict()) == DropMitigation("halve-a")
    out = stress_all(pf, sets, trials=2_000, seed=8, mitigations=plan)
    failed = out["controls fail"]
    base_a = failed.scenario_losses("a", "base")
    assert np.array_equal(failed.scenario_losses("a", "stressed"), 2 * base_a)
    assert np.array_equal(
        failed.scenario_losses("b", "stressed"), failed.scenario_losses("b", "base")
    )
    assert np.array_equal(
        out["a doubled"].scenario_losses("a", "stressed"), 2 * base_a
    )  # factor 2 on a
    with pytest.raises(rb.ValidationError) as info:
        stress_all(pf, sets, trials=10, seed=0)
    assert info.value.issues[0].loc == "sets[controls fail].shocks[0].mitigation_id"

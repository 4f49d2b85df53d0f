"""CausalGraph (widgets/graph_view.py): headless, against riskbench computed directly."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import param
import pytest
from bokeh.resources import INLINE

import riskbench as rb
from helpers import external_resources
from riskbench.ai.facts import outage_days
from riskbench.ai.suggest import single_points_of_failure
from riskbench.errors import ValidationError
from riskbench.widgets._panel import KIND_COLOURS
from riskbench.widgets.graph_view import SPOF_OUTLINE, CausalGraph, layered_layout

GRAPH = Path(__file__).resolve().parents[1] / "examples" / "dependencies.yaml"


@pytest.fixture(scope="module")
def graph() -> rb.DependencyGraph:
    return rb.DependencyGraph.from_yaml(GRAPH)


@pytest.fixture
def view(graph: rb.DependencyGraph) -> CausalGraph:
    return CausalGraph(graph)


def test_node_colours_follow_kind(view: CausalGraph, graph: rb.DependencyGraph) -> None:
    table = view.node_table
    assert list(table.index) == [n.id for n in graph.nodes]
    for n in graph.nodes:
        assert table.loc[n.id, "colour"] == KIND_COLOURS[n.kind]
    # The drawn element carries the same colours.
    nodes = view.points.data.set_index("id")
    assert (nodes.loc[table.index, "colour"] == table["colour"]).all()


def test_spof_matches_suggest(view: CausalGraph, graph: rb.DependencyGraph) -> None:
    expected = tuple(n.id for n, _ in single_points_of_failure(graph))
    assert view.spof == expected
    assert set(view.node_table.index[view.node_table["spof"]]) == set(expected)
    nodes = view.points.data.set_index("id")
    assert set(nodes.index[nodes["outline"] == SPOF_OUTLINE]) == set(expected)
    for sid in expected:
        assert sid in view.spof_pane.object


def test_layout_layers_and_is_deterministic(graph: rb.DependencyGraph) -> None:
    pos = layered_layout(graph)
    assert pos == layered_layout(graph)
    last = max(x for x, _ in pos.values())
    for n in graph.nodes:
        if n.kind in ("product", "revenue"):
            assert pos[n.id][0] == last
        else:
            assert pos[n.id][0] < last
    for e in graph.edges:  # every edge points right
        assert pos[e.source][0] < pos[e.target][0]
    assert len(set(pos.values())) == len(pos)  # no two nodes on one spot


def test_choose_shows_outage(view: CausalGraph, graph: rb.DependencyGraph) -> None:
    impact = view.choose("valve-forgings", 90)
    expected = graph.outage("valve-forgings", 90)
    assert impact.total_lost_revenue == expected.total_lost_revenue
    pd.testing.assert_series_equal(
        view.table.object["lost_revenue"], expected.lost_revenue, check_names=False
    )
    assert f"{expected.total_lost_revenue:,.0f}" in view.total.object
    assert view.select.value == "valve-forgings"
    assert view.days_slider.value == 90
    # The capacity chart has one line per affected node.
    hit = [c for c in expected.capacity.columns if expected.capacity[c].min() < 1]
    assert sorted(view.capacity_pane.object.keys()) == sorted(hit)


def test_default_days_and_slider(view: CausalGraph, graph: rb.DependencyGraph) -> None:
    impact = view.choose("erp")
    assert impact.days == outage_days(graph, "erp")
    with param.edit_constant(view.days_slider):
        view.days_slider.value_throttled = 12.0
    assert view.impact is not None
    assert view.impact.days == 12.0
    assert view.impact.total_lost_revenue == graph.outage("erp", 12.0).total_lost_revenue


def test_select_and_tap_choose(view: CausalGraph, graph: rb.DependencyGraph) -> None:
    view.select.value = "plant-poland"
    assert view.node == "plant-poland"
    assert view.impact is not None
    assert view.impact.days == outage_days(graph, "plant-poland")
    position = list(view.node_table.index).index("mcu-supplier")
    view._tap.event(index=[position])
    assert view.node == "mcu-supplier"


def test_bad_input(view: CausalGraph) -> None:
    with pytest.raises(ValidationError, match="unknown node"):
        view.choose("no-such-node")
    with pytest.raises(ValidationError, match="days"):
        view.choose("erp", -1)


def test_saved_html_has_no_cdn(view: CausalGraph, tmp_path: Path) -> None:
    view.choose("valve-forgings", 90)
    out = tmp_path / "graph.html"
    view.__panel__().save(out, resources=INLINE)
    text = out.read_text()
    assert "valve-forgings" in text
    assert external_resources(text) == []

"""The dependency graph kept as workspace assets, against a real PostgreSQL (the
embedded pgserver), with its own RISKBENCH_HOME: YAML -> assets -> graph round trip
and errors located by asset id."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import ROOT
from riskbench.errors import ValidationError
from riskbench.graph import DependencyGraph
from riskbench.workspace import Workspace

pytestmark = pytest.mark.db

EXAMPLE = ROOT / "examples" / "dependencies.yaml"


@pytest.fixture(scope="module")
def home(pg_home: Path) -> Path:
    return pg_home


@pytest.fixture(scope="module")
def ws(home: Path) -> Iterator[Workspace]:
    with Workspace(org="graph-a", user="ada", home=home) as ws:
        yield ws


@pytest.fixture(scope="module")
def ws_bad(home: Path) -> Iterator[Workspace]:
    with Workspace(org="graph-b", user="bea", home=home) as ws:
        yield ws


def test_yaml_to_workspace_and_back(ws: Workspace) -> None:
    graph = DependencyGraph.from_yaml(EXAMPLE)
    ws.save_asset("risk-register", "Risk register", "document", owner="cro")  # not a node
    graph.save_to_workspace(ws)
    assets = ws.assets()
    assert assets.loc["plant-poland", "kind"] == "site"
    assert assets.loc["plant-poland", "attributes"]["inputs"][0] == {
        "from": "valve-forgings",
        "share": 0.5,
    }
    back = DependencyGraph.from_workspace(ws, name=graph.name, currency=graph.currency)
    key = lambda d: d["id"]  # noqa: E731
    assert sorted((n.to_dict() for n in back.nodes), key=key) == sorted(
        (n.to_dict() for n in graph.nodes), key=key
    )
    assert {(e.source, e.target, e.share) for e in back.edges} == {
        (e.source, e.target, e.share) for e in graph.edges
    }
    assert len(back.edges) == len(graph.edges)
    assert "risk-register" not in {n.id for n in back.nodes}
    for node in ("valve-forgings", "erp"):
        assert back.outage(node, 30).total_lost_revenue == pytest.approx(
            graph.outage(node, 30).total_lost_revenue, rel=1e-12
        )
    # Saving again changes nothing.
    graph.save_to_workspace(ws)
    assert DependencyGraph.from_workspace(ws).to_dict()["nodes"] == back.to_dict()["nodes"]


def test_invalid_assets_located_by_asset_id(ws_bad: Workspace) -> None:
    ws_bad.save_asset("memo", "A memo", "document")
    ws_bad.save_asset("valve-forgings", "Forgings", "supplier", region="IT", buffer_days=-1)
    ws_bad.save_asset(
        "plant",
        "Plant",
        "site",
        inputs=[
            {"from": "valve-forgings", "share": 1.5},
            {"from": "ghost", "share": 0.2},
            {"from": "memo", "share": 0.1},
            {"from": "valve-forgings", "share": 0.1, "via": "rail"},
        ],
    )
    ws_bad.save_asset("valves", "Valves", "product", revenue_per_day=1000, inputs="plant")
    ws_bad.save_asset("loop-a", "A", "process", inputs=[{"from": "loop-b", "share": 0.5}])
    ws_bad.save_asset("loop-b", "B", "process", inputs=[{"from": "loop-a", "share": 0.5}])
    with pytest.raises(ValidationError) as info:
        DependencyGraph.from_workspace(ws_bad)
    got = [str(i) for i in info.value.issues]
    assert got == [
        "assets[plant].inputs[0].share: must be a fraction in [0, 1], got 1.5",
        "assets[plant].inputs[2].from: asset 'memo' has kind 'document', which is not in "
        "the graph; allowed kinds: supplier, site, system, process, product, revenue",
        "assets[plant].inputs[3].via: is not a known key; allowed: from, share",
        "assets[valve-forgings].buffer_days: must be a number of days >= 0, got -1",
        "assets[valves].inputs: must be a list of {from: <asset id>, share: <fraction>}, "
        "got 'plant'",
        "assets[plant].inputs[1].from: unknown node 'ghost'; known nodes: loop-a, loop-b, "
        "plant, valve-forgings, valves",
        "assets[plant].inputs[3]: duplicate edge; give each dependency once",
        "assets: cycle loop-a -> loop-b -> loop-a: a node cannot depend on itself; "
        "remove one of these edges",
    ]

"""A dependency graph kept as the organisation's assets in the workspace.

Each node is one asset: the asset's ``kind`` is the node kind (``supplier``, ``site``,
``system``, ``process``, ``product`` or ``revenue``), its attributes carry the node
attributes (``revenue_per_day``, ``buffer_days``, ``recovery_days``, ``alternatives``,
``region``, ...) and its inputs as ``inputs: [{from: <asset id>, share: 0.6}, ...]``,
one edge ``from -> asset`` each. Assets of other kinds are not part of the graph and
are left out. Problems are located by asset id, e.g.
``assets[valve-forgings].inputs[0].share``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

import pandas as pd

from riskbench.errors import Issue, ValidationError
from riskbench.graph.spec import KINDS, Edge, Node, _parse_edge, _parse_node, check_graph

if TYPE_CHECKING:
    from riskbench.graph.dependency import DependencyGraph

__all__ = ["AssetStore", "graph_from_assets", "parse_assets", "save_graph_assets"]

#: The asset attribute that holds a node's inputs.
INPUTS_KEY = "inputs"
_INPUT_KEYS = ("from", "share")


class AssetStore(Protocol):
    """What the graph needs of a workspace: its assets (``riskbench.workspace.Workspace``)."""

    def save_asset(self, id: str, name: str, kind: str, **attributes: Any) -> None: ...

    def assets(self) -> pd.DataFrame: ...


def parse_assets(assets: pd.DataFrame) -> tuple[tuple[Node, ...], tuple[Edge, ...]]:
    """Nodes and edges from an assets table (as ``Workspace.assets()`` returns it).

    Indexed by asset id, with columns ``kind`` and ``attributes`` (a dict). Assets of a
    kind that is not a node kind are ignored. Raises
    :class:`~riskbench.errors.ValidationError` with every problem, located as
    ``assets[<id>]...``.
    """
    issues: list[Issue] = []
    other = {
        str(i): str(k) for i, k in zip(assets.index, assets["kind"], strict=True) if k not in KINDS
    }
    nodes: list[Node] = []
    edges: list[Edge] = []
    edge_locs: list[str] = []
    for asset_id, kind, attributes in zip(
        assets.index, assets["kind"], assets["attributes"], strict=True
    ):
        asset_id = str(asset_id)
        if kind not in KINDS:
            continue
        loc = f"assets[{asset_id}]"
        attrs = dict(attributes) if isinstance(attributes, Mapping) else {}
        inputs = attrs.pop(INPUTS_KEY, [])
        for key in ("id", "kind"):
            if key in attrs:
                del attrs[key]
                issues.append(
                    Issue(f"{loc}.{key}", "is the asset's own; leave it out of the attributes")
                )
        node = _parse_node({"id": asset_id, "kind": kind, **attrs}, loc, issues, named=False)
        if node is not None:
            nodes.append(node)
        if not isinstance(inputs, list | tuple):
            issues.append(
                Issue(
                    f"{loc}.{INPUTS_KEY}",
                    f"must be a list of {{from: <asset id>, share: <fraction>}}, got {inputs!r}",
                )
            )
            continue
        for k, raw in enumerate(inputs):
            iloc = f"{loc}.{INPUTS_KEY}[{k}]"
            if not isinstance(raw, Mapping):
                issues.append(Issue(iloc, f"must be a mapping with from and share, got {raw!r}"))
                continue
            unknown = [key for key in raw if key not in _INPUT_KEYS]
            for key in unknown:
                issues.append(Issue(f"{iloc}.{key}", "is not a known key; allowed: from, share"))
            src = raw.get("from")
            if isinstance(src, str) and src in other:
                issues.append(
                    Issue(
                        f"{iloc}.from",
                        f"asset {src!r} has kind {other[src]!r}, which is not in the graph; "
                        f"allowed kinds: {', '.join(KINDS)}",
                    )
                )
                continue
            known = {key: v for key, v in raw.items() if key in _INPUT_KEYS}
            edge = _parse_edge({**known, "to": asset_id}, iloc, issues, named=False)
            if edge is not None:
                edges.append(edge)
                edge_locs.append(iloc)
    issues.extend(
        check_graph(
            nodes,
            edges,
            node_loc=lambda i, n: f"assets[{n.id}]",
            edge_loc=lambda j, e: edge_locs[j],
            cycle_loc="assets",
        )
    )
    if issues:
        raise ValidationError(issues)
    return tuple(nodes), tuple(edges)


def graph_from_assets(ws: AssetStore, *, name: str = "", currency: str = "EUR") -> DependencyGraph:
    """The dependency graph held in the workspace's assets (see the module docstring)."""
    from riskbench.graph.dependency import DependencyGraph

    nodes, edges = parse_assets(ws.assets())
    return DependencyGraph(nodes, edges, name=name, currency=currency)


def save_graph_assets(graph: DependencyGraph, ws: AssetStore) -> None:
    """Store every node of ``graph`` as an asset, its input edges as ``inputs``.

    The asset's name is the node's ``name`` attribute if it has one, else its id. An
    asset with the same id is replaced; assets not in the graph are left alone. Each
    asset is saved in its own transaction (needs role analyst).
    """
    issues = [
        Issue(f"nodes[{i}] ({n.id}).{INPUTS_KEY}", "is reserved for the inputs of the asset form")
        for i, n in enumerate(graph.nodes)
        if INPUTS_KEY in n.attrs
    ]
    if issues:
        raise ValidationError(issues)
    inputs: dict[str, list[dict[str, Any]]] = {}
    for e in graph.edges:
        inputs.setdefault(e.target, []).append({"from": e.source, "share": e.share})
    for n in graph.nodes:
        attrs = n.to_dict()
        del attrs["id"], attrs["kind"]
        if n.id in inputs:
            attrs[INPUTS_KEY] = inputs[n.id]
        label = attrs.get("name")
        ws.save_asset(
            n.id, label if isinstance(label, str) and label.strip() else n.id, n.kind, **attrs
        )

"""Nodes and edges of a dependency graph, and the checks that make a graph valid.

Parsing collects every problem before raising, each located as in the YAML file:
``nodes[2] (plant-river).buffer_days`` or ``edges[3] (chip-supplier -> plant-east).share``.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from riskbench.dists import Distribution, as_distribution
from riskbench.errors import Issue, ValidationError

__all__ = ["KINDS", "REVENUE_KINDS", "Alternative", "Edge", "Node", "parse_graph"]

KINDS = ("supplier", "site", "system", "process", "product", "revenue")
REVENUE_KINDS = ("product", "revenue")
_NODE_KEYS = ("id", "kind", "revenue_per_day", "buffer_days", "recovery_days", "alternatives")
_EDGE_KEYS = ("from", "to", "share")
_TOP_KEYS = ("name", "currency", "description", "nodes", "edges")
_EPS = 1e-9


@dataclass(frozen=True, kw_only=True)
class Alternative:
    """An alternative source: replaces ``share`` of a lost input after ``delay_days``."""

    share: float
    delay_days: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Node:
    """One node: a supplier, site, system, process, product or revenue stream.

    ``recovery_days`` is the node's own restart after its inputs return; a
    distribution is used at its mean by the deterministic propagation.
    ``attrs`` holds free-form attributes such as ``region``.
    """

    id: str
    kind: str
    revenue_per_day: float = 0.0
    buffer_days: float = 0.0
    recovery_days: float | Distribution = 0.0
    alternatives: Alternative | None = None
    attrs: Mapping[str, Any] = field(default_factory=dict)

    @property
    def restart_days(self) -> int:
        """Whole days of restart used by the propagation (the mean, rounded)."""
        r = self.recovery_days
        return round(r.mean() if isinstance(r, Distribution) else r)

    def to_dict(self) -> dict[str, Any]:
        """The YAML form of the node (defaults left out)."""
        out: dict[str, Any] = {"id": self.id, "kind": self.kind}
        if self.revenue_per_day:
            out["revenue_per_day"] = self.revenue_per_day
        if self.buffer_days:
            out["buffer_days"] = self.buffer_days
        r = self.recovery_days
        if isinstance(r, Distribution):
            out["recovery_days"] = r.to_dict()
        elif r:
            out["recovery_days"] = r
        if self.alternatives is not None:
            out["alternatives"] = {
                "share": self.alternatives.share,
                "delay_days": self.alternatives.delay_days,
            }
        out.update(self.attrs)
        return out


@dataclass(frozen=True, kw_only=True)
class Edge:
    """``target`` depends on ``source``: ``share`` of the target's input flows along it."""

    source: str
    target: str
    share: float

    def to_dict(self) -> dict[str, Any]:
        """The YAML form of the edge."""
        return {"from": self.source, "to": self.target, "share": self.share}


def _number(
    raw: Mapping[str, Any],
    key: str,
    loc: str,
    issues: list[Issue],
    *,
    high: float | None = None,
    allowed: str = "a number >= 0",
) -> float:
    value = raw.get(key, 0.0)
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if ok and (value < 0 or (high is not None and value > high)):
        ok = False
    if not ok:
        issues.append(Issue(f"{loc}.{key}", f"must be {allowed}, got {value!r}"))
        return 0.0
    return float(value)


def _parse_node(raw: Any, loc: str, issues: list[Issue], *, named: bool = True) -> Node | None:
    if not isinstance(raw, Mapping):
        issues.append(Issue(loc, f"must be a mapping with id and kind, got {raw!r}"))
        return None
    node_id = raw.get("id")
    if not isinstance(node_id, str) or not node_id:
        issues.append(Issue(f"{loc}.id", f"must be a non-empty string, got {node_id!r}"))
        return None
    if named:
        loc = f"{loc} ({node_id})"
    kind = raw.get("kind")
    if kind not in KINDS:
        issues.append(Issue(f"{loc}.kind", f"unknown kind {kind!r}; allowed: {', '.join(KINDS)}"))
    revenue = _number(raw, "revenue_per_day", loc, issues, allowed="a revenue >= 0 per day")
    if revenue and kind in KINDS and kind not in REVENUE_KINDS:
        issues.append(
            Issue(
                f"{loc}.revenue_per_day",
                f"only product and revenue nodes earn revenue, got {revenue:g} on a {kind} node",
            )
        )
    buffer = _number(raw, "buffer_days", loc, issues, allowed="a number of days >= 0")
    recovery: float | Distribution = 0.0
    if isinstance(raw.get("recovery_days"), Mapping | Distribution):
        try:
            recovery = as_distribution(raw["recovery_days"], loc=f"{loc}.recovery_days")
        except ValidationError as err:
            issues.extend(err.issues)
        else:
            if recovery.support_min < 0:
                issues.append(
                    Issue(
                        f"{loc}.recovery_days",
                        f"must not give negative days, got {recovery!r} "
                        f"(lowest value {recovery.support_min:g})",
                    )
                )
    else:
        recovery = _number(
            raw, "recovery_days", loc, issues, allowed="a number of days >= 0 or a distribution"
        )
    alternative = None
    alt = raw.get("alternatives")
    if isinstance(alt, Mapping):
        aloc = f"{loc}.alternatives"
        for key in alt:
            if key not in ("share", "delay_days"):
                issues.append(
                    Issue(f"{aloc}.{key}", "is not a known key; allowed: share, delay_days")
                )
        if "share" not in alt:
            issues.append(Issue(f"{aloc}.share", "is required"))
        share = _number(alt, "share", aloc, issues, high=1.0, allowed="a fraction in [0, 1]")
        delay = _number(alt, "delay_days", aloc, issues, allowed="a number of days >= 0")
        alternative = Alternative(share=share, delay_days=delay)
    elif alt is not None:
        issues.append(
            Issue(
                f"{loc}.alternatives", f"must be a mapping with share and delay_days, got {alt!r}"
            )
        )
    attrs = {k: v for k, v in raw.items() if k not in _NODE_KEYS}
    for key, value in attrs.items():
        if not isinstance(value, str | int | float | bool):
            issues.append(
                Issue(f"{loc}.{key}", f"an extra attribute must be a plain value, got {value!r}")
            )
    return Node(
        id=node_id,
        kind=str(kind),
        revenue_per_day=revenue,
        buffer_days=buffer,
        recovery_days=recovery,
        alternatives=alternative,
        attrs=attrs,
    )


def _parse_edge(raw: Any, loc: str, issues: list[Issue], *, named: bool = True) -> Edge | None:
    if not isinstance(raw, Mapping):
        issues.append(Issue(loc, f"must be a mapping with from, to and share, got {raw!r}"))
        return None
    src, dst = raw.get("from"), raw.get("to")
    bad = [k for k in ("from", "to") if not isinstance(raw.get(k), str) or not raw.get(k)]
    for key in bad:
        issues.append(Issue(f"{loc}.{key}", f"must be a node id, got {raw.get(key)!r}"))
    for key in raw:
        if key not in _EDGE_KEYS:
            issues.append(Issue(f"{loc}.{key}", "is not a known key; allowed: from, to, share"))
    if bad:
        return None
    if named:
        loc = f"{loc} ({src} -> {dst})"
    if "share" not in raw:
        issues.append(Issue(f"{loc}.share", "is required (a fraction in [0, 1])"))
    share = _number(raw, "share", loc, issues, high=1.0, allowed="a fraction in [0, 1]")
    return Edge(source=str(src), target=str(dst), share=share)


def parse_graph(data: Any) -> tuple[tuple[Node, ...], tuple[Edge, ...], dict[str, Any]]:
    """Nodes, edges and the header (name, currency, description) of the YAML form.

    Raises :class:`~riskbench.errors.ValidationError` with every problem found.
    """
    issues: list[Issue] = []
    if not isinstance(data, Mapping):
        raise ValidationError([Issue("", f"must be a mapping with nodes and edges, got {data!r}")])
    for key in data:
        if key not in _TOP_KEYS:
            issues.append(Issue(str(key), f"is not a known key; allowed: {', '.join(_TOP_KEYS)}"))
    lists: dict[str, Sequence[Any]] = {}
    for key in ("nodes", "edges"):
        value = data.get(key, [])
        if not isinstance(value, list | tuple):
            issues.append(Issue(key, f"must be a list, got {value!r}"))
            value = []
        lists[key] = value
    nodes = [_parse_node(raw, f"nodes[{i}]", issues) for i, raw in enumerate(lists["nodes"])]
    edges = [_parse_edge(raw, f"edges[{i}]", issues) for i, raw in enumerate(lists["edges"])]
    good_nodes = tuple(n for n in nodes if n is not None)
    good_edges = tuple(e for e in edges if e is not None)
    issues.extend(check_graph(good_nodes, good_edges))
    if issues:
        raise ValidationError(issues)
    header = {k: data[k] for k in ("name", "currency", "description") if k in data}
    return good_nodes, good_edges, header


def _node_loc(i: int, node: Node) -> str:
    return f"nodes[{i}] ({node.id})"


def _edge_loc(j: int, edge: Edge) -> str:
    return f"edges[{j}] ({edge.source} -> {edge.target})"


def check_graph(
    nodes: Sequence[Node],
    edges: Sequence[Edge],
    *,
    node_loc: Callable[[int, Node], str] = _node_loc,
    edge_loc: Callable[[int, Edge], str] = _edge_loc,
    cycle_loc: str = "edges",
) -> list[Issue]:
    """Problems of the graph as a whole: duplicates, dangling edges, shares, cycles.

    ``node_loc``, ``edge_loc`` and ``cycle_loc`` locate the problems; by default as
    in the YAML form (``nodes[2] (plant)``, ``edges[3] (a -> b)``, ``edges``).
    """
    issues: list[Issue] = []
    index: dict[str, int] = {}
    for i, node in enumerate(nodes):
        if node.id in index:
            issues.append(
                Issue(
                    f"{node_loc(i, node)}.id",
                    f"duplicate id; first used by nodes[{index[node.id]}]",
                )
            )
        else:
            index[node.id] = i
    graph: nx.DiGraph = nx.DiGraph()
    graph.add_nodes_from(index)
    inputs: dict[str, list[Edge]] = {}
    for j, edge in enumerate(edges):
        loc = edge_loc(j, edge)
        dangling = [k for k, n in (("from", edge.source), ("to", edge.target)) if n not in index]
        for key in dangling:
            name = edge.source if key == "from" else edge.target
            known = ", ".join(sorted(index)) or "none"
            issues.append(Issue(f"{loc}.{key}", f"unknown node {name!r}; known nodes: {known}"))
        if graph.has_edge(edge.source, edge.target):
            issues.append(Issue(loc, "duplicate edge; give each dependency once"))
        elif not dangling:
            graph.add_edge(edge.source, edge.target)
            inputs.setdefault(edge.target, []).append(edge)
    for target, into in inputs.items():
        t = index[target]
        total = sum(e.share for e in into)
        if total > 1 + _EPS:
            parts = ", ".join(f"{e.source}: {e.share:g}" for e in into)
            issues.append(
                Issue(
                    node_loc(t, nodes[t]),
                    f"input shares sum to {total:g} ({parts}); allowed: at most 1",
                )
            )
    for found in itertools.islice(nx.simple_cycles(graph), 10):
        # Start the cycle at its node given first, so that the message is stable.
        first = min(range(len(found)), key=lambda i: index[found[i]])
        cycle = found[first:] + found[:first]
        path = " -> ".join([*cycle, cycle[0]])
        issues.append(
            Issue(
                cycle_loc,
                f"cycle {path}: a node cannot depend on itself; remove one of these edges",
            )
        )
    return issues

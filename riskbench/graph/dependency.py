"""The dependency graph of a business and what an outage of one node costs.

Examples
--------
>>> g = DependencyGraph.from_dict({
...     "nodes": [
...         {"id": "castings", "kind": "supplier"},
...         {"id": "plant", "kind": "site", "buffer_days": 5},
...         {"id": "valves", "kind": "product", "revenue_per_day": 100_000},
...     ],
...     "edges": [
...         {"from": "castings", "to": "plant", "share": 0.6},
...         {"from": "plant", "to": "valves", "share": 1.0},
...     ],
... })
>>> round(g.outage("castings", 20).total_lost_revenue)  # 15 days at 60% lost
900000
"""

from __future__ import annotations

import csv
import itertools
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import networkx as nx
import numpy as np
import pandas as pd

from riskbench.dists import Distribution, FloatArray, as_distribution
from riskbench.errors import Issue, ValidationError
from riskbench.files import read_yaml
from riskbench.graph.assets import AssetStore, graph_from_assets, save_graph_assets
from riskbench.graph.propagate import propagate
from riskbench.graph.severity import OutageLoss
from riskbench.graph.spec import KINDS, REVENUE_KINDS, Edge, Node, check_graph, parse_graph

__all__ = ["DependencyGraph", "OutageImpact"]

_TABLE_POINTS = 2001


@dataclass(frozen=True, kw_only=True)
class OutageImpact:
    """What an outage of ``node`` for ``days`` does over ``horizon_days``.

    ``capacity`` has one row per day and one column per node (1 = full output);
    ``lost_revenue`` is the revenue lost at each revenue-earning node.
    """

    node: str
    days: float
    horizon_days: int
    capacity: pd.DataFrame
    lost_revenue: pd.Series

    @property
    def total_lost_revenue(self) -> float:
        """The revenue lost at all nodes together."""
        return float(self.lost_revenue.sum())


class DependencyGraph:
    """Suppliers, sites, systems and processes feeding products and revenue streams.

    An edge ``A -> B`` means B depends on A, with ``share`` of B's input flowing
    along it. Build one with :meth:`from_yaml`, :meth:`from_dict` or
    :meth:`from_csv`; the model is described in ``docs/analyses.md``.

    Parameters
    ----------
    nodes, edges
        The validated nodes and edges.
    name, currency
        A label and the currency of ``revenue_per_day``.

    Raises
    ------
    ValidationError
        With every problem: duplicates, dangling edges, shares, cycles.
    """

    def __init__(
        self,
        nodes: Iterable[Node],
        edges: Iterable[Edge],
        *,
        name: str = "",
        currency: str = "EUR",
    ) -> None:
        self._nodes = tuple(nodes)
        self._edges = tuple(edges)
        issues = check_graph(self._nodes, self._edges)
        if issues:
            raise ValidationError(issues)
        self.name = name
        self.currency = currency
        self._by_id = {n.id: n for n in self._nodes}
        self._g: nx.DiGraph = nx.DiGraph()
        for n in self._nodes:
            self._g.add_node(n.id)
        for e in self._edges:
            self._g.add_edge(e.source, e.target, share=e.share)
        self._order: list[str] = list(nx.topological_sort(self._g))
        self._inputs = {
            v: [(u, float(self._g.edges[u, v]["share"])) for u in self._g.predecessors(v)]
            for v in self._g.nodes
        }

    # -- loading -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None) -> DependencyGraph:
        """A graph from its YAML form: ``nodes`` and ``edges`` lists (see the docs)."""
        try:
            nodes, edges, header = parse_graph(data)
        except ValidationError as err:
            raise ValidationError(err.issues, source=source) from None
        return cls(
            nodes,
            edges,
            name=str(header.get("name", "")),
            currency=str(header.get("currency", "EUR")),
        )

    @classmethod
    def from_yaml(cls, path: str | Path) -> DependencyGraph:
        """A graph from a YAML file; errors are prefixed with the file's name."""
        path = Path(path)
        data, name = read_yaml(path)
        return cls.from_dict(data, source=name)

    @classmethod
    def from_csv(cls, nodes_path: str | Path, edges_path: str | Path) -> DependencyGraph:
        """A graph from a CSV of nodes and a CSV of edges.

        Node columns: ``id, kind`` and optionally ``revenue_per_day, buffer_days,
        recovery_days, alternatives_share, alternatives_delay_days`` and any
        attributes (``region``); edge columns: ``from, to, share``. Empty cells are
        left out; locations name the row as ``nodes[i]`` counting from 0.
        """
        numeric = ("revenue_per_day", "buffer_days", "recovery_days", "share")
        nodes = [_csv_row(r, numeric) for r in _read_csv(nodes_path)]
        for row in nodes:
            alt = {
                key: row.pop(f"alternatives_{key}")
                for key in ("share", "delay_days")
                if f"alternatives_{key}" in row
            }
            if alt:
                row["alternatives"] = {k: _to_number(v) for k, v in alt.items()}
        edges = [_csv_row(r, numeric) for r in _read_csv(edges_path)]
        source = f"{Path(nodes_path).name}, {Path(edges_path).name}"
        return cls.from_dict({"nodes": nodes, "edges": edges}, source=source)

    @classmethod
    def from_workspace(
        cls, ws: AssetStore, *, name: str = "", currency: str = "EUR"
    ) -> DependencyGraph:
        """A graph from the workspace's assets: one node per asset of a node kind.

        The asset's ``kind`` is the node kind, its attributes the node attributes, and
        ``inputs: [{from: <asset id>, share: 0.6}, ...]`` its edges; assets of other
        kinds are ignored. Errors are located by asset id, e.g.
        ``assets[valve-forgings].inputs[0].share``. Needs role viewer.
        """
        return graph_from_assets(ws, name=name, currency=currency)

    def save_to_workspace(self, ws: AssetStore) -> None:
        """Store the nodes as assets, each with its input edges as ``inputs``.

        :meth:`from_workspace` reads them back. Assets with the same ids are replaced,
        others left alone. Needs role analyst.
        """
        save_graph_assets(self, ws)

    def to_dict(self) -> dict[str, Any]:
        """The YAML form, which :meth:`from_dict` reads back."""
        return {
            "name": self.name,
            "currency": self.currency,
            "nodes": [n.to_dict() for n in self._nodes],
            "edges": [e.to_dict() for e in self._edges],
        }

    # -- access ----------------------------------------------------------------------
    @property
    def nodes(self) -> tuple[Node, ...]:
        """The nodes, in the order given."""
        return self._nodes

    @property
    def edges(self) -> tuple[Edge, ...]:
        """The edges, in the order given."""
        return self._edges

    def node(self, node_id: str) -> Node:
        """The node called ``node_id``."""
        self._check_node(node_id)
        return self._by_id[node_id]

    def to_networkx(self) -> nx.DiGraph:
        """A copy of the graph as a networkx DiGraph (edges carry ``share``)."""
        return self._g.copy()

    @property
    def revenue_per_day(self) -> float:
        """Total revenue per day over all nodes."""
        return sum(n.revenue_per_day for n in self._nodes)

    def _check_node(self, node_id: str, loc: str = "node") -> None:
        if node_id not in self._by_id:
            known = ", ".join(sorted(self._by_id))
            raise ValidationError([Issue(loc, f"unknown node {node_id!r}; known nodes: {known}")])

    # -- propagation -------------------------------------------------------------------
    def _horizon(self, node: str, days: float) -> int:
        restarts = sum(self._by_id[v].restart_days for v in nx.descendants(self._g, node))
        return math.ceil(days) + restarts + 1

    def _losses(self, node: str, days: FloatArray, horizon: int) -> dict[str, FloatArray]:
        below = nx.descendants(self._g, node)
        order = [v for v in self._order if v in below]
        return propagate(order, self._inputs, self._by_id, node, days, horizon)

    def _lost_revenue(self, caps: Mapping[str, FloatArray]) -> FloatArray:
        k = next(iter(caps.values())).shape[0]
        total = np.zeros(k)
        for v, c in caps.items():
            total += self._by_id[v].revenue_per_day * (1.0 - c).sum(axis=1)
        return total

    def outage(self, node: str, days: float, *, horizon_days: int | None = None) -> OutageImpact:
        """Propagate an outage of ``node`` for ``days`` (may be fractional), day by day.

        By default the horizon covers the whole impact: ``ceil(days)`` plus the
        restart days of every node downstream, plus one.
        """
        self._check_node(node)
        if not (math.isfinite(days) and days >= 0):
            raise ValidationError([Issue("days", f"must be a number of days >= 0, got {days!r}")])
        horizon = self._horizon(node, days) if horizon_days is None else int(horizon_days)
        if horizon < 1:
            raise ValidationError([Issue("horizon_days", f"must be >= 1, got {horizon_days!r}")])
        caps = self._losses(node, np.array([float(days)]), horizon)
        capacity = pd.DataFrame(
            {n.id: caps[n.id][0] if n.id in caps else np.ones(horizon) for n in self._nodes}
        )
        capacity.index.name = "day"
        earners = [n for n in self._nodes if n.revenue_per_day > 0]
        lost = pd.Series(
            [n.revenue_per_day * float((1.0 - capacity[n.id]).sum()) for n in earners],
            index=pd.Index([n.id for n in earners], name="node"),
            name="lost_revenue",
            dtype=float,
        )
        return OutageImpact(
            node=node, days=float(days), horizon_days=horizon, capacity=capacity, lost_revenue=lost
        )

    def outage_loss_distribution(
        self,
        node: str,
        days_dist: Distribution | Mapping[str, Any] | float,
        *,
        extra_cost: Distribution | Mapping[str, Any] | float | None = None,
    ) -> OutageLoss:
        """The lost revenue of an outage of ``node`` lasting ``days_dist`` days.

        Usable as a scenario's severity. The loss is tabulated at whole days from 0
        to the 99.9999 % quantile of the days and at 2,001 quantiles of the days,
        then interpolated (see :class:`OutageLoss`); ``extra_cost`` (e.g. recovery
        spend) is added, independent of the days.

        Examples
        --------
        >>> g = DependencyGraph.from_yaml("examples/dependencies.yaml")
        >>> sev = g.outage_loss_distribution("erp", rb.Constant(10))
        >>> sev.mean() == g.outage("erp", 10).total_lost_revenue
        True
        """
        self._check_node(node)
        days = as_distribution(days_dist, loc="days_dist")
        extra = None if extra_cost is None else as_distribution(extra_cost, loc="extra_cost")
        if days.support_min < 0:
            raise ValidationError(
                [Issue("days_dist", f"must not give negative days, got {days!r}")]
            )
        q = (np.arange(_TABLE_POINTS) + 0.5) / _TABLE_POINTS
        top = float(days.ppf(np.array([1 - 1e-6]))[0])
        grid = np.unique(
            np.concatenate([np.arange(math.ceil(top) + 2.0), days.ppf(q), days.ppf([0.0, 1.0])])
        )
        grid = grid[np.isfinite(grid) & (grid >= 0)]
        if grid.size > 20_000:
            grid = np.unique(np.concatenate([np.linspace(0, top, 10_000), days.ppf(q)]))
        horizon = self._horizon(node, float(grid[-1]))
        loss = np.maximum.accumulate(self._lost_revenue(self._losses(node, grid, horizon)))
        return OutageLoss(days=days, table_days=grid, table_loss=loss, extra_cost=extra)

    # -- analysis tables -----------------------------------------------------------------
    def single_points_of_failure(
        self,
        days: float = 30,
        threshold: float = 0.1,
        *,
        horizon_days: int | None = None,
        kinds: Iterable[str] = ("supplier", "site", "system", "process"),
    ) -> pd.DataFrame:
        """Nodes whose outage of ``days`` loses more than ``threshold`` of revenue.

        The share is the lost revenue over the total revenue of ``horizon_days``
        (by default ``days``; the loss then counts the whole impact, restarts
        included). Only nodes of ``kinds`` are tried: by default not the products
        and revenue streams themselves. Sorted by loss, largest first.
        """
        base_days = days if horizon_days is None else horizon_days
        base = self.revenue_per_day * base_days
        wanted = set(kinds)
        rows = []
        for n in (n for n in self._nodes if n.kind in wanted):
            loss = self.outage(n.id, days, horizon_days=horizon_days).total_lost_revenue
            share = loss / base if base > 0 else 0.0
            if share > threshold:
                rows.append({"node": n.id, "kind": n.kind, "lost_revenue": loss, "share": share})
        table = pd.DataFrame(rows, columns=["node", "kind", "lost_revenue", "share"])
        return table.sort_values("lost_revenue", ascending=False, ignore_index=True)

    def exposure(self, group: Iterable[str]) -> dict[str, float]:
        """The fraction of each node's input that depends on the nodes in ``group``.

        Structural, before buffers and alternatives: ``e(v) = 1`` in the group,
        else ``sum_u share_uv * e(u)``.
        """
        members = set(group)
        for g in members:
            self._check_node(g, "group")
        e: dict[str, float] = {}
        for v in self._order:
            e[v] = 1.0 if v in members else sum(s * e[u] for u, s in self._inputs[v])
        return e

    def concentration(self, by: str = "supplier", *, kind: str | None = None) -> pd.DataFrame:
        """Share of total revenue per day that depends on each node or group.

        ``by`` is a node kind (one row per node of that kind) or an attribute such
        as ``region`` (one row per value, over nodes of ``kind`` if given).
        """
        if by in KINDS:
            groups = {n.id: [n.id] for n in self._nodes if n.kind == by}
        else:
            groups = {}
            for n in self._nodes:
                if by in n.attrs and (kind is None or n.kind == kind):
                    groups.setdefault(str(n.attrs[by]), []).append(n.id)
            if not groups:
                raise ValidationError([Issue("by", f"no node has kind or attribute {by!r}")])
        total = self.revenue_per_day
        rows = []
        for label, members in groups.items():
            e = self.exposure(members)
            at_risk = sum(n.revenue_per_day * e[n.id] for n in self._nodes)
            rows.append({by: label, "revenue_per_day": at_risk, "share": at_risk / total})
        table = pd.DataFrame(rows, columns=[by, "revenue_per_day", "share"])
        return table.sort_values("share", ascending=False, ignore_index=True)

    def critical_paths(self, to: str | None = None) -> pd.DataFrame:
        """For each revenue node, the upstream path with the largest product of shares.

        Paths start at a node with no inputs; edges with share 0 are not used.
        """
        if to is not None:
            self._check_node(to, "to")
        targets = [
            n.id for n in self._nodes if (to is None and n.kind in REVENUE_KINDS) or n.id == to
        ]
        weighted = nx.DiGraph()
        for u, v, s in self._g.edges(data="share"):
            if s > 0:
                weighted.add_edge(v, u, cost=-math.log(s))
        rows = []
        for t in targets:
            if t not in weighted:
                continue
            dist, paths = nx.single_source_dijkstra(weighted, t, weight="cost")
            roots = [u for u in dist if u != t and self._g.in_degree(u) == 0]
            if not roots:
                continue
            root = min(roots, key=lambda u: (dist[u], u))
            path = list(reversed(paths[root]))
            share = math.prod(self._g.edges[a, b]["share"] for a, b in itertools.pairwise(path))
            rows.append({"to": t, "source": root, "path": " -> ".join(path), "share": share})
        return pd.DataFrame(rows, columns=["to", "source", "path", "share"])


def _read_csv(path: str | Path) -> list[dict[str, str]]:
    with Path(path).open(newline="") as f:
        return list(csv.DictReader(f))


def _to_number(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return value  # left for the validation to report, with its location


def _csv_row(row: Mapping[str, str | None], numeric: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {k: v.strip() for k, v in row.items() if v is not None and v.strip()}
    for key in numeric:
        if key in out:
            out[key] = _to_number(out[key])
    return out

"""The dependency graph as a picture, and what an outage of one node does.

:class:`CausalGraph` draws a :class:`~riskbench.DependencyGraph` left to right
(suppliers on the left, products and revenue streams on the right), colours nodes by
kind, draws edges as wide as their share, and outlines the single points of failure
in red. Choosing a node (from the list or by tapping it) propagates an outage of it
through the graph with :meth:`riskbench.DependencyGraph.outage`: the revenue lost per
revenue line and in total, and the capacity of the affected nodes day by day.

Every number comes from riskbench: the layout is the only thing computed here.
"""

from __future__ import annotations

import html
import math
from typing import Any

import holoviews as hv
import networkx as nx
import pandas as pd
import panel as pn
import param
from bokeh.models import HoverTool

from riskbench.ai.facts import outage_days
from riskbench.ai.suggest import single_points_of_failure
from riskbench.errors import Issue, ValidationError
from riskbench.graph.dependency import DependencyGraph, OutageImpact
from riskbench.graph.spec import REVENUE_KINDS
from riskbench.widgets._panel import KIND_COLOURS, extension

__all__ = ["CausalGraph", "layered_layout"]

SPOF_OUTLINE = "#d50000"
_PLAIN_OUTLINE = "#ffffff"
_KIND_ORDER = {k: i for i, k in enumerate(KIND_COLOURS)}


# The columns drawn for each node besides its position (hover, colour, outline).
_NODE_VALUES = (
    "id",
    "kind",
    "region",
    "revenue_per_day",
    "colour",
    "spof",
    "outline",
    "outline_width",
)


def layered_layout(graph: DependencyGraph) -> dict[str, tuple[float, float]]:
    """Positions ``{node id: (x, y)}``: x is the node's topological generation
    (nodes without inputs at 0), products and revenue streams all in the last column;
    within a column nodes are ordered by the mean height of their inputs, then kind
    and id, and spread evenly around 0 (top first). Deterministic."""
    g = graph.to_networkx()
    layer: dict[str, int] = {}
    for i, generation in enumerate(nx.topological_generations(g)):
        for v in generation:
            layer[v] = i
    kinds = {n.id: n.kind for n in graph.nodes}
    last = max(layer.values(), default=0)
    for v, kind in kinds.items():
        if kind in REVENUE_KINDS:
            layer[v] = last
    # Nodes not earning revenue must sit left of the revenue column.
    if any(kinds[v] not in REVENUE_KINDS and layer[v] == last for v in layer):
        for v, kind in kinds.items():
            if kind in REVENUE_KINDS:
                layer[v] = last + 1
    pos: dict[str, tuple[float, float]] = {}
    for col in sorted(set(layer.values())):
        members = [v for v in layer if layer[v] == col]

        def key(v: str) -> tuple[float, int, str]:
            ys = [pos[u][1] for u in g.predecessors(v) if u in pos]
            mean = -sum(ys) / len(ys) if ys else 0.0
            return (mean, _KIND_ORDER.get(kinds[v], 99), v)

        members.sort(key=key)
        n = len(members)
        for i, v in enumerate(members):
            pos[v] = (float(col), float((n - 1) / 2 - i))
    return pos


class CausalGraph(pn.viewable.Viewer):
    """The dependency graph, its single points of failure, and the impact of an outage.

    Parameters
    ----------
    graph
        A :class:`riskbench.DependencyGraph`.
    currency
        How amounts are labelled (default: the graph's currency).

    Attributes
    ----------
    spof : tuple of str
        Ids of the single points of failure, as
        :func:`riskbench.ai.suggest.single_points_of_failure` finds them (largest loss
        first).
    node_table : pandas.DataFrame
        One row per node (index: id) with ``kind``, ``region``, ``revenue_per_day``,
        the layout ``x``, ``y``, its ``colour`` and whether it is a ``spof``.
    impact : OutageImpact or None
        The outage last chosen.

    Examples
    --------
    >>> import riskbench as rb
    >>> from riskbench.widgets.graph_view import CausalGraph
    >>> view = CausalGraph(rb.DependencyGraph.from_yaml("examples/dependencies.yaml"))
    >>> impact = view.choose("valve-forgings", 90)
    >>> view  # doctest: +SKIP
    """

    node = param.String(default=None, allow_None=True, doc="The node whose outage is shown.")
    days = param.Number(default=None, allow_None=True, bounds=(0, None), doc="Outage length.")

    def __init__(self, graph: DependencyGraph, *, currency: str | None = None, **params: Any):
        super().__init__(**params)
        extension()
        self._graph = graph
        self.currency = currency or graph.currency
        self.spof: tuple[str, ...] = tuple(n.id for n, _ in single_points_of_failure(graph))
        self._spof_share = {n.id: s for n, s in single_points_of_failure(graph)}
        self.node_table = self._node_table()
        self.impact: OutageImpact | None = None
        self._syncing = False

        ids = [n.id for n in graph.nodes]
        self.element = self._graph_element()
        self._tap = hv.streams.Selection1D(source=self.points)
        self._tap.add_subscriber(self._on_tap)

        # Widgets and panes: built here, never as class attributes.
        self.select = pn.widgets.Select(
            label="Node out of action", options=[None, *ids], value=None, width=260
        )
        self.days_slider = pn.widgets.FloatSlider(
            label="Outage (days)", start=0, end=365, step=1, value=30, width=260, disabled=True
        )
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.total = pn.pane.Markdown("Choose a node to see the impact of its outage.")
        self.table = pn.pane.DataFrame(None, sizing_mode="stretch_width", float_format=self._fmt)
        self.capacity_pane = pn.pane.HoloViews(
            self._capacity_plot(None), sizing_mode="stretch_width"
        )
        self.spof_pane = pn.pane.HTML(self._spof_html())
        self.graph_pane = pn.pane.HoloViews(self.element, sizing_mode="stretch_width")
        self.select.param.watch(self._on_select, "value")
        self.days_slider.param.watch(self._on_days, "value_throttled")

    # -- public --------------------------------------------------------------------
    def choose(self, node: str, days: float | None = None) -> OutageImpact:
        """Show the impact of an outage of ``node`` for ``days`` (default: the typical
        length, :func:`riskbench.ai.facts.outage_days`); the impact.

        Raises
        ------
        riskbench.errors.ValidationError
            For an unknown node or a bad number of days.
        """
        self._graph.node(node)  # raises for an unknown node, naming the known ones
        if days is None:
            days = outage_days(self._graph, node)
        if (
            isinstance(days, bool)
            or not isinstance(days, int | float)
            or not (math.isfinite(days) and days >= 0)
        ):
            raise ValidationError([Issue("days", f"must be a number of days >= 0, got {days!r}")])
        self.days_slider.loading = True
        try:
            impact = self._graph.outage(node, float(days))
            self.impact = impact
            self._syncing = True
            try:
                self.node, self.days = node, float(days)
                self.select.value = node
                self.days_slider.end = max(365.0, math.ceil(float(days)))
                self.days_slider.value = float(days)
                self.days_slider.disabled = False
            finally:
                self._syncing = False
            self._show(impact)
        finally:
            self.days_slider.loading = False
        return impact

    def __panel__(self) -> pn.viewable.Viewable:
        controls = pn.Column(
            self.select,
            self.days_slider,
            self.message,
            self.total,
            self.table,
            width=320,
        )
        return pn.Column(
            pn.pane.Markdown(f"### {html.escape(self._graph.name or 'Dependency graph')}"),
            pn.Row(self.graph_pane, pn.Column("#### Single points of failure", self.spof_pane)),
            pn.Row(controls, self.capacity_pane),
            sizing_mode="stretch_width",
        )

    # -- building --------------------------------------------------------------------
    def _node_table(self) -> pd.DataFrame:
        pos = layered_layout(self._graph)
        spof = set(self.spof)
        rows = [
            {
                "id": n.id,
                "kind": n.kind,
                "region": str(n.attrs.get("region", "")),
                "revenue_per_day": float(n.revenue_per_day),
                "x": pos[n.id][0],
                "y": pos[n.id][1],
                "colour": KIND_COLOURS.get(n.kind, "#9e9e9e"),
                "spof": n.id in spof,
            }
            for n in self._graph.nodes
        ]
        return pd.DataFrame(rows).set_index("id")

    def _graph_element(self) -> hv.Overlay:
        """The edges (hv.Graph), the nodes (hv.Points) and their labels, overlaid."""
        t = self.node_table.reset_index()
        t["outline"] = [SPOF_OUTLINE if s else _PLAIN_OUTLINE for s in t["spof"]]
        t["outline_width"] = [4.0 if s else 1.0 for s in t["spof"]]
        nodes = hv.Nodes(
            t[["x", "y", *_NODE_VALUES]],
            kdims=["x", "y", "id"],
            vdims=[
                "kind",
                "region",
                "revenue_per_day",
                "colour",
                "spof",
                "outline",
                "outline_width",
            ],
        )
        edges = pd.DataFrame(
            {
                "source": [e.source for e in self._graph.edges],
                "target": [e.target for e in self._graph.edges],
                "share": [float(e.share) for e in self._graph.edges],
            }
        )
        edges["width"] = 0.5 + 8.0 * edges["share"]
        hover = HoverTool(
            tooltips=[
                ("node", "@id"),
                ("kind", "@kind"),
                ("region", "@region"),
                (f"revenue per day ({self.currency})", "@revenue_per_day{0,0}"),
            ]
        )
        # The edges are an hv.Graph; the nodes are drawn again as hv.Points on top,
        # which carry the hover and the tap (Bokeh's graph renderer has no selection
        # HoloViews can attach a stream to).
        g = hv.Graph((edges, nodes), kdims=["source", "target"], vdims=["share", "width"]).opts(
            node_size=0,
            node_alpha=0,
            edge_line_width="width",
            edge_line_color="#9e9e9e",
            edge_alpha=0.6,
            inspection_policy="edges",
            tools=[],
            xaxis=None,
            yaxis=None,
            height=460,
            responsive=True,
            title="Dependencies (edge width: share; red outline: single point of failure)",
        )
        self.points = hv.Points(
            t,
            kdims=["x", "y"],
            vdims=list(_NODE_VALUES),
        ).opts(
            color="colour",
            line_color="outline",
            line_width="outline_width",
            size=18,
            tools=[hover, "tap"],
            nonselection_alpha=0.5,
        )
        labels = hv.Labels(t, ["x", "y"], "id").opts(
            text_font_size="8pt", yoffset=-0.32, text_color="#333333"
        )
        return g * self.points * labels

    def _spof_html(self) -> str:
        if not self.spof:
            return "<p>None found.</p>"
        items = "".join(
            f"<li><b>{html.escape(s)}</b> ({html.escape(self.node_table.loc[s, 'kind'])}): "
            f"{self._spof_share[s]:.1%} of revenue over a typical outage</li>"
            for s in self.spof
        )
        return f'<ul style="color: {SPOF_OUTLINE}">{items}</ul>'

    def _capacity_plot(self, impact: OutageImpact | None) -> hv.Element:
        opts = {"height": 320, "responsive": True, "tools": ["hover"], "ylim": (0, 1.05)}
        if impact is None:
            return hv.Curve([], "day", "capacity").opts(title="Capacity over time", **opts)
        cap = impact.capacity
        hit = [c for c in cap.columns if float(cap[c].min()) < 1.0]
        curves = {
            c: hv.Curve((cap.index.to_numpy(), cap[c].to_numpy()), "day", "capacity").opts(
                color=self.node_table.loc[c, "colour"]
            )
            for c in hit
        }
        title = f"Capacity of the affected nodes: {impact.node} out for {impact.days:g} days"
        if not curves:
            return hv.Curve([], "day", "capacity").opts(title=title, **opts)
        return hv.NdOverlay(curves, kdims="node").opts(title=title, legend_position="right", **opts)

    def _fmt(self, v: float) -> str:
        return f"{v:,.0f}"

    def _show(self, impact: OutageImpact) -> None:
        self.message.visible = False
        frame = impact.lost_revenue.to_frame("lost_revenue")
        self.table.object = frame
        self.total.object = (
            f"**{html.escape(impact.node)}** out for **{impact.days:g} days**: "
            f"**{impact.total_lost_revenue:,.0f} {html.escape(self.currency)}** revenue lost "
            f"over {impact.horizon_days} days."
        )
        self.capacity_pane.object = self._capacity_plot(impact)

    # -- UI callbacks ------------------------------------------------------------------
    def _report(self, err: ValidationError) -> None:
        self.message.object = html.escape(str(err))
        self.message.visible = True

    def _on_select(self, event: Any) -> None:
        if self._syncing or event.new is None:
            return
        try:
            self.choose(event.new)
        except ValidationError as err:
            self._report(err)

    def _on_days(self, event: Any) -> None:
        if self._syncing or self.node is None or event.new is None:
            return
        try:
            self.choose(self.node, float(event.new))
        except ValidationError as err:
            self._report(err)

    def _on_tap(self, index: list[int]) -> None:
        if not index:
            return
        node = str(self.node_table.index[int(index[0])])
        try:
            self.choose(node)
        except ValidationError as err:
            self._report(err)

"""The impact matrix as an interactive heat map: likelihood x severity, appetite colours.

:class:`ImpactMatrixView` (also importable as ``ImpactMatrix``) draws a
:class:`riskbench.matrix.MatrixPlacement`: each cell in its appetite colour (accept,
monitor, treat), the number of scenarios in it, and each scenario as a labelled point
inside its cell (laid out on a small grid, in portfolio order, so that no two points
or labels sit on top of each other). Clicking a cell lists its scenarios in a table
below; :meth:`ImpactMatrixView.select_cell` is what the click calls. With a residual
result, a toggle shows the inherent or the residual positions, and lines join each
moved scenario's inherent cell to its residual cell.

The bands, appetite, counts and cell contents all come from riskbench
(``ImpactMatrix.place``, ``MatrixPlacement.cell``/``counts``/``appetite_frame``).

Examples
--------
>>> import riskbench as rb
>>> from riskbench.widgets.matrix_view import ImpactMatrixView
>>> result = rb.simulate(rb.load_portfolio("examples/register.yaml"), trials=2_000, seed=1)
>>> view = ImpactMatrixView.from_result(result)
>>> view.select_cell("Rare", "Minor") == view.placement.cell("Rare", "Minor")
True
>>> display(view)  # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
from typing import Any

import numpy as np
import pandas as pd
import panel as pn
import param

from riskbench.errors import Issue, ValidationError
from riskbench.matrix import ImpactMatrix as _CoreMatrix
from riskbench.matrix import MatrixPlacement
from riskbench.plotting import format_money
from riskbench.results import ExactResult, SimulationResult
from riskbench.scenario import Portfolio
from riskbench.widgets._panel import APPETITE_COLOURS, extension

__all__ = ["ImpactMatrix", "ImpactMatrixView"]

_INHERENT, _RESIDUAL = "inherent", "residual"
_POINT_COLOUR = "#263238"
_PER_COLUMN = 6  # scenarios stacked in one column of a cell before a second column
_MOVE_COLOUR = "#546e7a"
_MEASURE_LABELS = {
    "p90_given_event": "P90 loss in a year with an event",
    "mean_given_event": "mean loss in a year with an event",
    "tvar99": "TVaR 99% of annual loss",
}


def _layout(table: pd.DataFrame, lik_col: str, sev_col: str) -> pd.DataFrame:
    """Deterministic positions of the scenarios inside their cells.

    Cell (likelihood index i, severity index j) spans x in [j, j + 1] and y in
    [i, i + 1] (likelihood lowest at the bottom). The k scenarios of a cell are laid on
    column of up to 6 rows (a second column past 6, and so on) in portfolio order, top
    first, inside the cell's central part, leaving the top-right corner for the count.
    """
    codes_i = table[lik_col].cat.codes.to_numpy()
    codes_j = table[sev_col].cat.codes.to_numpy()
    x = np.empty(len(table))
    y = np.empty(len(table))
    for (i, j), members in pd.Series(range(len(table))).groupby([codes_i, codes_j]):
        rows = members.to_numpy()
        k = rows.size
        cols = math.ceil(k / _PER_COLUMN)
        lines = math.ceil(k / cols)
        for n, row in enumerate(rows):
            r, c = divmod(n, cols)
            x[row] = j + 0.06 + 0.5 * c / cols
            y[row] = i + 0.9 - 0.78 * (r + 0.5) / lines
    return pd.DataFrame({"x": x, "y": y}, index=table.index)


class ImpactMatrixView(pn.viewable.Viewer):
    """A likelihood x severity heat map of a placement, with the scenarios in their cells.

    Parameters
    ----------
    placement
        From ``rb.ImpactMatrix.place(result, residual=...)``.
    portfolio
        The portfolio placed: its currency is written on severities (optional).

    Examples
    --------
    >>> import riskbench as rb
    >>> from riskbench.widgets.matrix_view import ImpactMatrixView
    >>> res = rb.simulate(rb.load_portfolio("examples/register.yaml"), trials=2_000, seed=1)
    >>> placed = rb.ImpactMatrix.default(scale=1e6).place(res)
    >>> view = ImpactMatrixView(placed, portfolio=res.portfolio)
    >>> int(view.cell_frame()["count"].sum()) == len(res.ids)
    True
    """

    placement = param.ClassSelector(
        class_=MatrixPlacement, doc="Where each scenario sits: rb.ImpactMatrix.place(...)."
    )
    portfolio = param.ClassSelector(
        class_=Portfolio, default=None, doc="The portfolio placed (for its currency); or None."
    )
    residual = param.Boolean(
        default=False, doc="Show the residual (after mitigation) positions instead of inherent."
    )
    show_movement = param.Boolean(
        default=True, doc="With a residual: draw lines from inherent to residual cells."
    )
    selected_cell = param.Parameter(
        default=None, doc="The (likelihood, severity) labels of the selected cell, or None."
    )
    selected = param.Parameter(
        default=(), doc="The ids of the scenarios in the selected cell (a tuple)."
    )

    def __init__(
        self, placement: MatrixPlacement, *, portfolio: Portfolio | None = None, **params: Any
    ) -> None:
        extension()
        if not isinstance(placement, MatrixPlacement):
            raise ValidationError(
                [
                    Issue(
                        "placement",
                        "must be a MatrixPlacement (from rb.ImpactMatrix.place(result)), got "
                        f"{type(placement).__name__}",
                    )
                ]
            )
        if portfolio is not None and not isinstance(portfolio, Portfolio):
            raise ValidationError(
                [Issue("portfolio", f"must be an rb.Portfolio, got {type(portfolio).__name__}")]
            )
        super().__init__(placement=placement, portfolio=portfolio, **params)
        if self.residual and not placement.has_residual:
            raise ValidationError(
                [Issue("residual", "this placement has no residual result: pass residual=")]
            )

        # Widgets and panes: built here, never as class attributes (holoviz/panel#6489).
        self._mode = pn.widgets.RadioButtonGroup(
            label="Position",
            options=[_INHERENT, _RESIDUAL],
            value=_RESIDUAL if self.residual else _INHERENT,
            visible=placement.has_residual,
        )
        self._mode.param.watch(self._on_mode, "value")
        self._movement = pn.widgets.Checkbox(
            label="show movement", value=self.show_movement, visible=placement.has_residual
        )
        self._movement.param.watch(self._on_movement, "value")
        self._plot = pn.pane.HoloViews(sizing_mode="stretch_width", height=520)
        self._legend = pn.pane.HTML(self._legend_html())
        self._heading = pn.pane.Markdown("Click a cell to list its scenarios.")
        self._table = pn.pane.DataFrame(None, index=False, sizing_mode="stretch_width")
        self._tap: Any = None
        self._cells: Any = None
        self._static: Any = None
        self._layout = pn.Column(
            pn.Row(self._mode, self._movement, self._legend),
            self._plot,
            self._heading,
            self._table,
            sizing_mode="stretch_width",
        )
        self._redraw()

    # -- constructors ---------------------------------------------------------------
    @classmethod
    def from_result(
        cls,
        result: SimulationResult | ExactResult,
        matrix: _CoreMatrix | None = None,
        residual: SimulationResult | ExactResult | None = None,
        *,
        scale: float = 1e6,
        **params: Any,
    ) -> ImpactMatrixView:
        """Place ``result`` (and ``residual``) in ``matrix`` and view the placement.

        ``matrix`` defaults to ``rb.ImpactMatrix.default(scale=scale)``: severity bands
        at 0.1, 1, 5 and 20 times ``scale`` (currency).
        """
        if matrix is None:
            matrix = _CoreMatrix.default(scale=scale)
        elif not isinstance(matrix, _CoreMatrix):
            raise ValidationError(
                [Issue("matrix", f"must be an rb.ImpactMatrix, got {type(matrix).__name__}")]
            )
        placement = matrix.place(result, residual=residual)
        return cls(placement, portfolio=result.portfolio, **params)

    # -- public ---------------------------------------------------------------------
    def select_cell(self, likelihood: str, severity: str) -> tuple[str, ...]:
        """Select the cell (``likelihood``, ``severity`` band labels) and list its scenarios.

        Uses the positions shown (residual when the residual is shown). Returns the ids,
        in portfolio order, as ``placement.cell`` does; an unknown label raises a
        ValidationError naming it and the known bands.
        """
        ids = self.placement.cell(likelihood, severity, residual=self.residual)
        self.param.update(selected_cell=(likelihood, severity), selected=ids)
        self._show_selection()
        return ids

    def clear_selection(self) -> None:
        """Deselect the cell."""
        self.param.update(selected_cell=None, selected=())
        self._show_selection()

    def show_residual(self, residual: bool = True) -> None:
        """Show the residual positions (``True``) or the inherent ones (``False``)."""
        if residual and not self.placement.has_residual:
            raise ValidationError(
                [Issue("residual", "this placement has no residual result: pass residual=")]
            )
        self.residual = bool(residual)
        self._mode.value = _RESIDUAL if residual else _INHERENT
        self._redraw()
        if self.selected_cell is not None:
            self.select_cell(*self.selected_cell)  # the cell's contents change with the mode

    def update(self, placement: MatrixPlacement, portfolio: Portfolio | None = None) -> None:
        """Swap in a new placement (results changed); the selection is kept if it exists."""
        if not isinstance(placement, MatrixPlacement):
            raise ValidationError(
                [Issue("placement", f"must be a MatrixPlacement, got {type(placement).__name__}")]
            )
        self.placement = placement
        if portfolio is not None:
            self.portfolio = portfolio
        if self.residual and not placement.has_residual:
            self.residual = False
        self._mode.visible = self._movement.visible = placement.has_residual
        self._mode.value = _RESIDUAL if self.residual else _INHERENT
        cell = self.selected_cell
        self._redraw()
        if cell is not None and (
            cell[0] in placement.matrix.likelihood_labels
            and cell[1] in placement.matrix.severity_labels
        ):
            self.select_cell(*cell)
        else:
            self.clear_selection()

    def cell_frame(self) -> pd.DataFrame:
        """The cells as drawn: one row per cell with ``likelihood``, ``severity`` (labels),
        ``appetite``, ``colour`` and ``count`` (scenarios shown in it), and the
        rectangle ``x0, y0, x1, y1``."""
        matrix = self.placement.matrix
        appetite = matrix.appetite_frame()
        counts = self.placement.counts(residual=self.residual)
        rows = []
        for i, lik in enumerate(matrix.likelihood_labels):
            for j, sev in enumerate(matrix.severity_labels):
                a = appetite.loc[lik, sev]
                rows.append(
                    {
                        "x0": float(j),
                        "y0": float(i),
                        "x1": float(j + 1),
                        "y1": float(i + 1),
                        "likelihood": lik,
                        "severity": sev,
                        "appetite": a,
                        "colour": APPETITE_COLOURS[a],
                        "count": int(counts.loc[lik, sev]),
                    }
                )
        return pd.DataFrame(rows)

    def points(self) -> pd.DataFrame:
        """The scenarios as drawn: ``scenario``, ``title``, ``x``, ``y``, their bands,
        ``p_any`` and ``severity`` (of the positions shown)."""
        table = self.placement.table
        prefix = "residual_" if self.residual else ""
        xy = _layout(table, f"{prefix}likelihood_band", f"{prefix}severity_band")
        return pd.DataFrame(
            {
                "scenario": table["scenario"],
                "title": table["title"],
                "x": xy["x"],
                "y": xy["y"],
                "likelihood": table[f"{prefix}likelihood_band"].astype(str),
                "severity_band": table[f"{prefix}severity_band"].astype(str),
                "p_any": table[f"{prefix}p_any"],
                "severity": table[f"{prefix}severity"],
                "appetite": table[f"{prefix}appetite"],
            }
        )

    def selected_frame(self) -> pd.DataFrame:
        """The table listed under the matrix: the selected cell's scenarios with ``id``,
        ``title``, ``p_any`` and the severity measure (its name as the column)."""
        measure = self.placement.matrix.severity_measure
        prefix = "residual_" if self.residual else ""
        table = self.placement.table.set_index("scenario", drop=False)
        rows = table.loc[list(self.selected)]
        return pd.DataFrame(
            {
                "id": rows["scenario"].to_numpy(),
                "title": rows["title"].to_numpy(),
                "p_any": rows[f"{prefix}p_any"].to_numpy(dtype=float),
                measure: rows[f"{prefix}severity"].to_numpy(dtype=float),
            }
        )

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- callbacks --------------------------------------------------------------------
    def _on_mode(self, event: Any) -> None:
        wanted = event.new == _RESIDUAL
        if wanted != self.residual:
            self.show_residual(wanted)

    def _on_movement(self, event: Any) -> None:
        self.show_movement = bool(event.new)
        self._redraw()

    def _on_tap(self, x: float | None = None, y: float | None = None, **_: Any) -> None:
        if x is None or y is None:
            return
        matrix = self.placement.matrix
        i, j = math.floor(y), math.floor(x)
        if 0 <= i < len(matrix.likelihood_labels) and 0 <= j < len(matrix.severity_labels):
            self.select_cell(matrix.likelihood_labels[i], matrix.severity_labels[j])

    # -- drawing --------------------------------------------------------------------
    @property
    def _currency(self) -> str:
        return self.portfolio.currency if self.portfolio is not None else ""

    def _legend_html(self) -> str:
        swatches = "".join(
            f"<span style='display:inline-block;width:12px;height:12px;background:{c};"
            f"margin:0 4px 0 12px;vertical-align:middle'></span>{html.escape(name)}"
            for name, c in APPETITE_COLOURS.items()
        )
        return f"<div style='padding-top:6px'>Appetite:{swatches}</div>"

    def _show_selection(self) -> None:
        if self.selected_cell is None:
            self._heading.object = "Click a cell to list its scenarios."
            self._table.object = None
            return
        lik, sev = self.selected_cell
        which = "residual" if self.residual else "inherent"
        n = len(self.selected)
        self._heading.object = (
            f"**{html.escape(lik)} x {html.escape(sev)}** ({which}): "
            f"{n} scenario{'' if n == 1 else 's'}"
        )
        frame = self.selected_frame()
        measure = self.placement.matrix.severity_measure
        shown = frame.assign(
            p_any=[f"{100 * p:.3g}%" for p in frame["p_any"]],
            **{measure: [format_money(v, self._currency) for v in frame[measure]]},
        )
        self._table.object = shown

    def _selection_box(self, cell: tuple[str, str] | None = None) -> Any:
        import holoviews as hv

        boxes = []
        if cell is not None:
            matrix = self.placement.matrix
            i = matrix.likelihood_labels.index(cell[0])
            j = matrix.severity_labels.index(cell[1])
            boxes.append((j, i, j + 1, i + 1))
        return hv.Rectangles(boxes, group="Selection").opts(
            fill_alpha=0, line_color="#0d47a1", line_width=4
        )

    def _redraw(self) -> None:
        import holoviews as hv

        matrix = self.placement.matrix
        cells = self.cell_frame()
        n_lik, n_sev = len(matrix.likelihood_labels), len(matrix.severity_labels)
        self._cells = hv.Rectangles(
            cells,
            ["x0", "y0", "x1", "y1"],
            ["likelihood", "severity", "appetite", "colour", "count"],
            group="Cells",
        ).opts(
            color="colour",
            line_color="white",
            line_width=2,
            alpha=0.85,
            tools=["hover", "tap"],
            hover_tooltips=[
                ("cell", "@{likelihood} x @{severity}"),
                ("appetite", "@{appetite}"),
                ("scenarios", "@{count}"),
            ],
        )
        if self._tap is not None:
            self._tap.source = None
        self._tap = hv.streams.Tap(source=self._cells, x=None, y=None)
        self._tap.add_subscriber(self._on_tap)

        counts = cells[cells["count"] > 0].assign(
            x=lambda f: f["x1"] - 0.05, y=lambda f: f["y1"] - 0.08, text=lambda f: f["count"]
        )
        layers: list[Any] = [
            self._cells,
            hv.Labels(counts, ["x", "y"], "text", group="Counts").opts(
                text_font_size="11pt",
                text_font_style="bold",
                text_align="right",
                text_color="#212121",
            ),
        ]
        pts = self.points()
        if self.placement.has_residual and self.show_movement:
            table = self.placement.table
            start = _layout(table, "likelihood_band", "severity_band")
            end = _layout(table, "residual_likelihood_band", "residual_severity_band")
            moved = table["moved"].to_numpy(dtype=bool)
            segs = pd.DataFrame(
                {
                    "x0": start["x"][moved],
                    "y0": start["y"][moved],
                    "x1": end["x"][moved],
                    "y1": end["y"][moved],
                    "scenario": table["scenario"][moved],
                }
            )
            layers.append(
                hv.Segments(segs, ["x0", "y0", "x1", "y1"], ["scenario"], group="Movement").opts(
                    color=_MOVE_COLOUR, line_width=1.5, line_dash="dashed", alpha=0.8
                )
            )
            other = end if not self.residual else start
            layers.append(
                hv.Points(
                    pd.DataFrame({"x": other["x"][moved], "y": other["y"][moved]}),
                    group="Movement",
                ).opts(color=_MOVE_COLOUR, marker="circle", fill_alpha=0, size=8)
            )
        pts = pts.assign(
            p_text=[f"{100 * p:.3g}%" for p in pts["p_any"]],
            sev_text=[format_money(v, self._currency) for v in pts["severity"]],
        )
        measure = matrix.severity_measure
        layers.append(
            hv.Points(
                pts,
                ["x", "y"],
                ["scenario", "title", "p_text", "sev_text", "appetite"],
                group="Scenarios",
            ).opts(
                color=_POINT_COLOUR,
                size=8,
                tools=["hover"],
                hover_tooltips=[
                    ("scenario", "@{scenario}: @{title}"),
                    ("P(any event in a year)", "@{p_text}"),
                    (measure, "@{sev_text}"),
                    ("appetite", "@{appetite}"),
                ],
            )
        )
        layers.append(
            hv.Labels(pts, ["x", "y"], "scenario", group="Scenarios").opts(
                text_font_size="7pt", text_align="left", xoffset=0.025, text_color="#111111"
            )
        )
        which = "residual" if self.residual else "inherent"
        # The selected cell's outline follows `selected_cell` without redrawing the rest.
        selection = hv.DynamicMap(
            self._selection_box,
            streams=[hv.streams.Params(self, ["selected_cell"], rename={"selected_cell": "cell"})],
        )
        self._static = hv.Overlay(layers)
        self._plot.object = (self._static * selection).opts(
            responsive=True,
            xlim=(0, n_sev),
            ylim=(0, n_lik),
            xticks=[(j + 0.5, s) for j, s in enumerate(matrix.severity_labels)],
            yticks=[(i + 0.5, s) for i, s in enumerate(matrix.likelihood_labels)],
            xlabel=f"severity ({_MEASURE_LABELS.get(measure, measure)})",
            ylabel="likelihood (P(any event in a year))",
            title=f"Impact matrix ({which})",
            show_legend=False,
            toolbar="above",
        )


#: The same component, under the name the dashboard uses.
ImpactMatrix = ImpactMatrixView

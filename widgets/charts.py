"""Interactive charts of a simulation result: exceedance curve, annual-loss histogram, tornado.

:class:`SimChart` is a Panel component (``display(chart)`` in JupyterLab, a Voilà page
or ``panel serve``) that draws, for the portfolio or one scenario of a result:

- the loss exceedance curve, ``P(annual loss > x)`` against ``x`` on log axes, with a
  hover that shows the loss and the annual probability of exceeding it; optionally a
  risk-tolerance curve in red, with the points of the curve that exceed it marked, and
  a residual (after mitigation) curve beside the inherent one;
- a histogram of annual loss (log-spaced bins; the years with no loss are counted
  apart, since a log axis cannot show 0);
- a tornado of the portfolio's sensitivity to each scenario's frequency and severity,
  given or computed on request (it re-simulates: seconds);
- a headline table of mean, p90, p99 and tvar99 taken from ``result.summary()``.

Every number comes from riskbench (``exceedance_curve``, ``summary``, ``tornado``); the
component only selects, bins for display and draws.

Examples
--------
>>> import riskbench as rb
>>> from riskbench.widgets.charts import SimChart
>>> result = rb.simulate(rb.load_portfolio("examples/register.yaml"), trials=2_000, seed=1)
>>> chart = SimChart(result, tolerance=[(1e6, 0.5), (1e8, 0.01)])
>>> chart.select("plant-fire")
>>> chart.curve_data().equals(result.exceedance_curve("plant-fire"))
True
>>> display(chart)  # doctest: +SKIP
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
from riskbench.mitigation import _tolerance_curve, tolerance_breaches
from riskbench.plotting import format_money
from riskbench.results import ExactResult, SimulationResult
from riskbench.sensitivity import Tornado
from riskbench.widgets._panel import extension

__all__ = ["SimChart"]

HEADLINE_COLUMNS = ("mean", "p90", "p99", "tvar99")
_HEADLINE_LABELS = {"mean": "Mean", "p90": "P90", "p99": "P99", "tvar99": "TVaR 99%"}
_PORTFOLIO = ""  # the scenario selector's value for the whole portfolio
_INHERENT_COLOUR = "#212121"
_RESIDUAL_COLOUR = "#1e88e5"
_TOLERANCE_COLOUR = "#e53935"
_LOW_COLOUR = "#1f77b4"
_HIGH_COLOUR = "#ff7f0e"

# Bokeh tick formatters, in the style of riskbench.plotting.format_money ("EUR 1.2M").
_MONEY_JS = """
const units = [[1e12, "tn"], [1e9, "bn"], [1e6, "M"], [1e3, "k"]];
const a = Math.abs(tick);
let n = Number(a.toPrecision(3)), u = "";
for (const [f, s] of units) { if (n >= f) { n = n / f; u = s; break; } }
const t = n >= 1000 ? Math.round(n).toLocaleString("en") : String(Number(n.toPrecision(3)));
return (tick < 0 ? "-" : "") + PREFIX + t + u;
"""
_PERCENT_JS = "return String(Number((100 * tick).toPrecision(3))) + '%';"


def _money_formatter(currency: str) -> Any:
    from bokeh.models import CustomJSTickFormatter

    prefix = f"{currency} " if currency else ""
    return CustomJSTickFormatter(code=_MONEY_JS.replace("PREFIX", repr(prefix)))


def _percent_formatter() -> Any:
    from bokeh.models import CustomJSTickFormatter

    return CustomJSTickFormatter(code=_PERCENT_JS)


def _percent(p: float) -> str:
    return f"{100 * p:.3g}%"


def _check_result(value: Any, name: str, *, optional: bool = False) -> Any:
    if value is None and optional:
        return None
    if not isinstance(value, SimulationResult | ExactResult):
        raise ValidationError(
            [
                Issue(
                    name,
                    "must be a SimulationResult or ExactResult (from rb.simulate), got "
                    f"{type(value).__name__}",
                )
            ]
        )
    return value


def _check_residual(result: Any, residual: Any) -> Any:
    residual = _check_result(residual, "residual", optional=True)
    if residual is not None and set(residual.ids) != set(result.ids):
        raise ValidationError(
            [
                Issue(
                    "residual",
                    f"must have the same scenarios as result; it has {sorted(residual.ids)}, "
                    f"result has {sorted(result.ids)}",
                )
            ]
        )
    return residual


class SimChart(pn.viewable.Viewer):
    """Exceedance curve, annual-loss histogram, tornado and headline numbers of a result.

    Parameters
    ----------
    result
        A :class:`~riskbench.SimulationResult` (or :class:`~riskbench.ExactResult`:
        then the histogram shows probability mass and there is no tornado).
    residual
        The result after mitigation (same scenario ids): drawn as a second curve and
        histogram and a second headline row.
    tolerance
        A risk-tolerance curve, as ``rb.optimize_mitigations(tolerance=...)`` takes
        it: ``[(loss, probability), ...]`` or a DataFrame with columns ``loss`` and
        ``probability`` (losses increasing, probabilities not increasing).
    tornado
        A :class:`~riskbench.Tornado` to show; without one, a button computes it.
    currency
        The code written on the money axes; the result's currency by default.

    Examples
    --------
    >>> import riskbench as rb
    >>> from riskbench.widgets.charts import SimChart
    >>> res = rb.simulate(rb.load_portfolio("examples/register.yaml"), trials=2_000, seed=1)
    >>> head = SimChart(res).headline()
    >>> bool(head.loc["result", "mean"] == res.summary().loc["portfolio", "mean"])
    True
    """

    result = param.Parameter(doc="The result drawn: a SimulationResult or ExactResult.")
    residual = param.Parameter(
        default=None, doc="The result after mitigation, drawn as a second series; or None."
    )
    tolerance = param.Parameter(
        default=None,
        doc="Risk-tolerance curve: [(loss, probability), ...] or a DataFrame; or None.",
    )
    tornado = param.Parameter(
        default=None, doc="The rb.Tornado shown; None until given or computed."
    )
    currency = param.String(default="", doc="Currency code on the money axes.")
    scenario = param.Parameter(
        default=None, doc="The scenario id whose series is drawn; None for the portfolio."
    )
    bins = param.Integer(default=50, bounds=(1, 500), doc="Bins of the annual-loss histogram.")
    log_probability = param.Boolean(
        default=True, doc="Draw the exceedance probability on a log axis."
    )
    tornado_trials = param.Integer(
        default=20_000,
        bounds=(1, None),
        doc="Years the tornado re-simulates when computed here (whole blocks, at least).",
    )
    tornado_metric = param.Selector(
        default="p99",
        objects=["mean", "p90", "p95", "p99", "tvar99"],
        doc="The tail measure the computed tornado ranks by.",
    )

    def __init__(
        self,
        result: SimulationResult | ExactResult,
        *,
        residual: SimulationResult | ExactResult | None = None,
        tolerance: Any = None,
        tornado: Tornado | None = None,
        currency: str | None = None,
        **params: Any,
    ) -> None:
        extension()
        result = _check_result(result, "result")
        residual = _check_residual(result, residual)
        points = None if tolerance is None else _tolerance_curve(tolerance)
        if tornado is not None and not isinstance(tornado, Tornado):
            raise ValidationError(
                [Issue("tornado", f"must be an rb.Tornado, got {type(tornado).__name__}")]
            )
        super().__init__(
            result=result,
            residual=residual,
            tolerance=tolerance,
            tornado=tornado,
            currency=result.currency if currency is None else str(currency),
            **params,
        )
        self._points = points
        self._summaries: dict[int, pd.DataFrame] = {}

        # Widgets and panes: built here, never as class attributes (holoviz/panel#6489).
        self._scenario_select = pn.widgets.Select(label="Series", options=self._options())
        self._scenario_select.param.watch(self._on_select, "value")
        self._log_box = pn.widgets.Checkbox(
            label="log probability axis", value=self.log_probability
        )
        self._log_box.param.watch(self._on_log, "value")
        self._headline = pn.pane.HTML(sizing_mode="stretch_width")
        self._exceedance = pn.pane.HoloViews(sizing_mode="stretch_width", height=420)
        self._histogram = pn.pane.HoloViews(sizing_mode="stretch_width", height=380)
        self._tornado_pane = pn.pane.HoloViews(sizing_mode="stretch_width", min_height=200)
        self._tornado_note = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._tornado_button = pn.widgets.Button(
            label="Compute tornado", color="primary", width=200
        )
        self._tornado_button.on_click(self._on_tornado)
        self._layout = pn.Column(
            pn.Row(self._scenario_select, self._log_box),
            self._headline,
            pn.Tabs(
                ("Exceedance curve", self._exceedance),
                ("Annual loss", self._histogram),
                (
                    "Tornado",
                    pn.Column(
                        pn.Row(self._tornado_button, self._tornado_note),
                        self._tornado_pane,
                        sizing_mode="stretch_width",
                    ),
                ),
                dynamic=False,
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
        self._refresh()
        self._refresh_tornado()

    # -- public ---------------------------------------------------------------------
    def select(self, scenario_id: str | None) -> None:
        """Draw the series of one scenario (its id), or the portfolio's (``None``)."""
        if scenario_id is not None and scenario_id not in self.result.ids:
            raise ValidationError(
                [
                    Issue(
                        "scenario",
                        f"unknown scenario {scenario_id!r}; known: {list(self.result.ids)} "
                        "(or None for the portfolio)",
                    )
                ]
            )
        self.scenario = scenario_id
        self._scenario_select.value = _PORTFOLIO if scenario_id is None else scenario_id
        self._refresh()

    def update(
        self,
        result: SimulationResult | ExactResult,
        residual: SimulationResult | ExactResult | None = None,
    ) -> None:
        """Swap in new results (a slider moved); keeps the selection where it still exists.

        The tornado belonged to the old result: it is cleared (compute it again with
        the button or :meth:`compute_tornado`).
        """
        result = _check_result(result, "result")
        residual = _check_residual(result, residual)
        keep = self.scenario if self.scenario in result.ids else None
        self._summaries.clear()
        self.param.update(result=result, residual=residual, tornado=None, scenario=keep)
        self._scenario_select.options = self._options()
        self._scenario_select.value = _PORTFOLIO if keep is None else keep
        self._refresh()
        self._refresh_tornado()

    def curve_data(self, *, residual: bool = False) -> pd.DataFrame:
        """The exceedance curve drawn: ``result.exceedance_curve(selection)`` (or the
        residual's), columns ``loss`` and ``probability``."""
        source = self._source(residual)
        return source.exceedance_curve(self.scenario)

    def breaches(self, *, residual: bool = False) -> pd.DataFrame:
        """The points of the drawn curve above the risk tolerance (marked on the chart).

        Columns ``loss``, ``probability`` and ``tolerated``; empty without a tolerance.
        The tolerance is interpolated on the chart's log-log axes between its points
        and judged over their span only.
        """
        curve = self.curve_data(residual=residual)
        if self._points is None:
            return curve.iloc[0:0].assign(tolerated=np.empty(0))
        return tolerance_breaches(curve, *self._points)

    def histogram_data(self, *, residual: bool = False) -> pd.DataFrame:
        """The bins of the annual-loss histogram of the selected series.

        Row 0 holds the years with no loss (``left == right == 0``); the other rows are
        log-spaced bins ``[left, right)`` over the positive losses (the last bin
        closed). Columns ``left``, ``right``, ``count`` (years; missing for an exact
        result) and ``share`` (of years, or probability mass). ``count`` sums to the
        number of trials and ``share`` to 1.
        """
        edges = self._edges()
        return self._binned(self._source(residual), edges)

    def headline(self) -> pd.DataFrame:
        """Mean, p90, p99 and tvar99 of the selected series, from ``result.summary()``.

        One row ``"result"`` (``"inherent"`` and ``"residual"`` with a residual).
        """
        key = "portfolio" if self.scenario is None else self.scenario
        rows = {}
        names = ("inherent", "residual") if self.residual is not None else ("result",)
        for name, source in zip(names, (self.result, self.residual), strict=False):
            rows[name] = self._summary(source).loc[key, list(HEADLINE_COLUMNS)]
        frame = pd.DataFrame(rows).T
        frame.index.name = "series"
        return frame

    def compute_tornado(self) -> Tornado:
        """Compute the tornado of the result (re-simulates ``tornado_trials`` years)."""
        if not isinstance(self.result, SimulationResult):
            raise ValidationError(
                [
                    Issue(
                        "result",
                        "a tornado needs simulated years: an exact (fft) result has none; "
                        "use a SimulationResult",
                    )
                ]
            )
        self._tornado_pane.loading = True
        self._tornado_button.disabled = True
        try:
            self.tornado = self.result.tornado(
                trials=self.tornado_trials, metric=self.tornado_metric
            )
        finally:
            self._tornado_pane.loading = False
            self._tornado_button.disabled = False
        self._refresh_tornado()
        return self.tornado

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # -- callbacks --------------------------------------------------------------------
    def _on_select(self, event: Any) -> None:
        value = None if event.new == _PORTFOLIO else event.new
        if value != self.scenario:
            self.select(value)

    def _on_log(self, event: Any) -> None:
        self.log_probability = bool(event.new)
        self._refresh()

    def _on_tornado(self, _event: Any) -> None:
        try:
            self.compute_tornado()
        except ValidationError as err:
            self._tornado_note.object = f"**Cannot compute:** {html.escape(str(err))}"

    # -- building -------------------------------------------------------------------
    def _source(self, residual: bool) -> Any:
        if not residual:
            return self.result
        if self.residual is None:
            raise ValidationError(
                [Issue("residual", "this chart has no residual result: pass residual=")]
            )
        return self.residual

    def _options(self) -> dict[str, str]:
        options = {"Portfolio (all scenarios)": _PORTFOLIO}
        for s in self.result.portfolio.scenarios:
            options[f"{s.id}: {s.title}"] = s.id
        return options

    def _summary(self, source: Any) -> pd.DataFrame:
        key = id(source)
        if key not in self._summaries:
            self._summaries[key] = source.summary()
        return self._summaries[key]

    def _series(self, source: Any) -> tuple[np.ndarray, np.ndarray | None]:
        """The selected series' annual losses (and weights for an exact result)."""
        if isinstance(source, SimulationResult):
            if self.scenario is None:
                return np.asarray(source.annual_loss, dtype=float), None
            return source.scenario_losses(self.scenario), None
        pmf = source.pmf(self.scenario)
        return pmf["loss"].to_numpy(dtype=float), pmf["probability"].to_numpy(dtype=float)

    def _edges(self) -> np.ndarray:
        """Log-spaced bin edges over the positive losses of every series drawn."""
        lo, hi = math.inf, 0.0
        for source in (self.result, self.residual):
            if source is None:
                continue
            values, weights = self._series(source)
            positive = values > 0 if weights is None else (values > 0) & (weights > 0)
            if positive.any():
                lo = min(lo, float(values[positive].min()))
                hi = max(hi, float(values[positive].max()))
        if hi <= 0:
            return np.empty(0)
        if hi <= lo:
            return np.array([lo / 2, lo * 2])
        return np.geomspace(lo, hi * (1 + 1e-9), self.bins + 1)

    def _binned(self, source: Any, edges: np.ndarray) -> pd.DataFrame:
        values, weights = self._series(source)
        positive = values > 0
        left = np.concatenate([[0.0], edges[:-1]]) if edges.size else np.zeros(1)
        right = np.concatenate([[0.0], edges[1:]]) if edges.size else np.zeros(1)
        if weights is None:
            binned = np.histogram(values[positive], bins=edges)[0] if edges.size else []
            count = np.concatenate([[int((~positive).sum())], binned]).astype(np.int64)
            share = count / values.size
            return pd.DataFrame({"left": left, "right": right, "count": count, "share": share})
        binned = (
            np.histogram(values[positive], bins=edges, weights=weights[positive])[0]
            if edges.size
            else []
        )
        share = np.concatenate([[float(weights[~positive].sum())], binned])
        return pd.DataFrame({"left": left, "right": right, "count": pd.NA, "share": share})

    def _series_name(self) -> str:
        return "portfolio" if self.scenario is None else self.scenario

    def _refresh(self) -> None:
        self._headline.object = self._headline_html()
        self._exceedance.object = self._exceedance_plot()
        self._histogram.object = self._histogram_plot()

    def _headline_html(self) -> str:
        frame = self.headline()
        head = "".join(f"<th>{_HEADLINE_LABELS[c]}</th>" for c in HEADLINE_COLUMNS)
        body = "".join(
            f"<tr><th style='text-align:left'>{html.escape(str(name))}</th>"
            + "".join(
                f"<td style='text-align:right'>{format_money(row[c], self.currency)}</td>"
                for c in HEADLINE_COLUMNS
            )
            + "</tr>"
            for name, row in frame.iterrows()
        )
        title = html.escape(self._series_name())
        basis = html.escape(str(self.result.basis))
        return (
            f"<b>{title}</b> annual loss ({html.escape(self.currency)}, {basis})"
            f"<table class='rb-headline'><thead><tr><th></th>{head}</tr></thead>"
            f"<tbody>{body}</tbody></table>"
        )

    def _curve_element(self, curve: pd.DataFrame, label: str, colour: str, width: float) -> Any:
        import holoviews as hv

        shown = curve[(curve["loss"] > 0) & (curve["probability"] > 0)]
        data = shown.assign(
            loss_text=[format_money(x, self.currency) for x in shown["loss"]],
            probability_text=[_percent(p) for p in shown["probability"]],
        )
        return hv.Curve(
            data,
            "loss",
            ["probability", "loss_text", "probability_text"],
            group="Exceedance",
            label=label,
        ).opts(
            color=colour,
            line_width=width,
            tools=["hover"],
            hover_tooltips=[
                ("series", label),
                ("annual loss", "@{loss_text}"),
                ("P(exceeded in a year)", "@{probability_text}"),
            ],
        )

    def _exceedance_plot(self) -> Any:
        import holoviews as hv

        name = self._series_name()
        has_residual = self.residual is not None
        layers = [
            self._curve_element(
                self.curve_data(), "inherent" if has_residual else name, _INHERENT_COLOUR, 2.5
            )
        ]
        if has_residual:
            layers.append(
                self._curve_element(
                    self.curve_data(residual=True), "residual", _RESIDUAL_COLOUR, 2.5
                )
            )
        if self._points is not None:
            losses, probs = self._points
            keep = losses > 0
            tol = pd.DataFrame({"loss": losses[keep], "probability": probs[keep]})
            tol = tol.assign(
                loss_text=[format_money(x, self.currency) for x in tol["loss"]],
                probability_text=[_percent(p) for p in tol["probability"]],
            )
            tips = [
                ("annual loss", "@{loss_text}"),
                ("tolerated P(exceeded)", "@{probability_text}"),
            ]
            layers.append(
                hv.Curve(
                    tol,
                    "loss",
                    ["probability", "loss_text", "probability_text"],
                    group="Tolerance",
                    label="risk tolerance",
                ).opts(color=_TOLERANCE_COLOUR, line_dash="dashed", line_width=2)
            )
            layers.append(
                hv.Scatter(
                    tol,
                    "loss",
                    ["probability", "loss_text", "probability_text"],
                    group="Tolerance",
                    label="risk tolerance",
                ).opts(color=_TOLERANCE_COLOUR, size=7, tools=["hover"], hover_tooltips=tips)
            )
            for residual in (False, True) if has_residual else (False,):
                hits = self.breaches(residual=residual)
                hits = hits[(hits["probability"] > 0) & (hits["loss"] > 0)]
                if hits.empty:
                    continue
                label = "above tolerance" + (" (residual)" if residual else "")
                hits = hits.assign(
                    loss_text=[format_money(x, self.currency) for x in hits["loss"]],
                    probability_text=[_percent(p) for p in hits["probability"]],
                    tolerated_text=[_percent(p) for p in hits["tolerated"]],
                )
                layers.append(
                    hv.Scatter(
                        hits,
                        "loss",
                        ["probability", "loss_text", "probability_text", "tolerated_text"],
                        group="Breach",
                        label=label,
                    ).opts(
                        color=_TOLERANCE_COLOUR,
                        marker="x",
                        size=9,
                        line_width=2,
                        tools=["hover"],
                        hover_tooltips=[
                            ("annual loss", "@{loss_text}"),
                            ("P(exceeded in a year)", "@{probability_text}"),
                            ("tolerated", "@{tolerated_text}"),
                        ],
                    )
                )
        title = f"Loss exceedance: {name}" + (" (inherent vs residual)" if has_residual else "")
        return hv.Overlay(layers).opts(
            logx=True,
            logy=self.log_probability,
            responsive=True,
            xformatter=_money_formatter(self.currency),
            yformatter=_percent_formatter(),
            xlabel=f"annual loss ({self.currency}, {self.result.basis})",
            ylabel="probability of exceeding in a year",
            title=title,
            show_legend=True,
            legend_position="bottom_left",
            show_grid=True,
        )

    def _histogram_plot(self) -> Any:
        import holoviews as hv

        edges = self._edges()
        name = self._series_name()
        has_residual = self.residual is not None
        series = [("inherent" if has_residual else name, self.result, _INHERENT_COLOUR)]
        if has_residual:
            series.append(("residual", self.residual, _RESIDUAL_COLOUR))
        layers = []
        zero_notes = []
        for label, source, colour in series:
            frame = self._binned(source, edges)
            zero_notes.append(f"{label}: {_percent(float(frame['share'].iloc[0]))} no loss")
            bars = frame.iloc[1:]
            if bars.empty:
                continue
            layers.append(
                hv.Histogram(
                    ([*bars["left"].tolist(), bars["right"].iloc[-1]], bars["share"].to_numpy()),
                    kdims="loss",
                    vdims="share",
                    label=label,
                ).opts(
                    color=colour,
                    alpha=0.55 if has_residual else 0.85,
                    line_color="white",
                    tools=["hover"],
                    hover_tooltips=[
                        ("series", label),
                        ("annual loss", "@{loss}{0.00a}"),
                        ("share of years", "@{share}{0.00%}"),
                    ],
                )
            )
        summary = self._summary(self.result).loc[name]
        for stat, dash in (("mean", "solid"), ("p99", "dashed"), ("tvar99", "dotted")):
            x = float(summary[stat])
            if x > 0:
                layers.append(
                    hv.VLine(
                        x, label=f"{_HEADLINE_LABELS[stat]} {format_money(x, self.currency)}"
                    ).opts(color="black", line_dash=dash, line_width=1.2)
                )
        if not layers:
            return hv.Text(0.5, 0.5, "no loss in any year").opts(responsive=True)
        return hv.Overlay(layers).opts(
            logx=True,
            responsive=True,
            xformatter=_money_formatter(self.currency),
            yformatter=_percent_formatter(),
            xlabel=f"annual loss ({self.currency}, {self.result.basis})",
            ylabel="share of years",
            title=f"Annual loss: {name} ({'; '.join(zero_notes)})",
            show_legend=True,
            legend_position="top_right",
        )

    def _refresh_tornado(self) -> None:
        simulated = isinstance(self.result, SimulationResult)
        self._tornado_button.disabled = not simulated
        t = self.tornado
        if t is None:
            self._tornado_note.object = (
                f"The tornado re-simulates each scenario ({self.tornado_trials:,} years): "
                "compute it on request."
                if simulated
                else "An exact (fft) result has no simulated years: no tornado."
            )
            self._tornado_pane.object = None
            return
        self._tornado_note.object = (
            f"Portfolio {t.metric} when each input is in its low band (below q{t.quantiles[0]:g}) "
            f"or high band (above q{t.quantiles[1]:g}); {t.years:,} years."
        )
        self._tornado_pane.object = self._tornado_plot(t)
        self._tornado_pane.height = 120 + 28 * min(len(t.table), 15)

    def _tornado_plot(self, t: Tornado, top: int = 15) -> Any:
        import holoviews as hv

        metric = t.metric
        table = t.table.head(top)
        n = len(table)
        y = np.arange(n)[::-1].astype(float)
        labels = [f"{r.scenario}: {r.input}" for r in table.itertuples()]
        base = table[f"{metric}_base"].to_numpy(dtype=float)
        layers = []
        for side, colour, q in (
            ("low", _LOW_COLOUR, t.quantiles[0]),
            ("high", _HIGH_COLOUR, t.quantiles[1]),
        ):
            value = table[f"{metric}_{side}"].to_numpy(dtype=float)
            data = pd.DataFrame(
                {
                    "x0": np.minimum(base, value),
                    "y0": y - 0.35,
                    "x1": np.maximum(base, value),
                    "y1": y + 0.35,
                    "input": labels,
                    "value": [format_money(v, self.currency) for v in value],
                    "base": [format_money(v, self.currency) for v in base],
                }
            )
            band = f"{side} band ({'below' if side == 'low' else 'above'} q{q:g})"
            layers.append(
                hv.Rectangles(
                    data,
                    ["x0", "y0", "x1", "y1"],
                    ["input", "value", "base"],
                    group="Tornado",
                    label=band,
                ).opts(
                    color=colour,
                    line_color=colour,
                    tools=["hover"],
                    hover_tooltips=[
                        ("input", "@{input}"),
                        (f"{metric} ({side})", "@{value}"),
                        (f"{metric} (as simulated)", "@{base}"),
                    ],
                )
            )
        overall = t.base.get(metric)
        if overall is not None:
            layers.append(hv.VLine(overall).opts(color="black", line_dash="dotted"))
        return hv.Overlay(layers).opts(
            responsive=True,
            yticks=list(zip(y.tolist(), labels, strict=True)),
            xformatter=_money_formatter(self.currency),
            xlabel=f"portfolio {metric} ({self.currency})",
            ylabel="",
            title=f"Tornado: swing in portfolio {metric}",
            show_legend=True,
            legend_position="bottom_right",
            show_grid=True,
        )

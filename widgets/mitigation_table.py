"""Mitigation options, a plan made by ticking them, and the efficient frontier.

:class:`MitigationTable` shows what each option costs and what it buys (from
:func:`riskbench.evaluate_mitigations`), lets the user tick options into a plan and
shows the plan's cost and residual risk against the inherent risk, and draws the
efficient frontier of :func:`riskbench.optimize_mitigations` with the plan marked.

Recomputing a plan simulates the touched scenarios again (about a second at 20,000
years), so ticking does not recompute on every click: with *Auto-update* on, the
plan is recomputed once the ticks have settled (no tick for
:attr:`MitigationTable.debounce_ms` milliseconds, a one-shot
``pn.state.add_periodic_callback`` in ``panel serve``, ``loop.call_later`` on the
kernel's event loop in Jupyter and Voilà); the *Update* button recomputes at once.
Where no event loop runs (a plain Python script) a tick recomputes at once.
:meth:`MitigationTable.tick` (what the button calls) always recomputes at once.
"""

from __future__ import annotations

import asyncio
import html
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import holoviews as hv
import pandas as pd
import panel as pn
import param
from bokeh.models import HoverTool, NumeralTickFormatter

from riskbench.errors import Issue, ValidationError
from riskbench.mitigation import (
    Mitigation,
    MitigationReport,
    OptimizationResult,
    evaluate_mitigations,
    optimize_mitigations,
)
from riskbench.scenario import Portfolio
from riskbench.widgets._panel import extension

__all__ = ["OPTION_COLUMNS", "MitigationTable"]

#: The columns of the options table shown, from ``MitigationReport.table``.
OPTION_COLUMNS = (
    "one_off_cost",
    "annual_cost",
    "eal_reduction",
    "p99_reduction",
    "rosi",
    "npv",
    "payback_years",
)
_LABELS = {
    "one_off_cost": "One-off cost",
    "annual_cost": "Annual cost",
    "eal_reduction": "Mean loss reduction",
    "p99_reduction": "P99 reduction",
    "rosi": "ROSI",
    "npv": "NPV",
    "payback_years": "Payback (years)",
}


def _money(v: float) -> str:
    return f"{v:,.0f}" if math.isfinite(v) else ("n/a" if math.isnan(v) else "∞")


def _ratio(v: float) -> str:
    return f"{v:.0%}" if math.isfinite(v) else ("n/a" if math.isnan(v) else "∞")


def _years(v: float) -> str:
    return f"{v:.1f}" if math.isfinite(v) else ("n/a" if math.isnan(v) else "never")


class MitigationTable(pn.viewable.Viewer):
    """Mitigation options with cost, risk reduction, ROSI and NPV; tick a plan.

    Parameters
    ----------
    portfolio
        The register (:class:`riskbench.Portfolio`).
    mitigations
        The options (:class:`riskbench.Mitigation`), e.g. from
        :func:`riskbench.load_mitigations`.
    trials, seed
        Simulated years and seed of every evaluation (common random numbers).
    budget
        Annual budget for the efficient frontier (default: the cost of every option
        together, so every set is on the table).

    Attributes
    ----------
    report : MitigationReport
        :func:`riskbench.evaluate_mitigations` with the current plan (at first: every
        option, as its default).
    optimization : OptimizationResult
        :func:`riskbench.optimize_mitigations` (objective ``"mean"``) with the budget.
    plan : tuple of str
        The ids ticked, in the order of ``mitigations``.

    Examples
    --------
    >>> import riskbench as rb
    >>> from riskbench.widgets.mitigation_table import MitigationTable
    >>> table = MitigationTable(rb.load_portfolio("examples/register.yaml"),
    ...                         rb.load_mitigations("examples/mitigations.yaml"),
    ...                         trials=2_000)  # doctest: +SKIP
    >>> table.tick(["immutable-backups", "edr-mdr"])["residual_mean"]  # doctest: +SKIP
    """

    debounce_ms = param.Integer(
        default=600, bounds=(0, None), doc="Quiet time after the last tick before recomputing."
    )
    auto_update = param.Boolean(default=True, doc="Recompute the plan once the ticks settle.")

    def __init__(
        self,
        portfolio: Portfolio,
        mitigations: Sequence[Mitigation],
        *,
        trials: int = 20_000,
        seed: int | None = 0,
        budget: float | None = None,
        **params: Any,
    ) -> None:
        super().__init__(**params)
        extension()
        self._portfolio = portfolio
        self._mitigations = list(mitigations)
        self.trials = trials
        self.seed = seed
        self.budget = (
            float(sum(m.annual_cost for m in self._mitigations)) if budget is None else budget
        )
        self.report: MitigationReport = evaluate_mitigations(
            portfolio, self._mitigations, trials=trials, seed=seed
        )
        self.optimization: OptimizationResult = optimize_mitigations(
            portfolio,
            self._mitigations,
            budget_per_year=self.budget,
            objective="mean",
            trials=trials,
            seed=seed,
        )
        self.plan: tuple[str, ...] = tuple(m.id for m in self._mitigations)
        self._pending: Any = None
        self._syncing = False

        # Widgets and panes: built here, never as class attributes.
        self.checkboxes = pn.widgets.CheckBoxGroup(
            options={f"{m.id}: {m.name}": m.id for m in self._mitigations},
            value=list(self.plan),
            inline=False,
        )
        self.update_button = pn.widgets.Button(label="Update", color="primary", width=100)
        self.auto = pn.widgets.Checkbox(label="Auto-update", value=self.auto_update)
        self.status = pn.pane.Markdown("")
        self.message = pn.pane.Alert("", alert_type="danger", visible=False)
        self.options_pane = pn.pane.DataFrame(
            self._options_frame(),
            formatters=self._formatters(),
            sizing_mode="stretch_width",
        )
        self.summary_pane = pn.pane.DataFrame(
            None, formatters={"inherent": _money, "residual": _money, "reduction": _money}
        )
        self.plan_text = pn.pane.Markdown("")
        self.frontier_pane = pn.pane.HoloViews(self._frontier_plot(), sizing_mode="stretch_width")
        self.checkboxes.param.watch(self._on_ticks, "value")
        self.update_button.on_click(lambda _event: self._update_from_ui())
        self.auto.param.watch(lambda e: setattr(self, "auto_update", e.new), "value")
        self._show()

    # -- public --------------------------------------------------------------------
    def tick(self, ids: Iterable[str]) -> dict[str, Any]:
        """Make ``ids`` the plan, recompute its residual risk and show it; the summary
        (see :meth:`summary`).

        Raises
        ------
        riskbench.errors.ValidationError
            For an id that is not one of the options.
        """
        wanted = [str(i) for i in ids]
        known = [m.id for m in self._mitigations]
        unknown = [i for i in wanted if i not in known]
        if unknown:
            raise ValidationError(
                [Issue("plan", f"unknown mitigation ids {unknown}; known ids: {known}")]
            )
        plan = [i for i in known if i in wanted]
        self._cancel_pending()
        panes = (self.summary_pane, self.frontier_pane, self.plan_text)
        for p in panes:
            p.loading = True
        try:
            self.report = evaluate_mitigations(
                self._portfolio, self._mitigations, trials=self.trials, seed=self.seed, plan=plan
            )
            self.plan = tuple(plan)
            self._syncing = True
            try:
                self.checkboxes.value = list(plan)
            finally:
                self._syncing = False
            self._show()
        finally:
            for p in panes:
                p.loading = False
        return self.summary()

    def summary(self) -> dict[str, Any]:
        """The plan's cost and risk, from the ``plan`` and ``baseline`` rows of
        :attr:`report`: ``plan`` (ids), ``one_off_cost``, ``annual_cost``,
        ``inherent_mean``, ``residual_mean``, ``inherent_p99``, ``residual_p99``,
        ``mean_reduction``, ``p99_reduction``, ``rosi``, ``npv``."""
        t = self.report.table
        plan, base = t.loc["plan"], t.loc["baseline"]
        return {
            "plan": self.plan,
            "one_off_cost": float(plan["one_off_cost"]),
            "annual_cost": float(plan["annual_cost"]),
            "inherent_mean": float(base["eal"]),
            "residual_mean": float(plan["eal"]),
            "inherent_p99": float(base["p99"]),
            "residual_p99": float(plan["p99"]),
            "mean_reduction": float(plan["eal_reduction"]),
            "p99_reduction": float(plan["p99_reduction"]),
            "rosi": float(plan["rosi"]),
            "npv": float(plan["npv"]),
        }

    def frontier_points(self) -> pd.DataFrame:
        """The frontier drawn: ``annual_cost`` and ``objective`` (residual mean annual
        loss) of each set on :attr:`optimization`'s frontier, cheapest first."""
        f = self.optimization.frontier
        return pd.DataFrame(
            {
                "annual_cost": f["annual_cost"].astype(float),
                "objective": f["objective"].astype(float),
                "mitigations": [", ".join(ids) or "(none)" for ids in f["mitigations"]],
            }
        )

    def __panel__(self) -> pn.viewable.Viewable:
        left = pn.Column(
            "#### Plan",
            self.checkboxes,
            pn.Row(self.update_button, self.auto),
            self.status,
            self.message,
            self.plan_text,
            self.summary_pane,
            width=520,
        )
        return pn.Column(
            "### Mitigation options",
            self.options_pane,
            pn.Row(left, self.frontier_pane, sizing_mode="stretch_width"),
            sizing_mode="stretch_width",
        )

    # -- display -------------------------------------------------------------------
    def _options_frame(self) -> pd.DataFrame:
        t = self.report.table
        ids = [m.id for m in self._mitigations]
        frame = t.loc[ids, list(OPTION_COLUMNS)].copy()
        frame.insert(0, "name", [m.name for m in self._mitigations])
        return frame.rename(columns=_LABELS)

    def _formatters(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for col, label in _LABELS.items():
            out[label] = _ratio if col == "rosi" else _years if col == "payback_years" else _money
        return out

    def _summary_frame(self) -> pd.DataFrame:
        s = self.summary()
        return pd.DataFrame(
            {
                "inherent": [s["inherent_mean"], s["inherent_p99"]],
                "residual": [s["residual_mean"], s["residual_p99"]],
                "reduction": [s["mean_reduction"], s["p99_reduction"]],
            },
            index=pd.Index(["mean annual loss", "1-in-100-year loss (p99)"]),
        )

    def _frontier_plot(self) -> hv.Overlay:
        pts = self.frontier_points()
        s = self.summary()
        cur = self._portfolio.currency
        hover = HoverTool(
            tooltips=[
                ("mitigations", "@mitigations"),
                (f"annual cost ({cur})", "@annual_cost{0,0}"),
                (f"mean annual loss ({cur})", "@objective{0,0}"),
            ]
        )
        line = hv.Curve(pts, "annual_cost", "objective").opts(color="#607d8b")
        dots = hv.Scatter(pts, "annual_cost", ["objective", "mitigations"]).opts(
            size=8, color="#607d8b", tools=[hover]
        )
        plan = hv.Scatter(
            pd.DataFrame(
                {
                    "annual_cost": [s["annual_cost"]],
                    "objective": [s["residual_mean"]],
                    "mitigations": [", ".join(self.plan) or "(none)"],
                }
            ),
            "annual_cost",
            ["objective", "mitigations"],
            label="current plan",
        ).opts(size=16, color="#e53935", marker="star", tools=[hover])
        return (line * dots * plan).opts(
            hv.opts.Overlay(
                title="Efficient frontier: annual cost vs mean annual loss",
                xlabel=f"annual cost ({cur})",
                ylabel=f"residual mean annual loss ({cur})",
                height=380,
                responsive=True,
                legend_position="top_right",
                xformatter=NumeralTickFormatter(format="0.0a"),
                yformatter=NumeralTickFormatter(format="0.0a"),
            )
        )

    def _show(self) -> None:
        s = self.summary()
        cur = html.escape(self._portfolio.currency)
        names = ", ".join(s["plan"]) or "nothing"
        self.plan_text.object = (
            f"Plan: **{html.escape(names)}**: {_money(s['one_off_cost'])} {cur} one-off, "
            f"**{_money(s['annual_cost'])} {cur} a year**; ROSI {_ratio(s['rosi'])}, "
            f"NPV {_money(s['npv'])} {cur} ({self.report.horizon_years} years at "
            f"{self.report.discount_rate:.0%})."
        )
        self.summary_pane.object = self._summary_frame()
        self.frontier_pane.object = self._frontier_plot()
        self.status.object = ""
        self.message.visible = False

    # -- UI callbacks ------------------------------------------------------------------
    def _cancel_pending(self) -> None:
        if self._pending is not None:
            self._pending()
            self._pending = None

    def _update_from_ui(self) -> None:
        try:
            self.tick(self.checkboxes.value)
        except ValidationError as err:
            self.message.object = html.escape(str(err))
            self.message.visible = True

    def _on_ticks(self, _event: Any) -> None:
        if self._syncing:
            return
        if not self.auto_update:
            self.status.object = "The plan changed: press **Update** to recompute."
            return
        self._cancel_pending()
        self._pending = _later(max(self.debounce_ms, 1), self._settled)
        if self._pending is None:  # no event loop: nothing would run it later
            self._update_from_ui()
            return
        self.status.object = "Recomputing once the ticks settle…"

    def _settled(self) -> None:
        self._pending = None
        self._update_from_ui()


def _later(delay_ms: int, fn: Callable[[], None]) -> Callable[[], None] | None:
    """Run ``fn`` once after ``delay_ms``; a function that cancels it, or None where
    nothing would run it (no server session and no running event loop).

    In ``panel serve`` this is a one-shot ``pn.state.add_periodic_callback`` (Bokeh
    runs the first call after one period); in Jupyter and Voilà, whose kernels run
    an asyncio loop, it is ``loop.call_later`` (Panel's loop-based periodic callback
    runs its first call at once, which would not wait for the ticks to settle).
    """
    doc = pn.state.curdoc
    if doc is not None and doc.session_context is not None:
        cb = pn.state.add_periodic_callback(fn, period=delay_ms, count=1)
        return cb.stop
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        return None
    return loop.call_later(delay_ms / 1000, fn).cancel

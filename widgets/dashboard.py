"""The executive dashboard: the latest stored run of an organisation, what-if sliders,
the mitigation plan, the loss curve, the impact matrix and the narratives.

It is the same object in a Voilà page (``notebooks/dashboard.ipynb``), in ``panel
serve`` (the same notebook) and in JupyterLab. A visit loads the latest run stored in
the workspace (with its simulated years, as ``riskbench run --workspace ORG
--save-years`` stores them) and simulates nothing until the visitor moves a slider or
ticks a mitigation: then the register is re-simulated with the same seed, through
:func:`riskbench.stress` (the sliders are shocks, the ticked mitigations its plan), so
the numbers shown are the ones the core gives for the same inputs. A what-if run
shows its progress and can be cancelled: the previous numbers then stay.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import panel as pn
import param

import riskbench as rb
from riskbench.errors import Cancelled
from riskbench.widgets._panel import extension

__all__ = ["Dashboard", "WhatIf", "latest_run"]

#: Simulated years of a what-if run (the stored run's seed is reused).
WHAT_IF_TRIALS = 50_000


def latest_run(ws: Any) -> tuple[str, rb.SimulationResult] | None:
    """The newest stored run whose simulated years were saved: ``(run_id, result)``."""
    runs = ws.runs()
    for run_id in reversed(list(runs.index)):
        artefact = runs.loc[run_id, "artefact"]
        if artefact and Path(str(artefact)).exists():
            return str(run_id), rb.SimulationResult.load(artefact)
    return None


class WhatIf(param.Parameterized):
    """The inputs of a what-if run: one scenario's frequency and severity factors and
    the ticked mitigations. :meth:`run` computes it with the core."""

    scenario = param.String(default="", doc="Scenario id the factors apply to")
    frequency_factor = param.Number(default=1.0, bounds=(0.1, 10.0), doc="Events a year x")
    severity_factor = param.Number(default=1.0, bounds=(0.1, 10.0), doc="Loss per event x")
    plan = param.List(default=[], item_type=str, doc="Ids of the ticked mitigations")

    def shocks(self) -> list[rb.Shock]:
        """The sliders as stress shocks (none when both factors are 1)."""
        out: list[rb.Shock] = []
        if self.scenario and self.frequency_factor != 1.0:
            out.append(rb.ScaleFrequency(self.scenario, self.frequency_factor, cap=True))
        if self.scenario and self.severity_factor != 1.0:
            out.append(rb.ScaleSeverity(self.scenario, self.severity_factor))
        return out

    def run(
        self,
        portfolio: rb.Portfolio,
        mitigations: Sequence[rb.Mitigation],
        *,
        trials: int,
        seed: int,
        progress: Callable[[int, int], None] | None = None,
        cancel: threading.Event | None = None,
    ) -> rb.SimulationResult:
        """The what-if run: the register under the shocks (``rb.StressSet.apply``) with
        the ticked mitigations applied (``riskbench.mitigation.apply_mitigations``),
        simulated with the same seed: the numbers of ``rb.stress(portfolio, shocks,
        trials=, seed=, mitigations=ticked).stressed``, without its baseline run.
        ``progress`` and ``cancel`` go to :func:`riskbench.simulate` (a set ``cancel``
        raises :class:`~riskbench.errors.Cancelled`)."""
        from riskbench.mitigation import apply_mitigations

        ticked = [m for m in mitigations if m.id in self.plan]
        shocks = self.shocks()
        if shocks:
            portfolio = rb.StressSet(name="what-if", shocks=shocks).apply(portfolio)
        mitigated = portfolio.with_scenarios(
            [apply_mitigations(s, ticked) for s in portfolio.scenarios]
        )
        result = rb.simulate(mitigated, trials=trials, seed=seed, progress=progress, cancel=cancel)
        assert isinstance(result, rb.SimulationResult)
        return result


def _money(value: float, currency: str) -> str:
    return f"{currency} {value:,.0f}"


class Dashboard(pn.viewable.Viewer):
    """The executive dashboard of one organisation.

    Parameters
    ----------
    org, user
        The organisation and the visitor (default ``$RISKBENCH_ORG`` and
        ``$RISKBENCH_USER``, as JupyterHub passes them; else ``northwind`` and
        ``local``). The workspace's row-level security decides what they see.
    home
        The embedded stores' home (default ``$RISKBENCH_HOME``).
    result, portfolio
        Show this result instead of loading the latest stored run (tests, notebooks).
    mitigations, graph
        The mitigation options and the dependency graph (default: the example files).
    """

    org = param.String(default="northwind", doc="The organisation whose run is shown")
    user = param.String(default="local", doc="Who is looking")
    headline = param.String(default="", doc="The what-if portfolio p99, as displayed")

    def __init__(
        self,
        *,
        org: str | None = None,
        user: str | None = None,
        home: str | os.PathLike[str] | None = None,
        result: rb.SimulationResult | None = None,
        mitigations: Sequence[rb.Mitigation] | None = None,
        trials: int = WHAT_IF_TRIALS,
        **params: Any,
    ) -> None:
        extension()
        super().__init__(
            org=org or os.environ.get("RISKBENCH_ORG", "northwind"),
            user=user or os.environ.get("RISKBENCH_USER", "local"),
            **params,
        )
        root = Path(__file__).resolve().parents[1]
        self.home = home
        self.trials = trials
        self.run_id: str | None = None
        self.result = result if result is not None else self._load()
        self.mitigations = list(
            mitigations
            if mitigations is not None
            else rb.load_mitigations(root / "examples" / "mitigations.yaml")
        )
        self.what_if = WhatIf()
        self._status = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._headline = pn.pane.Markdown("", css_classes=["rb-headline"])
        # A what-if run in progress: its bar, its Cancel button and its cancel event.
        self._progress = pn.indicators.Progress(
            value=0, max=max(int(trials), 1), visible=False, sizing_mode="stretch_width"
        )
        self._cancel = pn.widgets.Button(
            label="Cancel", color="warning", disabled=True, visible=False
        )
        self._cancel.on_click(lambda _event: self.cancel())
        self._note = pn.pane.Markdown("", sizing_mode="stretch_width")
        self._running: threading.Event | None = None
        self._lock = threading.Lock()
        self._layout = pn.Column(self._status, sizing_mode="stretch_width")
        if self.result is None:
            self._status.object = (
                f"No stored run with simulated years for organisation **{self.org}**. "
                f"Store one with `riskbench run CARD --workspace {self.org} --save-years`."
            )
            return
        self._build()

    # -- loading ----------------------------------------------------------------------
    def _load(self) -> rb.SimulationResult | None:
        from riskbench.workspace import Workspace

        with Workspace(org=self.org, user=self.user, home=self.home) as ws:
            found = latest_run(ws)
        if found is None:
            return None
        self.run_id, result = found
        return result

    # -- the page ---------------------------------------------------------------------
    def _build(self) -> None:
        from riskbench.widgets.charts import SimChart
        from riskbench.widgets.matrix_view import ImpactMatrixView
        from riskbench.widgets.mitigation_table import MitigationTable

        result = self.result
        assert result is not None
        portfolio = result.portfolio
        self.currency = portfolio.currency
        self.seed = int(result.seed) if result.seed is not None else 0
        ids = list(portfolio.ids)
        biggest = max(ids, key=lambda i: float(result.summary().loc[i, "mean"]))
        self.what_if.scenario = biggest
        self._scenario = pn.widgets.Select(label="Scenario", options=ids, value=biggest)
        self._frequency = pn.widgets.FloatSlider(
            label="Events a year x", start=0.25, end=4.0, step=0.25, value=1.0
        )
        self._severity = pn.widgets.FloatSlider(
            label="Loss per event x", start=0.25, end=4.0, step=0.25, value=1.0
        )
        for w in (self._frequency, self._severity):
            w.param.watch(self._on_slider, "value_throttled")
        self._scenario.param.watch(self._on_slider, "value")
        usable = [m for m in self.mitigations if set(m.scenarios) <= set(ids)]
        self.mitigations = usable
        self.chart = SimChart(result, currency=self.currency)
        self.matrix = ImpactMatrixView.from_result(result)
        self.table = MitigationTable(portfolio, usable, trials=20_000, seed=self.seed)
        self._plan = pn.widgets.CheckBoxGroup(
            label="Mitigations in force", options={m.name: m.id for m in usable}, value=[]
        )
        self._plan.param.watch(self._on_plan, "value")
        self._narratives = pn.Column(*self._narrative_cards(result, 3))
        self._show(result, what_if=False)
        run = f"run `{self.run_id[:12]}`" if self.run_id else "the given result"
        self._status.object = (
            f"**{portfolio.name}**, organisation **{self.org}**: {run}, "
            f"{result.trials:,} simulated years, seed {self.seed}."
        )
        controls = pn.Column(
            "### What if",
            self._scenario,
            self._frequency,
            self._severity,
            "### Mitigations in force",
            self._plan,
            width=320,
        )
        self._layout[:] = [
            self._status,
            self._headline,
            pn.Row(self._progress, self._cancel, sizing_mode="stretch_width"),
            self._note,
            pn.Row(controls, self.chart, sizing_mode="stretch_width"),
            pn.Tabs(
                ("Impact matrix", self.matrix),
                ("Mitigations", self.table),
                ("Narratives", self._narratives),
                dynamic=True,
            ),
        ]

    def _narrative_cards(self, result: rb.SimulationResult, k: int) -> list[Any]:
        summary = result.summary().drop(index="portfolio")
        top = summary.sort_values("mean", ascending=False).index[:k]
        cards = []
        for sid in top:
            n = rb.narrate(result.portfolio[sid], result, llm=False)
            heading, _, body = n.text.partition("\n\n")
            cards.append(pn.pane.Markdown(f"#### {heading}\n\n{body}"))
        return cards

    def _show(self, result: rb.SimulationResult, *, what_if: bool) -> None:
        p99 = float(result.var(0.99))
        self.headline = _money(p99, self.currency)
        label = "What-if portfolio p99" if what_if else "Portfolio p99 (1-in-100-year loss)"
        self._headline.object = f"## {label}: <span id='rb-p99'>{self.headline}</span>"

    # -- interaction --------------------------------------------------------------------
    def _on_slider(self, _event: Any) -> None:
        self.apply_in_background(
            scenario=self._scenario.value,
            frequency_factor=self._frequency.value,
            severity_factor=self._severity.value,
        )

    def _on_plan(self, event: Any) -> None:
        self.apply_in_background(plan=list(event.new))

    def apply(self, **changes: Any) -> rb.SimulationResult | None:
        """Change the what-if inputs (``scenario``, ``frequency_factor``,
        ``severity_factor``, ``plan``) and re-simulate; the headline shows the p99.

        The progress bar follows the run and the Cancel button (or :meth:`cancel`)
        stops it: then the previous numbers stay and ``None`` is returned. A new
        what-if cancels the one still running.
        """
        assert self.result is not None
        cancel = threading.Event()
        with self._lock:
            if self._running is not None:
                self._running.set()  # newer inputs supersede a run still going
            self._running = cancel
        self.what_if.param.update(**changes)
        self._progress.max = max(int(self.trials), 1)
        self._progress.value = 0
        self._progress.visible = self._cancel.visible = True
        self._cancel.disabled = False
        self._note.object = ""
        run: rb.SimulationResult | None = None
        try:
            run = self.what_if.run(
                self.result.portfolio,
                self.mitigations,
                trials=self.trials,
                seed=self.seed,
                progress=lambda done, _total: self._on_progress(cancel, done),
                cancel=cancel,
            )
        except Cancelled:
            pass
        finally:
            with self._lock:
                current = self._running is cancel
                if current:
                    self._running = None
            if current:
                self._progress.visible = self._cancel.visible = False
                self._cancel.disabled = True
        if not current:  # a newer what-if has the page now
            return None
        if run is None:
            self._note.object = "What-if cancelled: the numbers shown are the previous ones."
            return None
        self.chart.update(run, residual=None)
        self._show(run, what_if=True)
        return run

    def _on_progress(self, cancel: threading.Event, done: int) -> None:
        with self._lock:
            if self._running is not cancel:
                return
        self._progress.value = min(done, self._progress.max)

    def apply_in_background(self, **changes: Any) -> threading.Thread:
        """:meth:`apply` on a thread of its own, so that the page (and its Cancel
        button) stays live while it runs; the sliders and mitigations call this."""
        thread = threading.Thread(
            target=self.apply, kwargs=changes, name="riskbench-what-if", daemon=True
        )
        thread.start()
        return thread

    def cancel(self) -> None:
        """Stop the what-if run in progress (the Cancel button); the previous numbers
        stay shown."""
        with self._lock:
            running = self._running
        if running is not None:
            running.set()

    def __panel__(self) -> Any:
        return self._layout

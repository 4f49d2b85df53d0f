"""A step-by-step editor for one scenario, as an analyst elicits it from an expert.

:class:`ScenarioWizard` turns what an expert says ("about once in five years, between
once a decade and twice a year, 90% sure"; "between EUR 0.5M and 15M per event")
into a validated :class:`riskbench.Scenario`: the expert's figures go into riskbench's
own constructors (:meth:`riskbench.LogNormal.from_ci`, :class:`riskbench.PERT`,
:func:`riskbench.calibration.gamma_from_interval`, :class:`riskbench.Bernoulli`), and
every problem riskbench reports is shown next to the field it is about.

The sections, top to bottom: basics, narrative, frequency, severity, assumptions,
then a live preview (closed forms of the distributions), a quick simulation, saving
(to a card file or a workspace) and, with an organisation's context, suggestions.

Examples
--------
>>> import riskbench as rb
>>> from riskbench.widgets.wizard import ScenarioWizard
>>> card = rb.load_portfolio("examples/register.yaml")
>>> wizard = ScenarioWizard(card["ransomware-erp"], portfolio=card)
>>> wizard.scenario == card["ransomware-erp"]
True
>>> wizard.ci_high_input.value = 100_000.0        # below the low end
>>> wizard.scenario is None, sorted(wizard.errors)
(True, ['severity.high'])
>>> wizard.__panel__()                              # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
import re
import unicodedata
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import panel as pn
import param

from riskbench.cards import load_portfolio, save_portfolio
from riskbench.dists import PERT, Bernoulli, Constant, Distribution, Gamma, LogNormal, Poisson
from riskbench.errors import Issue, RiskbenchError, ValidationError
from riskbench.plotting import format_money
from riskbench.scenario import CATEGORIES, Portfolio, Scenario
from riskbench.widgets._panel import extension

__all__ = ["ScenarioWizard", "slug"]

#: The quantile levels of the 90% interval an expert gives.
_TAILS = (0.05, 0.95)
_ERROR_STYLE = {"color": "#c62828", "font-size": "0.9em"}
_NOTE_STYLE = {"color": "#555555", "font-size": "0.9em"}
_ASSUMPTION_FIELDS = ("name", "text", "rationale", "source")
_ROW = re.compile(r"^assumptions\[(\d+)\]")


def slug(text: str) -> str:
    """An id suggested from a title: lower-case ASCII letters, digits and hyphens.

    Examples
    --------
    >>> slug("Ransomware encrypts the ERP!")
    'ransomware-encrypts-the-erp'
    >>> slug("Überschwemmung am Standort Köln")
    'uberschwemmung-am-standort-koln'
    """
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")[:80].strip("-")


def _display(x: float) -> float:
    """A fitted number rounded to 6 significant figures, for an input field."""
    return float(f"{float(x):.6g}")


def _escape(text: str) -> str:
    return html.escape(text, quote=False)


def _percent(p: float) -> str:
    return f"{100 * p:.3g}%" if math.isfinite(p) else "n/a"


def _count(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "n/a"


class ScenarioWizard(pn.viewable.Viewer):
    """Create or edit one scenario step by step, as an analyst elicits it.

    The fields are the public widget attributes below; setting their ``value`` (as a
    user's typing does) rebuilds the scenario at once: :attr:`scenario` is the
    validated :class:`riskbench.Scenario`, or None while :attr:`errors` lists the
    problems (``loc -> message``, e.g. ``"severity.high"``), each also shown under its
    field.

    Frequency, as an expert gives it:

    - *events a year*: a best guess gives ``Poisson(rate=best)``; a 90% interval
      (low, high) gives an uncertain rate, ``Poisson(rate=gamma_from_interval(low,
      high))``, and the best guess, if given, must lie within it;
    - *chance in a year*: a percentage, stored as ``Bernoulli(p=percent / 100)``.

    Severity (loss per event): a 90% interval gives ``LogNormal.from_ci(low, high)``;
    low / most likely / high gives ``PERT(low, mode, high)``.

    A loaded scenario's distributions are kept exactly as they are until their fields
    are edited; distributions of other kinds (a mixture, a negative binomial, a PERT
    with another ``gamma``) are shown read-only with a note, and a "Re-elicit" button
    replaces them with fields. Fields the wizard has no inputs for (insurance) are kept
    from the loaded scenario.

    Parameters
    ----------
    scenario
        A scenario to edit (its fields are filled in), or None for a new one.
    portfolio
        A register: its scenarios can be picked for editing, and :meth:`save_yaml` to
        a new file writes it with this scenario added or replaced.
    workspace
        A :class:`riskbench.Workspace` for :meth:`save_workspace`.
    context
        An :class:`riskbench.OrgContext`: enables :meth:`suggest`.
    currency
        How amounts are shown and the currency of a new card.
    seed
        The seed of :meth:`quick_simulation`.

    Examples
    --------
    >>> from riskbench.widgets.wizard import ScenarioWizard
    >>> w = ScenarioWizard()
    >>> w.title_input.value = "Payment fraud"
    >>> w.id_input.value
    'payment-fraud'
    >>> w.frequency_mode.value = "chance"
    >>> w.chance_input.value = 3.0
    >>> w.ci_low_input.value, w.ci_high_input.value = 50_000.0, 2_000_000.0
    >>> w.scenario.frequency, w.scenario.severity
    (Bernoulli(p=0.03), LogNormal(low=50000.0, high=2000000.0, conf=0.9))
    """

    currency = param.String(default="EUR", doc="Currency code used to show amounts.")
    seed = param.Integer(default=0, doc="Seed of the quick simulation.")
    trials = param.Integer(
        default=20_000, bounds=(1_000, 1_000_000), doc="Trials of the quick simulation."
    )
    portfolio = param.ClassSelector(
        class_=Portfolio,
        default=None,
        allow_None=True,
        doc="A register whose scenarios can be picked for editing (optional).",
    )
    workspace = param.Parameter(
        default=None, doc="A riskbench Workspace that save_workspace stores into (optional)."
    )
    context = param.Parameter(
        default=None, doc="A riskbench OrgContext that suggestions are drawn from (optional)."
    )
    value = param.ClassSelector(
        class_=Scenario,
        default=None,
        allow_None=True,
        constant=True,
        doc="The scenario the fields describe; None while they are not valid.",
    )
    errors = param.Dict(
        default={},
        constant=True,
        doc="The problems with the fields: location (e.g. 'severity.high') -> message.",
    )

    def __init__(
        self,
        scenario: Scenario | None = None,
        *,
        portfolio: Portfolio | None = None,
        workspace: Any = None,
        context: Any = None,
        currency: str = "EUR",
        seed: int = 0,
        **params: Any,
    ) -> None:
        if scenario is not None and not isinstance(scenario, Scenario):
            raise ValidationError(
                [Issue("scenario", f"must be a riskbench.Scenario, got {type(scenario).__name__}")]
            )
        super().__init__(
            portfolio=portfolio,
            workspace=workspace,
            context=context,
            currency=currency,
            seed=seed,
            **params,
        )
        extension()
        self._quiet = False
        self._auto_id: str | None = None
        self._base: Scenario | None = None
        self._freq_kept: tuple[Distribution, tuple[Any, ...]] | None = None
        self._sev_kept: tuple[Distribution, tuple[Any, ...]] | None = None
        self._freq_locked: Distribution | None = None
        self._sev_locked: Distribution | None = None
        self._rows: list[dict[str, Any]] = []
        self._row_of_issue: dict[int, int] = {}
        self._suggestions: Any = None
        self.last_simulation: Any = None
        self._last_row: pd.Series | None = None
        self._build_widgets()
        self._build_layout()
        self.load(scenario)

    # ------------------------------------------------------------------ widgets
    def _err(self) -> pn.pane.HTML:
        return pn.pane.HTML("", styles=_ERROR_STYLE, visible=False, margin=(0, 10))

    def _note(self, text: str = "") -> pn.pane.HTML:
        return pn.pane.Markdown(text, styles=_NOTE_STYLE, margin=(0, 10))

    def _build_widgets(self) -> None:
        # Every widget and pane is built here, per instance (holoviz/panel#6489).
        # 1. Basics
        self.title_input = pn.widgets.TextInput(
            label="Title", placeholder="Ransomware encrypts the ERP"
        )
        self.id_input = pn.widgets.TextInput(label="Id", placeholder="suggested from the title")
        self.category_select = pn.widgets.Select(label="Category", options=list(CATEGORIES))
        self.owner_input = pn.widgets.TextInput(label="Owner", placeholder="CISO")
        self.assets_input = pn.widgets.TextInput(
            label="Assets (comma-separated ids)", placeholder="erp, mes"
        )
        self.insurance_note = self._note()
        # 2. Narrative
        self.narrative_input = pn.widgets.TextAreaInput(
            label="Narrative", height=160, sizing_mode="stretch_width"
        )
        self.draft_button = pn.widgets.Button(label="Draft narrative", color="primary")
        self.draft_note = self._note()
        # 3. Frequency
        self.frequency_mode = pn.widgets.RadioButtonGroup(
            label="Frequency", options={"Events a year": "rate", "Chance in a year": "chance"}
        )
        self.rate_input = pn.widgets.FloatInput(
            width=175, label="Best guess (events a year)", value=None, placeholder="0.2"
        )
        self.rate_low_input = pn.widgets.FloatInput(
            width=175, label="90% interval: low", value=None, placeholder="0.05"
        )
        self.rate_high_input = pn.widgets.FloatInput(
            width=175, label="90% interval: high", value=None, placeholder="1"
        )
        self.chance_input = pn.widgets.FloatInput(
            width=175, label="Chance in a year (%)", value=None, placeholder="3"
        )
        self.frequency_locked_note = self._note()
        self.frequency_reelicit = pn.widgets.Button(label="Re-elicit the frequency")
        # 4. Severity
        self.severity_mode = pn.widgets.RadioButtonGroup(
            label="Severity",
            options={"90% interval": "interval", "Low / most likely / high": "pert"},
        )
        self.ci_low_input = pn.widgets.FloatInput(width=175, label="Low (5%)", value=None)
        self.ci_high_input = pn.widgets.FloatInput(width=175, label="High (95%)", value=None)
        self.pert_low_input = pn.widgets.FloatInput(width=175, label="Lowest", value=None)
        self.pert_mode_input = pn.widgets.FloatInput(width=175, label="Most likely", value=None)
        self.pert_high_input = pn.widgets.FloatInput(width=175, label="Highest", value=None)
        self.severity_locked_note = self._note()
        self.severity_reelicit = pn.widgets.Button(label="Re-elicit the severity")
        # 5. Assumptions
        self.add_assumption_button = pn.widgets.Button(label="Add assumption")
        self._rows_column = pn.Column(sizing_mode="stretch_width")
        # 6. Preview and simulation
        self.preview_pane = pn.pane.HTML("", sizing_mode="stretch_width")
        self.simulate_button = pn.widgets.Button(label="Quick simulation", color="primary")
        self.simulation_pane = pn.pane.HTML("", sizing_mode="stretch_width")
        self.exceedance_pane = pn.pane.HoloViews(None, visible=False, sizing_mode="stretch_width")
        # 8. Save
        self.path_input = pn.widgets.TextInput(label="Card file", placeholder="register.yaml")
        self.save_yaml_button = pn.widgets.Button(label="Save to card", color="success")
        self.save_workspace_button = pn.widgets.Button(
            label="Save to workspace", color="success", visible=self.workspace is not None
        )
        self.save_status = self._note()
        # 9. Suggestions and editing
        self.suggest_button = pn.widgets.Button(label="Suggest scenarios")
        self.suggestion_select = pn.widgets.Select(label="Suggestions", options={"": ""})
        self.suggestion_note = self._note()
        self.edit_select = pn.widgets.Select(label="Edit a scenario of the register")
        self._refresh_edit_options()

        # The error panes, by location; the severity ones depend on the mode shown.
        self._panes: dict[str, pn.pane.HTML] = {
            loc: self._err()
            for loc in (
                "",
                "id",
                "title",
                "category",
                "owner",
                "assets",
                "narrative",
                "insurance",
                "frequency",
                "frequency.rate",
                "frequency.low",
                "frequency.high",
                "frequency.p",
                "severity",
                "assumptions",
            )
        }
        self._sev_panes = {
            "interval": {"severity.low": self._err(), "severity.high": self._err()},
            "pert": {
                "severity.low": self._err(),
                "severity.mode": self._err(),
                "severity.high": self._err(),
            },
        }

        for w in (
            self.id_input,
            self.category_select,
            self.owner_input,
            self.assets_input,
            self.narrative_input,
            self.frequency_mode,
            self.rate_input,
            self.rate_low_input,
            self.rate_high_input,
            self.chance_input,
            self.severity_mode,
            self.ci_low_input,
            self.ci_high_input,
            self.pert_low_input,
            self.pert_mode_input,
            self.pert_high_input,
        ):
            w.param.watch(self._changed, "value")
        self.title_input.param.watch(self._title_changed, "value")
        self.frequency_mode.param.watch(self._show_modes, "value")
        self.severity_mode.param.watch(self._show_modes, "value")
        self.draft_button.on_click(lambda _: self._act(self.draft_narrative, self.draft_note))
        self.simulate_button.on_click(lambda _: self._act(self.quick_simulation, self.save_status))
        self.save_yaml_button.on_click(
            lambda _: self._act(lambda: self.save_yaml(self.path_input.value), self.save_status)
        )
        self.save_workspace_button.on_click(
            lambda _: self._act(self.save_workspace, self.save_status)
        )
        self.add_assumption_button.on_click(lambda _: self.add_assumption())
        self.frequency_reelicit.on_click(lambda _: self.reelicit("frequency"))
        self.severity_reelicit.on_click(lambda _: self.reelicit("severity"))
        self.suggest_button.on_click(lambda _: self._act(self.suggest, self.suggestion_note))
        self.suggestion_select.param.watch(self._suggestion_chosen, "value")
        self.edit_select.param.watch(self._edit_chosen, "value")
        self.param.watch(lambda _: self._refresh(), ["currency"])
        self.param.watch(lambda _: self._refresh_edit_options(), ["portfolio"])
        self.param.watch(self._workspace_changed, ["workspace", "context"])

    def _with_error(self, widget: Any, loc: str) -> pn.Column:
        return pn.Column(widget, self._panes[loc], margin=0)

    def _build_layout(self) -> None:
        sev = self._sev_panes
        basics = pn.Card(
            pn.Row(
                self._with_error(self.title_input, "title"), self._with_error(self.id_input, "id")
            ),
            pn.Row(
                self._with_error(self.category_select, "category"),
                self._with_error(self.owner_input, "owner"),
            ),
            self._with_error(self.assets_input, "assets"),
            self.insurance_note,
            self._panes["insurance"],
            title="1. Basics",
            sizing_mode="stretch_width",
        )
        narrative = pn.Card(
            self._with_error(self.narrative_input, "narrative"),
            pn.Row(self.draft_button),
            self.draft_note,
            title="2. Narrative",
            sizing_mode="stretch_width",
        )
        self._rate_box = pn.Column(
            pn.Row(
                self._with_error(self.rate_input, "frequency.rate"),
                self._with_error(self.rate_low_input, "frequency.low"),
                self._with_error(self.rate_high_input, "frequency.high"),
            ),
            self._note(
                "The interval is optional: it makes the rate uncertain, a Gamma whose 5% "
                "and 95% quantiles are the interval."
            ),
            margin=0,
        )
        self._chance_box = pn.Column(self._with_error(self.chance_input, "frequency.p"), margin=0)
        self._freq_inputs = pn.Column(
            self.frequency_mode, self._rate_box, self._chance_box, margin=0
        )
        self._freq_locked_box = pn.Column(
            self.frequency_locked_note, self.frequency_reelicit, margin=0
        )
        frequency = pn.Card(
            self._freq_inputs,
            self._freq_locked_box,
            self._panes["frequency"],
            title="3. Frequency: how often?",
            sizing_mode="stretch_width",
        )
        self._ci_box = pn.Row(
            pn.Column(self.ci_low_input, sev["interval"]["severity.low"], margin=0),
            pn.Column(self.ci_high_input, sev["interval"]["severity.high"], margin=0),
            margin=0,
        )
        self._pert_box = pn.Row(
            pn.Column(self.pert_low_input, sev["pert"]["severity.low"], margin=0),
            pn.Column(self.pert_mode_input, sev["pert"]["severity.mode"], margin=0),
            pn.Column(self.pert_high_input, sev["pert"]["severity.high"], margin=0),
            margin=0,
        )
        self._sev_inputs = pn.Column(self.severity_mode, self._ci_box, self._pert_box, margin=0)
        self._sev_locked_box = pn.Column(
            self.severity_locked_note, self.severity_reelicit, margin=0
        )
        severity = pn.Card(
            self._sev_inputs,
            self._sev_locked_box,
            self._panes["severity"],
            title="4. Severity: loss per event",
            sizing_mode="stretch_width",
        )
        assumptions = pn.Card(
            self._rows_column,
            self._panes["assumptions"],
            self.add_assumption_button,
            title="5. Assumptions",
            sizing_mode="stretch_width",
        )
        preview = pn.Card(
            self.preview_pane,
            self.simulate_button,
            self.simulation_pane,
            self.exceedance_pane,
            title="6. Preview",
            sizing_mode="stretch_width",
        )
        save = pn.Card(
            self._panes[""],
            self.path_input,
            pn.Row(self.save_yaml_button, self.save_workspace_button),
            self.save_status,
            title="7. Save",
            sizing_mode="stretch_width",
        )
        self._start_box = pn.Column(
            pn.Row(self.suggest_button, self.suggestion_select),
            self.suggestion_note,
            self.edit_select,
            margin=0,
        )
        self._layout = pn.Column(
            self._start_box,
            pn.Row(
                pn.Column(basics, narrative, frequency, severity, assumptions, min_width=520),
                pn.Column(preview, save, min_width=380),
                sizing_mode="stretch_width",
            ),
            sizing_mode="stretch_width",
        )
        self._workspace_changed()

    def __panel__(self) -> pn.viewable.Viewable:
        return self._layout

    # ------------------------------------------------------------------ loading
    def load(self, scenario: Scenario | None) -> None:
        """Fill every field from ``scenario`` (None: empty fields for a new one).

        The scenario's distributions are kept as they are until their fields change;
        those not of an elicited kind are shown read-only.
        """
        if scenario is not None and not isinstance(scenario, Scenario):
            raise ValidationError(
                [Issue("scenario", f"must be a riskbench.Scenario, got {type(scenario).__name__}")]
            )
        self._quiet = True
        try:
            self._base = scenario
            self._auto_id = None
            s = scenario
            self.title_input.value = s.title if s else ""
            self.id_input.value = s.id if s else ""
            self.category_select.value = s.category if s else CATEGORIES[0]
            self.owner_input.value = (s.owner or "") if s else ""
            self.assets_input.value = ", ".join(s.assets) if s else ""
            self.narrative_input.value = s.narrative if s else ""
            self._load_frequency(s.frequency if s else None)
            self._load_severity(s.severity if s else None)
            self._clear_rows()
            for a in s.assumptions if s else ():
                self.add_assumption(a.name, a.text, a.rationale or "", a.source or "")
            ins = s.insurance if s else None
            self.insurance_note.object = self._insurance_text(ins)
            self.draft_note.object = ""
            self.simulation_pane.object = ""
            self.exceedance_pane.visible = False
        finally:
            self._quiet = False
        self._show_modes()
        self._refresh()

    def _insurance_text(self, ins: Any) -> str:
        if ins is None:
            return ""
        parts = []
        for label, layer in (("per event", ins.per_event), ("a year", ins.annual)):
            if layer is not None:
                limit = (
                    "no limit"
                    if layer.limit is None
                    else "limit " + format_money(layer.limit, self.currency)
                )
                deductible = format_money(layer.deductible, self.currency)
                parts.append(f"{label}: deductible {deductible}, {limit}")
        return (
            "Insurance, kept from the card (edit the card to change it): " + "; ".join(parts) + "."
        )

    def _freq_snapshot(self) -> tuple[Any, ...]:
        return (
            self.frequency_mode.value,
            self.rate_input.value,
            self.rate_low_input.value,
            self.rate_high_input.value,
            self.chance_input.value,
        )

    def _sev_snapshot(self) -> tuple[Any, ...]:
        return (
            self.severity_mode.value,
            self.ci_low_input.value,
            self.ci_high_input.value,
            self.pert_low_input.value,
            self.pert_mode_input.value,
            self.pert_high_input.value,
        )

    def _load_frequency(self, f: Distribution | None, *, prefill: bool = False) -> None:
        self._freq_kept = None
        self._freq_locked = None
        mode, best, low, high, pct = "rate", None, None, None, None
        if f is None:
            pass
        elif isinstance(f, Bernoulli):
            mode, pct = "chance", round(f.p * 100, 10)
        elif isinstance(f, Poisson) and not isinstance(f.rate, Distribution):
            best = float(f.rate)
        elif isinstance(f, Poisson) and isinstance(f.rate, Gamma):
            low, high = (_display(x) for x in f.rate.ppf(list(_TAILS)))
            best = _display(f.rate.mean())
            if not low <= best <= high:  # a very skewed rate: its median is inside
                best = _display(f.rate.ppf(0.5))
        elif prefill:
            best = _display(f.mean())
        else:
            self._freq_locked = f
        self.frequency_mode.value = mode
        self.rate_input.value = best
        self.rate_low_input.value = low
        self.rate_high_input.value = high
        self.chance_input.value = pct
        if f is not None and self._freq_locked is None and not prefill:
            self._freq_kept = (f, self._freq_snapshot())
        self.frequency_locked_note.object = (
            f"**Kept as it is** (not a kind this wizard elicits): `{f!r}`. "
            "Re-elicit it to replace it with a best guess or a chance."
            if self._freq_locked is not None
            else ""
        )

    def _load_severity(self, d: Distribution | None, *, prefill: bool = False) -> None:
        self._sev_kept = None
        self._sev_locked = None
        mode = "interval"
        ci: tuple[float | None, float | None] = (None, None)
        pert: tuple[float | None, float | None, float | None] = (None, None, None)
        if d is None:
            pass
        elif isinstance(d, LogNormal):
            if d.low is not None and d.high is not None and d.conf in (None, 0.9):
                ci = (float(d.low), float(d.high))
            else:
                lo, hi = d.ppf(list(_TAILS))
                ci = (_display(lo), _display(hi))
        elif isinstance(d, PERT) and d.gamma == 4.0:
            mode, pert = "pert", (float(d.low), float(d.mode), float(d.high))
        elif prefill:
            lo, hi = d.ppf(list(_TAILS))
            ci = (_display(lo), _display(hi))
        else:
            self._sev_locked = d
        self.severity_mode.value = mode
        self.ci_low_input.value, self.ci_high_input.value = ci
        self.pert_low_input.value, self.pert_mode_input.value, self.pert_high_input.value = pert
        if d is not None and self._sev_locked is None and not prefill:
            self._sev_kept = (d, self._sev_snapshot())
        self.severity_locked_note.object = (
            f"**Kept as it is** (not a kind this wizard elicits): `{d!r}`. "
            "Re-elicit it to replace it with a 90% interval or low / most likely / high."
            if self._sev_locked is not None
            else ""
        )

    def reelicit(self, which: str) -> None:
        """Replace a read-only (non-elicited) ``"frequency"`` or ``"severity"`` with
        fields, prefilled from it (its mean events a year; its 5% and 95% losses)."""
        if which not in ("frequency", "severity"):
            raise ValidationError(
                [Issue("which", f"must be 'frequency' or 'severity', got {which!r}")]
            )
        self._quiet = True
        try:
            if which == "frequency" and self._freq_locked is not None:
                self._load_frequency(self._freq_locked, prefill=True)
            elif which == "severity" and self._sev_locked is not None:
                self._load_severity(self._sev_locked, prefill=True)
        finally:
            self._quiet = False
        self._show_modes()
        self._refresh()

    # ------------------------------------------------------------------ assumptions
    def add_assumption(
        self, name: str = "", text: str = "", rationale: str = "", source: str = ""
    ) -> int:
        """Add a row of assumption fields (prefilled if given); its index."""
        inputs = {
            "name": pn.widgets.TextInput(label="Name", value=name, width=160),
            "text": pn.widgets.TextAreaInput(label="Assumption", value=text, height=90),
            "rationale": pn.widgets.TextAreaInput(label="Rationale", value=rationale, height=90),
            "source": pn.widgets.TextInput(label="Source", value=source),
        }
        remove = pn.widgets.Button(label="Remove", width=90)
        row: dict[str, Any] = dict(inputs)
        row["error"] = self._err()
        row["layout"] = pn.Column(
            pn.Row(inputs["name"], inputs["source"], remove),
            pn.Row(inputs["text"], inputs["rationale"], sizing_mode="stretch_width"),
            row["error"],
            styles={"border-bottom": "1px solid #ddd"},
            sizing_mode="stretch_width",
        )
        for w in inputs.values():
            w.param.watch(self._changed, "value")
        remove.on_click(lambda _: self.remove_assumption(self._rows.index(row)))
        self._rows.append(row)
        self._rows_column.append(row["layout"])
        self._refresh()
        return len(self._rows) - 1

    def remove_assumption(self, index: int) -> None:
        """Remove the assumption row at ``index``."""
        if not 0 <= index < len(self._rows):
            raise ValidationError(
                [Issue("index", f"must be a row from 0 to {len(self._rows) - 1}, got {index}")]
            )
        row = self._rows.pop(index)
        self._rows_column.remove(row["layout"])
        self._refresh()

    @property
    def assumption_rows(self) -> list[dict[str, Any]]:
        """The assumption rows: each a dict of its inputs (``name``, ``text``,
        ``rationale``, ``source``) and its ``error`` pane."""
        return [{k: r[k] for k in (*_ASSUMPTION_FIELDS, "error")} for r in self._rows]

    def _clear_rows(self) -> None:
        self._rows = []
        self._rows_column.clear()

    # ------------------------------------------------------------------ building
    def _title_changed(self, event: Any) -> None:
        suggested = slug(event.new or "")
        if self.id_input.value in ("", self._auto_id) and suggested:
            quiet, self._quiet = self._quiet, True
            try:
                self.id_input.value = suggested
            finally:
                self._quiet = quiet
            self._auto_id = suggested
        self._changed(event)

    def _changed(self, _: Any = None) -> None:
        if not self._quiet:
            self._refresh()

    def _frequency(self, issues: list[Issue]) -> Distribution | None:
        if self._freq_locked is not None:
            return self._freq_locked
        if self._freq_kept is not None and self._freq_kept[1] == self._freq_snapshot():
            return self._freq_kept[0]
        if self.frequency_mode.value == "chance":
            pct = self.chance_input.value
            if pct is None:
                issues.append(Issue("frequency.p", "is required: the chance in a year, in %"))
                return None
            try:
                return Bernoulli(p=pct / 100)
            except ValidationError:
                issues.append(
                    Issue("frequency.p", f"must be a percentage from 0 to 100, got {pct}")
                )
                return None
        best = self.rate_input.value
        low, high = self.rate_low_input.value, self.rate_high_input.value
        if low is None and high is None:
            if best is None:
                issues.append(
                    Issue(
                        "frequency.rate",
                        "is required: the expected events a year (0.2 = once in five years)",
                    )
                )
                return None
            try:
                return Poisson(rate=best)
            except ValidationError as err:
                issues.extend(err.within("frequency").issues)
                return None
        if low is None or high is None:
            missing = "frequency.low" if low is None else "frequency.high"
            issues.append(Issue(missing, "give both ends of the 90% interval, or neither"))
            return None
        from riskbench.calibration import gamma_from_interval

        try:
            rate = gamma_from_interval(low, high)
        except ValidationError as err:
            issues.extend(err.within("frequency").issues)
            return None
        if best is not None and not low <= best <= high:
            issues.append(
                Issue(
                    "frequency.rate",
                    f"must lie within the 90% interval [{low:g}, {high:g}], got {best:g}",
                )
            )
            return None
        return Poisson(rate=rate)

    def _severity(self, issues: list[Issue]) -> Distribution | None:
        if self._sev_locked is not None:
            return self._sev_locked
        if self._sev_kept is not None and self._sev_kept[1] == self._sev_snapshot():
            return self._sev_kept[0]
        if self.severity_mode.value == "interval":
            fields = {"low": self.ci_low_input.value, "high": self.ci_high_input.value}
            labels = {"low": "the loss you are 95% sure to exceed", "high": "the 95% loss"}
        else:
            fields = {
                "low": self.pert_low_input.value,
                "mode": self.pert_mode_input.value,
                "high": self.pert_high_input.value,
            }
            labels = {
                "low": "the lowest loss",
                "mode": "the most likely loss",
                "high": "the highest",
            }
        missing = [k for k, v in fields.items() if v is None]
        for k in missing:
            issues.append(Issue(f"severity.{k}", f"is required: {labels[k]}"))
        if missing:
            return None
        try:
            if self.severity_mode.value == "interval":
                return LogNormal.from_ci(fields["low"], fields["high"])
            return PERT(fields["low"], fields["mode"], fields["high"])
        except ValidationError as err:
            issues.extend(err.within("severity").issues)
            return None

    def _assumptions(self) -> list[dict[str, Any]]:
        out = []
        self._row_of_issue = {}
        for i, row in enumerate(self._rows):
            values = {k: (row[k].value or "").strip() for k in _ASSUMPTION_FIELDS}
            if not any(values.values()):
                continue  # an empty row is ignored
            # A blank required field is left out, so that it is reported as required.
            item: dict[str, Any] = {}
            if values["name"]:
                item["name"] = row["name"].value.strip()
            if values["text"]:
                item["text"] = row["text"].value
            for k in ("rationale", "source"):
                if values[k]:
                    item[k] = row[k].value
            self._row_of_issue[len(out)] = i
            out.append(item)
        return out

    def _build(self) -> tuple[Scenario | None, list[Issue]]:
        issues: list[Issue] = []
        data: dict[str, Any] = {
            "id": (self.id_input.value or "").strip(),
            "category": self.category_select.value,
        }
        if (self.title_input.value or "").strip():
            data["title"] = self.title_input.value.strip()
        if (self.owner_input.value or "").strip():
            data["owner"] = self.owner_input.value.strip()
        assets = [a.strip() for a in (self.assets_input.value or "").split(",")]
        if any(assets):
            data["assets"] = [a for a in assets if a]
        if (self.narrative_input.value or "").strip():
            data["narrative"] = self.narrative_input.value
        assumptions = self._assumptions()
        if assumptions:
            data["assumptions"] = assumptions
        if self._base is not None and self._base.insurance is not None:
            data["insurance"] = self._base.insurance
        frequency = self._frequency(issues)
        severity = self._severity(issues)
        # A placeholder stands in for a distribution that failed, so that every other
        # field's problems are reported too; the result is then discarded.
        data["frequency"] = frequency if frequency is not None else Bernoulli(p=0.0)
        data["severity"] = severity if severity is not None else Constant(0.0)
        try:
            scenario = Scenario(**data)
        except ValidationError as err:
            issues.extend(err.issues)
            return None, issues
        return (None if issues else scenario), issues

    def _pane_for(self, loc: str) -> tuple[pn.pane.HTML, str]:
        """The error pane that shows an issue at ``loc``, and the label to put before
        its message there (empty for the field's own pane)."""
        if loc in self._panes:
            return self._panes[loc], ""
        sev = self._sev_panes[self.severity_mode.value]
        if loc in sev:
            return sev[loc], ""
        m = _ROW.match(loc)
        if m:
            i = self._row_of_issue.get(int(m.group(1)))
            if i is not None:
                return self._rows[i]["error"], loc[m.end() :].lstrip(".")
            return self._panes["assumptions"], loc
        head = re.split(r"[.\[]", loc, maxsplit=1)[0]
        return self._panes.get(head, self._panes[""]), loc

    def error_pane(self, loc: str) -> pn.pane.HTML:
        """The pane that shows the problems at ``loc`` (e.g. ``"severity.high"``): the
        field's own pane, an assumption row's, a section's or the general one."""
        return self._pane_for(loc)[0]

    def _refresh(self) -> None:
        scenario, issues = self._build()
        errors: dict[str, str] = {}
        for issue in issues:
            errors[issue.loc] = (
                f"{errors[issue.loc]}; {issue.message}" if issue.loc in errors else issue.message
            )
        shown: dict[int, tuple[pn.pane.HTML, list[str]]] = {}
        for loc, message in errors.items():
            pane, label = self._pane_for(loc)
            text = f"{label}: {message}" if label else message
            shown.setdefault(id(pane), (pane, []))[1].append(text)
        all_panes = [
            *self._panes.values(),
            *(p for panes in self._sev_panes.values() for p in panes.values()),
            *(r["error"] for r in self._rows),
        ]
        for pane in all_panes:
            entry = shown.get(id(pane))
            pane.object = "<br>".join(_escape(t) for t in entry[1]) if entry else ""
            pane.visible = entry is not None
        with param.edit_constant(self):
            self.param.update(value=scenario, errors=errors)
        valid = scenario is not None
        for button in (self.draft_button, self.simulate_button, self.save_yaml_button):
            button.disabled = not valid
        self.save_workspace_button.disabled = not valid or self.workspace is None
        if not valid:
            n = len(errors)
            self.save_status.object = (
                f"{n} problem{'s' if n != 1 else ''} to fix (marked in red) before the "
                "scenario can be drafted, simulated or saved."
            )
        elif self.save_status.object.startswith(("1 problem", "0 problem")) or " to fix " in (
            self.save_status.object
        ):
            self.save_status.object = ""
        if self._last_row is not None:
            self.simulation_pane.object = (
                "<i>The fields changed since the last quick simulation.</i>"
                + self._simulation_html(self._last_row)
            )
        self.preview_pane.object = self._preview_html()

    # ------------------------------------------------------------------ the public view
    @property
    def scenario(self) -> Scenario | None:
        """The scenario the fields describe, or None while they are not valid."""
        return self.value

    def preview(self) -> pd.DataFrame:
        """The implied numbers, from the distributions' closed forms: loss per event
        (mean, 5%, 50%, 95%), events a year (mean), the chance of at least one event in
        a year, and the expected annual loss (before insurance); NaN where the fields
        behind a number are not valid. Column ``value``."""
        issues: list[Issue] = []
        frequency = self._frequency(issues)
        severity = self._severity(issues)
        nan = math.nan
        rows: dict[str, float] = {}
        q: list[float] = [nan, nan, nan]
        mean = nan
        if severity is not None:
            try:
                mean = float(severity.mean())
                q = [float(x) for x in severity.ppf([0.05, 0.5, 0.95])]
            except (NotImplementedError, RiskbenchError):
                pass
        rows["loss per event: mean"] = mean
        rows["loss per event: 5%"], rows["loss per event: 50%"] = q[0], q[1]
        rows["loss per event: 95%"] = q[2]
        rows["events a year: mean"] = float(frequency.mean()) if frequency is not None else nan
        rows["chance of at least one in a year"] = (
            float(frequency.prob_exceeds(0)) if frequency is not None else nan
        )
        scenario = self.scenario
        rows["expected annual loss"] = (
            float(scenario.expected_annual_loss()) if scenario is not None else nan
        )
        frame = pd.DataFrame({"value": pd.Series(rows)})
        frame.index.name = "measure"
        return frame

    def _preview_html(self) -> str:
        frame = self.preview()["value"]
        cells = []
        for label, v in frame.items():
            if not math.isfinite(v):
                text = "n/a"
            elif label.startswith("chance"):
                text = _percent(v)
            elif label.startswith("events"):
                text = _count(v)
            else:
                text = format_money(v, self.currency)
            cells.append(
                f"<tr><th style='text-align:left;font-weight:normal'>"
                f"{_escape(label[:1].upper() + label[1:])}</th>"
                f"<td style='text-align:right'>{_escape(text)}</td></tr>"
            )
        note = ""
        best = self.rate_input.value
        if (
            self.frequency_mode.value == "rate"
            and best is not None
            and self.rate_low_input.value is not None
            and math.isfinite(frame["events a year: mean"])
            and abs(frame["events a year: mean"] - best) > 1e-9 * max(1.0, best)
        ):
            note = (
                f"<p style='color:#555;font-size:0.9em'>The interval implies "
                f"{_count(frame['events a year: mean'])} events a year on average "
                f"(best guess {_count(best)}).</p>"
            )
        return (
            "<table class='riskbench-wizard-preview' style='width:100%'>"
            + "".join(cells)
            + "</table>"
            + note
        )

    # ------------------------------------------------------------------ actions
    def _require(self) -> Scenario:
        scenario = self.scenario
        if scenario is None:
            _, issues = self._build()
            raise ValidationError(issues or ["the scenario is not complete"])
        return scenario

    def _act(self, action: Callable[[], Any], status: pn.pane.Markdown) -> None:
        # What a button does: the public method, its failure shown rather than raised.
        try:
            action()
        except (RiskbenchError, OSError) as err:
            status.object = _escape(f"Failed: {err}")

    def draft_narrative(self) -> Any:
        """Draft the narrative with :func:`riskbench.narrate` (the model configured by
        ``RISKBENCH_LLM``, else the offline narrator) and put it in the field.

        Returns
        -------
        riskbench.Narrative
            ``.method`` and ``.notes`` are shown under the field.

        Raises
        ------
        ValidationError
            While the scenario is not valid.
        """
        from riskbench.ai.narrate import narrate

        scenario = self._require()
        ctx = self.context
        extra: dict[str, Any] = {}
        if ctx is not None:
            extra = {"graph": ctx.graph, "incidents": ctx.incidents}
        self.narrative_input.loading = True
        try:
            narrative = narrate(scenario, llm=None, currency=self.currency, **extra)
        finally:
            self.narrative_input.loading = False
        self.narrative_input.value = narrative.text
        notes = "".join(f"  \n{_escape(n)}" for n in narrative.notes)
        self.draft_note.object = f"Drafted by `{narrative.method}`.{notes}"
        return narrative

    def quick_simulation(self) -> pd.Series:
        """Simulate the scenario alone (``trials``, ``seed``) with
        :func:`riskbench.simulate`; its row of ``summary()`` (mean, sd, p50, p90, p95,
        p99, tvar99, p_any of annual loss, net of insurance)."""
        from riskbench.engine import simulate

        scenario = self._require()
        self.simulation_pane.loading = True
        try:
            result = simulate(scenario, trials=self.trials, seed=self.seed)
            row = result.summary().loc[scenario.id]
        finally:
            self.simulation_pane.loading = False
        self.last_simulation = result
        self._last_row = row
        self.simulation_pane.object = self._simulation_html(row)
        self._show_exceedance(result, scenario.id)
        return row

    def _simulation_html(self, row: pd.Series) -> str:
        items = [
            ("Mean annual loss", format_money(row["mean"], self.currency)),
            ("1 in 10 years (p90)", format_money(row["p90"], self.currency)),
            ("1 in 100 years (p99)", format_money(row["p99"], self.currency)),
            ("Chance of a loss in a year", _percent(float(row["p_any"]))),
        ]
        cells = "".join(
            f"<tr><th style='text-align:left;font-weight:normal'>{a}</th>"
            f"<td style='text-align:right'>{_escape(b)}</td></tr>"
            for a, b in items
        )
        return (
            f"<p><b>Quick simulation</b> ({self.trials:,} years, seed {self.seed}, "
            f"net of insurance)</p><table style='width:100%'>{cells}</table>"
        )

    def _show_exceedance(self, result: Any, sid: str) -> None:
        import holoviews as hv

        curve = result.exceedance_curve(sid)
        curve = curve[(curve["loss"] > 0) & (curve["probability"] > 0)]
        if curve.empty:
            self.exceedance_pane.visible = False
            return
        plot = hv.Curve(curve, "loss", "probability").opts(
            logx=True,
            logy=True,
            tools=["hover"],
            height=240,
            responsive=True,
            title="Annual loss exceedance",
            xlabel=f"annual loss ({self.currency})",
            ylabel="P(annual loss > x)",
        )
        self.exceedance_pane.object = plot
        self.exceedance_pane.visible = True

    def save_yaml(self, path: str | Path) -> Path:
        """Write the scenario to the card file ``path``, atomically.

        An existing card keeps its other scenarios, header and correlations; the
        scenario replaces the one with its id, or is added at the end. A new file gets
        the register given as ``portfolio`` with the scenario added or replaced, or
        else a card of this scenario alone. If the write fails, the old file is left
        as it was.

        Raises
        ------
        ValidationError
            While the scenario is not valid, or with no path.
        ScenarioError
            If the existing file is not a valid card (it is not overwritten).
        """
        scenario = self._require()
        if not str(path).strip():
            raise ValidationError([Issue("path", "is required: the card file to write")])
        target = Path(path)
        if target.exists():
            base: Portfolio | None = load_portfolio(target)
        else:
            base = self.portfolio
        if base is None:
            card = Portfolio([scenario], currency=self.currency)
        else:
            scenarios = list(base.scenarios)
            if scenario.id in base.ids:
                scenarios[base.ids.index(scenario.id)] = scenario
            else:
                scenarios.append(scenario)
            card = base.with_scenarios(scenarios)
        written = save_portfolio(card, target)
        self.save_status.object = _escape(f"Saved {scenario.id!r} to {written}.")
        return written

    def save_workspace(self, workspace: Any = None) -> int:
        """Store the scenario in ``workspace`` (default: the ``workspace`` parameter)
        as its next version; the version number."""
        scenario = self._require()
        ws = workspace if workspace is not None else self.workspace
        if ws is None:
            raise ValidationError(
                [Issue("workspace", "no workspace: pass one, or give the wizard a workspace")]
            )
        version = int(ws.save_scenario(scenario))
        self.save_status.object = _escape(
            f"Saved {scenario.id!r} to the workspace as version {version}."
        )
        return version

    # ------------------------------------------------------------------ suggestions
    def suggest(self, n: int = 10) -> Any:
        """Fill the suggestions list with :func:`riskbench.suggest_scenarios` for the
        ``context``; the :class:`riskbench.Suggestions`."""
        from riskbench.ai.suggest import suggest_scenarios

        if self.context is None:
            raise ValidationError(
                [Issue("context", "no organisation context: give the wizard context=...")]
            )
        self.suggestion_select.loading = True
        try:
            suggestions = suggest_scenarios(self.context, n=n, llm=None)
        finally:
            self.suggestion_select.loading = False
        self._suggestions = suggestions
        options = {"": ""}
        for s in suggestions:
            options[f"{s.scenario.title} ({s.origin})"] = s.id
        self.suggestion_select.options = options
        self.suggestion_select.value = ""
        notes = "".join(f"  \n{_escape(n)}" for n in suggestions.notes)
        self.suggestion_note.object = (
            f"{len(suggestions)} suggestions ({suggestions.method}); choose one to load it.{notes}"
        )
        return suggestions

    def choose_suggestion(self, scenario_id: str) -> Scenario:
        """Load the suggestion with ``scenario_id`` into the fields; its scenario."""
        found = [s for s in (self._suggestions or ()) if s.id == scenario_id]
        if not found:
            known = [s.id for s in (self._suggestions or ())]
            raise ValidationError(
                [Issue("scenario_id", f"no suggestion {scenario_id!r}; suggested: {known}")]
            )
        suggestion = found[0]
        self.load(suggestion.scenario)
        self.suggestion_note.object = _escape(f"{suggestion.origin}: {suggestion.rationale}")
        if self.suggestion_select.value != scenario_id:
            self.suggestion_select.value = scenario_id
        return suggestion.scenario

    def _suggestion_chosen(self, event: Any) -> None:
        if event.new:
            self._act(lambda: self.choose_suggestion(event.new), self.suggestion_note)

    def _edit_chosen(self, event: Any) -> None:
        if event.new and self.portfolio is not None and event.new in self.portfolio.ids:
            self.load(self.portfolio[event.new])

    def _refresh_edit_options(self) -> None:
        options: dict[str, str] = {"": ""}
        if self.portfolio is not None:
            options.update({f"{s.id}: {s.title}": s.id for s in self.portfolio.scenarios})
        self.edit_select.options = options
        self.edit_select.visible = self.portfolio is not None

    def _workspace_changed(self, *_: Any) -> None:
        self.save_workspace_button.visible = self.workspace is not None
        has_context = self.context is not None
        self.suggest_button.visible = has_context
        self.suggestion_select.visible = has_context
        self.suggestion_note.visible = has_context
        if hasattr(self, "value"):
            self.save_workspace_button.disabled = self.value is None or self.workspace is None

    def _show_modes(self, *_: Any) -> None:
        freq_locked = self._freq_locked is not None
        self._freq_inputs.visible = not freq_locked
        self._freq_locked_box.visible = freq_locked
        self._rate_box.visible = self.frequency_mode.value == "rate"
        self._chance_box.visible = self.frequency_mode.value == "chance"
        sev_locked = self._sev_locked is not None
        self._sev_inputs.visible = not sev_locked
        self._sev_locked_box.visible = sev_locked
        self._ci_box.visible = self.severity_mode.value == "interval"
        self._pert_box.visible = self.severity_mode.value == "pert"

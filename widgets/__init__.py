"""The workbench's components (installed as ``riskbench.widgets``).

They only build domain objects and call riskbench; they hold no risk logic. Each
works in JupyterLab (``display(...)``), in a Voila page and in ``panel serve``; their
JavaScript is inline, never from a CDN.

ipywidgets:

- :func:`summary_table`: a simulation summary as a formatted HTML table.
- :class:`ScenarioPicker`: choose which scenarios of a portfolio to simulate.

Panel and HoloViews (the ``ui`` extra; imported on first use):

- :class:`ScenarioWizard` (``wizard``): create or edit a scenario as an expert gives it.
- :class:`SimChart` (``charts``): loss exceedance curve, histogram and tornado.
- :class:`ImpactMatrixView` (``matrix_view``): the likelihood x severity heat map.
- :class:`CausalGraph` (``graph_view``): the dependency graph and node outages.
- :class:`MitigationTable` (``mitigation_table``): options, plan and frontier.
- :class:`ReportWizard` (``report``): exports of a result's sections.
- :class:`Dashboard` (``dashboard``): the executive dashboard.

Examples
--------
>>> import riskbench as rb
>>> from riskbench.widgets import ScenarioPicker, summary_table
>>> picker = ScenarioPicker(rb.load_portfolio("examples/register.yaml"))
>>> table = summary_table(rb.simulate(picker.portfolio(), trials=1_000, seed=1))
>>> type(table).__name__
'HTML'
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import ipywidgets

from riskbench.errors import Issue, ValidationError

if TYPE_CHECKING:
    from riskbench import Portfolio

__all__ = [
    "CausalGraph",
    "Dashboard",
    "ImpactMatrixView",
    "MitigationTable",
    "ReportWizard",
    "ScenarioPicker",
    "ScenarioWizard",
    "SimChart",
    "summary_table",
]

# Panel components, imported on first use (PEP 562): Panel takes a second to import.
_LAZY = {
    "CausalGraph": "graph_view",
    "Dashboard": "dashboard",
    "ImpactMatrixView": "matrix_view",
    "MitigationTable": "mitigation_table",
    "ReportWizard": "report",
    "ScenarioWizard": "wizard",
    "SimChart": "charts",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(f"riskbench.widgets.{_LAZY[name]}"), name)
    raise AttributeError(f"module 'riskbench.widgets' has no attribute {name!r}")


_LABELS = {
    "mean": "Mean",
    "sd": "SD",
    "p50": "Median",
    "p90": "P90",
    "p95": "P95",
    "p99": "P99",
    "tvar99": "TVaR 99%",
    "p_any": "P(any event)",
}
_PROBABILITY_COLUMNS = {"p_any"}


def _money(value: float) -> str:
    return f"{value:,.0f}" if math.isfinite(value) else "n/a"


def _percent(value: float) -> str:
    return f"{value:.1%}" if math.isfinite(value) else "n/a"


def summary_table(result: Any, *, currency: str | None = None) -> ipywidgets.HTML:
    """Render ``result.summary()`` as an HTML table widget.

    Currency amounts are rounded to whole units with thousands separators; the
    probability of at least one event in a year (``p_any``) is shown as a percentage.

    Parameters
    ----------
    result
        A :class:`riskbench.SimulationResult` (anything with a ``summary()`` method
        returning the DataFrame described there: one row per scenario id and one for
        ``"portfolio"``, columns ``mean, sd, p50, p90, p95, p99, tvar99, p_any``).
    currency
        Currency code shown in the header, such as ``"EUR"``; by default the result's
        ``currency`` if it has one.

    Returns
    -------
    ipywidgets.HTML
        The table; its ``value`` is the HTML text.

    Examples
    --------
    >>> import riskbench as rb
    >>> res = rb.simulate(rb.load_portfolio("examples/register.yaml"), trials=1_000, seed=1)
    >>> table = summary_table(res, currency="EUR")
    >>> "<th>P(any event)</th>" in table.value and "(EUR)" in table.value
    True
    """
    frame = result.summary()
    if currency is None:
        currency = getattr(result, "currency", None)
    unit = f" ({html.escape(currency)})" if currency else ""
    head = "".join(
        f"<th>{html.escape(_LABELS.get(str(c), str(c)))}"
        f"{'' if c in _PROBABILITY_COLUMNS else unit}</th>"
        for c in frame.columns
    )
    rows = []
    for label, row in frame.iterrows():
        cells = "".join(
            f'<td style="text-align: right">'
            f"{_percent(float(v)) if c in _PROBABILITY_COLUMNS else _money(float(v))}</td>"
            for c, v in row.items()
        )
        rows.append(f'<tr><th style="text-align: left">{html.escape(str(label))}</th>{cells}</tr>')
    table = (
        '<table class="riskbench-summary">'
        f"<thead><tr><th>scenario</th>{head}</tr></thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )
    return ipywidgets.HTML(value=table)


class ScenarioPicker:
    """Pick which scenarios of a portfolio to keep, with a multiple-selection list.

    The list shows each scenario as ``category: title``; every scenario is selected
    at first unless ``selected`` says otherwise. Display the picker (or its
    :attr:`widget`) in a notebook; read the choice with :attr:`selected_ids` or
    :meth:`portfolio`.

    Parameters
    ----------
    portfolio
        A :class:`riskbench.Portfolio`.
    selected
        Scenario ids selected at first; all of them by default.
    description
        The widget's label.

    Attributes
    ----------
    widget : ipywidgets.SelectMultiple
        The list; its ``value`` is the tuple of selected ids.

    Raises
    ------
    riskbench.errors.ValidationError
        If ``selected`` names an id the portfolio does not have.

    Examples
    --------
    >>> import riskbench as rb
    >>> p = rb.load_portfolio("examples/register.yaml")
    >>> picker = ScenarioPicker(p, selected=["ransomware-erp"])
    >>> picker.selected_ids
    ('ransomware-erp',)
    >>> picker.portfolio().ids
    ('ransomware-erp',)
    """

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        selected: Iterable[str] | None = None,
        description: str = "Scenarios",
    ) -> None:
        self._portfolio = portfolio
        ids = [s.id for s in portfolio.scenarios]
        chosen = ids if selected is None else list(selected)
        unknown = [sid for sid in chosen if sid not in ids]
        if unknown:
            raise ValidationError(
                [Issue("selected", f"unknown scenario ids {unknown}; allowed: {ids}")]
            )
        # Built here, never as a class attribute: a class-level widget would be shared
        # by every picker (and every dashboard session).
        self.widget = ipywidgets.SelectMultiple(
            options=[(f"{s.category}: {s.title}", s.id) for s in portfolio.scenarios],
            value=tuple(sid for sid in ids if sid in chosen),
            rows=min(len(ids), 12),
            description=description,
            layout=ipywidgets.Layout(width="max-content"),
        )

    @property
    def selected_ids(self) -> tuple[str, ...]:
        """The selected scenario ids, in portfolio order."""
        chosen = set(self.widget.value)
        return tuple(s.id for s in self._portfolio.scenarios if s.id in chosen)

    def portfolio(self) -> Portfolio:
        """The portfolio restricted to the selected scenarios.

        Correlations involving a scenario left out are dropped.

        Raises
        ------
        riskbench.errors.ValidationError
            If no scenario is selected.
        """
        chosen = self.selected_ids
        if not chosen:
            raise ValidationError(
                [Issue("selected", "no scenario is selected; select at least one")]
            )
        return self._portfolio.with_scenarios(
            [s for s in self._portfolio.scenarios if s.id in chosen]
        )

    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        # Lets a notebook display the picker itself, not just its widget.
        return self.widget._repr_mimebundle_(**kwargs)

"""The figures a narrative may use, each with its value and how people read it.

:func:`scenario_facts` collects them from a scenario (its frequency and severity), a
simulation result, the dependency graph, the incident history and the mitigations on
the scenario. The template narrator writes only these; an LLM is given them as a table;
the grounding checker (:mod:`riskbench.ai.grounding`) accepts a narrative's figures
only when they match one of them. Figures written in the inputs' own text (a
narrative, an assumption's source such as "DBIR 2024") count as facts too: they come
from the scenario.

Examples
--------
>>> import riskbench as rb
>>> s = rb.Scenario(id="fire", title="Plant fire", category="operational",
...                 frequency=rb.Poisson(rate=0.05), severity=rb.Constant(2e6))
>>> facts = scenario_facts(s)
>>> facts["frequency.rate"].text, facts["severity.p50"].text
('about once every 20 years', 'EUR 2 million')
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskbench.ai import humanize as hz
from riskbench.ai.grounding import Fact, FactKind, extract_figures
from riskbench.dists import PERT, Distribution, Frequency
from riskbench.graph.spec import Node

if TYPE_CHECKING:
    from riskbench.graph import DependencyGraph
    from riskbench.mitigation import Mitigation
    from riskbench.results import ExactResult, SimulationResult
    from riskbench.scenario import Scenario

__all__ = [
    "OUTAGE_DAYS",
    "FactSheet",
    "Stated",
    "outage_days",
    "scenario_facts",
    "typical_outage",
]

_KIND_OF_FIGURE: dict[str, FactKind] = {
    "money": "money",
    "percent": "probability",
    "one_in": "probability",
    "number": "number",
}


@dataclass(frozen=True)
class Stated:
    """One fact and the words the narrator writes for it."""

    fact: Fact
    text: str

    @property
    def value(self) -> float:
        """The fact's value."""
        return self.fact.value


@dataclass
class FactSheet:
    """The facts about one scenario, by name, in the order they were found."""

    currency: str
    entries: dict[str, Stated] = field(default_factory=dict)
    #: Figures from the inputs' own text: allowed, never written by the template.
    quoted: list[Fact] = field(default_factory=list)
    #: What the graph, the incidents and the mitigations add, for the templates.
    details: dict[str, Any] = field(default_factory=dict)

    def add(self, name: str, value: float, kind: FactKind, label: str, text: str) -> Stated:
        """Record a fact; ``text`` is how a narrative writes it."""
        stated = Stated(Fact(name=name, value=float(value), kind=kind, label=label), text)
        self.entries[name] = stated
        return stated

    def money(self, name: str, value: float, label: str) -> Stated:
        """Record an amount in the sheet's currency."""
        return self.add(name, value, "money", label, hz.money(value, self.currency))

    def quote(self, source: str, text: str) -> None:
        """Allow every figure written in ``text`` (an input's own words)."""
        for i, fig in enumerate(extract_figures(text)):
            self.quoted.append(
                Fact(
                    name=f"{source}.figure{i + 1}",
                    value=fig.value,
                    kind=_KIND_OF_FIGURE[fig.kind],
                    label=f"written in {source}: {fig.text}",
                )
            )

    def __getitem__(self, name: str) -> Stated:
        return self.entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def __iter__(self) -> Iterator[Stated]:
        return iter(self.entries.values())

    def facts(self) -> list[Fact]:
        """Every allowed fact: the computed ones and the quoted figures."""
        return [s.fact for s in self.entries.values()] + self.quoted

    def table(self) -> str:
        """The computed facts as lines ``name: label = text`` (for a prompt)."""
        return "\n".join(f"- {s.fact.name}: {s.fact.label} = {s.text}" for s in self)


def _p_any(freq: Distribution) -> float:
    """P(at least one event in a year), exact from the frequency's PGF at 0."""
    assert isinstance(freq, Frequency)
    return float(1.0 - freq.pgf(np.zeros(1, dtype=np.complex128)).real[0])


def _frequency(sheet: FactSheet, s: Scenario) -> None:
    freq = s.frequency
    rate = freq.mean()
    sheet.add("frequency.rate", rate, "rate", "expected events a year", hz.rate(rate))
    p = _p_any(freq)
    sheet.add(
        "frequency.p_any", p, "probability", "chance of at least one event in a year", hz.odds(p)
    )
    sheet.add(
        "frequency.p_any_percent",
        p,
        "probability",
        "chance of at least one event in a year (as a percentage)",
        hz.percent(p),
    )
    if freq.dist == "bernoulli":
        sheet.add("frequency.at_most_one", 1, "number", "events a year at most", "one")


def _severity(sheet: FactSheet, s: Scenario) -> None:
    low, mid, high = (float(x) for x in s.severity.ppf(np.array([0.05, 0.5, 0.95])))
    sheet.money("severity.p05", low, "5th percentile of one event's loss")
    sheet.money("severity.p50", mid, "median loss of one event")
    sheet.money("severity.p95", high, "95th percentile of one event's loss")
    sheet.money("severity.mean", s.severity.mean(), "mean loss of one event")
    sheet.add(
        "severity.range", 0.90, "probability", "share of events inside the range", hz.percent(0.90)
    )
    sheet.money("eal.gross", s.expected_annual_loss(), "expected annual loss before insurance")


def _result(sheet: FactSheet, s: Scenario, result: SimulationResult | ExactResult) -> None:
    table = result.summary()
    if s.id not in table.index:
        return
    row = table.loc[s.id]
    sheet.money("result.mean", row["mean"], "mean annual loss (simulated, net of insurance)")
    sheet.money("result.p50", row["p50"], "median annual loss")
    sheet.money("result.p90", row["p90"], "annual loss exceeded one year in ten")
    sheet.money("result.p95", row["p95"], "annual loss exceeded one year in twenty")
    sheet.money("result.p99", row["p99"], "annual loss exceeded one year in a hundred")
    sheet.money("result.tvar99", row["tvar99"], "average annual loss in the worst 1% of years")
    for q in (0.9, 0.95, 0.99):
        sheet.add(
            f"level.{round(q * 100)}",
            1 - q,
            "probability",
            f"return period of the {round(q * 100)}th percentile",
            hz.odds(1 - q),
        )
        sheet.add(
            f"level.{round(q * 100)}th",
            round(q * 100),
            "number",
            "percentile level",
            hz.ordinal(round(q * 100)),
        )
    total = float(table.loc["portfolio", "mean"]) if "portfolio" in table.index else 0.0
    if total > 0 and len(table.index) > 2:
        sheet.add(
            "result.share",
            float(row["mean"]) / total,
            "probability",
            "share of the portfolio's mean annual loss",
            hz.percent(row["mean"] / total),
        )
        sheet.money("portfolio.mean", total, "the portfolio's mean annual loss")
        sheet.add(
            "portfolio.scenarios",
            len(table.index) - 1,
            "number",
            "scenarios in the portfolio",
            str(len(table.index) - 1),
        )


#: Outage length in days (PERT low, mode, high) by node kind: the library's defaults
#: for an outage of one node; "supplier-single" is a single-source supplier.
OUTAGE_DAYS: dict[str, tuple[float, float, float]] = {
    "supplier": (7.0, 21.0, 60.0),
    "supplier-single": (30.0, 90.0, 270.0),
    "site": (7.0, 30.0, 120.0),
    "system": (1.0, 4.0, 14.0),
    "process": (1.0, 3.0, 10.0),
}


def outage_kind(node: Node) -> str:
    """The key of :data:`OUTAGE_DAYS` for ``node``."""
    if node.kind == "supplier" and node.attrs.get("single_source"):
        return "supplier-single"
    return node.kind if node.kind in OUTAGE_DAYS else "process"


def typical_outage(node: Node) -> PERT:
    """How long an outage of ``node`` lasts: its own recovery-time distribution when
    the graph gives one, else the library's default for its kind."""
    if isinstance(node.recovery_days, PERT):
        return node.recovery_days
    low, mode, high = OUTAGE_DAYS[outage_kind(node)]
    return PERT(low=low, mode=mode, high=high)


def outage_days(graph: DependencyGraph, node: str) -> float:
    """The outage length used to illustrate a node's impact: the mean of its recovery
    time when it is a distribution, else the most likely length for its kind, in whole
    days."""
    n = graph.node(node)
    rec = n.recovery_days
    if isinstance(rec, Distribution):
        return float(max(1, round(rec.mean())))
    return OUTAGE_DAYS[outage_kind(n)][1]


def _graph(sheet: FactSheet, s: Scenario, graph: DependencyGraph) -> list[dict[str, Any]]:
    known = {n.id for n in graph.nodes}
    impacts = []
    for i, node in enumerate(a for a in s.assets if a in known):
        days = outage_days(graph, node)
        impact = graph.outage(node, days)
        hit = impact.lost_revenue[impact.lost_revenue > 0].sort_values(ascending=False)
        stopped = [c for c in impact.capacity.columns if c != node and impact.capacity[c].min() < 1]
        key = f"graph.{i + 1}"
        sheet.add(f"{key}.days", days, "number", f"days {node} is assumed out", hz.days(days))
        lost = sheet.money(
            f"{key}.lost_revenue",
            impact.total_lost_revenue,
            f"revenue lost if {node} is out for {days:g} days",
        )
        sheet.add(
            f"{key}.revenue_lines",
            len(hit),
            "number",
            "revenue lines that lose revenue",
            str(len(hit)),
        )
        sheet.add(
            f"{key}.horizon",
            impact.horizon_days,
            "number",
            "days until every downstream node is back",
            hz.days(impact.horizon_days),
        )
        impacts.append(
            {
                "node": node,
                "kind": graph.node(node).kind,
                "days": sheet[f"{key}.days"].text,
                "lost": lost.text,
                "lines": [str(x) for x in hit.index],
                "lines_count": len(hit),
                "downstream": stopped,
                "horizon": sheet[f"{key}.horizon"].text,
                "top": str(hit.index[0]) if len(hit) else None,
                "top_lost": hz.money(float(hit.iloc[0]), sheet.currency) if len(hit) else None,
            }
        )
        if len(hit):
            sheet.money(
                f"{key}.top_lost",
                float(hit.iloc[0]),
                f"revenue lost by {hit.index[0]} in that outage",
            )
    return impacts


def _incidents(sheet: FactSheet, s: Scenario, incidents: pd.DataFrame) -> dict[str, Any] | None:
    if incidents.empty:
        return None
    years = pd.to_datetime(incidents["occurred_on"]).dt.year
    first, last = int(years.min()), int(years.max())
    own = incidents["scenario_id"].astype(str) == s.id
    basis = "scenario"
    if not own.any():
        own = incidents["category"].astype(str) == s.category
        basis = "category"
    rows = incidents[own]
    sheet.add(
        "incidents.first_year", first, "number", "first year of the incident record", str(first)
    )
    sheet.add("incidents.last_year", last, "number", "last year of the incident record", str(last))
    sheet.add(
        "incidents.years",
        last - first + 1,
        "number",
        "years of incident record",
        hz.count(last - first + 1, "year"),
    )
    n = len(rows)
    sheet.add(
        "incidents.count", n, "number", f"recorded incidents ({basis})", "one" if n == 1 else str(n)
    )
    info: dict[str, Any] = {"basis": basis, "count": n, "years": last - first + 1}
    if n:
        losses = rows["loss"].astype(float)
        sheet.money("incidents.total", losses.sum(), "total recorded loss")
        sheet.money("incidents.largest", losses.max(), "largest recorded loss")
    return info


def _mitigations(
    sheet: FactSheet, s: Scenario, mitigations: Iterable[Mitigation]
) -> list[dict[str, Any]]:
    out = []
    eal = s.expected_annual_loss()
    for i, m in enumerate(m for m in mitigations if s.id in m.scenarios):
        ff = m.frequency_factor
        sf = m.severity_factor
        kept = (ff.mean() if isinstance(ff, Distribution) else float(ff)) * (
            sf.mean() if isinstance(sf, Distribution) else float(sf)
        )
        key = f"mitigation.{i + 1}"
        cost = sheet.money(f"{key}.annual_cost", m.annual_cost, f"annual cost of {m.name}")
        cut = sheet.money(
            f"{key}.eal_cut",
            eal * (1 - kept),
            f"expected annual loss removed by {m.name} (before insurance)",
        )
        share = sheet.add(
            f"{key}.cut_share",
            1 - kept,
            "probability",
            f"share of the expected annual loss {m.name} removes",
            hz.percent(1 - kept),
        )
        sheet.quote(f"mitigation {m.id}", f"{m.name}. {m.description}")
        out.append(
            {
                "name": m.name,
                "cost": cost.text,
                "cut": cut.text,
                "share": share.text,
                "pays": eal * (1 - kept) > m.annual_cost,
                "description": m.description,
                "insurance": m.insurance is not None and kept == 1.0,
            }
        )
    return out


def scenario_facts(
    scenario: Scenario,
    result: SimulationResult | ExactResult | None = None,
    *,
    currency: str = "EUR",
    graph: DependencyGraph | None = None,
    incidents: pd.DataFrame | None = None,
    mitigations: Sequence[Mitigation] = (),
) -> FactSheet:
    """Every figure a narrative of ``scenario`` may use.

    Parameters
    ----------
    scenario
        The scenario; its frequency and severity give closed-form facts.
    result
        A simulation (or exact) result containing the scenario: annual-loss facts.
    currency
        How amounts are written.
    graph
        A dependency graph: for each of the scenario's ``assets`` in it, the lost
        revenue of an outage of typical length (:func:`outage_days`).
    incidents
        The incident history (columns ``occurred_on``, ``category``,
        ``scenario_id``, ``loss``): counts and losses for the scenario, or for its
        category when none is linked to it.
    mitigations
        Mitigations; those naming the scenario give their cost and effect.
    """
    sheet = FactSheet(currency=currency)
    _frequency(sheet, scenario)
    _severity(sheet, scenario)
    if result is not None:
        _result(sheet, scenario, result)
    sheet.details = {
        "graph": [] if graph is None else _graph(sheet, scenario, graph),
        "incidents": None if incidents is None else _incidents(sheet, scenario, incidents),
        "mitigations": _mitigations(sheet, scenario, mitigations),
    }
    sheet.quote("title", scenario.title)
    sheet.quote("narrative", scenario.narrative)
    for a in scenario.assumptions:
        sheet.quote(
            f"assumption {a.name!r}", " ".join(x for x in (a.text, a.rationale, a.source) if x)
        )
    return sheet

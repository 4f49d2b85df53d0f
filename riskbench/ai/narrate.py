"""Scenario narratives in plain English, from the numbers: :func:`narrate`.

Two paths write them. The **offline narrator** (the default, and always in tests)
fills the Jinja templates in ``templates/narratives/`` from a fact sheet
(:func:`~riskbench.ai.facts.scenario_facts`): deterministic, every figure a fact.
With a language model configured (``RISKBENCH_LLM``, or ``llm=``) the model writes
the narrative from the same facts; the grounding checker then extracts every figure
from its text, and any figure that matches no fact is sent back once; if the second
draft still cites one, the offline narrative is returned instead, with a note saying
so.

Examples
--------
>>> import riskbench as rb
>>> s = rb.Scenario(id="fire", title="Fire at the main plant", category="operational",
...                 frequency=rb.Poisson(rate=0.05), severity=rb.Constant(2e6))
>>> text = rb.narrate(s).text
>>> "about once every 20 years" in text and "EUR 2 million" in text
True
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from importlib.resources import files
from typing import TYPE_CHECKING, Any, Literal

import pandas as pd

from riskbench.ai import humanize as hz
from riskbench.ai.facts import FactSheet, scenario_facts
from riskbench.ai.grounding import GroundingReport, check_grounding
from riskbench.dists import Distribution, Poisson
from riskbench.errors import Issue, ValidationError
from riskbench.scenario import Scenario

if TYPE_CHECKING:
    import jinja2

    from riskbench.graph import DependencyGraph
    from riskbench.mitigation import Mitigation
    from riskbench.results import ExactResult, SimulationResult

__all__ = ["SECTIONS", "STYLES", "Narrative", "narrate"]

Style = Literal["board", "analyst"]
STYLES: tuple[str, ...] = ("board", "analyst")
#: The sections of a narrative, in order.
SECTIONS = ("heading", "trigger", "unfolding", "numbers", "assumptions", "mitigations")


@dataclass(frozen=True)
class _Words:
    label: str  # "cyber risk"
    noun: str  # one event of the kind
    plural: str
    each: str  # how a cost sentence starts
    opener: str  # introduces the title when the card has no narrative


_CATEGORY_WORDS: dict[str, _Words] = {
    "cyber": _Words(
        "cyber risk",
        "successful attack",
        "successful attacks",
        "each successful attack",
        "A cyber attack succeeds:",
    ),
    "supply-chain": _Words(
        "supply-chain risk", "disruption", "disruptions", "each disruption", "Supply fails:"
    ),
    "operational": _Words(
        "operational risk", "incident", "incidents", "each incident", "Operations are interrupted:"
    ),
    "financial": _Words(
        "financial risk", "loss event", "loss events", "each loss event", "A financial loss arises:"
    ),
    "market": _Words(
        "market risk",
        "adverse move",
        "adverse moves",
        "an adverse move of this size",
        "Markets move against us:",
    ),
    "regulatory": _Words(
        "regulatory risk",
        "enforcement action",
        "enforcement actions",
        "an enforcement action",
        "A regulator acts:",
    ),
    "climate": _Words(
        "climate and physical risk", "event", "events", "each event", "Nature strikes:"
    ),
    "strategic": _Words(
        "strategic risk", "failure", "failures", "a failure of this kind", "A strategic bet fails:"
    ),
    "reputational": _Words(
        "reputational risk", "crisis", "crises", "each crisis", "Trust is lost:"
    ),
    "people": _Words("people risk", "event", "events", "each event", "People are lost:"),
    "other": _Words("risk", "event", "events", "each event", "The risk:"),
}

#: Ends a paragraph inside a template section (whitespace elsewhere is collapsed).
PARAGRAPH = "\u00b6"
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")


@dataclass(frozen=True)
class Narrative:
    """A scenario narrative and how it was written.

    Attributes
    ----------
    text
        The narrative: paragraphs separated by blank lines.
    sections
        The same text by section (:data:`SECTIONS`; empty sections left out).
    style
        ``"board"`` or ``"analyst"``.
    method
        ``"template"`` (the offline narrator) or ``"llm:<model>"``.
    notes
        What happened on the way, e.g. that a model's draft cited a figure not in
        the data and the template narrative was used instead.
    grounding
        The grounding check of ``text`` against the facts.
    """

    text: str
    sections: dict[str, str]
    style: str
    method: str
    notes: tuple[str, ...]
    grounding: GroundingReport

    def __str__(self) -> str:
        return self.text


# -- the offline narrator ---------------------------------------------------------------
def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[1:2].islower() else text


def _trim_period(text: str) -> str:
    return text.strip().rstrip(".")


def _full_stop(text: str) -> str:
    """``text`` ending in a full stop (or the ! or ? it ends with)."""
    text = text.strip()
    return text if text.endswith((".", "!", "?")) else text + "."


def _sentence_start(text: str) -> str:
    return text[:1].upper() + text[1:]


@cache
def _environment() -> jinja2.Environment:
    try:
        import jinja2
    except ImportError as err:  # pragma: no cover - jinja2 is a core dependency
        from riskbench.errors import MissingDependencyError

        raise MissingDependencyError("jinja2", "reports", purpose="The narrator") from err
    folder = files("riskbench.templates").joinpath("narratives")
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=False,  # plain text, never HTML
        undefined=jinja2.StrictUndefined,
        trim_blocks=False,  # line breaks are spaces: _tidy collapses them
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )
    env.filters.update(
        lower_first=_lower_first,
        trim_period=_trim_period,
        sentence=hz.sentence,
        sentence_start=_sentence_start,
        join_words=hz.join,
        count_word=lambda n, noun: hz.count(n, noun),
        with_article=lambda word: f"{hz.article(word)} {word}",
        full_stop=_full_stop,
    )
    return env


def _tidy(text: str, separator: str = PARAGRAPH) -> str:
    """Whitespace collapsed to single spaces; paragraphs (ended by ``separator``:
    :data:`PARAGRAPH` in templates) separated by one blank line."""
    out = []
    for p in re.split(separator, text):
        line = re.sub(r"\s+", " ", p).strip()
        line = re.sub(r"\s+([,.;:)])", r"\1", line)
        if line:
            out.append(line)
    return "\n\n".join(out)


def _name(node: str) -> str:
    """A node id as words: short ones are acronyms ("erp" -> "ERP")."""
    return node.upper() if len(node) <= 4 else node.replace("-", " ")


def _node_label(node: str, kind: str) -> str:
    return f"the {_name(node)} {kind}"


def _trigger(s: Scenario, style: str) -> str:
    if not s.narrative:
        return ""
    sentences = _SENTENCE_END.split(s.narrative.strip())
    return " ".join(sentences[:2]) if style == "board" else s.narrative.strip()


def _family(dist: Distribution) -> str:
    names = {
        "poisson": "a Poisson count",
        "bernoulli": "at most one event a year (Bernoulli)",
        "negative_binomial": "a negative binomial count (clustered years)",
        "lognormal": "log-normal",
        "pert": "PERT (expert low, most likely, high)",
        "triangular": "triangular",
        "uniform": "uniform",
        "normal": "normal",
        "gamma": "gamma",
        "beta": "beta",
        "constant": "a fixed amount",
        "empirical": "the empirical distribution of recorded losses",
        "mixture": "a mixture",
        "outage_loss": "lost revenue from the dependency graph",
    }
    name = names.get(dist.dist, str(dist.dist))
    if isinstance(dist, Poisson) and not isinstance(dist.rate, int | float):
        name += " with an uncertain rate"
    return name


def _insurance(s: Scenario, currency: str) -> str:
    ins = s.insurance
    if ins is None:
        return ""
    parts = []
    for label, layer in (("per event", ins.per_event), ("annual aggregate", ins.annual)):
        if layer is None:
            continue
        limit = "no limit" if layer.limit is None else f"limit {hz.money(layer.limit, currency)}"
        parts.append(f"{label}: deductible {hz.money(layer.deductible, currency)}, {limit}")
    return "; ".join(parts)


def _insurance_facts(sheet: FactSheet, s: Scenario) -> None:
    ins = s.insurance
    if ins is None:
        return
    for label, layer in (("per_event", ins.per_event), ("annual", ins.annual)):
        if layer is None:
            continue
        sheet.money(f"insurance.{label}.deductible", layer.deductible, f"{label} deductible")
        if layer.limit is not None:
            sheet.money(f"insurance.{label}.limit", layer.limit, f"{label} limit")


def _render(
    s: Scenario, sheet: FactSheet, style: str, result: object, max_assumptions: int
) -> dict[str, str]:
    words = _CATEGORY_WORDS[s.category]
    graph = []
    for g in sheet.details.get("graph", []):
        lines = g["lines"]
        via = [n for n in g["downstream"] if n not in lines]
        graph.append(
            {
                **g,
                "node_label": _node_label(g["node"], g["kind"]),
                "line_labels": [_name(n) for n in lines],
                "downstream_labels": [_name(n) for n in g["downstream"]],
                "via": hz.join([_name(n) for n in via]),
                "top_label": _name(g["top"]) if g["top"] else "",
            }
        )
    incidents = sheet.details.get("incidents")
    if incidents is not None:
        kind = "incident" if incidents["count"] == 1 else "incidents"
        incidents = {
            **incidents,
            "basis_words": (
                f"{kind} linked to this scenario"
                if incidents["basis"] == "scenario"
                else f"{s.category} {kind}"
                + (" (none linked to this scenario)" if incidents["count"] else "")
            ),
        }
    assumptions = list(s.assumptions)
    if style == "board":
        assumptions = assumptions[:max_assumptions]
    context = {
        "s": s,
        "c": words,
        "f": sheet.entries,
        "bernoulli": s.frequency.dist == "bernoulli",
        "result": result is not None and "result.mean" in sheet,
        "insured": s.insurance is not None,
        "insurance_desc": _insurance(s, sheet.currency),
        "trigger": _trigger(s, style),
        "graph": graph,
        "incidents": incidents,
        "assumptions": assumptions,
        "mitigations": sheet.details.get("mitigations", []),
        "freq_desc": _family(s.frequency),
        "sev_desc": _family(s.severity),
        "money_range": lambda lo, hi: hz.money_range(lo, hi, sheet.currency),
    }
    template = _environment().get_template(f"{style}.txt.j2")
    ctx = template.new_context(context)
    sections = {}
    for name in SECTIONS:
        text = _tidy("".join(template.blocks[name](ctx)))
        if text:
            sections[name] = text
    return sections


def _check_args(scenario: Any, style: Any, result: Any) -> None:
    issues = []
    if not isinstance(scenario, Scenario):
        issues.append(
            Issue("scenario", f"must be a riskbench Scenario, got {type(scenario).__name__}")
        )
    if style not in STYLES:
        issues.append(Issue("style", f"must be one of {', '.join(STYLES)}; got {style!r}"))
    if (
        not issues
        and result is not None
        and hasattr(result, "ids")
        and scenario.id not in result.ids
    ):
        issues.append(
            Issue(
                "result",
                f"does not contain scenario {scenario.id!r}; it has {list(result.ids)}",
            )
        )
    if issues:
        raise ValidationError(issues)


def narrate(
    scenario: Scenario,
    result: SimulationResult | ExactResult | None = None,
    *,
    style: Style = "board",
    currency: str | None = None,
    graph: DependencyGraph | None = None,
    incidents: pd.DataFrame | None = None,
    mitigations: Sequence[Mitigation] = (),
    llm: Any = None,
    max_assumptions: int = 3,
) -> Narrative:
    """A plain-English narrative of a scenario: what could happen, how it spreads
    through the dependency graph, what it would cost, what the numbers rest on, and
    what can be done.

    Parameters
    ----------
    scenario
        The scenario.
    result
        A simulation or exact result that contains the scenario: adds its annual-loss
        figures (mean, 1-in-10 and 1-in-100 years, share of the portfolio).
    style
        ``"board"``: short, for directors (the first three assumptions);
        ``"analyst"``: the model, every assumption with rationale and source.
    currency
        How amounts are written (default: the result's portfolio currency, else EUR).
    graph
        A dependency graph: the impact of an outage of each of the scenario's
        ``assets`` is traced through it.
    incidents
        The incident history (``occurred_on``, ``category``, ``scenario_id``,
        ``loss``).
    mitigations
        Mitigations; those naming the scenario are described with cost and effect.
    llm
        None: the model configured by ``RISKBENCH_LLM``, or the offline narrator
        when none is; False: always the offline narrator; or a CrewAI LLM object.
    max_assumptions
        How many assumptions the board style lists.

    Returns
    -------
    Narrative
        ``str(narrative)`` is the text; ``.method`` says which path wrote it.

    Raises
    ------
    ValidationError
        Bad ``scenario``, ``style`` or a ``result`` without the scenario.
    """
    _check_args(scenario, style, result)
    if currency is None:
        currency = getattr(getattr(result, "portfolio", None), "currency", None) or "EUR"
    sheet = scenario_facts(
        scenario,
        result,
        currency=currency,
        graph=graph,
        incidents=incidents,
        mitigations=mitigations,
    )
    _insurance_facts(sheet, scenario)
    offline = _offline(scenario, sheet, style, result, max_assumptions)
    from riskbench.ai.llm import model_or_offline

    model, note = model_or_offline(llm)
    if model is None:
        return offline if note is None else replace(offline, notes=(note,))
    return _with_model(model, scenario, sheet, style, offline)


def _offline(
    s: Scenario, sheet: FactSheet, style: str, result: object, max_assumptions: int
) -> Narrative:
    sections = _render(s, sheet, style, result, max_assumptions)
    text = "\n\n".join(sections.values())
    return Narrative(
        text=text,
        sections=sections,
        style=style,
        method="template",
        notes=(),
        grounding=check_grounding(text, sheet.facts()),
    )


# -- the model path -----------------------------------------------------------------------
_SYSTEM = """You are a risk analyst writing a scenario narrative for {audience}.
Write plain English in short paragraphs: what could happen (the trigger), how it
unfolds through the organisation's dependencies, the business impact, what the numbers
say, the key assumptions and their sources, and the mitigations.
Grounding rule: every number you write must be one of the figures in the fact table,
written as it appears there (or a rounding of it). Do not invent any other number, year,
count or percentage. If a figure is not in the table, describe it in words instead."""


def _prompt(s: Scenario, sheet: FactSheet, style: str, offline: Narrative) -> list[dict[str, str]]:
    audience = "a board of directors" if style == "board" else "risk analysts"
    assumptions = "\n".join(
        f"- {a.name}: {a.text}" + (f" (source: {a.source})" if a.source else "")
        for a in s.assumptions
    )
    user = (
        f"Scenario: {s.title} (category: {s.category})\n"
        f"Description: {s.narrative or '(none)'}\n"
        f"Assumptions:\n{assumptions or '(none)'}\n\n"
        f"Fact table (the only figures you may use):\n{sheet.table()}\n\n"
        f"A plain template version, for structure only:\n{offline.text}\n\n"
        "Write the narrative now, as plain text without headings in markdown."
    )
    return [
        {"role": "system", "content": _SYSTEM.format(audience=audience)},
        {"role": "user", "content": user},
    ]


def grounded_draft(
    model: Any, messages: list[dict[str, str]], facts: Any, *, what: str = "narrative"
) -> tuple[str | None, GroundingReport | None, list[str]]:
    """Ask ``model`` for a text whose every figure is one of ``facts``; one retry that
    names the figures it invented.

    Returns
    -------
    (text, grounding, notes)
        ``text`` is None when both drafts cited figures that are not facts (``notes``
        say which), for the caller's offline text to be used instead.
    """
    from riskbench.ai.llm import complete, model_name

    name = model_name(model)
    facts = list(facts)
    notes: list[str] = []
    for attempt in (1, 2):
        text = _tidy(complete(model, messages), r"\n\s*\n")
        report = check_grounding(text, facts)
        if text and report.ok:
            return text, report, notes
        problem = report.describe() if text else "the model returned no text"
        notes.append(f"draft {attempt} from {name}: {problem}")
        messages = [
            *messages,
            {"role": "assistant", "content": text},
            {
                "role": "user",
                "content": f"{problem}. Rewrite the {what} using only figures from the "
                "fact table; describe anything else in words.",
            },
        ]
    notes.append(
        f"{name} cited figures that are not in the data twice; this is the offline "
        f"template {what} instead"
    )
    return None, None, notes


def _with_model(
    model: Any, s: Scenario, sheet: FactSheet, style: str, offline: Narrative
) -> Narrative:
    from riskbench.ai.llm import model_name

    text, report, notes = grounded_draft(model, _prompt(s, sheet, style, offline), sheet.facts())
    if text is not None and report is not None:
        return Narrative(
            text=text,
            sections={"body": text},
            style=style,
            method=f"llm:{model_name(model)}",
            notes=tuple(notes),
            grounding=report,
        )
    return Narrative(
        text=offline.text,
        sections=offline.sections,
        style=style,
        method="template",
        notes=tuple(notes),
        grounding=offline.grounding,
    )

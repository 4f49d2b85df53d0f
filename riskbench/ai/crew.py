"""The CrewAI crew that drafts scenario cards with a language model: :func:`draft_scenarios`.

Three agents work in a sequential CrewAI process, all on the same model:

1. a **scenario analyst** reads the organisation's context (its profile, its own
   similar existing scenarios, seed candidates and the evidence facts) and drafts new
   scenarios in words;
2. a **risk quant** turns the drafts into scenario cards as structured output (a
   pydantic model holding a list of cards);
3. a **reviewer** checks the cards against the data and the grounding rule.

The model's word is never final. Every card is validated in code with
:class:`~riskbench.Scenario` and its narrative is checked with
:func:`~riskbench.ai.grounding.check_grounding` against the evidence facts and the
card's own numbers; ids must be new. A card that fails, or that the reviewer objects
to, goes back to the quant with the exact problems (``max_retries`` times); if it
still fails it is reported in :attr:`CrewOutcome.rejected`, never returned.

The prompts hold only this organisation's data: ``context.describe()``, the scenarios
passed in (or retrieved from its own portfolio) and the evidence given.

How CrewAI 1.15 behaves here (read from its source, checked with a scripted model):

- A custom model is any ``crewai.BaseLLM`` subclass implementing ``call``. Without
  tools the agent sends a system message (role, backstory, goal) and a user message
  (task, expected output, context, "Provide your complete response:") and takes the
  whole answer as final; a leading ``Thought: ... Final Answer:`` is stripped if the
  model writes one.
- ``output_pydantic`` appends the model's JSON schema to the task prompt and passes
  ``response_model=`` to ``call``; an answer that is valid JSON for the schema is
  converted without another call. When it is not, CrewAI's ``Converter`` asks the
  model up to three more times (calling ``llm.supports_function_calling()``, which
  ``BaseLLM`` does not define: a custom model should) and then fails the whole
  kickoff with ``ConverterError``. A task with a guardrail skips that conversion, so
  riskbench's tasks carry a guardrail that reads the answer itself and never
  refuses it: an unreadable answer is sent back like any other failing card.
- ``dict`` fields render as a strict empty object in CrewAI's schema, so distributions
  are typed models here (:class:`DistDraft`).
- Importing CrewAI loads a ``.env`` found above its package folder and writes an
  encryption key under ``~/.local/share/crewai`` and ``~/.config/crewai``; a run
  writes its task outputs (prompts and answers) to an SQLite file under
  ``CREWAI_STORAGE_DIR``, and file locks in the system temp folder. Telemetry and
  tracing are off only through environment switches. :func:`~riskbench.ai.llm.\
import_crewai` handles all of it (see :mod:`riskbench.ai.llm`).

Examples
--------
>>> from riskbench.ai.context import OrgContext, OrgProfile
>>> ctx = OrgContext(OrgProfile(name="Acme", industry="retail", regions=("EU",)))
>>> outcome = draft_scenarios(ctx, 2, llm=False)
>>> outcome.scenarios, outcome.notes
((), ('no language model configured: nothing drafted',))
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from riskbench.ai.grounding import Fact, check_grounding
from riskbench.ai.llm import crewai_environment, import_crewai, model_name, resolve_llm
from riskbench.errors import Issue, RunError, ValidationError
from riskbench.scenario import CATEGORIES, Scenario

if TYPE_CHECKING:
    from riskbench.ai.context import OrgContext

__all__ = [
    "AssumptionDraft",
    "CardDraft",
    "CardDrafts",
    "CrewOutcome",
    "DistDraft",
    "Review",
    "ReviewVerdict",
    "draft_scenarios",
]


# -- structured output ----------------------------------------------------------------
class DistDraft(BaseModel):
    """A distribution as the quant writes it (the card form, unused keys null)."""

    dist: str = Field(
        description="frequency: 'poisson' (rate) or 'bernoulli' (p); "
        "severity: 'lognormal' (low, high, conf) or 'pert' (low, mode, high)"
    )
    rate: float | None = Field(default=None, description="poisson: events per year")
    p: float | None = Field(default=None, description="bernoulli: chance of an event a year")
    low: float | None = Field(default=None, description="severity: low end of one loss")
    mode: float | None = Field(default=None, description="pert: most likely loss")
    high: float | None = Field(default=None, description="severity: high end of one loss")
    conf: float | None = Field(
        default=None, description="lognormal: probability between low and high, e.g. 0.9"
    )


class AssumptionDraft(BaseModel):
    """One assumption behind a card's numbers."""

    name: str
    text: str
    rationale: str | None = None
    source: str | None = None


class CardDraft(BaseModel):
    """One scenario card as the quant writes it."""

    id: str = Field(description="lower-case letters, digits and hyphens; new")
    title: str
    category: str = Field(description="one of: " + ", ".join(CATEGORIES))
    frequency: DistDraft
    severity: DistDraft
    narrative: str = Field(description="figures only from the evidence or the card's numbers")
    assumptions: list[AssumptionDraft] = Field(default_factory=list)
    assets: list[str] = Field(default_factory=list, description="ids of dependency-graph nodes")


class CardDrafts(BaseModel):
    """The quant's answer: the cards."""

    cards: list[CardDraft]


class ReviewVerdict(BaseModel):
    """The reviewer's verdict on one card."""

    id: str
    ok: bool
    problems: list[str] = Field(default_factory=list)


class Review(BaseModel):
    """The reviewer's answer."""

    verdicts: list[ReviewVerdict]


@dataclass(frozen=True)
class CrewOutcome:
    """What the crew drafted.

    Attributes
    ----------
    scenarios
        Drafts that validated, are grounded, have new ids and passed review.
    rejected
        ``(draft, problems)`` for each draft that still failed after the retries:
        the card as the model wrote it (a dict) and what was wrong.
    notes
        What happened, in plain words.
    prompts
        Every prompt text riskbench composed for the model (agent framing and task),
        in order; CrewAI adds only fixed instructions and the output schema.
    """

    scenarios: tuple[Scenario, ...]
    rejected: tuple[tuple[Any, tuple[str, ...]], ...]
    notes: tuple[str, ...]
    prompts: tuple[str, ...]


# -- the agents -----------------------------------------------------------------------
_ROLES = {
    "analyst": (
        "Scenario analyst",
        "Draft plausible, specific risk scenarios for this organisation.",
        "You write risk scenarios for one organisation from what it knows about itself. "
        "You never use information about any other organisation.",
    ),
    "quant": (
        "Risk quant",
        "Turn scenario drafts into quantified scenario cards.",
        "You quantify risk scenarios: how often per year (frequency) and what one event "
        "costs (severity), with the assumptions behind each number.",
    ),
    "reviewer": (
        "Reviewer",
        "Check scenario cards against the organisation's data and the grounding rule.",
        "You review quantified risk scenarios for plausibility against the data given.",
    ),
}

_GROUNDING_RULE = (
    "Grounding rule: every figure in a card's narrative must be one of the evidence "
    "facts or one of the card's own numbers (its frequency and severity parameters). "
    "Describe anything else in words."
)

_CARD_RULES = (
    "Card rules: id of lower-case letters, digits and hyphens, not one of the taken ids; "
    f"category one of {', '.join(CATEGORIES)}; frequency poisson (rate = events per "
    "year) or bernoulli (p = chance of an event in a year); severity the loss of one "
    "event in the organisation's currency, lognormal (low < high, conf = 0.9 for a 90% "
    "range) or pert (low < mode < high); a narrative of what happens; assumptions "
    "with their sources."
)


def draft_scenarios(
    context: OrgContext,
    n: int,
    llm: Any,
    *,
    evidence: Sequence[Fact] = (),
    seeds: Sequence[Scenario] = (),
    retrieved: Sequence[Scenario] = (),
    max_retries: int = 1,
) -> CrewOutcome:
    """Draft ``n`` new scenario cards for an organisation with a CrewAI crew.

    Parameters
    ----------
    context
        The organisation: its profile, portfolio and history. Only its data is sent.
    n
        How many new scenarios to ask for (at most ``n`` are returned).
    llm
        The model: as :func:`~riskbench.ai.llm.resolve_llm` takes it. None or False
        with no model configured returns an empty outcome with a note.
    evidence
        The facts (figures) the narratives may cite besides each card's own numbers.
    seeds
        Candidate scenarios to start from (for example archetypes fitted to the
        profile); the crew may adapt them.
    retrieved
        The organisation's own existing scenarios similar to what is asked, to avoid
        duplicating them; by default the nearest five of ``context.portfolio``.
    max_retries
        How many times failing cards are sent back to the quant with their problems.

    Returns
    -------
    CrewOutcome
        Accepted scenarios, rejected drafts with their problems, notes and prompts.

    Raises
    ------
    ValidationError
        ``n`` or ``max_retries`` is out of range.
    RunError
        The model or CrewAI failed; the message names the model.
    """
    issues = []
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 50:
        issues.append(Issue("n", f"must be a whole number from 1 to 50, got {n!r}"))
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        issues.append(Issue("max_retries", f"must be a whole number >= 0, got {max_retries!r}"))
    if issues:
        raise ValidationError(issues)
    model = resolve_llm(llm)
    if model is None:
        return CrewOutcome((), (), ("no language model configured: nothing drafted",), ())
    if not retrieved and context.portfolio is not None:
        query = " ".join(s.title for s in seeds) or _profile_query(context)
        retrieved = [s for s, _ in context.retrieve(query, k=5)]
    return _Run(context, n, model, tuple(evidence), tuple(seeds), tuple(retrieved)).go(max_retries)


def _profile_query(context: OrgContext) -> str:
    p = context.profile
    return f"{p.industry} {' '.join(p.regions)} {p.description}"


class _Run:
    """One drafting run: the prompts, the rounds and their bookkeeping."""

    def __init__(
        self,
        context: OrgContext,
        n: int,
        model: Any,
        evidence: tuple[Fact, ...],
        seeds: tuple[Scenario, ...],
        retrieved: tuple[Scenario, ...],
    ) -> None:
        self.context, self.n, self.model = context, n, model
        self.evidence, self.seeds, self.retrieved = evidence, seeds, retrieved
        self.name = model_name(model)
        self.taken: set[str] = set(context.portfolio.ids) if context.portfolio else set()
        self.accepted: list[Scenario] = []
        self.notes: list[str] = []
        self.prompts: list[str] = []
        crewai_environment()
        self.crewai = import_crewai()
        self.agents = {key: self._agent(key) for key in _ROLES}

    # -- building blocks --------------------------------------------------------------
    def _agent(self, key: str) -> Any:
        role, goal, backstory = _ROLES[key]
        return self.crewai.Agent(
            role=role,
            goal=goal,
            backstory=backstory,
            llm=self.model,
            allow_delegation=False,
            verbose=False,
            max_iter=3,
        )

    def _task(self, key: str, description: str, expected: str, **kw: Any) -> Any:
        role, goal, backstory = _ROLES[key]
        self.prompts.append(f"{role}. {backstory}\nGoal: {goal}\n\n{description}\n\n{expected}")
        return self.crewai.Task(
            description=description, expected_output=expected, agent=self.agents[key], **kw
        )

    def _kickoff(self, tasks: list[Any]) -> list[Any]:
        crewai_environment()
        crew = self.crewai.Crew(
            agents=list({id(t.agent): t.agent for t in tasks}.values()),
            tasks=tasks,
            process=self.crewai.Process.sequential,
            memory=False,
            verbose=False,
            tracing=False,
            share_crew=False,
            planning=False,
        )
        try:
            result = crew.kickoff()
        except Exception as err:
            raise RunError(
                f"the crew drafting scenarios with {self.name!r} failed: "
                f"{type(err).__name__}: {err}"
            ) from None
        return list(result.tasks_output)

    def _evidence_text(self) -> str:
        if not self.evidence:
            return "(none)"
        return "\n".join(_fact_line(f, self.context.currency) for f in self.evidence)

    def _context_text(self) -> str:
        parts = [f"The organisation:\n{self.context.describe()}"]
        if self.retrieved:
            parts.append(
                "Its existing scenarios most like what is asked (do not duplicate them):\n"
                + "\n".join(_scenario_line(s) for s in self.retrieved)
            )
        if self.seeds:
            parts.append(
                "Candidate scenarios to start from (adapt them to the organisation):\n"
                + "\n".join(_scenario_line(s) for s in self.seeds)
            )
        parts.append(f"Evidence facts (the only outside figures allowed):\n{self._evidence_text()}")
        taken = sorted(self.taken)
        parts.append(f"Taken scenario ids: {', '.join(taken) if taken else '(none)'}")
        return "\n\n".join(parts)

    # -- the rounds -------------------------------------------------------------------
    def go(self, max_retries: int) -> CrewOutcome:
        shared = self._context_text()
        analyst = self._task(
            "analyst",
            f"TASK: draft {self.n} new risk scenarios.\n\n{shared}\n\n"
            "For each: a title, the category, the trigger, how it unfolds through the "
            "organisation and its business impact, and how often and how costly it "
            "might be, in words.",
            f"{self.n} scenario drafts in plain words.",
        )
        quant = self._task(
            "quant",
            f"TASK: quantify the scenario drafts as {self.n} scenario cards.\n\n{shared}\n\n"
            f"{_CARD_RULES}\n{_GROUNDING_RULE}",
            "A JSON object with a 'cards' list.",
            context=[analyst],
            output_pydantic=CardDrafts,
            guardrail=_read_cards,
        )
        review = self._review_task(quant)
        outputs = self._kickoff([analyst, quant, review])
        pending = self._check(outputs[1], outputs[2], round_no=0)
        for attempt in range(1, max_retries + 1):
            if not pending or len(self.accepted) >= self.n:
                break
            retry = self._task(
                "quant",
                "TASK: correct the rejected scenario cards.\n\n"
                f"{shared}\n\n{_CARD_RULES}\n{_GROUNDING_RULE}\n\n"
                "These cards were rejected. Return a corrected version of each, fixing "
                "exactly the problems listed:\n\n" + _problem_list(pending),
                "A JSON object with a 'cards' list of the corrected cards.",
                output_pydantic=CardDrafts,
                guardrail=_read_cards,
            )
            review = self._review_task(retry)
            outputs = self._kickoff([retry, review])
            pending = self._check(outputs[0], outputs[1], round_no=attempt)
        rejected = tuple((draft, tuple(problems)) for draft, problems in pending)
        if rejected:
            self.notes.append(
                f"{len(rejected)} draft(s) still failed after {max_retries} retr"
                f"{'y' if max_retries == 1 else 'ies'} and were left out"
            )
        if len(self.accepted) < self.n:
            self.notes.append(f"{len(self.accepted)} of {self.n} scenarios drafted")
        return CrewOutcome(
            scenarios=tuple(self.accepted[: self.n]),
            rejected=rejected,
            notes=tuple(self.notes),
            prompts=tuple(self.prompts),
        )

    def _review_task(self, quant_task: Any) -> Any:
        return self._task(
            "reviewer",
            "TASK: review the scenario cards.\n\n"
            f"The organisation:\n{self.context.describe()}\n\n"
            f"Evidence facts:\n{self._evidence_text()}\n\n{_GROUNDING_RULE}\n\n"
            "For each card say whether it is plausible for this organisation and "
            "consistent with the evidence; list each problem precisely.",
            "A JSON object with a 'verdicts' list: one {id, ok, problems} per card.",
            context=[quant_task],
            output_pydantic=Review,
            guardrail=_read_review,
        )

    def _check(
        self, quant_out: Any, review_out: Any, *, round_no: int
    ) -> list[tuple[Any, list[str]]]:
        """Accept the cards that pass; return (draft, problems) for the others."""
        cards, problem = _cards_from(quant_out)
        if problem is not None:
            self.notes.append(f"round {round_no + 1}: {problem}")
            return [({"answer": str(getattr(quant_out, "raw", ""))[:2000]}, [problem])]
        objections = _objections_from(review_out)
        failed: list[tuple[Any, list[str]]] = []
        for card in cards:
            if len(self.accepted) >= self.n:
                self.notes.append(f"extra card {card.get('id')!r} beyond the {self.n} asked")
                continue
            problems = self._problems(card)
            card_id = card.get("id")
            problems += objections.get(card_id, []) if isinstance(card_id, str) else []
            if problems:
                failed.append((card, problems))
                continue
            scenario = Scenario(**card)
            self.accepted.append(scenario)
            self.taken.add(scenario.id)
        done = f"{len(cards) - len(failed)} card(s) accepted"
        self.notes.append(
            f"round 1: {done}, {len(failed)} sent back"
            if round_no == 0
            else f"retry {round_no}: {done}, {len(failed)} still failing"
        )
        return failed

    def _problems(self, card: dict[str, Any]) -> list[str]:
        try:
            scenario = Scenario(**card)
        except ValidationError as err:
            return [f"invalid card: {issue}" for issue in err.issues]
        except (TypeError, ValueError) as err:
            return [f"invalid card: {err}"]
        problems = []
        if scenario.id in self.taken:
            problems.append(f"id: {scenario.id!r} is already taken; choose a new id")
        report = check_grounding(scenario.narrative, [*self.evidence, *card_facts(scenario)])
        if not report.ok:
            problems.append(f"narrative: {report.describe()}")
        return problems


# -- reading the answers --------------------------------------------------------------
def _read_as(output: Any, model: type[BaseModel]) -> tuple[bool, Any]:
    """A task guardrail that reads the answer into ``model`` and never refuses it.

    With a guardrail, CrewAI skips its own conversion, which re-asks the model up to
    three times when the answer is not valid JSON and then fails the whole crew; here
    an unreadable answer stays raw, and the checks in code send it back.
    """
    if not isinstance(getattr(output, "pydantic", None), model):
        try:
            output.pydantic = model.model_validate(_json_in(str(output.raw or "")))
        except ValueError:
            output.pydantic = None
    return True, output


# Lambdas: CrewAI rejects a guardrail whose return annotation is a string (as every
# annotation is under ``from __future__ import annotations``).
_read_cards = lambda output: _read_as(output, CardDrafts)  # noqa: E731
_read_review = lambda output: _read_as(output, Review)  # noqa: E731


def _cards_from(output: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The quant's cards as card dicts, or a problem saying why there are none.

    The raw JSON is preferred, so that validation speaks of exactly what the model
    wrote; the parsed model is used when the answer came back as an object.
    """
    data = _json_in(str(getattr(output, "raw", "") or ""))
    cards = data.get("cards") if isinstance(data, Mapping) else None
    if isinstance(cards, list) and all(isinstance(c, Mapping) for c in cards):
        return [_drop_none(dict(c)) for c in cards], None
    parsed = getattr(output, "pydantic", None)
    if isinstance(parsed, CardDrafts):
        return [_drop_none(c.model_dump()) for c in parsed.cards], None
    return [], "the answer was not a JSON object with a 'cards' list of card objects"


def _objections_from(output: Any) -> dict[str, list[str]]:
    parsed = getattr(output, "pydantic", None)
    if not isinstance(parsed, Review):
        try:
            parsed = Review.model_validate(_json_in(str(getattr(output, "raw", "") or "")))
        except ValueError:
            return {}
    return {
        v.id: [f"reviewer: {p}" for p in (v.problems or ["rejected without a reason"])]
        for v in parsed.verdicts
        if not v.ok
    }


def _json_in(text: str) -> Any:
    match = re.search(r"\{.*\}", text, re.DOTALL)
    if match is None:
        return None
    try:
        return json.loads(match.group(), strict=False)
    except json.JSONDecodeError:
        return None


def _drop_none(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {k: _drop_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_drop_none(v) for v in value]
    return value


# -- facts and prompt lines -----------------------------------------------------------
_PROBABILITY_KEYS = {"p", "conf"}
_NUMBER_KEYS = {"mu", "sigma", "gamma", "shape", "r", "a", "b", "sd"}


def card_facts(scenario: Scenario) -> list[Fact]:
    """The figures a card's own narrative may cite: its parameters and simple summaries.

    Frequency parameters (``rate`` a rate, ``p`` a probability), severity parameters
    (money, ``conf`` a probability), the mean and median loss of one event, the
    expected annual loss and, for a Poisson frequency, the chance of at least one event
    in a year.
    """
    facts: list[Fact] = []
    for part in ("frequency", "severity"):
        for key, value in _numbers(getattr(scenario, part).to_dict(), part):
            leaf = key.rsplit(".", 1)[-1]
            if part == "frequency":
                kind = "rate" if leaf == "rate" else "probability" if leaf == "p" else "number"
            else:
                kind = (
                    "probability"
                    if leaf in _PROBABILITY_KEYS
                    else "number"
                    if leaf in _NUMBER_KEYS
                    else "money"
                )
            facts.append(Fact(key, value, kind))  # type: ignore[arg-type]
    sev = scenario.severity
    for name, compute in (
        ("severity.mean", sev.mean),
        ("severity.median", lambda: float(sev.ppf(0.5))),
        ("expected_annual_loss", scenario.expected_annual_loss),
    ):
        try:
            value = float(compute())
        except (ValueError, TypeError, AttributeError, ArithmeticError):
            continue
        if math.isfinite(value):
            facts.append(Fact(name, value, "money"))
    mean_events = scenario.frequency.mean()
    if scenario.frequency.dist == "poisson" and math.isfinite(mean_events):
        facts.append(Fact("frequency.p_any", 1.0 - math.exp(-mean_events), "probability"))
    return facts


def _numbers(data: Any, prefix: str) -> Iterable[tuple[str, float]]:
    if isinstance(data, Mapping):
        for key, value in data.items():
            yield from _numbers(value, f"{prefix}.{key}")
    elif isinstance(data, int | float) and not isinstance(data, bool) and math.isfinite(data):
        yield prefix, float(data)


def _fact_line(fact: Fact, currency: str) -> str:
    from riskbench.ai import humanize as hz

    if fact.kind == "money":
        shown = hz.money(fact.value, currency)
    elif fact.kind == "probability":
        shown = hz.percent(fact.value)
    elif fact.kind == "rate":
        shown = hz.rate(fact.value)
    else:
        shown = f"{fact.value:,.6g}"
    label = f" ({fact.label})" if fact.label else ""
    return f"- {fact.name}{label}: {shown}"


def _scenario_line(s: Scenario) -> str:
    narrative = " ".join(s.narrative.split())
    if len(narrative) > 400:
        narrative = narrative[:397] + "..."
    return (
        f"- {s.id}: {s.title} [{s.category}]; frequency {json.dumps(s.frequency.to_dict())}; "
        f"severity {json.dumps(s.severity.to_dict())}" + (f". {narrative}" if narrative else "")
    )


def _problem_list(pending: Sequence[tuple[Any, Sequence[str]]]) -> str:
    blocks = []
    for draft, problems in pending:
        blocks.append(
            f"Card: {json.dumps(draft, default=str)}\nProblems:\n"
            + "\n".join(f"- {p}" for p in problems)
        )
    return "\n\n".join(blocks)

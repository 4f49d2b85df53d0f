"""Suggested scenarios: candidate cards from what an organisation knows about itself.

:func:`suggest_scenarios` proposes scenarios from three sources, each a valid card
with a narrative, assumptions and their sources:

- **the dependency graph**: every single point of failure (a node whose outage of
  typical length loses more than :data:`SPOF_SHARE` of that period's revenue, or a
  single-source supplier) becomes an outage scenario, and every region on whose
  suppliers more than :data:`CONCENTRATION_SHARE` of revenue depends becomes a regional
  supply disruption. Their severity is the graph's propagated lost revenue
  (:meth:`~riskbench.DependencyGraph.outage_loss_distribution`) for an uncertain
  outage length, written as a PERT with the same mean and the same end points;
- **the incident history**: incidents that no scenario covers, per category, become a
  "recurring incidents" scenario whose frequency is the conjugate update of a vague
  prior with the observed counts and whose severity is fitted to the observed losses;
- **the archetype library** (:mod:`riskbench.ai.archetypes`): the archetypes that fit
  the organisation's industry and regions, scaled by its revenue.

Candidates that duplicate a scenario the organisation already has (same category and
either close in the similarity search or sharing an archetype keyword in the title)
are flagged in :attr:`Suggestions.duplicates`, not proposed. With a language model
configured, a CrewAI crew drafts the scenarios from the same evidence
(:mod:`riskbench.ai.crew`); drafts that do not validate are retried, then reported.

Examples
--------
>>> from riskbench.ai.context import load_context
>>> found = suggest_scenarios(load_context("examples/company.yaml"), n=6, llm=False)
>>> [s.origin for s in found][:2]
['graph', 'graph']
>>> found[0].id
'outage-plant-riverside'
>>> {d.id: d.duplicate_of for d in found.duplicates}["outage-valve-forgings"]
'single-source-supplier-failure'
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import yaml

from riskbench.ai import humanize as hz
from riskbench.ai.archetypes import Archetype, archetypes_for
from riskbench.ai.context import OrgContext
from riskbench.ai.facts import outage_days, outage_kind, typical_outage
from riskbench.ai.grounding import Fact
from riskbench.ai.narrate import Narrative, narrate
from riskbench.calibration import update_rate
from riskbench.dists import PERT, Gamma, LogNormal, Poisson
from riskbench.embed import scenario_text
from riskbench.errors import Issue, ValidationError
from riskbench.files import atomic_write_text
from riskbench.graph import DependencyGraph
from riskbench.graph.spec import Edge, Node
from riskbench.scenario import CATEGORIES, Assumption, Portfolio, Scenario

if TYPE_CHECKING:
    from riskbench.graph import OutageLoss

__all__ = [
    "SPOF_SHARE",
    "Suggestion",
    "Suggestions",
    "single_points_of_failure",
    "suggest_scenarios",
]

Origin = Literal["graph", "incidents", "archetype", "crew"]

#: Share of revenue lost in an outage of typical length that makes a node a single point
#: of failure.
SPOF_SHARE = 0.05
#: Share of revenue that must depend on one region's suppliers to suggest a regional scenario.
CONCENTRATION_SHARE = 0.10
#: Cosine distance below which a candidate of the same category duplicates a scenario.
DUPLICATE_DISTANCE = 0.35
_LIBRARY = "riskbench archetype library"
_LIBRARY_NOTE = (
    "riskbench library default for a mid-size organisation: an illustrative starting "
    "value, not a benchmark; calibrate with your own incident data (rb.calibrate)"
)

# Events a year and what happens, by outage kind (riskbench.ai.facts.OUTAGE_DAYS gives
# the outage length): the library's defaults for an outage of one node.
_OUTAGE_RATES: dict[str, tuple[float, str]] = {
    "supplier": (
        0.1,
        "the supplier stops delivering (insolvency, fire, quality stop or sanctions)",
    ),
    "supplier-single": (
        0.08,
        "the only qualified supplier stops delivering and a new source must be qualified",
    ),
    "site": (0.03, "the site stops (fire, flood, explosion or a regulator's order)"),
    "system": (0.3, "the system is down (failure, cyber attack or a failed change)"),
    "process": (0.2, "the process stops (staff, system or supply failure)"),
}
_REGIONAL = ((14.0, 45.0, 120.0), 0.04)
_CATEGORY_OF_KIND = {
    "supplier": "supply-chain",
    "site": "operational",
    "system": "operational",
    "process": "operational",
}


@dataclass(frozen=True)
class Suggestion:
    """One suggested scenario and why it was suggested.

    Attributes
    ----------
    scenario
        A valid card (``scenario.narrative`` describes what happens).
    origin
        ``"graph"``, ``"incidents"``, ``"archetype"`` or ``"crew"``.
    rationale
        Why it is suggested, in one sentence.
    narrative
        The board narrative of the scenario (the offline narrator's).
    expected_annual_loss
        Its expected annual loss before insurance, for ranking.
    duplicate_of, distance
        The existing scenario it duplicates and their cosine distance (None when new).
    """

    scenario: Scenario
    origin: Origin
    rationale: str
    narrative: Narrative | None = None
    expected_annual_loss: float = 0.0
    duplicate_of: str | None = None
    distance: float | None = None

    @property
    def id(self) -> str:
        """The scenario's id."""
        return self.scenario.id


@dataclass(frozen=True)
class Suggestions(Sequence[Suggestion]):
    """The proposed scenarios (a sequence of :class:`Suggestion`), the flagged
    duplicates, and notes on how they were made."""

    suggestions: tuple[Suggestion, ...]
    duplicates: tuple[Suggestion, ...] = ()
    notes: tuple[str, ...] = ()
    method: str = "offline"
    profile_name: str = ""
    currency: str = "EUR"
    rejected: tuple[tuple[Any, tuple[str, ...]], ...] = field(default=())

    def __len__(self) -> int:
        return len(self.suggestions)

    def __getitem__(self, i: Any) -> Any:
        return self.suggestions[i]

    def __iter__(self) -> Iterator[Suggestion]:
        return iter(self.suggestions)

    def portfolio(self) -> Portfolio:
        """The suggested scenarios as a portfolio (no correlation), with the header
        that :meth:`to_yaml` writes."""
        header = self._header()
        return Portfolio([s.scenario for s in self.suggestions], **header)

    def _header(self) -> dict[str, str]:
        return {
            "name": f"Suggested scenarios for {self.profile_name}".strip(),
            "currency": self.currency,
            "description": (
                f"Drafted by riskbench ({self.method}): candidates to review, refine "
                "and simulate, not an approved register."
            ),
        }

    def table(self) -> pd.DataFrame:
        """One row per suggestion and per flagged duplicate."""
        rows = [
            {
                "id": s.id,
                "title": s.scenario.title,
                "category": s.scenario.category,
                "origin": s.origin,
                "expected_annual_loss": s.expected_annual_loss,
                "duplicate_of": s.duplicate_of,
                "rationale": s.rationale,
            }
            for s in (*self.suggestions, *self.duplicates)
        ]
        return pd.DataFrame(rows).set_index("id") if rows else pd.DataFrame()

    def to_yaml(self) -> str:
        """A scenario card file of the suggestions, with how each was found as a comment."""
        parts = [yaml.safe_dump(self._header(), sort_keys=False, allow_unicode=True, width=88)]
        parts.append("scenarios:\n")
        for s in self.suggestions:
            card = yaml.safe_dump(
                [s.scenario.to_dict()], sort_keys=False, allow_unicode=True, width=88
            )
            note = f"  # {s.origin}: {s.rationale}".replace("\n", " ")
            parts.append(note + "\n" + "".join("  " + line + "\n" for line in card.splitlines()))
        return "".join(parts)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_yaml` to ``path`` atomically; it loads with
        :func:`~riskbench.load_portfolio`."""
        text = self.to_yaml()
        Portfolio.from_yaml(text)  # never write a file that would not load
        return atomic_write_text(path, text)


# -- helpers ------------------------------------------------------------------------------
def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return slug[:60].rstrip("-") or "scenario"


def _unique(base: str, taken: set[str]) -> str:
    out, i = base, 2
    while out in taken:
        out, i = f"{base}-{i}", i + 1
    taken.add(out)
    return out


def _label(node: str) -> str:
    return node.upper() if len(node) <= 4 else node.replace("-", " ")


def _pert_matching(loss: OutageLoss, days: PERT) -> PERT | None:
    """The PERT in money with the graph loss at the days' low and high as end points
    and the mode that gives the graph loss's mean; None if the loss is always zero."""
    low, high = (float(x) for x in loss.loss_at(np.array([days.low, days.high])))
    if not high > low:
        return None
    mean = loss.mean()
    mode = min(max((6.0 * mean - low - high) / 4.0, low), high)
    return PERT(low=round(low, -2), mode=round(mode, -2), high=round(high, -2))


# -- (a) the dependency graph ---------------------------------------------------------
def _graph_outage(
    ctx: OrgContext, graph: DependencyGraph, node: Node, share: float, taken: set[str]
) -> Suggestion | None:
    days = typical_outage(node)
    rate, how = _OUTAGE_RATES[outage_kind(node)]
    loss = graph.outage_loss_distribution(node.id, days)
    severity = _pert_matching(loss, days)
    if severity is None:
        return None
    cur = ctx.currency
    label = _label(node.id)
    typical = outage_days(graph, node.id)
    impact = graph.outage(node.id, typical)
    hit = impact.lost_revenue[impact.lost_revenue > 0].sort_values(ascending=False)
    lines = hz.join([_label(str(x)) for x in hit.index])
    region = f" in {node.attrs['region']}" if "region" in node.attrs else ""
    single = " (single source)" if node.attrs.get("single_source") else ""
    title = f"{node.kind.capitalize()} outage: {label}{single}"
    narrative = (
        f"The {label} {node.kind}{region} goes down: {how}. Through the dependency graph the "
        f"shortfall reaches {lines}; buffers and alternative sources soften it and restarts "
        "prolong it. The loss is the revenue lost while output is short."
    )
    assumptions = (
        Assumption(
            name="outage length",
            text=f"{hz.days(days.low)} to {hz.days(days.high)}, most likely "
            f"{hz.days(days.mode)} (PERT)",
            rationale="the node's recovery time where the graph gives one, else the "
            f"library's default for a {node.kind}",
            source=f"dependency graph{'' if not graph.name else ': ' + graph.name}; {_LIBRARY}",
        ),
        Assumption(
            name="severity from the graph",
            text=f"lost revenue propagated day by day through the dependency graph for that "
            f"outage length: mean {hz.money(loss.mean(), cur)}; the card's PERT has the same "
            f"mean and the graph's loss at the shortest and longest outage as its ends",
            rationale="buffers, alternative sources and restarts of every downstream node "
            "are in the propagation; lost revenue, not margin, is counted",
            source="riskbench dependency-graph propagation (DependencyGraph."
            "outage_loss_distribution)",
        ),
        Assumption(
            name="event rate",
            text=f"{hz.rate(rate)} for an outage of this {node.kind}",
            rationale=_LIBRARY_NOTE,
            source=_LIBRARY,
        ),
    )
    scenario = Scenario(
        id=_unique(_slug(f"outage-{node.id}"), taken),
        title=title,
        category=_CATEGORY_OF_KIND.get(node.kind, "operational"),
        frequency=Poisson(rate=rate),
        severity=severity,
        narrative=narrative,
        assumptions=assumptions,
        assets=(node.id,),
    )
    why = (
        f"{label[:1].upper()}{label[1:]} is a single point of failure: a {typical:g}-day "
        "outage loses "
        f"{hz.money(impact.total_lost_revenue, cur)} of revenue ({hz.percent(share)} of "
        "that period's revenue)"
    )
    return Suggestion(scenario, "graph", why)


def _regional(
    ctx: OrgContext,
    graph: DependencyGraph,
    region: str,
    members: list[str],
    share: float,
    taken: set[str],
) -> Suggestion | None:
    hub = _unique(f"region-{_slug(region)}", {n.id for n in graph.nodes})
    nodes = [*graph.nodes, Node(id=hub, kind="supplier")]
    edges = [*graph.edges, *(Edge(source=hub, target=m, share=1.0) for m in members)]
    joint = DependencyGraph(nodes, edges, name=graph.name, currency=graph.currency)
    (lo, mode, hi), rate = _REGIONAL
    days = PERT(low=lo, mode=mode, high=hi)
    loss = joint.outage_loss_distribution(hub, days)
    severity = _pert_matching(loss, days)
    if severity is None:
        return None
    cur = ctx.currency
    names = hz.join([_label(m) for m in members])
    scenario = Scenario(
        id=_unique(f"regional-supply-disruption-{_slug(region)}", taken),
        title=f"Regional supply disruption in {region}",
        category="supply-chain",
        frequency=Poisson(rate=rate),
        severity=severity,
        narrative=(
            f"A regional crisis in {region} (a natural disaster, conflict, export "
            f"restrictions or an energy shortage) stops all the suppliers there at once: "
            f"{names}. Their alternative sources cover part of the gap after a delay; the "
            "rest reaches production and revenue through the dependency graph."
        ),
        assumptions=(
            Assumption(
                name="concentration",
                text=f"{hz.percent(share)} of revenue per day depends structurally on "
                f"suppliers in {region}",
                source="dependency graph concentration by region (DependencyGraph.concentration)",
            ),
            Assumption(
                name="outage length",
                text=f"{hz.days(lo)} to {hz.days(hi)}, most likely {hz.days(mode)} (PERT), "
                "all suppliers in the region at once",
                rationale=_LIBRARY_NOTE,
                source=_LIBRARY,
            ),
            Assumption(
                name="severity from the graph",
                text=f"lost revenue propagated through the graph: mean "
                f"{hz.money(loss.mean(), cur)}; PERT with the same mean and end points",
                source="riskbench dependency-graph propagation",
            ),
            Assumption(
                name="event rate", text=hz.rate(rate), rationale=_LIBRARY_NOTE, source=_LIBRARY
            ),
        ),
        assets=tuple(members),
    )
    why = (
        f"{hz.percent(share)} of revenue depends on "
        f"{hz.count(len(members), 'supplier')} in {region}"
    )
    return Suggestion(scenario, "graph", why)


def single_points_of_failure(graph: DependencyGraph) -> list[tuple[Node, float]]:
    """Nodes whose outage of typical length (:func:`~riskbench.ai.facts.outage_days`)
    loses more than :data:`SPOF_SHARE` of that period's revenue, and single-source
    suppliers whose outage loses any: ``(node, share lost)``, largest loss first."""
    found = []
    for node in graph.nodes:
        if node.kind not in _CATEGORY_OF_KIND:
            continue
        days = outage_days(graph, node.id)
        lost = graph.outage(node.id, days).total_lost_revenue
        share = lost / (graph.revenue_per_day * days)
        if share > SPOF_SHARE or (node.attrs.get("single_source") and lost > 0):
            found.append((node, share, lost))
    found.sort(key=lambda t: (-t[2], t[0].id))
    return [(n, share) for n, share, _ in found]


def _from_graph(ctx: OrgContext, taken: set[str]) -> list[Suggestion]:
    graph = ctx.graph
    if graph is None or graph.revenue_per_day <= 0:
        return []
    out = []
    for node, share in single_points_of_failure(graph):
        found = _graph_outage(ctx, graph, node, share, taken)
        if found is not None:
            out.append(found)
    suppliers = [n for n in graph.nodes if n.kind == "supplier" and "region" in n.attrs]
    groups: dict[str, list[str]] = {}
    for n in suppliers:
        groups.setdefault(str(n.attrs["region"]), []).append(n.id)
    spof_ids = {a for c in out for a in c.scenario.assets}
    for region, members in sorted(groups.items()):
        if set(members) <= spof_ids:
            continue  # its single point of failure's scenario covers it
        exposure = graph.exposure(members)
        share = sum(n.revenue_per_day * exposure[n.id] for n in graph.nodes) / graph.revenue_per_day
        if share >= CONCENTRATION_SHARE:
            found = _regional(ctx, graph, region, members, share, taken)
            if found is not None:
                out.append(found)
    return out


# -- (b) the incident history -----------------------------------------------------------
def _pattern(descriptions: pd.Series) -> list[str]:
    cleaned = (
        descriptions.astype(str)
        .str.replace(r"\d+", " ", regex=True)
        .str.replace(r"\s+", " ", regex=True)
        .str.strip()
    )
    return [str(x) for x in cleaned.value_counts().index[:3] if x]


def _from_incidents(ctx: OrgContext, taken: set[str]) -> list[Suggestion]:
    inc = ctx.incidents
    if inc is None or inc.empty:
        return []
    known = set(ctx.portfolio.ids) if ctx.portfolio is not None else set()
    years = pd.to_datetime(inc["occurred_on"]).dt.year
    first, last = int(years.min()), int(years.max())
    exposure = last - first + 1
    linked = inc["scenario_id"].astype(str).isin(known)
    out = []
    for category, rows in inc[~linked].groupby("category", sort=True):
        n = len(rows)
        if n < 3:
            continue
        prior = Gamma(shape=0.5, rate=0.05)  # vague: mean 10 a year, sd about 14
        post = update_rate(prior, count=n, exposure_years=exposure)
        logs = np.log(rows["loss"].astype(float).clip(lower=1.0).to_numpy())
        mu, sigma = float(logs.mean()), float(max(logs.std(ddof=1), 0.1))
        severity = LogNormal(mu=round(mu, 4), sigma=round(sigma, 4))
        cur = ctx.currency
        examples = _pattern(rows["description"]) if "description" in rows else []
        what = f" such as {hz.join(examples)}" if examples else ""
        cat = str(category) if str(category) in CATEGORIES else "other"
        scenario = Scenario(
            id=_unique(f"recurring-{_slug(str(category))}-incidents", taken),
            title=f"Recurring {category} incidents outside the register",
            category=cat,
            frequency=post.predictive,
            severity=severity,
            narrative=(
                f"Small {category} incidents{what} keep happening without a scenario in the "
                "register. Each is minor, but together they are a steady annual cost that "
                "the register does not show."
            ),
            assumptions=(
                Assumption(
                    name="calibration: frequency",
                    text=post.describe(),
                    rationale="conjugate update of a vague prior (Gamma(0.5, 0.05)) with "
                    "the incidents no register scenario covers",
                    source=f"incident log {first}-{last} ({hz.count(n, 'incident')})",
                ),
                Assumption(
                    name="severity fit",
                    text=f"log-normal fitted to the {hz.count(n, 'recorded loss')}: "
                    f"median {hz.money(math.exp(mu), cur)}",
                    rationale="moments of the log-losses; refit with rb.fit_severity for "
                    "a Bayesian fit with a reporting threshold",
                    source=f"incident log {first}-{last}",
                ),
            ),
        )
        why = (
            f"{hz.count(n, 'incident')} in {hz.count(exposure, 'year')} of record are "
            "not covered by any scenario"
        )
        out.append(Suggestion(scenario, "incidents", why))
    return out


# -- (c) the archetype library -------------------------------------------------------------
def _archetype_assets(arch: Archetype, graph: DependencyGraph | None) -> tuple[str, ...]:
    if graph is None or not arch.node_kinds:
        return ()
    candidates = [n for n in graph.nodes if n.kind in arch.node_kinds]
    if not candidates:
        return ()
    best = max(candidates, key=lambda n: (graph.outage(n.id, 7).total_lost_revenue, n.id))
    return (best.id,)


def _from_archetypes(ctx: OrgContext, taken: set[str]) -> list[Suggestion]:
    profile = ctx.profile
    if ctx.annual_revenue is None:
        return []
    if profile.annual_revenue is None:
        profile = replace(profile, annual_revenue=ctx.annual_revenue)
    out = []
    for arch, score in archetypes_for(profile):
        scenario = arch.to_scenario(
            profile,
            id=_unique(arch.id, taken),
            assets=_archetype_assets(arch, ctx.graph),
        )
        why = (
            f"library archetype for {profile.industry} in {hz.join(list(profile.regions))} "
            f"({arch.theme}; fit {score:.1f})"
        )
        out.append(Suggestion(scenario, "archetype", why))
    return out


# -- duplicates, ranking ----------------------------------------------------------------
def _keywords(s: Suggestion) -> tuple[str, ...]:
    from riskbench.ai.archetypes import load_archetypes

    if s.origin != "archetype":
        return ()
    by_id = {a.id: a for a in load_archetypes()}
    base = re.sub(r"-\d+$", "", s.id)
    return by_id[base].keywords if base in by_id else ()


def _duplicate(ctx: OrgContext, s: Suggestion) -> tuple[str, float] | None:
    """The existing scenario ``s`` duplicates, and their cosine distance; None if new.

    Only an existing scenario of the same category can be a duplicate: one that is
    close in the similarity search (distance below :data:`DUPLICATE_DISTANCE`),
    has the same id as the archetype, shares two or more of the archetype's
    keywords, or (for a graph scenario) already covers its assets.
    """
    if ctx.portfolio is None or not ctx.portfolio.scenarios:
        return None
    hits = ctx.retrieve(scenario_text(s.scenario), k=5)
    distances = {e.id: d for e, d in hits}
    for existing, distance in hits:
        if existing.category == s.scenario.category and distance < DUPLICATE_DISTANCE:
            return existing.id, distance
    keywords = [k.lower().replace("-", " ") for k in _keywords(s)]
    base = re.sub(r"-\d+$", "", s.id)
    best: tuple[int, str] | None = None
    for existing in ctx.portfolio.scenarios:
        if existing.category != s.scenario.category:
            continue
        if s.origin == "archetype" and existing.id == base:
            return existing.id, distances.get(existing.id, math.nan)
        if (
            s.origin == "graph"
            and s.scenario.assets
            and set(s.scenario.assets) <= set(existing.assets)
        ):
            return existing.id, distances.get(existing.id, math.nan)
        words = f"{existing.id} {existing.title} {existing.narrative}".lower().replace("-", " ")
        shared = sum(1 for k in keywords if re.search(rf"\b{re.escape(k)}", words))
        if shared >= 2 and (best is None or shared > best[0]):
            best = (shared, existing.id)
    if best is not None:
        return best[1], distances.get(best[1], math.nan)
    return None


def _split_duplicates(
    ctx: OrgContext, candidates: Sequence[Suggestion]
) -> tuple[list[Suggestion], list[Suggestion]]:
    """The new candidates, and the duplicates with what they duplicate."""
    fresh, dups = [], []
    for c in candidates:
        found = _duplicate(ctx, c)
        if found is None:
            fresh.append(c)
        else:
            dups.append(replace(c, duplicate_of=found[0], distance=found[1]))
    return fresh, dups


def _diverse(candidates: list[Suggestion], n: int) -> list[Suggestion]:
    """A varied selection of ``n``: up to a third from the graph and a fifth from the
    incidents (largest expected loss first), then archetypes one category at a time
    (each category's best fit first), then whatever is left in that order."""

    def by_loss(origin: str) -> list[Suggestion]:
        found = [c for c in candidates if c.origin == origin]
        return sorted(found, key=lambda c: -c.expected_annual_loss)

    graph, incidents = by_loss("graph"), by_loss("incidents")
    picked = graph[: math.ceil(n / 3)] + incidents[: math.ceil(n / 5)]
    queues: dict[str, list[Suggestion]] = {}
    for c in candidates:
        if c.origin == "archetype":
            queues.setdefault(c.scenario.category, []).append(c)
    while len(picked) < n and any(queues.values()):
        for q in queues.values():
            if q and len(picked) < n:
                picked.append(q.pop(0))
    for c in graph + incidents:
        if len(picked) >= n:
            break
        if c not in picked:
            picked.append(c)
    return picked[:n]


def _evidence(ctx: OrgContext, candidates: Sequence[Suggestion]) -> list[Fact]:
    facts = []
    for c in candidates:
        s = c.scenario
        low, mid, high = (float(x) for x in s.severity.ppf(np.array([0.05, 0.5, 0.95])))
        facts += [
            Fact(f"{s.id}.rate", s.frequency.mean(), "rate", f"{s.title}: events a year"),
            Fact(f"{s.id}.p05", low, "money", f"{s.title}: 5th percentile loss"),
            Fact(f"{s.id}.p50", mid, "money", f"{s.title}: median loss"),
            Fact(f"{s.id}.p95", high, "money", f"{s.title}: 95th percentile loss"),
        ]
    revenue = ctx.annual_revenue
    if revenue is not None:
        facts.append(Fact("org.annual_revenue", revenue, "money", "annual revenue"))
    return facts


def suggest_scenarios(
    workspace_or_context: Any,
    n: int = 10,
    *,
    llm: Any = None,
    logs: Any = None,
    graph: DependencyGraph | None = None,
) -> Suggestions:
    """Candidate scenarios for an organisation, as valid cards with narratives.

    Parameters
    ----------
    workspace_or_context
        An :class:`~riskbench.ai.context.OrgContext`, or a
        :class:`~riskbench.Workspace` (its stored profile, scenarios, assets and
        similarity search; ``logs`` adds its incidents from a log store).
    n
        How many scenarios to propose (duplicates are flagged on top).
    llm
        None: the model configured by ``RISKBENCH_LLM`` (the offline path when none
        is); False: always offline; or a CrewAI LLM object.
    logs, graph
        With a workspace: the :class:`~riskbench.LogStore` of its incidents and a
        graph to use instead of the one built from its assets.

    Returns
    -------
    Suggestions
        A sequence of :class:`Suggestion`, best first; ``.duplicates`` holds the
        candidates that duplicate an existing scenario; ``.save(path)`` writes a card.
    """
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 200:
        raise ValidationError([Issue("n", f"must be a whole number from 1 to 200, got {n!r}")])
    if isinstance(workspace_or_context, OrgContext):
        ctx = workspace_or_context
    elif hasattr(workspace_or_context, "similar") and hasattr(workspace_or_context, "org"):
        ctx = OrgContext.from_workspace(workspace_or_context, logs=logs, graph=graph)
    else:
        raise ValidationError(
            [
                Issue(
                    "workspace_or_context",
                    "must be an OrgContext or a Workspace, got "
                    f"{type(workspace_or_context).__name__}",
                )
            ]
        )
    taken = set(ctx.portfolio.ids) if ctx.portfolio is not None else set()
    candidates = (
        _from_graph(ctx, taken) + _from_incidents(ctx, taken) + _from_archetypes(ctx, taken)
    )
    candidates = [
        replace(c, expected_annual_loss=c.scenario.expected_annual_loss()) for c in candidates
    ]
    fresh, dups = _split_duplicates(ctx, candidates)
    chosen = _diverse(fresh, n)
    notes: list[str] = []
    method = "offline"

    from riskbench.ai.llm import model_name, model_or_offline

    model, note = model_or_offline(llm)
    if note is not None:
        notes.append(note)
    if model is not None:
        from riskbench.ai.crew import draft_scenarios

        retrieved = [s for s, _ in ctx.retrieve(ctx.describe(), k=5)]
        outcome = draft_scenarios(
            ctx,
            n,
            model,
            evidence=_evidence(ctx, chosen),
            seeds=[c.scenario for c in chosen],
            retrieved=retrieved,
        )
        notes.extend(outcome.notes)
        drafted = [
            Suggestion(
                s,
                "crew",
                "drafted by the CrewAI crew from the organisation's context",
                expected_annual_loss=s.expected_annual_loss(),
            )
            for s in outcome.scenarios
        ]
        kept, flagged = _split_duplicates(ctx, drafted)
        dups += flagged
        if len(kept) < n:
            ids = {k.id for k in kept}
            fill = [c for c in chosen if c.id not in ids][: n - len(kept)]
            if fill:
                notes.append(
                    f"the crew produced {hz.count(len(kept), 'usable draft')}; "
                    f"{hz.count(len(fill), 'offline suggestion')} fill the rest"
                )
            kept += fill
        chosen = kept
        method = f"crew:{model_name(model)}"
        rejected = outcome.rejected
    else:
        rejected = ()
    with_text = [
        replace(
            c,
            narrative=narrate(
                c.scenario,
                currency=ctx.currency,
                graph=ctx.graph,
                incidents=ctx.incidents,
                llm=False,
            ),
        )
        for c in chosen
    ]
    return Suggestions(
        suggestions=tuple(with_text),
        duplicates=tuple(dups),
        notes=tuple(notes),
        method=method,
        profile_name=ctx.profile.name,
        currency=ctx.currency,
        rejected=tuple(rejected),
    )

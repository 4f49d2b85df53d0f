"""What an organisation knows about itself: the input of narratives and suggestions.

An :class:`OrgProfile` says who the organisation is (industry, regions, currency,
size); an :class:`OrgContext` adds what it has recorded: its dependency graph, its
incident history and the scenarios it already has. Build one by hand, from a company
file (:func:`load_context`) or from a workspace (:meth:`OrgContext.from_workspace`).
Only the organisation's own data is in a context: that is all a prompt is built from.

Examples
--------
>>> ctx = load_context("examples/company.yaml")
>>> ctx.profile.industry, ctx.profile.currency
('manufacturing', 'EUR')
>>> ctx.retrieve("ransomware encrypts the ERP", k=1)[0][0].id
'ransomware-erp'
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from riskbench.errors import Issue, ValidationError
from riskbench.files import read_yaml

if TYPE_CHECKING:
    from riskbench.graph import DependencyGraph
    from riskbench.scenario import Portfolio, Scenario

__all__ = ["INDUSTRIES", "REGIONS", "OrgContext", "OrgProfile", "load_context"]

INDUSTRIES: tuple[str, ...] = (
    "manufacturing",
    "financial-services",
    "healthcare",
    "retail",
    "technology",
    "energy",
    "logistics",
    "public-sector",
    "professional-services",
    "telecom",
)
REGIONS: tuple[str, ...] = ("EU", "UK", "US", "APAC", "LATAM", "MEA")
INCIDENT_COLUMNS = ("occurred_on", "category", "scenario_id", "loss")

SimilarFn = Callable[[str, int], list[tuple[str, float]]]


@dataclass(frozen=True)
class OrgProfile:
    """Who the organisation is: what archetypes are matched to and severities scaled by.

    Parameters
    ----------
    name
        The organisation's name, as narratives write it.
    industry
        One of :data:`INDUSTRIES`.
    regions
        Where it operates: names from :data:`REGIONS`.
    currency
        ISO code of its reporting currency (three capital letters).
    annual_revenue
        Revenue a year in ``currency``; scales archetype severities. None: unknown.
    employees, description
        For prompts and narratives.
    """

    name: str
    industry: str
    regions: tuple[str, ...]
    currency: str = "EUR"
    annual_revenue: float | None = None
    employees: int | None = None
    description: str = ""

    def __post_init__(self) -> None:
        issues = []
        if not isinstance(self.name, str) or not self.name.strip():
            issues.append(Issue("name", f"must be a non-empty name, got {self.name!r}"))
        if self.industry not in INDUSTRIES:
            issues.append(
                Issue("industry", f"must be one of {', '.join(INDUSTRIES)}; got {self.industry!r}")
            )
        regions = tuple(self.regions) if isinstance(self.regions, list | tuple) else ()
        bad = [r for r in regions if r not in REGIONS]
        if not regions or bad:
            issues.append(
                Issue(
                    "regions",
                    f"must be a non-empty list of {', '.join(REGIONS)}; got {self.regions!r}",
                )
            )
        object.__setattr__(self, "regions", regions)
        if not (
            isinstance(self.currency, str) and len(self.currency) == 3 and self.currency.isupper()
        ):
            issues.append(
                Issue(
                    "currency",
                    f"must be a three-letter ISO code such as EUR, got {self.currency!r}",
                )
            )
        revenue = self.annual_revenue
        if revenue is not None and not (
            isinstance(revenue, int | float) and math.isfinite(revenue) and revenue > 0
        ):
            issues.append(Issue("annual_revenue", f"must be a positive amount, got {revenue!r}"))
        staff = self.employees
        if staff is not None and (
            isinstance(staff, bool) or not isinstance(staff, int) or staff < 1
        ):
            issues.append(Issue("employees", f"must be a positive whole number, got {staff!r}"))
        if issues:
            raise ValidationError(issues)

    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None) -> OrgProfile:
        """A profile from its YAML form (the keys are the parameters)."""
        if not isinstance(data, Mapping):
            raise ValidationError([Issue("profile", "must be a mapping")], source=source)
        allowed = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValidationError(
                [
                    Issue(f"profile.{k}", f"unknown key; allowed: {sorted(allowed)}")
                    for k in unknown
                ],
                source=source,
            )
        missing = sorted({"name", "industry", "regions"} - set(data))
        if missing:
            raise ValidationError(
                [Issue(f"profile.{k}", "is required") for k in missing], source=source
            )
        try:
            return cls(**dict(data))
        except ValidationError as err:
            raise ValidationError(
                [Issue(f"profile.{i.loc}", i.message) for i in err.issues], source=source
            ) from None

    def to_dict(self) -> dict[str, Any]:
        """The YAML form."""
        out: dict[str, Any] = {
            "name": self.name,
            "industry": self.industry,
            "regions": list(self.regions),
            "currency": self.currency,
        }
        if self.annual_revenue is not None:
            out["annual_revenue"] = self.annual_revenue
        if self.employees is not None:
            out["employees"] = self.employees
        if self.description:
            out["description"] = self.description
        return out


@dataclass(frozen=True)
class OrgContext:
    """An organisation's profile and what it has recorded.

    Parameters
    ----------
    profile
        Who it is.
    graph
        Its dependency graph, if it has one.
    incidents
        Its incident history: columns ``occurred_on``, ``category``, ``scenario_id``
        (empty when no scenario covers the incident) and ``loss``.
    portfolio
        The scenarios it already has (suggestions that duplicate one are flagged).
    similar
        ``(text, k) -> [(scenario_id, cosine distance)]`` over its own stored
        scenarios (a workspace's :meth:`~riskbench.Workspace.similar`); without it,
        :meth:`retrieve` compares wording with a lexical embedder.
    org
        The organisation's id in the stores, if any.
    """

    profile: OrgProfile
    graph: DependencyGraph | None = None
    incidents: pd.DataFrame | None = None
    portfolio: Portfolio | None = None
    similar: SimilarFn | None = field(default=None, repr=False, compare=False)
    org: str | None = None

    def __post_init__(self) -> None:
        if self.incidents is not None:
            missing = [c for c in INCIDENT_COLUMNS if c not in self.incidents.columns]
            if missing:
                raise ValidationError(
                    [
                        Issue(
                            "incidents",
                            f"needs columns {list(INCIDENT_COLUMNS)}; missing {missing}, "
                            f"found {list(self.incidents.columns)}",
                        )
                    ]
                )

    @property
    def currency(self) -> str:
        """The organisation's currency."""
        return self.profile.currency

    @property
    def annual_revenue(self) -> float | None:
        """Revenue a year: the profile's figure, else the graph's revenue per day x 365."""
        if self.profile.annual_revenue is not None:
            return self.profile.annual_revenue
        if self.graph is not None and self.graph.revenue_per_day > 0:
            return self.graph.revenue_per_day * 365.0
        return None

    def retrieve(self, text: str, k: int = 5) -> list[tuple[Scenario, float]]:
        """The ``k`` existing scenarios nearest to ``text``: ``(scenario, distance)``,
        nearest first; distance is the cosine distance (0 = same wording)."""
        if self.portfolio is None or not self.portfolio.scenarios:
            return []
        by_id = {s.id: s for s in self.portfolio.scenarios}
        if self.similar is not None:
            hits = self.similar(text, k)
            return [(by_id[sid], d) for sid, d in hits if sid in by_id]
        from riskbench.embed import LexicalEmbedder, scenario_text

        embedder = LexicalEmbedder()
        ids = list(by_id)
        vectors = embedder.embed([scenario_text(by_id[i]) for i in ids])
        query = embedder.embed([text])[0]
        distance = 1.0 - vectors @ query
        order = np.argsort(distance, kind="stable")[:k]
        return [(by_id[ids[i]], float(distance[i])) for i in order]

    def describe(self) -> str:
        """A plain-text summary of the context, for prompts."""
        p = self.profile
        lines = [
            f"Organisation: {p.name}",
            f"Industry: {p.industry}; regions: {', '.join(p.regions)}; currency: {p.currency}",
        ]
        revenue = self.annual_revenue
        if revenue is not None:
            lines.append(f"Annual revenue: {p.currency} {revenue:,.0f}")
        if p.employees is not None:
            lines.append(f"Employees: {p.employees:,}")
        if p.description:
            lines.append(f"About: {p.description}")
        if self.portfolio is not None:
            lines.append(f"Existing scenarios: {len(self.portfolio.scenarios)}")
        if self.incidents is not None and not self.incidents.empty:
            years = pd.to_datetime(self.incidents["occurred_on"]).dt.year
            lines.append(
                f"Incident history: {len(self.incidents):,} incidents, "
                f"{int(years.min())} to {int(years.max())}"
            )
        if self.graph is not None:
            lines.append(
                f"Dependency graph: {len(self.graph.nodes)} nodes, {len(self.graph.edges)} edges"
            )
        return "\n".join(lines)

    @classmethod
    def from_workspace(
        cls,
        ws: Any,
        *,
        logs: Any = None,
        graph: DependencyGraph | None = None,
        profile: OrgProfile | None = None,
    ) -> OrgContext:
        """The context of a workspace's organisation.

        Its stored profile (:meth:`~riskbench.Workspace.set_profile`) unless
        ``profile`` is given; its scenarios, found with the workspace's own
        similarity search; its graph from its assets unless ``graph`` is given; its
        incidents from ``logs`` (a :class:`~riskbench.LogStore`) if given.
        """
        from riskbench.graph import DependencyGraph

        prof = profile if profile is not None else ws.profile()
        if prof is None:
            raise ValidationError(
                [
                    Issue(
                        "profile",
                        f"organisation {ws.org!r} has no profile: store one with "
                        "ws.set_profile(OrgProfile(...)) or pass profile= (from the "
                        "command line: riskbench suggest --workspace ORG --context FILE "
                        "--save-profile)",
                    )
                ]
            )
        if graph is None and not ws.assets().empty:
            graph = DependencyGraph.from_workspace(ws, currency=prof.currency)
        incidents = None
        if logs is not None:
            incidents = logs.loss_samples(ws.org)[list(INCIDENT_COLUMNS)]
        portfolio = None
        if ws.scenarios():
            portfolio = ws.portfolio(name=f"{prof.name} register", currency=prof.currency)
        return cls(
            profile=prof,
            graph=graph,
            incidents=incidents,
            portfolio=portfolio,
            similar=ws.similar,
            org=ws.org,
        )


def load_context(path: str | Path) -> OrgContext:
    """A context from a company file: a ``profile`` and, relative to the file, the
    paths of its ``register`` (scenario card), ``graph`` (dependency graph YAML) and
    ``incidents`` (a CSV with the incident columns), each optional."""
    from riskbench.cards import load_portfolio
    from riskbench.graph import DependencyGraph

    path = Path(path)
    data, source = read_yaml(path)
    if not isinstance(data, Mapping):
        raise ValidationError([Issue("file", "must be a mapping with a profile")], source=source)
    allowed = {"profile", "register", "graph", "incidents"}
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ValidationError(
            [Issue(k, f"unknown key; allowed: {sorted(allowed)}") for k in unknown], source=source
        )
    profile = OrgProfile.from_dict(data.get("profile"), source=source)
    base = path.parent

    def _path(key: str) -> Path | None:
        value = data.get(key)
        if value is None:
            return None
        target = base / str(value)
        if not target.exists():
            raise ValidationError([Issue(key, f"no such file: {target}")], source=source)
        return target

    register, graph_file, incidents_file = _path("register"), _path("graph"), _path("incidents")
    incidents = None
    if incidents_file is not None:
        incidents = pd.read_csv(incidents_file, keep_default_na=False)
        incidents["scenario_id"] = incidents["scenario_id"].astype(str)
    return OrgContext(
        profile=profile,
        graph=None if graph_file is None else DependencyGraph.from_yaml(graph_file),
        incidents=incidents,
        portfolio=None if register is None else load_portfolio(register),
    )

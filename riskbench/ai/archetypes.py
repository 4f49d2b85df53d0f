"""The built-in archetype library: generic risk scenarios to start a register from.

An :class:`Archetype` is a scenario with the organisation left out: what triggers it,
how it unfolds and what it costs, told in plain words; a frequency for a typical
mid-size organisation; and one event's loss as a share of annual revenue. Each is
matched to industries and regions (:meth:`Archetype.matches`) and turned into a
scenario card for a given organisation (:meth:`Archetype.to_scenario`) by scaling
the loss with its revenue.

The numbers are illustrative starting points chosen as sensible orders of magnitude,
not statistics from any report: each archetype's assumptions say so and name where
to look for ranges. Calibrate them with the organisation's own data
(:func:`riskbench.calibrate`, :func:`riskbench.fit_severity`).

The library ships as ``archetypes.yaml`` inside the package (:func:`load_archetypes`);
:func:`parse_archetypes` reads the same format from any text.

Examples
--------
>>> from riskbench.ai.context import OrgProfile
>>> clinic = OrgProfile(name="Clinic", industry="healthcare", regions=("US",),
...                     currency="USD", annual_revenue=2e8)
>>> "hipaa-breach-enforcement" in [a.id for a, score in archetypes_for(clinic)]
True
>>> library = {a.id: a for a in load_archetypes()}
>>> card = library["ransomware-core-systems"].to_scenario(clinic, assets=("erp",))
>>> card.severity.to_dict()
{'dist': 'lognormal', 'low': 200000.0, 'high': 6000000.0, 'conf': 0.9}
>>> card.assets
('erp',)
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from riskbench.ai.context import INDUSTRIES, REGIONS, OrgProfile
from riskbench.dists import LogNormal, dist_from_dict
from riskbench.errors import Issue, ValidationError
from riskbench.files import parse_yaml, read_text
from riskbench.graph.spec import KINDS
from riskbench.scenario import CATEGORIES, Assumption, Scenario

__all__ = [
    "THEMES",
    "Archetype",
    "archetypes_for",
    "load_archetypes",
    "parse_archetypes",
    "read_archetypes",
]

THEMES: tuple[str, ...] = (
    "cyber",
    "supply-chain",
    "operational",
    "financial-market",
    "regulatory-legal",
    "climate-physical",
    "people",
    "third-party-cloud",
)
ANY = "any"
CONF = 0.9

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")
_DIGIT = re.compile(r"\d")
_OPTIONAL = ("severity_floor", "node_kinds", "keywords", "mitigations", "assumptions")


@dataclass(frozen=True)
class Archetype:
    """A generic risk scenario, to be scaled to an organisation.

    Parameters
    ----------
    id, title
        Identifier (lower-case letters, digits, hyphens) and one-line title.
    theme
        One of :data:`THEMES`.
    category
        The scenario category, one of :data:`riskbench.scenario.CATEGORIES`.
    industries, regions
        Where it applies: ``("any",)`` or names from
        :data:`~riskbench.ai.context.INDUSTRIES` / :data:`~riskbench.ai.context.REGIONS`.
    keywords
        Words to match it on.
    trigger, unfolding, impact
        What starts it, how it unfolds and what it costs: plain sentences without
        digits (the numbers come from the card).
    frequency
        Events a year in card form for a typical mid-size organisation, e.g.
        ``{"dist": "poisson", "rate": 0.1}`` or ``{"dist": "bernoulli", "p": 0.02}``.
    severity_share
        ``(low, high)``: the 90% interval of one event's loss as a fraction of annual
        revenue, ``0 < low < high <= 1``.
    severity_floor
        Optional ``(low, high)`` in EUR for losses that do not scale with revenue
        (legal costs, fines); each end is used where it is larger than the scaled one.
    node_kinds
        Dependency-graph node kinds it can hit (supplier, site, system, process, ...);
        empty when it is not linked to the graph.
    assumptions
        The assumptions behind the numbers, with where to look for better ones.
    mitigations
        Short phrases: what reduces it.

    Raises
    ------
    ValidationError
        Listing every bad field with its value and what is allowed.
    """

    id: str
    title: str
    theme: str
    category: str
    industries: tuple[str, ...]
    regions: tuple[str, ...]
    trigger: str
    unfolding: str
    impact: str
    frequency: Mapping[str, Any] = field(hash=False)
    severity_share: tuple[float, float]
    severity_floor: tuple[float, float] | None = None
    node_kinds: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    assumptions: tuple[Assumption, ...] = ()
    mitigations: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        issues: list[Issue] = []
        if not (isinstance(self.id, str) and _ID.match(self.id)):
            issues.append(
                Issue("id", f"must be 1-80 lower-case letters, digits or hyphens, got {self.id!r}")
            )
        if not (isinstance(self.title, str) and self.title.strip()):
            issues.append(Issue("title", f"must be a non-empty text, got {self.title!r}"))
        if self.theme not in THEMES:
            issues.append(Issue("theme", f"must be one of {', '.join(THEMES)}; got {self.theme!r}"))
        if self.category not in CATEGORIES:
            issues.append(
                Issue("category", f"must be one of {', '.join(CATEGORIES)}; got {self.category!r}")
            )
        self._set("industries", _scope("industries", self.industries, INDUSTRIES, issues))
        self._set("regions", _scope("regions", self.regions, REGIONS, issues))
        for name in ("trigger", "unfolding", "impact"):
            _story(name, getattr(self, name), issues)
        self._set("frequency", _frequency(self.frequency, issues))
        self._set("severity_share", _pair("severity_share", self.severity_share, 1.0, issues))
        if self.severity_floor is not None:
            self._set("severity_floor", _pair("severity_floor", self.severity_floor, None, issues))
        self._set("node_kinds", _names("node_kinds", self.node_kinds, KINDS, issues))
        self._set("keywords", _names("keywords", self.keywords, None, issues))
        self._set("mitigations", _names("mitigations", self.mitigations, None, issues))
        self._set("assumptions", _assumptions(self.assumptions, issues))
        if issues:
            raise ValidationError(issues)

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def matches(self, profile: OrgProfile) -> float:
        """How well the archetype fits an organisation: 0 when its industry or none of
        its regions apply, else between 0.5 and 1.

        Industry and region each score 2 for a specific match and 1 for ``"any"``;
        the result is their sum over 4, so a specific match ranks above a generic one
        (1.0 both specific, 0.75 one of them, 0.5 both ``"any"``).

        Examples
        --------
        >>> from riskbench.ai.context import OrgProfile
        >>> eu = OrgProfile(name="A", industry="manufacturing", regions=("EU",))
        >>> library = {a.id: a for a in load_archetypes()}
        >>> library["nis2-noncompliance"].matches(eu), library["key-person-loss"].matches(eu)
        (1.0, 0.5)
        >>> library["hipaa-breach-enforcement"].matches(eu)
        0.0
        """
        if profile.industry in self.industries:
            industry = 2
        elif ANY in self.industries:
            industry = 1
        else:
            return 0.0
        if any(r in self.regions for r in profile.regions):
            region = 2
        elif ANY in self.regions:
            region = 1
        else:
            return 0.0
        return (industry + region) / 4

    def severity_range(self, profile: OrgProfile) -> tuple[float, float]:
        """The 90% interval of one event's loss for ``profile``, in its currency:
        ``severity_share`` times annual revenue, each end raised to the floor.

        Raises
        ------
        ValidationError
            If the profile has no ``annual_revenue``.
        """
        revenue = profile.annual_revenue
        if revenue is None:
            raise ValidationError(
                [
                    Issue(
                        "profile.annual_revenue",
                        f"is needed to scale archetype {self.id!r} (losses are shares of "
                        f"revenue), got None; give OrgProfile(annual_revenue=...)",
                    )
                ]
            )
        low, high = self.severity_share[0] * revenue, self.severity_share[1] * revenue
        if self.severity_floor is not None:
            low, high = max(low, self.severity_floor[0]), max(high, self.severity_floor[1])
        return low, high

    def to_scenario(
        self, profile: OrgProfile, *, id: str | None = None, assets: Iterable[str] = ()
    ) -> Scenario:
        """The archetype as a scenario card for ``profile``.

        Parameters
        ----------
        profile
            The organisation; its ``annual_revenue`` scales the loss.
        id
            The scenario id; the archetype's id by default.
        assets
            Ids of the dependency-graph nodes the event hits first.

        Returns
        -------
        Scenario
            Log-normal severity with :meth:`severity_range` as its 90% interval, the
            archetype's frequency, a narrative from trigger, unfolding and impact, and
            its assumptions plus one saying how the severity was scaled.

        Raises
        ------
        ValidationError
            If the profile has no annual revenue, or ``id`` or ``assets`` are invalid.
        """
        low, high = self.severity_range(profile)
        return Scenario(
            id=self.id if id is None else id,
            title=self.title,
            category=self.category,
            frequency=copy.deepcopy(dict(self.frequency)),
            severity=LogNormal.from_ci(low, high, CONF),
            narrative=" ".join((self.trigger, self.unfolding, self.impact)),
            assumptions=(*self.assumptions, self._scaling(profile, low, high)),
            assets=tuple(assets),
        )

    def _scaling(self, profile: OrgProfile, low: float, high: float) -> Assumption:
        cur = profile.currency
        share_low, share_high = self.severity_share
        text = (
            f"One event's loss is log-normal with a 90% interval of {cur} {low:,.0f} to "
            f"{cur} {high:,.0f}: {_pct(share_low)} to {_pct(share_high)} of annual revenue "
            f"({cur} {profile.annual_revenue:,.0f})"
        )
        if self.severity_floor is not None:
            floor_low, floor_high = self.severity_floor
            text += (
                f", each end raised where lower to the archetype's floor of EUR {floor_low:,.0f} "
                f"to EUR {floor_high:,.0f}"
            )
            if cur != "EUR":
                text += f" (an EUR amount applied unconverted to {cur})"
        return Assumption(
            name="severity scaling",
            text=text + ".",
            rationale=(
                "Archetype losses are given as shares of revenue so that one library fits "
                "organisations of different sizes; the floor covers costs that do not shrink "
                "with size. Replace the range with the organisation's own estimate when it has one."
            ),
            source=f"riskbench archetype library ({self.id}), scaled by Archetype.to_scenario",
        )


def _pct(share: float) -> str:
    return f"{share * 100:.3g}%"


def _scope(name: str, value: Any, allowed: Sequence[str], issues: list[Issue]) -> tuple[str, ...]:
    items = tuple(value) if isinstance(value, list | tuple) else ()
    ok = bool(items) and (
        items == (ANY,) or all(isinstance(v, str) and v in allowed for v in items)
    )
    if not ok or len(set(items)) != len(items):
        issues.append(
            Issue(
                name,
                f"must be [{ANY}] or a non-empty list of distinct names from "
                f"{', '.join(allowed)}; got {value!r}",
            )
        )
    return items


def _story(name: str, value: Any, issues: list[Issue]) -> None:
    if not (isinstance(value, str) and value.strip()):
        issues.append(Issue(name, f"must be a non-empty sentence, got {value!r}"))
    elif _DIGIT.search(value):
        issues.append(
            Issue(
                name,
                f"must not contain digits (the numbers come from the scenario card), got {value!r}",
            )
        )


def _frequency(value: Any, issues: list[Issue]) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        issues.append(
            Issue(
                "frequency",
                f"must be a count distribution in card form such as "
                f"{{dist: poisson, rate: 0.1}}, got {value!r}",
            )
        )
        return MappingProxyType({})
    try:
        dist = dist_from_dict(value, loc="frequency")
    except ValidationError as err:
        issues.extend(err.issues)
    else:
        if dist.kind != "frequency":
            issues.append(
                Issue(
                    "frequency",
                    f"must be a count distribution (poisson, bernoulli, negative_binomial), "
                    f"got {dist.dist}",
                )
            )
    return MappingProxyType(copy.deepcopy(dict(value)))


def _pair(name: str, value: Any, top: float | None, issues: list[Issue]) -> tuple[float, float]:
    items = tuple(value) if isinstance(value, list | tuple) else ()
    numbers = [
        float(v)
        for v in items
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    ]
    ok = len(items) == 2 and len(numbers) == 2 and 0 < numbers[0] < numbers[1]
    if ok and top is not None:
        ok = numbers[1] <= top
    if not ok:
        bound = f"0 < low < high <= {top:g}" if top is not None else "0 < low < high"
        issues.append(Issue(name, f"must be two numbers [low, high] with {bound}; got {value!r}"))
        return (0.0, 0.0)
    return (numbers[0], numbers[1])


def _names(
    name: str, value: Any, allowed: Sequence[str] | None, issues: list[Issue]
) -> tuple[str, ...]:
    items = tuple(value) if isinstance(value, list | tuple) else None
    if items is None or not all(isinstance(v, str) and v.strip() for v in items):
        issues.append(Issue(name, f"must be a list of non-empty texts, got {value!r}"))
        return ()
    if allowed is not None:
        bad = [v for v in items if v not in allowed]
        if bad:
            issues.append(
                Issue(name, f"unknown {bad!r}; allowed: {', '.join(allowed)} (or an empty list)")
            )
    return items


def _assumptions(value: Any, issues: list[Issue]) -> tuple[Assumption, ...]:
    if not isinstance(value, list | tuple):
        issues.append(Issue("assumptions", f"must be a list of assumptions, got {value!r}"))
        return ()
    out = []
    for j, item in enumerate(value):
        loc = f"assumptions[{j}]"
        if isinstance(item, Assumption):
            out.append(item)
        elif isinstance(item, Mapping):
            try:
                out.append(Assumption(**dict(item)))
            except ValidationError as err:
                issues.extend(err.within(loc).issues)
        else:
            issues.append(
                Issue(loc, f"must be a mapping with name, text, rationale, source; got {item!r}")
            )
    return tuple(out)


_FIELDS = tuple(f.name for f in fields(Archetype))


def parse_archetypes(text: str, *, source: str | None = None) -> tuple[Archetype, ...]:
    """Archetypes from YAML text: a mapping with an ``archetypes`` list.

    Raises
    ------
    ValidationError
        Listing every problem at once, located as
        ``archetypes[3] (plant-fire).severity_share: ...``.

    Examples
    --------
    >>> try:
    ...     parse_archetypes("archetypes: [{id: x, theme: weather}]")
    ... except ValidationError as err:
    ...     print([issue.loc for issue in err.issues])
    ['archetypes[0] (x)', 'archetypes[0] (x).theme']
    """
    data = parse_yaml(text, source=source)
    if not isinstance(data, Mapping) or not isinstance(data.get("archetypes"), list):
        raise ValidationError(
            [Issue("archetypes", "the file must be a mapping with an 'archetypes' list")],
            source=source,
        )
    extra = sorted(set(data) - {"archetypes"})
    issues = [Issue(k, "unknown key; allowed: archetypes") for k in extra]
    out: list[Archetype] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(data["archetypes"]):
        label = f"archetypes[{i}]"
        if not isinstance(item, Mapping):
            issues.append(Issue(label, f"must be a mapping, got {item!r}"))
            continue
        if isinstance(item.get("id"), str):
            label += f" ({item['id']})"
            if item["id"] in seen:
                issues.append(
                    Issue(f"{label}.id", f"repeats archetypes[{seen[item['id']]}]; ids are unique")
                )
            seen.setdefault(item["id"], i)
        unknown = sorted(set(item) - set(_FIELDS))
        missing = [k for k in _FIELDS if k not in item and k not in _OPTIONAL]
        issues += [
            Issue(f"{label}.{k}", f"unknown field; allowed: {list(_FIELDS)}") for k in unknown
        ]
        if missing:
            issues.append(Issue(label, f"missing {', '.join(missing)}"))
        # Check what is there even when fields are missing, to report everything at once.
        trial = {k: item.get(k, _DUMMY.get(k)) for k in _FIELDS if k in item or k in _DUMMY}
        try:
            archetype = Archetype(**trial)
        except ValidationError as err:
            issues += err.within(label).issues
            continue
        if not missing and not unknown:
            out.append(archetype)
    if issues:
        raise ValidationError(issues, source=source)
    return tuple(out)


# Stand-ins for missing required fields: valid values, so only real problems show.
_DUMMY: dict[str, Any] = {
    "id": "missing",
    "title": "missing",
    "theme": THEMES[0],
    "category": CATEGORIES[0],
    "industries": [ANY],
    "regions": [ANY],
    "trigger": "missing",
    "unfolding": "missing",
    "impact": "missing",
    "frequency": {"dist": "poisson", "rate": 0.0},
    "severity_share": [0.1, 0.2],
}


def read_archetypes(path: str) -> tuple[Archetype, ...]:
    """Archetypes from a YAML file (the format of :func:`parse_archetypes`)."""
    name = str(path).rsplit("/", 1)[-1]
    return parse_archetypes(read_text(path), source=name)


@lru_cache(maxsize=1)
def load_archetypes() -> tuple[Archetype, ...]:
    """The built-in library, ``archetypes.yaml`` shipped with the package (cached)."""
    text = resources.files("riskbench.ai").joinpath("archetypes.yaml").read_text("utf-8")
    return parse_archetypes(text, source="archetypes.yaml")


def archetypes_for(
    profile: OrgProfile,
    *,
    themes: Iterable[str] | None = None,
    library: Sequence[Archetype] | None = None,
) -> list[tuple[Archetype, float]]:
    """The archetypes that apply to ``profile`` with their :meth:`~Archetype.matches`
    score, best first (ties by id).

    Parameters
    ----------
    profile
        The organisation.
    themes
        Only these themes (names from :data:`THEMES`); all by default.
    library
        The archetypes to choose from; the built-in library by default.

    Examples
    --------
    >>> from riskbench.ai.context import OrgProfile
    >>> bank = OrgProfile(name="B", industry="financial-services", regions=("EU",))
    >>> [(a.id, s) for a, s in archetypes_for(bank, themes=["regulatory-legal"])][:3]
    [('dora-ict-noncompliance', 1.0), ('aml-enforcement', 0.75), ('gdpr-enforcement-fine', 0.75)]
    """
    wanted: set[str] | None = None
    if themes is not None:
        wanted = {themes} if isinstance(themes, str) else set(themes)
        bad = sorted(wanted - set(THEMES))
        if bad:
            raise ValidationError(
                [Issue("themes", f"unknown {bad!r}; allowed: {', '.join(THEMES)}")]
            )
    pool = load_archetypes() if library is None else library
    scored = [(a, a.matches(profile)) for a in pool if wanted is None or a.theme in wanted]
    return sorted(((a, s) for a, s in scored if s > 0), key=lambda x: (-x[1], x[0].id))

"""Shocks and stress sets: named, validated changes to a portfolio.

A shock is a validated, immutable change to a portfolio: scale a scenario's
frequency or severity, force an event every year, add a scenario, or several of
these at once. A :class:`StressSet` is a named list of shocks applied together;
:func:`load_stress_sets` reads them from a YAML stress file. Running them (the
paired baseline and stressed simulations) and reverse stress tests live in
:mod:`riskbench.stress`.

Shocks target one scenario id, ``"*"`` (every scenario) or, with
``category=...``, every scenario of a category. New kinds of shock subclass
:class:`Shock`, set ``kind`` (their name in stress files) and implement
``apply(portfolio)``; they are then accepted in stress files and stress sets.

Examples
--------
>>> import riskbench as rb
>>> portfolio = rb.load_portfolio("examples/register.yaml")
>>> shock = ScaleSeverity(category="cyber", factor=2.0)
>>> stressed = shock.apply(portfolio)
>>> sid = "bec-payment-fraud"
>>> round(stressed[sid].severity.mean() / portfolio[sid].severity.mean(), 9)
2.0
>>> shock_from_dict(shock.to_dict()) == shock
True
"""

from __future__ import annotations

import os
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import pydantic
from pydantic import ConfigDict, Field, field_validator

from riskbench.dists import Bernoulli, Constant, Frequency, init_model
from riskbench.dists.base import _fmt, bind_positional
from riskbench.errors import Issue, ValidationError
from riskbench.files import read_yaml
from riskbench.scenario import CATEGORIES, Insurance, Portfolio, Scenario

__all__ = [
    "AddScenario",
    "Combined",
    "DropMitigation",
    "ForceEvent",
    "NodeOutage",
    "ScaleFrequency",
    "ScaleSeverity",
    "Shock",
    "StressSet",
    "load_stress_sets",
    "shock_from_dict",
]


def _invalid(loc: str, message: str) -> ValidationError:
    return ValidationError([Issue(loc, message)])


# ------------------------------------------------------------------------------ shocks
class Shock(pydantic.BaseModel):
    """Base of all shocks: an immutable, validated change to a portfolio.

    Subclasses set ``kind`` (the name in stress files), ``positional`` (the order
    of positional constructor arguments) and implement :meth:`apply`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    kind: ClassVar[str] = ""
    positional: ClassVar[tuple[str, ...]] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs = bind_positional(type(self).__name__, self.positional, args, kwargs)
        init_model(self, self._parse_nested(kwargs))

    @classmethod
    def _parse_nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Build nested objects given in their file form (before pydantic sees them),
        so that their errors are located under this shock's key."""
        return data

    @abstractmethod
    def apply(self, portfolio: Portfolio) -> Portfolio:
        """The stressed portfolio; ``ValidationError`` if the shock does not fit it."""

    def to_dict(self) -> dict[str, Any]:
        """The stress-file form: ``kind`` and the keys that were given."""
        out: dict[str, Any] = {"kind": self.kind}
        for name in type(self).model_fields:
            if name in self.model_fields_set:
                value = getattr(self, name)
                if isinstance(value, Scenario):
                    value = value.to_dict()
                elif isinstance(value, tuple):
                    value = [v.to_dict() if isinstance(v, Shock) else v for v in value]
                out[name] = value
        return out

    def __repr__(self) -> str:
        shown = [k for k in type(self).model_fields if k in self.model_fields_set]
        args = ", ".join(
            f"{k}={list(v) if isinstance(v, tuple) else v!r}"
            for k in shown
            for v in [getattr(self, k)]
        )
        return f"{type(self).__name__}({args})"

    __str__ = __repr__


_KINDS: dict[str, type[Shock]] = {}


def _register(cls: type[Shock]) -> type[Shock]:
    _KINDS[cls.kind] = cls
    return cls


class _Targeted(Shock):
    """A shock on one scenario, every scenario (``"*"``) or one category."""

    scenario: str = "*"
    category: str | None = None

    @field_validator("category")
    @classmethod
    def _category_ok(cls, v: str | None) -> str | None:
        if v is not None and v not in CATEGORIES:
            raise ValueError(f"unknown category {v!r}; allowed: {list(CATEGORIES)}")
        return v

    @pydantic.model_validator(mode="after")
    def _one_target(self) -> _Targeted:
        if self.category is not None and self.scenario != "*":
            raise ValueError(
                f"give a scenario id or a category, not both (scenario={self.scenario!r}, "
                f"category={self.category!r})"
            )
        return self

    def targets(self, portfolio: Portfolio) -> list[str]:
        """The ids of the scenarios this shock changes in ``portfolio``."""
        if self.category is not None:
            ids = [s.id for s in portfolio.scenarios if s.category == self.category]
            if not ids:
                present = sorted({s.category for s in portfolio.scenarios})
                raise _invalid(
                    "category",
                    f"no scenario in category {self.category!r}; "
                    f"categories in the portfolio: {present}",
                )
            return ids
        if self.scenario == "*":
            return list(portfolio.ids)
        if self.scenario not in portfolio.ids:
            raise _invalid(
                "scenario",
                f"unknown scenario id {self.scenario!r}; allowed: '*' or one of "
                f"{list(portfolio.ids)}",
            )
        return [self.scenario]

    def _replace(self, portfolio: Portfolio, change: Any) -> Portfolio:
        ids = set(self.targets(portfolio))
        out = [change(s) if s.id in ids else s for s in portfolio.scenarios]
        return portfolio.with_scenarios(out)


class _Scaling(_Targeted):
    """A targeted shock with a multiplicative ``factor`` (> 0)."""

    factor: float

    @field_validator("factor")
    @classmethod
    def _factor_ok(cls, v: float) -> float:
        if not v > 0:
            raise ValueError(f"must be > 0, got {_fmt(v)}")
        return v


@_register
class ScaleFrequency(_Scaling):
    """Multiply the expected number of events a year by ``factor``.

    Poisson: the rate (an uncertain rate is scaled as a distribution).
    Bernoulli: ``p``; a ``factor * p`` above 1 is an error unless ``cap=True``,
    which caps it at 1. Negative binomial: the mean, at the same dispersion ``r``.
    Counts are drawn by inverse transform, so a year never has fewer events than
    in the baseline (for fixed-rate Poisson, Bernoulli and negative binomial).

    Examples
    --------
    >>> ScaleFrequency("plant-fire", 3.0)
    ScaleFrequency(scenario='plant-fire', factor=3.0)
    """

    kind: ClassVar[str] = "scale_frequency"
    positional: ClassVar[tuple[str, ...]] = ("scenario", "factor")
    cap: bool = False

    if TYPE_CHECKING:

        def __init__(
            self,
            scenario: str = "*",
            factor: float = ...,
            *,
            category: str | None = None,
            cap: bool = False,
        ) -> None: ...

    def apply(self, portfolio: Portfolio) -> Portfolio:
        return self._replace(portfolio, lambda s: s.with_(frequency=self._scaled(s)))

    def _scaled(self, s: Scenario) -> Any:
        f, k = s.frequency, self.factor
        if isinstance(f, Bernoulli) and k * f.p > 1:
            if self.cap:
                return Bernoulli(p=1.0)
            raise _invalid(
                "factor",
                f"{s.id}: factor {_fmt(k)} x p {_fmt(f.p)} = {k * f.p:.4g} exceeds 1; "
                f"allowed: factor <= {1 / f.p:.4g}, or cap=True to cap p at 1",
            )
        if isinstance(f, Frequency):
            return f.with_mean_scaled(k)
        raise _invalid(
            "scenario",
            f"{s.id}: cannot scale a {f.dist} frequency; "
            f"allowed: poisson, bernoulli, negative_binomial",
        )


@_register
class ScaleSeverity(_Scaling):
    """Multiply every event loss of the targeted scenarios by ``factor``.

    Losses are scaled before insurance, so net losses scale by less where a
    layer pays. The same uniforms give the same events, times ``factor``.
    """

    kind: ClassVar[str] = "scale_severity"
    positional: ClassVar[tuple[str, ...]] = ("scenario", "factor")

    if TYPE_CHECKING:

        def __init__(
            self, scenario: str = "*", factor: float = ..., *, category: str | None = None
        ) -> None: ...

    def apply(self, portfolio: Portfolio) -> Portfolio:
        return self._replace(portfolio, lambda s: s.with_(severity=s.severity.scaled(self.factor)))


@_register
class ForceEvent(_Targeted):
    """Every simulated year has ``count`` extra events at the severity's ``quantile``.

    There is no fixed-count frequency, so each forced event is a companion
    scenario ``<id>-forced`` (``<id>-forced-1``, ``-2``, ... when ``count > 1``)
    with frequency ``Bernoulli(p=1.0)`` and severity ``Constant(severity.ppf(q))``.
    It keeps the scenario's category and per-event insurance layer; an annual
    aggregate layer is not shared with it. The companions have their own random
    streams, so every other scenario keeps its simulated years.
    """

    kind: ClassVar[str] = "force_event"
    positional: ClassVar[tuple[str, ...]] = ("scenario",)
    quantile: float = 0.9
    count: int = 1

    if TYPE_CHECKING:

        def __init__(
            self,
            scenario: str = "*",
            *,
            category: str | None = None,
            quantile: float = 0.9,
            count: int = 1,
        ) -> None: ...

    @field_validator("quantile")
    @classmethod
    def _quantile_ok(cls, v: float) -> float:
        if not 0 < v < 1:
            raise ValueError(f"must lie in (0, 1) (a fraction, 0.9 not 90), got {_fmt(v)}")
        return v

    @field_validator("count")
    @classmethod
    def _count_ok(cls, v: int) -> int:
        if v < 1:
            raise ValueError(f"must be a whole number >= 1, got {v}")
        return v

    def forced_value(self, scenario: Scenario) -> float:
        """The loss of each forced event of ``scenario`` (before insurance)."""
        return float(scenario.severity.ppf(self.quantile))

    def apply(self, portfolio: Portfolio) -> Portfolio:
        added = []
        for sid in self.targets(portfolio):
            s = portfolio[sid]
            layer = s.insurance.per_event if s.insurance else None
            names = (
                [f"{sid}-forced"]
                if self.count == 1
                else [f"{sid}-forced-{i}" for i in range(1, self.count + 1)]
            )
            for name in names:
                added.append(
                    Scenario(
                        id=name,
                        title=f"{s.title} (forced, q{_fmt(self.quantile)})",
                        category=s.category,
                        frequency=Bernoulli(p=1.0),
                        severity=Constant(value=self.forced_value(s)),
                        insurance=Insurance(per_event=layer) if layer else None,
                    )
                )
        return _add(portfolio, added)


def _add(portfolio: Portfolio, scenarios: Sequence[Scenario]) -> Portfolio:
    taken = set(portfolio.ids)
    clash = [s.id for s in scenarios if s.id in taken]
    if clash:
        raise _invalid("scenario", f"id {clash[0]!r} is already in the portfolio; ids must be new")
    return portfolio.with_scenarios([*portfolio.scenarios, *scenarios])


@_register
class AddScenario(Shock):
    """Add a scenario (an emerging risk) to the portfolio; its id must be new."""

    kind: ClassVar[str] = "add_scenario"
    positional: ClassVar[tuple[str, ...]] = ("scenario",)
    scenario: Scenario

    if TYPE_CHECKING:

        def __init__(self, scenario: Scenario | Mapping[str, Any]) -> None: ...

    @classmethod
    def _parse_nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        card = data.get("scenario")
        if isinstance(card, Mapping):
            try:
                data["scenario"] = Scenario(**dict(card))
            except ValidationError as err:
                raise err.within("scenario") from None
        return data

    def apply(self, portfolio: Portfolio) -> Portfolio:
        return _add(portfolio, [self.scenario])


@_register
class NodeOutage(Shock):
    """Take a dependency-graph node out for ``days`` in every stressed year.

    The lost revenue the graph propagates from the outage (buffers, alternatives and
    recovery included) is added as a scenario ``outage-<node>`` that happens once a
    year with certainty. ``graph`` is a path to the graph's YAML file.
    """

    kind: ClassVar[str] = "node_outage"
    positional: ClassVar[tuple[str, ...]] = ("graph", "node", "days")
    graph: str
    node: str
    days: float = Field(gt=0)

    if TYPE_CHECKING:

        def __init__(self, graph: str, node: str, days: float) -> None: ...

    def lost_revenue(self) -> float:
        """The deterministic lost revenue of the outage, from the graph."""
        from riskbench.graph import DependencyGraph

        return DependencyGraph.from_yaml(self.graph).outage(self.node, self.days).total_lost_revenue

    def apply(self, portfolio: Portfolio) -> Portfolio:
        added = Scenario(
            id=f"outage-{self.node}",
            title=f"{self.node} out for {_fmt(self.days)} days",
            category="supply-chain",
            frequency=Bernoulli(p=1.0),
            severity=Constant(value=self.lost_revenue()),
        )
        return _add(portfolio, [added])


@_register
class DropMitigation(Shock):
    """Take one mitigation out of the plan in force for the stressed run.

    It changes the plan, not the scenarios: :func:`riskbench.stress.stress` (and
    ``stress_all``) with ``mitigations=[...]`` apply the whole plan to the baseline
    and the plan less the dropped mitigations to the stressed run, after the other
    shocks. :meth:`apply` alone leaves the portfolio as it is.

    Examples
    --------
    >>> DropMitigation("edr")
    DropMitigation(mitigation_id='edr')
    """

    kind: ClassVar[str] = "drop_mitigation"
    positional: ClassVar[tuple[str, ...]] = ("mitigation_id",)
    mitigation_id: str = Field(min_length=1)

    if TYPE_CHECKING:

        def __init__(self, mitigation_id: str) -> None: ...

    def apply(self, portfolio: Portfolio) -> Portfolio:
        return portfolio


@_register
class Combined(Shock):
    """Several shocks applied in order, each to the result of the one before."""

    kind: ClassVar[str] = "combined"
    positional: ClassVar[tuple[str, ...]] = ("shocks",)
    shocks: tuple[Shock, ...]

    if TYPE_CHECKING:

        def __init__(self, shocks: Iterable[Shock | Mapping[str, Any]]) -> None: ...

    @classmethod
    def _parse_nested(cls, data: dict[str, Any]) -> dict[str, Any]:
        if "shocks" in data:
            data["shocks"] = _parse_shocks(data["shocks"])
        return data

    def apply(self, portfolio: Portfolio) -> Portfolio:
        return _apply_all(self.shocks, portfolio)


def _parse_shocks(value: Any) -> tuple[Shock, ...]:
    if not isinstance(value, list | tuple) or not value:
        raise _invalid("shocks", f"must be a non-empty list of shocks, got {value!r}")
    issues: list[Issue] = []
    out: list[Shock] = []
    for j, item in enumerate(value):
        try:
            out.append(shock_from_dict(item) if isinstance(item, Mapping) else item)
        except ValidationError as err:
            issues.extend(err.within(f"shocks[{j}]").issues)
        if not isinstance(item, Mapping | Shock):
            issues.append(Issue(f"shocks[{j}]", f"must be a shock or a mapping, got {item!r}"))
    if issues:
        raise ValidationError(issues)
    return tuple(out)


def _apply_all(shocks: Sequence[Shock], portfolio: Portfolio) -> Portfolio:
    for j, shock in enumerate(shocks):
        try:
            portfolio = shock.apply(portfolio)
        except ValidationError as err:
            raise err.within(f"shocks[{j}]") from None
    return portfolio


def shock_from_dict(data: Mapping[str, Any]) -> Shock:
    """A shock from its stress-file form ``{kind: scale_severity, scenario: ..., ...}``.

    Raises
    ------
    ValidationError
        Naming the bad key, the bad value and what is allowed.
    """
    if not isinstance(data, Mapping):
        raise _invalid("", f"a shock must be a mapping with a 'kind', got {data!r}")
    rest = dict(data)
    kind = rest.pop("kind", None)
    if kind not in _KINDS:
        raise _invalid("kind", f"unknown shock kind {kind!r}; allowed: {sorted(_KINDS)}")
    return _KINDS[kind](**rest)


# --------------------------------------------------------------------------- stress sets
class StressSet(pydantic.BaseModel):
    """A named list of shocks, applied together (a stress scenario for a register)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: str
    description: str = ""
    shocks: tuple[Shock, ...]

    def __init__(self, **data: Any) -> None:
        # Every problem at once: the shocks' and the other keys'.
        issues: list[Issue] = []
        try:
            data["shocks"] = _parse_shocks(data.get("shocks"))
        except ValidationError as err:
            issues.extend(err.issues)
            # A stand-in, so that the other keys are still checked.
            data["shocks"] = (ScaleSeverity(factor=1.0),)
        try:
            init_model(self, data)
        except ValidationError as err:
            issues.extend(err.issues)
        if issues:
            raise ValidationError(issues)

    def apply(self, portfolio: Portfolio) -> Portfolio:
        """The stressed portfolio."""
        return _apply_all(self.shocks, portfolio)


def load_stress_sets(
    path: str | os.PathLike[str], *, portfolio: Portfolio | None = None
) -> dict[str, StressSet]:
    """Read named stress sets from a YAML file (see ``examples/stress.yaml``).

    The file has a ``sets`` list; each set has a ``name``, an optional
    ``description`` and a list of ``shocks``, each with a ``kind``
    (``scale_frequency``, ``scale_severity``, ``force_event``, ``add_scenario``,
    ``node_outage``, ``drop_mitigation``, ``combined``) and that shock's keys.
    With ``portfolio``, every set is also applied to it, so unknown scenario ids
    are reported at load time (mitigation ids are checked when the set is run).

    Raises
    ------
    ValidationError
        Every problem at once, located like the card errors:
        ``stress.yaml: sets[1] (cyber wave).shocks[0].factor: must be > 0, got -2``.

    Examples
    --------
    >>> sets = load_stress_sets("examples/stress.yaml")
    >>> "cyber wave" in sets
    True
    """
    data, _ = read_yaml(path)
    p = Path(path)
    raw = data.get("sets") if isinstance(data, Mapping) else None
    if not isinstance(raw, list) or not raw:
        raise ValidationError(
            [Issue("sets", f"must be a non-empty list of stress sets, got {raw!r}")], source=p.name
        )
    issues: list[Issue] = []
    out: dict[str, StressSet] = {}
    for i, item in enumerate(raw):
        label = f"sets[{i}]"
        if not isinstance(item, Mapping):
            issues.append(Issue(label, f"must be a mapping with name and shocks, got {item!r}"))
            continue
        if isinstance(item.get("name"), str):
            label += f" ({item['name']})"
        try:
            found = StressSet(**dict(item))
            if portfolio is not None:
                found.apply(portfolio)
        except ValidationError as err:
            issues.extend(err.within(label).issues)
            continue
        if found.name in out:
            issues.append(Issue(f"{label}.name", f"duplicate name {found.name!r}"))
        out[found.name] = found
    if issues:
        raise ValidationError(issues, source=p.name)
    return out

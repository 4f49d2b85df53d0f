"""Stress tests: what the register's numbers become under named shocks.

A shock is a validated, immutable change to a portfolio: scale a scenario's
frequency or severity, force an event every year, add a scenario, or several of
these at once. :func:`stress` simulates the baseline and the stressed portfolio
with the same seed. Each scenario's random stream is keyed by its id and block
(see :mod:`riskbench.engine`), so the scenarios a shock leaves alone keep exactly
their simulated years, and the difference between the two runs is the effect of
the shock, not simulation noise (common random numbers). :func:`reverse_stress`
asks the question the other way round: how large a factor makes a portfolio
measure reach a limit?

Shocks target one scenario id, ``"*"`` (every scenario) or, with
``category=...``, every scenario of a category. New kinds of shock subclass
:class:`Shock`, set ``kind`` (their name in stress files) and implement
``apply(portfolio)``; they are then accepted in stress files and stress sets.

Examples
--------
>>> import riskbench as rb
>>> portfolio = rb.load_portfolio("examples/register.yaml")
>>> shock = ScaleSeverity(category="cyber", factor=2.0)
>>> res = stress(portfolio, shock, trials=2_000, seed=1)
>>> row = res.table.loc["bec-payment-fraud"]
>>> bool(row["mean_stressed"] > row["mean_base"])
True
>>> bool((res.scenario_losses("plant-fire", "stressed")
...       == res.scenario_losses("plant-fire", "base")).all())
True
"""

from __future__ import annotations

import math
import os
import re
from abc import abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
import pandas as pd
import pydantic
import yaml
from numpy.typing import NDArray
from pydantic import ConfigDict, field_validator
from scipy import optimize

from riskbench.dists import Bernoulli, Constant, Gamma, NegativeBinomial, Poisson, init_model
from riskbench.engine import simulate
from riskbench.errors import Issue, ValidationError
from riskbench.results import PORTFOLIO, SimulationResult, _Samples
from riskbench.scenario import CATEGORIES, Insurance, Portfolio, Scenario

__all__ = [
    "AddScenario",
    "Combined",
    "ForceEvent",
    "ReverseStress",
    "ScaleFrequency",
    "ScaleSeverity",
    "Shock",
    "StressResult",
    "StressSet",
    "load_stress_sets",
    "reverse_stress",
    "shock_from_dict",
    "stress",
    "stress_all",
]

FloatArray = NDArray[np.float64]
METRICS = ("mean", "p95", "p99", "tvar99")
_METRIC = re.compile(r"^(mean|p\d{1,2}(\.\d+)?|tvar\d{1,2}(\.\d+)?)$")


def _invalid(loc: str, message: str) -> ValidationError:
    return ValidationError([Issue(loc, message)])


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


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
        if len(args) > len(self.positional):
            raise ValidationError(
                f"{type(self).__name__} takes at most {len(self.positional)} positional "
                f"arguments ({', '.join(self.positional)}), got {len(args)}"
            )
        for name, value in zip(self.positional, args, strict=False):
            if name in kwargs:
                raise _invalid(name, "given twice")
            kwargs[name] = value
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
        if isinstance(f, Poisson):
            rate = f.rate
            if isinstance(rate, Gamma):  # stays a Gamma: the count stays negative binomial
                return Poisson(rate=Gamma(shape=rate.shape, rate=rate.rate / k))
            return Poisson(rate=rate.scaled(k) if not isinstance(rate, float | int) else k * rate)
        if isinstance(f, Bernoulli):
            p = k * f.p
            if p > 1 and not self.cap:
                raise _invalid(
                    "factor",
                    f"{s.id}: factor {_fmt(k)} x p {_fmt(f.p)} = {p:.4g} exceeds 1; "
                    f"allowed: factor <= {1 / f.p:.4g}, or cap=True to cap p at 1",
                )
            return Bernoulli(p=min(p, 1.0))
        if isinstance(f, NegativeBinomial):
            return NegativeBinomial.from_mean_dispersion(k * f.mean(), f.r)
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
    ``combined``) and that shock's keys. With ``portfolio``, every set is also
    applied to it, so unknown scenario ids are reported at load time.

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
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError([Issue("", "no such file")], source=str(p)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "?"
        issue = Issue("", f"not valid YAML at {where}: {getattr(err, 'problem', None) or err}")
        raise ValidationError([issue], source=p.name) from None
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


# --------------------------------------------------------------------------- the run
def _as_shocks(shocks: Shock | StressSet | Sequence[Shock]) -> tuple[str, tuple[Shock, ...]]:
    if isinstance(shocks, StressSet):
        return shocks.name, shocks.shocks
    if isinstance(shocks, Shock):
        return repr(shocks), (shocks,)
    items = tuple(shocks)
    bad = [s for s in items if not isinstance(s, Shock)]
    if bad or not items:
        raise _invalid(
            "shocks", f"must be a Shock, a StressSet or a list of shocks, got {shocks!r}"
        )
    return ", ".join(repr(s) for s in items), items


def _run(portfolio: Portfolio, trials: int, seed: int | None, workers: int | None) -> Any:
    res = simulate(portfolio, trials=trials, seed=seed, workers=workers)
    assert isinstance(res, SimulationResult)
    return res


def _measures(values: FloatArray) -> list[float]:
    m = _Samples(values, 0.0)
    q, es = m.quantiles_and_tvar(np.array([0.95, 0.99]), 0.99)
    return [m.mean(), float(q[0]), float(q[1]), es]


@dataclass(frozen=True)
class StressResult:
    """A baseline and a stressed simulation of the same years, and their comparison.

    Attributes
    ----------
    name
        The stress set's name (or the shocks' description).
    baseline, stressed
        The two :class:`~riskbench.SimulationResult`, made with the same seed.
    table
        One row per scenario (baseline and added ones) and ``"portfolio"``; for
        each measure ``m`` in mean, p95, p99, tvar99 the columns ``m_base``,
        ``m_stressed``, ``m_diff`` and ``m_ratio`` (NaN where the baseline is 0),
        and ``mean_diff_se``: the standard error of the difference of means,
        from the paired years (``mean_diff / mean_diff_se`` well above 2: not noise).
    """

    name: str
    baseline: SimulationResult
    stressed: SimulationResult
    table: pd.DataFrame = field(repr=False)

    def scenario_losses(self, scenario: str, run: Literal["base", "stressed"]) -> FloatArray:
        """The annual losses of ``scenario`` in one run (zeros if it is not in that run)."""
        res = self.baseline if run == "base" else self.stressed
        if scenario == PORTFOLIO:
            return res.annual_loss
        if scenario not in res.ids and scenario in (*self.baseline.ids, *self.stressed.ids):
            return np.zeros(res.trials)
        return res.scenario_losses(scenario)


def _compare(name: str, base: SimulationResult, stressed: SimulationResult) -> StressResult:
    ids = [*base.ids, *[i for i in stressed.ids if i not in base.ids]]
    n = base.trials
    rows = {}
    for sid in [*ids, PORTFOLIO]:
        if sid == PORTFOLIO:
            b, s = base.annual_loss, stressed.annual_loss
        else:
            b = base.scenario_losses(sid) if sid in base.ids else np.zeros(n)
            s = stressed.scenario_losses(sid) if sid in stressed.ids else np.zeros(n)
        row: dict[str, float] = {}
        for m, vb, vs in zip(METRICS, _measures(b), _measures(s), strict=True):
            row[f"{m}_base"] = vb
            row[f"{m}_stressed"] = vs
            row[f"{m}_diff"] = vs - vb
            row[f"{m}_ratio"] = vs / vb if vb != 0 else math.nan
        d = s - b
        row["mean_diff_se"] = float(d.std(ddof=1) / math.sqrt(n)) if n > 1 else math.nan
        rows[sid] = row
    table = pd.DataFrame.from_dict(rows, orient="index")
    table.index.name = "scenario"
    return StressResult(name=name, baseline=base, stressed=stressed, table=table)


def stress(
    portfolio: Portfolio,
    shocks: Shock | StressSet | Sequence[Shock],
    *,
    trials: int = 100_000,
    seed: int | None = None,
    workers: int | None = None,
) -> StressResult:
    """Simulate ``portfolio`` with and without ``shocks`` from the same seed.

    Parameters
    ----------
    portfolio
        The register.
    shocks
        One shock, a list of shocks (applied in order) or a :class:`StressSet`.
    trials, seed, workers
        As for :func:`riskbench.simulate`; ``seed=None`` draws one, used by both runs
        and recorded on them.

    Returns
    -------
    StressResult
        Both runs and the per-scenario and portfolio comparison table.

    Examples
    --------
    >>> import riskbench as rb
    >>> s = rb.Scenario(id="fraud", title="Fraud", category="cyber",
    ...                 frequency=rb.Poisson(rate=2.0), severity=rb.Constant(1e5))
    >>> res = stress(rb.Portfolio([s]), ScaleSeverity("fraud", 3.0), trials=1_000, seed=0)
    >>> float(res.table.loc["portfolio", "mean_ratio"])
    3.0
    """
    name, items = _as_shocks(shocks)
    stressed_portfolio = _apply_all(items, portfolio)
    base = _run(portfolio, trials, seed, workers)
    return _compare(name, base, _run(stressed_portfolio, trials, base.seed, workers))


def stress_all(
    portfolio: Portfolio,
    sets: Mapping[str, StressSet] | Sequence[StressSet],
    *,
    trials: int = 100_000,
    seed: int | None = None,
    workers: int | None = None,
) -> dict[str, StressResult]:
    """Run several stress sets against one baseline simulation (same seed for all).

    Every set is applied before anything is simulated, so a set that does not
    fit the portfolio fails fast, located as ``sets[name].shocks[j]...``.

    Examples
    --------
    >>> import riskbench as rb
    >>> portfolio = rb.load_portfolio("examples/register.yaml")
    >>> sets = load_stress_sets("examples/stress.yaml")
    >>> out = stress_all(portfolio, sets, trials=1_000, seed=3)
    >>> sorted(out) == sorted(sets)
    True
    """
    chosen = list(sets.values()) if isinstance(sets, Mapping) else list(sets)
    stressed: dict[str, Portfolio] = {}
    for s in chosen:
        try:
            stressed[s.name] = s.apply(portfolio)
        except ValidationError as err:
            raise err.within(f"sets[{s.name}]") from None
    base = _run(portfolio, trials, seed, workers)
    return {
        name: _compare(name, base, _run(p, trials, base.seed, workers))
        for name, p in stressed.items()
    }


# -------------------------------------------------------------------------- reverse
@dataclass(frozen=True)
class ReverseStress:
    """The smallest factor that makes a portfolio measure reach a limit.

    Attributes
    ----------
    factor
        The factor found with the given seed; ``None`` when the limit is not
        reached within ``bounds``; ``bounds[0]`` when it is already breached there.
    status
        ``"found"``, ``"breached at lower bound"`` or ``"not reached"``.
    message
        The answer in words.
    factors
        The factor found with each of ``repeats`` independent seeds (the first is
        ``seed``); NaN where that seed did not find one inside the bounds.
    spread
        The standard deviation of ``factors`` (simulation uncertainty of the answer).
    metric_at_bounds
        The measure at ``bounds[0]`` and ``bounds[1]`` with the given seed.
    """

    factor: float | None
    status: str
    message: str
    factors: tuple[float, ...]
    spread: float
    kind: str
    scenario: str
    category: str | None
    metric: str
    limit: float
    bounds: tuple[float, float]
    metric_at_bounds: tuple[float, float]


def _metric(values: FloatArray, metric: str) -> float:
    m = _Samples(values, 0.0)
    if metric == "mean":
        return m.mean()
    if metric.startswith("tvar"):
        return m.tvar(float(metric[4:]) / 100)
    return float(m.quantile(np.array(float(metric[1:]) / 100)))


def reverse_stress(
    portfolio: Portfolio,
    *,
    kind: Literal["severity", "frequency"],
    limit: float,
    scenario: str = "*",
    category: str | None = None,
    metric: str = "p99",
    trials: int = 20_000,
    seed: int | None = None,
    bounds: tuple[float, float] = (1.0, 20.0),
    repeats: int = 5,
    rtol: float = 1e-4,
    workers: int | None = None,
) -> ReverseStress:
    """The smallest factor on ``kind`` that makes the portfolio's ``metric`` reach ``limit``.

    Each candidate factor is simulated with the same seed (common random
    numbers), so the measure changes smoothly with the factor and a root finder
    (Brent's method) can bracket the crossing. Severity scaling raises every
    year's loss, so the measure is monotone in the factor. Frequency scaling
    raises every year's count, but the later years' events shift, so the measure
    is monotone only up to simulation noise (Bernoulli probabilities are capped
    at 1). The whole search is repeated with ``repeats - 1`` further independent
    seeds and their spread reported.

    Parameters
    ----------
    kind
        ``"severity"`` (:class:`ScaleSeverity`) or ``"frequency"`` (:class:`ScaleFrequency`).
    limit
        The level the portfolio measure must reach, in currency (> 0).
    scenario, category
        What to scale: a scenario id, ``"*"`` (all) or a category.
    metric
        ``"mean"``, ``"pNN"`` (a quantile, p99) or ``"tvarNN"`` (expected shortfall).
    bounds
        The range of factors searched, ``0 < low < high``.

    Examples
    --------
    >>> import riskbench as rb
    >>> s = rb.Scenario(id="fraud", title="Fraud", category="cyber",
    ...                 frequency=rb.Poisson(rate=2.0), severity=rb.Constant(1e5))
    >>> r = reverse_stress(rb.Portfolio([s]), kind="severity", limit=1.2e6,
    ...                    trials=5_000, seed=0, repeats=2)
    >>> r.status, round(r.factor, 3)  # p99 of Poisson(2) is 6 events: 1.2e6 / 6e5
    ('found', 2.0)
    """
    issues = []
    if kind not in ("severity", "frequency"):
        issues.append(Issue("kind", f"must be 'severity' or 'frequency', got {kind!r}"))
    if not isinstance(metric, str) or not _METRIC.match(metric):
        issues.append(
            Issue("metric", f"must be 'mean', 'pNN' (p99) or 'tvarNN' (tvar99), got {metric!r}")
        )
    if isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0:
        issues.append(Issue("limit", f"must be a positive amount, got {limit!r}"))
    lo, hi = (float(b) for b in bounds)
    if not 0 < lo < hi or not math.isfinite(hi):
        issues.append(Issue("bounds", f"must be (low, high) with 0 < low < high, got {bounds!r}"))
    if isinstance(repeats, bool) or not isinstance(repeats, int) or repeats < 1:
        issues.append(Issue("repeats", f"must be a whole number >= 1, got {repeats!r}"))
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        issues.append(Issue("seed", f"must be a non-negative integer or None, got {seed!r}"))
    if issues:
        raise ValidationError(issues)

    def shock(k: float) -> Shock:
        if kind == "severity":
            return ScaleSeverity(scenario=scenario, category=category, factor=k)
        return ScaleFrequency(scenario=scenario, category=category, factor=k, cap=True)

    shock(lo).apply(portfolio)  # bad targets fail here, before any simulation
    first = np.random.SeedSequence(seed).entropy
    assert isinstance(first, int)
    extra = np.random.SeedSequence(first).generate_state(max(repeats - 1, 0))
    seeds = [int(first), *(int(s) for s in extra)]

    def measure(k: float, s: int) -> float:
        res = _run(shock(k).apply(portfolio), trials, s, workers)
        return _metric(res.annual_loss, metric)

    found: list[float] = []
    at_bounds = (math.nan, math.nan)
    statuses = []
    for i, s in enumerate(seeds):
        f_lo, f_hi = measure(lo, s) - limit, measure(hi, s) - limit
        if i == 0:
            at_bounds = (f_lo + limit, f_hi + limit)
        if f_lo >= 0:
            statuses.append("breached at lower bound")
            found.append(lo)
        elif f_hi < 0:
            statuses.append("not reached")
            found.append(math.nan)
        else:
            statuses.append("found")
            found.append(
                float(optimize.brentq(lambda k, s=s: measure(k, s) - limit, lo, hi, rtol=rtol))
            )
    status = statuses[0]
    ok = [f for f in found if not math.isnan(f)]
    spread = float(np.std(ok, ddof=1)) if len(ok) > 1 else math.nan
    if category is not None:
        what = f"{kind} of category {category!r}"
    else:
        what = f"{kind} of {scenario!r}" if scenario != "*" else f"{kind} of every scenario"
    if status == "found":
        factor: float | None = found[0]
        message = (
            f"portfolio {metric} reaches {limit:,.0f} at a factor {found[0]:.4g} on the {what} "
            f"(sd {spread:.2g} over {len(seeds)} seeds)"
        )
    elif status == "breached at lower bound":
        factor = lo
        message = (
            f"portfolio {metric} is already {at_bounds[0]:,.0f} >= {limit:,.0f} at a factor "
            f"{_fmt(lo)}: the limit is breached without stress"
        )
    else:
        factor = None
        message = (
            f"portfolio {metric} stays below {limit:,.0f} up to a factor {_fmt(hi)} on the "
            f"{what} (reaches {at_bounds[1]:,.0f}): not reached within bounds {bounds}"
        )
    if len(set(statuses)) > 1:
        message += f"; the seeds disagree ({', '.join(statuses)}): the limit is near a bound"
    return ReverseStress(
        factor=factor,
        status=status,
        message=message,
        factors=tuple(found),
        spread=spread,
        kind=kind,
        scenario=scenario,
        category=category,
        metric=metric,
        limit=float(limit),
        bounds=(lo, hi),
        metric_at_bounds=at_bounds,
    )

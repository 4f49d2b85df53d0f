"""Mitigations: what a control costs, what it changes, and whether it pays.

A :class:`Mitigation` scales the frequency and/or the severity of the scenarios it
names, or puts insurance on them for a premium. :func:`evaluate_mitigations`
simulates the portfolio before and after each option (and a chosen plan) with the
same seed, so the differences are common-random-number differences, not noise
between two runs; :func:`optimize_mitigations` searches every affordable set. Reading mitigations
from YAML (:func:`load_mitigations`) lives in :mod:`riskbench.mitigation_io` and is
re-exported here.

How a factor is applied
-----------------------
A fixed factor ``f`` in (0, 1] multiplies the Poisson rate (an uncertain gamma rate
is scaled in its ``rate`` parameter), the Bernoulli probability, or the negative
binomial mean (``r`` kept); severity becomes ``severity.scaled(f)``. Counts come
from uniforms by inverse transform, so a lower rate never gives more events in a
year (except a Poisson with an uncertain rate, which numpy draws directly: its
counts are paired with the baseline's only in distribution); a severity factor
scales every simulated event exactly.

An uncertain factor (a distribution on [0, 1]) is replaced by its values at 8
equally likely quantile midpoints. Severity becomes an equal-weight mixture of the
severity scaled by each: the factor is drawn per event. A Poisson with a fixed rate
gets that grid as an uncertain rate: the factor is drawn per year. Where the count
family cannot carry a drawn factor (Bernoulli, negative binomial, an already
uncertain rate) its mean is used; for Bernoulli this is exact, since a Bernoulli
with a random ``p`` is a Bernoulli with the mean ``p``. Drawn factors use the
scenario's random stream differently, so that scenario's draws are no longer
paired with the baseline's (the others' still are). Several mitigations on one
scenario multiply their factors; at most one of them may carry insurance, which
replaces the scenario's own.

Examples
--------
>>> import riskbench as rb
>>> from riskbench.mitigation import Mitigation, evaluate_mitigations
>>> s = rb.Scenario(id="fire", title="Fire", category="operational",
...                 frequency=rb.Poisson(rate=0.1), severity=rb.Constant(1e6))
>>> sprinklers = Mitigation(id="sprinklers", name="Sprinklers", scenarios=["fire"],
...                         one_off_cost=100_000, lifetime_years=10, severity_factor=0.5)
>>> report = evaluate_mitigations(rb.Portfolio([s]), [sprinklers], trials=20_000, seed=1)
>>> float(report.table.loc["sprinklers", "annual_cost"])
10000.0
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, TypeAlias

import numpy as np
import pandas as pd
import pydantic
from numpy.typing import NDArray
from pydantic import ConfigDict, Field, field_validator, model_validator

from riskbench.dists import (
    Distribution,
    Empirical,
    Frequency,
    Mixture,
    Poisson,
    dist_from_dict,
    init_model,
)
from riskbench.engine import simulate
from riskbench.errors import Issue, ValidationError
from riskbench.executors import Engine, shared_client
from riskbench.results import SimulationResult
from riskbench.scenario import Insurance, Portfolio, Scenario

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "Mitigation",
    "MitigationReport",
    "OptimizationResult",
    "apply_mitigations",
    "check_mitigations",
    "evaluate_mitigations",
    "load_mitigations",
    "optimize_mitigations",
    "tolerance_breaches",
]

FloatArray = NDArray[np.float64]
Factor = float | Distribution
Objective = Literal["mean", "p99", "tolerance"]
Tolerance: TypeAlias = Sequence[tuple[float, float]] | pd.DataFrame

_GRID = 8  # quantile midpoints standing in for an uncertain factor
_GRID_Q = (np.arange(_GRID) + 0.5) / _GRID


class Mitigation(pydantic.BaseModel):
    """A control or a transfer of risk, with its costs and its effect.

    Parameters
    ----------
    id, name
        Short identifier (lower-case letters, digits, hyphens) and a readable name.
    scenarios
        Ids of the scenarios it affects (checked against a portfolio by
        :func:`check_mitigations` and the evaluation functions).
    one_off_cost, cost_per_year, lifetime_years
        Up-front cost, running cost a year, and the years the up-front spend lasts
        (its annual share is ``one_off_cost / lifetime_years``).
    frequency_factor, severity_factor
        A number in (0, 1] or an uncertain factor: a distribution on [0, 1] such as
        ``PERT(0.4, 0.6, 0.8)``. 1 (the default) leaves it unchanged.
    insurance, premium_per_year
        Insurance layers the mitigation puts on its scenarios, and their premium.

    Examples
    --------
    >>> import riskbench as rb
    >>> m = Mitigation(id="edr", name="EDR", scenarios=["ransomware-erp"],
    ...                cost_per_year=150_000, frequency_factor=rb.PERT(0.4, 0.6, 0.8))
    >>> round(m.annual_cost, 2)
    150000.0
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    id: str = Field(pattern=r"^[a-z0-9][a-z0-9-]{0,79}$")
    name: str = Field(min_length=1)
    scenarios: tuple[str, ...] = Field(min_length=1)
    one_off_cost: float = 0.0
    cost_per_year: float = 0.0
    lifetime_years: float = Field(default=1.0, gt=0)
    frequency_factor: Factor = 1.0
    severity_factor: Factor = 1.0
    insurance: Insurance | None = None
    premium_per_year: float = 0.0
    description: str = ""

    def __init__(self, **data: Any) -> None:
        init_model(self, data)

    @field_validator("one_off_cost", "cost_per_year", "premium_per_year")
    @classmethod
    def _cost_ok(cls, v: float) -> float:
        if v < 0:
            raise ValueError(f"must be a cost >= 0 (currency), got {v!r}")
        return v

    @field_validator("frequency_factor", "severity_factor", mode="before")
    @classmethod
    def _factor_card(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            return dist_from_dict(v)
        return v

    @field_validator("frequency_factor", "severity_factor")
    @classmethod
    def _factor_ok(cls, v: Factor) -> Factor:
        if isinstance(v, Distribution):
            top = float(v.ppf(1.0))
            if v.kind != "value" or v.support_min < 0 or not top <= 1:
                raise ValueError(
                    f"an uncertain factor must be a distribution on [0, 1] (e.g. pert with "
                    f"0 <= low, high <= 1), got {v!r}"
                )
            return v
        if not 0 < v <= 1:
            raise ValueError(
                f"must lie in (0, 1] (0.6 keeps 60%; 1 leaves it unchanged), got {v!r}"
            )
        return v

    @model_validator(mode="after")
    def _premium_needs_insurance(self) -> Mitigation:
        if self.premium_per_year > 0 and self.insurance is None:
            raise ValueError("premium_per_year is given but insurance is not")
        return self

    @property
    def annual_cost(self) -> float:
        """Running cost, premium, and the one-off cost spread over its lifetime."""
        return self.cost_per_year + self.premium_per_year + self.one_off_cost / self.lifetime_years

    @property
    def recurring_cost(self) -> float:
        """What is paid every year: running cost and premium."""
        return self.cost_per_year + self.premium_per_year


# ------------------------------------------------------------------ applying factors
def _grid(f: Factor) -> FloatArray:
    if isinstance(f, Distribution):
        return np.asarray(f.ppf(_GRID_Q), dtype=float)
    return np.array([float(f)])


def _combined(factors: Sequence[Factor]) -> FloatArray:
    """The values of the product of independent factors (each grid equally likely)."""
    out = np.array([1.0])
    for f in factors:
        out = np.outer(out, _grid(f)).ravel()
    return out


def _scale_frequency(freq: Distribution, values: FloatArray) -> Distribution:
    # An uncertain factor on a fixed, non-zero Poisson rate becomes an uncertain rate
    # (drawn per year); everywhere else the factor's mean scales the expected count.
    uncertain = not np.all(values == values[0])
    if isinstance(freq, Poisson) and isinstance(freq.rate, float) and uncertain and freq.rate:
        return Poisson(rate=Empirical(values=freq.rate * values))
    if isinstance(freq, Frequency):
        return freq.with_mean_scaled(float(values.mean()))
    raise ValidationError([Issue("frequency", f"cannot apply a frequency factor to {freq.dist}")])


def _scale_severity(sev: Distribution, values: FloatArray) -> Distribution:
    if np.all(values == values[0]):
        return sev.scaled(float(values[0]))
    counts: dict[float, int] = {}
    for v in values:
        counts[float(v)] = counts.get(float(v), 0) + 1
    return Mixture([(n / values.size, sev.scaled(v)) for v, n in counts.items()])


def apply_mitigations(scenario: Scenario, mitigations: Iterable[Mitigation]) -> Scenario:
    """The scenario with every mitigation that names it applied (factors multiply).

    Examples
    --------
    >>> import riskbench as rb
    >>> s = rb.Scenario(id="a", title="A", category="other",
    ...                 frequency=rb.Poisson(rate=2.0), severity=rb.Constant(100.0))
    >>> half = Mitigation(id="h", name="Half", scenarios=["a"], severity_factor=0.5)
    >>> apply_mitigations(s, [half, half]).severity.mean()
    25.0
    """
    mine = [m for m in mitigations if scenario.id in m.scenarios]
    if not mine:
        return scenario
    changes: dict[str, Any] = {}
    freq = [m.frequency_factor for m in mine if m.frequency_factor != 1.0]
    sev = [m.severity_factor for m in mine if m.severity_factor != 1.0]
    if freq:
        changes["frequency"] = _scale_frequency(scenario.frequency, _combined(freq))
    if sev:
        changes["severity"] = _scale_severity(scenario.severity, _combined(sev))
    insurers = [m for m in mine if m.insurance is not None]
    if len(insurers) > 1:
        raise ValidationError(
            [
                Issue(
                    f"mitigations ({scenario.id})",
                    f"at most one mitigation may insure a scenario, got {[m.id for m in insurers]}",
                )
            ]
        )
    if insurers:
        changes["insurance"] = insurers[0].insurance
    return scenario.with_(**changes)


def check_mitigations(portfolio: Portfolio, mitigations: Sequence[Mitigation]) -> None:
    """Raise :class:`~riskbench.ValidationError` for unknown scenario ids or duplicate ids."""
    issues = []
    known = set(portfolio.ids)
    seen: set[str] = set()
    for i, m in enumerate(mitigations):
        loc = f"mitigations[{i}] ({m.id})"
        if m.id in seen:
            issues.append(Issue(f"{loc}.id", f"duplicate id {m.id!r}"))
        seen.add(m.id)
        for sid in m.scenarios:
            if sid not in known:
                issues.append(
                    Issue(
                        f"{loc}.scenarios",
                        f"unknown scenario id {sid!r}; known ids: {sorted(known)}",
                    )
                )
    if issues:
        raise ValidationError(issues)


# ------------------------------------------------------------------ simulation cache
class _Columns:
    """Annual losses per scenario, simulated once per distinct set of mitigations.

    With common random numbers a scenario's losses depend only on the scenario
    itself (and, when correlated, on the shared correlation stream), so a set of
    mitigations changes only the columns of the scenarios it touches.
    """

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        trials: int,
        seed: int | None,
        workers: int | None,
        engine: Engine = "local",
        client: Client | str | None = None,
    ):
        self.portfolio = portfolio
        self.workers = workers
        self.engine: Engine = engine
        self.client = client
        base = self._simulate(portfolio, trials, seed)
        assert isinstance(base, SimulationResult)
        self.trials = base.trials
        self.seed = base.seed
        self.baseline = base
        self.base_columns = {s: base.scenario_losses(s) for s in portfolio.ids}
        self.base_annual = np.asarray(base.annual_loss, dtype=float)
        m = portfolio.correlation_matrix()
        off = np.abs(m - np.eye(len(m))).sum(axis=0) > 0
        self.correlated = {sid for sid, o in zip(portfolio.ids, off, strict=True) if o}
        self._cache: dict[tuple[str, frozenset[str]], FloatArray] = {}

    def _simulate(self, portfolio: Portfolio, trials: int, seed: int | None) -> SimulationResult:
        res = simulate(
            portfolio,
            trials=trials,
            seed=seed,
            workers=self.workers,
            engine=self.engine,
            client=self.client,
        )
        assert isinstance(res, SimulationResult)
        return res

    def column(self, sid: str, mitigations: Sequence[Mitigation]) -> FloatArray:
        mine = [m for m in mitigations if sid in m.scenarios]
        if not mine:
            return self.base_columns[sid]
        key = (sid, frozenset(m.id for m in mine))
        if key not in self._cache:
            changed = apply_mitigations(self.portfolio[sid], mine)
            if sid in self.correlated:
                # The correlation reorder needs the whole portfolio's layout.
                scen = [changed if s.id == sid else s for s in self.portfolio.scenarios]
                pf = self.portfolio.with_scenarios(scen)
            else:
                pf = Portfolio([changed])
            res = self._simulate(pf, self.trials, self.seed)
            self._cache[key] = res.scenario_losses(sid)
        return self._cache[key]

    def annual(self, mitigations: Sequence[Mitigation]) -> FloatArray:
        touched = sorted({s for m in mitigations for s in m.scenarios})
        out = self.base_annual.copy()
        for sid in touched:
            out += self.column(sid, mitigations) - self.base_columns[sid]
        return out


def _quantile(values: FloatArray, q: float) -> float:
    # The inverted cdf, as SimulationResult.var uses.
    n = values.size
    k = min(max(math.ceil(q * n - 1e-9) - 1, 0), n - 1)
    return float(np.partition(values, k)[k])


# ------------------------------------------------------------------ evaluation
def _npv(chosen: Sequence[Mitigation], benefit: float, horizon: int, rate: float) -> float:
    """NPV of the yearly benefit less running costs over ``horizon`` years; each
    one-off cost is paid at t = 0 and again every ``lifetime_years`` within it."""
    recurring = sum(m.recurring_cost for m in chosen)
    value = sum((benefit - recurring) / (1 + rate) ** t for t in range(1, horizon + 1))
    for m in chosen:
        k = 0
        while k * m.lifetime_years < horizon - 1e-9:
            value -= m.one_off_cost / (1 + rate) ** (k * m.lifetime_years)
            k += 1
    return float(value)


def _payback(benefit: float, one_off: float, recurring: float) -> float:
    net = benefit - recurring
    if net <= 0:
        return math.inf
    return one_off / net


@dataclass(frozen=True)
class MitigationReport:
    """What each option (and the plan) does to the portfolio's annual loss, and pays.

    ``table`` has one row per option, indexed ``baseline``, each mitigation id and
    ``plan``, with columns ``mitigations``, ``one_off_cost``, ``annual_cost``,
    ``eal``, ``p95``, ``p99``, ``eal_reduction``, ``p95_reduction``,
    ``p99_reduction``, ``rosi``, ``npv`` and ``payback_years``.
    ``annual_losses`` holds each row's simulated annual losses (same seed).
    """

    table: pd.DataFrame
    annual_losses: dict[str, FloatArray] = field(repr=False)
    trials: int
    seed: int
    horizon_years: int
    discount_rate: float


def _row(
    name: str,
    chosen: Sequence[Mitigation],
    losses: FloatArray,
    base: dict[str, float],
    horizon: int,
    rate: float,
) -> dict[str, Any]:
    eal, p95, p99 = float(losses.mean()), _quantile(losses, 0.95), _quantile(losses, 0.99)
    one_off = sum(m.one_off_cost for m in chosen)
    annual = sum(m.annual_cost for m in chosen)
    recurring = sum(m.recurring_cost for m in chosen)
    benefit = base["eal"] - eal if base else 0.0
    # A free option that helps has an unbounded return; one that does nothing, none.
    free = math.inf if benefit > 0 else math.nan
    rosi = (benefit - annual) / annual if annual > 0 else free
    npv = _npv(chosen, benefit, horizon, rate)
    return {
        "name": name,
        "mitigations": ", ".join(m.id for m in chosen),
        "one_off_cost": float(one_off),
        "annual_cost": float(annual),
        "eal": eal,
        "p95": p95,
        "p99": p99,
        "eal_reduction": benefit,
        "p95_reduction": base["p95"] - p95 if base else 0.0,
        "p99_reduction": base["p99"] - p99 if base else 0.0,
        "rosi": rosi if chosen else math.nan,
        "npv": npv,
        "payback_years": _payback(benefit, one_off, recurring) if chosen else math.nan,
    }


def _check_options(trials: Any, horizon_years: Any, discount_rate: Any) -> None:
    issues = []
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        issues.append(Issue("trials", f"must be a whole number of years >= 1, got {trials!r}"))
    if isinstance(horizon_years, bool) or not isinstance(horizon_years, int) or horizon_years < 1:
        issues.append(Issue("horizon_years", f"must be an integer >= 1, got {horizon_years!r}"))
    if not isinstance(discount_rate, int | float) or not -1 < discount_rate < 1:
        issues.append(
            Issue(
                "discount_rate",
                f"must be a fraction in (-1, 1) (0.08 not 8), got {discount_rate!r}",
            )
        )
    if issues:
        raise ValidationError(issues)


def _by_id(mitigations: Sequence[Mitigation], ids: Iterable[str], loc: str) -> list[Mitigation]:
    index = {m.id: m for m in mitigations}
    unknown = [i for i in ids if i not in index]
    if unknown:
        raise ValidationError(
            [Issue(loc, f"unknown mitigation ids {unknown}; known ids: {sorted(index)}")]
        )
    return [index[i] for i in ids]


def evaluate_mitigations(
    portfolio: Portfolio,
    mitigations: Sequence[Mitigation],
    *,
    trials: int,
    seed: int | None,
    plan: Sequence[str] | None = None,
    horizon_years: int = 5,
    discount_rate: float = 0.08,
    workers: int | None = None,
    engine: Engine = "local",
    client: Client | str | None = None,
) -> MitigationReport:
    """Baseline, each mitigation alone, and the plan, all from the same random numbers.

    Parameters
    ----------
    portfolio, mitigations
        The register and the options (their scenario ids must exist).
    trials, seed
        Simulated years and the seed shared by every run (common random numbers).
    plan
        Ids of the mitigations adopted together (default: all of them).
    horizon_years, discount_rate
        NPV horizon and the yearly discount rate (a fraction).
    workers
        Threads for the simulation (the numbers do not depend on it).
    engine, client
        ``engine="dask"`` runs the simulations on a Dask cluster, all through one
        ``client`` (as for :func:`riskbench.simulate`); the numbers are the same.

    Returns
    -------
    MitigationReport
        ``rosi = (eal_reduction - annual_cost) / annual_cost``; ``npv`` discounts the
        yearly ``eal_reduction - cost_per_year - premium_per_year`` over the
        horizon, less the one-off cost at t = 0 and again each ``lifetime_years``
        within it; ``payback_years = one_off_cost / (eal_reduction - recurring cost)``.

    Examples
    --------
    >>> import riskbench as rb
    >>> s = rb.Scenario(id="a", title="A", category="other",
    ...                 frequency=rb.Poisson(rate=1.0), severity=rb.Constant(1000.0))
    >>> m = Mitigation(id="m", name="M", scenarios=["a"], cost_per_year=100,
    ...                severity_factor=0.5)
    >>> r = evaluate_mitigations(rb.Portfolio([s]), [m], trials=10_000, seed=0)
    >>> list(r.table.index)
    ['baseline', 'm', 'plan']
    """
    _check_options(trials, horizon_years, discount_rate)
    mitigations = list(mitigations)
    check_mitigations(portfolio, mitigations)
    chosen = _by_id(mitigations, plan if plan is not None else [m.id for m in mitigations], "plan")
    with shared_client(engine, client) as c:
        cols = _Columns(
            portfolio, trials=trials, seed=seed, workers=workers, engine=engine, client=c
        )
        rows = [_row("baseline", [], cols.base_annual, {}, horizon_years, discount_rate)]
        base = {k: rows[0][k] for k in ("eal", "p95", "p99")}
        losses = {"baseline": cols.base_annual}
        for m in mitigations:
            losses[m.id] = cols.annual([m])
            rows.append(_row(m.id, [m], losses[m.id], base, horizon_years, discount_rate))
        losses["plan"] = cols.annual(chosen)
    rows.append(_row("plan", chosen, losses["plan"], base, horizon_years, discount_rate))
    table = pd.DataFrame(rows).set_index("name")
    table.index.name = None
    return MitigationReport(
        table=table,
        annual_losses=losses,
        trials=cols.trials,
        seed=cols.seed,
        horizon_years=horizon_years,
        discount_rate=float(discount_rate),
    )


# ------------------------------------------------------------------ optimisation
@dataclass(frozen=True)
class OptimizationResult:
    """The best affordable set of mitigations and the efficient frontier.

    ``frontier`` lists the non-dominated affordable sets (no other set is as cheap
    and at least as good, with one of the two strictly), cheapest first, with
    columns ``mitigations`` (a tuple of ids), ``annual_cost`` and ``objective``.

    With ``objective="tolerance"``, ``tolerance`` is the curve with, for the best
    set, its ``exceedance`` probability ``P(L > loss)`` and ``ratio`` (exceedance /
    tolerated probability) at each point, and ``within_tolerance`` says whether
    the best set's worst ratio is at most 1; both are ``None`` for other objectives.
    """

    best: tuple[str, ...]
    best_objective: float
    baseline_objective: float
    objective: str
    budget_per_year: float
    frontier: pd.DataFrame
    n_evaluated: int
    within_tolerance: bool | None = None
    tolerance: pd.DataFrame | None = field(default=None, repr=False)


def _tolerance_curve(tolerance: Any) -> tuple[FloatArray, FloatArray]:
    """The (losses, probabilities) of a risk-tolerance curve, checked."""

    def bad(msg: str) -> ValidationError:
        return ValidationError([Issue("tolerance", msg)])

    if isinstance(tolerance, pd.DataFrame):
        missing = [c for c in ("loss", "probability") if c not in tolerance.columns]
        if missing:
            raise bad(
                f"a DataFrame needs columns 'loss' and 'probability', missing {missing}; "
                f"got {list(tolerance.columns)}"
            )
        pairs = list(zip(tolerance["loss"], tolerance["probability"], strict=True))
    elif isinstance(tolerance, Iterable) and not isinstance(tolerance, str | bytes | Mapping):
        pairs = list(tolerance)
    else:
        raise bad(
            f"must be a list of (loss, probability) points or a DataFrame with columns "
            f"loss, probability, got {tolerance!r}"
        )
    if not pairs:
        raise bad("needs at least one (loss, probability) point, got none")
    issues = []
    losses: list[float] = []
    probs: list[float] = []
    for i, pt in enumerate(pairs):
        try:
            loss, p = (float(v) for v in pt)
        except (TypeError, ValueError):
            issues.append(
                Issue(f"tolerance[{i}]", f"must be a (loss, probability) pair, got {pt!r}")
            )
            continue
        if not math.isfinite(loss) or loss < 0:
            issues.append(
                Issue(f"tolerance[{i}]", f"loss must be a finite amount >= 0, got {loss!r}")
            )
        if not 0 < p <= 1:
            issues.append(
                Issue(
                    f"tolerance[{i}]",
                    f"probability must lie in (0, 1] (0.01 for 1 in 100 years), got {p!r}",
                )
            )
        if losses and not loss > losses[-1]:
            issues.append(
                Issue(
                    f"tolerance[{i}]",
                    f"losses must increase along the curve, got {loss!r} after {losses[-1]!r}",
                )
            )
        if probs and p > probs[-1]:
            issues.append(
                Issue(
                    f"tolerance[{i}]",
                    f"probabilities must not increase along the curve (a larger loss is "
                    f"tolerated no more often), got {p!r} after {probs[-1]!r}",
                )
            )
        losses.append(loss)
        probs.append(p)
    if issues:
        raise ValidationError(issues)
    return np.array(losses), np.array(probs)


def tolerance_breaches(
    curve: pd.DataFrame, losses: np.ndarray, probabilities: np.ndarray
) -> pd.DataFrame:
    """The rows of an exceedance ``curve`` whose probability exceeds the tolerance.

    The tolerance between its points is the straight line on the chart's log-log axes
    (linear interpolation of log probability in log loss); it is judged only over the
    span of its points with a positive loss (a log axis cannot show loss 0).

    Returns
    -------
    pandas.DataFrame
        The breaching rows of ``curve`` (columns ``loss``, ``probability``) with the
        tolerated probability at that loss in ``tolerated``.
    """
    keep = losses > 0
    tl, tp = losses[keep], probabilities[keep]
    loss = curve["loss"].to_numpy(dtype=float)
    prob = curve["probability"].to_numpy(dtype=float)
    empty = curve.iloc[0:0].assign(tolerated=np.empty(0))
    if tl.size == 0:
        return empty
    inside = (loss >= tl[0]) & (loss <= tl[-1])
    tolerated = np.full(loss.size, np.nan)
    tolerated[inside] = np.exp(np.interp(np.log(loss[inside]), np.log(tl), np.log(tp)))
    hit = inside & (prob > np.where(inside, tolerated, np.inf))
    return curve[hit].assign(tolerated=tolerated[hit])


def _exceedance(losses: FloatArray, levels: FloatArray) -> FloatArray:
    """P(L > level) for each level, from the simulated years."""
    ordered = np.sort(losses)
    above = ordered.size - np.searchsorted(ordered, levels, side="right")
    return np.asarray(above / ordered.size, dtype=float)


def optimize_mitigations(
    portfolio: Portfolio,
    mitigations: Sequence[Mitigation],
    *,
    budget_per_year: float,
    objective: Objective = "mean",
    tolerance: Tolerance | None = None,
    trials: int,
    seed: int | None,
    max_exact: int = 20,
    workers: int | None = None,
    engine: Engine = "local",
    client: Client | str | None = None,
) -> OptimizationResult:
    """The affordable set of mitigations that minimises the residual annual loss.

    Every subset whose annual cost is within ``budget_per_year`` is evaluated by
    simulation (not by adding effects: two controls on one scenario interact).
    Only the scenarios a set touches are simulated again, once per distinct
    combination of mitigations on them; the other scenarios' losses are the
    baseline's, identical under common random numbers.

    Parameters
    ----------
    objective
        ``"mean"`` (expected annual loss), ``"p99"`` (the 1-in-100 annual loss) or
        ``"tolerance"``: the worst ratio, over the points of ``tolerance``, of the
        portfolio's exceedance probability ``P(L > loss)`` to the tolerated
        probability (at most 1: within tolerance). Ties are broken by cost.
    tolerance
        The risk-tolerance curve for ``objective="tolerance"``: ``[(loss,
        probability), ...]`` or a DataFrame with columns ``loss`` and
        ``probability``; losses increasing, probabilities in (0, 1] and not
        increasing.
    max_exact
        The most mitigations searched exhaustively (2**n subsets).
    workers, engine, client
        Where the simulations run, as for :func:`evaluate_mitigations`.

    Examples
    --------
    >>> import riskbench as rb
    >>> s = rb.Scenario(id="a", title="A", category="other",
    ...                 frequency=rb.Poisson(rate=1.0), severity=rb.Constant(1000.0))
    >>> ms = [Mitigation(id="cheap", name="C", scenarios=["a"], cost_per_year=50,
    ...                  severity_factor=0.8),
    ...       Mitigation(id="good", name="G", scenarios=["a"], cost_per_year=90,
    ...                  severity_factor=0.5)]
    >>> optimize_mitigations(rb.Portfolio([s]), ms, budget_per_year=100,
    ...                      trials=5_000, seed=0).best
    ('good',)
    """
    issues = []
    if objective not in ("mean", "p99", "tolerance"):
        issues.append(
            Issue("objective", f"must be one of 'mean', 'p99', 'tolerance', got {objective!r}")
        )
    elif (objective == "tolerance") != (tolerance is not None):
        issues.append(
            Issue(
                "tolerance",
                "objective='tolerance' needs a tolerance=[(loss, probability), ...]"
                if tolerance is None
                else f"is used only with objective='tolerance', got objective={objective!r}",
            )
        )
    if not isinstance(budget_per_year, int | float) or budget_per_year < 0:
        issues.append(Issue("budget_per_year", f"must be a cost >= 0, got {budget_per_year!r}"))
    if len(mitigations) > max_exact:
        issues.append(
            Issue(
                "mitigations",
                f"{len(mitigations)} options exceed max_exact={max_exact} for an exhaustive "
                f"search (2**n subsets); pass fewer or raise max_exact",
            )
        )
    if issues:
        raise ValidationError(issues)
    levels, tolerated = _tolerance_curve(tolerance) if tolerance is not None else (None, None)
    _check_options(trials, 1, 0.0)
    mitigations = list(mitigations)
    check_mitigations(portfolio, mitigations)

    def score(losses: FloatArray) -> float:
        if levels is not None and tolerated is not None:
            return float(np.max(_exceedance(losses, levels) / tolerated))
        return float(losses.mean()) if objective == "mean" else _quantile(losses, 0.99)

    costs = [m.annual_cost for m in mitigations]
    found: list[tuple[float, float, tuple[str, ...]]] = []
    with shared_client(engine, client) as c:
        cols = _Columns(
            portfolio, trials=trials, seed=seed, workers=workers, engine=engine, client=c
        )
        for size in range(len(mitigations) + 1):
            any_fits = False
            for combo in itertools.combinations(range(len(mitigations)), size):
                cost = sum(costs[i] for i in combo)
                if cost > budget_per_year * (1 + 1e-12):
                    continue
                any_fits = True
                chosen = [mitigations[i] for i in combo]
                found.append((cost, score(cols.annual(chosen)), tuple(m.id for m in chosen)))
            if not any_fits:  # every larger set costs at least as much as a smaller one
                break
        best = min(found, key=lambda t: (t[1], t[0], len(t[2])))
        best_losses = cols.annual(_by_id(mitigations, best[2], "best"))
    found.sort(key=lambda t: (t[0], t[1], len(t[2])))
    frontier = []
    best_so_far = math.inf
    for cost, value, ids in found:
        if value < best_so_far:
            frontier.append({"mitigations": ids, "annual_cost": cost, "objective": value})
            best_so_far = value
    curve = None
    if levels is not None and tolerated is not None:
        exceed = _exceedance(best_losses, levels)
        curve = pd.DataFrame(
            {"loss": levels, "probability": tolerated, "exceedance": exceed}
        ).assign(ratio=exceed / tolerated)
    return OptimizationResult(
        best=best[2],
        best_objective=best[1],
        baseline_objective=score(cols.base_annual),
        objective=objective,
        budget_per_year=float(budget_per_year),
        frontier=pd.DataFrame(frontier, columns=["mitigations", "annual_cost", "objective"]),
        n_evaluated=len(found),
        within_tolerance=bool(best[1] <= 1) if curve is not None else None,
        tolerance=curve,
    )


# Re-exported (``from riskbench.mitigation import load_mitigations`` keeps working), and
# imported last because riskbench.mitigation_io builds on the names defined above.
from riskbench.mitigation_io import load_mitigations  # noqa: E402
from riskbench.mitigation_io import mitigations_from_dict as mitigations_from_dict  # noqa: E402

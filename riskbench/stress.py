"""Stress tests: what the register's numbers become under named shocks.

The shocks themselves (:class:`Shock` and its kinds, :class:`StressSet`,
:func:`load_stress_sets`) live in :mod:`riskbench.shocks` and are re-exported
here. This module runs them: :func:`stress` simulates the baseline and the
stressed portfolio with the same seed, :func:`stress_all` runs several stress
sets against one baseline. Each scenario's random stream is keyed by its id and
block (see :mod:`riskbench.engine`), so the scenarios a shock leaves alone keep
exactly their simulated years, and the difference between the two runs is the
effect of the shock, not simulation noise (common random numbers).
:func:`reverse_stress` asks the question the other way round: how large a factor
makes a portfolio measure reach a limit?

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
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import optimize

from riskbench.dists.base import _fmt
from riskbench.engine import simulate
from riskbench.errors import Issue, ValidationError
from riskbench.executors import Engine, shared_client
from riskbench.mitigation import Mitigation, apply_mitigations, check_mitigations
from riskbench.results import PORTFOLIO, SimulationResult, _Samples
from riskbench.scenario import Portfolio
from riskbench.shocks import (
    AddScenario,
    Combined,
    DropMitigation,
    ForceEvent,
    NodeOutage,
    ScaleFrequency,
    ScaleSeverity,
    Shock,
    StressSet,
    _apply_all,
    _invalid,
    load_stress_sets,
    shock_from_dict,
)

if TYPE_CHECKING:
    from distributed import Client

__all__ = [
    "AddScenario",
    "Combined",
    "DropMitigation",
    "ForceEvent",
    "NodeOutage",
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


def _run(
    portfolio: Portfolio,
    trials: int,
    seed: int | None,
    workers: int | None,
    engine: Engine = "local",
    client: Client | str | None = None,
) -> Any:
    res = simulate(
        portfolio, trials=trials, seed=seed, workers=workers, engine=engine, client=client
    )
    assert isinstance(res, SimulationResult)
    return res


def _drops(items: Sequence[Shock], loc: str = "shocks") -> list[tuple[str, DropMitigation]]:
    """Every DropMitigation among ``items`` (inside Combined too), with its location."""
    out: list[tuple[str, DropMitigation]] = []
    for j, s in enumerate(items):
        if isinstance(s, DropMitigation):
            out.append((f"{loc}[{j}].mitigation_id", s))
        elif isinstance(s, Combined):
            out.extend(_drops(s.shocks, f"{loc}[{j}].shocks"))
    return out


def _check_plan(portfolio: Portfolio, mitigations: Sequence[Mitigation] | None) -> list[Mitigation]:
    if mitigations is None:
        return []
    plan = list(mitigations)
    bad = [m for m in plan if not isinstance(m, Mitigation)]
    if bad:
        raise _invalid("mitigations", f"must be a list of Mitigation, got {bad[0]!r}")
    check_mitigations(portfolio, plan)
    return plan


def _stressed_plan(items: Sequence[Shock], plan: list[Mitigation], given: bool) -> list[Mitigation]:
    """The plan in force in the stressed run: ``plan`` less the dropped mitigations."""
    drops = _drops(items)
    known = [m.id for m in plan]
    issues = []
    for loc, d in drops:
        if not given:
            issues.append(
                Issue(
                    loc,
                    f"drop_mitigation {d.mitigation_id!r} needs the plan in force: "
                    f"pass mitigations=[...] (the Mitigation objects) to stress()",
                )
            )
        elif d.mitigation_id not in known:
            issues.append(
                Issue(
                    loc,
                    f"unknown mitigation id {d.mitigation_id!r}; mitigations in the plan: {known}",
                )
            )
    if issues:
        raise ValidationError(issues)
    dropped = {d.mitigation_id for _, d in drops}
    return [m for m in plan if m.id not in dropped]


def _mitigated(portfolio: Portfolio, plan: Sequence[Mitigation]) -> Portfolio:
    if not plan:
        return portfolio
    return portfolio.with_scenarios([apply_mitigations(s, plan) for s in portfolio.scenarios])


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
    mitigations: Sequence[Mitigation] | None = None,
    engine: Engine = "local",
    client: Client | str | None = None,
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
    mitigations
        The plan in force (a list of :class:`~riskbench.Mitigation`): applied to
        every scenario of both runs (with :func:`~riskbench.apply_mitigations`,
        after the other shocks), less any :class:`DropMitigation` in the stressed
        run. A ``DropMitigation`` without it is an error.
    engine, client
        ``engine="dask"`` runs both simulations on a Dask cluster (one ``client``
        for both, as for :func:`riskbench.simulate`); the numbers are the same.

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
    plan = _check_plan(portfolio, mitigations)
    stressed_plan = _stressed_plan(items, plan, mitigations is not None)
    stressed_portfolio = _mitigated(_apply_all(items, portfolio), stressed_plan)
    with shared_client(engine, client) as c:
        base = _run(_mitigated(portfolio, plan), trials, seed, workers, engine, c)
        stressed = _run(stressed_portfolio, trials, base.seed, workers, engine, c)
    return _compare(name, base, stressed)


def stress_all(
    portfolio: Portfolio,
    sets: Mapping[str, StressSet] | Sequence[StressSet],
    *,
    trials: int = 100_000,
    seed: int | None = None,
    workers: int | None = None,
    mitigations: Sequence[Mitigation] | None = None,
    engine: Engine = "local",
    client: Client | str | None = None,
) -> dict[str, StressResult]:
    """Run several stress sets against one baseline simulation (same seed for all).

    Every set is applied before anything is simulated, so a set that does not
    fit the portfolio fails fast, located as ``sets[name].shocks[j]...``.
    ``mitigations`` is the plan in force, and ``engine`` and ``client`` choose where
    the runs go (one client for all), as for :func:`stress`.

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
    plan = _check_plan(portfolio, mitigations)
    stressed: dict[str, Portfolio] = {}
    for s in chosen:
        try:
            kept = _stressed_plan(s.shocks, plan, mitigations is not None)
            stressed[s.name] = _mitigated(s.apply(portfolio), kept)
        except ValidationError as err:
            raise err.within(f"sets[{s.name}]") from None
    with shared_client(engine, client) as c:
        base = _run(_mitigated(portfolio, plan), trials, seed, workers, engine, c)
        return {
            name: _compare(name, base, _run(p, trials, base.seed, workers, engine, c))
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

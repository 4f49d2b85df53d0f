"""Tornado sensitivity: which scenario assumptions move the portfolio's numbers most.

For each scenario and each of its two inputs (frequency, severity) the tornado
asks: what if this input came out in its low band (below its ``q_low`` quantile)
or its high band (above its ``q_high`` quantile) every year, everything else as
simulated? It re-simulates that one scenario by inverse transform from the same
uniform random numbers (common random numbers), so the swing is the effect of
the input, not simulation noise, and other scenarios keep their simulated years
(and their rank correlation with this one).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from riskbench.correlation import rank_positions
from riskbench.engine import _CORRELATION_KEY, Plan, plan_for, scenario_key, scenario_year_losses
from riskbench.errors import Issue, ValidationError
from riskbench.results import _Samples
from riskbench.scenario import Scenario

if TYPE_CHECKING:
    from riskbench.results import SimulationResult

__all__ = ["Tornado", "tornado"]

FloatArray = NDArray[np.float64]
_METRICS = ("mean", "p90", "p95", "p99", "tvar99")
_SEVERITY_STREAM = 0x5E7E


def _metric(values: FloatArray, name: str) -> float:
    m = _Samples(values, 0.0)
    if name == "mean":
        return m.mean()
    if name == "tvar99":
        return m.tvar(0.99)
    return float(m.quantile(np.array(int(name[1:]) / 100)))


@dataclass(frozen=True)
class Tornado:
    """The tornado table and how it was made.

    ``table`` has one row per (scenario, input), sorted by the swing in ``metric``:
    columns ``scenario``, ``input``, ``mean_low``, ``mean_high``, ``mean_swing``,
    ``<metric>_low``, ``<metric>_high``, ``<metric>_swing``. ``base`` holds the
    portfolio's mean and metric with every input as simulated.
    """

    table: pd.DataFrame
    base: dict[str, float]
    metric: str
    quantiles: tuple[float, float]
    years: int
    currency: str = ""

    def plot(self, ax: Any = None, *, top: int = 15) -> Any:
        """Horizontal bars of the ``top`` largest swings (needs the ``plots`` extra)."""
        from riskbench.plotting import tornado_chart

        return tornado_chart(self, ax=ax, top=top, currency=self.currency)


def _band(u: FloatArray, side: str, quantiles: tuple[float, float]) -> FloatArray:
    lo, hi = quantiles
    if side == "low":
        return u * lo
    if side == "high":
        return hi + (1 - hi) * u
    return u


def _scenario_years(
    plan: Plan,
    s_index: int,
    b: int,
    variant: tuple[str, str] | None,
    q: tuple[float, float],
    positions: NDArray[np.intp] | None,
) -> FloatArray:
    """Scenario ``s_index``'s annual losses in block ``b`` by inverse transform."""
    scenario: Scenario = plan.scenarios[s_index]
    start, stop = plan.block_bounds(b)
    n = stop - start
    key = scenario_key(scenario.id)
    u_count = plan.rng(b, key).random(n)
    factor, side = variant if variant else ("", "")
    counts = scenario.frequency.ppf(
        _band(u_count, side if factor == "frequency" else "", q)
    ).astype(np.int64)
    u_sev = plan.rng(b, key ^ _SEVERITY_STREAM).random(int(counts.sum()))
    events = np.asarray(
        scenario.severity.ppf(_band(u_sev, side if factor == "severity" else "", q)), dtype=float
    )
    losses, _ = scenario_year_losses(scenario, counts, events, plan.basis)
    if positions is not None and s_index in plan.correlated:
        j = plan.correlated.index(s_index)
        out = np.empty(n)
        out[positions[:, j]] = np.sort(losses, kind="stable")
        return out
    return losses


def tornado(
    result: SimulationResult,
    *,
    trials: int | None = 100_000,
    quantiles: tuple[float, float] = (0.1, 0.9),
    metric: str = "p99",
) -> Tornado:
    """Swing each scenario's frequency and severity between its low and high bands.

    Parameters
    ----------
    result
        A Monte Carlo result; its first blocks of years are reused.
    trials
        Years to use (whole blocks of the result, at least this many; ``None``: all).
    quantiles
        ``(q_low, q_high)``: the low band is below ``q_low``, the high band above ``q_high``.
    metric
        The tail measure to rank by besides the mean: one of mean, p90, p95, p99, tvar99.

    Examples
    --------
    >>> import riskbench as rb
    >>> p = rb.load_portfolio("examples/register.yaml")
    >>> t = rb.simulate(p, trials=20_000, seed=3).tornado(trials=20_000)
    >>> bool((t.table["p99_high"] >= t.table["p99_low"]).all())
    True
    """
    lo, hi = quantiles
    if not 0 < lo < hi < 1:
        raise ValidationError(
            [
                Issue(
                    "quantiles",
                    f"must be (q_low, q_high) with 0 < q_low < q_high < 1, got {quantiles!r}",
                )
            ]
        )
    if metric not in _METRICS:
        raise ValidationError([Issue("metric", f"must be one of {list(_METRICS)}, got {metric!r}")])
    plan = plan_for(result)
    wanted = result.trials if trials is None else min(int(trials), result.trials)
    n_blocks = -(-wanted // plan.block_size)
    years = plan.block_bounds(n_blocks - 1)[1]
    total = result.annual_loss[:years]

    # The correlated order of each block depends on the block alone: compute it once.
    positions: list[NDArray[np.intp] | None] = [None] * n_blocks
    if plan.target is not None:
        for b in range(n_blocks):
            start, stop = plan.block_bounds(b)
            positions[b] = rank_positions(stop - start, plan.target, plan.rng(b, _CORRELATION_KEY))

    def variant_total(s: int, variant: tuple[str, str] | None) -> FloatArray:
        own = np.concatenate(
            [_scenario_years(plan, s, b, variant, quantiles, positions[b]) for b in range(n_blocks)]
        )
        own_base = result.scenario_losses(plan.scenarios[s].id)[:years]
        return np.asarray(total - own_base + own, dtype=float)

    rows = []
    for s, scenario in enumerate(plan.scenarios):
        base = variant_total(s, None)
        base_vals = {"mean": _metric(base, "mean"), metric: _metric(base, metric)}
        for factor in ("frequency", "severity"):
            low = variant_total(s, (factor, "low"))
            high = variant_total(s, (factor, "high"))
            row: dict[str, Any] = {"scenario": scenario.id, "input": factor}
            for name in dict.fromkeys(("mean", metric)):
                row[f"{name}_base"] = base_vals[name]
                row[f"{name}_low"] = _metric(low, name)
                row[f"{name}_high"] = _metric(high, name)
                row[f"{name}_swing"] = row[f"{name}_high"] - row[f"{name}_low"]
            rows.append(row)
    table = pd.DataFrame(rows).sort_values(f"{metric}_swing", ascending=False, key=np.abs)
    table = table.reset_index(drop=True)
    base_all = {"mean": _metric(total, "mean"), metric: _metric(total, metric)}
    return Tornado(
        table=table,
        base=base_all,
        metric=metric,
        quantiles=(lo, hi),
        years=years,
        currency=result.currency,
    )

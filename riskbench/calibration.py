"""Calibrating scenario frequencies to the incidents that actually happened.

The conjugate updates need nothing beyond scipy:

- a Poisson rate with a Gamma(shape, rate) prior, after ``n`` events in ``t`` years of
  exposure, has the posterior Gamma(shape + n, rate + t), and the number of events next
  year is negative binomial (a Poisson with that Gamma rate, which the engine accepts);
- a Bernoulli probability (at most one event a year) with a Beta(a, b) prior, after
  ``k`` years with an event out of ``t``, has the posterior Beta(a + k, b + t - k), and
  next year has an event with probability (a + k) / (a + b + t).

:func:`calibrate` applies them to a scenario or a whole portfolio from an incident
table (or the log store) and writes prior and posterior into the scenario's
assumptions, so a report can show what the data changed.

Examples
--------
>>> post = update_rate(Gamma(2, 1), count=7, exposure_years=4)
>>> post.posterior
Gamma(shape=9.0, rate=5.0)
>>> round(post.posterior.mean(), 2)
1.8
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, stats

from riskbench.dists import Bernoulli, Beta, Distribution, Gamma, LogNormal, Poisson
from riskbench.errors import CalibrationError, Issue, ValidationError
from riskbench.scenario import Assumption, Portfolio, Scenario

__all__ = [
    "RateUpdate",
    "calibrate",
    "gamma_from_interval",
    "update_probability",
    "update_rate",
    "updates",
]


def gamma_from_interval(low: float, high: float, conf: float = 0.90) -> Gamma:
    """The Gamma whose central ``conf`` interval is [``low``, ``high``]: an expert's
    "between 0.1 and 0.5 events a year, 90% sure" as a prior on a rate.

    Examples
    --------
    >>> g = gamma_from_interval(0.1, 0.5)
    >>> [round(float(x), 3) for x in g.ppf([0.05, 0.95])]
    [0.1, 0.5]
    """
    issues = []
    if not (math.isfinite(low) and low > 0):
        issues.append(Issue("low", f"must be a positive rate, got {low!r}"))
    if not (math.isfinite(high) and high > low):
        issues.append(Issue("high", f"must be greater than low ({low}), got {high!r}"))
    if not 0 < conf < 1:
        issues.append(Issue("conf", f"must lie strictly between 0 and 1, got {conf!r}"))
    if issues:
        raise ValidationError(issues)
    tail = (1 - conf) / 2
    target = math.log(high / low)

    # The ratio of a Gamma's quantiles depends on its shape alone, falling as it grows.
    def gap(log_shape: float) -> float:
        k = math.exp(log_shape)
        upper, lower = stats.gamma.ppf(1 - tail, k), stats.gamma.ppf(tail, k)
        if lower <= 0:  # a very small shape: its lower quantile underflows
            return math.inf
        return math.log(upper / lower) - target

    lo, hi = math.log(1e-3), math.log(1e7)
    if gap(lo) < 0 or gap(hi) > 0:
        raise ValidationError(
            [Issue("high", f"no Gamma has the interval [{low}, {high}] at {conf:.0%}")]
        )
    shape = math.exp(optimize.brentq(gap, lo, hi, xtol=1e-12))
    rate = float(stats.gamma.ppf(tail, shape)) / low
    return Gamma(shape=shape, rate=rate)


@dataclass(frozen=True)
class RateUpdate:
    """A conjugate update of a scenario's frequency.

    ``prior`` and ``posterior`` are the distributions of the rate (Gamma) or of the
    annual probability (Beta); ``predictive`` is next year's frequency as the engine
    takes it; ``count`` events (or years with an event) in ``exposure_years``.
    """

    prior: Distribution
    posterior: Distribution
    predictive: Distribution
    count: int
    exposure_years: float

    def interval(self, conf: float = 0.90) -> tuple[float, float]:
        """The central ``conf`` posterior interval of the rate (or probability)."""
        tail = (1 - conf) / 2
        lo, hi = self.posterior.ppf(np.array([tail, 1 - tail]))
        return float(lo), float(hi)

    def describe(self) -> str:
        """One sentence for the assumptions list and the board pack."""
        unit = "events a year" if isinstance(self.posterior, Gamma) else "chance a year"
        lo, hi = self.interval()
        return (
            f"prior mean {self.prior.mean():.3g} {unit}; observed {self.count} in "
            f"{self.exposure_years:g} years; posterior mean {self.posterior.mean():.3g} "
            f"(90% interval {lo:.3g} to {hi:.3g})"
        )


def _check_data(count: int, exposure_years: float) -> None:
    issues = []
    if isinstance(count, bool) or not isinstance(count, int | np.integer) or count < 0:
        issues.append(Issue("count", f"must be a whole number >= 0, got {count!r}"))
    if not (math.isfinite(exposure_years) and exposure_years > 0):
        issues.append(
            Issue("exposure_years", f"must be a positive number of years, got {exposure_years!r}")
        )
    if issues:
        raise ValidationError(issues)


def update_rate(prior: Gamma, *, count: int, exposure_years: float) -> RateUpdate:
    """Gamma-Poisson update: Gamma(a, b) and ``count`` events in ``exposure_years``
    give Gamma(a + count, b + exposure_years); next year's count is Poisson with that
    rate (negative binomial)."""
    _check_data(count, exposure_years)
    post = Gamma(shape=prior.shape + count, rate=prior.rate + exposure_years)
    return RateUpdate(prior, post, Poisson(rate=post), int(count), float(exposure_years))


def update_probability(prior: Beta, *, years_with_event: int, exposure_years: int) -> RateUpdate:
    """Beta-Bernoulli update for an at-most-once-a-year scenario."""
    _check_data(years_with_event, exposure_years)
    if years_with_event > exposure_years:
        raise ValidationError(
            [
                Issue(
                    "years_with_event",
                    f"cannot exceed exposure_years ({exposure_years}), got {years_with_event}",
                )
            ]
        )
    post = Beta(a=prior.a + years_with_event, b=prior.b + exposure_years - years_with_event)
    return RateUpdate(
        prior, post, Bernoulli(p=post.mean()), int(years_with_event), float(exposure_years)
    )


def _prior_for(scenario: Scenario, prior_cv: float) -> Distribution:
    """The scenario's own frequency as a prior: an uncertain Gamma rate as it is; a
    fixed rate or probability as the mean of a prior with coefficient of variation
    ``prior_cv`` (how unsure the expert was)."""
    freq = scenario.frequency
    if isinstance(freq, Poisson):
        if isinstance(freq.rate, Gamma):
            return freq.rate
        if isinstance(freq.rate, Distribution):
            m, v = freq.rate.mean(), freq.rate.var()  # moment-matched Gamma
            return Gamma(shape=m * m / v, rate=m / v)
        rate = float(freq.rate)
        if rate <= 0:
            raise CalibrationError(
                f"{scenario.id}: a rate of 0 cannot be updated (no prior mass above 0); "
                "give the scenario a positive rate or an uncertain one"
            )
        shape = 1 / prior_cv**2
        return Gamma(shape=shape, rate=shape / rate)
    if isinstance(freq, Bernoulli):
        p = freq.p
        if not 0 < p < 1:
            raise CalibrationError(f"{scenario.id}: p={p} leaves nothing to update")
        # Beta with mean p and coefficient of variation prior_cv (capped to stay valid).
        total = max((1 - p) / (p * prior_cv**2) - 1, 1e-3)
        return Beta(a=p * total, b=(1 - p) * total)
    raise CalibrationError(
        f"{scenario.id}: calibration handles Poisson and Bernoulli frequencies, not {freq.dist}"
    )


def _observations(
    incidents: pd.DataFrame | Any, portfolio: Portfolio, org: str | None
) -> dict[str, tuple[int, int, float]]:
    """Per scenario id: (events, years with an event, exposure years)."""
    if not isinstance(incidents, pd.DataFrame):
        if org is None:
            raise ValidationError([Issue("org", "is required when incidents is a log store")])
        incidents = incidents.incident_counts(org, by="scenario_id")
    needed = {"scenario_id", "year", "count"}
    missing = sorted(needed - set(incidents.columns))
    if missing:
        raise ValidationError(
            [
                Issue(
                    "incidents",
                    f"needs columns {sorted(needed)} (one row per scenario and year, "
                    f"zeros included); missing {missing}, found {list(incidents.columns)}",
                )
            ]
        )
    if incidents.empty:
        raise CalibrationError("no incidents: nothing to calibrate against")
    years = incidents["year"].astype(int)
    exposure = float(
        incidents["exposure_years"].max()
        if "exposure_years" in incidents
        else years.max() - years.min() + 1
    )
    out = {}
    for sid in portfolio.ids:
        rows = incidents[incidents["scenario_id"] == sid]
        counts = rows["count"].astype(int)
        out[sid] = (int(counts.sum()), int((counts > 0).sum()), exposure)
    return out


def calibrate(
    target: Portfolio | Scenario,
    incidents: pd.DataFrame | Any,
    *,
    org: str | None = None,
    prior_cv: float = 0.5,
    scenarios: list[str] | None = None,
    losses: pd.DataFrame | bool | None = None,
    min_losses: int = 20,
    threshold: float | None = None,
    seed: int = 0,
) -> Portfolio | Scenario:
    """Update scenario frequencies from incident counts; record prior vs posterior.

    Parameters
    ----------
    target
        A portfolio (or one scenario).
    incidents
        A DataFrame with ``scenario_id``, ``year``, ``count`` (and optionally
        ``exposure_years``), one row per scenario and year with zeros included, as
        ``LogStore.incident_counts(org, by="scenario_id")`` returns; or the
        :class:`~riskbench.LogStore` itself with ``org``.
    prior_cv
        For a scenario with a fixed rate or probability: how unsure the expert's figure
        is, as the prior's coefficient of variation (0.5: the rate is known to about
        +-50%). An uncertain Gamma rate in the card is used as the prior as it is.
    scenarios
        Only these scenario ids (default: all Poisson and Bernoulli scenarios).
    losses
        Also fit severities (needs the ``calibration`` extra, PyMC): a DataFrame with
        ``scenario_id`` and ``loss``, or ``True`` to read them from the log store given
        as ``incidents``. Each log-normal severity with at least ``min_losses`` losses
        is refitted with :func:`~riskbench.fit_severity`, the card's interval as the
        prior, truncated at ``threshold`` (the reporting threshold) if given.

    Returns
    -------
    The portfolio (or scenario) with each calibrated frequency replaced by its
    posterior predictive, and an assumption "calibration: frequency" saying what the
    data changed.

    Examples
    --------
    >>> import pandas as pd, riskbench as rb
    >>> s = rb.Scenario(id="fraud", title="Payment fraud", category="cyber",
    ...                 frequency=rb.Poisson(rate=rb.Gamma(2, 1)), severity=rb.Constant(1e5))
    >>> data = pd.DataFrame({"scenario_id": ["fraud"] * 4, "year": [2021, 2022, 2023, 2024],
    ...                      "count": [1, 3, 2, 1]})
    >>> rb.calibrate(s, data).frequency.mean()
    1.8
    """
    if not 0 < prior_cv < 10:
        raise ValidationError([Issue("prior_cv", f"must lie in (0, 10), got {prior_cv!r}")])
    portfolio = target if isinstance(target, Portfolio) else Portfolio([target])
    chosen = list(portfolio.ids) if scenarios is None else scenarios
    unknown = [s for s in chosen if s not in portfolio.ids]
    if unknown:
        raise ValidationError(
            [Issue("scenarios", f"unknown ids {unknown}; known: {list(portfolio.ids)}")]
        )
    fitted = updates(portfolio, incidents, org=org, prior_cv=prior_cv, scenarios=chosen)
    updated = []
    for s in portfolio.scenarios:
        result = fitted.get(s.id)
        if result is None:
            updated.append(s)
            continue
        note = Assumption(
            name="calibration: frequency",
            text=result.describe(),
            rationale="conjugate Bayesian update of the card's frequency with the "
            "organisation's incident record",
            source="incident log (riskbench.calibrate)",
        )
        kept = tuple(a for a in s.assumptions if a.name != "calibration: frequency")
        updated.append(s.with_(frequency=result.predictive, assumptions=(*kept, note)))
    if losses is not None and losses is not False:
        table = _loss_table(incidents, losses, org)
        updated = [
            _fit_one(s, table, min_losses=min_losses, threshold=threshold, seed=seed)
            if s.id in chosen
            else s
            for s in updated
        ]
    out = portfolio.with_scenarios(updated)
    return out if isinstance(target, Portfolio) else out.scenarios[0]


def _loss_table(incidents: Any, losses: pd.DataFrame | bool, org: str | None) -> pd.DataFrame:
    if isinstance(losses, pd.DataFrame):
        table = losses
    elif isinstance(incidents, pd.DataFrame) or org is None:
        raise ValidationError(
            [Issue("losses", "True reads the losses from a log store: pass the store and org")]
        )
    else:
        table = incidents.loss_samples(org)
    missing = sorted({"scenario_id", "loss"} - set(table.columns))
    if missing:
        raise ValidationError(
            [Issue("losses", f"needs columns scenario_id and loss; missing {missing}")]
        )
    return table


def _fit_one(
    s: Scenario, table: pd.DataFrame, *, min_losses: int, threshold: float | None, seed: int
) -> Scenario:
    from riskbench.severity_fit import fit_severity

    sev = s.severity
    observed = table.loc[table["scenario_id"] == s.id, "loss"].to_numpy(dtype=float)
    if not isinstance(sev, LogNormal) or observed.size < min_losses:
        return s
    low, high = (float(x) for x in sev.ppf(np.array([0.05, 0.95])))
    if threshold is not None:
        observed = observed[observed >= threshold]
    fit = fit_severity(observed, prior_low=low, prior_high=high, threshold=threshold, seed=seed)
    note = Assumption(
        name="calibration: severity",
        text=f"prior 90% interval {low:,.0f} to {high:,.0f}; {fit.describe()}",
        rationale="Bayesian log-normal fit (PyMC) of the card's severity to the "
        "organisation's recorded losses",
        source="incident log (riskbench.calibrate)",
    )
    kept = tuple(a for a in s.assumptions if a.name != "calibration: severity")
    return s.with_(severity=fit.predictive, assumptions=(*kept, note))


def updates(
    portfolio: Portfolio,
    incidents: pd.DataFrame | Any,
    *,
    org: str | None = None,
    prior_cv: float = 0.5,
    scenarios: Sequence[str] | None = None,
) -> Mapping[str, RateUpdate]:
    """The conjugate update of every Poisson or Bernoulli scenario (or of those in
    ``scenarios``), without applying it."""
    seen = _observations(incidents, portfolio, org)
    out: dict[str, RateUpdate] = {}
    for s in portfolio.scenarios:
        if not isinstance(s.frequency, Poisson | Bernoulli):
            continue
        if scenarios is not None and s.id not in scenarios:
            continue
        events, years_hit, exposure = seen[s.id]
        prior = _prior_for(s, prior_cv)
        if isinstance(prior, Gamma):
            out[s.id] = update_rate(prior, count=events, exposure_years=exposure)
        else:
            assert isinstance(prior, Beta)
            out[s.id] = update_probability(
                prior, years_with_event=years_hit, exposure_years=round(exposure)
            )
    return out

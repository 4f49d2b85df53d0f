"""Fitting a scenario's loss severity to observed losses with PyMC (extra ``calibration``).

The model is log-normal: ``log X ~ Normal(mu, sigma)``. The priors come from an
expert's interval on a single loss (the card's ``low``/``high``): ``mu`` is centred
on the interval's log-midpoint with the interval's own ``sigma`` as its spread (worth
about one observed loss), and ``sigma`` is log-normal around the interval's value.
Losses below a reporting threshold never reach the incident log, so with
``threshold`` the likelihood is truncated there.

A fit that should not be trusted is refused: any divergence, or an ``r_hat`` above
1.01, raises :class:`~riskbench.errors.CalibrationError` saying what to try.
PyMC is imported only here, and its compile cache lives under ``RISKBENCH_HOME``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy import special

from riskbench.dists import LogNormal, Mixture
from riskbench.errors import CalibrationError, Issue, MissingDependencyError, ValidationError
from riskbench.files import riskbench_home

__all__ = ["SeverityFit", "fit_severity"]

R_HAT_MAX = 1.01


def _pymc() -> tuple[Any, Any]:
    # pytensor reads its flags once, at import: point its compile cache at a folder of
    # ours (per user, like RISKBENCH_HOME) unless the user already set one.
    if "base_compiledir" not in os.environ.get("PYTENSOR_FLAGS", ""):
        cache = riskbench_home() / "pytensor"
        cache.mkdir(parents=True, exist_ok=True)
        flags = os.environ.get("PYTENSOR_FLAGS", "")
        os.environ["PYTENSOR_FLAGS"] = ",".join(f for f in (flags, f"base_compiledir={cache}") if f)
    try:
        import arviz as az
        import pymc as pm
    except ImportError as err:
        raise MissingDependencyError(
            err.name or "pymc", "calibration", purpose="Fitting severities"
        ) from None
    return pm, az


@dataclass(frozen=True)
class SeverityFit:
    """The posterior of a log-normal severity and its diagnostics.

    ``mu`` and ``sigma`` hold the posterior draws; ``predictive`` is the posterior
    predictive severity (an equal-weight mixture of log-normals over thinned draws),
    which the engine takes as a scenario's severity; ``summary`` is ArviZ's table with
    ``r_hat`` and the effective sample sizes.
    """

    mu: np.ndarray
    sigma: np.ndarray
    predictive: Mixture
    summary: pd.DataFrame
    divergences: int
    n_losses: int
    threshold: float | None

    def interval(self, name: str, conf: float = 0.90) -> tuple[float, float]:
        """The central ``conf`` posterior interval of ``mu`` or ``sigma``."""
        draws = {"mu": self.mu, "sigma": self.sigma}[name]
        tail = (1 - conf) / 2
        lo, hi = np.quantile(draws, [tail, 1 - tail])
        return float(lo), float(hi)

    def describe(self) -> str:
        """One sentence for the assumptions list."""
        lo, hi = self.predictive.ppf(np.array([0.05, 0.95]))
        cut = f" at or above {self.threshold:,.0f}" if self.threshold else ""
        return (
            f"log-normal fitted to {self.n_losses} observed losses{cut}: posterior "
            f"predictive 90% interval {lo:,.0f} to {hi:,.0f}"
        )


def fit_severity(
    losses: Sequence[float] | np.ndarray,
    *,
    prior_low: float,
    prior_high: float,
    conf: float = 0.90,
    threshold: float | None = None,
    draws: int = 1000,
    tune: int = 1000,
    chains: int = 2,
    seed: int = 0,
    components: int = 200,
) -> SeverityFit:
    """Fit a log-normal severity to ``losses`` with priors from an expert's interval.

    Parameters
    ----------
    losses
        Observed single-event losses (positive).
    prior_low, prior_high, conf
        The expert's central ``conf`` interval for one loss (the card's lognormal
        ``low``/``high``).
    threshold
        Losses below it are not reported: the likelihood is truncated there, and every
        loss given must be at or above it.
    draws, tune, chains, seed
        NUTS settings; the same seed gives the same fit.
    components
        Posterior draws in the predictive mixture.

    Raises
    ------
    CalibrationError
        On divergences or ``r_hat`` above 1.01, with what to try.
    """
    data = np.asarray(losses, dtype=float)
    issues = []
    if data.ndim != 1 or data.size < 2:
        issues.append(Issue("losses", f"need at least 2 losses, got {data.size}"))
    elif not np.all(np.isfinite(data)) or np.any(data <= 0):
        issues.append(Issue("losses", "must be positive finite amounts"))
    if not (0 < prior_low < prior_high):
        issues.append(
            Issue("prior_high", f"need 0 < prior_low < prior_high, got {prior_low}, {prior_high}")
        )
    if not 0 < conf < 1:
        issues.append(Issue("conf", f"must lie strictly between 0 and 1, got {conf!r}"))
    if threshold is not None and data.size and np.any(data < threshold):
        issues.append(
            Issue(
                "threshold",
                f"every loss must be at or above the reporting threshold {threshold}, but "
                f"{int((data < threshold).sum())} are below it",
            )
        )
    if issues:
        raise ValidationError(issues)

    pm, az = _pymc()
    z = float(special.ndtri((1 + conf) / 2))
    mu0 = (math.log(prior_low) + math.log(prior_high)) / 2
    sigma0 = (math.log(prior_high) - math.log(prior_low)) / (2 * z)
    with pm.Model():
        mu = pm.Normal("mu", mu=mu0, sigma=sigma0)
        sigma = pm.LogNormal("sigma", mu=math.log(sigma0), sigma=0.5)
        if threshold is None:
            pm.LogNormal("loss", mu=mu, sigma=sigma, observed=data)
        else:
            pm.Truncated(
                "loss", pm.LogNormal.dist(mu=mu, sigma=sigma), lower=threshold, observed=data
            )
        idata = pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=1,
            random_seed=seed,
            progressbar=False,
            compute_convergence_checks=False,
        )
    summary = az.summary(idata, var_names=["mu", "sigma"])
    divergences = int(idata.sample_stats["diverging"].sum())
    worst = float(summary["r_hat"].max())
    if divergences or not worst <= R_HAT_MAX:
        raise CalibrationError(
            f"the severity fit is not trustworthy: {divergences} divergences, largest "
            f"r_hat {worst:.3f} (needs <= {R_HAT_MAX}). Try more tuning (tune=), check "
            f"the losses and the reporting threshold, or widen the prior interval "
            f"[{prior_low}, {prior_high}] if it contradicts the data."
        )
    mu_draws = idata.posterior["mu"].values.ravel()
    sigma_draws = idata.posterior["sigma"].values.ravel()
    pick = np.linspace(0, mu_draws.size - 1, min(components, mu_draws.size)).astype(int)
    weight = 1.0 / pick.size
    parts = [(weight, LogNormal(mu=float(mu_draws[i]), sigma=float(sigma_draws[i]))) for i in pick]
    # Equal weights summing to 1 up to rounding: put the remainder on the first part.
    parts[0] = (1.0 - weight * (pick.size - 1), parts[0][1])
    return SeverityFit(
        mu=mu_draws,
        sigma=sigma_draws,
        predictive=Mixture(parts),
        summary=summary,
        divergences=divergences,
        n_losses=int(data.size),
        threshold=threshold,
    )

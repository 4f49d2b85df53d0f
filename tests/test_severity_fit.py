"""PyMC severity fits: parameter recovery, truncation, and refusing a bad fit."""

from __future__ import annotations

import numpy as np
import pytest

import riskbench as rb
from riskbench.severity_fit import fit_severity

pytestmark = pytest.mark.slow


def test_recovers_known_lognormal_parameters_from_500_losses() -> None:
    rng = np.random.default_rng(11)
    true_mu, true_sigma = 11.5, 1.2
    losses = rng.lognormal(true_mu, true_sigma, 500)
    # A vague expert: the interval is wide and off-centre.
    fit = fit_severity(losses, prior_low=5e3, prior_high=5e6, seed=1, draws=600, tune=600)
    lo, hi = fit.interval("mu", 0.95)
    assert lo <= true_mu <= hi
    lo, hi = fit.interval("sigma", 0.95)
    assert lo <= true_sigma <= hi
    assert fit.divergences == 0
    assert float(fit.summary["r_hat"].max()) <= 1.01
    # The predictive severity plugs into a scenario and its median is near the truth.
    s = rb.Scenario(
        id="s", title="S", category="other", frequency=rb.Poisson(rate=1.0), severity=fit.predictive
    )
    assert float(s.severity.ppf(0.5)) == pytest.approx(np.exp(true_mu), rel=0.15)
    assert "log-normal fitted to 500 observed losses" in fit.describe()


def test_truncation_at_a_reporting_threshold() -> None:
    rng = np.random.default_rng(5)
    true_mu, true_sigma = 10.0, 1.0
    everything = rng.lognormal(true_mu, true_sigma, 3000)
    threshold = 30_000.0  # about 40% of losses are never reported
    reported = everything[everything >= threshold][:500]
    naive = fit_severity(reported, prior_low=1e3, prior_high=1e6, seed=2, draws=500, tune=500)
    fitted = fit_severity(
        reported, prior_low=1e3, prior_high=1e6, threshold=threshold, seed=2, draws=500, tune=500
    )
    lo, hi = fitted.interval("mu", 0.95)
    assert lo <= true_mu <= hi
    # Ignoring the threshold biases mu upwards, outside its own interval.
    assert naive.interval("mu", 0.95)[0] > true_mu


def test_bad_inputs() -> None:
    with pytest.raises(rb.ValidationError, match="losses: must be positive finite amounts"):
        fit_severity([1.0, -2.0], prior_low=1, prior_high=10)
    with pytest.raises(rb.ValidationError, match="threshold: every loss must be at or above"):
        fit_severity([5.0, 50.0], prior_low=1, prior_high=10, threshold=10)


def test_an_unconverged_fit_is_refused_with_advice() -> None:
    rng = np.random.default_rng(3)
    losses = rng.lognormal(9.0, 2.0, 40)
    # Far too few draws and no tuning: the chains cannot agree.
    with pytest.raises(rb.CalibrationError, match=r"not trustworthy: .*r_hat .*Try more tuning"):
        fit_severity(losses, prior_low=1e5, prior_high=1e8, seed=4, draws=6, tune=0)

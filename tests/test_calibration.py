"""Calibration: the conjugate updates against their closed forms, and calibrate()."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

import riskbench as rb
from helpers import scenario
from riskbench.calibration import gamma_from_interval, update_probability, update_rate, updates


def test_gamma_poisson_update_is_the_textbook_one() -> None:
    # Prior Gamma(shape 2, rate 1), 7 incidents in 4 years: Gamma(9, 5), mean 1.8.
    result = update_rate(rb.Gamma(2, 1), count=7, exposure_years=4)
    assert result.posterior == rb.Gamma(shape=9.0, rate=5.0)
    assert result.posterior.mean() == pytest.approx(1.8)
    lo, hi = result.interval(0.90)
    assert lo == pytest.approx(stats.gamma.ppf(0.05, 9, scale=1 / 5))
    assert hi == pytest.approx(stats.gamma.ppf(0.95, 9, scale=1 / 5))
    # The predictive count is negative binomial NB(9, 5/6).
    k = np.arange(10)
    np.testing.assert_allclose(result.predictive.pmf(k), stats.nbinom.pmf(k, 9, 5 / 6))


def test_beta_bernoulli_update() -> None:
    result = update_probability(rb.Beta(1, 19), years_with_event=2, exposure_years=10)
    assert result.posterior == rb.Beta(a=3.0, b=27.0)
    assert result.predictive == rb.Bernoulli(p=0.1)
    with pytest.raises(rb.ValidationError, match="years_with_event: cannot exceed exposure_years"):
        update_probability(rb.Beta(1, 1), years_with_event=5, exposure_years=3)


def test_prior_from_an_experts_interval() -> None:
    g = gamma_from_interval(0.1, 0.5, conf=0.9)
    np.testing.assert_allclose(g.ppf([0.05, 0.95]), [0.1, 0.5], rtol=1e-9)
    g80 = gamma_from_interval(2, 3, conf=0.8)
    np.testing.assert_allclose(g80.ppf([0.1, 0.9]), [2, 3], rtol=1e-9)
    with pytest.raises(rb.ValidationError, match="high: must be greater than low"):
        gamma_from_interval(0.5, 0.1)
    with pytest.raises(rb.ValidationError, match="count: must be a whole number >= 0"):
        update_rate(rb.Gamma(1, 1), count=-1, exposure_years=2)


def _table(counts: dict[str, list[int]], first_year: int = 2019) -> pd.DataFrame:
    rows = [
        {"scenario_id": sid, "year": first_year + i, "count": c}
        for sid, per_year in counts.items()
        for i, c in enumerate(per_year)
    ]
    return pd.DataFrame(rows)


def test_calibrate_updates_every_frequency_and_records_it() -> None:
    fixed = scenario("fixed", rb.Poisson(rate=2.0), rb.Constant(1e4))
    rare = scenario("rare", rb.Bernoulli(p=0.1), rb.Constant(1e6))
    uncertain = scenario("uncertain", rb.Poisson(rate=rb.Gamma(2, 1)), rb.Constant(1e3))
    p = rb.Portfolio([fixed, rare, uncertain], [("fixed", "rare", 0.3)])
    data = _table({"fixed": [5, 6, 4, 5], "rare": [0, 1, 0, 0], "uncertain": [1, 3, 2, 1]})
    out = rb.calibrate(p, data, prior_cv=0.5)
    assert isinstance(out, rb.Portfolio)
    assert out.correlation == p.correlation
    # fixed rate 2 with cv 0.5: Gamma(4, 2); 20 events in 4 years: Gamma(24, 6), mean 4.
    assert out["fixed"].frequency == rb.Poisson(rate=rb.Gamma(24.0, 6.0))
    # the card's own Gamma(2, 1) is the prior: 7 in 4 years -> Gamma(9, 5)
    assert out["uncertain"].frequency.mean() == pytest.approx(1.8)
    # Bernoulli 0.1 with cv 0.5: Beta(0.1 * 35, 0.9 * 35) = Beta(3.5, 31.5); 1 year in 4.
    assert out["rare"].frequency.mean() == pytest.approx(4.5 / 39)
    note = out["fixed"].assumptions[-1]
    assert note.name == "calibration: frequency"
    assert "observed 20 in 4 years" in note.text
    assert "posterior mean 4" in note.text
    # Calibrating again replaces the note instead of piling them up.
    again = rb.calibrate(out, data)
    assert [a.name for a in again["fixed"].assumptions].count("calibration: frequency") == 1


def test_calibrate_input_errors() -> None:
    p = rb.Portfolio([scenario("a", rb.Poisson(rate=1.0))])
    with pytest.raises(
        rb.ValidationError, match=r"incidents: needs columns \['count', 'scenario_id', 'year'\]"
    ):
        rb.calibrate(p, pd.DataFrame({"scenario": ["a"], "n": [1]}))
    with pytest.raises(rb.ValidationError, match="scenarios: unknown ids"):
        rb.calibrate(p, _table({"a": [1]}), scenarios=["b"])
    zero = rb.Portfolio([scenario("z", rb.Poisson(rate=0.0))])
    with pytest.raises(rb.CalibrationError, match="a rate of 0 cannot be updated"):
        rb.calibrate(zero, _table({"z": [1, 0]}))


@pytest.mark.logs
def test_calibrate_from_the_log_store(log_store: object, tmp_path: Path) -> None:
    from riskbench.sampledata import write_sample_data

    files = write_sample_data(tmp_path / "data", seed=7, years=6)
    rb.ingest("incidents", files["incidents"], org="calibration", store=log_store)
    register = rb.load_portfolio("examples/register.yaml")
    table = log_store.incident_counts("calibration", by="scenario_id")  # type: ignore[attr-defined]
    seen = updates(register, table)
    calibrated = rb.calibrate(register, log_store, org="calibration")
    assert isinstance(calibrated, rb.Portfolio)
    for sid, update in seen.items():
        after = calibrated[sid].frequency
        assert after.mean() == pytest.approx(update.predictive.mean())
        # the posterior mean lies between the prior mean and the observed rate
        observed = update.count / update.exposure_years
        lo, hi = sorted([update.prior.mean(), observed])
        assert lo - 1e-12 <= update.posterior.mean() <= hi + 1e-12
    res = rb.simulate(calibrated, trials=2_000, seed=1)
    assert np.isfinite(res.var(0.99))


@pytest.mark.slow
def test_calibrate_fits_severities_from_losses() -> None:
    rng = np.random.default_rng(8)
    sev = rb.LogNormal.from_ci(1e4, 1e6)
    s = scenario("breach", rb.Poisson(rate=3.0), sev)
    other = scenario("quiet", rb.Poisson(rate=1.0), rb.LogNormal.from_ci(1e3, 1e5))
    true_mu, true_sigma = 12.0, 0.8
    losses = pd.DataFrame(
        {"scenario_id": "breach", "loss": rng.lognormal(true_mu, true_sigma, 200)}
    )
    counts = _table({"breach": [3, 2, 4, 3], "quiet": [1, 0, 1, 2]})
    out = rb.calibrate(rb.Portfolio([s, other]), counts, losses=losses, min_losses=20, seed=3)
    assert isinstance(out, rb.Portfolio)
    fitted = out["breach"]
    assert isinstance(fitted.severity, rb.Mixture)
    assert float(fitted.severity.ppf(0.5)) == pytest.approx(np.exp(true_mu), rel=0.15)
    assert any(a.name == "calibration: severity" for a in fitted.assumptions)
    # Too few losses for "quiet": its severity is left as the card has it.
    assert out["quiet"].severity == other.severity
    with pytest.raises(rb.ValidationError, match="losses: needs columns scenario_id and loss"):
        rb.calibrate(rb.Portfolio([s]), counts, losses=pd.DataFrame({"x": [1]}))

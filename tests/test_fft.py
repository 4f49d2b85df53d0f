"""The FFT engine: exact against closed forms, and against Monte Carlo within its error."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

import riskbench as rb
from helpers import scenario


def mc_quantile_band(values: np.ndarray, q: float, z: float = 4.0) -> tuple[float, float]:
    """A distribution-free confidence band for the q-quantile from order statistics."""
    n = values.size
    half = z * math.sqrt(q * (1 - q) / n)
    lo, hi = np.quantile(values, [max(q - half, 0), min(q + half, 1)], method="inverted_cdf")
    return float(lo), float(hi)


def test_poisson_with_constant_severity_is_poisson_exactly() -> None:
    s = scenario(frequency=rb.Poisson(rate=3.0), severity=rb.Constant(1000.0))
    # A grid with step 100 puts every k-event total exactly on a grid point.
    res = rb.simulate(s, engine="fft", grid_size=1024, max_loss=1023 * 100.0)
    assert res.h == pytest.approx(100.0)
    at = res.pmf().set_index("loss")["probability"]
    for k in range(8):
        assert at.iloc[10 * k] == pytest.approx(stats.poisson.pmf(k, 3.0), abs=1e-9)
    assert res.exceedance_prob(0.0) == pytest.approx(1 - math.exp(-3.0), abs=1e-9)
    assert res.summary().loc["s", "p_any"] == pytest.approx(1 - math.exp(-3.0), abs=1e-12)
    # On the default grid, 1000 falls between grid points: the mass is split so that
    # the mean stays exact.
    default = rb.simulate(s, engine="fft")
    assert default.summary().loc["s", "mean"] == pytest.approx(3000.0, rel=1e-9)


def test_discretisation_keeps_every_mean_exact() -> None:
    # Local moment matching: exact means even on a deliberately coarse grid.
    severities = [
        rb.LogNormal.from_ci(1e4, 1e6),
        rb.PERT(1e3, 5e3, 9e4),
        rb.Triangular(0, 2e3, 1e4),
        rb.Gamma(2, 1e-4),
        rb.Mixture([(0.9, rb.LogNormal.from_ci(1e3, 1e5)), (0.1, rb.Uniform(1e5, 5e5))]),
        rb.Empirical([120.0, 5_000.0, 33_333.0]),
    ]
    for sev in severities:
        res = rb.simulate(
            scenario(frequency=rb.Poisson(rate=2.0), severity=sev), engine="fft", grid_size=512
        )
        assert res.summary().loc["s", "mean"] == pytest.approx(2.0 * sev.mean(), rel=1e-6), sev
    layered = scenario(
        frequency=rb.Poisson(rate=2.0),
        severity=rb.LogNormal.from_ci(1e4, 1e6),
        insurance=rb.Insurance(per_event=rb.Layer(deductible=5e4, limit=2e5)),
    )
    sev = layered.severity
    ceded_per_event = float(sev.stop_loss(5e4) - sev.stop_loss(2.5e5))
    for basis, expected in [
        ("gross", sev.mean()),
        ("ceded", ceded_per_event),
        ("net", sev.mean() - ceded_per_event),
    ]:
        res = rb.simulate(layered, engine="fft", basis=basis, grid_size=2048)
        assert res.summary().loc["s", "mean"] == pytest.approx(2.0 * expected, rel=1e-6), basis


def test_mean_matches_the_closed_form() -> None:
    sev = rb.LogNormal.from_ci(50_000, 2_000_000)
    res = rb.simulate(scenario(frequency=rb.Poisson(rate=2.5), severity=sev), engine="fft")
    assert res.summary().loc["portfolio", "mean"] == pytest.approx(2.5 * sev.mean(), rel=1e-3)
    nb = rb.simulate(
        scenario(frequency=rb.Poisson(rate=rb.Gamma(9, 5)), severity=sev), engine="fft"
    )
    assert nb.summary().loc["portfolio", "mean"] == pytest.approx(1.8 * sev.mean(), rel=1e-3)
    bern = rb.simulate(
        scenario(frequency=rb.Bernoulli(p=0.05), severity=rb.PERT(1e5, 3e5, 2e6)), engine="fft"
    )
    assert bern.summary().loc["portfolio", "mean"] == pytest.approx(
        0.05 * rb.PERT(1e5, 3e5, 2e6).mean(), rel=1e-3
    )


@pytest.mark.slow
def test_fft_quantiles_agree_with_monte_carlo_at_a_million_years() -> None:
    p = rb.Portfolio(
        [
            scenario("a", rb.Poisson(rate=2.5), rb.LogNormal.from_ci(50_000, 2_000_000)),
            scenario("b", rb.Bernoulli(p=0.1), rb.PERT(2e5, 1e6, 8e6)),
            scenario("c", rb.Poisson(rate=rb.Gamma(4, 2)), rb.LogNormal.from_ci(1e4, 5e5)),
        ]
    )
    exact = rb.simulate(p, engine="fft")
    mc = rb.simulate(p, trials=1_000_000, seed=2026)
    for q in (0.5, 0.9, 0.95, 0.99, 0.995):
        lo, hi = mc_quantile_band(mc.annual_loss, q)
        assert lo - exact.h <= exact.var(q) <= hi + exact.h, (q, lo, exact.var(q), hi)
    for sid in "abc":
        lo, hi = mc_quantile_band(mc.scenario_losses(sid), 0.99)
        assert lo - exact.h <= exact.var(0.99, scenario=sid) <= hi + exact.h, sid
    se = mc.annual_loss.std() / 1000
    assert abs(exact.summary().loc["portfolio", "mean"] - mc.annual_loss.mean()) < 5 * se


def test_fft_handles_insurance_layers_like_the_simulation() -> None:
    ins = rb.Insurance(per_event=rb.Layer(deductible=2e5, limit=1e6))
    agg = rb.Insurance(annual=rb.Layer(deductible=1e6, limit=3e6))
    p = rb.Portfolio(
        [
            scenario("a", rb.Poisson(rate=2.0), rb.LogNormal.from_ci(5e4, 3e6), insurance=ins),
            scenario("b", rb.Poisson(rate=1.0), rb.LogNormal.from_ci(1e5, 2e6), insurance=agg),
        ]
    )
    for basis in ("net", "gross", "ceded"):
        exact = rb.simulate(p, engine="fft", basis=basis)
        mc = rb.simulate(p, trials=200_000, seed=7, basis=basis)
        se = mc.annual_loss.std() / math.sqrt(mc.trials)
        assert (
            abs(exact.summary().loc["portfolio", "mean"] - mc.annual_loss.mean()) < 5 * se + exact.h
        ), basis
        lo, hi = mc_quantile_band(mc.annual_loss, 0.95)
        assert lo - exact.h <= exact.var(0.95) <= hi + exact.h, basis


def test_fft_refuses_what_it_cannot_do_exactly() -> None:
    a = scenario("a", rb.Poisson(rate=1.0), rb.Constant(1.0))
    b = scenario("b", rb.Poisson(rate=1.0), rb.Constant(2.0))
    with pytest.raises(rb.ValidationError, match="'fft' is exact only for independent scenarios"):
        rb.simulate(rb.Portfolio([a, b], [("a", "b", 0.5)]), engine="fft")
    both = rb.Insurance(per_event=rb.Layer(deductible=1), annual=rb.Layer(limit=5))
    with pytest.raises(rb.ValidationError, match="cannot give the net loss of c"):
        rb.simulate(scenario("c", insurance=both), engine="fft")
    res = rb.simulate(a, engine="fft")
    with pytest.raises(rb.RiskbenchError, match="no simulated years"):
        _ = res.annual_loss
    with pytest.raises(rb.ValidationError, match="grid_size: must be an integer >= 256"):
        rb.simulate(a, engine="fft", grid_size=10)
    with pytest.raises(rb.ValidationError, match="is an option of engine='fft' only"):
        rb.simulate(a, trials=10, grid_size=1024)


def test_occurrence_probability_is_exact_for_a_scenario() -> None:
    sev = rb.LogNormal.from_ci(1e4, 1e6)
    s = scenario(frequency=rb.Poisson(rate=2.0), severity=sev)
    mc = rb.simulate(s, trials=400_000, seed=5)
    for x in (1e5, 5e5, 2e6):
        exact = 1 - math.exp(-2.0 * float(sev.prob_exceeds(x)))  # Poisson thinning
        assert mc.occurrence_prob(x, scenario="s") == pytest.approx(exact, rel=1e-9)
        # and the simulated years agree within their error
        se = math.sqrt(exact * (1 - exact) / mc.trials)
        assert abs(mc.occurrence_prob(x) - exact) < 5 * se
    curve = mc.occurrence_curve()
    assert curve["probability"].is_monotonic_decreasing


def test_portfolio_occurrence_exact_when_independent_and_simulated_when_correlated() -> None:
    a = scenario("a", rb.Poisson(rate=1.5), rb.LogNormal.from_ci(1e4, 1e6))
    b = scenario("b", rb.Bernoulli(p=0.2), rb.PERT(5e4, 2e5, 3e6))
    indep = rb.simulate(rb.Portfolio([a, b]), trials=200_000, seed=8, workers=2)
    assert indep._max_event is None  # not needed for the run itself
    for x in (1e5, 1e6, 2.5e6):
        # exact: P(max <= x) = E[F_a(x)^N_a] * E[F_b(x)^N_b]
        fa, fb = float(a.severity.cdf(x)), float(b.severity.cdf(x))
        exact = 1 - math.exp(-1.5 * (1 - fa)) * (1 - 0.2 + 0.2 * fb)
        assert indep.occurrence_prob(x) == pytest.approx(exact, rel=1e-9)
        # the years simulated again on demand agree within their error
        se = math.sqrt(exact * (1 - exact) / indep.trials)
        assert abs(float((indep.max_event > x).mean()) - exact) < 5 * se
    # The re-simulated largest events belong to the same years as the losses.
    one_event = indep.counts.to_numpy().sum(axis=1) == 1
    np.testing.assert_array_equal(indep.max_event[one_event], indep.annual_loss[one_event])
    corr = rb.simulate(rb.Portfolio([a, b], [("a", "b", 0.5)]), trials=50_000, seed=8)
    assert corr._max_event is not None
    assert np.all(corr.max_event <= corr.annual_loss + 1e-9)

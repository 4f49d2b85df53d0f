"""Distributions: closed forms, sampling against the formulas, and parameter errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import integrate, stats

import riskbench as rb
from riskbench.dists import dist_from_dict

RNG_N = 400_000


def _rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


@pytest.mark.parametrize("conf", [0.8, 0.9, 0.95])
def test_lognormal_from_ci_puts_low_and_high_at_the_interval_ends(conf: float) -> None:
    d = rb.LogNormal.from_ci(50_000, 2_000_000, conf=conf)
    tail = (1 - conf) / 2
    np.testing.assert_allclose(d.ppf([tail, 1 - tail]), [50_000, 2_000_000], rtol=1e-12)
    np.testing.assert_allclose(d.cdf([50_000, 2_000_000]), [tail, 1 - tail], rtol=1e-12)
    # The default interval is the 90% one: 5% and 95% quantiles.
    d90 = rb.LogNormal.from_ci(50_000, 2_000_000)
    np.testing.assert_allclose(d90.ppf([0.05, 0.95]), [50_000, 2_000_000], rtol=1e-12)


def test_lognormal_moments_match_scipy_and_samples() -> None:
    d = rb.LogNormal(mu=1.0, sigma=0.5)
    ref = stats.lognorm(s=0.5, scale=math.e)
    assert d.mean() == pytest.approx(ref.mean(), rel=1e-12)
    assert d.var() == pytest.approx(ref.var(), rel=1e-12)
    x = d.sample(RNG_N, _rng())
    assert x.mean() == pytest.approx(d.mean(), rel=4 * d.sd() / d.mean() / math.sqrt(RNG_N))


@pytest.mark.parametrize(
    ("low", "mode", "high", "gamma"), [(0, 10, 50, 4), (100, 200, 600, 4), (1, 2, 9, 6)]
)
def test_pert_mean_is_the_modified_pert_formula(
    low: float, mode: float, high: float, gamma: float
) -> None:
    d = rb.PERT(low, mode, high, gamma=gamma)
    expected = (low + gamma * mode + high) / (gamma + 2)
    assert d.mean() == pytest.approx(expected, rel=1e-12)
    # The mean of the underlying scaled Beta equals the formula (not just our method).
    assert d._frozen.mean() == pytest.approx(expected, rel=1e-12)
    x = d.sample(RNG_N, _rng(1))
    assert x.min() >= low
    assert x.max() <= high
    assert x.mean() == pytest.approx(expected, abs=5 * d.sd() / math.sqrt(RNG_N))


def test_pert_mode_is_the_density_peak() -> None:
    d = rb.PERT(0, 3, 10)
    grid = np.linspace(0.01, 9.99, 9_999)
    density = d._frozen.pdf(grid)
    assert grid[np.argmax(density)] == pytest.approx(3, abs=0.01)


def test_triangular_uniform_normal_beta_gamma_means() -> None:
    assert rb.Triangular(0, 3, 9).mean() == pytest.approx(4.0)
    assert rb.Uniform(2, 6).mean() == 4.0
    assert rb.Normal(5, 2).mean() == 5.0
    assert rb.Normal(5, 2).var() == 4.0
    assert rb.Beta(2, 6).mean() == pytest.approx(0.25)
    assert rb.Gamma(9, 5).mean() == pytest.approx(1.8)
    assert rb.Gamma(9, 5).var() == pytest.approx(9 / 25)
    for d in (rb.Triangular(0, 3, 9), rb.Uniform(2, 6), rb.Beta(2, 6), rb.Gamma(9, 5)):
        x = d.sample(RNG_N, _rng(2))
        assert x.mean() == pytest.approx(d.mean(), abs=5 * d.sd() / math.sqrt(RNG_N))
        np.testing.assert_allclose(d.cdf(d.ppf([0.1, 0.5, 0.9])), [0.1, 0.5, 0.9], rtol=1e-9)


def test_poisson_and_bernoulli() -> None:
    p = rb.Poisson(rate=2.5)
    assert p.cdf(0) == pytest.approx(math.exp(-2.5))
    x = p.sample(RNG_N, _rng(3))
    assert x.mean() == pytest.approx(2.5, abs=5 * math.sqrt(2.5 / RNG_N))
    b = rb.Bernoulli(p=0.05)
    y = b.sample(RNG_N, _rng(4))
    assert set(np.unique(y)) <= {0, 1}
    assert y.mean() == pytest.approx(0.05, abs=5 * math.sqrt(0.05 * 0.95 / RNG_N))
    np.testing.assert_array_equal(b.ppf([0.5, 0.95, 0.951]), [0, 0, 1])


def test_uncertain_rate_is_negative_binomial() -> None:
    # Poisson with a Gamma(shape a, rate b) rate is NegBin(r=a, p=b/(1+b)).
    mixed = rb.Poisson(rate=rb.Gamma(9, 5))
    nb = stats.nbinom(9, 5 / 6)
    k = np.arange(12)
    np.testing.assert_allclose(mixed.pmf(k), nb.pmf(k), rtol=1e-12)
    assert mixed.mean() == pytest.approx(1.8)
    assert mixed.var() == pytest.approx(nb.var())
    x = mixed.sample(RNG_N, _rng(5))
    assert x.var() == pytest.approx(nb.var(), rel=0.02)
    # Any non-negative rate distribution works, by quadrature over the rate.
    pert_rate = rb.Poisson(rate=rb.PERT(0.5, 1.0, 3.0))
    assert float(pert_rate.pmf(np.arange(60)).sum()) == pytest.approx(1.0, abs=1e-9)
    assert pert_rate.mean() == pytest.approx(rb.PERT(0.5, 1.0, 3.0).mean())
    z = np.array([0.3 + 0j])
    density = rb.PERT(0.5, 1.0, 3.0)._frozen.pdf
    exact = integrate.quad(lambda lam: math.exp(lam * (0.3 - 1)) * density(lam), 0.5, 3.0)[0]
    assert np.real(pert_rate.pgf(z))[0] == pytest.approx(exact, rel=1e-5)


def test_negative_binomial_matches_scipy() -> None:
    d = rb.NegativeBinomial(r=2, p=0.6)
    assert d.mean() == pytest.approx(stats.nbinom(2, 0.6).mean())
    np.testing.assert_allclose(d.cdf(np.arange(6)), stats.nbinom(2, 0.6).cdf(np.arange(6)))
    e = rb.NegativeBinomial.from_mean_dispersion(3.0, 2.0)
    assert e.mean() == pytest.approx(3.0)
    assert e.var() == pytest.approx(3 + 9 / 2)


def test_empirical_and_mixture_and_constant() -> None:
    e = rb.Empirical([5, 1, 3, 2, 4])
    assert e.mean() == 3.0
    np.testing.assert_array_equal(e.ppf([0.2, 0.21, 1.0]), [1, 2, 5])
    assert set(np.unique(e.sample(1000, _rng()))) <= {1.0, 2.0, 3.0, 4.0, 5.0}
    m = rb.Mixture([(0.8, rb.Constant(10)), (0.2, rb.LogNormal(mu=1, sigma=1))])
    assert m.mean() == pytest.approx(0.8 * 10 + 0.2 * math.exp(1.5))
    x = m.sample(RNG_N, _rng(7))
    assert (x == 10).mean() == pytest.approx(0.8, abs=0.005)
    q = m.ppf([0.05, 0.5, 0.99])
    # Outside the atom the cdf is continuous and hits the level; at the atom (10,
    # holding 0.8) the quantile is the atom itself.
    np.testing.assert_allclose(m.cdf(q[[0, 2]]), [0.05, 0.99], atol=1e-9)
    assert q[1] == pytest.approx(10.0, rel=1e-9)
    assert rb.Constant(7).sample(3, _rng()).tolist() == [7, 7, 7]


@given(
    st.sampled_from(
        [
            rb.LogNormal.from_ci(1e4, 1e6),
            rb.PERT(0, 10, 50),
            rb.Triangular(1, 2, 8),
            rb.Poisson(rate=3.0),
            rb.Poisson(rate=rb.Gamma(2, 1)),
            rb.Mixture([(0.5, rb.Uniform(0, 1)), (0.5, rb.Uniform(5, 6))]),
            rb.Empirical([1, 5, 2, 8]),
        ]
    ),
    st.lists(st.floats(0.001, 0.999), min_size=2, max_size=8),
)
def test_quantiles_are_monotone(d: rb.Distribution, qs: list[float]) -> None:
    qs = sorted(qs)
    values = d.ppf(qs)
    assert np.all(np.diff(values) >= 0)


@pytest.mark.parametrize(
    ("card", "loc", "needle"),
    [
        (
            {"dist": "lognormal", "low": 5, "high": 1},
            "x.high",
            "must be greater than low (5), got 1",
        ),
        (
            {"dist": "lognormal", "low": 1, "high": 5, "conf": 90},
            "x.conf",
            "strictly between 0 and 1",
        ),
        (
            {"dist": "lognormal", "low": 1, "high": 5, "conf": 0},
            "x.conf",
            "strictly between 0 and 1",
        ),
        (
            {"dist": "pert", "low": 1, "mode": 9, "high": 5},
            "x.mode",
            "must lie in [low, high] = [1, 5], got 9",
        ),
        (
            {"dist": "pert", "low": 5, "mode": 5, "high": 5},
            "x.high",
            "must be greater than low (5)",
        ),
        ({"dist": "triangular", "low": 0, "mode": -1, "high": 5}, "x.mode", "got -1"),
        ({"dist": "uniform", "low": 3, "high": 3}, "x.high", "must be greater than low (3)"),
        ({"dist": "poisson", "rate": -0.5}, "x.rate", "must be >= 0 (events per year), got -0.5"),
        ({"dist": "bernoulli", "p": 5}, "x.p", "a fraction, 0.05 not 5"),
        (
            {"dist": "normal", "mean": float("nan"), "sd": 1},
            "x.mean",
            "must be a finite number, got nan",
        ),
        ({"dist": "normal", "mean": 0, "sd": 0}, "x.sd", "greater than 0"),
        ({"dist": "beta", "a": -1, "b": 1}, "x.a", "greater than 0"),
        ({"dist": "empirical", "values": []}, "x.values", "at least 1"),
        ({"dist": "empirical", "values": [1, float("inf")]}, "x.values[1]", "finite"),
        (
            {
                "dist": "mixture",
                "components": [
                    [0.5, {"dist": "constant", "value": 1}],
                    [0.4, {"dist": "constant", "value": 2}],
                ],
            },
            "x.components",
            "weights must sum to 1, got [0.5, 0.4]",
        ),
        (
            {"dist": "lognorma", "mu": 1, "sigma": 1},
            "x.dist",
            "unknown distribution 'lognorma'; allowed: bernoulli",
        ),
        (
            {"dist": "pert", "low": 1, "mode": 2, "high": 3, "gama": 3},
            "x.gama",
            "is not a known key",
        ),
        ({"dist": "lognormal", "mu": 1}, "x", "give both mu and sigma"),
        ({"dist": "lognormal", "mu": 1, "sigma": 1, "low": 3}, "x", "not both"),
    ],
)
def test_invalid_parameters_name_the_field_and_value(card: dict, loc: str, needle: str) -> None:
    with pytest.raises(rb.ValidationError) as info:
        dist_from_dict(card, loc="x")
    assert isinstance(info.value, ValueError)
    messages = [str(i) for i in info.value.issues]
    assert any(i.loc == loc and needle in i.message for i in info.value.issues), messages


def test_python_constructors_raise_the_project_error() -> None:
    with pytest.raises(rb.ValidationError, match=r"high: must be greater than low \(10\), got 1"):
        rb.LogNormal.from_ci(10, 1)
    with pytest.raises(rb.ValidationError, match="rate: must be >= 0"):
        rb.Poisson(rate=-1)
    with pytest.raises(rb.ValidationError, match="takes at most 4 positional"):
        rb.PERT(1, 2, 3, 4, 5)
    with pytest.raises(rb.ValidationError, match="q: quantile levels must lie in"):
        rb.PERT(1, 2, 3).ppf(1.5)


def test_card_form_round_trips_exactly() -> None:
    cards = [
        {"dist": "lognormal", "low": 250000, "high": 8000000, "conf": 0.9},
        {"dist": "lognormal", "mu": 12.0, "sigma": 1.5},
        {"dist": "pert", "low": 1, "mode": 2, "high": 9},
        {"dist": "pert", "low": 1, "mode": 2, "high": 9, "gamma": 6},
        {"dist": "poisson", "rate": {"dist": "gamma", "shape": 2, "rate": 1}},
        {
            "dist": "mixture",
            "components": [
                [0.9, {"dist": "constant", "value": 1}],
                [0.1, {"dist": "uniform", "low": 0, "high": 4}],
            ],
        },
        {"dist": "normal", "mean": 5, "sd": 1},
        {"dist": "empirical", "values": [1, 2, 3]},
    ]
    for card in cards:
        d = dist_from_dict(card)
        assert d.to_dict() == card
        assert dist_from_dict(d.to_dict()) == d


@pytest.mark.parametrize(
    "d",
    [
        rb.LogNormal.from_ci(1e4, 1e6),
        rb.PERT(1, 3, 10),
        rb.Triangular(1, 3, 10),
        rb.Triangular(1, 1, 10),
        rb.Uniform(2, 5),
        rb.Normal(10, 2),
        rb.Beta(2, 3),
        rb.Gamma(2, 0.5),
        rb.Mixture([(0.3, rb.Uniform(0, 1)), (0.7, rb.Gamma(3, 1))]),
        rb.LogNormal(mu=1, sigma=1).scaled(3),
    ],
)
def test_partial_mean_and_stop_loss_match_integrals(d: rb.Distribution) -> None:
    # E[X; X <= x] is the integral of the quantile function up to F(x), and the
    # stop-loss E[max(X - x, 0)] is the rest of the mean above x.
    for q in (0.2, 0.7, 0.999):
        x = float(d.ppf(q))
        # Gauss-Legendre in u over (0, F(x)): one vectorised call of the quantile function.
        nodes, weights = np.polynomial.legendre.leggauss(400)
        top = float(d.cdf(x))
        below = float(top / 2 * (weights @ d.ppf(top * (nodes + 1) / 2)))
        assert float(d.partial_mean(x)) == pytest.approx(below, rel=2e-5, abs=1e-9)
        expected = d.mean() - below - x * (1 - float(d.cdf(x)))
        assert float(d.stop_loss(x)) == pytest.approx(expected, rel=2e-5, abs=2e-5 * d.mean())
    assert float(d.partial_mean(1e15)) == pytest.approx(d.mean(), rel=1e-9)
    assert float(d.stop_loss(-1e-300 if d.support_min >= 0 else -1e3)) >= d.mean() - 1e-9


@pytest.mark.parametrize(
    "freq",
    [
        rb.Poisson(rate=2.0),
        rb.Poisson(rate=rb.Gamma(4, 2)),
        rb.Poisson(rate=rb.PERT(0.5, 1.0, 3.0)),
        rb.Bernoulli(p=0.2),
        rb.NegativeBinomial(r=2, p=0.6),
    ],
)
def test_frequencies_scale_their_expected_count(freq: rb.Distribution) -> None:
    scaled = freq.with_mean_scaled(1.5)  # type: ignore[attr-defined]
    assert type(scaled) is type(freq)
    assert scaled.mean() == pytest.approx(1.5 * freq.mean(), rel=1e-9)


def test_a_bernoulli_cannot_scale_past_certainty() -> None:
    with pytest.raises(rb.ValidationError, match=r"factor: factor 6 x p 0.2 = 1.2 exceeds 1"):
        rb.Bernoulli(p=0.2).with_mean_scaled(6)

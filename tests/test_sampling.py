"""Stratified sampling (``sampling="lhs"``/``"sobol"``): plain Monte Carlo unchanged,
reproducible and block-invariant, stratified, smaller standard errors, exact ppfs."""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
from scipy import integrate, optimize, stats

import riskbench as rb
from helpers import scenario
from riskbench.engine import (
    BLOCK_SIZE,
    ENGINE_VERSION,
    largest_events,
    make_plan,
    run_blocks,
    scenario_key,
)
from riskbench.graph.severity import OutageLoss
from riskbench.sampling import draw_counts, draw_events, lhs_uniforms, sobol_uniforms

STRATIFIED = ["lhs", "sobol"]


def _mixed() -> rb.Portfolio:
    """Every frequency and severity kind, a Poisson with an uncertain non-gamma rate,
    insurance, and a correlated pair."""
    return rb.Portfolio(
        [
            scenario("a", rb.Poisson(rate=1.5), rb.LogNormal(mu=3, sigma=1)),
            scenario("b", rb.Bernoulli(p=0.2), rb.PERT(1, 2, 9)),
            scenario("c", rb.NegativeBinomial(r=2, p=0.6), rb.Triangular(1, 3, 10)),
            scenario("d", rb.Poisson(rate=rb.Gamma(2, 4)), rb.Gamma(2, 0.5)),
            scenario("e", rb.Poisson(rate=rb.PERT(0.5, 1, 3)), rb.Empirical([1, 2, 7, 30])),
            scenario(
                "f",
                rb.Poisson(rate=0.8),
                rb.Mixture([(0.7, rb.LogNormal(1, 0.5)), (0.3, rb.Uniform(10, 20))]),
                insurance={"per_event": {"deductible": 2, "limit": 10}},
            ),
            scenario("g", rb.Poisson(rate=0.5), rb.Normal(50, 5).scaled(2.0)),
            scenario("h", rb.Bernoulli(p=0.5), rb.Constant(4.0)),
        ],
        [("a", "b", 0.5), ("a", "c", -0.3)],
    )


# -- plain Monte Carlo is unchanged -------------------------------------------------------
def _reference_years(
    portfolio: rb.Portfolio, trials: int, seed: int, block_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """The engine's layout written out by hand with each distribution's ``sample``:
    block b of scenario s draws counts then events from SeedSequence(seed, (b, key(s)))."""
    k = len(portfolio.scenarios)
    losses, counts = np.zeros((k, trials)), np.zeros((k, trials), dtype=np.int64)
    for b, start in enumerate(range(0, trials, block_size)):
        n = min(block_size, trials - start)
        for s, sc in enumerate(portfolio.scenarios):
            ss = np.random.SeedSequence(seed, spawn_key=(b, scenario_key(sc.id)))
            rng = np.random.Generator(np.random.PCG64(ss))
            c = sc.frequency.sample(n, rng)
            events = sc.severity.sample(int(c.sum()), rng)
            year = np.repeat(np.arange(n), c)
            losses[s, start : start + n] = np.bincount(year, weights=events, minlength=n)
            counts[s, start : start + n] = c
    return losses, counts


def test_random_is_the_default_and_the_blocks_draw_as_before() -> None:
    p = rb.Portfolio(
        [
            scenario("a", rb.Poisson(rate=2.0), rb.LogNormal(mu=3, sigma=1)),
            scenario("b", rb.Bernoulli(p=0.3), rb.PERT(1, 2, 9)),
            scenario(
                "c",
                rb.NegativeBinomial(r=2, p=0.5),
                rb.Mixture([(0.5, rb.Constant(1)), (0.5, rb.Uniform(2, 3))]),
            ),
        ]
    )
    default = rb.simulate(p, trials=2_500, seed=5, block_size=1_000, basis="gross", workers=1)
    plain = rb.simulate(
        p, trials=2_500, seed=5, block_size=1_000, basis="gross", workers=2, sampling="random"
    )
    np.testing.assert_array_equal(default._losses, plain._losses)
    np.testing.assert_array_equal(default._counts, plain._counts)
    assert default.sampling == plain.sampling == "random"
    losses, counts = _reference_years(p, 2_500, 5, 1_000)
    np.testing.assert_array_equal(default._counts, counts)
    np.testing.assert_allclose(default._losses, losses, rtol=1e-12)


def test_a_plain_run_keeps_its_input_hash(tmp_path: Path) -> None:
    p = rb.Portfolio([scenario("a", rb.Poisson(rate=2.0), rb.LogNormal(mu=3, sigma=1))])
    res = rb.simulate(p, trials=1_000, seed=3)
    # The hash as it was computed before sampling existed: stored runs keep their ids.
    payload = {
        "card": p.to_dict(),
        "trials": 1_000,
        "seed": "3",
        "basis": "net",
        "block_size": BLOCK_SIZE,
        "engine_version": ENGINE_VERSION,
    }
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    assert res.input_hash() == hashlib.sha256(text.encode()).hexdigest()
    hashes = {res.input_hash()}
    for method in STRATIFIED:
        other = rb.simulate(p, trials=1_000, seed=3, sampling=method)
        hashes.add(other.input_hash())
        assert other.manifest()["sampling"] == method
        back = rb.SimulationResult.load(other.save(tmp_path / method))
        assert back.sampling == method
        assert back.input_hash() == other.input_hash()
        np.testing.assert_array_equal(back.annual_loss, other.annual_loss)
        assert f"sampling={method}" in repr(back)
    assert len(hashes) == 3


def test_a_result_saved_before_sampling_existed_loads_as_random(tmp_path: Path) -> None:
    res = rb.simulate(scenario("a", rb.Poisson(rate=1.0)), trials=500, seed=1)
    folder = res.save(tmp_path / "old")
    manifest = json.loads((folder / "manifest.json").read_text())
    del manifest["sampling"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert rb.SimulationResult.load(folder).sampling == "random"


# -- reproducible and block-invariant ------------------------------------------------------
@pytest.mark.parametrize("method", STRATIFIED)
def test_stratified_runs_are_reproducible_and_block_invariant(method: str) -> None:
    p = _mixed()
    trials = 5 * 4096 + 123  # a short last block: n is not a power of two
    one = rb.simulate(p, trials=trials, seed=9, workers=1, block_size=4096, sampling=method)
    two = rb.simulate(p, trials=trials, seed=9, workers=2, block_size=4096, sampling=method)
    again = rb.simulate(p, trials=trials, seed=9, workers=1, block_size=4096, sampling=method)
    np.testing.assert_array_equal(one._losses, two._losses)
    np.testing.assert_array_equal(one._counts, two._counts)
    np.testing.assert_array_equal(one.max_event, two.max_event)
    np.testing.assert_array_equal(one._losses, again._losses)
    plain = rb.simulate(p, trials=trials, seed=9, block_size=4096)
    assert not np.array_equal(one.annual_loss, plain.annual_loss)
    # Blocks run in reverse order, one at a time, are the same blocks.
    plan = make_plan(p, trials=trials, seed=9, block_size=4096, sampling=method)
    for block in run_blocks(plan, reversed(range(plan.n_blocks))):
        start, stop = plan.block_bounds(block.index)
        np.testing.assert_array_equal(block.losses, one._losses[:, start:stop])
    # The largest events are simulated again from the run's own plan, sampling included.
    np.testing.assert_array_equal(largest_events(one), one.max_event)


@pytest.mark.parametrize("method", STRATIFIED)
def test_adding_a_scenario_leaves_the_others_draws_unchanged(method: str) -> None:
    a = scenario("a", rb.Poisson(rate=2.0), rb.LogNormal(mu=3, sigma=1))
    b = scenario("b", rb.Poisson(rate=0.5), rb.Constant(10.0))
    one = rb.simulate(rb.Portfolio([a]), trials=20_000, seed=4, sampling=method)
    both = rb.simulate(rb.Portfolio([a, b]), trials=20_000, seed=4, sampling=method)
    np.testing.assert_array_equal(one.scenario_losses("a"), both.scenario_losses("a"))


# -- stratification ------------------------------------------------------------------------
@pytest.mark.parametrize("n", [1, 7, 1000, 4096])
@pytest.mark.parametrize("method", STRATIFIED)
def test_stratified_uniforms_are_balanced(method: str, n: int) -> None:
    u = (lhs_uniforms if method == "lhs" else sobol_uniforms)(n, np.random.default_rng(n))
    assert u.shape == (n,)
    assert ((u > 0) & (u < 1)).all()
    # Sobol': each interval of width 2**-k holds floor(n / 2**k) or one more point, for
    # each k. LHS: exactly one point in each interval of width 1/n, so an interval of
    # width 2**-k holds its n / 2**k strata give or take the two it cuts.
    for k in range(int(math.log2(n)) + 1):
        cells = np.bincount(np.floor(u * 2**k).astype(int), minlength=2**k)
        assert np.abs(cells - n / 2**k).max() < (1 if method == "sobol" else 2)
    if method == "lhs":
        np.testing.assert_array_equal(np.sort(np.floor(u * n)), np.arange(n))


def test_sobol_points_come_in_random_order() -> None:
    # In sequence order consecutive Sobol' points fall in opposite halves of (0, 1);
    # a year's events are consecutive draws, so they must not be anti-correlated.
    u = sobol_uniforms(1 << 14, np.random.default_rng(0))
    lag = float(np.corrcoef(u[:-1], u[1:])[0, 1])
    assert abs(lag) < 4 / math.sqrt(u.size)


POISSON_LOGNORMAL = scenario("s", rb.Poisson(rate=2.5), rb.LogNormal(mu=10, sigma=1))


@pytest.mark.parametrize("method", STRATIFIED)
def test_block_means_of_counts_are_stratified(method: str) -> None:
    res = rb.simulate(POISSON_LOGNORMAL, trials=4 * 8192, seed=1, block_size=8192, sampling=method)
    plain = rb.simulate(POISSON_LOGNORMAL, trials=4 * 8192, seed=1, block_size=8192)
    per_block = res._counts[0].astype(float).reshape(4, 8192).mean(axis=1)
    plain_blocks = plain._counts[0].astype(float).reshape(4, 8192).mean(axis=1)
    # Only the few strata that straddle a jump of the count's cdf vary: about
    # sqrt(#jumps) / (2 n) ~ 3e-4 here; random sampling is off by sqrt(2.5 / n) ~ 0.017.
    np.testing.assert_allclose(per_block, 2.5, atol=2e-3)
    assert np.abs(plain_blocks - 2.5).max() > 2e-3


# Measured with 40 seeds (tests below): the standard error of the portfolio mean is
# 0.03-0.07 of random's for this scenario (lhs 0.048, sobol 0.068 at 4,096 years). With
# 40 seeds each standard deviation is estimated to about +-11%, so 0.25 is a wide margin.
SE_RATIO = 0.25


@pytest.mark.parametrize("method", STRATIFIED)
def test_standard_error_of_the_mean_is_much_smaller_than_random(method: str) -> None:
    def means(sampling: str) -> np.ndarray:
        return np.array(
            [
                rb.simulate(
                    POISSON_LOGNORMAL, trials=4096, seed=k, sampling=sampling
                ).annual_loss.mean()
                for k in range(40)
            ]
        )

    plain, strat = means("random"), means(method)
    random_se = float(np.std(plain, ddof=1))
    # Compound Poisson: Var = rate * E[X**2] = 2.5 exp(2 mu + 2 sigma**2).
    assert random_se == pytest.approx(math.sqrt(2.5 * math.exp(22) / 4096), rel=0.3)
    se = float(np.std(strat, ddof=1))
    assert se < SE_RATIO * random_se
    # Unbiased: the estimates average to the exact mean rate * exp(mu + sigma**2 / 2).
    assert strat.mean() == pytest.approx(2.5 * math.exp(10.5), abs=4 * se / math.sqrt(40))


# -- correlation ---------------------------------------------------------------------------
def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.spearmanr(x, y).statistic)


@pytest.mark.parametrize("method", STRATIFIED)
def test_correlated_portfolio_keeps_its_rank_correlation(method: str) -> None:
    scen = [
        scenario("a", rb.Poisson(rate=30.0), rb.LogNormal(mu=10, sigma=1)),
        scenario("b", rb.Poisson(rate=20.0), rb.PERT(1e3, 5e3, 5e4)),
        scenario("c", rb.NegativeBinomial(r=5, p=0.2), rb.LogNormal.from_ci(1e3, 1e5)),
    ]
    targets = [("a", "b", 0.6), ("a", "c", -0.3)]
    p = rb.Portfolio(scen, targets)
    strat = rb.simulate(p, trials=50_000, seed=21, sampling=method).losses
    plain = rb.simulate(p, trials=50_000, seed=21).losses
    for a, b, rho in targets:
        assert _spearman(strat[a], strat[b]) == pytest.approx(
            _spearman(plain[a], plain[b]), abs=0.02
        )
        assert _spearman(strat[a], strat[b]) == pytest.approx(rho, abs=0.02)


# -- distributions -------------------------------------------------------------------------
Q = np.array([0.001, 0.05, 0.3, 0.5, 0.77, 0.95, 0.999])


def _mixture_ppf(components: list[tuple[float, object]], q: float) -> float:
    cdf = lambda x: sum(w * d.cdf(x) for w, d in components) - q  # noqa: E731
    return float(optimize.brentq(cdf, 1e-9, 1e4, xtol=1e-13, rtol=1e-14))


@pytest.mark.parametrize(
    ("dist", "ref"),
    [
        (rb.Poisson(rate=2.5), stats.poisson(2.5)),
        (rb.Poisson(rate=0.03), stats.poisson(0.03)),
        (rb.Poisson(rate=rb.Gamma(2, 4)), stats.nbinom(2, 4 / 5)),
        (rb.NegativeBinomial(r=2, p=0.6), stats.nbinom(2, 0.6)),
        (rb.Bernoulli(p=0.15), stats.bernoulli(0.15)),
        (rb.LogNormal(mu=3, sigma=1.2), stats.lognorm(s=1.2, scale=math.exp(3))),
        (rb.PERT(1, 2, 9), stats.beta(1 + 4 / 8, 1 + 4 * 7 / 8, loc=1, scale=8)),
        (rb.Triangular(1, 3, 10), stats.triang(2 / 9, loc=1, scale=9)),
        (rb.Uniform(2, 5), stats.uniform(2, 3)),
        (rb.Normal(5, 3), stats.norm(5, 3)),
        (rb.Beta(2, 3), stats.beta(2, 3)),
        (rb.Gamma(2, 0.5), stats.gamma(2, scale=2)),
        (rb.LogNormal(mu=1, sigma=0.5).scaled(3.0), stats.lognorm(s=0.5, scale=3 * math.e)),
    ],
)
def test_ppf_matches_scipy(dist: rb.Distribution, ref: object) -> None:
    np.testing.assert_allclose(dist.ppf(Q), ref.ppf(Q), rtol=1e-9)
    assert dist.exact_ppf


def test_ppf_of_constant_empirical_and_mixture() -> None:
    np.testing.assert_array_equal(rb.Constant(4.0).ppf(Q), np.full(Q.size, 4.0))
    values = [7.0, 1.0, 30.0, 2.0]
    np.testing.assert_array_equal(
        rb.Empirical(values).ppf(Q), np.quantile(values, Q, method="inverted_cdf")
    )
    parts = [(0.7, rb.LogNormal(1, 0.5)), (0.3, rb.Uniform(10, 20))]
    expected = [_mixture_ppf(parts, q) for q in Q]
    np.testing.assert_allclose(rb.Mixture(parts).ppf(Q), expected, rtol=1e-9)


@pytest.mark.parametrize("method", STRATIFIED)
def test_mixture_and_uncertain_rate_draws_have_the_right_distribution(method: str) -> None:
    rng = np.random.default_rng(3)
    mix = rb.Mixture([(0.7, rb.LogNormal(0, 0.3)), (0.3, rb.Uniform(10, 20))])
    x = draw_events(mix, 50_000, rng, method)
    assert stats.kstest(x, mix.cdf).pvalue > 1e-3
    assert float((x >= 10).mean()) == pytest.approx(0.3, abs=1e-4)  # the weights, stratified
    # A Poisson with a PERT rate: the rate and the count from two stratified uniforms.
    freq = rb.Poisson(rate=rb.PERT(0.5, 1, 3))
    rate = freq.rate
    assert isinstance(rate, rb.Distribution)
    c = draw_counts(freq, 100_000, rng, method)
    for k in range(5):
        exact = integrate.quad(
            lambda lam, k=k: stats.poisson.pmf(k, lam) * rate._frozen.pdf(lam), 0.5, 3
        )[0]
        assert float((c == k).mean()) == pytest.approx(exact, abs=4 * math.sqrt(exact / 100_000))
    assert c.mean() == pytest.approx(rate.mean(), abs=3e-3)


@pytest.mark.parametrize("method", STRATIFIED)
def test_every_distribution_kind_simulates_with_the_right_mean(method: str) -> None:
    p = rb.Portfolio(_mixed().scenarios)
    res = rb.simulate(p, trials=1 << 16, seed=2, sampling=method, basis="gross")
    for sc in p.scenarios:
        got = res.scenario_losses(sc.id).mean()
        expected = sc.frequency.mean() * sc.severity.mean()
        assert got == pytest.approx(expected, rel=0.01), sc.id


# -- validation ----------------------------------------------------------------------------
def test_bad_sampling_is_a_clear_error() -> None:
    with pytest.raises(rb.ValidationError) as err:
        rb.simulate(scenario(), trials=100, seed=1, sampling="halton")
    message = str(err.value)
    assert message == "sampling: must be one of 'random', 'lhs', 'sobol', got 'halton'"


def test_a_distribution_without_an_exact_ppf_is_refused_by_name() -> None:
    outage = OutageLoss(days=rb.PERT(1, 3, 20), table_days=[0, 30], table_loss=[0, 3e6])
    s = scenario("plant-outage", rb.Poisson(rate=0.5), outage)
    rb.simulate(s, trials=100, seed=1)  # random sampling draws with sample()
    with pytest.raises(rb.ValidationError) as err:
        rb.simulate(s, trials=100, seed=1, sampling="lhs")
    assert str(err.value) == (
        "plant-outage.severity: sampling='lhs' draws by inverse transform, and OutageLoss "
        "(outage_loss) has no exact quantile function; allowed for this scenario: "
        "sampling='random'"
    )
    # Nested in a mixture, with every problem at once.
    mixed = scenario("m", rb.Poisson(rate=1.0), rb.Mixture([(0.5, outage), (0.5, rb.Constant(1))]))
    with pytest.raises(rb.ValidationError, match="2 problems") as err:
        rb.simulate([s, mixed], trials=100, seed=1, sampling="sobol")
    assert [i.loc for i in err.value.issues] == ["plant-outage.severity", "m.severity"]
    assert "OutageLoss (outage_loss)" in err.value.issues[1].message

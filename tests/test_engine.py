"""The Monte Carlo engine: closed forms, reproducibility, layout, insurance, correlation."""

from __future__ import annotations

import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

import riskbench as rb
from helpers import scenario
from riskbench.engine import make_plan, run_blocks
from riskbench.errors import CorrelationRepairWarning

N = 400_000


def within(value: float, expected: float, se: float, z: float = 5.0) -> bool:
    return abs(value - expected) <= z * se


def test_compound_poisson_lognormal_mean_and_variance() -> None:
    sev = rb.LogNormal(mu=10.0, sigma=0.8)
    rate = 2.5
    res = rb.simulate(scenario(frequency=rb.Poisson(rate=rate), severity=sev), trials=N, seed=11)
    total = res.annual_loss
    ex, ex2 = sev.mean(), sev.var() + sev.mean() ** 2
    mean, var = rate * ex, rate * ex2  # compound Poisson: E[S] = l E[X], Var[S] = l E[X^2]
    assert within(total.mean(), mean, math.sqrt(var / N))
    # Standard error of the sample variance from the fourth moment: E[S^4] via cumulants.
    ex3 = math.exp(3 * 10 + 4.5 * 0.64)
    ex4 = math.exp(4 * 10 + 8 * 0.64)
    k2, _k3, k4 = rate * ex2, rate * ex3, rate * ex4
    mu4 = k4 + 3 * k2**2
    se_var = math.sqrt((mu4 - var**2) / N)
    assert within(total.var(), var, se_var)
    # This is what "count x one draw" gets wrong: its variance is far larger.
    wrong_var = rate * sev.var() + rate * ex**2 + rate**2 * sev.var()
    assert not within(total.var(), wrong_var, se_var)


def test_probability_of_no_event_is_exp_minus_rate() -> None:
    res = rb.simulate(
        scenario(frequency=rb.Poisson(rate=1.7), severity=rb.LogNormal(mu=5, sigma=1)),
        trials=N,
        seed=3,
    )
    p0 = math.exp(-1.7)
    assert within(float((res.annual_loss == 0).mean()), p0, math.sqrt(p0 * (1 - p0) / N))
    assert within(res.summary().loc["s", "p_any"], 1 - p0, math.sqrt(p0 * (1 - p0) / N))


def test_bernoulli_frequency_gives_at_most_one_event() -> None:
    sev = rb.PERT(1e5, 3e5, 2e6)
    res = rb.simulate(scenario(frequency=rb.Bernoulli(p=0.05), severity=sev), trials=N, seed=5)
    assert res.counts["s"].max() == 1
    mean = 0.05 * sev.mean()
    var = 0.05 * (sev.var() + sev.mean() ** 2) - mean**2
    assert within(res.annual_loss.mean(), mean, math.sqrt(var / N))
    # A year's loss is one draw from the severity or nothing.
    hit = res.annual_loss[res.annual_loss > 0]
    assert hit.min() >= 1e5
    assert hit.max() <= 2e6


def test_annual_loss_is_the_sum_of_separate_events() -> None:
    # With Uniform(0, 1) events, the sum of N events given N = k has mean k/2 and
    # variance k/12; one draw times k would have variance k^2/12.
    res = rb.simulate(
        scenario(frequency=rb.Poisson(rate=4.0), severity=rb.Uniform(0, 1)), trials=N, seed=8
    )
    counts = res.counts["s"].to_numpy()
    losses = res.annual_loss
    for k in (3, 6):
        sel = losses[counts == k]
        assert within(sel.mean(), k / 2, math.sqrt(k / 12 / sel.size))
        assert sel.var() == pytest.approx(k / 12, rel=0.05)


def test_same_seed_same_result_and_seed_is_recorded() -> None:
    p = rb.load_portfolio("examples/register.yaml")
    a = rb.simulate(p, trials=70_000, seed=123)
    b = rb.simulate(p, trials=70_000, seed=123)
    np.testing.assert_array_equal(a.losses.to_numpy(), b.losses.to_numpy())
    c = rb.simulate(p, trials=70_000, seed=124)
    assert not np.array_equal(a.annual_loss, c.annual_loss)
    d = rb.simulate(p, trials=5_000)  # no seed: one is drawn and recorded
    e = rb.simulate(p, trials=5_000, seed=d.seed)
    np.testing.assert_array_equal(d.annual_loss, e.annual_loss)


def test_results_do_not_depend_on_workers_or_block_order(example_portfolio: rb.Portfolio) -> None:
    trials = 5 * 4096 + 123
    one = rb.simulate(example_portfolio, trials=trials, seed=9, workers=1, block_size=4096)
    two = rb.simulate(example_portfolio, trials=trials, seed=9, workers=2, block_size=4096)
    three = rb.simulate(example_portfolio, trials=trials, seed=9, workers=3, block_size=4096)
    np.testing.assert_array_equal(one.losses.to_numpy(), two.losses.to_numpy())
    np.testing.assert_array_equal(one.losses.to_numpy(), three.losses.to_numpy())
    np.testing.assert_array_equal(one.max_event, three.max_event)
    # Running the blocks in reverse order, one at a time, gives the same blocks.
    plan = make_plan(example_portfolio, trials=trials, seed=9, block_size=4096)
    for block in run_blocks(plan, reversed(range(plan.n_blocks))):
        start, stop = plan.block_bounds(block.index)
        np.testing.assert_array_equal(block.losses, one._losses[:, start:stop])


@given(st.integers(0, 2**32), st.sampled_from([1, 2]))
def test_block_layout_invariance_property(seed: int, workers: int) -> None:
    p = rb.Portfolio(
        [
            scenario("a", rb.Poisson(rate=1.5), rb.LogNormal(mu=3, sigma=1)),
            scenario("b", rb.Bernoulli(p=0.2), rb.PERT(1, 2, 9)),
        ],
        [("a", "b", 0.5)],
    )
    ref = rb.simulate(p, trials=1000, seed=seed, workers=1, block_size=128)
    other = rb.simulate(p, trials=1000, seed=seed, workers=workers, block_size=128)
    np.testing.assert_array_equal(ref.annual_loss, other.annual_loss)


def test_adding_a_scenario_leaves_the_others_draws_unchanged() -> None:
    a = scenario("a", rb.Poisson(rate=2.0), rb.LogNormal(mu=3, sigma=1))
    b = scenario("b", rb.Poisson(rate=0.5), rb.Constant(10.0))
    one = rb.simulate(rb.Portfolio([a]), trials=50_000, seed=4)
    two = rb.simulate(rb.Portfolio([b, a]), trials=50_000, seed=4)
    np.testing.assert_array_equal(one.scenario_losses("a"), two.scenario_losses("a"))


@given(st.floats(0.01, 1000.0), st.integers(0, 1000))
def test_scaling_severity_scales_every_loss_quantile(k: float, seed: int) -> None:
    base = rb.LogNormal(mu=8.0, sigma=1.2)
    r1 = rb.simulate(
        scenario(frequency=rb.Poisson(rate=3.0), severity=base), trials=4000, seed=seed
    )
    r2 = rb.simulate(
        scenario(frequency=rb.Poisson(rate=3.0), severity=base.scaled(k)), trials=4000, seed=seed
    )
    qs = [0.1, 0.5, 0.9, 0.99]
    np.testing.assert_allclose(r2.var(qs), k * np.asarray(r1.var(qs)), rtol=1e-12)
    assert r2.tvar(0.95) == pytest.approx(k * r1.tvar(0.95), rel=1e-12)


def test_per_event_insurance_applies_to_each_event() -> None:
    # Each event loses 100; the insurer pays above 30 up to 50, so 50 is retained per event.
    ins = rb.Insurance(per_event=rb.Layer(deductible=30, limit=50))
    s = scenario(frequency=rb.Poisson(rate=3.0), severity=rb.Constant(100.0), insurance=ins)
    net = rb.simulate(s, trials=20_000, seed=1)
    counts = net.counts["s"].to_numpy()
    np.testing.assert_allclose(net.annual_loss, 50.0 * counts)
    ceded = rb.simulate(s, trials=20_000, seed=1, basis="ceded")
    gross = rb.simulate(s, trials=20_000, seed=1, basis="gross")
    np.testing.assert_allclose(ceded.annual_loss, 50.0 * counts)
    np.testing.assert_allclose(gross.annual_loss, 100.0 * counts)
    np.testing.assert_allclose(net.max_event, np.where(counts > 0, 50.0, 0.0))


def test_annual_insurance_applies_to_the_year_total() -> None:
    # Annual layer alone (aggregate stop-loss): the insurer pays the year's total
    # above 150, up to 100.
    ins = rb.Insurance(annual=rb.Layer(deductible=150, limit=100))
    s = scenario(frequency=rb.Poisson(rate=3.0), severity=rb.Constant(100.0), insurance=ins)
    res = rb.simulate(s, trials=20_000, seed=2)
    gross = 100.0 * res.counts["s"].to_numpy()
    expected = gross - np.clip(gross - 150, 0, 100)
    np.testing.assert_allclose(res.annual_loss, expected)
    # Both layers: each event recovers min(max(100 - 30, 0), 50) = 50; the year's
    # recoveries then go through the annual aggregate deductible 20 and limit 60.
    both = rb.Insurance(
        per_event=rb.Layer(deductible=30, limit=50), annual=rb.Layer(deductible=20, limit=60)
    )
    res2 = rb.simulate(
        scenario(frequency=rb.Poisson(rate=3.0), severity=rb.Constant(100.0), insurance=both),
        trials=20_000,
        seed=2,
    )
    n = res2.counts["s"].to_numpy()
    paid = np.clip(50.0 * n - 20, 0, 60)
    np.testing.assert_allclose(res2.annual_loss, 100.0 * n - paid)
    ceded = rb.simulate(
        scenario(frequency=rb.Poisson(rate=3.0), severity=rb.Constant(100.0), insurance=both),
        trials=20_000,
        seed=2,
        basis="ceded",
    )
    np.testing.assert_allclose(ceded.annual_loss, paid)


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    return float(stats.spearmanr(x, y).statistic)


def test_target_rank_correlations_are_met_and_marginals_unchanged() -> None:
    scen = [
        scenario("a", rb.Poisson(rate=30.0), rb.LogNormal(mu=10, sigma=1)),
        scenario("b", rb.Poisson(rate=20.0), rb.PERT(1e3, 5e3, 5e4)),
        scenario("c", rb.NegativeBinomial(r=5, p=0.2), rb.LogNormal.from_ci(1e3, 1e5)),
        scenario("d", rb.Poisson(rate=25.0), rb.Gamma(2, 1e-4)),
    ]
    targets = [("a", "b", 0.6), ("a", "c", -0.3), ("b", "d", 0.25), ("c", "d", 0.1)]
    corr = rb.simulate(rb.Portfolio(scen, targets), trials=200_000, seed=21)
    indep = rb.simulate(rb.Portfolio(scen), trials=200_000, seed=21)
    losses = corr.losses
    for a, b, rho in targets:
        assert _spearman(losses[a], losses[b]) == pytest.approx(rho, abs=0.02), (a, b)
    assert abs(_spearman(losses["a"], losses["d"])) < 0.2  # not asked for; whatever it is
    for sid in "abcd":
        # Each marginal is the same set of values, only reordered.
        np.testing.assert_array_equal(
            np.sort(corr.scenario_losses(sid)), np.sort(indep.scenario_losses(sid))
        )
        np.testing.assert_array_equal(np.sort(corr.counts[sid]), np.sort(indep.counts[sid]))
    # The portfolio tail is heavier with positive dependence, lighter with negative.
    two = scen[:2]
    plus = rb.simulate(rb.Portfolio(two, [("a", "b", 0.8)]), trials=200_000, seed=2)
    minus = rb.simulate(rb.Portfolio(two, [("a", "b", -0.8)]), trials=200_000, seed=2)
    none = rb.simulate(rb.Portfolio(two), trials=200_000, seed=2)
    assert plus.var(0.99) > none.var(0.99) > minus.var(0.99)
    assert plus.summary().loc["portfolio", "mean"] == pytest.approx(
        none.summary().loc["portfolio", "mean"], rel=1e-12
    )


def test_a_non_psd_matrix_is_repaired_with_a_warning_saying_how_much() -> None:
    scen = [scenario(x, rb.Poisson(rate=20.0), rb.LogNormal(mu=5, sigma=1)) for x in "abc"]
    bad = [("a", "b", 0.9), ("b", "c", 0.9), ("a", "c", -0.9)]
    with pytest.warns(
        CorrelationRepairWarning,
        match=r"not positive semi-definite.*moves entries by at most 0\.\d+",
    ):
        res = rb.simulate(rb.Portfolio(scen, bad), trials=50_000, seed=1)
    # The repaired matrix is the nearest valid one, so the result still leans the right way.
    assert _spearman(res.losses["a"], res.losses["b"]) > 0.3
    assert _spearman(res.losses["a"], res.losses["c"]) < 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        valid = [("a", "b", 0.9), ("b", "c", 0.9), ("a", "c", 0.82)]
        rb.simulate(rb.Portfolio(scen, valid), trials=1000, seed=1)  # valid: no warning


def test_options_are_validated_with_clear_messages(example_portfolio: rb.Portfolio) -> None:
    cases = [
        ({"trials": 0}, "trials: must be a whole number of years >= 1, got 0"),
        ({"trials": 1.5}, "trials: must be a whole number"),
        ({"seed": -1}, "seed: must be a non-negative integer or None, got -1"),
        ({"engine": "gpu"}, "engine: must be one of 'local', 'dask', 'fft', got 'gpu'"),
        ({"basis": "after-tax"}, "basis: must be one of 'net', 'gross', 'ceded'"),
        ({"workers": 0}, "workers: must be an integer >= 1, got 0"),
    ]
    for kwargs, message in cases:
        with pytest.raises(
            rb.ValidationError, match=message.replace("(", r"\(").replace(")", r"\)")
        ):
            rb.simulate(example_portfolio, **{"trials": 100, **kwargs})
    with pytest.raises(rb.ValidationError, match="portfolio: must be a Portfolio"):
        rb.simulate("card.yaml", trials=10)  # type: ignore[arg-type]


def test_progress_is_reported_per_block() -> None:
    seen: list[tuple[int, int]] = []
    rb.simulate(
        scenario(),
        trials=1000,
        seed=1,
        block_size=300,
        workers=1,
        progress=lambda d, t: seen.append((d, t)),
    )
    assert seen == [(300, 1000), (600, 1000), (900, 1000), (1000, 1000)]


@pytest.mark.slow
def test_fifty_scenarios_by_a_million_years_fit_in_one_gigabyte() -> None:
    # Peak memory from /proc/self/status (VmHWM): ru_maxrss would start at the forking
    # parent's size on Linux, and the parent is this test session, which can be large.
    code = """
import numpy as np, riskbench as rb

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

rng = np.random.default_rng(0)
scen = []
for i, rate in enumerate(np.geomspace(0.05, 5, 50)):
    low = float(rng.uniform(1e4, 5e5)); high = low * float(rng.uniform(10, 200))
    scen.append(rb.Scenario(id=f"s{i}", title=f"S{i}", category="other",
        frequency=rb.Poisson(rate=float(rate)), severity=rb.LogNormal.from_ci(low, high)))
before = peak_kb()
res = rb.simulate(rb.Portfolio(scen), trials=1_000_000, seed=1)
s = res.summary()
print(before, peak_kb(), res.annual_loss.size)
"""
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=600
    )
    _before_kb, peak_kb, n = map(int, out.stdout.split())
    assert n == 1_000_000
    assert peak_kb < 1_000_000, f"peak RSS {peak_kb / 1e6:.2f} GB"

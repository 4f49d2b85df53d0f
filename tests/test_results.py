"""Results: risk measures, curves, saving and loading, and the tornado."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import riskbench as rb
from helpers import scenario
from riskbench.results import _Samples


@pytest.fixture(scope="module")
def result() -> rb.SimulationResult:
    p = rb.load_portfolio("examples/register.yaml")
    res = rb.simulate(p, trials=100_000, seed=42)
    assert isinstance(res, rb.SimulationResult)
    return res


def test_interface_shapes(result: rb.SimulationResult) -> None:
    ids = list(result.ids)
    assert list(result.losses.columns) == ids
    assert result.losses.shape == (100_000, len(ids))
    np.testing.assert_allclose(result.losses.to_numpy().sum(axis=1), result.annual_loss, rtol=1e-12)
    summary = result.summary()
    assert list(summary.index) == [*ids, "portfolio"]
    assert list(summary.columns) == ["mean", "sd", "p50", "p90", "p95", "p99", "tvar99", "p_any"]
    assert summary.loc["portfolio", "p99"] == result.var(0.99)
    assert summary.loc["portfolio", "tvar99"] == pytest.approx(result.tvar(0.99))
    row = summary.loc["plant-fire"]
    assert row["p50"] <= row["p90"] <= row["p95"] <= row["p99"] <= row["tvar99"]
    assert 0 <= row["p_any"] <= 1


def test_var_and_tvar_definitions_on_a_known_sample() -> None:
    values = np.arange(1.0, 101.0)
    rng = np.random.default_rng(0)
    m = _Samples(rng.permutation(values), 0.0)
    assert float(m.quantile(np.array(0.95))) == 95.0  # smallest x with F(x) >= 0.95
    assert float(m.quantile(np.array(0.951))) == 96.0
    assert m.tvar(0.95) == pytest.approx(np.mean([96, 97, 98, 99, 100]))
    assert m.tvar(0.955) == pytest.approx((100 + 99 + 98 + 97 + 0.5 * 96) / 4.5)
    assert float(m.sf(np.array(95.0))) == pytest.approx(0.05)


@given(st.lists(st.floats(0.001, 0.999), min_size=2, max_size=6))
def test_result_quantiles_are_monotone_and_tvar_dominates(qs: list[float]) -> None:
    res = rb.simulate(
        scenario(frequency=rb.Poisson(rate=0.7), severity=rb.LogNormal(mu=9, sigma=1.5)),
        trials=3000,
        seed=1,
    )
    qs = sorted(qs)
    values = res.var(qs)
    assert np.all(np.diff(values) >= 0)
    for q in qs:
        assert res.tvar(q) >= res.var(q) - 1e-9


def test_exceedance_curve_is_consistent(result: rb.SimulationResult) -> None:
    curve = result.exceedance_curve()
    assert list(curve.columns) == ["loss", "probability"]
    assert curve["loss"].is_monotonic_increasing
    assert curve["probability"].is_monotonic_decreasing
    # Each row is a true point: the probability is the exceedance at that loss.
    sample = curve.iloc[::17]
    for loss, prob in sample.itertuples(index=False):
        assert prob == pytest.approx((result.annual_loss > loss).mean())
    assert curve["probability"].iloc[-1] <= 1 / result.trials + 1e-12
    one = result.exceedance_curve("bec-payment-fraud")
    assert one["loss"].max() <= result.scenario_losses("bec-payment-fraud").max()


def test_bad_levels_and_scenarios_are_clear_errors(result: rb.SimulationResult) -> None:
    with pytest.raises(
        rb.ValidationError,
        match=r"q: must be a probability strictly between 0 and 1 \(0\.99, not 99\), got 99",
    ):
        result.var(99)
    with pytest.raises(rb.ValidationError, match="q: must be a probability"):
        result.tvar(1.0)
    with pytest.raises(rb.ValidationError, match="scenario: unknown scenario 'nope'; known: "):
        result.var(0.9, scenario="nope")


def test_event_summary_and_standard_error(result: rb.SimulationResult) -> None:
    events = result.event_summary()
    assert events.loc["bec-payment-fraud", "mean_events"] == pytest.approx(
        result.portfolio["bec-payment-fraud"].frequency.mean(), rel=0.02
    )
    np.testing.assert_allclose(events[["p0", "p1", "p2plus"]].sum(axis=1), 1.0)
    assert result.standard_error() == pytest.approx(
        result.annual_loss.std(ddof=1) / math.sqrt(result.trials)
    )


def test_save_and_load_round_trip(tmp_path: Path, result: rb.SimulationResult) -> None:
    target = result.save(tmp_path / "run")
    manifest = json.loads((target / "manifest.json").read_text())
    assert manifest["trials"] == 100_000
    assert manifest["seed"] == "42"
    assert manifest["riskbench_version"] == rb.__version__
    assert manifest["input_hash"] == result.input_hash()
    back = rb.SimulationResult.load(target)
    np.testing.assert_array_equal(back.losses.to_numpy(), result.losses.to_numpy())
    np.testing.assert_array_equal(back.counts.to_numpy(), result.counts.to_numpy())
    np.testing.assert_array_equal(back.max_event, result.max_event)
    assert back.portfolio == result.portfolio
    assert back.summary().equals(result.summary())
    # Saving again replaces the folder whole; nothing temporary is left behind.
    result.save(target)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]
    # A changed file is detected.
    with (target / "years.parquet").open("r+b") as fh:
        fh.seek(100)
        fh.write(b"\x00\x01\x02")
    with pytest.raises(rb.RiskbenchError, match="does not match its manifest hash"):
        rb.SimulationResult.load(target)
    with pytest.raises(rb.ValidationError, match="not a saved result"):
        rb.SimulationResult.load(tmp_path)


def test_input_hash_changes_with_any_input(result: rb.SimulationResult) -> None:
    p = result.portfolio
    a = rb.simulate(p, trials=1000, seed=1)
    assert a.input_hash() == rb.simulate(p, trials=1000, seed=1).input_hash()
    assert a.input_hash() != rb.simulate(p, trials=1000, seed=2).input_hash()
    assert a.input_hash() != rb.simulate(p, trials=1001, seed=1).input_hash()
    assert a.input_hash() != rb.simulate(p, trials=1000, seed=1, basis="gross").input_hash()
    changed = p.with_scenarios([p.scenarios[0].with_(title="Other title"), *p.scenarios[1:]])
    assert a.input_hash() != rb.simulate(changed, trials=1000, seed=1).input_hash()


def test_tornado_swings_and_ranks() -> None:
    big = scenario("big", rb.Poisson(rate=1.0), rb.LogNormal.from_ci(1e6, 5e7))
    small = scenario("small", rb.Poisson(rate=1.0), rb.LogNormal.from_ci(1e3, 1e4))
    fixed = scenario("fixed", rb.Poisson(rate=2.0), rb.Constant(1e5))
    res = rb.simulate(rb.Portfolio([small, fixed, big]), trials=40_000, seed=3)
    t = res.tornado(trials=40_000)
    table = t.table.set_index(["scenario", "input"])
    # A constant severity has nothing to swing: both bands give the same values.
    assert table.loc[("fixed", "severity"), "p99_swing"] == 0
    assert table.loc[("fixed", "severity"), "mean_swing"] == 0
    # High bands never lower a loss, low bands never raise it (common random numbers).
    assert (t.table["mean_high"] >= t.table["mean_base"]).all()
    assert (t.table["mean_low"] <= t.table["mean_base"]).all()
    # The big scenario's severity drives the tail most.
    assert tuple(t.table.iloc[0][["scenario", "input"]]) == ("big", "severity")
    assert t.years == 40_000
    # The frequency high band draws N = ppf(U) with U uniform on [0.9, 1]: its mean
    # is 10 * integral of the Poisson(2) quantile function over [0.9, 1].
    from scipy import stats

    k = np.arange(0, 40)
    upper, lower = stats.poisson.cdf(k, 2.0), stats.poisson.cdf(k - 1, 2.0)
    overlap = np.clip(np.minimum(upper, 1.0) - np.maximum(lower, 0.9), 0, None)
    cond = (k * overlap).sum() / 0.1
    swing_mean = (
        table.loc[("fixed", "frequency"), "mean_high"]
        - table.loc[("fixed", "frequency"), "mean_base"]
    )
    assert swing_mean == pytest.approx((cond - 2.0) * 1e5, rel=0.03)
    with pytest.raises(rb.ValidationError, match="quantiles: must be"):
        res.tornado(quantiles=(0.9, 0.1))
    with pytest.raises(rb.ValidationError, match="metric: must be one of"):
        res.tornado(metric="p42")

"""Very large runs: the quantile sketch's guarantee, keep="summary" against the full
result of the same seed, determinism, memory, progress and cancellation, the CLI."""

from __future__ import annotations

import json
import pickle
import threading
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import riskbench as rb
from helpers import EXAMPLE_CARD, scenario
from riskbench.cli import main
from riskbench.engine import make_plan
from riskbench.errors import Cancelled
from riskbench.results import _Samples
from riskbench.sketch import DEFAULT_ALPHA, QuantileSketch, order_rank
from riskbench.streaming import StreamedResult, _Totals, summarise_block

ALPHA = DEFAULT_ALPHA
# Up to the rounding of log() at a bucket's edge.
SLACK = 1 + 1e-9
LEVELS = np.array([0.5, 0.9, 0.95, 0.99, 0.999, *np.linspace(0.001, 0.999, 97)])


def assert_within_alpha(estimate: Any, exact: Any, alpha: float = ALPHA) -> None:
    estimate, exact = np.asarray(estimate, dtype=float), np.asarray(exact, dtype=float)
    err = np.abs(estimate - exact)
    bad = err > alpha * np.abs(exact) * SLACK
    assert not bad.any(), f"outside the bound: {estimate[bad]} vs exact {exact[bad]}"


# ------------------------------------------------------------------------ the sketch
def _heavy(kind: str, n: int = 200_000) -> np.ndarray:
    rng = np.random.default_rng(hash(kind) % 2**32)
    if kind == "lognormal-2":
        return rng.lognormal(12, 2.0, n)
    if kind == "lognormal-3":
        return rng.lognormal(12, 3.0, n)
    if kind == "pareto-1.1":
        return 1e4 * (1 + rng.pareto(1.1, n))
    if kind == "pareto-1.5":
        return 1e4 * (1 + rng.pareto(1.5, n))
    # a scenario's annual losses: mostly years without an event
    x = rng.lognormal(10, 2.5, n)
    x[rng.random(n) < 0.93] = 0.0
    return x


HEAVY = ["lognormal-2", "lognormal-3", "pareto-1.1", "pareto-1.5", "rare-events"]


@pytest.mark.parametrize("kind", HEAVY)
def test_sketch_quantiles_are_within_alpha_of_the_exact_sample_quantile(kind: str) -> None:
    x = _heavy(kind)
    exact = _Samples(x, 0.0).quantile(LEVELS)
    assert_within_alpha(QuantileSketch.of(x).quantile(LEVELS), exact)
    # The same order statistic as SimulationResult.var: rank ceil(q n).
    ordered = np.sort(x)
    np.testing.assert_array_equal(ordered[order_rank(LEVELS, x.size) - 1], exact)


@pytest.mark.parametrize("kind", HEAVY)
def test_sketch_tvar_and_exceedance_bounds(kind: str) -> None:
    x = _heavy(kind)
    sketch, exact = QuantileSketch.of(x), _Samples(x, 0.0)
    for q in (0.5, 0.9, 0.99, 0.999):
        assert_within_alpha(sketch.tvar(q), exact.tvar(q))
    points = np.unique(np.concatenate([exact.quantile(LEVELS), np.geomspace(1, 1e12, 50)]))
    points = points[points > 0]
    estimate = sketch.sf(points)
    assert np.all(exact.sf(points / (1 - ALPHA)) <= estimate + 1e-15)
    assert np.all(estimate <= exact.sf(points / (1 + ALPHA)) + 1e-15)


def test_sketch_takes_a_few_kilobytes() -> None:
    x = _heavy("lognormal-3", 1_000_000)  # about 10 decades of values
    assert QuantileSketch.of(x).nbytes < 30_000


def test_merging_is_exact_and_order_free() -> None:
    x = _heavy("lognormal-3")
    whole = QuantileSketch.of(x)
    parts = [QuantileSketch.of(p) for p in np.array_split(x, 7)]
    forward, backward = QuantileSketch(), QuantileSketch()
    for p in parts:
        forward.merge(p)
    for p in reversed(parts):
        backward.merge(p)
    assert forward == whole
    assert backward == whole
    assert pickle.loads(pickle.dumps(whole)) == whole  # travels to Dask workers
    with pytest.raises(ValueError, match="different accuracy"):
        whole.merge(QuantileSketch(0.01))


@given(
    st.lists(
        st.one_of(st.just(0.0), st.floats(-1e9, 1e9, allow_nan=False, allow_subnormal=False)),
        min_size=1,
        max_size=300,
    ),
    st.lists(st.floats(0.0005, 0.9995), min_size=1, max_size=8),
)
def test_sketch_bound_holds_for_any_sample(values: list[float], qs: list[float]) -> None:
    x = np.array(values)
    levels = np.array(qs)
    sketch = QuantileSketch.of(x)
    assert_within_alpha(sketch.quantile(levels), _Samples(x, 0.0).quantile(levels))
    assert np.all(np.diff(sketch.quantile(np.sort(levels))) >= 0)  # monotone
    assert sketch.quantile(1e-12) == x.min()
    assert sketch.quantile(1 - 1e-12) == x.max()


# ----------------------------------------------------- keep="summary" vs keep="years"
TRIALS, SEED, BLOCK = 150_000, 11, 8_192  # 19 blocks to merge


@pytest.fixture(scope="module")
def pair() -> tuple[rb.SimulationResult, StreamedResult]:
    p = rb.load_portfolio(EXAMPLE_CARD)  # correlated scenarios: the reordering path too
    full = rb.simulate(p, TRIALS, SEED, block_size=BLOCK)
    small = rb.simulate(p, TRIALS, SEED, block_size=BLOCK, keep="summary")
    assert isinstance(full, rb.SimulationResult)
    assert isinstance(small, StreamedResult)
    return full, small


def test_portfolio_numbers_are_exactly_those_of_the_full_result(
    pair: tuple[rb.SimulationResult, StreamedResult],
) -> None:
    full, small = pair
    np.testing.assert_array_equal(small.annual_loss, full.annual_loss)
    a, b = full.summary().loc["portfolio"], small.summary().loc["portfolio"]
    for col in ("mean", "sd", "p50", "p90", "p95", "p99", "p_any"):
        assert b[col] == a[col], col
    assert b["tvar99"] == pytest.approx(a["tvar99"], rel=1e-12)
    np.testing.assert_array_equal(small.var(LEVELS), full.var(LEVELS))
    x = full.var(LEVELS)
    np.testing.assert_array_equal(small.exceedance_prob(x), full.exceedance_prob(x))
    assert small.exceedance_curve().equals(full.exceedance_curve())
    assert (small.trials, small.seed, small.basis) == (full.trials, full.seed, full.basis)


def test_scenario_moments_counts_and_p_any_are_exact(
    pair: tuple[rb.SimulationResult, StreamedResult],
) -> None:
    full, small = pair
    a, b = full.summary(), small.summary()
    assert list(b.index) == list(a.index)
    assert list(b.columns) == list(a.columns)
    np.testing.assert_allclose(b["mean"], a["mean"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(b["sd"], a["sd"], rtol=1e-12, atol=0)
    np.testing.assert_array_equal(b["p_any"], a["p_any"])
    assert small.event_summary().equals(full.event_summary())
    for sid in full.ids:
        assert small.standard_error(sid) == pytest.approx(full.standard_error(sid), rel=1e-12)


def test_scenario_quantiles_tvar_and_exceedance_are_within_the_bound(
    pair: tuple[rb.SimulationResult, StreamedResult],
) -> None:
    full, small = pair
    for sid in full.ids:
        assert_within_alpha(small.var(LEVELS, sid), full.var(LEVELS, sid))
        for q in (0.5, 0.9, 0.99, 0.999):
            assert_within_alpha(small.tvar(q, sid), full.tvar(q, sid))
        x = full.var(LEVELS, sid)
        x = x[x > 0]
        estimate = small.exceedance_prob(x, sid)
        assert np.all(full.exceedance_prob(x / (1 - ALPHA), sid) <= estimate + 1e-15)
        assert np.all(estimate <= full.exceedance_prob(x / (1 + ALPHA), sid) + 1e-15)
        curve = small.exceedance_curve(sid)
        assert curve["loss"].is_monotonic_increasing
        assert curve["probability"].is_monotonic_decreasing
    summary = small.summary().drop(index="portfolio")
    assert_within_alpha(
        summary[["p50", "p90", "p95", "p99", "tvar99"]].to_numpy(),
        full.summary().drop(index="portfolio")[["p50", "p90", "p95", "p99", "tvar99"]].to_numpy(),
    )


def test_exactness_says_which_number_is_which(
    pair: tuple[rb.SimulationResult, StreamedResult],
) -> None:
    table = pair[1].exactness
    assert list(table.columns) == ["scenario", "portfolio", "bound"]
    assert set(table["portfolio"]) == {"exact"}
    for measure in ("mean", "sd", "p_any", "event_summary"):
        assert table.loc[measure, "scenario"] == "exact"
    for measure in ("p50", "p90", "p95", "p99", "tvar99", "var", "tvar", "exceedance_prob"):
        assert table.loc[measure, "scenario"] == "sketched"
    assert "0.005 * x_q" in table.loc["p99", "bound"]
    assert "ceil(q * trials)" in table.loc["var", "bound"]


def test_same_numbers_whatever_the_workers() -> None:
    p = rb.load_portfolio(EXAMPLE_CARD)
    one = rb.simulate(p, 40_000, 3, block_size=4_096, workers=1, keep="summary")
    two = rb.simulate(p, 40_000, 3, block_size=4_096, workers=2, keep="summary")
    assert isinstance(one, StreamedResult)
    assert isinstance(two, StreamedResult)
    np.testing.assert_array_equal(one.annual_loss, two.annual_loss)
    assert one.summary().equals(two.summary())  # bit for bit, scenarios too
    assert all(a.sketch == b.sketch for a, b in zip(one._scenarios, two._scenarios, strict=True))
    assert one.input_hash() == two.input_hash()


@pytest.mark.slow
def test_same_numbers_on_a_dask_cluster() -> None:
    pytest.importorskip("distributed")
    p = rb.load_portfolio(EXAMPLE_CARD)
    local = rb.simulate(p, 40_000, 3, block_size=4_096, keep="summary")
    dask = rb.simulate(
        p, 40_000, 3, block_size=4_096, keep="summary", engine="dask", client="local:2"
    )
    assert isinstance(local, StreamedResult)
    assert isinstance(dask, StreamedResult)
    np.testing.assert_array_equal(local.annual_loss, dask.annual_loss)
    assert local.summary().equals(dask.summary())


def test_blocks_must_be_merged_in_block_order() -> None:
    p = rb.Portfolio([scenario("a")])
    plan = make_plan(p, trials=100, seed=1, block_size=16)
    totals = _Totals(plan, ALPHA)
    totals.add(summarise_block(plan, 0))
    with pytest.raises(rb.RiskbenchError, match="block 2 arrived where block 1 was due"):
        totals.add(summarise_block(plan, 2))


# ------------------------------------------------------------ what needs the years
NEEDS_YEARS: dict[str, Callable[[StreamedResult], object]] = {
    "losses": lambda r: r.losses,
    "counts": lambda r: r.counts,
    "scenario_losses": lambda r: r.scenario_losses("plant-fire"),
    "max_event": lambda r: r.max_event,
    "occurrence_curve": lambda r: r.occurrence_curve(),
    "tornado": lambda r: r.tornado(),
    "the portfolio's occurrence_prob": lambda r: r.occurrence_prob(1e6),  # correlated card
}


@pytest.mark.parametrize("what", list(NEEDS_YEARS))
def test_what_needs_every_year_says_keep_years(
    pair: tuple[rb.SimulationResult, StreamedResult], what: str
) -> None:
    with pytest.raises(rb.RiskbenchError, match=r'needs every simulated year.*keep="years"'):
        NEEDS_YEARS[what](pair[1])


def test_occurrence_is_exact_where_it_needs_no_years(
    pair: tuple[rb.SimulationResult, StreamedResult],
) -> None:
    full, small = pair
    x = np.array([1e5, 1e6, 1e7])
    np.testing.assert_array_equal(
        small.occurrence_prob(x, "plant-fire"), full.occurrence_prob(x, "plant-fire")
    )
    independent = rb.Portfolio([scenario("a", rb.Poisson(rate=0.5), rb.LogNormal(mu=10, sigma=1))])
    res = rb.simulate(independent, 1_000, 1, keep="summary")
    assert res.occurrence_prob(x) == pytest.approx(
        rb.simulate(independent, 1_000, 1).occurrence_prob(x)
    )


def test_bad_keep_names_the_allowed_values() -> None:
    p = rb.Portfolio([scenario("a")])
    with pytest.raises(
        rb.ValidationError, match=r"keep: must be one of 'years', 'summary', got 'all'"
    ):
        rb.simulate(p, 100, 1, keep="all")  # type: ignore[arg-type]
    with pytest.raises(rb.ValidationError, match="keep: 'summary' is for the Monte Carlo engines"):
        rb.simulate(p, engine="fft", keep="summary")


def test_input_hash_and_manifest(pair: tuple[rb.SimulationResult, StreamedResult]) -> None:
    full, small = pair
    again = rb.simulate(
        rb.load_portfolio(EXAMPLE_CARD), TRIALS, SEED, block_size=BLOCK, keep="summary"
    )
    assert isinstance(again, StreamedResult)
    assert again.input_hash() == small.input_hash()  # the same inputs hash the same
    assert small.input_hash() != full.input_hash()  # ... but not as a run that kept its years
    assert small.years_input_hash() == full.input_hash()
    m = small.manifest()
    assert m["kind"] == "riskbench.StreamedResult"
    assert m["keep"] == "summary"
    assert m["sketch"]["relative_accuracy"] == ALPHA
    assert m["input_hash"] == small.input_hash()
    assert m["years_input_hash"] == full.input_hash()
    assert m["trials"] == TRIALS
    json.dumps(m)


# ------------------------------------------------------------------- memory and time
def _traced_peak(p: rb.Portfolio, trials: int, keep: str) -> int:
    tracemalloc.start()
    try:
        res = rb.simulate(p, trials, 1, block_size=1_024, workers=1, keep=keep)  # type: ignore[arg-type]
        peak = tracemalloc.get_traced_memory()[1]
        del res
    finally:
        tracemalloc.stop()
    return peak


def test_memory_grows_by_the_portfolio_vector_only() -> None:
    k = 20
    p = rb.Portfolio(
        [scenario(f"s{i}", rb.Poisson(rate=0.5), rb.LogNormal(mu=10, sigma=2)) for i in range(k)]
    )
    small, large = 40 * 1_024, 80 * 1_024
    _traced_peak(p, small, "summary")  # warm caches
    per_year = (_traced_peak(p, large, "summary") - _traced_peak(p, small, "summary")) / (
        large - small
    )
    assert 7 < per_year < 12, per_year  # 8 bytes: the portfolio's annual loss
    years = (_traced_peak(p, large, "years") - _traced_peak(p, small, "years")) / (large - small)
    assert years > 8 * k, years  # every scenario's years


def test_progress_reaches_the_trials_and_cancel_stops_the_run() -> None:
    p = rb.Portfolio([scenario("a", rb.Poisson(rate=2.0), rb.LogNormal(mu=10, sigma=1))])
    seen: list[tuple[int, int]] = []
    rb.simulate(
        p, 10_000, 1, block_size=1_024, keep="summary", progress=lambda d, t: seen.append((d, t))
    )
    assert seen[-1] == (10_000, 10_000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    cancel = threading.Event()

    def stop_after_two(done: int, total: int) -> None:
        if done >= 2_048:
            cancel.set()

    with pytest.raises(Cancelled):
        rb.simulate(
            p,
            100_000,
            1,
            block_size=1_024,
            keep="summary",
            workers=2,
            progress=stop_after_two,
            cancel=cancel,
        )


# ------------------------------------------------------------------------------- CLI
def test_cli_run_keep_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "run"
    args = ["run", str(EXAMPLE_CARD), "--trials", "20000", "--seed", "5", "--out", str(out)]
    assert main([*args, "--keep", "summary"]) == 0
    printed = capsys.readouterr().out
    assert "skipped tornado.csv and tornado.png" in printed
    assert "--keep years" in printed
    names = sorted(p.name for p in out.iterdir())
    assert names == [
        "exceedance_curve.csv",
        "exceedance_curve.png",
        "manifest.json",
        "summary.csv",
        "summary.json",
    ]
    summary = json.loads((out / "summary.json").read_text())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["keep"] == "summary"
    assert summary["input_hash"] == manifest["input_hash"]
    assert summary["trials"] == 20_000
    assert set(manifest["outputs"]) == set(names) - {"manifest.json"}
    full = rb.simulate(rb.load_portfolio(EXAMPLE_CARD), 20_000, 5)
    row = next(r for r in summary["summary"] if r["scenario"] == "portfolio")
    assert row["p99"] == full.var(0.99)


@pytest.mark.parametrize("flag", [["--save-years"], ["--workspace", "acme"]])
def test_cli_keep_summary_refuses_what_needs_years(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flag: list[str]
) -> None:
    args = ["run", str(EXAMPLE_CARD), "--trials", "1000", "--out", str(tmp_path / "x")]
    assert main([*args, "--keep", "summary", *flag]) == 2
    assert f"{flag[0]}: needs --keep years" in capsys.readouterr().err

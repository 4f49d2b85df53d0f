"""The Dask engine: the same blocks on a cluster, bit-identical to the local engine.

One module-scoped LocalCluster of two single-threaded worker processes serves most
tests; one-worker clusters are started through ``client="local:1"`` where a test
needs one. Real processes throughout: a worker is killed with SIGKILL mid-run.
"""

from __future__ import annotations

import json
import os
import random
import re
import signal
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import dask
import numpy as np
import pytest
from distributed import Client, LocalCluster

import riskbench as rb
from helpers import EXAMPLE_CARD, ROOT, free_port, scenario
from riskbench.cli import main
from riskbench.engine import Plan, make_plan, simulate_block
from riskbench.executors import map_blocks, parse_scheduler

ARRAYS = ("_losses", "_counts", "annual_loss", "_max_event", "_any_event")


@pytest.fixture(scope="module")
def cluster() -> Iterator[LocalCluster]:
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
    ) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster: LocalCluster) -> Iterator[Client]:
    with Client(cluster, set_as_default=False) as c:
        yield c


@pytest.fixture
def healthy(client: Client) -> Client:
    # A test that killed a worker leaves the nanny to restart it: wait for both.
    client.wait_for_workers(2, timeout=60)
    return client


def independent() -> rb.Portfolio:
    return rb.Portfolio(
        [
            scenario("a", rb.Poisson(rate=1.5), rb.LogNormal(mu=3, sigma=1)),
            scenario("b", rb.Bernoulli(p=0.2), rb.PERT(1, 2, 9)),
            scenario("c", rb.NegativeBinomial(r=2.0, p=0.5), rb.Gamma(shape=2.0, rate=0.2)),
        ]
    )


def assert_same(a: Any, b: Any) -> None:
    for name in ARRAYS:
        x, y = getattr(a, name), getattr(b, name)
        if x is None or y is None:
            assert x is y, name
            continue
        assert np.array_equal(x, y), name
        assert x.dtype == y.dtype, name
    assert (a.seed, a.trials, a.block_size, a.engine_version) == (
        b.seed,
        b.trials,
        b.block_size,
        b.engine_version,
    )


def _simulate_and_pid(plan: Plan, b: int) -> tuple[int, Any]:
    return os.getpid(), simulate_block(plan, b)


def _simulate_and_mark(folder: str, plan: Plan, b: int) -> Any:
    Path(folder, f"{b}.done").touch()
    return simulate_block(plan, b)


# ----------------------------------------------------------------- fast, no cluster
def test_engine_message_names_every_engine() -> None:
    with pytest.raises(rb.ValidationError, match=r"engine: must be one of 'local', 'dask', 'fft'"):
        rb.simulate(independent(), trials=100, engine="spark")  # type: ignore[arg-type]


def test_client_needs_the_dask_engine() -> None:
    with pytest.raises(rb.ValidationError, match=r"client: is an option of engine='dask' only"):
        rb.simulate(independent(), trials=100, client="local:1")


def test_workers_are_threads_of_the_local_engine() -> None:
    with pytest.raises(rb.ValidationError, match=r"workers: is an option of engine='local'"):
        rb.simulate(independent(), trials=100, engine="dask", workers=2)


@pytest.mark.parametrize("text", ["local:0", "local:", "8786", "http://h:1", "tcp://", "x y"])
def test_bad_scheduler_address(text: str) -> None:
    with pytest.raises(rb.ValidationError) as info:
        parse_scheduler(text, loc="--scheduler")
    assert str(info.value).startswith("--scheduler: must be 'local:N'")
    assert repr(text) in str(info.value)


def test_scheduler_addresses() -> None:
    assert parse_scheduler("local:3") == 3
    for address in ("tcp://127.0.0.1:8786", "tls://dask.example.org:8786", "tcp://[::1]:8786"):
        assert parse_scheduler(address) == address


def test_local_map_blocks_keeps_order_and_bounds_what_is_in_flight() -> None:
    plan = make_plan(independent(), trials=40 * 64, seed=1, block_size=64)
    running, most, lock = 0, 0, threading.Lock()

    def slow(p: Plan, b: int) -> int:
        nonlocal running, most
        with lock:
            running += 1
            most = max(most, running)
        time.sleep(0.005 * (b % 3))
        with lock:
            running -= 1
        return b

    order = random.Random(0).sample(range(plan.n_blocks), plan.n_blocks)
    seen = [(b, v) for b, v in map_blocks(slow, plan, order, workers=3)]
    assert seen == [(b, b) for b in order]
    assert most <= 3


def test_local_cancel_stops_promptly() -> None:
    plan = make_plan(independent(), trials=200 * 64, seed=2, block_size=64)
    ran: list[int] = []
    stop = threading.Event()

    def block(p: Plan, b: int) -> int:
        ran.append(b)
        time.sleep(0.01)
        return b

    def progress(done: int, total: int) -> None:
        stop.set()

    for workers in (1, 3):
        ran.clear()
        stop.clear()
        with pytest.raises(rb.Cancelled, match=r"simulation cancelled after 1 of 200 blocks"):
            for _ in map_blocks(
                block, plan, range(200), workers=workers, cancel=stop, progress=progress
            ):
                pass
        assert len(ran) <= 1 + workers + 1


def test_simulate_cancelled_locally() -> None:
    stop = threading.Event()
    with pytest.raises(rb.Cancelled) as info:
        rb.simulate(
            independent(),
            trials=100 * 256,
            seed=3,
            block_size=256,
            workers=2,
            cancel=stop,
            progress=lambda done, total: stop.set(),
        )
    assert (info.value.done, info.value.total) == (1, 100)


# ------------------------------------------------------------------------- cluster
@pytest.mark.slow
@pytest.mark.parametrize("correlated", [True, False], ids=["correlated", "independent"])
def test_dask_is_bit_identical_to_local(
    correlated: bool, healthy: Client, example_portfolio: rb.Portfolio
) -> None:
    portfolio = example_portfolio if correlated else independent()
    options: dict[str, Any] = {"trials": 13 * 4096 + 77, "seed": 2026, "block_size": 4096}
    local = rb.simulate(portfolio, **options)
    two = rb.simulate(portfolio, engine="dask", client=healthy, **options)
    one = rb.simulate(portfolio, engine="dask", client="local:1", **options)
    assert (local._max_event is not None) is correlated
    assert_same(local, two)
    assert_same(local, one)
    assert local.input_hash() == two.input_hash()


@pytest.mark.slow
def test_block_placement_does_not_matter(healthy: Client, example_portfolio: rb.Portfolio) -> None:
    plan = make_plan(example_portfolio, trials=40 * 1024, seed=11, block_size=1024)
    local = rb.simulate(example_portfolio, trials=40 * 1024, seed=11, block_size=1024)
    order = random.Random(5).sample(range(plan.n_blocks), plan.n_blocks)
    seen, pids = [], set()
    for b, (pid, block) in map_blocks(
        _simulate_and_pid, plan, order, engine="dask", client=healthy
    ):
        seen.append(b)
        pids.add(pid)
        start, stop = plan.block_bounds(b)
        assert block.index == b
        assert np.array_equal(block.losses, local._losses[:, start:stop])
        assert np.array_equal(block.counts, local._counts[:, start:stop])
        assert np.array_equal(block.annual, local.annual_loss[start:stop])
        assert np.array_equal(block.max_event, local._max_event[start:stop])
    assert seen == order
    assert os.getpid() not in pids
    assert len(pids) == 2, "both workers ran blocks"


@pytest.mark.slow
def test_cancel_stops_the_cluster_promptly(healthy: Client, tmp_path: Path) -> None:
    plan = make_plan(independent(), trials=300 * 512, seed=12, block_size=512)
    stop = threading.Event()
    fn = partial(_simulate_and_mark, str(tmp_path))
    started = time.monotonic()
    with pytest.raises(rb.Cancelled, match=r"simulation cancelled after 1 of 300 blocks"):
        for _ in map_blocks(
            fn,
            plan,
            range(plan.n_blocks),
            engine="dask",
            client=healthy,
            cancel=stop,
            progress=lambda done, total: stop.set(),
        ):
            pass
    assert time.monotonic() - started < 10
    time.sleep(1.0)  # anything still queued on the cluster would run now
    ran = len(list(tmp_path.glob("*.done")))
    # At most the window (twice the cluster's threads) and the block handed over.
    assert 1 <= ran <= 2 * 2 + 1


@pytest.mark.slow
def test_simulate_cancelled_on_the_cluster(healthy: Client) -> None:
    stop = threading.Event()
    with pytest.raises(rb.Cancelled) as info:
        rb.simulate(
            independent(),
            trials=200 * 256,
            seed=13,
            block_size=256,
            engine="dask",
            client=healthy,
            cancel=stop,
            progress=lambda done, total: stop.set(),
        )
    assert (info.value.done, info.value.total) == (1, 200)


@pytest.mark.slow
def test_a_cancelled_run_leaves_the_same_run_beside_it_alone(
    healthy: Client, example_portfolio: rb.Portfolio
) -> None:
    # Both runs submit the same block keys through one client (a dashboard's shared
    # client): cancelling one must not cancel the other's blocks or transfers.
    options: dict[str, Any] = {"trials": 80 * 1024, "seed": 14, "block_size": 1024}
    expected = rb.simulate(example_portfolio, **options)
    stop = threading.Event()
    outcome: dict[str, Any] = {}

    def cancelled() -> None:
        with pytest.raises(rb.Cancelled):
            rb.simulate(
                example_portfolio,
                engine="dask",
                client=healthy,
                cancel=stop,
                progress=lambda done, total: stop.set() if done > 8 * 1024 else None,
                **options,
            )
        outcome["cancelled"] = True

    def whole() -> None:
        outcome["result"] = rb.simulate(example_portfolio, engine="dask", client=healthy, **options)

    threads = [threading.Thread(target=whole), threading.Thread(target=cancelled)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert outcome.get("cancelled")
    assert_same(expected, outcome["result"])


@pytest.mark.slow
def test_a_worker_killed_mid_run(healthy: Client, example_portfolio: rb.Portfolio) -> None:
    options: dict[str, Any] = {"trials": 240 * 2048, "seed": 31, "block_size": 2048}
    expected = rb.simulate(example_portfolio, **options)
    some_done = threading.Event()
    outcome: dict[str, Any] = {}
    years: list[int] = [0]

    def progress(done: int, total: int) -> None:
        years.append(done)
        if done >= 20 * 2048:
            some_done.set()

    def run() -> None:
        try:
            outcome["result"] = rb.simulate(
                example_portfolio, engine="dask", client=healthy, progress=progress, **options
            )
        except BaseException as error:  # reported by the assertion below
            outcome["error"] = error

    pids = healthy.run(os.getpid)
    thread = threading.Thread(target=run)
    thread.start()
    assert some_done.wait(120), "no blocks finished"
    victim = pids[sorted(pids)[0]]
    os.kill(victim, signal.SIGKILL)
    assert years[-1] < options["trials"], "the run had finished before the kill"
    thread.join(300)
    assert not thread.is_alive()
    assert "error" not in outcome, outcome.get("error")
    assert_same(expected, outcome["result"])
    # The nanny started a new worker process in its place.
    healthy.wait_for_workers(2, timeout=60)
    assert victim not in healthy.run(os.getpid).values()


@pytest.mark.slow
def test_stress_and_mitigations_on_the_cluster(
    healthy: Client, example_portfolio: rb.Portfolio
) -> None:
    sets = rb.load_stress_sets(ROOT / "examples" / "stress.yaml")
    chosen = next(iter(sets.values()))
    options: dict[str, Any] = {"trials": 20_000, "seed": 4}
    local = rb.stress(example_portfolio, chosen, **options)
    remote = rb.stress(example_portfolio, chosen, engine="dask", client=healthy, **options)
    assert local.table.equals(remote.table)
    assert_same(local.stressed, remote.stressed)

    everything = rb.stress_all(example_portfolio, sets, engine="dask", client=healthy, **options)
    for name, result in rb.stress_all(example_portfolio, sets, **options).items():
        assert result.table.equals(everything[name].table)

    mitigations = rb.load_mitigations(ROOT / "examples" / "mitigations.yaml")
    report = rb.evaluate_mitigations(example_portfolio, mitigations, **options)
    on_cluster = rb.evaluate_mitigations(
        example_portfolio, mitigations, engine="dask", client=healthy, **options
    )
    assert report.table.equals(on_cluster.table)
    for name, losses in report.annual_losses.items():
        assert np.array_equal(losses, on_cluster.annual_losses[name])

    budget = sum(m.annual_cost for m in mitigations) / 2
    best = rb.optimize_mitigations(
        example_portfolio, mitigations[:4], budget_per_year=budget, **options
    )
    best_remote = rb.optimize_mitigations(
        example_portfolio,
        mitigations[:4],
        budget_per_year=budget,
        engine="dask",
        client="local:1",  # one cluster for every simulation of the search
        **options,
    )
    assert best.best == best_remote.best
    assert best.frontier.equals(best_remote.frontier)


# ----------------------------------------------------------------------------- CLI
@pytest.mark.slow
def test_cli_scheduler_writes_the_same_numbers(
    tmp_path: Path, healthy: Client, cluster: LocalCluster, capsys: pytest.CaptureFixture[str]
) -> None:
    def run(*extra: str) -> dict[str, Any]:
        out = tmp_path / f"out{len(list(tmp_path.iterdir()))}"
        argv = ["run", str(EXAMPLE_CARD), "--trials", "30000", "--seed", "8", "--out", str(out)]
        assert main([*argv, *extra]) == 0, capsys.readouterr().err
        data: dict[str, Any] = json.loads((out / "summary.json").read_text())
        return data

    local = run()
    assert run("--scheduler", "local:1") == local
    assert run("--scheduler", cluster.scheduler_address) == local


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--scheduler", "nonsense"], "--scheduler: must be 'local:N'"),
        (["--scheduler", "local:2", "--workers", "2"], "--workers: sets threads"),
        (["--scheduler", "local:2", "--engine", "fft"], "--scheduler: needs --engine local"),
    ],
)
def test_cli_bad_scheduler_options(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    argv = ["run", str(EXAMPLE_CARD), "--trials", "1000", "--out", str(tmp_path / "o"), *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert message in err
    assert not (tmp_path / "o").exists()


@pytest.mark.slow
def test_cli_unreachable_scheduler(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    address = f"tcp://127.0.0.1:{free_port()}"
    argv = ["run", str(EXAMPLE_CARD), "--trials", "1000", "--out", str(tmp_path / "o")]
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        assert main([*argv, "--scheduler", address]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"--scheduler: cannot connect to the Dask scheduler at '{address}'", err)


# ---------------------------------------------------------------------------- docs
@pytest.mark.slow
def test_scale_out_examples_run(cluster: LocalCluster, healthy: Client) -> None:
    text = (ROOT / "docs" / "scale-out.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    assert blocks
    namespace: dict[str, object] = {}
    for block in blocks:
        # The documented address is the test cluster's here.
        code = block.replace("tcp://127.0.0.1:8786", cluster.scheduler_address)
        exec(compile(code, "docs/scale-out.md", "exec"), namespace)


def test_workers_riskbench_starts_have_no_malloc_trim_threshold() -> None:
    """Dask's nannies set MALLOC_TRIM_THRESHOLD_, which halves a block's speed in a
    worker (docs/scale-out.md, Cost); clusters riskbench starts drop it, and only it."""
    import dask

    from riskbench.executors import connect, worker_environment

    key = "distributed.nanny.pre-spawn-environ"
    default = dict(dask.config.get(key))
    assert default["MALLOC_TRIM_THRESHOLD_"] == 65536  # what Dask does by default
    with worker_environment():
        changed = dict(dask.config.get(key))
    assert changed == {**default, "MALLOC_TRIM_THRESHOLD_": None}  # None: unset
    assert dict(dask.config.get(key)) == default
    # Even after a cluster started with Dask's defaults (its nanny also puts the
    # variable in this process's environment, which workers would inherit):
    with (
        LocalCluster(n_workers=1, threads_per_worker=1, dashboard_address=":0") as plain,
        Client(plain) as other,
    ):
        leaked = other.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert list(leaked.values()) == ["65536"]
    with connect("local:1") as client:
        seen = client.run(lambda: os.environ.get("MALLOC_TRIM_THRESHOLD_"))
    assert list(seen.values()) == [None]

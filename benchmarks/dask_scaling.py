"""Dask on 1 and 2 local workers against the local engine: throughput, parallel
efficiency and the overhead per block, in one run.

Workload: portfolio (b) of benchmarks/engine.py (50 independent Poisson x log-normal
scenarios), ``--trials`` years (default 1,000,000), best of ``--repeats``:

- ``rb.simulate(..., engine="local", workers=1|2)``: threads in this process;
- ``engine="dask"`` on a LocalCluster of 1 and of 2 single-threaded worker processes
  in riskbench's worker environment (see ``riskbench.executors.worker_environment``),
  started beforehand (the start-up time is reported apart), with ``keep="years"``
  (every block's years travel back to this process) and ``keep="summary"`` (each
  block is reduced where it runs: only the portfolio's annual losses and small
  per-scenario summaries come back);
- overhead per block: a one-scenario portfolio cut into ``--small-blocks`` blocks of
  4,096 years, Dask with 1 worker minus local with 1 thread, divided by the blocks.

Throughput is simulated years per second; parallel efficiency is the 2-worker
throughput over twice the 1-worker throughput of the same engine. Every Dask result
is checked bit-identical to the local one.

Run:  .venv/bin/python benchmarks/dask_scaling.py [--trials N] [--repeats R]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from typing import Any

import numpy as np
from engine import SEED, case_b, machine_line, portfolio  # benchmarks/engine.py

import riskbench as rb
from riskbench.engine import BLOCK_SIZE
from riskbench.executors import worker_environment


def best(job: Callable[[], Any], repeats: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = job()
        times.append(time.perf_counter() - t0)
    return min(times), out


def same(a: Any, b: Any) -> bool:
    return bool(np.array_equal(a.annual_loss, b.annual_loss))


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--trials", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--small-blocks", type=int, default=200)
    args = ap.parse_args()
    from distributed import Client, LocalCluster

    print(machine_line())
    pb = portfolio(case_b())
    n = args.trials
    blocks = -(-n // BLOCK_SIZE)
    print(f"portfolio (b): {len(pb)} scenarios, {n:,} years, {blocks} blocks of 65,536")
    rows: list[tuple[str, str, int, float]] = []
    reference = {}
    for keep in ("years", "summary"):
        for workers in (1, 2):
            secs, res = best(
                lambda w=workers, k=keep: rb.simulate(pb, n, SEED, workers=w, keep=k),
                args.repeats,
            )
            reference[keep] = res
            rows.append(("local threads", keep, workers, secs))
    small = rb.Portfolio(
        [
            rb.Scenario(
                id="one",
                title="One",
                category="other",
                frequency=rb.Poisson(rate=0.5),
                severity=rb.LogNormal.from_ci(1e4, 1e6),
            )
        ]
    )
    small_years = 4096 * args.small_blocks
    local_small, small_ref = best(
        lambda: rb.simulate(small, small_years, SEED, workers=1, block_size=4096), args.repeats
    )
    overhead = None
    for workers in (1, 2):
        t0 = time.perf_counter()
        with worker_environment():  # as rb.simulate(client="local:N") starts them
            cluster = LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=":0"
            )
        client = Client(cluster)
        started = time.perf_counter() - t0
        print(f"LocalCluster of {workers} worker(s) started in {started:.1f} s")
        try:
            for keep in ("years", "summary"):
                secs, res = best(
                    lambda k=keep, c=client: rb.simulate(
                        pb, n, SEED, engine="dask", client=c, keep=k
                    ),
                    args.repeats,
                )
                assert same(res, reference[keep]), "dask differs from local"
                rows.append(("dask processes", keep, workers, secs))
            if workers == 1:
                secs, res = best(
                    lambda c=client: rb.simulate(
                        small, small_years, SEED, engine="dask", client=c, block_size=4096
                    ),
                    args.repeats,
                )
                assert same(res, small_ref)
                overhead = (secs - local_small) / args.small_blocks
        finally:
            client.close()
            cluster.close()

    print(
        f"\n{'engine':<15} {'keep':<8} {'workers':>7} {'seconds':>8} {'years/s':>12} "
        f"{'efficiency':>10}"
    )
    by = {(e, k, w): s for e, k, w, s in rows}
    for engine, keep, workers, secs in rows:
        eff = ""
        if workers == 2:
            eff = f"{by[(engine, keep, 1)] / (2 * secs):.0%}"
        print(f"{engine:<15} {keep:<8} {workers:>7} {secs:>8.2f} {n / secs:>12,.0f} {eff:>10}")
    for keep in ("years", "summary"):
        ratio = by[("dask processes", keep, 2)] / by[("local threads", keep, 2)]
        print(f"dask 2 workers / local 2 threads, keep={keep}: {ratio:.2f}x the time")
    if overhead is not None:
        print(
            f"overhead per block (Dask, 1 worker, {args.small_blocks} blocks of 4,096 years): "
            f"{overhead * 1e3:.1f} ms"
        )
    print(f"load avg at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

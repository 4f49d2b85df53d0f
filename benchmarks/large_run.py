"""Benchmark of a very large run in bounded memory: ``rb.simulate(..., keep="summary")``.

Portfolio (b) of ``benchmarks/engine.py`` (50 independent Poisson x log-normal
scenarios, about 55 events a year), 10^8 years by default, ``keep="summary"``: each
block is reduced where it runs and only the portfolio's annual losses (8 bytes a
year) and a summary per scenario are kept. ``keep="years"`` would need 10 bytes per
scenario-year, 50 GB here.

In a fresh subprocess (``--memory-child``, as ``benchmarks/engine.py`` does): the
RSS after importing riskbench and numpy (the baseline), the wall time of
``rb.simulate``, then of reading the result (``summary()`` and the portfolio's
``exceedance_curve()``, which sort the 10^8 portfolio losses once), and the peak
RSS (``ru_maxrss``, with ``/proc`` VmHWM beside it) over the whole.

Run:  .venv/bin/python benchmarks/large_run.py               (10^8 years; ~10 min on 2 cores)
      .venv/bin/python benchmarks/large_run.py --years 1e7   (a quick check)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# benchmarks/engine.py, beside this script (the script's folder is on sys.path).
from engine import SEED, case_b, machine_line, peak_rss_mib, portfolio

import riskbench as rb

TARGET_PEAK_MIB = 2048


def _years(text: str) -> int:
    value = float(text)
    if value < 1 or value != int(value):
        raise argparse.ArgumentTypeError(f"must be a whole number >= 1, got {text!r}")
    return int(value)


def memory_child(years: int, workers: int) -> None:
    """In a fresh process: time and peak RSS of a keep="summary" run, JSON on stdout."""
    base = peak_rss_mib()
    p = portfolio(case_b())
    step = max(years // 20, 1)
    shown = [0]

    def progress(done: int, total: int) -> None:
        if done - shown[0] >= step or done == total:
            shown[0] = done
            print(f"  {done:,} / {total:,} years", file=sys.stderr, flush=True)

    t0 = time.perf_counter()
    res = rb.simulate(
        p, trials=years, seed=SEED, workers=workers, keep="summary", progress=progress
    )
    simulate_s = time.perf_counter() - t0
    after_run = peak_rss_mib()
    t0 = time.perf_counter()
    summary = res.summary()
    curve = res.exceedance_curve()
    read_s = time.perf_counter() - t0
    sketch_bytes = sum(m.sketch.nbytes for m in res._scenarios)
    print(
        json.dumps(
            {
                "baseline": base,
                "after_run": after_run,
                "peak": peak_rss_mib(),
                "simulate_s": simulate_s,
                "read_s": read_s,
                "p99": float(summary.loc["portfolio", "p99"]),
                "tvar99": float(summary.loc["portfolio", "tvar99"]),
                "curve_rows": len(curve),
                "annual_mib": res.annual_loss.nbytes / 2**20,
                "sketch_kib": sketch_bytes / 1024,
                "scenarios": len(res.ids),
            }
        )
    )


def child(years: int, workers: int) -> dict[str, Any]:
    cmd = [sys.executable, str(Path(__file__).resolve()), "--memory-child"]
    cmd += ["--years", str(years), "--workers", str(workers)]
    # stderr (the progress lines) passes through; the JSON comes on stdout.
    done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed with exit status {done.returncode}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--years", type=_years, default=10**8, help="simulated years (1e8)")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="threads (the CPUs)")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.memory_child:
        return memory_child(args.years, args.workers)

    print(machine_line())
    print(
        f"(b) 50 scenarios, {args.years:,} years, keep='summary', workers={args.workers}, "
        "fresh process"
    )
    r = child(args.years, args.workers)
    (base, base_hwm), (peak, peak_hwm) = r["baseline"], r["peak"]
    run_peak = r["after_run"][0]
    years_gib = 10 * r["scenarios"] * args.years / 2**30
    print(
        f"  simulate: {r['simulate_s']:,.1f} s ({args.years / r['simulate_s'] / 1e6:,.2f} M "
        f"years/s); summary() + exceedance_curve(): {r['read_s']:,.1f} s"
    )
    print(f"  portfolio p99 {r['p99']:,.0f}, tvar99 {r['tvar99']:,.0f}")
    print(
        f"  kept: portfolio annual losses {r['annual_mib']:,.0f} MiB; scenario sketches "
        f"{r['sketch_kib']:,.0f} KiB in all (keep='years' would hold ~{years_gib:,.1f} GiB)"
    )
    print(
        f"  peak RSS {peak:,.0f} MiB ru_maxrss ({peak_hwm:,.0f} VmHWM); after the run, "
        f"before reading: {run_peak:,.0f} MiB; importing riskbench+numpy alone: "
        f"{base:,.0f} MiB ({base_hwm:,.0f})"
    )
    verdict = "met" if max(peak, peak_hwm) < TARGET_PEAK_MIB else "MISSED"
    print(f"  target: peak memory < {TARGET_PEAK_MIB:,} MiB: {verdict}")
    print(f"load avg at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Dashboard latency: from a mitigation tick to the updated p99, headless.

The executive dashboard (``riskbench.widgets.Dashboard``) re-simulates the register
when a mitigation is ticked. This times that path in-process, as the server runs it
behind a Voila or ``panel serve`` page: setting the "Mitigations in force" checkbox
group's value runs the callback, which re-simulates with the stored run's seed
(``trials`` years) on a thread of its own, updates the loss-curve chart and the
headline; the clock stops when that thread is done and the headline shows the new
p99. The browser's own round trip (a websocket message each way and a Bokeh
re-render, typically tens of milliseconds on 127.0.0.1) is not included.

Each of the example mitigations is ticked and then unticked, one after the other;
the table gives the median and worst of those updates for each size, beside the
bare ``rb.simulate`` time of the same portfolio (the floor), and the target (1 s at
100,000 years).

Run:  .venv/bin/python benchmarks/dashboard_latency.py [--trials 100000] [--workers N]
"""

from __future__ import annotations

import argparse
import os
import statistics
import threading
import time
from pathlib import Path

import riskbench as rb

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 1.0
TARGET_TRIALS = 100_000


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--trials", type=int, nargs="+", default=[50_000, 100_000])
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args()

    from engine import machine_line  # benchmarks/engine.py, beside this file

    from riskbench.widgets import Dashboard

    print(machine_line())
    portfolio = rb.load_portfolio(ROOT / "examples" / "register.yaml")
    print(f"{portfolio.name}: {len(portfolio)} scenarios")
    print(
        f"{'years':>9} {'simulate alone':>15} {'tick median':>12} {'tick worst':>11} {'ticks':>6}"
    )
    for trials in args.trials:
        stored = rb.simulate(portfolio, trials=trials, seed=args.seed)
        assert isinstance(stored, rb.SimulationResult)
        dash = Dashboard(org="bench", result=stored, trials=trials)
        baseline = dash.headline
        t0 = time.perf_counter()
        rb.simulate(portfolio, trials=trials, seed=args.seed)
        alone = time.perf_counter() - t0
        times = []
        for option in dash._plan.options.values():
            for value in ([option], []):
                t0 = time.perf_counter()
                dash._plan.value = value  # the callback starts the what-if on a thread
                for thread in threading.enumerate():
                    if thread.name == "riskbench-what-if":
                        thread.join()
                times.append(time.perf_counter() - t0)
                if value:
                    assert dash.headline != baseline, f"ticking {option} changed nothing"

        print(
            f"{trials:>9,} {alone:>14.3f}s {statistics.median(times):>11.3f}s "
            f"{max(times):>10.3f}s {len(times):>6}"
        )
        if trials == TARGET_TRIALS:
            verdict = "met" if statistics.median(times) < TARGET_SECONDS else "MISSED"
            print(f"  target: median tick at {trials:,} years < {TARGET_SECONDS} s: {verdict}")
    print(f"load avg at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Benchmark of riskbench's Monte Carlo engine: speed, memory and correctness.

Two portfolios of Poisson x log-normal scenarios:

(a) one scenario, Poisson(2.5) x LogNormal.from_ci(50_000, 2_000_000);
(b) 50 independent scenarios, rates log-spaced 0.05..5, 90% intervals with low in
    10k..500k and high/low in 10..200, drawn from a fixed seed.

For each, in one process and best of ``--repeats`` (interleaved, so load from other
processes hits every contender alike), it times:

- draws alone: the Poisson counts and as many log-normal draws, with numpy's
  Generator(PCG64), and nothing else: the floor for any exact compound sampler;
- a plain numpy reference: the same draws, then ``np.bincount(year, weights=sev)``
  per scenario, summed into a portfolio total;
- ``rb.simulate(portfolio, trials, seed, workers=1)`` and ``workers=2``;
- the exact FFT aggregate (``engine="fft"``), whose P99 is printed beside the MC P99.

It then measures riskbench's peak memory on (b) in a fresh subprocess (ru_maxrss,
with the RSS of just importing riskbench and numpy as the baseline), and runs
pyfair (FAIR) on the same inputs at 100,000 trials in the separate venv
``.venv-bench`` (pyfair 0.1a13), reporting its wall time and P99.

Run:  .venv/bin/python benchmarks/engine.py [--quick]   (--quick: 100k trials)
pyfair: python3 -m venv .venv-bench && .venv-bench/bin/pip install pyfair -e .
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import riskbench as rb

ROOT = Path(__file__).resolve().parent.parent
PYFAIR_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
SEED = 2026
PYFAIR_TRIALS = 100_000
TARGET_RATIO = 1.3
TARGET_PEAK_MB = 1024
Spec = tuple[str, float, rb.LogNormal]  # (id, Poisson rate, severity)


def case_a() -> list[Spec]:
    return [("single", 2.5, rb.LogNormal.from_ci(50_000, 2_000_000))]


def case_b() -> list[Spec]:
    rng = np.random.default_rng(20_240_501)
    rates = np.geomspace(0.05, 5.0, 50)
    lows = np.exp(rng.uniform(math.log(1e4), math.log(5e5), 50))
    ratios = np.exp(rng.uniform(math.log(10), math.log(200), 50))
    return [
        (f"s{i:02d}", float(r), rb.LogNormal.from_ci(float(lo), float(lo * q)))
        for i, (r, lo, q) in enumerate(zip(rates, lows, ratios, strict=True))
    ]


CASES = {"a": ("(a) 1 scenario", case_a), "b": ("(b) 50 scenarios", case_b)}


def portfolio(specs: list[Spec]) -> rb.Portfolio:
    return rb.Portfolio(
        [
            rb.Scenario(
                id=i, title=i, category="operational", frequency=rb.Poisson(rate=r), severity=sev
            )
            for i, r, sev in specs
        ]
    )


def draws_alone(specs: list[Spec], trials: int) -> None:
    rng = np.random.Generator(np.random.PCG64(SEED))
    for _, rate, sev in specs:
        counts = rng.poisson(rate, trials)
        rng.lognormal(sev.mu, sev.sigma, int(counts.sum()))


def numpy_reference(specs: list[Spec], trials: int) -> np.ndarray:
    rng = np.random.Generator(np.random.PCG64(SEED))
    years = np.arange(trials)
    total = np.zeros(trials)
    for _, rate, sev in specs:
        counts = rng.poisson(rate, trials)
        losses = rng.lognormal(sev.mu, sev.sigma, int(counts.sum()))
        total += np.bincount(np.repeat(years, counts), weights=losses, minlength=trials)
    return total


def p99(values: np.ndarray) -> float:
    return float(np.quantile(values, 0.99, method="inverted_cdf"))


def machine_line() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    return (
        f"machine: {cpu}; {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable); "
        f"Python {platform.python_version()}; numpy {np.__version__}; riskbench {rb.__version__}; "
        f"OPENBLAS_CORETYPE={'set to ' + coretype if coretype else 'not set'}; "
        f"load avg {os.getloadavg()[0]:.2f}; "
        f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')}"
    )


def timed(jobs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """Best wall time of each job over ``repeats`` rounds, jobs interleaved.

    A job may return a callable: it is called after the timer stops (to take a P99
    from the run's result without timing it) and its value is kept with the time.
    """
    best: dict[str, tuple[float, Any]] = {}
    for _ in range(repeats):
        for name, job in jobs.items():
            t0 = time.perf_counter()
            value = job()
            dt = time.perf_counter() - t0
            value = value() if callable(value) else value
            if name not in best or dt < best[name][0]:
                best[name] = (dt, value)
    return best


def rb_job(p: rb.Portfolio, trials: int, workers: int) -> Callable[[], float]:
    def job() -> Any:
        res = rb.simulate(p, trials=trials, seed=SEED, workers=workers)
        return lambda: mc_p99(res)

    return job


def mc_p99(res: Any) -> tuple[float, float, float]:
    """MC P99 with a distribution-free 95% interval from the order statistics."""
    n = res.trials
    half = 1.96 * math.sqrt(0.99 * 0.01 / n)
    lo, mid, hi = res.var([0.99 - half, 0.99, 0.99 + half])
    return float(mid), float(lo), float(hi)


def run_case(key: str, trials: int, repeats: int) -> dict[str, Any]:
    title, make = CASES[key]
    specs = make()
    p = portfolio(specs)
    events = sum(r for _, r, _ in specs) * trials
    print(f"\n{title}: {trials:,} trials, ~{events / 1e6:.1f}M events, best of {repeats}")
    jobs: dict[str, Callable[[], Any]] = {
        "draws alone": lambda: draws_alone(specs, trials),
        "numpy reference": lambda: (lambda tot: lambda: p99(tot))(numpy_reference(specs, trials)),
        "riskbench workers=1": rb_job(p, trials, 1),
        "riskbench workers=2": rb_job(p, trials, 2),
    }
    best = timed(jobs, repeats)
    t0 = time.perf_counter()
    exact = rb.simulate(p, engine="fft")
    t_fft = time.perf_counter() - t0
    fft_p99 = float(exact.var(0.99))
    floor, ref = best["draws alone"][0], best["numpy reference"][0]
    print(f"  {'':22} {'seconds':>8} {'/draws':>7} {'/numpy':>7} {'P99':>14}")
    print(f"  {'draws alone':22} {floor:8.3f} {1:7.2f} {floor / ref:7.2f}")
    for name in ("numpy reference", "riskbench workers=1", "riskbench workers=2"):
        t, v = best[name]
        est = v if isinstance(v, float) else v[0]
        ci = "" if isinstance(v, float) else f"  (95% CI {v[1]:,.0f} .. {v[2]:,.0f})"
        print(f"  {name:22} {t:8.3f} {t / floor:7.2f} {t / ref:7.2f} {est:14,.0f}{ci}")
    print(
        f"  {'FFT exact':22} {t_fft:8.3f} {'':7} {'':7} {fft_p99:14,.0f}"
        f"  (grid step {exact.h:,.0f}, aliasing {exact.aliasing:.1e})"
    )
    return {
        "trials": trials,
        "draws": floor,
        "numpy": ref,
        "rb1": best["riskbench workers=1"][0],
        "rb2": best["riskbench workers=2"][0],
        "mc_p99": best["riskbench workers=1"][1][0],
        "fft_p99": fft_p99,
        "specs": specs,
        "p": p,
    }


def peak_rss_mb() -> tuple[float, float]:
    """ru_maxrss and /proc's VmHWM, in MiB. Linux carries ru_maxrss over fork+exec
    from the parent, so the parent starts this child before it grows; VmHWM, which
    belongs to this process's own address space, cross-checks it."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    status = Path("/proc/self/status").read_text().split("VmHWM:")[1]
    return maxrss, float(status.split()[0]) / 1024


def memory_child(trials: int) -> None:
    """In a fresh process: peak RSS of rb.simulate on case (b), as JSON on stdout."""
    base = peak_rss_mb()
    p = portfolio(case_b())
    rb.simulate(p, trials=trials, seed=SEED, workers=1)
    print(json.dumps({"baseline": base, "peak": peak_rss_mb()}))


def pyfair_child(trials: int) -> None:
    """In .venv-bench: pyfair on cases (a) and (b), as JSON on stdout.

    pyfair has no log-normal: each severity becomes a PERT with low, mode, high at the
    log-normal's 5% quantile, mode and 95% quantile; LEF is the constant Poisson rate.
    """
    import pandas as pd
    from pyfair import FairMetaModel, FairModel

    out: dict[str, Any] = {}
    for key in ("a", "b"):
        specs = CASES[key][1]()
        lms = [
            {
                "low": float(s.ppf(0.05)),
                "mode": math.exp(s.mu - s.sigma**2),
                "high": float(s.ppf(0.95)),
            }
            for _, _, s in specs
        ]
        t0 = time.perf_counter()
        models = []
        for i, ((sid, rate, _), lm) in enumerate(zip(specs, lms, strict=True)):
            # A distinct seed per model: FairModel reseeds numpy's global RNG on creation
            # (default 42), so equal seeds would make the scenarios' draws comonotonic.
            m = FairModel(name=sid, n_simulations=trials, random_seed=SEED + i)
            m.input_data("Loss Event Frequency", constant=rate)
            m.input_data("Loss Magnitude", **lm)
            models.append(m)
        meta = FairMetaModel(name=key, models=models).calculate_all()
        risk = meta.export_results()["Risk"].to_numpy()
        seconds = time.perf_counter() - t0
        # Variant: LEF as simulated Poisson counts (supplied raw): count x one draw.
        counted = FairMetaModel(
            name=key + "-counts",
            models=[
                FairModel(name=sid, n_simulations=trials, random_seed=SEED + i)
                .input_raw_data(
                    "Loss Event Frequency",
                    pd.Series(np.random.default_rng(SEED + i).poisson(rate, trials).astype(float)),
                )
                .input_data("Loss Magnitude", **lm)
                for i, ((sid, rate, _), lm) in enumerate(zip(specs, lms, strict=True))
            ],
        ).calculate_all()
        out[key] = {
            "seconds": seconds,
            "p99": p99(risk),
            "mean": float(risk.mean()),
            "p99_counts": p99(counted.export_results()["Risk"].to_numpy()),
            "how": f"FairMetaModel of {len(specs)} FairModels",
        }
    print(json.dumps(out))


def child(flag: str, trials: int, python: Path | str = sys.executable) -> dict[str, Any]:
    cmd = [str(python), str(Path(__file__).resolve()), flag, "--trials", str(trials)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100k trials (a CI smoke run)")
    ap.add_argument("--trials", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pyfair-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    trials = args.trials or (100_000 if args.quick else 1_000_000)
    if args.memory_child:
        return memory_child(trials)
    if args.pyfair_child:
        return pyfair_child(trials)

    print(machine_line())
    mem = child("--memory-child", trials)  # first, while this process is still small
    results = {key: run_case(key, trials, args.repeats) for key in CASES}
    b = results["b"]
    small = {"rb": lambda: rb.simulate(b["p"], trials=PYFAIR_TRIALS, seed=SEED, workers=1).seed}
    rb_small = timed(small, args.repeats)["rb"][0]

    (base, base_hwm), (peak, peak_hwm) = mem["baseline"], mem["peak"]
    print(
        f"\npeak memory, riskbench on (b), {trials:,} trials, workers=1, fresh process: "
        f"ru_maxrss {peak:,.0f} MiB (VmHWM {peak_hwm:,.0f}); baseline after importing "
        f"riskbench+numpy {base:,.0f} MiB (VmHWM {base_hwm:,.0f}); increment {peak - base:,.0f} MiB"
    )

    print(
        f"\npyfair, {PYFAIR_TRIALS:,} trials (LEF = rate, LM = PERT at the log-normal's "
        "5% / mode / 95%):"
    )
    if not PYFAIR_PYTHON.exists():
        print(f"  skipped: {PYFAIR_PYTHON} not found (see the module docstring)")
        pf = None
    else:
        pf = child("--pyfair-child", PYFAIR_TRIALS, PYFAIR_PYTHON)
        for key in CASES:
            r, v = pf[key], results[key]
            print(
                f"  {CASES[key][0]}: {r['how']}, {r['seconds']:.3f} s; P99 {r['p99']:,.0f} "
                f"({r['p99'] / v['fft_p99'] - 1:+.0%} vs FFT exact {v['fft_p99']:,.0f}); "
                f"with LEF = Poisson counts: P99 {r['p99_counts']:,.0f} "
                f"({r['p99_counts'] / v['fft_p99'] - 1:+.0%})"
            )
        print(
            f"  riskbench on (b) at {PYFAIR_TRIALS:,} trials, workers=1: {rb_small:.3f} s "
            f"({pf['b']['seconds'] / rb_small:.1f}x faster than pyfair)"
        )
        print("  pyfair draws ONE loss magnitude per simulated year and multiplies it by the")
        print("  frequency (rate x one draw): no sum of N independent losses, no zero-loss")
        print("  years, and PERT caps each loss at the 95% quantile, so its tail is too thin.")

    print("\ntargets:")
    for key in CASES:
        ratio = results[key]["rb1"] / results[key]["draws"]
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(f"  {CASES[key][0]}: riskbench/draws-alone {ratio:.2f} <= {TARGET_RATIO}: {verdict}")
    verdict = "met" if max(peak, peak_hwm) < TARGET_PEAK_MB else "MISSED"
    print(f"  (b) peak memory {peak:,.0f} MiB < {TARGET_PEAK_MB} MiB: {verdict}")
    print(f"load avg at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

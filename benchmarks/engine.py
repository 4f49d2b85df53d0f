"""Benchmark of riskbench's Monte Carlo engine: speed, memory and correctness.

Two portfolios of Poisson x log-normal scenarios:

(a) one scenario, Poisson(2.5) x LogNormal.from_ci(50_000, 2_000_000);
(b) 50 independent scenarios, rates log-spaced 0.05..5, 90% intervals with low in
    10k..500k and high/low in 10..200, drawn from a fixed seed.

For each, in this process, best of ``--repeats`` with the contenders interleaved:

- draws alone: the Poisson counts and as many log-normal draws (numpy Generator,
  PCG64: ``poisson`` and ``lognormal``) and nothing else, the floor for an exact
  compound sampler; and the same draws through riskbench's own samplers;
- numpy reference: the same draws, then ``np.bincount(year, weights=loss)`` per
  scenario, summed into the portfolio's annual loss;
- ``rb.simulate(portfolio, trials, seed, workers=1)``, and ``workers=2``;
- the exact FFT aggregate (``engine="fft"``): its P99 beside the Monte Carlo P99s,
  on the default grid and on one topped at 40 x P99 (the reference below).

Then riskbench's peak memory on (b) in a fresh subprocess (ru_maxrss, against the
RSS of just importing riskbench and numpy), and pyfair 0.1a13 (Open FAIR) on the
same inputs at 100,000 trials, run in the separate venv ``.venv-bench``.

Run:     .venv/bin/python benchmarks/engine.py [--quick]   (--quick: 100k trials)
peers:   python3 -m venv .venv-bench && .venv-bench/bin/pip install pyfair squigglepy -e .
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
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
PEERS_PYTHON = ROOT / ".venv-bench" / "bin" / "python"
SEED = 2026
PYFAIR_TRIALS = 100_000
SQUIGGLE_TRIALS = 1_000_000
EXACT_YEARS = 2_000
TARGET_RATIO = 1.3
TARGET_PEAK_MIB = 1024
Spec = tuple[str, float, rb.LogNormal]  # (scenario id, Poisson rate, severity)


def case_a() -> list[Spec]:
    return [("single", 2.5, rb.LogNormal.from_ci(50_000, 2_000_000))]


def case_b() -> list[Spec]:
    rng = np.random.default_rng(20_240_501)
    rates = np.geomspace(0.05, 5, 50)
    lows = np.exp(rng.uniform(math.log(1e4), math.log(5e5), 50))
    highs = lows * np.exp(rng.uniform(math.log(10), math.log(200), 50))
    return [
        (f"s{i:02d}", float(rates[i]), rb.LogNormal.from_ci(float(lows[i]), float(highs[i])))
        for i in range(50)
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


def rb_samplers_alone(p: rb.Portfolio, trials: int) -> None:
    """The same draws through riskbench's own samplers (which need not be numpy's)."""
    rng = np.random.Generator(np.random.PCG64(SEED))
    for sc in p.scenarios:
        sc.severity.sample(int(sc.frequency.sample(trials, rng).sum()), rng)


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
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor() or "unknown CPU",
    )
    coretype = os.environ.get("OPENBLAS_CORETYPE")
    source = hashlib.sha256()
    for path in sorted((ROOT / "riskbench").glob("*.py")):
        source.update(path.read_bytes())
    return (
        f"machine: {cpu}; {os.cpu_count()} cores ({len(os.sched_getaffinity(0))} usable); "
        f"Python {platform.python_version()}; numpy {np.__version__}; "
        f"OPENBLAS_CORETYPE {'= ' + coretype if coretype else 'not set'}; "
        f"riskbench {rb.__version__} (sources sha256 {source.hexdigest()[:12]}); "
        f"load avg {os.getloadavg()[0]:.2f}; "
        f"{datetime.datetime.now().astimezone().isoformat(timespec='seconds')}"
    )


def timed(jobs: dict[str, Callable[[], Any]], repeats: int) -> dict[str, tuple[float, Any]]:
    """Best wall time of each job over ``repeats`` rounds, jobs interleaved.

    A job may return a callable: it is called after the timer stops (to take a P99
    from the run's result untimed), and what it returns is kept with the best time.
    """
    best: dict[str, tuple[float, Any]] = {}
    for _ in range(repeats):
        for name, job in jobs.items():
            t0 = time.perf_counter()
            value = job()
            seconds = time.perf_counter() - t0
            value = value() if callable(value) else value
            if name not in best or seconds < best[name][0]:
                best[name] = (seconds, value)
    return best


def mc_p99(res: rb.SimulationResult) -> tuple[float, float, float]:
    """MC P99 and a distribution-free 95% interval from the order statistics."""
    half = 1.96 * math.sqrt(0.99 * 0.01 / res.trials)
    lo, mid, hi = res.var([0.99 - half, 0.99, 0.99 + half])
    return float(mid), float(lo), float(hi)


def run_case(key: str, trials: int, repeats: int) -> dict[str, Any]:
    title, make = CASES[key]
    specs = make()
    p = portfolio(specs)
    events = sum(r for _, r, _ in specs) * trials
    print(f"\n{title}: {trials:,} trials, ~{events / 1e6:.1f}M events, best of {repeats}")

    def riskbench(workers: int) -> Callable[[], Any]:
        def job() -> Any:
            res = rb.simulate(p, trials=trials, seed=SEED, workers=workers)
            return lambda: mc_p99(res)

        return job

    def reference() -> Any:
        total = numpy_reference(specs, trials)
        return lambda: (p99(total),)

    jobs = {
        "draws alone": lambda: draws_alone(specs, trials),
        "rb samplers alone": lambda: rb_samplers_alone(p, trials),
        "numpy reference": reference,
        "riskbench workers=1": riskbench(1),
        "riskbench workers=2": riskbench(2),
    }
    best = timed(jobs, repeats)
    floor, ref = best["draws alone"][0], best["numpy reference"][0]
    print(f"  {'':21} {'seconds':>8} {'/draws':>7} {'/numpy':>7} {'P99':>14}")
    print(f"  {'draws alone':21} {floor:8.3f} {1:7.2f} {floor / ref:7.2f}")
    own = best["rb samplers alone"][0]
    print(f"  {'rb samplers alone':21} {own:8.3f} {own / floor:7.2f} {own / ref:7.2f}")
    for name in ("numpy reference", "riskbench workers=1", "riskbench workers=2"):
        t, v = best[name]
        ci = f"  (95% CI {v[1]:,.0f} .. {v[2]:,.0f})" if len(v) == 3 else ""
        print(f"  {name:21} {t:8.3f} {t / floor:7.2f} {t / ref:7.2f} {v[0]:14,.0f}{ci}")
    # The FFT on its default grid, then on a grid whose top is 40 x that P99: the
    # default top (a sum of per-scenario 1 - 1e-7 bounds) can make the step coarse.
    mean = sum(r * sev.mean() for _, r, sev in specs)
    options: dict[str, Any] = {}
    for name in ("FFT default grid", "FFT top 40 x P99"):
        t0 = time.perf_counter()
        exact = rb.simulate(p, engine="fft", **options)
        t_fft = time.perf_counter() - t0
        fft_p99 = float(exact.var(0.99))
        error = exact.summary().loc["portfolio", "mean"] / mean - 1
        print(
            f"  {name:21} {t_fft:8.3f} {'':15} {fft_p99:14,.0f}  (grid step {exact.h:,.0f}, "
            f"aliasing {exact.aliasing:.0e}, mean {error:+.2%} vs sum of rate x E[X])"
        )
        options = {"max_loss": 40 * fft_p99}
        del exact
    return {
        "draws": floor,
        "rb1": best["riskbench workers=1"][0],
        "fft_p99": fft_p99,
        "mc_p99": best["riskbench workers=1"][1][0],
        "portfolio": p,
    }


def peak_rss_mib() -> tuple[float, float]:
    """ru_maxrss and /proc's VmHWM in MiB. Linux carries ru_maxrss over fork+exec from
    the parent, so the parent starts the child before it grows; VmHWM (this address
    space's own high-water mark) cross-checks it."""
    maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux
    hwm = Path("/proc/self/status").read_text().split("VmHWM:")[1].split()[0]
    return maxrss, float(hwm) / 1024


def memory_child(trials: int) -> None:
    """In a fresh process: peak RSS of rb.simulate on case (b), as JSON on stdout."""
    base = peak_rss_mib()
    rb.simulate(portfolio(case_b()), trials=trials, seed=SEED, workers=1)
    print(json.dumps({"baseline": base, "peak": peak_rss_mib()}))


def pyfair_child(trials: int) -> None:
    """In .venv-bench: pyfair on cases (a) and (b), as JSON on stdout.

    pyfair has no log-normal input: each severity becomes a PERT with low, mode and
    high at the log-normal's 5% quantile, mode and 95% quantile. LEF is the rate.
    """
    import pandas as pd
    from pyfair import FairMetaModel, FairModel

    def pert(s: rb.LogNormal) -> dict[str, float]:
        return {
            "low": float(s.ppf(0.05)),
            "mode": math.exp(s.mu - s.sigma**2),
            "high": float(s.ppf(0.95)),
        }

    def model(i: int, sid: str, lef: Any, sev: rb.LogNormal) -> Any:
        # A seed per model: FairModel reseeds numpy's global RNG when created (default
        # 42), so equal seeds would give every scenario the same uniforms.
        m = FairModel(name=sid, n_simulations=trials, random_seed=SEED + i)
        if isinstance(lef, float):
            m.input_data("Loss Event Frequency", constant=lef)
        else:
            m.input_raw_data("Loss Event Frequency", pd.Series(lef))
        return m.input_data("Loss Magnitude", **pert(sev))

    out: dict[str, Any] = {}
    for key, (_, make) in CASES.items():
        specs = make()
        t0 = time.perf_counter()
        meta = FairMetaModel(name=key, models=[model(i, *s) for i, s in enumerate(specs)])
        risk = meta.calculate_all().export_results()["Risk"].to_numpy()
        seconds = time.perf_counter() - t0
        # Variant: LEF supplied as simulated Poisson counts, so Risk = count x one draw.
        models = [
            model(i, sid, np.random.default_rng(SEED + i).poisson(r, trials) * 1.0, sev)
            for i, (sid, r, sev) in enumerate(specs)
        ]
        risk_n = FairMetaModel(name=key, models=models).calculate_all().export_results()["Risk"]
        out[key] = {"seconds": seconds, "p99": p99(risk), "p99_counts": p99(risk_n.to_numpy())}
    print(json.dumps(out))


def squigglepy_child(trials: int) -> None:
    """In .venv-bench: squigglepy on cases (a) and (b), as JSON on stdout.

    squigglepy's ``lognorm(low, high)`` is the same 90% interval as
    ``rb.LogNormal.from_ci``. Its idiomatic compound, ``poisson(rate) * lognorm(...)``
    sampled in one vectorised call, is the event count times ONE loss a year. The
    exact compound (a sum of N separate losses) needs a Python function per year,
    timed on ``EXACT_YEARS`` years and reported per million years.
    """
    import squigglepy as sq

    out: dict[str, Any] = {}
    for key, (_, make) in CASES.items():
        specs = make()
        dists = [(r, sq.lognorm(float(sev.ppf(0.05)), float(sev.ppf(0.95)))) for _, r, sev in specs]
        t0 = time.perf_counter()
        total = np.zeros(trials)
        for r, sev in dists:
            total += np.asarray(sq.sample(sq.poisson(r) * sev, trials), dtype=float)
        seconds = time.perf_counter() - t0
        freqs = [(sq.poisson(r), sev) for r, sev in dists]

        def year(freqs: list[tuple[Any, Any]] = freqs) -> float:
            loss = 0.0
            for freq, sev in freqs:
                n = int(sq.sample(freq))
                if n:
                    loss += float(np.sum(sq.sample(sev, n)))
            return loss

        t0 = time.perf_counter()
        exact = np.array([year() for _ in range(EXACT_YEARS)])
        exact_seconds = time.perf_counter() - t0
        out[key] = {
            "seconds": seconds,
            "p99": p99(total),
            "exact_seconds_per_million": exact_seconds * 1e6 / EXACT_YEARS,
            "exact_p99": p99(exact),
        }
    print(json.dumps(out))


def vs_exact(p99: float, exact: float, *, named: bool = False) -> str:
    """``p99`` and how far it is from the exact FFT value (given too when ``named``)."""
    ref = f" vs FFT exact {exact:,.0f}" if named else ""
    return f"{p99:,.0f} ({p99 / exact - 1:+.0%}{ref})"


def child(flag: str, trials: int, python: Path | str = sys.executable) -> dict[str, Any]:
    cmd = [str(python), str(Path(__file__).resolve()), flag, "--trials", str(trials)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="100k trials (a CI smoke run)")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs (3)")
    ap.add_argument("--trials", type=int, help="simulated years (default 1,000,000)")
    ap.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--pyfair-child", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--squigglepy-child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    trials = args.trials or (100_000 if args.quick else 1_000_000)
    if args.memory_child:
        return memory_child(trials)
    if args.pyfair_child:
        return pyfair_child(trials)
    if args.squigglepy_child:
        return squigglepy_child(trials)

    print(machine_line())
    mem = child("--memory-child", trials)  # first, while this process is still small
    results = {key: run_case(key, trials, args.repeats) for key in CASES}

    (base, base_hwm), (peak, peak_hwm) = mem["baseline"], mem["peak"]
    print(
        f"\npeak memory, riskbench on (b), {trials:,} trials, workers=1, fresh process: "
        f"{peak:,.0f} MiB ru_maxrss ({peak_hwm:,.0f} VmHWM); importing riskbench+numpy "
        f"alone: {base:,.0f} MiB ({base_hwm:,.0f}); increment {peak - base:,.0f} MiB"
    )

    print(
        f"\npyfair {PYFAIR_TRIALS:,} trials: LEF = the rate; LM = PERT(5%, mode, 95%) of "
        "the log-normal; FairMetaModel of one FairModel per scenario"
    )
    if PEERS_PYTHON.exists():
        pf = child("--pyfair-child", PYFAIR_TRIALS, PEERS_PYTHON)
        for key, (title, _) in CASES.items():
            r, exact = pf[key], results[key]["fft_p99"]
            print(
                f"  {title}: {r['seconds']:.3f} s; "
                f"P99 {vs_exact(r['p99'], exact, named=True)}; "
                f"with LEF = Poisson counts: {vs_exact(r['p99_counts'], exact)}"
            )
        pb = results["b"]["portfolio"]
        jobs = {"rb": lambda: rb.simulate(pb, PYFAIR_TRIALS, SEED, workers=1).seed}
        rb_small = timed(jobs, args.repeats)["rb"][0]
        print(
            f"  riskbench (b), {PYFAIR_TRIALS:,} trials, workers=1: {rb_small:.3f} s, "
            f"pyfair takes {pf['b']['seconds'] / rb_small:.1f}x as long"
        )
        print("  pyfair's Risk is LEF x ONE loss magnitude a year, not a sum of N separate")
        print("  losses (alone, that over-states P99 here), and its PERT stops at the 95%")
        print("  quantile, cutting the mean by about a third: net, its P99 is far too low.")
    else:
        print(f"  skipped: {PEERS_PYTHON} not found (see the module docstring)")

    print(
        f"\nsquigglepy {SQUIGGLE_TRIALS:,} trials: poisson(rate) * lognorm(5%, 95%) per "
        f"scenario, summed (count x ONE loss); exact compound: a Python function per year "
        f"on {EXACT_YEARS:,} years"
    )
    if PEERS_PYTHON.exists():
        sqg = child("--squigglepy-child", SQUIGGLE_TRIALS, PEERS_PYTHON)
        for key, (title, _) in CASES.items():
            r, exact = sqg[key], results[key]["fft_p99"]
            print(
                f"  {title}: {r['seconds']:.3f} s; "
                f"P99 {vs_exact(r['p99'], exact, named=True)}; exact "
                f"compound {r['exact_seconds_per_million']:,.0f} s per million years, P99 "
                f"on {EXACT_YEARS:,} years {vs_exact(r['exact_p99'], exact)}"
            )
    else:
        print(f"  skipped: {PEERS_PYTHON} not found (see the module docstring)")

    print("\ntargets:")
    for key, (title, _) in CASES.items():
        ratio = results[key]["rb1"] / results[key]["draws"]
        verdict = "met" if ratio <= TARGET_RATIO else "MISSED"
        print(
            f"  {title}: riskbench workers=1 / draws alone = {ratio:.2f} <= {TARGET_RATIO}: "
            f"{verdict}"
        )
    if trials <= 1_000_000:
        verdict = "met" if max(peak, peak_hwm) < TARGET_PEAK_MIB else "MISSED"
        print(f"  (b) peak memory {peak:,.0f} MiB < {TARGET_PEAK_MIB} MiB: {verdict}")
    else:  # every year of every scenario is kept: keep="summary" is for runs this large
        print(
            f"  (b) peak memory {peak:,.0f} MiB: the {TARGET_PEAK_MIB} MiB target is for "
            "1,000,000 trials; larger runs use keep='summary' (benchmarks/large_run.py)"
        )
    print(f"load avg at end {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()

"""Variance reduction: the standard error of the mean and of the P99 by sampling method.

For ``sampling`` in random, lhs and sobol, and trials log-spaced from 10**3 to 10**6,
the same portfolio is simulated with R seeds (more at small trials, fewer at large);
the standard error of an estimate is its standard deviation over the seeds. Two
portfolios:

- the example register (examples/register.yaml): 16 scenarios, Poisson, gamma-mixed
  Poisson, negative binomial and Bernoulli counts, log-normal, PERT, triangular and
  mixture severities, insurance, and a rank-correlated group;
- 20 independent Poisson x log-normal scenarios, rates log-spaced 0.05..3, 90%
  intervals with low in 10k..500k and high/low in 10..200, from a fixed seed.

Prints a table (markdown) of the standard errors and their ratios to random's, and
draws docs/images/variance.png: standard error against trials, log-log, one line per
method and portfolio, one panel for the mean and one for the P99.

Run:     .venv/bin/python benchmarks/variance.py [--quick]   (--quick: 10**3..10**5)
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import numpy as np
from engine import machine_line  # benchmarks/engine.py, beside this file

import riskbench as rb

ROOT = Path(__file__).resolve().parent.parent
METHODS = ("random", "lhs", "sobol")
# Trials and seeds: a standard deviation from R seeds is good to about 1/sqrt(2(R-1)).
FULL = {1_000: 60, 3_162: 60, 10_000: 50, 31_623: 40, 100_000: 30, 316_228: 16, 1_000_000: 10}
QUICK = {1_000: 30, 10_000: 20, 100_000: 10}


def independent_20() -> rb.Portfolio:
    rng = np.random.default_rng(20_260_101)
    rates = np.geomspace(0.05, 3, 20)
    lows = np.exp(rng.uniform(math.log(1e4), math.log(5e5), 20))
    highs = lows * np.exp(rng.uniform(math.log(10), math.log(200), 20))
    return rb.Portfolio(
        [
            rb.Scenario(
                id=f"s{i:02d}",
                title=f"s{i:02d}",
                category="operational",
                frequency=rb.Poisson(rate=float(rates[i])),
                severity=rb.LogNormal.from_ci(float(lows[i]), float(highs[i])),
            )
            for i in range(20)
        ]
    )


PORTFOLIOS = {
    "register": lambda: rb.load_portfolio(ROOT / "examples" / "register.yaml"),
    "20 independent": independent_20,
}


def measure(p: rb.Portfolio, trials: int, seeds: int, method: str) -> dict[str, float]:
    means, p99s = [], []
    start = time.perf_counter()
    for k in range(seeds):
        res = rb.simulate(p, trials=trials, seed=k, sampling=method)  # type: ignore[arg-type]
        means.append(res.annual_loss.mean())  # type: ignore[union-attr]
        p99s.append(res.var(0.99))
    seconds = (time.perf_counter() - start) / seeds
    return {
        "mean": float(np.mean(means)),
        "se_mean": float(np.std(means, ddof=1)),
        "se_p99": float(np.std(p99s, ddof=1)),
        "seconds": seconds,
    }


def chart(rows: list[dict[str, object]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.4), sharex=True)
    colours = {"random": "tab:grey", "lhs": "tab:blue", "sobol": "tab:orange"}
    styles = {"register": "-", "20 independent": "--"}
    for ax, key, title in zip(
        axes, ("se_mean", "se_p99"), ("mean annual loss", "P99 of annual loss"), strict=True
    ):
        for name, style in styles.items():
            for method in METHODS:
                pts = [r for r in rows if r["portfolio"] == name and r["method"] == method]
                ax.loglog(
                    [r["trials"] for r in pts],
                    [r[key] for r in pts],
                    style,
                    marker="o",
                    markersize=3,
                    color=colours[method],
                    label=f"{method}, {name}",
                )
        ax.set_title(f"Standard error of the {title}")
        ax.set_xlabel("trials (simulated years)")
        ax.set_ylabel("standard error over seeds (EUR)")
        ax.grid(True, which="both", alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def table(rows: list[dict[str, object]]) -> str:
    def money(x: object) -> str:
        return f"{float(x) / 1e3:,.1f}k"  # type: ignore[arg-type]

    lines = [
        "| portfolio | trials | seeds | SE mean: random | lhs | sobol | lhs/random | "
        "sobol/random | SE P99: random | lhs | sobol | lhs/random | sobol/random | "
        "s per run: random | lhs | sobol |",
        "| --- |" + " ---: |" * 15,
    ]
    keyed = {(r["portfolio"], r["trials"], r["method"]): r for r in rows}
    for name, trials, seeds in dict.fromkeys(
        (r["portfolio"], r["trials"], r["seeds"]) for r in rows
    ):
        by = {m: keyed[(name, trials, m)] for m in METHODS}
        cells = [str(name), f"{trials:,}", str(seeds)]
        for key in ("se_mean", "se_p99"):
            cells += [money(by[m][key]) for m in METHODS]
            base = float(by["random"][key])  # type: ignore[arg-type]
            cells += [f"{float(by[m][key]) / base:.2f}" for m in ("lhs", "sobol")]  # type: ignore[arg-type]
        cells += [f"{float(by[m]['seconds']):.3f}" for m in METHODS]  # type: ignore[arg-type]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="10**3..10**5 trials, fewer seeds")
    ap.add_argument(
        "--chart", type=Path, default=ROOT / "docs" / "images" / "variance.png", help="PNG path"
    )
    args = ap.parse_args()
    plan = QUICK if args.quick else FULL
    print(machine_line(), flush=True)
    rows: list[dict[str, object]] = []
    start = time.perf_counter()
    for name, build in PORTFOLIOS.items():
        p = build()
        for trials, seeds in plan.items():
            for method in METHODS:
                m = measure(p, trials, seeds, method)
                rows.append(
                    {"portfolio": name, "trials": trials, "seeds": seeds, "method": method, **m}
                )
                print(
                    f"{name:>15} {trials:>9,} {method:>6}: mean {m['mean']:,.0f}, "
                    f"SE mean {m['se_mean']:,.0f}, SE P99 {m['se_p99']:,.0f}, "
                    f"{m['seconds']:.3f} s/run",
                    flush=True,
                )
    print(f"\ntotal {time.perf_counter() - start:.0f} s\n")
    print(table(rows))
    chart(rows, args.chart)
    print(f"\nchart: {args.chart}")


if __name__ == "__main__":
    main()

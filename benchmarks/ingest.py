"""Benchmark of the ingest path: a 1,000,000-row ledger CSV into the embedded log store.

In one process, against a fresh ``RISKBENCH_HOME`` in a temporary folder:

- reference: ``pandas.read_csv`` of the whole file, then one ``LogStore.insert`` of the
  frame (the floor: parse and store, no validation, no quarantine, no duplicate check);
- riskbench: ``riskbench.ingest("ledger", ...)``, streamed in ``--batch-rows`` chunks,
  with type coercion, validation, content hashes, the duplicate check and one staging
  table per batch;
- riskbench again on the same file: everything is a duplicate, nothing is loaded.

Peak memory of the ingest is measured in a fresh subprocess (``ru_maxrss`` growth
after chdb is open). The bulk load of 20,000 scenarios into PostgreSQL is
``benchmarks/store.py``.

Run:  .venv/bin/python benchmarks/ingest.py [--rows 1000000] [--batch-rows 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

COLUMNS = "entry_id,posted_on,account,product,amount,currency\n"


def write_csv(path: Path, rows: int, seed: int = 0) -> None:
    """A ledger export: ids, dates over ~5 years, four products, amounts in EUR."""
    rng = np.random.default_rng(seed)
    with path.open("w") as fh:
        fh.write(COLUMNS)
        for start in range(0, rows, 100_000):
            ids = np.arange(start, min(start + 100_000, rows))
            days = (np.datetime64("2020-01-01") + rng.integers(0, 2000, ids.size)).astype(str)
            amounts = rng.normal(0, 1e4, ids.size).round(2)
            fh.writelines(
                f"E{i},{d},8400,p{i % 4},{a},EUR\n"
                for i, d, a in zip(ids, days, amounts, strict=True)
            )


def reference(store: object, path: Path, org: str) -> int:
    frame = pd.read_csv(path, dtype={"entry_id": str, "account": str, "product": str})
    frame["posted_on"] = pd.to_datetime(frame["posted_on"]).dt.date
    frame.insert(0, "org_id", org)
    frame["source_hash"] = ""
    store.insert("ledger", frame)  # type: ignore[attr-defined]
    return len(frame)


def peak_kib() -> int:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: on Linux a child
    starts with its parent's value."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status")


def memory_child(path: str, home: str, batch_rows: int) -> None:
    from riskbench.ingestion import ingest
    from riskbench.logstore import LogStore

    store = LogStore(home=home)
    store.count("ledger", "warm")  # open chdb first: its own ~300 MB is not the ingest's
    before = peak_kib()
    report = ingest("ledger", path, org="memory", store=store, batch_rows=batch_rows)
    after = peak_kib()
    print(json.dumps({"loaded": report.loaded, "growth_mib": (after - before) / 1024}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--batch-rows", type=int, default=100_000)
    parser.add_argument("--memory-child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_child:
        memory_child(args.memory_child[0], args.memory_child[1], args.batch_rows)
        return

    from riskbench.ingestion import ingest
    from riskbench.logstore import LogStore

    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    cpu = next(
        (line.split(":", 1)[1].strip() for line in cpuinfo if "model name" in line),
        platform.processor(),
    )
    print(f"machine: {cpu}; {os.cpu_count()} cores; Python {platform.python_version()}")
    with tempfile.TemporaryDirectory(prefix="rb-ingest-bench-") as tmp:
        folder = Path(tmp)
        path = folder / "ledger.csv"
        t0 = time.perf_counter()
        write_csv(path, args.rows)
        size_mb = path.stat().st_size / 1e6
        print(
            f"{args.rows:,}-row CSV, {size_mb:.0f} MB, written in {time.perf_counter() - t0:.1f} s"
        )

        store = LogStore(home=folder / "home")
        store.count("ledger", "warm")
        t0 = time.perf_counter()
        n = reference(store, path, "reference")
        ref = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = ingest("ledger", path, org="riskbench", store=store, batch_rows=args.batch_rows)
        first = time.perf_counter() - t0
        t0 = time.perf_counter()
        again = ingest("ledger", path, org="riskbench", store=store, batch_rows=args.batch_rows)
        second = time.perf_counter() - t0
        store.close()

        assert n == report.rows_in == report.loaded == args.rows, (n, report)
        assert again.loaded == 0, again
        assert again.duplicates_skipped == args.rows, again
        print(f"  reference (read_csv + one insert)  {ref:7.2f} s  {n / ref:10,.0f} rows/s")
        print(
            f"  riskbench.ingest                   {first:7.2f} s  {n / first:10,.0f} rows/s"
            f"  ({first / ref:.2f}x the reference)"
        )
        print(
            f"  riskbench.ingest, same file again  {second:7.2f} s  {n / second:10,.0f} rows/s"
            f"  (all {again.duplicates_skipped:,} rows duplicates, nothing loaded)"
        )
        child = subprocess.run(
            [
                sys.executable,
                __file__,
                "--batch-rows",
                str(args.batch_rows),
                "--memory-child",
                str(path),
                str(folder / "home-memory"),
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        mem = json.loads(child.stdout.strip().splitlines()[-1])
        print(
            f"  peak memory growth of the ingest (fresh process, after chdb is open): "
            f"{mem['growth_mib']:.0f} MiB for {mem['loaded']:,} rows, batch_rows "
            f"{args.batch_rows:,}"
        )


if __name__ == "__main__":
    main()

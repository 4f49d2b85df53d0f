"""Benchmark of loading scenarios into the workspace PostgreSQL (embedded pgserver).

``--n`` scenarios (default 20,000) are made deterministically from the 16 of
``examples/register.yaml`` as templates: new ids, titles naming a site and a variant,
and narratives with a site, a business unit and a cause drawn from a seeded
generator. Each is stored with its embedding (the default LexicalEmbedder) through:

(a) the API path, ``ws.save_scenario`` one card at a time (one transaction and one
    audit entry each), with the HNSW index present, for a ``--sample`` (default 500)
    of them; the time for all ``--n`` is extrapolated from its rate;
(b) the bulk path, ``ws.bulk_load_scenarios`` (one binary COPY into a staging
    table, one INSERT ... SELECT per table, one audit entry, still as the
    application role under row-level security) of all ``--n``, with the HNSW index
    dropped beforehand by the administrator; then ``CREATE INDEX``, timed on its own;
(c) the bulk path again with the index present, for ``--indexed-n`` scenarios
    (default 2,000; ``0`` skips it), to show what maintaining the index row by row
    costs.

The embedding time alone is measured too, since every path includes it. Everything
runs in a temporary RISKBENCH_HOME (``--home`` keeps it), each path in its own
organisation.

Run:     .venv/bin/python benchmarks/store.py [--n 20000] [--sample 500]
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import tempfile
import time
from collections.abc import Sequence
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

import riskbench as rb

ROOT = Path(__file__).resolve().parent.parent
SEED = 2026
INDEX = "scenario_versions_embedding_hnsw"
CREATE_INDEX = f"CREATE INDEX {INDEX} ON scenario_versions USING hnsw (embedding vector_cosine_ops)"
SITES = ["Lyon", "Porto", "Gdansk", "Brno", "Monterrey", "Pune", "Leeds", "Kassel", "Zaragoza"]
UNITS = ["valves", "sensors", "castings", "brake systems", "pumps", "actuators", "services"]
CAUSES = [
    "after a contractor's mistake",
    "during the year-end close",
    "while a key supplier is already late",
    "in the middle of a product launch",
    "when the backup site is under maintenance",
    "after a merger brings in unfamiliar systems",
]


def make_scenarios(n: int, *, seed: int = SEED) -> list[rb.Scenario]:
    """``n`` scenarios from the example register's 16, with varied ids and text."""
    templates = rb.load_portfolio(ROOT / "examples" / "register.yaml").scenarios
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        t = templates[i % len(templates)]
        site, unit, cause = (str(rng.choice(x)) for x in (SITES, UNITS, CAUSES))
        out.append(
            t.with_(
                id=f"{t.id}-{i:06d}",
                title=f"{t.title} at {site} (variant {i})",
                narrative=f"At the {site} site of the {unit} business unit, {cause}: {t.narrative}",
            )
        )
    return out


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}"


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    out = fn(*args)
    return out, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=20_000, help="scenarios for the bulk path")
    parser.add_argument("--sample", type=int, default=500, help="scenarios for the API path")
    parser.add_argument(
        "--indexed-n", type=int, default=2_000, help="bulk load with the index present (0: skip)"
    )
    parser.add_argument("--home", help="RISKBENCH_HOME to use (default: a temporary one)")
    args = parser.parse_args()
    if args.home:
        run(args, Path(args.home))
    else:
        with tempfile.TemporaryDirectory(prefix="riskbench-store-bench-") as home:
            run(args, Path(home))


class Precomputed:
    """The default embedder's vectors, computed once up front: the timed paths then
    measure the database work alone (the workspace sees the same name and dim)."""

    def __init__(self, name: str, vectors: dict[str, NDArray[np.float64]]) -> None:
        self.name = name
        self.vectors = vectors
        self.dim = len(next(iter(vectors.values())))

    def embed(self, texts: Sequence[str]) -> NDArray[np.float64]:
        return np.array([self.vectors[t] for t in texts])


def run(args: argparse.Namespace, home: Path) -> None:
    from sqlalchemy import text

    from riskbench.workspace import LexicalEmbedder, Workspace
    from riskbench.workspace.records import scenario_text
    from riskbench.workspace.server import admin_url, make_engine

    os.environ["RISKBENCH_HOME"] = str(home)
    os.environ.pop("RISKBENCH_DATABASE_URL", None)
    n, sample = args.n, min(args.sample, args.n)
    scenarios, t_make = timed(make_scenarios, n + args.indexed_n)
    bulk_set, indexed_set = scenarios[:n], scenarios[n:]
    lexical = LexicalEmbedder()
    texts = [scenario_text(s) for s in scenarios]
    matrix, t_embed_all = timed(lexical.embed, texts)
    embed_per_row = t_embed_all / len(texts)
    embedder = Precomputed(lexical.name, dict(zip(texts, matrix, strict=True)))

    def open_ws(org: str) -> Workspace:
        return Workspace(org=org, user="bench", embedder=embedder)

    open_ws("bench-api").close()  # start and migrate the store
    admin = make_engine(admin_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        pg = conn.execute(text("SHOW server_version")).scalar()
        vec = conn.execute(
            text("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        ).scalar()
    print(f"# riskbench workspace load benchmark, {datetime.date.today()}")
    print(f"machine: {machine()}")
    print(
        f"PostgreSQL {pg} (embedded pgserver), pgvector {vec}, psycopg {version('psycopg')}, "
        f"SQLAlchemy {version('sqlalchemy')}, riskbench {rb.__version__}"
    )
    print(
        f"{len(texts):,} scenarios made from 16 templates in {t_make:.2f} s; embedded "
        f"({lexical.name}) in {t_embed_all:.2f} s, {1 / embed_per_row:,.0f} texts/s, "
        f"outside the timings below (added back as 'with embedding')\n"
    )

    results: list[tuple[str, int, float]] = []  # (path, rows, database seconds)
    # (a) the API path, one save_scenario at a time, index present
    with open_ws("bench-api") as ws:
        start = time.perf_counter()
        for s in bulk_set[:sample]:
            ws.save_scenario(s)
        results.append(("(a) save_scenario, index present", sample, time.perf_counter() - start))

    # (b) the bulk path with the index dropped, then the index built again
    with admin.connect() as conn:
        conn.execute(text(f"DROP INDEX {INDEX}"))
    with open_ws("bench-bulk") as ws:
        loaded, t_bulk = timed(ws.bulk_load_scenarios, bulk_set)
        assert loaded == n
        with admin.connect() as conn:
            _, t_index = timed(conn.execute, text(CREATE_INDEX))
            rows = conn.execute(text("SELECT count(*) FROM scenario_versions")).scalar()
        hits = ws.similar(texts[7], k=1)
        assert hits[0][0] == bulk_set[7].id, hits
        assert ws.audit_verify().ok
        assert len(ws.audit_log()) == 3  # org.create, settings.embedder, one bulk load
    results.append(("(b) bulk_load_scenarios, index dropped", n, t_bulk))
    results.append(("    then CREATE INDEX (HNSW, cosine)", rows, t_index))
    results.append(("    (b) load + CREATE INDEX", n, t_bulk + t_index))

    # (c) the bulk path with the index present
    if indexed_set:
        with open_ws("bench-bulk-idx") as ws:
            _, t_indexed = timed(ws.bulk_load_scenarios, indexed_set)
        results.append(("(c) bulk_load_scenarios, index present", len(indexed_set), t_indexed))
    admin.dispose()

    api_rate = sample / results[0][2]
    print(
        "| path | rows | database s | rows/s | with embedding, rows/s | x API path (database) |\n"
        "|---|---:|---:|---:|---:|---:|"
    )
    for label, count, seconds in results:
        if "CREATE INDEX (HNSW" in label:  # the index build embeds nothing
            print(f"| {label} | {count:,} | {seconds:.2f} | {count / seconds:,.0f} | | |")
            continue
        rate = count / seconds
        with_embedding = count / (seconds + count * embed_per_row)
        print(
            f"| {label} | {count:,} | {seconds:.2f} | {rate:,.0f} | {with_embedding:,.0f} "
            f"| {rate / api_rate:.1f} |"
        )
    print(
        f"\n(a) extrapolated to {n:,} rows: ~{n / api_rate:,.0f} s "
        f"(~{n / api_rate + n * embed_per_row:,.0f} s with embedding)"
    )


if __name__ == "__main__":
    main()

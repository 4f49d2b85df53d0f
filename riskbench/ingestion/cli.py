"""The ``riskbench ingest`` and ``riskbench sample-data`` commands.

:func:`register` adds both to the ``riskbench`` parser and returns their handlers, each
``handler(args, out, err) -> exit status``; bad input raises
:class:`~riskbench.errors.ValidationError`, which ``riskbench.cli.main`` turns into exit
status 2 with the message on stderr.

Examples
--------
>>> import argparse
>>> parser = argparse.ArgumentParser(prog="riskbench")
>>> handlers = register(parser.add_subparsers(dest="command"))
>>> sorted(handlers)
['ingest', 'sample-data']
>>> parser.parse_args(["ingest", "incidents", "x.csv", "--org", "acme"]).org
'acme'
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any, TextIO

from riskbench.errors import Issue, ValidationError

__all__ = ["DEFAULT_ORG", "Handler", "register"]

DEFAULT_ORG = "default"
Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]


def _ingest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.ingestion.core import ingest
    from riskbench.logstore import LogStore

    done = [0]

    def progress(rows: int) -> None:
        if err.isatty():
            print(f"\r  {rows:,} rows read", end="", file=err, flush=True)
        done[0] = rows

    with LogStore() as store:
        report = ingest(
            args.kind,
            args.file,
            org=args.org,
            store=store,
            mapping=args.mapping,
            currency=args.currency,
            timezone=args.timezone,
            encoding=args.encoding,
            sheet=args.sheet,
            progress=progress,
        )
    if done[0] and err.isatty():
        print(file=err)
    print(report, file=out)
    return 0


def _sample_data(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.sampledata import write_sample_data

    if args.years < 1:
        raise ValidationError([Issue("--years", f"must be >= 1, got {args.years}")])
    files = write_sample_data(args.out_dir, seed=args.seed, years=args.years)
    print(f"sample data for Northwind Components ({args.years} years, seed {args.seed}):", file=out)
    for name, path in files.items():
        print(f"  {name:<15} {path}", file=out)
    mapping = files["ledger_mapping"]
    print(
        f"try: riskbench ingest ledger {files['ledger']} --mapping {mapping}",
        file=out,
    )
    return 0


def register(subparsers: Any) -> dict[str, Handler]:
    """Add ``ingest`` and ``sample-data`` to ``subparsers``; their handlers by command name."""
    from riskbench.ingestion.schema import KINDS

    p = subparsers.add_parser(
        "ingest",
        help="load a CSV, Parquet or xlsx file of logs into the log store",
        description=(
            "Load FILE of KIND rows into the log store (embedded chdb in "
            "$RISKBENCH_HOME/logs, or the server at RISKBENCH_CLICKHOUSE_URL). Bad rows "
            "go to $RISKBENCH_HOME/quarantine/; rows already loaded are skipped."
        ),
        epilog=(
            "example:\n  riskbench sample-data data/\n"
            "  riskbench ingest ledger data/ledger_erp.csv --mapping data/ledger_mapping.yaml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("kind", metavar="KIND", choices=list(KINDS), help=", ".join(KINDS))
    p.add_argument("file", metavar="FILE", help="a .csv, .parquet or .xlsx file")
    p.add_argument("--org", default=DEFAULT_ORG, help="organisation id (default: %(default)s)")
    p.add_argument("--mapping", metavar="M.yaml", help="column mapping and formats (YAML)")
    p.add_argument("--currency", help="currency of rows without one (ISO code, e.g. EUR)")
    p.add_argument("--timezone", help="time zone of naive timestamps (default: UTC)")
    p.add_argument("--encoding", help="text encoding of a CSV (default: from its BOM, else UTF-8)")
    p.add_argument("--sheet", help="the sheet to read from a workbook with several")

    s = subparsers.add_parser(
        "sample-data",
        help="write synthetic logs of the fictional Northwind Components",
        description="Write synthetic incidents, ledger, revenue, deliveries and cyber events "
        "consistent with examples/register.yaml into OUT_DIR.",
    )
    s.add_argument("out_dir", metavar="OUT_DIR")
    s.add_argument("--seed", type=int, default=2026, help="(default: %(default)s)")
    s.add_argument("--years", type=int, default=6, help="(default: %(default)s)")
    return {"ingest": _ingest, "sample-data": _sample_data}


def main(argv: list[str] | None = None) -> int:
    """Run one of these commands alone (for tests); errors as ``riskbench`` reports them."""
    parser = argparse.ArgumentParser(prog="riskbench")
    handlers = register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(argv)
    try:
        return handlers[args.command](args, sys.stdout, sys.stderr)
    except ValidationError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

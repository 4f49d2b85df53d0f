"""Command-line hooks for runs: ``run-notebook``, ``runs``, ``schedule``,
``scheduler``, ``report`` and ``export``. :func:`register` adds them and returns
their handlers by name; each returns the exit code (0 ok, 1 a run failed or the store
failed, 2 bad input)."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TextIO

from riskbench.errors import RunError

__all__ = ["register"]

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]
EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def _who(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--org", help="organisation (default: RISKBENCH_ORG, else northwind)", default=None
    )
    parser.add_argument(
        "--user", help="workspace user (default: RISKBENCH_USER, else local)", default=None
    )


def _params(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-p",
        "--parameter",
        nargs=2,
        action="append",
        metavar=("NAME", "VALUE"),
        default=[],
        help="a parameter (repeatable); VALUE is read as a Python literal when it is one",
    )
    parser.add_argument(
        "-f", "--parameters-file", metavar="FILE", help="parameters as a YAML mapping"
    )


def register(sub: Any) -> dict[str, Handler]:
    """Add the commands to ``sub``; return their handlers by name."""
    run = sub.add_parser(
        "run-notebook",
        help="run a parameterised notebook with papermill and store it with provenance",
        description=(
            "Check the parameters, execute NOTEBOOK with papermill in a fresh kernel and "
            "store the executed notebook, its outputs and a provenance manifest "
            "(parameters, seed, input data hashes, package versions, git revision, start "
            "and end, status) under $RISKBENCH_HOME/runs/ORG/RUN_ID, recorded in the "
            "organisation's workspace. Exit 1 if a cell fails (its index is printed), 2 "
            "if a parameter is refused (nothing runs)."
        ),
        epilog=(
            "example:\n  riskbench run-notebook notebooks/scenario_run.ipynb -f params.yaml "
            "-p seed 7"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("notebook", metavar="NOTEBOOK")
    _params(run)
    _who(run)
    run.add_argument("--kernel", default="python3", help="Jupyter kernel (default: python3)")
    run.add_argument(
        "--timeout", type=int, default=1800, help="seconds a cell may run (default: 1800)"
    )

    runs = sub.add_parser("runs", help="list or show the recorded notebook runs")
    runs_sub = runs.add_subparsers(dest="runs_command", required=True)
    listing = runs_sub.add_parser("list", help="the organisation's notebook runs")
    _who(listing)
    show = runs_sub.add_parser("show", help="one run's status, error and manifest")
    show.add_argument("run", metavar="RUN", help="run id, or 'latest' (newest succeeded)")
    _who(show)

    schedule = sub.add_parser("schedule", help="add, list or remove scheduled notebook runs")
    schedule_sub = schedule.add_subparsers(dest="schedule_command", required=True)
    add = schedule_sub.add_parser(
        "add",
        help="run NOTEBOOK on a cron schedule (UTC)",
        description=(
            "Add (or replace) schedule NAME: `riskbench scheduler` runs NOTEBOOK with the "
            "parameters whenever the cron expression (5 fields, UTC) comes due. The "
            "parameters are checked now."
        ),
        epilog=(
            'example:\n  riskbench schedule add month-end --cron "0 6 1 * *" '
            "notebooks/scenario_run.ipynb -f params.yaml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add.add_argument("name", metavar="NAME")
    add.add_argument("--cron", required=True, help='e.g. "0 6 1 * *": 06:00 UTC on the 1st')
    add.add_argument("notebook", metavar="NOTEBOOK")
    _params(add)
    _who(add)
    lst = schedule_sub.add_parser("list", help="the organisation's schedules")
    _who(lst)
    remove = schedule_sub.add_parser("remove", help="remove a schedule (its runs stay)")
    remove.add_argument("name", metavar="NAME")
    _who(remove)

    scheduler = sub.add_parser(
        "scheduler",
        help="run due scheduled notebooks until stopped",
        description=(
            "A long-running process that runs the organisation's due schedules, one at a "
            "time. Several schedulers may run at once: PostgreSQL row locks make each "
            "due run happen exactly once, and a run cut short by a crash is run again by "
            "the next scheduler. Stop it with Ctrl-C or SIGTERM (the current run "
            "finishes first)."
        ),
    )
    _who(scheduler)
    scheduler.add_argument(
        "--poll", type=float, default=30.0, help="seconds between looks (default: 30)"
    )
    scheduler.add_argument("--once", action="store_true", help="run what is due, then exit")

    report = sub.add_parser(
        "report",
        help="write the board pack (PDF or HTML) of a notebook run",
        description=(
            "Turn a scenario run (`riskbench run-notebook notebooks/scenario_run.ipynb`) "
            "into the board pack: cover, executive summary, loss exceedance curve against "
            "the risk tolerance, impact matrix, top scenarios, stress tests, "
            "dependency-graph findings, mitigation plan and appendices (assumptions, "
            "calibration, provenance). The file is recorded as an export of the run."
        ),
    )
    report.add_argument("run", metavar="RUN", help="run id, or 'latest' (newest succeeded)")
    report.add_argument("--format", choices=("pdf", "html"), default="pdf")
    report.add_argument(
        "--engine",
        choices=("auto", "weasyprint", "chromium"),
        default="auto",
        help="PDF engine (default auto: WeasyPrint, else Chromium)",
    )
    report.add_argument("--out", metavar="PATH", help="file to write (default: in the run)")
    _who(report)

    export = sub.add_parser(
        "export",
        help="write a notebook run's data as CSV, JSON and XLSX",
        description=(
            "Write the run's summary, exceedance curve, per-scenario metrics, matrix "
            "placement, stress and mitigation tables as CSV files, run.json (JSON "
            "schema riskbench.run-export/1) and run.xlsx, with a manifest of hashes; "
            "each file is recorded as an export of the run."
        ),
    )
    export.add_argument("run", metavar="RUN", help="run id, or 'latest' (newest succeeded)")
    export.add_argument(
        "--formats", default="csv,json,xlsx", help="comma-separated (default: csv,json,xlsx)"
    )
    export.add_argument("--out", metavar="DIR", help="folder to write (default: in the run)")
    _who(export)
    return {
        "run-notebook": _run_notebook,
        "runs": _runs,
        "schedule": _schedule,
        "scheduler": _scheduler,
        "report": _report,
        "export": _export,
    }


@contextmanager
def _workspace(args: argparse.Namespace) -> Iterator[Any]:
    from riskbench.workspace import Workspace

    with Workspace(
        org=args.org or os.environ.get("RISKBENCH_ORG") or "northwind",
        user=args.user or os.environ.get("RISKBENCH_USER") or "local",
    ) as ws:
        yield ws


def _values(args: argparse.Namespace) -> dict[str, Any]:
    from riskbench.runs.notebook import load_parameters

    values: dict[str, Any] = {}
    if args.parameters_file:
        values.update(load_parameters(args.parameters_file))
    for name, value in args.parameter:
        values[name] = value
    return values


def _refused(err: RunError, out: TextIO) -> int:
    print(f"error: {err}", file=out)
    return EXIT_BAD_INPUT if err.issues else EXIT_FAILED


def _run_notebook(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.runs.notebook import run_notebook

    try:
        values = _values(args)
        with _workspace(args) as ws:
            run = run_notebook(
                args.notebook,
                values,
                workspace=ws,
                kernel=args.kernel,
                timeout=args.timeout,
                raise_on_failure=False,
            )
    except RunError as e:
        return _refused(e, err)
    if run.error and "parameters" in run.error:
        print(f"error: run {run.run_id} refused its parameters:", file=err)
        for line in run.error["parameters"]:
            print(f"  {line}", file=err)
        return EXIT_BAD_INPUT
    if not run.ok:
        assert run.error is not None
        print(
            f"error: run {run.run_id} failed in cell {run.error['cell_index']}: "
            f"{run.error['ename']}: {run.error['evalue']}",
            file=err,
        )
        print(f"executed notebook: {run.folder / 'executed.ipynb'}", file=err)
        return EXIT_FAILED
    print(f"run {run.run_id} succeeded: {run.folder}", file=out)
    return EXIT_OK


def _resolve(ws: Any, run: str) -> Any:
    from riskbench.errors import StoreError
    from riskbench.runs import store

    if run == "latest":
        found = store.latest(ws)
        if found is None:
            raise StoreError(f"organisation {ws.org!r} has no succeeded notebook run yet")
        return found
    return store.get(ws, run)


def _runs(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import json

    from riskbench.runs import store

    with _workspace(args) as ws:
        if args.runs_command == "list":
            frame = store.list_runs(ws)
            if frame.empty:
                print(f"no notebook runs in {ws.org!r}", file=out)
            else:
                shown = frame[["notebook", "status", "started_at", "schedule"]].copy()
                shown["notebook"] = shown["notebook"].map(lambda p: Path(p).name)
                print(shown.to_string(), file=out)
            return EXIT_OK
        run = _resolve(ws, args.run)
    print(f"run {run.run_id}: {run.status}", file=out)
    print(f"notebook: {run.notebook}", file=out)
    print(f"folder: {run.folder}", file=out)
    if run.error:
        print(f"error: {json.dumps(run.error)}", file=out)
    if run.manifest:
        print(json.dumps(run.manifest, indent=1, default=str), file=out)
    return EXIT_OK


def _schedule(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.runs.schedule import add_schedule, list_schedules, remove_schedule

    with _workspace(args) as ws:
        if args.schedule_command == "add":
            try:
                due = add_schedule(ws, args.name, args.cron, args.notebook, _values(args))
            except RunError as e:
                return _refused(e, err)
            print(f"schedule {args.name!r} added; next run {due:%Y-%m-%d %H:%M} UTC", file=out)
        elif args.schedule_command == "list":
            frame = list_schedules(ws)
            if frame.empty:
                print(f"no schedules in {ws.org!r}", file=out)
            else:
                shown = frame.copy()
                shown["notebook"] = shown["notebook"].map(lambda p: Path(p).name)
                print(shown.to_string(), file=out)
        else:
            remove_schedule(ws, args.name)
            print(f"schedule {args.name!r} removed", file=out)
    return EXIT_OK


def _scheduler(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.runs.schedule import Scheduler

    def said(run: Any) -> None:
        print(f"{run.schedule}: run {run.run_id} {run.status}", file=out, flush=True)

    with _workspace(args) as ws:
        scheduler = Scheduler(ws, on_run=said)
        print(f"scheduler for {ws.org!r} started (pid {os.getpid()})", file=out, flush=True)
        if args.once:
            scheduler.run_due()
        else:
            scheduler.serve(args.poll)
    print("scheduler stopped", file=out)
    return EXIT_OK


def _report(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.boardpack import board_pack

    with _workspace(args) as ws:
        run = _resolve(ws, args.run)
        if not run.ok:
            raise RunError(f"run {run.run_id} did not succeed ({run.status}): no board pack")
        path = Path(args.out) if args.out else run.folder / f"board-pack.{args.format}"
        written = board_pack(
            run.outputs(), path, format=args.format, engine=args.engine, manifest=run.manifest
        )
        ws.record_export(run.run_id, f"board-pack-{args.format}", written)
    print(f"board pack: {written}", file=out)
    return EXIT_OK


def _export(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.exports import export_run

    formats: Sequence[str] = tuple(f.strip() for f in args.formats.split(",") if f.strip())
    with _workspace(args) as ws:
        run = _resolve(ws, args.run)
        if not run.ok:
            raise RunError(f"run {run.run_id} did not succeed ({run.status}): nothing to export")
        folder = Path(args.out) if args.out else run.folder / "exports"
        result = export_run(run.outputs(), folder, formats=formats, workspace=ws, run_id=run.run_id)
    for name, path in result.files.items():
        print(f"{name}: {path}", file=out)
    return EXIT_OK

"""The ``riskbench`` command: simulate a scenario card, validate it, print the card schema.

Exit codes: 0 success; 2 bad input (an invalid card, a missing file, a bad option),
with the message on stderr and no traceback; 1 anything else. Set
``RISKBENCH_DEBUG=1`` to see the traceback of an error.

Examples
--------
>>> main(["validate", "examples/register.yaml"])
OK: 16 scenarios, currency EUR
0
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import sys
import tempfile
import traceback
import warnings
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TextIO

from riskbench.errors import (
    Issue,
    MissingDependencyError,
    RiskbenchError,
    RiskbenchWarning,
    ValidationError,
)
from riskbench.files import replace_dir, sha256_file

__all__ = ["main"]

EXIT_OK = 0
EXIT_INTERNAL = 1
EXIT_BAD_INPUT = 2
TORNADO_TRIALS = 50_000
PROGRESS_TRIALS = 1_000_000
CHART_SCENARIOS = 5

_RUN_EPILOG = """\
example:
  riskbench run examples/register.yaml --trials 200000 --seed 2026 --out out/demo

DIR is written whole or not at all: the files are made in a temporary folder beside
it, which is then renamed to DIR. An existing DIR is replaced only if it is empty or
was written by an earlier `riskbench run`.
"""


# ----------------------------------------------------------------------- arguments
def _positive_int(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _seed(text: str) -> int:
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a non-negative whole number, got {text!r}"
        ) from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``riskbench`` command."""
    from riskbench import __version__

    parser = argparse.ArgumentParser(
        prog="riskbench",
        description="Quantified risk scenarios: simulate and check scenario cards.",
        epilog="Run `riskbench COMMAND --help` for the options of a command.",
    )
    parser.add_argument("--version", action="version", version=f"riskbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    run = sub.add_parser(
        "run",
        help="simulate a scenario card and write summary, curves, charts and a manifest",
        description=(
            "Simulate the annual losses of the scenarios in CARD and write into DIR: "
            "summary.json, summary.csv, exceedance_curve.csv, exceedance_curve.png, "
            "tornado.csv, tornado.png, manifest.json (with the SHA-256 of each file) and, "
            "with --save-years, result/ (every simulated year)."
        ),
        epilog=_RUN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    run.add_argument("card", metavar="CARD", help="scenario card file (YAML, or JSON by suffix)")
    run.add_argument(
        "--trials",
        type=_positive_int,
        default=100_000,
        metavar="N",
        help="number of simulated years (default: %(default)s)",
    )
    run.add_argument(
        "--seed",
        type=_seed,
        default=None,
        metavar="S",
        help="seed of the run; the same card, seed and trials give the same numbers "
        "(default: drawn at random, then printed and recorded in the outputs)",
    )
    run.add_argument(
        "--out",
        required=True,
        metavar="DIR",
        help="output folder (created; replaced if it holds an earlier run)",
    )
    run.add_argument(
        "--basis",
        choices=("net", "gross", "ceded"),
        default="net",
        help="net: losses retained after insurance; gross: before insurance; "
        "ceded: what insurance pays (default: %(default)s)",
    )
    run.add_argument(
        "--workers",
        type=_positive_int,
        default=None,
        metavar="W",
        help="threads to simulate on; the numbers do not depend on it "
        "(default: the number of CPUs)",
    )
    run.add_argument(
        "--engine",
        choices=("local", "fft"),
        default="local",
        help="local: Monte Carlo; fft: the exact distribution of an uncorrelated card, "
        "without tornado, --trials or --seed (default: %(default)s)",
    )
    run.add_argument(
        "--scheduler",
        metavar="ADDRESS",
        help="simulate the blocks on a Dask cluster (needs the dask extra): local:N starts "
        "a local cluster of N worker processes, tcp://HOST:PORT uses a running scheduler; "
        "the numbers are the same as without it",
    )
    run.add_argument(
        "--workspace",
        metavar="ORG",
        help="also store the run in organisation ORG's workspace (embedded PostgreSQL under "
        "RISKBENCH_HOME, or RISKBENCH_DATABASE_URL; needs the stores extra): the scenario "
        "versions, parameters, summary and, with --save-years, the simulated years under "
        "RISKBENCH_HOME/artefacts",
    )
    run.add_argument(
        "--user",
        default="local",
        help="the workspace user the run is recorded as (default: %(default)s)",
    )
    run.add_argument(
        "--save-years",
        action="store_true",
        help="also save every simulated year in DIR/result/ (Parquet; needs the io extra), "
        "loadable with riskbench.SimulationResult.load",
    )
    run.add_argument(
        "--sampling",
        choices=("random", "lhs", "sobol"),
        default="random",
        help="random: plain Monte Carlo; lhs or sobol: stratified within each block (a "
        "smaller standard error of the mean, less so for the tail; the numbers differ "
        "from random's but are as reproducible) (default: %(default)s)",
    )
    run.add_argument(
        "--keep",
        choices=("years", "summary"),
        default="years",
        help="years: keep every simulated year of every scenario; summary: keep the "
        "portfolio's years and a summary of each scenario (quantiles within 0.5%%), for "
        "runs too large to hold; skips the tornado, --save-years and --workspace "
        "(default: %(default)s)",
    )

    validate = sub.add_parser(
        "validate",
        help="check a scenario card and report every problem",
        description=(
            "Check CARD: print 'OK: N scenarios, currency X' and exit 0, or list every "
            "problem on stderr and exit 2."
        ),
        epilog="example:\n  riskbench validate examples/register.yaml",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    validate.add_argument("card", metavar="CARD", help="scenario card file (YAML or JSON)")

    sub.add_parser(
        "schema",
        help="print the JSON Schema of a scenario card",
        description=(
            "Print the JSON Schema (draft 2020-12) of a scenario card, for editors and "
            "other tools. It checks structure only; `riskbench validate` also checks the "
            "rules between fields (high > low, known ids in correlations)."
        ),
        epilog="example:\n  riskbench schema > card.schema.json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _register_extras(sub)
    return parser


_EXTRA_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, TextIO], int]] = {}


def _register_extras(sub: Any) -> None:
    """The commands of the optional extras: the workspace (``db``, ``audit``) and
    ingest (``ingest``, ``sample-data``). Without the extra, the command still
    exists and says which extra to install. Then ``narrate`` and ``suggest``, which
    need no extra."""
    try:
        from riskbench.workspace.cli import register as register_workspace
    except ImportError as error:  # MissingDependencyError is an ImportError
        _unavailable(sub, ("db", "audit"), "stores", error)
    else:
        register_workspace(sub)
    try:
        from riskbench.ingestion.cli import register as register_ingest
    except ImportError as error:
        _unavailable(sub, ("ingest", "sample-data"), "ingest", error)
    else:
        _EXTRA_COMMANDS.update(register_ingest(sub))
    from riskbench.ai.cli import register as register_ai
    from riskbench.runs.cli import register as register_runs

    _EXTRA_COMMANDS.update(register_ai(sub))
    _EXTRA_COMMANDS.update(register_runs(sub))


def _unavailable(sub: Any, names: Sequence[str], extra: str, error: ImportError) -> None:
    for name in names:
        missing = (
            error
            if isinstance(error, MissingDependencyError)
            else MissingDependencyError(error.name or "?", extra, purpose=f"`riskbench {name}`")
        )
        parser = sub.add_parser(name, help=f"(needs the {extra} extra)")
        parser.add_argument("rest", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
        parser.set_defaults(missing=missing)


# ------------------------------------------------------------------------ commands
def _validate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.cards import load_portfolio
    from riskbench.correlation import is_psd

    portfolio = load_portfolio(args.card)
    if not is_psd(portfolio.correlation_matrix()):
        print(
            "warning: the correlation matrix is not positive semi-definite; a simulation "
            "will use the nearest valid one and say how far it moved",
            file=err,
        )
    print(f"OK: {len(portfolio.scenarios)} scenarios, currency {portfolio.currency}", file=out)
    return EXIT_OK


def _schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.cards import card_schema

    print(json.dumps(card_schema(), indent=2), file=out)
    return EXIT_OK


@contextlib.contextmanager
def _progress_bar(total: int, enabled: bool) -> Iterator[Callable[[int, int], None] | None]:
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr, or None."""
    if not enabled:
        yield None
        return
    try:
        from tqdm import tqdm
    except ImportError:  # the bar is a nicety: run without it
        yield None
        return
    bar = tqdm(total=total, unit="years", unit_scale=True, file=sys.stderr, desc="simulating")
    try:

        def update(done: int, _total: int) -> None:
            bar.update(done - bar.n)

        yield update
    finally:
        bar.close()


def _write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, allow_nan=False) + "\n", encoding="utf-8")


def _check_out(target: Path) -> None:
    """Refuse to replace a folder that is not an earlier run's output."""
    if not target.exists():
        return
    if not target.is_dir():
        raise ValidationError([Issue("--out", f"{target} exists and is not a folder")])
    if not any(target.iterdir()):
        return
    try:
        manifest = json.loads((target / "manifest.json").read_text(encoding="utf-8"))
        earlier_run = isinstance(manifest, dict) and isinstance(manifest.get("outputs"), dict)
    except (OSError, ValueError):
        earlier_run = False
    if not earlier_run:
        raise ValidationError(
            [
                Issue(
                    "--out",
                    f"{target} is not empty and was not written by `riskbench run`; "
                    "choose a new folder (it is replaced as a whole)",
                )
            ]
        )


def _exact_manifest(result: Any) -> dict[str, Any]:
    from riskbench import __version__

    return {
        "kind": "riskbench.ExactResult",
        "riskbench_version": __version__,
        "engine": "fft",
        "basis": result.basis,
        "grid_step": result.h,
        "aliasing": result.aliasing,
        "currency": result.currency,
        "scenarios": list(result.ids),
        "portfolio": result.portfolio.to_dict(),
    }


def _write_outputs(result: Any, summary: Any, folder: Path, args: argparse.Namespace) -> list[str]:
    """Write every output file of a run into ``folder``; returns their names."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise MissingDependencyError("matplotlib", "cli", purpose="The charts of a run") from None

    from riskbench.plotting import exceedance_chart, tornado_chart
    from riskbench.results import SimulationResult
    from riskbench.streaming import StreamedResult

    simulated = isinstance(result, SimulationResult | StreamedResult)
    written: list[str] = []

    def chart(name: str, draw: Callable[[Any], Any], size: tuple[float, float]) -> None:
        # A Figure on the Agg canvas, not pyplot: no GUI backend and no global state.
        fig = Figure(figsize=size, layout="constrained")
        FigureCanvasAgg(fig)
        draw(fig.add_subplot())
        fig.savefig(folder / name, dpi=120)
        written.append(name)

    table = summary.reset_index()
    records = table.astype(object).where(table.notna(), None).to_dict(orient="records")
    _write_json(
        folder / "summary.json",
        {
            "name": result.portfolio.name,
            "currency": result.currency,
            "engine": result.engine,
            "basis": result.basis,
            "trials": result.trials if simulated else None,
            # A string, as in the manifest: a drawn seed has 128 bits, more than JSON
            # readers that use doubles keep.
            "seed": str(result.seed) if simulated else None,
            "input_hash": result.input_hash() if simulated else None,
            "summary": records,
        },
    )
    written.append("summary.json")
    summary.to_csv(folder / "summary.csv")
    written.append("summary.csv")
    result.exceedance_curve().to_csv(folder / "exceedance_curve.csv", index=False)
    written.append("exceedance_curve.csv")

    biggest = summary.drop(index="portfolio")["tvar99"].nlargest(CHART_SCENARIOS).index
    chart(
        "exceedance_curve.png",
        lambda ax: exceedance_chart(result, scenarios=list(biggest), ax=ax),
        (9.0, 5.5),
    )
    if isinstance(result, SimulationResult):  # a summary keeps no years to swing
        t = result.tornado(trials=min(result.trials, TORNADO_TRIALS))
        t.table.to_csv(folder / "tornado.csv", index=False)
        written.append("tornado.csv")
        rows = min(len(t.table), 15)
        chart(
            "tornado.png",
            lambda ax: tornado_chart(t, ax=ax, top=15, currency=result.currency),
            (9.0, 1.5 + 0.4 * rows),
        )
    if args.save_years:
        result.save(folder / "result")
        written.append("result/manifest.json")
        written.append("result/years.parquet")

    manifest = result.manifest() if simulated else _exact_manifest(result)
    manifest["command"] = ["riskbench", *args.argv]
    manifest["outputs"] = {name: sha256_file(folder / name) for name in written}
    _write_json(folder / "manifest.json", manifest)
    written.append("manifest.json")
    return written


def _check_summary_options(args: argparse.Namespace) -> None:
    """``--keep summary`` keeps no per-scenario years: refuse what needs them."""
    issues = [
        Issue(flag, "needs --keep years: --keep summary keeps no per-scenario years")
        for flag, given in (("--save-years", args.save_years), ("--workspace", args.workspace))
        if given
    ]
    if args.engine == "fft":
        issues.append(Issue("--keep", "summary needs a Monte Carlo engine, not --engine fft"))
    if issues:
        raise ValidationError(issues)


def _check_scheduler_options(args: argparse.Namespace) -> None:
    """``--scheduler`` runs the Monte Carlo blocks on a Dask cluster instead of threads."""
    from riskbench.executors import parse_scheduler

    parse_scheduler(args.scheduler, loc="--scheduler")
    issues = []
    if args.engine == "fft":
        issues.append(Issue("--scheduler", "needs --engine local: the fft engine runs no blocks"))
    if args.workers is not None:
        issues.append(
            Issue(
                "--workers",
                "sets threads of this process: with --scheduler the cluster's workers run the "
                "blocks (local:N for N local workers)",
            )
        )
    if issues:
        raise ValidationError(issues)


@contextlib.contextmanager
def _scheduler(args: argparse.Namespace) -> Iterator[Any]:
    """The Dask client of ``--scheduler`` (``None`` without it), closed afterwards."""
    if args.scheduler is None:
        yield None
        return
    from riskbench.executors import connect

    with connect(args.scheduler, loc="--scheduler") as client:
        yield client


def _run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.cards import load_portfolio
    from riskbench.engine import simulate
    from riskbench.plotting import format_money

    if args.engine == "fft" and args.save_years:
        raise ValidationError(
            [Issue("--save-years", "needs --engine local: the fft engine simulates no years")]
        )
    if args.engine == "fft" and args.workspace:
        raise ValidationError(
            [Issue("--workspace", "needs --engine local: the workspace stores simulated runs")]
        )
    if args.keep == "summary":
        _check_summary_options(args)
    if args.scheduler is not None:
        _check_scheduler_options(args)
    target = Path(args.out)
    _check_out(target)
    portfolio = load_portfolio(args.card)

    if args.engine == "fft":
        result: Any = simulate(portfolio, engine="fft", basis=args.basis)
    else:
        show = args.trials >= PROGRESS_TRIALS or err.isatty()
        with _scheduler(args) as client, _progress_bar(args.trials, show) as progress:
            result = simulate(
                portfolio,
                trials=args.trials,
                seed=args.seed,
                basis=args.basis,
                workers=args.workers,
                progress=progress,
                keep=args.keep,
                sampling=args.sampling,
                engine="local" if client is None else "dask",
                client=client,
            )

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.tmp-"))
    try:
        # mkdtemp makes the folder private (0700); DIR should have the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)
        summary = result.summary()
        written = _write_outputs(result, summary, tmp, args)
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    cur = portfolio.currency
    simulated = args.engine != "fft"
    how = f"{result.trials:,} years, seed {result.seed}" if simulated else "exact (fft)"
    print(
        f"{portfolio.name}: {len(portfolio.scenarios)} scenarios, {how}, basis {args.basis}",
        file=out,
    )
    print(f"  portfolio mean    {format_money(summary.loc['portfolio', 'mean'], cur)}", file=out)
    print(f"  portfolio p99     {format_money(result.var(0.99), cur)}", file=out)
    print(f"  portfolio tvar99  {format_money(result.tvar(0.99), cur)}", file=out)
    print(f"outputs in {target}:", file=out)
    for name in written:
        print(f"  {target / name}", file=out)
    if args.keep == "summary":
        print(
            "skipped tornado.csv and tornado.png: the tornado needs every simulated year "
            "(--keep years); scenario quantiles are sketched within 0.5% (manifest.json)",
            file=out,
        )
    if args.workspace:
        from riskbench.files import riskbench_home
        from riskbench.workspace import Workspace

        # With --save-years the simulated years are kept as the run's artefact too,
        # under RISKBENCH_HOME/artefacts/<run id>, where the workspace points at them.
        artefacts = riskbench_home() / "artefacts" if args.save_years else None
        with Workspace(org=args.workspace, user=args.user) as ws:
            run_id = ws.save_run(result, artefact_dir=artefacts)
        print(f"stored in workspace {args.workspace!r} as run {run_id}", file=out)
    return EXIT_OK


_COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, TextIO], int]] = {
    "run": _run,
    "validate": _validate,
    "schema": _schema,
}


# ---------------------------------------------------------------------------- main
def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``riskbench`` command with ``argv`` (default: ``sys.argv[1:]``).

    Returns the exit status instead of exiting, so it can be called in-process.
    """
    argv = list(sys.argv[1:] if argv is None else argv)
    out, err = sys.stdout, sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:  # --help, --version and usage errors
        code = stop.code
        return code if isinstance(code, int) else (EXIT_OK if code is None else EXIT_BAD_INPUT)
    args.argv = argv
    debug = os.environ.get("RISKBENCH_DEBUG", "") not in ("", "0")
    try:
        with warnings.catch_warnings():
            warnings.showwarning = _show_warning(err)
            missing = getattr(args, "missing", None)
            if missing is not None:
                raise missing
            handler = getattr(args, "handler", None)
            if handler is not None:  # the workspace commands print for themselves
                return int(handler(args))
            return {**_COMMANDS, **_EXTRA_COMMANDS}[args.command](args, out, err)
    except ValidationError as error:  # includes ScenarioError: bad input
        if debug:
            traceback.print_exc(file=err)
        print(f"error: {error}", file=err)
        return EXIT_BAD_INPUT
    except RiskbenchError as error:  # an expected failure, such as a missing extra
        if debug:
            traceback.print_exc(file=err)
        print(f"error: {error}", file=err)
        return EXIT_INTERNAL
    except KeyboardInterrupt:
        print("interrupted", file=err)
        return 130
    except BrokenPipeError:
        # The reader went away (`riskbench schema | head`): not an error of ours. Point
        # stdout at devnull so that the interpreter's final flush does not fail again.
        with contextlib.suppress(OSError, ValueError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), out.fileno())
        return 141  # 128 + SIGPIPE, as a shell reports a command stopped by a closed pipe
    except Exception as error:
        if debug:
            traceback.print_exc(file=err)
        print(f"internal error: {type(error).__name__}: {error}", file=err)
        if not debug:
            print(
                "This is a bug in riskbench: please report it to the riskbench developers "
                "with the output of the same command run with RISKBENCH_DEBUG=1.",
                file=err,
            )
        return EXIT_INTERNAL


def _show_warning(err: TextIO) -> Callable[..., None]:
    """Print riskbench's own warnings as one plain line; others as Python does."""
    original = warnings.showwarning

    def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
        if issubclass(category, RiskbenchWarning):
            print(f"warning: {message}", file=err)
        else:
            original(message, category, *args, **kwargs)

    return show


if __name__ == "__main__":
    sys.exit(main())

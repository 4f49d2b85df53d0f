"""The ``riskbench narrate`` and ``riskbench suggest`` commands."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from riskbench.errors import Issue, ValidationError

__all__ = ["register"]

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]


def register(sub: Any) -> dict[str, Handler]:
    """Add the commands to ``sub``; return their handlers by name."""
    narrate = sub.add_parser(
        "narrate",
        help="write plain-English narratives of the scenarios in a card",
        description=(
            "Write a narrative of each scenario in CARD (or of those named with "
            "--scenario): what could happen, how it spreads through the dependency graph, "
            "what it would cost, what the numbers rest on and what can be done. The card "
            "is simulated first (--trials) so the narratives quote annual-loss figures. "
            "Every figure is checked against the data. With RISKBENCH_LLM set a language "
            "model writes them (unless --offline); otherwise the offline template narrator."
        ),
        epilog=(
            "example:\n  riskbench narrate examples/register.yaml --scenario ransomware-erp "
            "\\\n    --graph examples/dependencies.yaml --mitigations examples/mitigations.yaml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    narrate.add_argument("card", metavar="CARD", help="scenario card file (YAML or JSON)")
    narrate.add_argument(
        "--scenario", action="append", metavar="ID", help="only this scenario (repeatable)"
    )
    narrate.add_argument(
        "--style", choices=("board", "analyst"), default="board", help="default: board"
    )
    narrate.add_argument("--graph", metavar="FILE", help="dependency graph YAML")
    narrate.add_argument("--incidents", metavar="CSV", help="incident history CSV")
    narrate.add_argument("--mitigations", metavar="FILE", help="mitigations YAML")
    narrate.add_argument(
        "--trials",
        type=int,
        default=50_000,
        metavar="N",
        help="simulated years for the annual-loss figures (0: none); default 50000",
    )
    narrate.add_argument("--seed", type=int, default=0, metavar="S", help="default 0")
    narrate.add_argument("--out", metavar="FILE", help="write Markdown here (default: stdout)")
    narrate.add_argument(
        "--offline", action="store_true", help="never call a model, even if one is configured"
    )

    suggest = sub.add_parser(
        "suggest",
        help="suggest new scenarios for an organisation as a scenario card",
        description=(
            "Suggest N scenarios for an organisation: outages of single points of failure "
            "and regional concentrations in its dependency graph, recurring incidents no "
            "scenario covers, and library archetypes for its industry and regions. "
            "Duplicates of existing scenarios are listed, not proposed. The organisation "
            "comes from a company file (--context: profile, register, graph), from a "
            "workspace (--workspace: its stored profile, scenarios and assets, and its "
            "incidents from the log store; needs the stores extra), or both (the file's "
            "profile and graph, the workspace's scenarios and incidents). Writes a card "
            "that `riskbench run` accepts."
        ),
        epilog=(
            "examples:\n  riskbench suggest --context examples/company.yaml --n 10 "
            "--out suggested.yaml\n  riskbench suggest --workspace northwind --context "
            "examples/company.yaml --save-profile --out suggested.yaml"
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    suggest.add_argument(
        "--context", metavar="FILE", help="company file (see examples/company.yaml)"
    )
    suggest.add_argument(
        "--workspace", metavar="ORG", help="the organisation's workspace (stores extra)"
    )
    suggest.add_argument(
        "--user", default="local", help="the workspace user (default: %(default)s)"
    )
    suggest.add_argument(
        "--save-profile",
        action="store_true",
        help="store the company file's profile in the workspace first (admin only)",
    )
    suggest.add_argument("--incidents", metavar="CSV", help="incident history CSV to use")
    suggest.add_argument("--n", type=int, default=10, metavar="N", help="default 10")
    suggest.add_argument("--out", metavar="FILE", help="write the suggested card here")
    suggest.add_argument(
        "--offline", action="store_true", help="never call a model, even if one is configured"
    )
    return {"narrate": _narrate, "suggest": _suggest}


def _read_incidents(path: str) -> Any:
    import pandas as pd

    from riskbench.ai.context import INCIDENT_COLUMNS

    if not Path(path).is_file():
        raise ValidationError([Issue("--incidents", f"no such file: {path}")])
    table = pd.read_csv(path, keep_default_na=False)
    missing = [c for c in INCIDENT_COLUMNS if c not in table.columns]
    if missing:
        raise ValidationError(
            [Issue("--incidents", f"{path} lacks columns {missing}; found {list(table.columns)}")]
        )
    table["scenario_id"] = table["scenario_id"].astype(str)
    return table


def _narrate(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.ai.narrate import narrate
    from riskbench.cards import load_portfolio
    from riskbench.files import atomic_write_text

    portfolio = load_portfolio(args.card)
    wanted = args.scenario or list(portfolio.ids)
    unknown = [s for s in wanted if s not in portfolio.ids]
    if unknown:
        raise ValidationError(
            [Issue("--scenario", f"unknown ids {unknown}; the card has {list(portfolio.ids)}")]
        )
    if args.trials < 0:
        raise ValidationError([Issue("--trials", f"must be >= 0, got {args.trials}")])
    graph = mitigations = incidents = None
    if args.graph:
        from riskbench.graph import DependencyGraph

        graph = DependencyGraph.from_yaml(args.graph)
    if args.mitigations:
        from riskbench.mitigation import load_mitigations

        mitigations = load_mitigations(args.mitigations)
    if args.incidents:
        incidents = _read_incidents(args.incidents)
    result = None
    if args.trials:
        from riskbench.engine import simulate
        from riskbench.results import SimulationResult

        simulated = simulate(portfolio, trials=args.trials, seed=args.seed)
        assert isinstance(simulated, SimulationResult)
        result = simulated
    blocks = []
    for sid in wanted:
        n = narrate(
            portfolio[sid],
            result,
            style=args.style,
            currency=portfolio.currency,
            graph=graph,
            incidents=incidents,
            mitigations=mitigations or (),
            llm=False if args.offline else None,
        )
        heading, _, body = n.text.partition("\n\n")
        blocks.append(f"## {heading}\n\n{body}\n")
        for note in n.notes:
            print(f"note: {sid}: {note}", file=err)
    text = f"# {portfolio.name or 'Scenario narratives'}\n\n" + "\n".join(blocks)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"wrote {len(blocks)} narratives to {args.out}", file=out)
    else:
        out.write(text)
    return 0


def _suggest(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from riskbench.ai.context import load_context

    if not (args.context or args.workspace):
        raise ValidationError(
            [Issue("--context", "give a company file (--context FILE), --workspace ORG, or both")]
        )
    if args.save_profile and not (args.context and args.workspace):
        raise ValidationError(
            [Issue("--save-profile", "needs both --context FILE and --workspace ORG")]
        )
    ctx = load_context(args.context) if args.context else None
    if not args.workspace:
        assert ctx is not None
        return _suggest_from(ctx, args, out, err)
    from riskbench.ai.context import OrgContext
    from riskbench.logstore import LogStore
    from riskbench.workspace import Workspace

    with Workspace(org=args.workspace, user=args.user) as ws, LogStore() as logs:
        if args.save_profile:
            assert ctx is not None
            ws.set_profile(ctx.profile)
        stored = OrgContext.from_workspace(
            ws,
            logs=None if args.incidents else logs,
            graph=None if ctx is None or not ws.assets().empty else ctx.graph,
            profile=None if ctx is None else ctx.profile,
        )
        return _suggest_from(stored, args, out, err)


def _suggest_from(ctx: Any, args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    from dataclasses import replace

    from riskbench.ai.suggest import suggest_scenarios

    if args.incidents:
        ctx = replace(ctx, incidents=_read_incidents(args.incidents))
    found = suggest_scenarios(ctx, n=args.n, llm=False if args.offline else None)
    cur = ctx.currency
    print(f"{len(found)} suggested scenarios for {ctx.profile.name} ({found.method}):", file=out)
    for s in found:
        print(
            f"  {s.id:<44} {s.origin:<9} EAL {cur} {s.expected_annual_loss:>12,.0f}  {s.rationale}",
            file=out,
        )
    if found.duplicates:
        print(f"{len(found.duplicates)} candidates duplicate existing scenarios:", file=out)
        for d in found.duplicates:
            print(f"  {d.id:<44} duplicates {d.duplicate_of}", file=out)
    for note in found.notes:
        print(f"note: {note}", file=err)
    for _draft, problems in found.rejected:
        print(f"rejected draft: {'; '.join(problems)}", file=err)
    if args.out:
        found.save(args.out)
        print(f"wrote {args.out}", file=out)
    return 0

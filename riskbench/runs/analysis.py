"""A scenario run: the month-end analysis a risk team re-runs with fresh data.

:func:`scenario_run` takes checked :class:`RunParameters` and gives
:class:`RunOutputs`: calibrate the frequencies on the incident log, simulate, place
on the impact matrix, run the stress sets, evaluate the mitigations and the plan,
find the graph's single points of failure, and write the executive summary and the
top scenarios' narratives. Every number comes from the core with the run's seed, so
the same parameters and data give the same outputs, to the last digit.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from riskbench import __version__
from riskbench.ai import humanize as hz
from riskbench.ai.narrate import narrate
from riskbench.calibration import calibrate
from riskbench.cards import load_portfolio
from riskbench.engine import simulate
from riskbench.errors import Issue, RunError, ValidationError
from riskbench.graph import DependencyGraph
from riskbench.matrix import ImpactMatrix
from riskbench.mitigation import (
    Mitigation,
    _tolerance_curve,
    apply_mitigations,
    evaluate_mitigations,
    load_mitigations,
    optimize_mitigations,
    tolerance_breaches,
)
from riskbench.results import SimulationResult
from riskbench.runs.outputs import RunOutputs
from riskbench.runs.params import RunParameters
from riskbench.runs.summary import draft_executive_summary
from riskbench.scenario import Portfolio
from riskbench.stress import StressSet, load_stress_sets, stress_all

__all__ = ["RunInputs", "analyse", "load_inputs", "scenario_run"]

Step = Callable[[str], None]


def _portfolio(params: RunParameters, workspace: Any) -> Portfolio:
    card = params.resolve("card")
    if card is not None:
        return load_portfolio(card)
    if workspace is None:
        raise RunError(
            "bad run parameters:\n  card: is empty, so the scenarios come from the "
            "workspace, but no workspace was given",
            issues=[Issue("card", "empty and no workspace to read scenarios from")],
        )
    profile = workspace.profile() if hasattr(workspace, "profile") else None
    currency = getattr(profile, "currency", None) or "EUR"
    ids = None if params.scenarios == "all" else list(params.scenarios)
    try:
        portfolio: Portfolio = workspace.portfolio(
            ids, name=f"{workspace.org} risk register", currency=currency
        )
        return portfolio
    except ValidationError as e:
        raise RunError(f"bad run parameters:\n  scenarios: {e}", issues=e.issues) from e


def _counts(params: RunParameters) -> pd.DataFrame | None:
    if params.incidents == "none":
        return None
    if params.incidents == "store":
        from riskbench.logstore import LogStore

        with LogStore() as store:
            return store.incident_counts(params.org, by="scenario_id")
    path = params.resolve("incidents")
    assert path is not None
    counts = pd.read_csv(path)
    missing = [c for c in ("scenario_id", "year", "count") if c not in counts.columns]
    if missing:
        raise RunError(
            f"bad run parameters:\n  incidents: {path} lacks columns {missing} "
            "(needs scenario_id, year, count: one row per scenario and year)",
            issues=[Issue("incidents", f"lacks columns {missing}")],
        )
    return counts


def _scenarios_table(portfolio: Portfolio) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "scenario": [s.id for s in portfolio.scenarios],
            "title": [s.title for s in portfolio.scenarios],
            "category": [s.category for s in portfolio.scenarios],
            "owner": [getattr(s, "owner", None) or "" for s in portfolio.scenarios],
            "frequency": [repr(s.frequency) for s in portfolio.scenarios],
            "severity": [repr(s.severity) for s in portfolio.scenarios],
            "events_per_year": [s.frequency.mean() for s in portfolio.scenarios],
            "loss_per_event": [s.severity.mean() for s in portfolio.scenarios],
        }
    )


def _summary(result: SimulationResult) -> pd.DataFrame:
    return result.summary().rename_axis("scenario").reset_index()


def _curves(results: dict[str, SimulationResult]) -> pd.DataFrame:
    parts = []
    for basis, result in results.items():
        for sid in [None, *result.ids]:
            curve = result.exceedance_curve(sid)
            curve.insert(0, "scenario", sid or "portfolio")
            curve.insert(0, "basis", basis)
            parts.append(curve)
    return pd.concat(parts, ignore_index=True)


def _assumptions(portfolio: Portfolio) -> pd.DataFrame:
    rows = [
        {
            "scenario": s.id,
            "name": a.name,
            "text": a.text,
            "rationale": a.rationale or "",
            "source": a.source or "",
        }
        for s in portfolio.scenarios
        for a in s.assumptions
    ]
    return pd.DataFrame(rows, columns=["scenario", "name", "text", "rationale", "source"])


def _calibration(before: Portfolio, after: Portfolio, counts: pd.DataFrame | None) -> pd.DataFrame:
    rows = []
    for b, a in zip(before.scenarios, after.scenarios, strict=True):
        mine = counts[counts["scenario_id"] == b.id] if counts is not None else None
        rows.append(
            {
                "scenario": b.id,
                "card_events_per_year": b.frequency.mean(),
                "calibrated_events_per_year": a.frequency.mean(),
                "incidents": int(mine["count"].sum()) if mine is not None else 0,
                "years": int(mine["year"].nunique()) if mine is not None else 0,
            }
        )
    return pd.DataFrame(rows)


def _stress_sets(params: RunParameters, portfolio: Portfolio) -> dict[str, StressSet]:
    path = params.resolve("stress_file")
    if path is None:
        return {}
    sets = load_stress_sets(path, portfolio=portfolio)
    if params.stress_sets:
        unknown = [n for n in params.stress_sets if n not in sets]
        if unknown:
            raise RunError(
                f"bad run parameters:\n  stress_sets: {unknown} not in {path.name}; "
                f"allowed: {sorted(sets)}",
                issues=[Issue("stress_sets", f"{unknown} not in {sorted(sets)}")],
            )
        sets = {n: sets[n] for n in params.stress_sets}
    return sets


def _stress(inputs: RunInputs, portfolio: Portfolio) -> pd.DataFrame:
    columns = [
        "stress_set",
        "description",
        "mean_base",
        "mean_stressed",
        "p99_base",
        "p99_stressed",
        "p99_ratio",
        "tvar99_base",
        "tvar99_stressed",
    ]
    sets = inputs.stress_sets
    if not sets:
        return pd.DataFrame(columns=columns)
    results = stress_all(portfolio, list(sets.values()), trials=inputs.trials, seed=inputs.seed)
    rows = []
    for name, res in results.items():
        row = res.table.loc["portfolio"]
        rows.append(
            {
                "stress_set": name,
                "description": sets[name].description or "",
                **{c: float(row[c]) for c in columns[2:]},
            }
        )
    return pd.DataFrame(rows, columns=columns)


def _plan(inputs: RunInputs, portfolio: Portfolio) -> tuple[list[str], pd.DataFrame]:
    options = inputs.options
    frontier = pd.DataFrame(columns=["mitigations", "annual_cost", "objective"])
    if inputs.plan == "none" or not options:
        return [], frontier
    if inputs.plan == "best":
        budget = inputs.budget_per_year or sum(m.annual_cost for m in options)
        best = optimize_mitigations(
            portfolio,
            options,
            budget_per_year=budget,
            objective="mean",
            trials=inputs.trials,
            seed=inputs.seed,
        )
        frontier = best.frontier.assign(mitigations=best.frontier["mitigations"].map(list))
        return list(best.best), frontier
    known = {m.id for m in options}
    unknown = [i for i in inputs.plan if i not in known]
    if unknown:
        raise RunError(
            f"bad run parameters:\n  plan: {unknown} are not options in the mitigations "
            f"file; allowed: {sorted(known)}",
            issues=[Issue("plan", f"{unknown} not in {sorted(known)}")],
        )
    return list(inputs.plan), frontier


def _mitigation_table(report: Any, options: list[Mitigation], plan: list[str]) -> pd.DataFrame:
    by_id = {m.id: m for m in options}
    table = report.table.loc[[i for i in report.table.index if i in by_id]]
    return pd.DataFrame(
        {
            "option": list(table.index),
            "name": [by_id[i].name for i in table.index],
            "scenarios": [", ".join(by_id[i].scenarios) for i in table.index],
            "one_off_cost": table["one_off_cost"].to_numpy(),
            "annual_cost": table["annual_cost"].to_numpy(),
            "eal_reduction": table["eal_reduction"].to_numpy(),
            "p99_reduction": table["p99_reduction"].to_numpy(),
            "rosi": table["rosi"].to_numpy(),
            "npv": table["npv"].to_numpy(),
            # never pays back: missing (NaN), not infinity, which JSON cannot hold
            "payback_years": table["payback_years"].replace([np.inf, -np.inf], np.nan).to_numpy(),
            "in_plan": [i in plan for i in table.index],
        }
    )


@dataclass
class RunInputs:
    """What a run analyses, loaded: the scenarios as the card gives them and what
    goes with them. :func:`load_inputs` makes one from checked parameters; a widget
    makes one from the objects it holds."""

    portfolio: Portfolio
    trials: int
    seed: int
    as_of: str
    org: str = ""
    counts: pd.DataFrame | None = None
    stress_sets: dict[str, StressSet] = field(default_factory=dict)
    options: list[Mitigation] = field(default_factory=list)
    plan: str | tuple[str, ...] = "best"
    budget_per_year: float = 0.0
    graph: DependencyGraph | None = None
    tolerance: tuple[tuple[float, float], ...] = ()
    top: int = 5
    narrate: tuple[str, ...] | None = None
    parameters: dict[str, Any] = field(default_factory=dict)


def load_inputs(params: RunParameters, workspace: Any = None) -> RunInputs:
    """Read what ``params`` names: the card (or the workspace's scenarios), the
    incident counts, the stress sets, the mitigation options and the graph."""
    portfolio = _portfolio(params, workspace)
    options: list[Mitigation] = []
    mpath = params.resolve("mitigations_file")
    if mpath is not None:
        options = list(load_mitigations(mpath, portfolio=portfolio))
    gpath = params.resolve("graph_file")
    return RunInputs(
        portfolio=portfolio,
        trials=params.trials,
        seed=params.seed,
        as_of=params.as_of,
        org=params.org,
        counts=_counts(params),
        stress_sets=_stress_sets(params, portfolio),
        options=options,
        plan=params.plan,
        budget_per_year=params.budget_per_year,
        graph=DependencyGraph.from_yaml(gpath) if gpath is not None else None,
        tolerance=params.tolerance,
        top=params.top,
        parameters=params.to_dict(),
    )


def scenario_run(
    params: RunParameters,
    *,
    workspace: Any = None,
    organisation: str | None = None,
    step: Step | None = None,
) -> RunOutputs:
    """Run the whole analysis for ``params``; the outputs (not yet saved).

    ``workspace`` (an open :class:`~riskbench.workspace.Workspace`) is where the
    scenarios come from when the parameters name no card, and where the simulation
    run is stored. ``step`` is told the name of each stage as it starts.
    """
    (step or (lambda _: None))("scenarios")
    inputs = load_inputs(params, workspace)
    return analyse(inputs, workspace=workspace, organisation=organisation, step=step)


def analyse(
    inputs: RunInputs,
    *,
    workspace: Any = None,
    organisation: str | None = None,
    step: Step | None = None,
) -> RunOutputs:
    """The analysis of ``inputs`` (see the module docstring); with a workspace the
    simulation run is stored in it."""
    say = step or (lambda _: None)
    say("calibration")
    card_portfolio, counts = inputs.portfolio, inputs.counts
    portfolio = card_portfolio
    if counts is not None:
        calibrated = calibrate(card_portfolio, counts)
        assert isinstance(calibrated, Portfolio)
        portfolio = calibrated
    say("simulation")
    result = simulate(portfolio, trials=inputs.trials, seed=inputs.seed)
    assert isinstance(result, SimulationResult)
    try:
        exact = simulate(portfolio, engine="fft").var(0.99)
    except ValidationError:
        exact = None  # correlations or layers the FFT does not model
    sim_run_id = None
    if workspace is not None:
        sim_run_id = workspace.save_run(result)

    say("mitigations")
    options = inputs.options
    plan_ids, frontier = _plan(inputs, portfolio)
    chosen = [m for m in options if m.id in plan_ids]
    tables: dict[str, pd.DataFrame] = {
        "summary": _summary(result),
        "scenarios": _scenarios_table(portfolio),
        "assumptions": _assumptions(card_portfolio),
        "calibration": _calibration(card_portfolio, portfolio, counts),
        "tolerance": pd.DataFrame(list(inputs.tolerance), columns=["loss", "probability"]),
        "frontier": frontier,
    }
    residual: SimulationResult | None = None
    if chosen:
        residual_portfolio = portfolio.with_scenarios(
            [apply_mitigations(s, chosen) for s in portfolio.scenarios]
        )
        mitigated = simulate(residual_portfolio, trials=inputs.trials, seed=inputs.seed)
        assert isinstance(mitigated, SimulationResult)
        residual = mitigated
        tables["residual_summary"] = _summary(residual)
    if options:
        report = evaluate_mitigations(portfolio, options, trials=inputs.trials, seed=inputs.seed)
        tables["mitigations"] = _mitigation_table(report, options, plan_ids)
    curves: dict[str, SimulationResult] = {"inherent": result}
    if residual is not None:
        curves["residual"] = residual
    tables["curve"] = _curves(curves)

    say("matrix")
    placement = ImpactMatrix.default(scale=1e6).place(result, residual=residual)
    tables["matrix"] = placement.table

    say("stress")
    tables["stress"] = _stress(inputs, portfolio)

    say("graph")
    findings: list[str] = []
    graph = inputs.graph
    if graph is not None:
        spof = graph.single_points_of_failure(days=30, threshold=0.1)
        tables["single_points_of_failure"] = spof
        for row in spof.itertuples():
            findings.append(
                f"A 30-day outage of {row.node} ({row.kind}) would cost "
                f"{hz.money(row.lost_revenue, result.currency)} of revenue, "
                f"{hz.percent(row.share)} of the year's."
            )

    breach = None
    if inputs.tolerance:
        curve = result.exceedance_curve()
        hits = tolerance_breaches(curve, *_tolerance_curve(list(inputs.tolerance)))
        if len(hits):
            breach = [float(hits["loss"].min()), float(hits["loss"].max())]
    meta = {
        "org": inputs.org,
        "organisation": organisation or portfolio.name,
        "as_of": inputs.as_of,
        "run_id": None,
        "sim_run_id": sim_run_id,
        "portfolio": portfolio.name,
        "currency": result.currency,
        "trials": inputs.trials,
        "seed": inputs.seed,
        "engine": result.engine,
        "engine_version": result.engine_version,
        "package_version": __version__,
        "scenarios": len(portfolio),
        "exact_p99": exact,
        "tolerance_breach": breach,
        "parameters": inputs.parameters,
    }
    plan: dict[str, Any] = {}
    if chosen:
        assert residual is not None
        plan = {
            "ids": plan_ids,
            "names": [m.name for m in chosen],
            "one_off_cost": sum(m.one_off_cost for m in chosen),
            "annual_cost": sum(m.annual_cost for m in chosen),
            "budget_per_year": inputs.budget_per_year,
            "objective": "mean" if inputs.plan == "best" else "chosen",
            "inherent_mean": float(result.annual_loss.mean()),
            "inherent_p99": result.var(0.99),
            "residual_mean": float(residual.annual_loss.mean()),
            "residual_p99": residual.var(0.99),
        }
    outputs = RunOutputs(meta=meta, tables=tables, plan=plan, findings=findings)

    say("narratives")
    top = tables["summary"].set_index("scenario").drop(index="portfolio")
    top_ids = list(top.sort_values("mean", ascending=False).index[: inputs.top])
    if inputs.narrate is not None:
        top_ids = [s for s in top_ids if s in inputs.narrate] + [
            s for s in inputs.narrate if s not in top_ids
        ]
    texts = {}
    for sid in top_ids:
        scenario = next(s for s in portfolio.scenarios if s.id == sid)
        texts[sid] = narrate(
            scenario, result, graph=graph, mitigations=[m for m in options if sid in m.scenarios]
        ).text
    summary = draft_executive_summary(outputs)
    outputs.narratives = {
        "executive": summary.text,
        "scenarios": texts,
        "method": summary.method,
        "notes": list(summary.notes),
    }
    return outputs

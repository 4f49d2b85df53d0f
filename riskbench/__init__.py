"""riskbench: quantified risk scenarios, compound Monte Carlo and exact aggregates.

>>> import riskbench as rb
>>> portfolio = rb.load_portfolio("examples/register.yaml")
>>> result = rb.simulate(portfolio, trials=20_000, seed=0)
>>> list(result.summary().columns)
['mean', 'sd', 'p50', 'p90', 'p95', 'p99', 'tvar99', 'p_any']
"""

from importlib.metadata import PackageNotFoundError, version

from riskbench.ai.context import OrgContext, OrgProfile, load_context
from riskbench.ai.narrate import Narrative, narrate
from riskbench.ai.suggest import Suggestion, Suggestions, suggest_scenarios
from riskbench.calibration import calibrate
from riskbench.cards import card_schema, load_portfolio, save_portfolio
from riskbench.dists import (
    PERT,
    Bernoulli,
    Beta,
    Constant,
    Distribution,
    Empirical,
    Gamma,
    LogNormal,
    Mixture,
    NegativeBinomial,
    Normal,
    Poisson,
    Triangular,
    Uniform,
)
from riskbench.engine import simulate
from riskbench.errors import (
    CalibrationError,
    Cancelled,
    MissingDependencyError,
    PermissionDenied,
    RiskbenchError,
    RunError,
    ScenarioError,
    StoreError,
    ValidationError,
)
from riskbench.graph import DependencyGraph, OutageImpact, OutageLoss
from riskbench.matrix import ImpactMatrix, MatrixPlacement
from riskbench.mitigation import (
    Mitigation,
    MitigationReport,
    OptimizationResult,
    evaluate_mitigations,
    load_mitigations,
    optimize_mitigations,
)
from riskbench.results import ExactResult, SimulationResult
from riskbench.scenario import CATEGORIES, Assumption, Insurance, Layer, Portfolio, Scenario
from riskbench.sensitivity import Tornado, tornado
from riskbench.severity_fit import fit_severity
from riskbench.stress import (
    AddScenario,
    Combined,
    DropMitigation,
    ForceEvent,
    NodeOutage,
    ReverseStress,
    ScaleFrequency,
    ScaleSeverity,
    Shock,
    StressResult,
    StressSet,
    load_stress_sets,
    reverse_stress,
    stress,
    stress_all,
)

# Names from the optional extras, imported on first use so that the core stays light
# (PEP 562); a missing extra raises MissingDependencyError naming it.
_LAZY = {
    "Workspace": "riskbench.workspace",
    "LogStore": "riskbench.logstore",
    "ingest": "riskbench.ingestion",
    "NotebookRun": "riskbench.runs.notebook",
    "RunOutputs": "riskbench.runs.outputs",
    "RunParameters": "riskbench.runs.params",
    "run_notebook": "riskbench.runs.notebook",
    "scenario_run": "riskbench.runs.analysis",
    "board_pack": "riskbench.boardpack",
    "export_run": "riskbench.exports",
    "StreamedResult": "riskbench.streaming",
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'riskbench' has no attribute {name!r}")


try:
    __version__ = version("riskbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "CATEGORIES",
    "PERT",
    "AddScenario",
    "Assumption",
    "Bernoulli",
    "Beta",
    "CalibrationError",
    "Cancelled",
    "Combined",
    "Constant",
    "DependencyGraph",
    "Distribution",
    "DropMitigation",
    "Empirical",
    "ExactResult",
    "ForceEvent",
    "Gamma",
    "ImpactMatrix",
    "Insurance",
    "Layer",
    "LogNormal",
    "LogStore",
    "MatrixPlacement",
    "MissingDependencyError",
    "Mitigation",
    "MitigationReport",
    "Mixture",
    "Narrative",
    "NegativeBinomial",
    "NodeOutage",
    "Normal",
    "NotebookRun",
    "OptimizationResult",
    "OrgContext",
    "OrgProfile",
    "OutageImpact",
    "OutageLoss",
    "PermissionDenied",
    "Poisson",
    "Portfolio",
    "ReverseStress",
    "RiskbenchError",
    "RunError",
    "RunOutputs",
    "RunParameters",
    "ScaleFrequency",
    "ScaleSeverity",
    "Scenario",
    "ScenarioError",
    "Shock",
    "SimulationResult",
    "StoreError",
    "StressResult",
    "StressSet",
    "Suggestion",
    "Suggestions",
    "Tornado",
    "Triangular",
    "Uniform",
    "ValidationError",
    "Workspace",
    "__version__",
    "calibrate",
    "card_schema",
    "evaluate_mitigations",
    "fit_severity",
    "ingest",
    "load_context",
    "load_mitigations",
    "load_portfolio",
    "load_stress_sets",
    "narrate",
    "optimize_mitigations",
    "reverse_stress",
    "run_notebook",
    "save_portfolio",
    "scenario_run",
    "simulate",
    "stress",
    "stress_all",
    "suggest_scenarios",
    "tornado",
]

"""riskbench: quantified risk scenarios, compound Monte Carlo and exact aggregates.

>>> import riskbench as rb
>>> portfolio = rb.load_portfolio("examples/register.yaml")
>>> result = rb.simulate(portfolio, trials=20_000, seed=0)
>>> list(result.summary().columns)
['mean', 'sd', 'p50', 'p90', 'p95', 'p99', 'tvar99', 'p_any']
"""

from importlib.metadata import PackageNotFoundError, version

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
    MissingDependencyError,
    RiskbenchError,
    RunError,
    ScenarioError,
    StoreError,
    ValidationError,
)
from riskbench.results import ExactResult, SimulationResult
from riskbench.scenario import CATEGORIES, Assumption, Insurance, Layer, Portfolio, Scenario
from riskbench.sensitivity import Tornado, tornado

try:
    __version__ = version("riskbench")
except PackageNotFoundError:  # running from a source tree that is not installed
    __version__ = "0.0.0+unknown"

__all__ = [
    "CATEGORIES",
    "PERT",
    "Assumption",
    "Bernoulli",
    "Beta",
    "CalibrationError",
    "Constant",
    "Distribution",
    "Empirical",
    "ExactResult",
    "Gamma",
    "Insurance",
    "Layer",
    "LogNormal",
    "MissingDependencyError",
    "Mixture",
    "NegativeBinomial",
    "Normal",
    "Poisson",
    "Portfolio",
    "RiskbenchError",
    "RunError",
    "Scenario",
    "ScenarioError",
    "SimulationResult",
    "StoreError",
    "Tornado",
    "Triangular",
    "Uniform",
    "ValidationError",
    "__version__",
    "card_schema",
    "load_portfolio",
    "save_portfolio",
    "simulate",
    "tornado",
]

"""Probability distributions for event frequency, event severity and assumptions.

Each distribution is an immutable, validated object with ``sample(n, rng)``,
``mean()``, ``var()``, ``ppf(q)`` and ``cdf(x)``. Frequencies (:class:`Poisson`,
:class:`Bernoulli`, :class:`NegativeBinomial`) count events per year; the others
describe a quantity such as the loss of one event, in currency.

Constructors take the same argument names as the scenario card's keys, so
``{dist: pert, low: 1, mode: 2, high: 5}`` and ``PERT(1, 2, 5)`` are the same
object, and ``to_dict()`` gives back exactly the keys that were given.

Examples
--------
>>> import numpy as np
>>> import riskbench as rb
>>> sev = rb.LogNormal.from_ci(50_000, 2_000_000)
>>> round(float(sev.ppf(0.05))), round(float(sev.ppf(0.95)))
(50000, 2000000)
>>> rb.PERT(0, 10, 50).mean()
15.0
>>> rb.Poisson(rate=2.5).sample(3, np.random.default_rng(0)).dtype
dtype('int64')
"""

from riskbench.dists.base import (
    Distribution,
    FloatArray,
    IntArray,
    _issues_from_pydantic,
    init_model,
)
from riskbench.dists.counts import Bernoulli, Frequency, NegativeBinomial, Poisson
from riskbench.dists.registry import as_distribution, dist_from_dict, quantile_grid, registry
from riskbench.dists.values import (
    PERT,
    Beta,
    Constant,
    Empirical,
    Gamma,
    LogNormal,
    Mixture,
    Normal,
    Scaled,
    Triangular,
    Uniform,
)

__all__ = [
    "PERT",
    "Bernoulli",
    "Beta",
    "Constant",
    "Distribution",
    "Empirical",
    "FloatArray",
    "Frequency",
    "Gamma",
    "IntArray",
    "LogNormal",
    "Mixture",
    "NegativeBinomial",
    "Normal",
    "Poisson",
    "Scaled",
    "Triangular",
    "Uniform",
    "_issues_from_pydantic",
    "as_distribution",
    "dist_from_dict",
    "init_model",
    "quantile_grid",
    "registry",
]

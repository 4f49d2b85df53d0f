"""Type-checked by `make typecheck` (mypy --strict): the public API as users call it.

Not a test module; mypy fails the build if a documented call stops type-checking,
e.g. positional distribution arguments.
"""

from __future__ import annotations

import numpy as np

import riskbench as rb

pert = rb.PERT(1e4, 5e4, 4e5)
pert_flat = rb.PERT(1e4, 5e4, 4e5, gamma=2.0)
lognormal = rb.LogNormal(12.0, 1.1)
from_ci = rb.LogNormal.from_ci(5e4, 2e6)
by_ci = rb.LogNormal(low=5e4, high=2e6, conf=0.9)
mixed = rb.Mixture([(0.8, pert), (0.2, from_ci)])
others: list[rb.Distribution] = [
    rb.Triangular(0, 1, 5),
    rb.Uniform(0, 1),
    rb.Normal(10, 2),
    rb.Beta(2, 5),
    rb.Gamma(2, 1),
    rb.Constant(3.0),
    rb.Empirical([1.0, 2.0, 3.0]),
    rb.Empirical(np.array([1.0, 2.0])),
]
frequencies: list[rb.Distribution] = [
    rb.Poisson(2.5),
    rb.Poisson(rate=rb.Gamma(9, 5)),
    rb.Bernoulli(0.05),
    rb.NegativeBinomial(2, 0.6),
]
scenario = rb.Scenario(
    id="fraud", title="Payment fraud", category="cyber", frequency=rb.Poisson(2.0), severity=mixed
)
portfolio = rb.Portfolio([scenario], currency="EUR")
result = rb.simulate(portfolio, trials=1000, seed=1)
p99: float = result.var(0.99)
tail: float = result.tvar(0.99)

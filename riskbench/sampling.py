"""How the engine turns a block's random stream into counts and event losses.

``sampling="random"`` (the default) draws with each distribution's own
``sample``: plain Monte Carlo, the engine's numbers since version 1.

``"lhs"`` and ``"sobol"`` are variance reduction by stratification. Within one
block of the fixed layout, a scenario's yearly counts are ``frequency.ppf(u)``
of ``n`` stratified uniforms (one per year) and its event losses are drawn by
inverse transform from stratified uniforms (one per event), so each block holds
its share of every part of each distribution, not just on average. Every random
number still comes from the block's own stream, so the numbers stay
reproducible and independent of which worker runs a block.

- ``lhs``: a Latin hypercube in one dimension, ``(perm + jitter) / n``: exactly
  one point in each interval ``[i/n, (i+1)/n)``.
- ``sobol``: the first ``n`` points of a scrambled Sobol' sequence
  (``scipy.stats.qmc.Sobol(d=1, scramble=True)``, drawn as the next power of two,
  ``random_base2``). In one dimension the sequence is balanced for any ``n``: the
  first ``n`` points put ``floor(n / 2**k)`` or one more in each interval of width
  ``2**-k``, for every ``k``; for ``n`` a power of two (the 65,536-year block) it
  is exactly one point per interval of width ``1/n``, as LHS. Each point is
  jittered uniformly within its 2**-30 grid cell, so that it is uniform on (0, 1)
  rather than on a grid. The scrambling is scipy's: a scipy release that changed
  it would change these numbers (the result's manifest records the scipy version).

Both give their points in a random order. That matters for events: a year's
events are consecutive draws, and consecutive Sobol' points fall in opposite
halves of (0, 1), which would make a year's events anti-correlated.

Where a distribution's ``ppf`` is not the inverse transform to use:

- a :class:`~riskbench.Mixture` picks its component from the stratified uniform
  (the weights' intervals of (0, 1)) and draws within it from the rest of the
  uniform (the component's ppf): the same distribution, stratified in the choice
  and within each component, without the mixture's root-finding ppf (40 cdf
  evaluations per value);
- a :class:`~riskbench.Poisson` with an uncertain, non-gamma rate draws the rate
  from one stratified uniform and the count from a second, independent one (its
  count ppf is a quadrature, not exact); with ``lhs``, a two-dimensional Latin
  hypercube;
- a distribution whose ``exact_ppf`` is false (a tabulated ppf, such as a
  dependency graph's outage loss) cannot be stratified: the run is refused with
  a :class:`~riskbench.errors.ValidationError` that names the scenario.

Examples
--------
>>> import numpy as np
>>> u = lhs_uniforms(4, np.random.default_rng(0))
>>> sorted(np.floor(u * 4).astype(int).tolist())  # one point in each quarter
[0, 1, 2, 3]
>>> freq = rb.Poisson(rate=2.5)
>>> c = draw_counts(freq, 65_536, np.random.default_rng(1), "lhs")
>>> bool(abs(c.mean() - 2.5) < 1e-3)
True
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import TYPE_CHECKING, Literal

import numpy as np
from scipy import stats
from scipy.stats import qmc

from riskbench.dists import (
    Distribution,
    FloatArray,
    Gamma,
    IntArray,
    Mixture,
    Poisson,
    Scaled,
)
from riskbench.errors import Issue, ValidationError

if TYPE_CHECKING:
    from riskbench.scenario import Scenario

__all__ = [
    "SAMPLINGS",
    "Sampling",
    "check_sampling",
    "draw_counts",
    "draw_events",
    "lhs_uniforms",
    "sobol_uniforms",
    "uniforms",
]

Sampling = Literal["random", "lhs", "sobol"]
SAMPLINGS: tuple[str, ...] = ("random", "lhs", "sobol")

_SOBOL_BITS = 30
# Stratified points are built in float arithmetic, which can round up to 1.0,
# where an unbounded ppf is infinite.
_BELOW_ONE = float(np.nextafter(1.0, 0.0))


def lhs_uniforms(n: int, rng: np.random.Generator) -> FloatArray:
    """``n`` uniforms in (0, 1), one in each interval ``[i/n, (i+1)/n)``, in random order."""
    perm = rng.permutation(n)
    u = (perm + rng.random(n)) / n
    return np.minimum(u, _BELOW_ONE, out=u)


def sobol_uniforms(n: int, rng: np.random.Generator) -> FloatArray:
    """The first ``n`` points of a scrambled one-dimensional Sobol' sequence, jittered
    within their grid cells, in random order."""
    if n == 0:
        return np.zeros(0)
    sobol = qmc.Sobol(d=1, scramble=True, bits=_SOBOL_BITS, rng=rng)
    # random_base2: a power of two keeps scipy's balance warning quiet; the first n
    # points of the 2**m are balanced too (see the module docstring).
    points = np.asarray(sobol.random_base2(max(0, math.ceil(math.log2(n))))[:n, 0], dtype=float)
    points += rng.random(n) * 2.0**-_SOBOL_BITS
    u: FloatArray = points[rng.permutation(n)]
    return np.minimum(u, _BELOW_ONE, out=u)


def uniforms(sampling: Sampling, n: int, rng: np.random.Generator) -> FloatArray:
    """``n`` uniforms in (0, 1) from ``rng``: plain, Latin hypercube or Sobol'."""
    if sampling == "lhs":
        return lhs_uniforms(n, rng)
    if sampling == "sobol":
        return sobol_uniforms(n, rng)
    return rng.random(n)


def draw_counts(
    frequency: Distribution, n: int, rng: np.random.Generator, sampling: Sampling
) -> IntArray:
    """``n`` yearly event counts from ``rng``: ``frequency.sample`` for ``"random"``,
    ``frequency.ppf`` of stratified uniforms otherwise."""
    if sampling == "random":
        return np.asarray(frequency.sample(n, rng), dtype=np.int64)
    uncertain = _uncertain_rate(frequency)
    if uncertain is not None:
        rate = _inverse(uncertain, uniforms(sampling, n, rng))
        counts = stats.poisson.ppf(uniforms(sampling, n, rng), np.maximum(rate, 0.0))
    else:
        counts = frequency.ppf(uniforms(sampling, n, rng))
    # scipy's Poisson ppf is -1 at exactly 0.
    out: IntArray = np.maximum(np.asarray(counts), 0).astype(np.int64)
    return out


def draw_events(
    severity: Distribution, n: int, rng: np.random.Generator, sampling: Sampling
) -> FloatArray:
    """``n`` event losses from ``rng``: ``severity.sample`` for ``"random"``, by
    inverse transform of stratified uniforms otherwise."""
    if sampling == "random":
        return np.asarray(severity.sample(n, rng), dtype=float)
    return _inverse(severity, uniforms(sampling, n, rng))


def _uncertain_rate(frequency: Distribution) -> Distribution | None:
    """The rate of a Poisson whose count ppf is not exact (an uncertain, non-gamma rate)."""
    if not isinstance(frequency, Poisson) or not isinstance(frequency.rate, Distribution):
        return None
    # A gamma rate makes the count negative binomial, whose ppf is exact.
    return None if isinstance(frequency.rate, Gamma) else frequency.rate


def _inverse(dist: Distribution, u: FloatArray) -> FloatArray:
    """Values of ``dist`` from uniforms ``u`` (order and stratification kept)."""
    if isinstance(dist, Scaled):
        return dist.factor * _inverse(dist.base, u)
    if isinstance(dist, Mixture):
        # Component j takes the uniforms in [lower[j], upper[j]): a partition of [0, 1).
        upper = np.cumsum([w for w, _ in dist.components])
        upper /= upper[-1]
        lower = np.concatenate([[0.0], upper[:-1]])
        which = np.minimum(np.searchsorted(upper, u, side="right"), upper.size - 1)
        width = upper[which] - lower[which]
        rest = np.clip((u - lower[which]) / width, 0.0, _BELOW_ONE)
        out = np.empty(u.size)
        for j, (_, component) in enumerate(dist.components):
            mask = which == j
            out[mask] = _inverse(component, rest[mask])
        return out
    return np.asarray(dist.ppf(u), dtype=float)


def _inexact(dist: Distribution) -> Distribution | None:
    """The (nested) distribution that has no exact quantile function, if any."""
    if isinstance(dist, Scaled):
        return _inexact(dist.base)
    if isinstance(dist, Mixture):
        for _, component in dist.components:
            bad = _inexact(component)
            if bad is not None:
                return bad
        return None
    if isinstance(dist, Poisson) and isinstance(dist.rate, Distribution):
        return _inexact(dist.rate)
    return None if dist.exact_ppf else dist


def check_sampling(sampling: object, scenarios: Iterable[Scenario] = ()) -> None:
    """Raise :class:`~riskbench.errors.ValidationError` unless ``sampling`` is one of
    ``SAMPLINGS`` and every scenario can be drawn with it."""
    if not isinstance(sampling, str) or sampling not in SAMPLINGS:
        allowed = ", ".join(repr(s) for s in SAMPLINGS)
        raise ValidationError([Issue("sampling", f"must be one of {allowed}, got {sampling!r}")])
    if sampling == "random":
        return
    issues = []
    for s in scenarios:
        for field in ("frequency", "severity"):
            dist: Distribution = getattr(s, field)
            bad = _inexact(dist)
            if bad is not None:
                issues.append(
                    Issue(
                        f"{s.id}.{field}",
                        f"sampling={sampling!r} draws by inverse transform, and "
                        f"{type(bad).__name__} ({bad.dist}) has no exact quantile function; "
                        f"allowed for this scenario: sampling='random'",
                    )
                )
    if issues:
        raise ValidationError(issues)

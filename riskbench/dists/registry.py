"""The card form of distributions: ``{dist: name, ...}`` to objects and back."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from riskbench.dists.base import Distribution, FloatArray
from riskbench.dists.counts import Bernoulli, NegativeBinomial, Poisson
from riskbench.dists.values import (
    PERT,
    Beta,
    Constant,
    Empirical,
    Gamma,
    LogNormal,
    Mixture,
    Normal,
    Triangular,
    Uniform,
)
from riskbench.errors import Issue, ValidationError

__all__ = ["as_distribution", "dist_from_dict", "quantile_grid", "registry"]


def registry() -> dict[str, type[Distribution]]:
    """The card names (``dist:`` values) and their classes."""
    classes: list[type[Distribution]] = [
        Poisson,
        Bernoulli,
        NegativeBinomial,
        LogNormal,
        PERT,
        Triangular,
        Uniform,
        Normal,
        Beta,
        Gamma,
        Constant,
        Empirical,
        Mixture,
    ]
    return {c.dist: c for c in classes}


def dist_from_dict(data: Mapping[str, Any] | Distribution, *, loc: str = "") -> Distribution:
    """Build a distribution from its card form, e.g. ``{"dist": "poisson", "rate": 0.3}``.

    Raises :class:`~riskbench.errors.ValidationError` with every problem, located
    under ``loc``.

    Examples
    --------
    >>> dist_from_dict({"dist": "pert", "low": 1, "mode": 2, "high": 9}).mean()
    3.0
    """
    if isinstance(data, Distribution):
        return data
    if not isinstance(data, Mapping):
        raise ValidationError([Issue(loc, f"must be a mapping with a 'dist' key, got {data!r}")])
    known = registry()
    name = data.get("dist")
    if name not in known:
        allowed = ", ".join(sorted(known))
        raise ValidationError(
            [Issue(_join(loc, "dist"), f"unknown distribution {name!r}; allowed: {allowed}")]
        )
    cls = known[str(name)]
    args = {k: v for k, v in data.items() if k != "dist"}
    try:
        return cls(**args)
    except ValidationError as err:
        raise err.within(loc) from None


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def as_distribution(value: Any, *, loc: str = "") -> Distribution:
    """A distribution from a Distribution, a card mapping, or a plain number (a constant)."""
    if isinstance(value, Distribution):
        return value
    if isinstance(value, Mapping):
        return dist_from_dict(value, loc=loc)
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return Constant(value=float(value))
    raise ValidationError([Issue(loc, f"must be a distribution, got {value!r}")])


def quantile_grid(d: Distribution, qs: Sequence[float]) -> FloatArray:
    """``d.ppf`` at several levels, as a float array (a convenience for reports)."""
    return d.ppf(np.asarray(qs, dtype=float))

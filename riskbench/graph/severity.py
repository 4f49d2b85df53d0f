"""The loss of an outage of uncertain length, as a value distribution (a severity).

The lost revenue is a non-decreasing function of the outage days, so it is
tabulated once (:meth:`DependencyGraph.outage_loss_distribution`) and the days
are mapped through the table by linear interpolation.
"""

from __future__ import annotations

from functools import cached_property
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
from numpy.typing import ArrayLike
from pydantic import Field, model_validator

from riskbench.dists import Distribution, FloatArray

__all__ = ["OutageLoss"]

_GRID = 2001  # quantiles of the days for mean, variance, cdf and ppf
_PAIR_GRID = 501  # per factor when an extra cost is added: 501 x 501 exact pairs


class OutageLoss(Distribution):
    """Lost revenue of an outage whose length in days is ``days``, plus ``extra_cost``.

    ``sample`` draws days and interpolates the loss table ``table_loss`` (at
    ``table_days``), extrapolating linearly beyond its last point; an
    independent ``extra_cost`` (e.g. recovery spend) is added. ``mean``, ``var``,
    ``cdf`` and ``ppf`` use the loss at 2,001 midpoint quantiles of the days
    (with an extra cost: all pairs of 501 quantiles of each).
    This is not a card distribution: it is built from a graph, not from YAML.

    Examples
    --------
    >>> loss = OutageLoss(days=rb.Constant(10), table_days=[0, 20], table_loss=[0, 2e6])
    >>> loss.mean()
    1000000.0
    """

    dist: ClassVar[str] = "outage_loss"
    exact_ppf: ClassVar[bool] = False  # ppf is tabulated at 2,001 quantiles
    days: Distribution
    table_days: tuple[float, ...] = Field(min_length=2)
    table_loss: tuple[float, ...] = Field(min_length=2)
    extra_cost: Distribution | None = None

    if TYPE_CHECKING:

        def __init__(
            self,
            *,
            days: Distribution,
            table_days: ArrayLike,
            table_loss: ArrayLike,
            extra_cost: Distribution | None = None,
        ) -> None: ...

    @model_validator(mode="before")
    @classmethod
    def _tuples(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for key in ("table_days", "table_loss"):
                if key in data and not isinstance(data[key], tuple):
                    data[key] = tuple(float(x) for x in np.asarray(data[key], dtype=float))
        return data

    @model_validator(mode="after")
    def _table_ok(self) -> OutageLoss:
        if len(self.table_days) != len(self.table_loss):
            raise ValueError(
                f"table_days and table_loss must have the same length, got "
                f"{len(self.table_days)} and {len(self.table_loss)}"
            )
        if np.any(np.diff(self.table_days) <= 0):
            raise ValueError("table_days must be strictly increasing")
        if np.any(np.diff(self.table_loss) < 0):
            raise ValueError("table_loss must be non-decreasing in the days")
        if self.days.kind != "value":
            raise ValueError(f"days must be a value distribution, got {self.days.dist}")
        return self

    def loss_at(self, days: ArrayLike) -> FloatArray:
        """The tabulated loss at ``days`` (linear in between and beyond the table)."""
        xs = np.asarray(self.table_days, dtype=float)
        ys = np.asarray(self.table_loss, dtype=float)
        d = np.asarray(days, dtype=float)
        slope = (ys[-1] - ys[-2]) / (xs[-1] - xs[-2])
        inside = np.interp(d, xs, ys)
        out: FloatArray = np.where(d > xs[-1], ys[-1] + slope * (d - xs[-1]), inside)
        return out

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        out = self.loss_at(self.days.sample(n, rng))
        if self.extra_cost is not None:
            out = out + self.extra_cost.sample(n, rng)
        return out

    @cached_property
    def _loss_grid(self) -> FloatArray:
        q = (np.arange(_GRID) + 0.5) / _GRID
        return np.sort(self.loss_at(self.days.ppf(q)))

    @cached_property
    def _grid(self) -> FloatArray:
        if self.extra_cost is None:
            return self._loss_grid
        q = (np.arange(_PAIR_GRID) + 0.5) / _PAIR_GRID
        pairs = self.loss_at(self.days.ppf(q))[:, None] + self.extra_cost.ppf(q)[None, :]
        return np.sort(pairs.ravel())

    def mean(self) -> float:
        extra = 0.0 if self.extra_cost is None else self.extra_cost.mean()
        return float(np.mean(self._loss_grid)) + extra

    def var(self) -> float:
        extra = 0.0 if self.extra_cost is None else self.extra_cost.var()
        return float(np.var(self._loss_grid)) + extra

    def cdf(self, x: ArrayLike) -> FloatArray:
        g = self._grid
        return np.searchsorted(g, np.asarray(x, dtype=float), side="right") / g.size

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        g = self._grid
        cum = np.concatenate([[0.0], np.cumsum(g)])
        return cum[np.searchsorted(g, np.asarray(x, dtype=float), side="right")] / g.size

    def ppf(self, q: ArrayLike) -> FloatArray:
        g = self._grid
        idx = np.ceil(np.asarray(q, dtype=float) * g.size).astype(np.int64) - 1
        out: FloatArray = g[np.clip(idx, 0, g.size - 1)]
        return out

    @property
    def support_min(self) -> float:
        low = float(self.loss_at(max(self.days.support_min, self.table_days[0])))
        return low + (0.0 if self.extra_cost is None else self.extra_cost.support_min)

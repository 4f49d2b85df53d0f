"""A mergeable quantile sketch with a relative-error guarantee (DDSketch-style).

A :class:`QuantileSketch` summarises a sample in logarithmic buckets. With
``gamma = (1 + alpha) / (1 - alpha)``, a positive value ``x`` falls in bucket
``i = ceil(log_gamma(x))``, which holds the values in ``(gamma**(i-1), gamma**i]``;
the bucket is read back as ``2 gamma**i / (gamma + 1)``, which is within
``alpha * x`` of every value in it. Zeros are counted apart (read back as 0),
negative values in a mirrored set of buckets, and the exact minimum and maximum are
kept: they are read back exactly, and every other read-back is clamped to them
(which only moves it closer).

Merging two sketches adds their bucket counts: exact, associative and commutative,
so a sketch of a run merged block by block is the sketch of the whole run, whatever
ran the blocks.

The guarantee
-------------
Let ``x_(1) <= ... <= x_(n)`` be the sample in order and, as in
:class:`riskbench.results.SimulationResult`, ``x_q = x_(r)`` with rank
``r = max(1, ceil(q * n))`` (the inverted cdf: the smallest x with F(x) >= q).
Then for every ``q`` in (0, 1)::

    |quantile(q) - x_q| <= alpha * |x_q|

The read-back is a non-decreasing map ``v(x)`` of each value with
``|v(x) - x| <= alpha * |x|``; the sketch answers every question as if the sample
were ``v(x_1), ..., v(x_n)``, so:

- ``tvar(q)``, a positive weighted average of the top order statistics, is within
  ``alpha * tvar(q)`` of the exact one for non-negative samples (losses);
- ``sf(x)``, P(X > x), lies between the exact P(X > x / (1 - alpha)) and
  P(X > x / (1 + alpha)) for x > 0: the exceedance curve is exact up to a relative
  shift of ``alpha`` along the loss axis.

Up to the floating-point rounding of ``log`` at a bucket's edge (a relative 1e-15).

Memory: one 8-byte count per bucket between the smallest and the largest bucket
seen; ``log(gamma) ~ 2 alpha``, so with the default ``alpha = 0.005`` there are about
230 buckets per factor of 10 between the smallest and largest non-zero value: 12
decades of losses take about 2,800 buckets, 22 KB. The counts are exact integers.

Examples
--------
>>> rng = np.random.default_rng(0)
>>> x = rng.lognormal(10, 2.5, 100_000)
>>> s = QuantileSketch.of(x)
>>> exact = float(np.sort(x)[98_999])  # rank ceil(0.99 * n)
>>> bool(abs(float(s.quantile(0.99)) - exact) <= 0.005 * exact)
True
>>> halves = QuantileSketch.of(x[:50_000])
>>> halves.merge(QuantileSketch.of(x[50_000:]))
>>> bool(halves == s)
True
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = ["DEFAULT_ALPHA", "QuantileSketch", "order_rank"]

DEFAULT_ALPHA = 0.005
FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def order_rank(q: ArrayLike, n: int) -> NDArray[np.intp]:
    """The 1-based rank of the ``q``-quantile of ``n`` values: ``max(1, ceil(q n))``.

    The same order statistic as ``SimulationResult.var`` (its ``1e-9`` keeps
    ``q * n`` that is a whole number up to rounding from going one rank up).
    """
    r = np.ceil(np.asarray(q, dtype=float) * n - 1e-9).astype(np.intp)
    return np.asarray(np.clip(r, 1, n), dtype=np.intp)


class _Buckets:
    """Counts of bucket indices ``offset, offset + 1, ...`` (dense, exact int64)."""

    __slots__ = ("counts", "offset")

    def __init__(self, offset: int = 0, counts: IntArray | None = None):
        self.offset = offset
        self.counts: IntArray = np.zeros(0, dtype=np.int64) if counts is None else counts

    @classmethod
    def of(cls, index: IntArray) -> _Buckets:
        if index.size == 0:
            return cls()
        lo = int(index.min())
        return cls(lo, np.bincount(index - lo).astype(np.int64, copy=False))

    def add(self, other: _Buckets) -> None:
        if other.counts.size == 0:
            return
        if self.counts.size == 0:
            self.offset, self.counts = other.offset, other.counts.copy()
            return
        lo = min(self.offset, other.offset)
        hi = max(self.offset + self.counts.size, other.offset + other.counts.size)
        if lo != self.offset or hi != self.offset + self.counts.size:
            grown = np.zeros(hi - lo, dtype=np.int64)
            grown[self.offset - lo : self.offset - lo + self.counts.size] = self.counts
            self.offset, self.counts = lo, grown
        start = other.offset - self.offset
        self.counts[start : start + other.counts.size] += other.counts

    def trimmed(self) -> tuple[IntArray, IntArray]:
        """The indices and counts of the non-empty buckets, ascending."""
        nz = np.flatnonzero(self.counts)
        return nz + self.offset, self.counts[nz]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, _Buckets):
            return NotImplemented
        a, b = self.trimmed(), other.trimmed()
        return bool(np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1]))

    __hash__ = None  # type: ignore[assignment]


class QuantileSketch:
    """A mergeable sketch of a sample's distribution with relative accuracy ``alpha``.

    Build one with :meth:`of`, combine with :meth:`merge`, read with
    :meth:`quantile`, :meth:`tvar` and :meth:`sf` (see the module docstring for the
    guarantee of each).

    Parameters
    ----------
    alpha
        Relative accuracy, strictly between 0 and 1 (default 0.005: every quantile
        within 0.5% of the exact sample quantile).
    """

    __slots__ = (
        "_inv_log_gamma",
        "_log_gamma",
        "alpha",
        "count",
        "high",
        "low",
        "neg",
        "pos",
        "zeros",
    )

    def __init__(self, alpha: float = DEFAULT_ALPHA):
        if not 0.0 < alpha < 1.0:
            raise ValueError(f"alpha must be strictly between 0 and 1, got {alpha!r}")
        self.alpha = float(alpha)
        self._log_gamma = math.log((1.0 + alpha) / (1.0 - alpha))
        self._inv_log_gamma = 1.0 / self._log_gamma
        self.count = 0
        self.zeros = 0
        self.pos = _Buckets()
        self.neg = _Buckets()  # indices of |x| for x < 0
        self.low = math.inf
        self.high = -math.inf

    @classmethod
    def of(cls, values: ArrayLike, alpha: float = DEFAULT_ALPHA) -> QuantileSketch:
        """The sketch of ``values`` (finite numbers)."""
        sketch = cls(alpha)
        x = np.asarray(values, dtype=float).ravel()
        if x.size == 0:
            return sketch
        if not np.isfinite(x).all():
            raise ValueError("a quantile sketch takes finite values only")
        sketch.count = int(x.size)
        sketch.low, sketch.high = float(x.min()), float(x.max())
        positive = x[x > 0]
        negative = x[x < 0]
        sketch.zeros = int(x.size - positive.size - negative.size)
        sketch.pos = _Buckets.of(sketch._index(positive))
        if negative.size:
            sketch.neg = _Buckets.of(sketch._index(-negative))
        return sketch

    def _index(self, magnitude: FloatArray) -> IntArray:
        return np.ceil(np.log(magnitude) * self._inv_log_gamma).astype(np.int64)

    def merge(self, other: QuantileSketch) -> None:
        """Add ``other``'s values to this sketch (exact: bucket counts add)."""
        if other.alpha != self.alpha:
            raise ValueError(
                f"cannot merge sketches of different accuracy: {self.alpha} and {other.alpha}"
            )
        self.count += other.count
        self.zeros += other.zeros
        self.pos.add(other.pos)
        self.neg.add(other.neg)
        self.low = min(self.low, other.low)
        self.high = max(self.high, other.high)

    # -- reading ------------------------------------------------------------------------
    def _table(self) -> tuple[FloatArray, IntArray]:
        """Read-back values (ascending, clamped to [low, high]) and their counts."""
        scale = 2.0 / (1.0 + math.exp(self._log_gamma))  # 2 / (gamma + 1)
        parts_v: list[FloatArray] = []
        parts_c: list[IntArray] = []
        if self.neg.counts.size:
            idx, cnt = self.neg.trimmed()
            parts_v.append(-np.exp(idx[::-1] * self._log_gamma) * scale)
            parts_c.append(cnt[::-1])
        if self.zeros:
            parts_v.append(np.zeros(1))
            parts_c.append(np.array([self.zeros], dtype=np.int64))
        if self.pos.counts.size:
            idx, cnt = self.pos.trimmed()
            parts_v.append(np.exp(idx * self._log_gamma) * scale)
            parts_c.append(cnt)
        if not parts_v:
            return np.zeros(0), np.zeros(0, dtype=np.int64)
        values = np.clip(np.concatenate(parts_v), self.low, self.high)
        counts = np.concatenate(parts_c)
        # The smallest and the largest value are known exactly: read them back as such.
        counts[0] -= 1
        counts[-1] -= 1
        values = np.concatenate([[self.low], values, [self.high]])
        counts = np.concatenate([[1], counts, [1]])
        if self.count == 1:
            values, counts = values[:1], counts[:1]
        keep = counts > 0
        return values[keep], counts[keep]

    def _check_nonempty(self) -> None:
        if self.count == 0:
            raise ValueError("the sketch is empty")

    def quantile(self, q: ArrayLike) -> Any:
        """The ``q``-quantile (a float for a scalar ``q``, else an array): within
        ``alpha`` (relative) of the exact sample quantile of rank ``max(1, ceil(q n))``."""
        self._check_nonempty()
        values, counts = self._table()
        cum = np.cumsum(counts)
        j = np.searchsorted(cum, order_rank(q, self.count), side="left")
        out = values[j]
        return float(out) if np.ndim(q) == 0 else np.asarray(out, dtype=float)

    def tvar(self, q: float) -> float:
        """Expected shortfall at ``q``: the mean of the worst ``1 - q`` of the sample,
        ``(sum of values above rank k + (k - q n) x_(k)) / (n (1 - q))``, k the rank of
        the ``q``-quantile, as ``SimulationResult.tvar`` computes it."""
        self._check_nonempty()
        n = self.count
        values, counts = self._table()
        cum = np.cumsum(counts)
        k = int(order_rank(q, n))
        j = int(np.searchsorted(cum, k, side="left"))
        var = float(values[j])
        above = float((cum[j] - k) * var + values[j + 1 :] @ counts[j + 1 :])
        return (above + (k - q * n) * var) / (n * (1 - q))

    def sf(self, x: ArrayLike) -> Any:
        """P(X > x) as the sketch sees it (see the module docstring for the bound)."""
        self._check_nonempty()
        values, counts = self._table()
        cum = np.concatenate([[0], np.cumsum(counts)])
        below = cum[np.searchsorted(values, np.asarray(x, dtype=float), side="right")]
        out = 1.0 - below / self.count
        return float(out) if np.ndim(x) == 0 else np.asarray(out, dtype=float)

    @property
    def nbytes(self) -> int:
        """Bytes held by the bucket counts."""
        return int(self.pos.counts.nbytes + self.neg.counts.nbytes)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, QuantileSketch):
            return NotImplemented
        return (
            self.alpha == other.alpha
            and self.count == other.count
            and self.zeros == other.zeros
            and (self.low, self.high) == (other.low, other.high)
            and self.pos == other.pos
            and self.neg == other.neg
        )

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return (
            f"<QuantileSketch alpha={self.alpha} n={self.count:,} "
            f"buckets={self.pos.counts.size + self.neg.counts.size:,}>"
        )

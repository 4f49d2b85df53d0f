"""Frequency distributions: the number of events in a year."""

from __future__ import annotations

import functools
import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from pydantic import Field, field_validator
from scipy import stats

from riskbench.dists.base import Distribution, FloatArray, IntArray, _as_array, _bad, _check_q, _fmt
from riskbench.dists.values import Gamma
from riskbench.errors import Issue, ValidationError

__all__ = ["Bernoulli", "Frequency", "NegativeBinomial", "Poisson"]

# Gauss-Legendre nodes for averaging over an uncertain Poisson rate, mapped to (0, 1).
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(96)
_GL_U = (_GL_NODES + 1.0) / 2.0
_GL_W = _GL_WEIGHTS / 2.0


class Frequency(Distribution):
    """A distribution of the number of events in a year."""

    kind: ClassVar[Literal["frequency", "value"]] = "frequency"

    @abstractmethod
    def pgf(self, z: NDArray[np.complex128]) -> NDArray[np.complex128]:
        """The probability generating function E[z**N]."""

    @abstractmethod
    def pmf(self, k: ArrayLike) -> FloatArray:
        """P(N = k)."""

    @property
    def support_min(self) -> float:
        return 0.0

    def max_count(self) -> float:
        """The largest count ``sample`` can return (inf when unbounded)."""
        return math.inf

    @abstractmethod
    def with_mean_scaled(self, factor: float) -> Frequency:
        """The same kind of count with its expected number of events times ``factor``
        (a stress shock, a mitigation)."""

    def _table(self, tail: float = 1e-13) -> FloatArray:
        """The cdf at 0, 1, 2, ... up to where it reaches ``1 - tail``."""
        hi = max(int(self._upper(tail)), 1)
        return np.cumsum(self.pmf(np.arange(hi + 1)))

    def _upper(self, tail: float) -> float:
        m, s = self.mean(), self.sd()
        guess = m + 12 * s + 20
        while float(np.sum(self.pmf(np.arange(int(guess) + 1)))) < 1 - tail:
            guess *= 2
        return guess

    def cdf(self, x: ArrayLike) -> FloatArray:
        arr = _as_array(x)
        table = self._table()
        k = np.floor(arr)
        idx = np.clip(k, 0, table.size - 1).astype(np.int64)
        return np.where(k < 0, 0.0, np.where(k >= table.size, 1.0, table[idx]))

    def ppf(self, q: ArrayLike) -> FloatArray:
        table = self._table()
        qs = _check_q(q)
        # Tolerance: a q equal to a cdf value up to rounding must give that k.
        return np.searchsorted(table, qs - 1e-12, side="left").astype(float)


_MAX_TABLE = 1 << 20


@functools.lru_cache(maxsize=256)
def _count_table(family: str, params: tuple[float, ...]) -> FloatArray | None:
    """The cdf of a count distribution at 0, 1, 2, ..., ending at exactly 1.

    Counts are drawn by inverse transform from this table: one uniform and a
    binary search per year, about twice as fast as ``Generator.poisson``, and
    monotone in the rate for the same uniforms (common random numbers). ``None``
    when the table would be too long (very high rates), to fall back on numpy.
    """
    frozen = stats.poisson(*params) if family == "poisson" else stats.nbinom(*params)
    mean, sd = float(frozen.mean()), float(frozen.std())
    top = int(mean + 40 * sd + 40)
    if top > _MAX_TABLE:
        return None
    table = np.asarray(frozen.cdf(np.arange(top + 1)), dtype=float)
    table[-1] = 1.0  # what lies beyond (< 1e-300) joins the last count
    table.flags.writeable = False
    return table


def _inverse_counts(table: FloatArray, rng: np.random.Generator, n: int) -> IntArray:
    # The count is the number of cdf values <= u: the smallest k with F(k) > u.
    u = rng.random(n)
    if table[0] < 0.5:
        return np.searchsorted(table, u, side="right").astype(np.int64)
    # Mostly quiet years (a rare scenario): search only where u passes F(0).
    counts = np.zeros(n, dtype=np.int64)
    hit = np.flatnonzero(u >= table[0])
    counts[hit] = np.searchsorted(table, u[hit], side="right")
    return counts


class Poisson(Frequency):
    """Poisson number of events a year; ``rate`` is a number or itself a distribution.

    With ``rate=Gamma(shape, rate)`` the count is negative binomial: the rate is
    uncertain, as a calibration's posterior predictive is.

    Examples
    --------
    >>> Poisson(rate=Gamma(9, 5)).mean()
    1.8
    """

    dist: ClassVar[str] = "poisson"
    positional: ClassVar[tuple[str, ...]] = ("rate",)
    rate: float | Distribution

    if TYPE_CHECKING:

        def __init__(self, rate: float | Distribution | Mapping[str, Any]) -> None: ...

    @field_validator("rate", mode="before")
    @classmethod
    def _rate_dist(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
            from riskbench.dists.registry import dist_from_dict

            return dist_from_dict(v)
        return v

    @field_validator("rate")
    @classmethod
    def _rate_ok(cls, v: float | Distribution) -> float | Distribution:
        if isinstance(v, Distribution):
            if v.kind != "value" or v.support_min < 0:
                raise _bad(
                    "an uncertain rate must be a non-negative value distribution "
                    "(gamma, lognormal, pert, ...), got {d}",
                    d=v.dist,
                )
        elif v < 0:
            raise _bad("must be >= 0 (events per year), got {v}", v=_fmt(v))
        return v

    def with_mean_scaled(self, factor: float) -> Poisson:
        rate = self.rate
        if isinstance(rate, Gamma):  # stays a Gamma: the count stays negative binomial
            return Poisson(rate=Gamma(shape=rate.shape, rate=rate.rate / factor))
        if isinstance(rate, Distribution):
            return Poisson(rate=rate.scaled(factor))
        return Poisson(rate=factor * rate)

    def max_count(self) -> float:
        if isinstance(self.rate, Distribution):
            return math.inf
        table = _count_table("poisson", (float(self.rate),))
        return math.inf if table is None else float(table.size - 1)

    def sample(self, n: int, rng: np.random.Generator) -> IntArray:
        if isinstance(self.rate, Distribution):
            return rng.poisson(self.rate.sample(n, rng))
        table = _count_table("poisson", (float(self.rate),))
        if table is None:
            return rng.poisson(self.rate, n)
        return _inverse_counts(table, rng, n)

    def mean(self) -> float:
        return self.rate.mean() if isinstance(self.rate, Distribution) else float(self.rate)

    def var(self) -> float:
        if isinstance(self.rate, Distribution):
            return self.rate.mean() + self.rate.var()
        return float(self.rate)

    @property
    def _negbin(self) -> NegativeBinomial | None:
        if isinstance(self.rate, Gamma):
            return NegativeBinomial(r=self.rate.shape, p=self.rate.rate / (1 + self.rate.rate))
        return None

    def _rate_nodes(self) -> FloatArray:
        assert isinstance(self.rate, Distribution)
        return self.rate.ppf(_GL_U)

    def pmf(self, k: ArrayLike) -> FloatArray:
        ks = _as_array(k)
        nb = self._negbin
        if nb is not None:
            return nb.pmf(ks)
        if isinstance(self.rate, Distribution):
            lam = self._rate_nodes()
            return np.asarray(stats.poisson.pmf(ks[..., None], lam) @ _GL_W, dtype=float)
        return np.asarray(stats.poisson.pmf(ks, self.rate), dtype=float)

    def pgf(self, z: NDArray[np.complex128]) -> NDArray[np.complex128]:
        nb = self._negbin
        if nb is not None:
            return nb.pgf(z)
        if isinstance(self.rate, Distribution):
            lam = self._rate_nodes()
            out = np.zeros_like(z)
            for w, lm in zip(_GL_W, lam, strict=True):
                out += w * np.exp(lm * (z - 1))
            return out
        return np.exp(self.rate * (z - 1))


class Bernoulli(Frequency):
    """At most one event a year, with probability ``p``."""

    dist: ClassVar[str] = "bernoulli"
    positional: ClassVar[tuple[str, ...]] = ("p",)
    p: float

    if TYPE_CHECKING:

        def __init__(self, p: float) -> None: ...

    @field_validator("p")
    @classmethod
    def _p_ok(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise _bad("must be a probability in [0, 1] (a fraction, 0.05 not 5), got {v}", v=v)
        return v

    def max_count(self) -> float:
        return 1.0

    def with_mean_scaled(self, factor: float) -> Bernoulli:
        p = factor * self.p
        if p > 1:
            raise ValidationError(
                [
                    Issue(
                        "factor",
                        f"factor {_fmt(factor)} x p {_fmt(self.p)} = {p:.4g} exceeds 1; "
                        f"allowed: factor <= {1 / self.p:.4g}",
                    )
                ]
            )
        return Bernoulli(p=p)

    def sample(self, n: int, rng: np.random.Generator) -> IntArray:
        return (rng.random(n) < self.p).astype(np.int64)

    def mean(self) -> float:
        return self.p

    def var(self) -> float:
        return self.p * (1 - self.p)

    def pmf(self, k: ArrayLike) -> FloatArray:
        ks = _as_array(k)
        return np.where(ks == 0, 1 - self.p, np.where(ks == 1, self.p, 0.0))

    def pgf(self, z: NDArray[np.complex128]) -> NDArray[np.complex128]:
        return (1 - self.p) + self.p * z


class NegativeBinomial(Frequency):
    """Negative binomial count (scipy's ``nbinom(r, p)``): mean r(1-p)/p, over-dispersed."""

    dist: ClassVar[str] = "negative_binomial"
    positional: ClassVar[tuple[str, ...]] = ("r", "p")
    r: float = Field(gt=0)
    p: float

    if TYPE_CHECKING:

        def __init__(self, r: float, p: float) -> None: ...

    @field_validator("p")
    @classmethod
    def _p_ok(cls, v: float) -> float:
        if not 0 < v <= 1:
            raise _bad("must be a probability in (0, 1], got {v}", v=v)
        return v

    @classmethod
    def from_mean_dispersion(cls, mean: float, dispersion: float) -> NegativeBinomial:
        """Mean ``mean`` and variance ``mean + mean**2 / dispersion``."""
        return cls(r=dispersion, p=dispersion / (dispersion + mean))

    def with_mean_scaled(self, factor: float) -> NegativeBinomial:
        return NegativeBinomial.from_mean_dispersion(factor * self.mean(), self.r)

    def max_count(self) -> float:
        table = _count_table("nbinom", (float(self.r), float(self.p)))
        return math.inf if table is None else float(table.size - 1)

    def sample(self, n: int, rng: np.random.Generator) -> IntArray:
        table = _count_table("nbinom", (float(self.r), float(self.p)))
        if table is None:
            return rng.negative_binomial(self.r, self.p, n)
        return _inverse_counts(table, rng, n)

    def mean(self) -> float:
        return self.r * (1 - self.p) / self.p

    def var(self) -> float:
        return self.r * (1 - self.p) / self.p**2

    def pmf(self, k: ArrayLike) -> FloatArray:
        return np.asarray(stats.nbinom.pmf(_as_array(k), self.r, self.p), dtype=float)

    def pgf(self, z: NDArray[np.complex128]) -> NDArray[np.complex128]:
        return (self.p / (1 - (1 - self.p) * z)) ** self.r


# ---------------------------------------------------------------------- card parsing

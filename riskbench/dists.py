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

from __future__ import annotations

import contextvars
import functools
import math
from abc import abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Literal

import numpy as np
import pydantic
from numpy.typing import ArrayLike, NDArray
from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError
from scipy import special, stats

from riskbench.errors import Issue, ValidationError

__all__ = [
    "PERT",
    "Bernoulli",
    "Beta",
    "Constant",
    "Distribution",
    "Empirical",
    "Gamma",
    "LogNormal",
    "Mixture",
    "NegativeBinomial",
    "Normal",
    "Poisson",
    "Triangular",
    "Uniform",
    "dist_from_dict",
    "registry",
]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

# Gauss-Legendre nodes for averaging over an uncertain Poisson rate, mapped to (0, 1).
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(96)
_GL_U = (_GL_NODES + 1.0) / 2.0
_GL_W = _GL_WEIGHTS / 2.0


def _bad(message: str, **ctx: Any) -> PydanticCustomError:
    return PydanticCustomError("riskbench", message, ctx)


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return repr(value)


_NESTED: contextvars.ContextVar[bool] = contextvars.ContextVar("riskbench_nested", default=False)


def init_model(model: pydantic.BaseModel, data: dict[str, Any]) -> None:
    """Run pydantic's validation of ``model``, raising the project's ValidationError.

    Inside another model's validation (a nested model), pydantic's own error is
    re-raised instead, so that pydantic places it at the right location.
    """
    outer = not _NESTED.get()
    token = _NESTED.set(True)
    try:
        pydantic.BaseModel.__init__(model, **data)
    except pydantic.ValidationError as err:
        if not outer:
            raise
        raise ValidationError(_issues_from_pydantic(err)) from None
    finally:
        _NESTED.reset(token)


def _issues_from_pydantic(err: pydantic.ValidationError) -> list[Issue]:
    issues = []
    for e in err.errors(include_url=False):
        loc = ""
        for part in e["loc"]:
            if isinstance(part, int):
                loc += f"[{part}]"
            elif part != "__root__":
                loc += f".{part}" if loc else str(part)
        message = e["msg"]
        if e["type"] in ("finite_number", "float_parsing", "float_type", "int_type"):
            message = f"must be a finite number, got {e['input']!r}"
        elif e["type"] == "extra_forbidden":
            message = "is not a known key"
        elif e["type"] == "missing":
            message = "is required"
        elif e["type"] == "riskbench":
            message = e["msg"]
            field = (e.get("ctx") or {}).get("field")
            if field:
                loc = f"{loc}.{field}" if loc else str(field)
        elif e["type"] == "value_error":
            message = str((e.get("ctx") or {}).get("error", message))
        elif "input" in e and not isinstance(e["input"], Mapping):
            message = f"{message}, got {e['input']!r}"
        issues.append(Issue(loc, message))
    return issues


class Distribution(pydantic.BaseModel):
    """Base of all distributions: immutable, validated, picklable.

    Subclasses set ``dist`` (the card name), ``positional`` (the order of
    positional constructor arguments) and ``kind`` ("frequency" or "value").
    """

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    dist: ClassVar[str]
    positional: ClassVar[tuple[str, ...]] = ()
    kind: ClassVar[Literal["frequency", "value"]] = "value"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if len(args) > len(self.positional):
            raise ValidationError(
                f"{type(self).__name__} takes at most {len(self.positional)} positional "
                f"arguments ({', '.join(self.positional)}), got {len(args)}"
            )
        for name, value in zip(self.positional, args, strict=False):
            if name in kwargs:
                raise ValidationError(f"{type(self).__name__}: {name} given twice")
            kwargs[name] = value
        init_model(self, kwargs)

    # -- the interface ---------------------------------------------------------
    @abstractmethod
    def sample(self, n: int, rng: np.random.Generator) -> NDArray[Any]:
        """Draw ``n`` independent values using the generator ``rng``."""

    @abstractmethod
    def mean(self) -> float:
        """The expected value."""

    @abstractmethod
    def var(self) -> float:
        """The variance."""

    @abstractmethod
    def cdf(self, x: ArrayLike) -> FloatArray:
        """P(X <= x)."""

    @abstractmethod
    def ppf(self, q: ArrayLike) -> FloatArray:
        """The quantile function: the smallest x with P(X <= x) >= q."""

    @property
    @abstractmethod
    def support_min(self) -> float:
        """The smallest value the distribution can take (-inf if unbounded)."""

    def sd(self) -> float:
        """The standard deviation."""
        return math.sqrt(self.var())

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        """E[X; X <= x], the part of the mean from values up to ``x``."""
        raise NotImplementedError(f"{type(self).__name__} has no partial mean")

    def limited_mean(self, x: ArrayLike) -> FloatArray:
        """E[min(X, x)], the limited expected value at ``x``."""
        xs = _as_array(x)
        return self.partial_mean(xs) + xs * (1.0 - self.cdf(xs))

    def stop_loss(self, x: ArrayLike) -> FloatArray:
        """E[max(X - x, 0)], the expected excess over ``x`` (what a stop-loss pays).

        Computed from the upper tail where the distribution allows, so it stays
        accurate far out in the tail, where ``mean - limited_mean`` would cancel.
        """
        xs = _as_array(x)
        return np.maximum(self.mean() - self.limited_mean(xs), 0.0)

    def prob_exceeds(self, x: ArrayLike) -> FloatArray:
        """P(X > x)."""
        return 1.0 - self.cdf(x)

    def scaled(self, factor: float) -> Distribution:
        """The distribution of ``factor * X`` (for value distributions)."""
        return Scaled(base=self, factor=factor)

    def to_dict(self) -> dict[str, Any]:
        """The card form: ``dist`` and exactly the keys that were given."""
        out: dict[str, Any] = {"dist": self.dist}
        for name in type(self).model_fields:
            if name in self.model_fields_set:
                out[name] = _dump(getattr(self, name))
        return out

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "dist")
        return f"{type(self).__name__}({args})"

    __str__ = __repr__

    # quantiles by inverse transform, for common random numbers
    def sample_from_uniform(self, u: FloatArray) -> NDArray[Any]:
        """Values at the uniforms ``u`` (inverse transform; used for common random numbers)."""
        return self.ppf(u)


def _dump(value: Any) -> Any:
    if isinstance(value, Distribution):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_dump(v) for v in value]
    return value


def _as_array(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=float)


def _check_q(q: ArrayLike) -> FloatArray:
    arr = _as_array(q)
    if np.any((arr < 0) | (arr > 1) | np.isnan(arr)):
        raise ValidationError([Issue("q", f"quantile levels must lie in [0, 1], got {q!r}")])
    return arr


# ----------------------------------------------------------------------------- values
class _ScipyBacked(Distribution):
    """A value distribution whose cdf/ppf come from a frozen scipy distribution."""

    @property
    def _frozen(self) -> Any:
        raise NotImplementedError

    def cdf(self, x: ArrayLike) -> FloatArray:
        return np.asarray(self._frozen.cdf(_as_array(x)), dtype=float)

    def ppf(self, q: ArrayLike) -> FloatArray:
        return np.asarray(self._frozen.ppf(_check_q(q)), dtype=float)

    def mean(self) -> float:
        return float(self._frozen.mean())

    def var(self) -> float:
        return float(self._frozen.var())


class LogNormal(_ScipyBacked):
    """Log-normal: ``log X ~ Normal(mu, sigma)``.

    Give either ``mu`` and ``sigma`` or an expert's interval ``low``, ``high``
    (the ``(1 - conf) / 2`` and ``(1 + conf) / 2`` quantiles, ``conf=0.9`` by default).

    Examples
    --------
    >>> d = LogNormal.from_ci(100_000, 1_000_000, conf=0.9)
    >>> round(d.mu, 4), round(d.sigma, 4)
    (12.6642, 0.6999)
    """

    dist: ClassVar[str] = "lognormal"
    positional: ClassVar[tuple[str, ...]] = ("mu", "sigma")

    mu: float | None = None
    sigma: float | None = Field(default=None, gt=0)
    low: float | None = Field(default=None, gt=0)
    high: float | None = None
    conf: float | None = None

    @model_validator(mode="after")
    def _one_parametrisation(self) -> LogNormal:
        given = self.model_fields_set
        by_moments = bool(given & {"mu", "sigma"})
        by_ci = bool(given & {"low", "high", "conf"})
        if by_moments and by_ci:
            raise _bad("give either mu and sigma or low, high (and conf), not both")
        if by_moments and (self.mu is None or self.sigma is None):
            raise _bad("give both mu and sigma")
        if not by_moments:
            missing = [k for k in ("low", "high") if getattr(self, k) is None]
            if missing:
                raise _bad(" and ".join(missing) + " required (or give mu and sigma)")
            assert self.low is not None
            assert self.high is not None
            conf = 0.9 if self.conf is None else self.conf
            z = float(special.ndtri((1 + conf) / 2))
            lo, hi = math.log(self.low), math.log(self.high)
            # Fitted parameters are stored but not marked as given, so to_dict()
            # gives back the card's low/high/conf.
            object.__setattr__(self, "mu", (lo + hi) / 2)
            object.__setattr__(self, "sigma", (hi - lo) / (2 * z))
        return self

    @field_validator("high")
    @classmethod
    def _high_above_low(cls, v: float | None, info: pydantic.ValidationInfo) -> float | None:
        low = info.data.get("low")
        if v is not None and low is not None and not v > low:
            raise _bad("must be greater than low ({low}), got {high}", low=_fmt(low), high=_fmt(v))
        return v

    @field_validator("conf")
    @classmethod
    def _conf_open_unit(cls, v: float | None) -> float | None:
        if v is not None and not 0 < v < 1:
            raise _bad("must lie strictly between 0 and 1 (a fraction, 0.9 not 90), got {v}", v=v)
        return v

    @classmethod
    def from_ci(cls, low: float, high: float, conf: float = 0.90) -> LogNormal:
        """The log-normal with ``low`` and ``high`` at the central ``conf`` interval."""
        return cls(low=low, high=high, conf=conf)

    @property
    def _params(self) -> tuple[float, float]:
        assert self.mu is not None
        assert self.sigma is not None
        return self.mu, self.sigma

    @property
    def _frozen(self) -> Any:
        mu, sigma = self._params
        return stats.lognorm(s=sigma, scale=math.exp(mu))

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        mu, sigma = self._params
        # Standard normals then one vectorised exp: ~1.5x faster than rng.lognormal.
        z = rng.standard_normal(n)
        z *= sigma
        z += mu
        return np.exp(z, out=z)

    def mean(self) -> float:
        mu, sigma = self._params
        return math.exp(mu + sigma**2 / 2)

    def var(self) -> float:
        mu, sigma = self._params
        return math.expm1(sigma**2) * math.exp(2 * mu + sigma**2)

    def ppf(self, q: ArrayLike) -> FloatArray:
        mu, sigma = self._params
        return np.asarray(np.exp(mu + sigma * special.ndtri(_check_q(q))), dtype=float)

    def cdf(self, x: ArrayLike) -> FloatArray:
        mu, sigma = self._params
        arr = _as_array(x)
        with np.errstate(divide="ignore"):
            z = (np.log(np.where(arr > 0, arr, np.nan)) - mu) / sigma
        return np.where(arr > 0, special.ndtr(z), 0.0)

    @property
    def support_min(self) -> float:
        return 0.0

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        mu, sigma = self._params
        arr = _as_array(x)
        with np.errstate(divide="ignore"):
            z = (np.log(np.where(arr > 0, arr, np.nan)) - mu - sigma**2) / sigma
        return np.where(arr > 0, self.mean() * special.ndtr(z), 0.0)

    def stop_loss(self, x: ArrayLike) -> FloatArray:
        mu, sigma = self._params
        arr = _as_array(x)
        with np.errstate(divide="ignore"):
            log_x = np.log(np.where(arr > 0, arr, np.nan))
        upper = self.mean() * special.ndtr((mu + sigma**2 - log_x) / sigma)
        tail = special.ndtr((mu - log_x) / sigma)
        return np.where(arr > 0, np.maximum(upper - arr * tail, 0.0), self.mean() - arr)


class _LowModeHigh(_ScipyBacked):
    positional: ClassVar[tuple[str, ...]] = ("low", "mode", "high")
    low: float
    mode: float
    high: float

    @field_validator("high")
    @classmethod
    def _high_above_low(cls, v: float, info: pydantic.ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and not v > low:
            raise _bad("must be greater than low ({low}), got {high}", low=_fmt(low), high=_fmt(v))
        return v

    @model_validator(mode="after")
    def _mode_inside(self) -> _LowModeHigh:
        if not self.low <= self.mode <= self.high:
            raise _bad(
                "must lie in [low, high] = [{low}, {high}], got {mode}",
                low=_fmt(self.low),
                high=_fmt(self.high),
                mode=_fmt(self.mode),
                field="mode",
            )
        return self

    @property
    def support_min(self) -> float:
        return self.low


class PERT(_LowModeHigh):
    """The modified PERT: a Beta on [low, high] with mean (low + gamma*mode + high)/(gamma + 2).

    Examples
    --------
    >>> PERT(100, 200, 600).mean()
    250.0
    """

    dist: ClassVar[str] = "pert"
    positional: ClassVar[tuple[str, ...]] = ("low", "mode", "high", "gamma")
    gamma: float = Field(default=4.0, gt=0)

    @property
    def _ab(self) -> tuple[float, float]:
        span = self.high - self.low
        a = 1 + self.gamma * (self.mode - self.low) / span
        b = 1 + self.gamma * (self.high - self.mode) / span
        return a, b

    @property
    def _frozen(self) -> Any:
        a, b = self._ab
        return stats.beta(a, b, loc=self.low, scale=self.high - self.low)

    def mean(self) -> float:
        return (self.low + self.gamma * self.mode + self.high) / (self.gamma + 2)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        a, b = self._ab
        return self.low + (self.high - self.low) * rng.beta(a, b, n)

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        a, b = self._ab
        span = self.high - self.low
        z = np.clip((_as_array(x) - self.low) / span, 0.0, 1.0)
        body = self.low * special.betainc(a, b, z)
        return np.asarray(body + span * a / (a + b) * special.betainc(a + 1, b, z), dtype=float)


class Triangular(_LowModeHigh):
    """Triangular on [low, high] with its peak at ``mode``."""

    dist: ClassVar[str] = "triangular"

    @property
    def _frozen(self) -> Any:
        span = self.high - self.low
        return stats.triang((self.mode - self.low) / span, loc=self.low, scale=span)

    def mean(self) -> float:
        return (self.low + self.mode + self.high) / 3

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        return rng.triangular(self.low, self.mode, self.high, n)

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        a, c, b = self.low, self.mode, self.high
        t = np.clip(_as_array(x), a, b)
        # density 2(t-a)/((b-a)(c-a)) up to the mode, 2(b-t)/((b-a)(b-c)) after it
        left = np.minimum(t, c)
        lower: FloatArray | float = 0.0
        if c > a:
            k = 2 / ((b - a) * (c - a))
            lower = k * ((left**3 - a**3) / 3 - a * (left**2 - a**2) / 2)
        right = np.maximum(t, c)
        upper: FloatArray | float = 0.0
        if b > c:
            k = 2 / ((b - a) * (b - c))
            upper = k * (b * (right**2 - c**2) / 2 - (right**3 - c**3) / 3)
        return np.asarray(lower + upper, dtype=float)


class Uniform(_ScipyBacked):
    """Uniform on [low, high]."""

    dist: ClassVar[str] = "uniform"
    positional: ClassVar[tuple[str, ...]] = ("low", "high")
    low: float
    high: float

    @field_validator("high")
    @classmethod
    def _high_above_low(cls, v: float, info: pydantic.ValidationInfo) -> float:
        low = info.data.get("low")
        if low is not None and not v > low:
            raise _bad("must be greater than low ({low}), got {high}", low=_fmt(low), high=_fmt(v))
        return v

    @property
    def _frozen(self) -> Any:
        return stats.uniform(loc=self.low, scale=self.high - self.low)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        return rng.uniform(self.low, self.high, n)

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        t = np.clip(_as_array(x), self.low, self.high)
        return (t**2 - self.low**2) / (2 * (self.high - self.low))

    @property
    def support_min(self) -> float:
        return self.low


class Normal(_ScipyBacked):
    """Normal with mean ``mean`` and standard deviation ``sd``."""

    dist: ClassVar[str] = "normal"
    positional: ClassVar[tuple[str, ...]] = ("mean", "sd")
    mean_: float = Field(alias="mean")
    sd_: float = Field(alias="sd", gt=0)
    model_config = ConfigDict(populate_by_name=True)

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, "mean": self.mean_, "sd": self.sd_}

    @property
    def _frozen(self) -> Any:
        return stats.norm(self.mean_, self.sd_)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        return rng.normal(self.mean_, self.sd_, n)

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        z = (_as_array(x) - self.mean_) / self.sd_
        density = np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
        return np.asarray(self.mean_ * special.ndtr(z) - self.sd_ * density, dtype=float)

    def stop_loss(self, x: ArrayLike) -> FloatArray:
        arr = _as_array(x)
        z = (arr - self.mean_) / self.sd_
        density = np.exp(-(z**2) / 2) / math.sqrt(2 * math.pi)
        return np.asarray((self.mean_ - arr) * special.ndtr(-z) + self.sd_ * density, dtype=float)

    def mean(self) -> float:
        return self.mean_

    def var(self) -> float:
        return self.sd_**2

    @property
    def support_min(self) -> float:
        return -math.inf


class Beta(_ScipyBacked):
    """Beta(a, b) on [0, 1]: a probability or a fraction."""

    dist: ClassVar[str] = "beta"
    positional: ClassVar[tuple[str, ...]] = ("a", "b")
    a: float = Field(gt=0)
    b: float = Field(gt=0)

    @property
    def _frozen(self) -> Any:
        return stats.beta(self.a, self.b)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        return rng.beta(self.a, self.b, n)

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        z = np.clip(_as_array(x), 0.0, 1.0)
        return np.asarray(self.a / (self.a + self.b) * special.betainc(self.a + 1, self.b, z))

    @property
    def support_min(self) -> float:
        return 0.0


class Gamma(_ScipyBacked):
    """Gamma with ``shape`` and ``rate`` (mean shape/rate); e.g. an uncertain event rate."""

    dist: ClassVar[str] = "gamma"
    positional: ClassVar[tuple[str, ...]] = ("shape", "rate")
    shape: float = Field(gt=0)
    rate: float = Field(gt=0)

    @property
    def _frozen(self) -> Any:
        return stats.gamma(self.shape, scale=1 / self.rate)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        return rng.gamma(self.shape, 1 / self.rate, n)

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        z = np.maximum(_as_array(x), 0.0) * self.rate
        return np.asarray(self.mean() * special.gammainc(self.shape + 1, z), dtype=float)

    def stop_loss(self, x: ArrayLike) -> FloatArray:
        arr = np.maximum(_as_array(x), 0.0)
        z = arr * self.rate
        upper = self.mean() * special.gammaincc(self.shape + 1, z)
        return np.asarray(np.maximum(upper - arr * special.gammaincc(self.shape, z), 0.0))

    def mean(self) -> float:
        return self.shape / self.rate

    def var(self) -> float:
        return self.shape / self.rate**2

    @property
    def support_min(self) -> float:
        return 0.0


class Constant(Distribution):
    """A fixed value."""

    dist: ClassVar[str] = "constant"
    positional: ClassVar[tuple[str, ...]] = ("value",)
    value: float

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        return np.full(n, self.value)

    def mean(self) -> float:
        return self.value

    def var(self) -> float:
        return 0.0

    def cdf(self, x: ArrayLike) -> FloatArray:
        return (_as_array(x) >= self.value).astype(float)

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        return self.value * self.cdf(x)

    def ppf(self, q: ArrayLike) -> FloatArray:
        return np.full_like(_check_q(q), self.value)

    @property
    def support_min(self) -> float:
        return self.value


class Empirical(Distribution):
    """The empirical distribution of observed ``values`` (each equally likely)."""

    dist: ClassVar[str] = "empirical"
    positional: ClassVar[tuple[str, ...]] = ("values",)
    values: tuple[float, ...] = Field(min_length=1)

    @field_validator("values", mode="before")
    @classmethod
    def _to_tuple(cls, v: Any) -> Any:
        if isinstance(v, np.ndarray):
            return tuple(float(x) for x in v.ravel())
        if isinstance(v, list):
            return tuple(v)
        return v

    @property
    def _sorted(self) -> FloatArray:
        return np.sort(np.asarray(self.values, dtype=float))

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        arr = np.asarray(self.values, dtype=float)
        return arr[rng.integers(0, arr.size, n)]

    def mean(self) -> float:
        return float(np.mean(self.values))

    def var(self) -> float:
        return float(np.var(self.values))

    def cdf(self, x: ArrayLike) -> FloatArray:
        s = self._sorted
        return np.searchsorted(s, _as_array(x), side="right") / s.size

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        s = self._sorted
        cum = np.concatenate([[0.0], np.cumsum(s)])
        return cum[np.searchsorted(s, _as_array(x), side="right")] / s.size

    def ppf(self, q: ArrayLike) -> FloatArray:
        s = self._sorted
        idx = np.ceil(_check_q(q) * s.size).astype(np.int64) - 1
        return s[np.clip(idx, 0, s.size - 1)]

    @property
    def support_min(self) -> float:
        return float(min(self.values))

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, "values": list(self.values)}


class Mixture(Distribution):
    """A mixture: with probability ``w_i`` a draw comes from ``dist_i``.

    ``components`` is a list of ``(weight, distribution)`` pairs whose weights sum to 1.

    Examples
    --------
    >>> m = Mixture([(0.8, Constant(10)), (0.2, Constant(60))])
    >>> m.mean()
    20.0
    """

    dist: ClassVar[str] = "mixture"
    positional: ClassVar[tuple[str, ...]] = ("components",)
    components: tuple[tuple[float, Distribution], ...] = Field(min_length=1)

    @field_validator("components", mode="before")
    @classmethod
    def _pairs(cls, v: Any) -> Any:
        if not isinstance(v, list | tuple):
            return v
        out = []
        for i, item in enumerate(v):
            if isinstance(item, Mapping):
                item = (item.get("weight"), item.get("dist"))
            if not isinstance(item, list | tuple) or len(item) != 2:
                raise _bad("component {i} must be a pair [weight, distribution]", i=i)
            weight, dist = item
            if isinstance(dist, Mapping):
                dist = dist_from_dict(dist)
            out.append((weight, dist))
        return tuple(out)

    @field_validator("components")
    @classmethod
    def _weights(
        cls, v: tuple[tuple[float, Distribution], ...]
    ) -> tuple[tuple[float, Distribution], ...]:
        weights = [w for w, _ in v]
        if any(not 0 < w <= 1 for w in weights):
            raise _bad("weights must lie in (0, 1], got {w}", w=weights)
        if abs(sum(weights) - 1) > 1e-9:
            raise _bad("weights must sum to 1, got {w} (sum {s})", w=weights, s=sum(weights))
        for _, d in v:
            if d.kind != "value":
                raise _bad("components must be value distributions, got {d}", d=d.dist)
        return v

    @property
    def _w(self) -> FloatArray:
        return np.array([w for w, _ in self.components])

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        which = rng.choice(len(self.components), size=n, p=self._w)
        out = np.empty(n)
        for j, (_, d) in enumerate(self.components):
            mask = which == j
            out[mask] = d.sample(int(mask.sum()), rng)
        return out

    def mean(self) -> float:
        return float(sum(w * d.mean() for w, d in self.components))

    def var(self) -> float:
        second = sum(w * (d.var() + d.mean() ** 2) for w, d in self.components)
        return float(second - self.mean() ** 2)

    def cdf(self, x: ArrayLike) -> FloatArray:
        arr = _as_array(x)
        return sum((w * d.cdf(arr) for w, d in self.components), np.zeros_like(arr))

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        arr = _as_array(x)
        return sum((w * d.partial_mean(arr) for w, d in self.components), np.zeros_like(arr))

    def stop_loss(self, x: ArrayLike) -> FloatArray:
        arr = _as_array(x)
        return sum((w * d.stop_loss(arr) for w, d in self.components), np.zeros_like(arr))

    def ppf(self, q: ArrayLike) -> FloatArray:
        qs = np.atleast_1d(_check_q(q))
        # A cdf table on a grid of the components' quantiles brackets each answer;
        # regula falsi (Illinois) then closes the bracket in a few cdf evaluations,
        # and plain bisection finishes whatever it leaves (atoms, flat stretches).
        levels = np.concatenate([[1e-12], np.linspace(0.0, 1.0, 1025)[1:-1], [1 - 1e-12]])
        grid = np.unique(np.concatenate([d.ppf(levels) for _, d in self.components]))
        grid_cdf = self.cdf(grid)
        idx = np.searchsorted(grid_cdf, qs, side="left")
        lo = np.where(idx > 0, grid[np.clip(idx - 1, 0, grid.size - 1)], -np.inf)
        hi = np.where(idx < grid.size, grid[np.clip(idx, 0, grid.size - 1)], np.inf)
        outside = ~np.isfinite(lo) | ~np.isfinite(hi)
        if outside.any():
            comp = np.array([d.ppf(qs[outside]) for _, d in self.components])
            lo[outside] = np.minimum(
                comp.min(axis=0), np.where(np.isfinite(lo[outside]), lo[outside], np.inf)
            )
            hi[outside] = np.maximum(
                comp.max(axis=0), np.where(np.isfinite(hi[outside]), hi[outside], -np.inf)
            )
        f_lo = self.cdf(lo) - qs
        f_hi = self.cdf(hi) - qs
        for step in range(100):
            width = hi - lo
            open_ = width > 1e-11 * np.maximum(1.0, np.abs(hi))
            if not open_.any():
                break
            denom = f_hi - f_lo
            secant = np.where(denom > 0, lo - f_lo * width / np.where(denom > 0, denom, 1.0), lo)
            use_secant = step < 12
            mid = np.where(use_secant & (secant > lo) & (secant < hi), secant, lo + width / 2)
            f_mid = self.cdf(mid) - qs
            below = f_mid < 0
            # Illinois: halve the stale end's value so the bracket keeps shrinking.
            f_hi = np.where(open_ & below, f_hi / 2, f_hi)
            f_lo = np.where(open_ & ~below, f_lo / 2, f_lo)
            lo = np.where(open_ & below, mid, lo)
            f_lo = np.where(open_ & below, f_mid, f_lo)
            hi = np.where(open_ & ~below, mid, hi)
            f_hi = np.where(open_ & ~below, f_mid, f_hi)
        out = np.asarray(hi, dtype=float)
        return out if np.ndim(q) else out.reshape(np.shape(q))

    @property
    def support_min(self) -> float:
        return min(d.support_min for _, d in self.components)

    def to_dict(self) -> dict[str, Any]:
        return {"dist": self.dist, "components": [[w, d.to_dict()] for w, d in self.components]}


class Scaled(Distribution):
    """``factor * base``: used for what-if scaling; not part of the card format."""

    dist: ClassVar[str] = "scaled"
    base: Distribution
    factor: float = Field(gt=0)

    def sample(self, n: int, rng: np.random.Generator) -> FloatArray:
        return self.factor * self.base.sample(n, rng)

    def mean(self) -> float:
        return self.factor * self.base.mean()

    def var(self) -> float:
        return self.factor**2 * self.base.var()

    def cdf(self, x: ArrayLike) -> FloatArray:
        return self.base.cdf(_as_array(x) / self.factor)

    def partial_mean(self, x: ArrayLike) -> FloatArray:
        return self.factor * self.base.partial_mean(_as_array(x) / self.factor)

    def stop_loss(self, x: ArrayLike) -> FloatArray:
        return self.factor * self.base.stop_loss(_as_array(x) / self.factor)

    def ppf(self, q: ArrayLike) -> FloatArray:
        return self.factor * self.base.ppf(q)

    @property
    def support_min(self) -> float:
        return self.factor * self.base.support_min


# ------------------------------------------------------------------------ frequencies
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

    @field_validator("rate", mode="before")
    @classmethod
    def _rate_dist(cls, v: Any) -> Any:
        if isinstance(v, Mapping):
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

    @field_validator("p")
    @classmethod
    def _p_ok(cls, v: float) -> float:
        if not 0 <= v <= 1:
            raise _bad("must be a probability in [0, 1] (a fraction, 0.05 not 5), got {v}", v=v)
        return v

    def max_count(self) -> float:
        return 1.0

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

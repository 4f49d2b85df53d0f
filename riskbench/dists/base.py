"""The base of all distributions, and the validation helpers they share."""

from __future__ import annotations

import contextvars
import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

import numpy as np
import pydantic
from numpy.typing import ArrayLike, NDArray
from pydantic import ConfigDict
from pydantic_core import PydanticCustomError

from riskbench.errors import Issue, ValidationError

__all__ = ["Distribution", "FloatArray", "IntArray", "bind_positional", "init_model"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


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


def bind_positional(
    owner: str, names: tuple[str, ...], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> dict[str, Any]:
    """Keyword arguments with ``args`` bound to ``names`` in order, for models that
    accept positional arguments (``PERT(1, 2, 9)``)."""
    if len(args) > len(names):
        raise ValidationError(
            f"{owner} takes at most {len(names)} positional arguments "
            f"({', '.join(names)}), got {len(args)}"
        )
    for name, value in zip(names, args, strict=False):
        if name in kwargs:
            raise ValidationError([Issue(name, f"given twice to {owner}")])
        kwargs[name] = value
    return kwargs


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
    #: Whether ``ppf`` is the exact quantile function (to rounding), so that
    #: stratified sampling (``simulate(..., sampling="lhs")``) may draw by it.
    exact_ppf: ClassVar[bool] = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        init_model(self, bind_positional(type(self).__name__, self.positional, args, kwargs))

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
        from riskbench.dists.values import Scaled

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

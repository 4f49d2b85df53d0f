"""Scenarios and portfolios: validated, immutable descriptions of what could go wrong.

A :class:`Scenario` pairs a frequency (events per year) with a severity (loss per
event) and carries the narrative and assumptions behind them. A :class:`Portfolio`
is a set of scenarios with the rank correlations between their annual losses.

Examples
--------
>>> import riskbench as rb
>>> s = rb.Scenario(id="bec-fraud", title="Payment fraud", category="cyber",
...                 frequency=rb.Poisson(rate=2.0), severity=rb.Constant(50_000))
>>> p = rb.Portfolio([s])
>>> p.ids
('bec-fraud',)
>>> rb.Portfolio.from_dict(p.to_dict()) == p
True
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pydantic
import yaml
from numpy.typing import NDArray
from pydantic import ConfigDict, Field, field_validator

from riskbench.dists import Distribution, dist_from_dict, init_model
from riskbench.errors import Issue, ScenarioError, ValidationError

__all__ = ["CATEGORIES", "Assumption", "Insurance", "Layer", "Portfolio", "Scenario"]

Category = Literal[
    "cyber",
    "supply-chain",
    "operational",
    "financial",
    "market",
    "regulatory",
    "climate",
    "strategic",
    "reputational",
    "people",
    "other",
]
CATEGORIES: tuple[str, ...] = Category.__args__  # type: ignore[attr-defined]

_ID = re.compile(r"^[a-z0-9][a-z0-9-]{0,79}$")


class _Model(pydantic.BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)

    def __init__(self, **data: Any) -> None:
        init_model(self, data)

    def to_dict(self) -> dict[str, Any]:
        """The card form of this object (only the keys that were given)."""
        out: dict[str, Any] = {}
        for name in type(self).model_fields:
            if name in self.model_fields_set:
                out[name] = _dump(getattr(self, name))
        return out


def _dump(value: Any) -> Any:
    if isinstance(value, Distribution | _Model):
        return value.to_dict()
    if isinstance(value, tuple | list):
        return [_dump(v) for v in value]
    return value


class Assumption(_Model):
    """One assumption behind a scenario's numbers: what, why, and on what evidence."""

    name: str = Field(min_length=1)
    text: str = Field(min_length=1)
    rationale: str | None = None
    source: str | None = None


class Layer(_Model):
    """An insurance layer: the insurer pays the part of a loss above ``deductible``,
    up to ``limit`` (no limit when ``limit`` is None)."""

    deductible: float = Field(default=0.0, ge=0)
    limit: float | None = Field(default=None, gt=0)

    def recovery(self, loss: NDArray[np.float64]) -> NDArray[np.float64]:
        """What the insurer pays on each loss."""
        paid = np.maximum(loss - self.deductible, 0.0)
        if self.limit is not None:
            np.minimum(paid, self.limit, out=paid)
        return paid


class Insurance(_Model):
    """Insurance on a scenario: a ``per_event`` layer applied to each event's loss,
    then an ``annual`` aggregate layer applied to the year's retained total."""

    per_event: Layer | None = None
    annual: Layer | None = None


def _parse_dist(value: Any, loc: str, kind: str, issues: list[Issue]) -> Any:
    if isinstance(value, Mapping):
        try:
            value = dist_from_dict(value, loc=loc)
        except ValidationError as err:
            issues.extend(err.issues)
            return None
    if isinstance(value, Distribution):
        if kind == "frequency" and value.kind != "frequency":
            issues.append(
                Issue(
                    loc,
                    f"must be a count distribution (poisson, bernoulli, negative_binomial), "
                    f"got {value.dist}",
                )
            )
            return None
        if kind == "severity" and value.kind != "value":
            issues.append(
                Issue(loc, f"must be a loss distribution (lognormal, pert, ...), got {value.dist}")
            )
            return None
    return value


class Scenario(_Model):
    """A risk scenario: how often it happens, what one occurrence costs, and why.

    Parameters
    ----------
    id
        Short identifier: lower-case letters, digits and hyphens.
    title, category
        A one-line title; ``category`` is one of :data:`CATEGORIES`.
    frequency
        Events per year: :class:`~riskbench.Poisson`, :class:`~riskbench.Bernoulli`
        or :class:`~riskbench.NegativeBinomial` (or their card form).
    severity
        Loss per event in currency: any non-negative value distribution.
    narrative, assumptions, owner
        What happens, the assumptions behind the numbers, who owns the risk.
    assets
        Ids of the dependency-graph nodes (workspace assets) the event hits first;
        narratives trace the impact from them through the graph.
    insurance
        Optional :class:`Insurance` layers; simulated losses are net of them.
    """

    id: str
    title: str = Field(min_length=1)
    category: Category
    frequency: Distribution
    severity: Distribution
    narrative: str = ""
    assumptions: tuple[Assumption, ...] = ()
    insurance: Insurance | None = None
    owner: str | None = None
    assets: tuple[str, ...] = ()

    def __init__(self, **data: Any) -> None:
        issues: list[Issue] = []
        for key in ("frequency", "severity"):
            if key in data:
                data[key] = _parse_dist(data[key], key, key, issues)
        # A distribution that failed is already reported: check the other fields with
        # a placeholder in its place, so that every problem is reported at once.
        trial = {
            k: _PLACEHOLDERS[k] if v is None and k in _PLACEHOLDERS else v for k, v in data.items()
        }
        try:
            init_model(self, trial)
        except ValidationError as err:
            issues.extend(err.issues)
        if issues:
            raise ValidationError(issues)

    @field_validator("id")
    @classmethod
    def _id_ok(cls, v: str) -> str:
        if not _ID.match(v):
            raise ValueError(
                f"must be 1-80 lower-case letters, digits or hyphens, starting with a "
                f"letter or digit, got {v!r}"
            )
        return v

    @field_validator("assets")
    @classmethod
    def _assets_ok(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in v if not a.strip()]
        if bad:
            raise ValueError(f"must be non-empty asset ids, got {list(v)!r}")
        if len(set(v)) != len(v):
            raise ValueError(f"must not repeat an asset, got {list(v)!r}")
        return v

    @field_validator("frequency")
    @classmethod
    def _frequency_ok(cls, v: Distribution) -> Distribution:
        if v.kind != "frequency":
            raise ValueError(f"must be a count distribution, got {v.dist}")
        return v

    @field_validator("severity")
    @classmethod
    def _severity_ok(cls, v: Distribution) -> Distribution:
        if v.kind != "value":
            raise ValueError(f"must be a loss distribution, got {v.dist}")
        low = v.support_min
        if low < 0:
            p_negative = float(v.cdf(np.array(-1e-300)))
            if low > -np.inf or p_negative > 1e-6:
                raise ValueError(
                    f"losses must be non-negative, but {v!r} gives a negative loss with "
                    f"probability {p_negative:.3g}; allowed: a distribution on [0, inf) "
                    f"(a normal only if P(loss < 0) < 1e-6)"
                )
        return v

    def with_(self, **changes: Any) -> Scenario:
        """A copy with some fields changed (validated again)."""
        data = {k: getattr(self, k) for k in self.model_fields_set}
        data.update(changes)
        return Scenario(**data)

    def expected_annual_loss(self) -> float:
        """Mean annual loss before insurance: E[N] * E[X]."""
        return self.frequency.mean() * self.severity.mean()


_PLACEHOLDERS = {
    "frequency": dist_from_dict({"dist": "bernoulli", "p": 0.0}),
    "severity": dist_from_dict({"dist": "constant", "value": 0.0}),
}


CorrelationEntry = tuple[str, str, float]


class Portfolio(_Model):
    """A set of scenarios and the rank correlations between their annual losses.

    Parameters
    ----------
    scenarios
        The scenarios (ids unique).
    correlation
        ``[(id_a, id_b, rho), ...]`` Spearman rank correlations in [-1, 1] between
        annual losses; pairs not listed are independent. A square DataFrame or a
        mapping ``{(a, b): rho}`` is accepted too.
    name, currency, description
        Labels for reports; ``currency`` is an ISO 4217 code.
    """

    name: str = "Risk register"
    currency: str = "USD"
    description: str = ""
    scenarios: tuple[Scenario, ...] = Field(min_length=1)
    correlation: tuple[CorrelationEntry, ...] = ()

    def __init__(
        self,
        scenarios: Iterable[Scenario | Mapping[str, Any]] | None = None,
        correlation: Any = None,
        **data: Any,
    ) -> None:
        if scenarios is not None:
            data["scenarios"] = scenarios
        if correlation is not None:
            data["correlation"] = correlation
        issues: list[Issue] = []
        raw_ids: list[str] = []
        if "scenarios" in data:
            raw = data["scenarios"]
            raw_ids = _raw_ids(raw)
            data["scenarios"] = _parse_scenarios(raw, issues)
        else:
            issues.append(Issue("scenarios", "is required: a list of at least one scenario"))
        if "correlation" in data:
            data["correlation"] = _correlation_entries(data["correlation"], issues)
        top = {k: v for k, v in data.items() if k not in ("scenarios", "correlation")}
        try:
            _Header(**top)
        except ValidationError as err:
            issues.extend(err.issues)
        issues.extend(_check_ids(raw_ids))
        issues.extend(_check_correlation(raw_ids, data.get("correlation", ())))
        if issues:
            raise ScenarioError(issues)
        init_model(self, data)

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Any, *, source: str | None = None) -> Portfolio:
        """Build from the card form; every problem is reported at once.

        Raises
        ------
        ScenarioError
            Listing each problem as ``scenarios[i] (id).field: message``.
        """
        if not isinstance(data, Mapping):
            raise ScenarioError(
                [Issue("", f"a card must be a mapping with a 'scenarios' list, got {data!r}")],
                source=source,
            )
        try:
            return cls(**dict(data))
        except ValidationError as err:
            raise ScenarioError(err.issues, source=source) from None

    @classmethod
    def from_yaml(cls, text: str, *, source: str | None = None) -> Portfolio:
        """Build from YAML (or JSON, a subset of YAML) text."""
        from riskbench.files import parse_yaml

        return cls.from_dict(parse_yaml(text, source=source, error=ScenarioError), source=source)

    # -- views ------------------------------------------------------------------------
    @property
    def ids(self) -> tuple[str, ...]:
        """The scenario ids, in card order."""
        return tuple(s.id for s in self.scenarios)

    def __getitem__(self, scenario_id: str) -> Scenario:
        for s in self.scenarios:
            if s.id == scenario_id:
                return s
        raise KeyError(f"no scenario {scenario_id!r}; the portfolio has {list(self.ids)}")

    def __len__(self) -> int:
        return len(self.scenarios)

    def correlation_matrix(self) -> NDArray[np.float64]:
        """The target rank-correlation matrix (identity where nothing is given)."""
        index = {sid: i for i, sid in enumerate(self.ids)}
        m = np.eye(len(self.scenarios))
        for a, b, rho in self.correlation:
            m[index[a], index[b]] = m[index[b], index[a]] = rho
        return m

    def with_scenarios(self, scenarios: Sequence[Scenario]) -> Portfolio:
        """The same portfolio with another list of scenarios; correlations between
        scenarios no longer present are dropped."""
        ids = {s.id for s in scenarios}
        corr = [c for c in self.correlation if c[0] in ids and c[1] in ids]
        return Portfolio(
            scenarios,
            corr,
            name=self.name,
            currency=self.currency,
            description=self.description,
        )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        if "correlation" in out:
            out["correlation"] = [list(c) for c in self.correlation]
        return out

    def to_yaml(self) -> str:
        """The card as YAML text; ``Portfolio.from_yaml(p.to_yaml()) == p``."""
        return yaml.safe_dump(_tidy(self.to_dict()), sort_keys=False, allow_unicode=True, width=88)


def _tidy(value: Any) -> Any:
    # Whole-number floats print as integers (250000, not 250000.0) to keep cards readable.
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    if isinstance(value, dict):
        return {k: _tidy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_tidy(v) for v in value]
    return value


class _Header(_Model):
    name: str = "Risk register"
    currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")
    description: str = ""


def _parse_scenarios(value: Any, issues: list[Issue]) -> tuple[Scenario, ...]:
    if not isinstance(value, list | tuple) or not value:
        issues.append(Issue("scenarios", f"must be a non-empty list of scenarios, got {value!r}"))
        return ()
    out = []
    for i, item in enumerate(value):
        if isinstance(item, Scenario):
            out.append(item)
            continue
        label = f"scenarios[{i}]"
        if not isinstance(item, Mapping):
            issues.append(Issue(label, f"must be a mapping, got {item!r}"))
            continue
        if isinstance(item.get("id"), str):
            label += f" ({item['id']})"
        try:
            out.append(Scenario(**dict(item)))
        except ValidationError as err:
            issues.extend(err.within(label).issues)
    return tuple(out)


def _correlation_entries(value: Any, issues: list[Issue]) -> tuple[CorrelationEntry, ...]:
    if value is None:
        return ()
    if hasattr(value, "columns") and hasattr(value, "index"):  # a square DataFrame
        cols = [str(c) for c in value.columns]
        arr = np.asarray(value, dtype=float)
        value = [
            (cols[i], cols[j], float(arr[i, j]))
            for i in range(len(cols))
            for j in range(i + 1, len(cols))
            if arr[i, j] != 0
        ]
    elif isinstance(value, Mapping):
        value = [(a, b, rho) for (a, b), rho in value.items()]
    if not isinstance(value, list | tuple):
        issues.append(Issue("correlation", f"must be a list of [id_a, id_b, rho], got {value!r}"))
        return ()
    out = []
    for i, entry in enumerate(value):
        loc = f"correlation[{i}]"
        if not isinstance(entry, list | tuple) or len(entry) != 3:
            issues.append(Issue(loc, f"must be [id_a, id_b, rho], got {entry!r}"))
            continue
        a, b, rho = entry
        if isinstance(rho, bool) or not isinstance(rho, int | float) or not np.isfinite(rho):
            issues.append(Issue(loc, f"rho must be a number in [-1, 1], got {rho!r}"))
            continue
        out.append((str(a), str(b), float(rho)))
    return tuple(out)


def _raw_ids(value: Any) -> list[str]:
    """The ids of scenarios given as objects or mappings, valid or not."""
    if not isinstance(value, list | tuple):
        return []
    out = []
    for item in value:
        sid = (
            item.id
            if isinstance(item, Scenario)
            else (item.get("id") if isinstance(item, Mapping) else None)
        )
        out.append(sid if isinstance(sid, str) else "")
    return out


def _check_ids(ids: Sequence[str]) -> list[Issue]:
    seen: dict[str, int] = {}
    issues = []
    for i, sid in enumerate(ids):
        if not sid:
            continue
        if sid in seen:
            issues.append(
                Issue(
                    f"scenarios[{i}] ({sid}).id",
                    f"duplicate id: already used by scenarios[{seen[sid]}]",
                )
            )
        else:
            seen[sid] = i
    return issues


def _check_correlation(ids: Sequence[str], entries: Sequence[CorrelationEntry]) -> list[Issue]:
    ids = [i for i in ids if i]
    issues = []
    pairs: dict[frozenset[str], int] = {}
    for i, (a, b, rho) in enumerate(entries):
        loc = f"correlation[{i}]"
        for sid in (a, b):
            if sid not in ids:
                issues.append(Issue(loc, f"unknown scenario id {sid!r}; known ids: {ids}"))
        if a == b:
            issues.append(Issue(loc, f"a scenario cannot be correlated with itself ({a!r})"))
        if not -1 <= rho <= 1:
            issues.append(Issue(loc, f"rho must lie in [-1, 1], got {rho!r}"))
        key = frozenset((a, b))
        if key in pairs:
            issues.append(Issue(loc, f"pair ({a}, {b}) already given in correlation[{pairs[key]}]"))
        pairs[key] = i
    return issues

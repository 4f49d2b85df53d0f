"""Impact matrix: place each scenario in a likelihood x severity grid with an appetite.

A risk register's heat map, computed from a result rather than scored by hand:

- **likelihood** is the annual probability of at least one event, ``p_any``;
- **severity** is a loss in currency, by default ``p90_given_event``: the 0.9
  quantile of the scenario's annual loss in the years with at least one event
  (``mean_given_event``: their mean; ``tvar99``: the expected annual loss in the
  worst 1 % of all years, as in ``summary()``).

Each axis has 3 to 6 contiguous bands ``[low, high)``: a value on an edge goes to the
higher band; the top likelihood band includes 1 and the top severity band is open
(``high = inf``). A scenario with no event (``p_any == 0``) has severity 0.

Examples
--------
>>> from riskbench.matrix import ImpactMatrix
>>> m = ImpactMatrix.default(scale=1e6)
>>> m.likelihood_band(0.3), m.severity_band(2e6), m.appetite_of("Possible", "Major")
('Possible', 'Major', 'monitor')
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any, Literal, get_args

import numpy as np
import pandas as pd

from riskbench.errors import Issue, RiskbenchError, ValidationError
from riskbench.results import ExactResult, SimulationResult

__all__ = ["Appetite", "ImpactMatrix", "MatrixPlacement", "SeverityMeasure"]

Appetite = Literal["accept", "monitor", "treat"]
SeverityMeasure = Literal["p90_given_event", "mean_given_event", "tvar99"]
APPETITES: tuple[str, ...] = get_args(Appetite)
SEVERITY_MEASURES: tuple[str, ...] = get_args(SeverityMeasure)

Band = tuple[float, float]
_MIN_BANDS, _MAX_BANDS = 3, 6

DEFAULT_LIKELIHOOD_EDGES = (0.0, 0.05, 0.2, 0.5, 0.8, 1.0)
DEFAULT_LIKELIHOOD_LABELS = ("Rare", "Unlikely", "Possible", "Likely", "Almost certain")
# Multiples of the user's scale: 0-0.1x, 0.1-1x, 1-5x, 5-20x, above 20x.
DEFAULT_SEVERITY_MULTIPLES = (0.0, 0.1, 1.0, 5.0, 20.0, math.inf)
DEFAULT_SEVERITY_LABELS = ("Minor", "Moderate", "Major", "Severe", "Critical")


def _default_appetite() -> tuple[tuple[Appetite, ...], ...]:
    # The common 5x5 scoring: likelihood rank x severity rank (1-5 each); a score up to
    # 4 is accepted, 5-9 monitored, 10 and above treated. Rows as drawn: high to low.
    def rule(score: int) -> Appetite:
        return "accept" if score <= 4 else "monitor" if score <= 9 else "treat"

    return tuple(tuple(rule(li * si) for si in range(1, 6)) for li in range(5, 0, -1))


def _bands_from_edges(edges: Sequence[float]) -> tuple[Band, ...]:
    return tuple((float(a), float(b)) for a, b in pairwise(edges))


@dataclass(frozen=True, kw_only=True)
class ImpactMatrix:
    """Likelihood and severity bands, their labels and the risk appetite of each cell.

    Parameters
    ----------
    likelihood
        ``(low, high)`` bands of annual probability ``p_any``, lowest first: 3 to 6,
        contiguous (each starts where the previous ends), from 0 to 1.
    likelihood_labels
        One label per likelihood band, lowest first (unique).
    severity
        ``(low, high)`` bands of loss in currency, lowest first: 3 to 6, contiguous,
        from 0 to ``inf``.
    severity_labels
        One label per severity band, lowest first (unique).
    appetite
        One row per likelihood band, **as the matrix is drawn**: the highest likelihood
        first; in each row one entry per severity band, lowest first; each
        ``"accept"``, ``"monitor"`` or ``"treat"``.
    severity_measure
        ``"p90_given_event"`` (default), ``"mean_given_event"`` or ``"tvar99"``.

    A value on an edge belongs to the higher band (bands are ``[low, high)``); the
    top likelihood band includes 1.

    Raises
    ------
    ValidationError
        Naming each bad field and value: overlapping bands, gaps, edges that do not
        increase, the wrong number of labels, an appetite grid of the wrong shape or
        with unknown values, fewer than 3 or more than 6 bands.

    Examples
    --------
    >>> from riskbench.matrix import ImpactMatrix
    >>> m = ImpactMatrix.from_edges(
    ...     likelihood_edges=[0, 0.1, 0.5, 1], likelihood_labels=["Low", "Medium", "High"],
    ...     severity_edges=[0, 1e5, 1e6, float("inf")], severity_labels=["S", "M", "L"],
    ...     appetite=[["monitor", "treat", "treat"],
    ...               ["accept", "monitor", "treat"],
    ...               ["accept", "accept", "monitor"]])
    >>> m.likelihood_band(0.1), m.severity_band(5e6), m.appetite_of("High", "L")
    ('Medium', 'L', 'treat')
    """

    likelihood: tuple[Band, ...]
    likelihood_labels: tuple[str, ...]
    severity: tuple[Band, ...]
    severity_labels: tuple[str, ...]
    appetite: tuple[tuple[Appetite, ...], ...]
    severity_measure: SeverityMeasure = "p90_given_event"

    def __post_init__(self) -> None:
        issues: list[Issue] = []
        lik = _check_bands("likelihood", self.likelihood, top=1.0, issues=issues)
        sev = _check_bands("severity", self.severity, top=math.inf, issues=issues)
        lik_labels = _check_labels("likelihood_labels", self.likelihood_labels, lik, issues)
        sev_labels = _check_labels("severity_labels", self.severity_labels, sev, issues)
        grid = _check_appetite(self.appetite, lik, sev, issues)
        if self.severity_measure not in SEVERITY_MEASURES:
            issues.append(
                Issue(
                    "severity_measure",
                    f"must be one of {list(SEVERITY_MEASURES)}, got {self.severity_measure!r}",
                )
            )
        if issues:
            raise ValidationError(issues)
        # Lists are accepted; store tuples so that the matrix is immutable and hashable.
        object.__setattr__(self, "likelihood", lik)
        object.__setattr__(self, "severity", sev)
        object.__setattr__(self, "likelihood_labels", lik_labels)
        object.__setattr__(self, "severity_labels", sev_labels)
        object.__setattr__(self, "appetite", grid)

    # -- constructors -----------------------------------------------------------------
    @classmethod
    def from_edges(
        cls,
        *,
        likelihood_edges: Sequence[float],
        likelihood_labels: Sequence[str],
        severity_edges: Sequence[float],
        severity_labels: Sequence[str],
        appetite: Sequence[Sequence[Appetite]],
        severity_measure: SeverityMeasure = "p90_given_event",
    ) -> ImpactMatrix:
        """A matrix from band edges (``n + 1`` increasing edges give ``n`` bands).

        Examples
        --------
        >>> from riskbench.matrix import ImpactMatrix
        >>> m = ImpactMatrix.from_edges(
        ...     likelihood_edges=[0, 0.2, 0.6, 1], likelihood_labels=["L", "M", "H"],
        ...     severity_edges=[0, 10, 100, float("inf")], severity_labels=["s", "m", "l"],
        ...     appetite=[["monitor", "treat", "treat"]] + [["accept"] * 3] * 2)
        >>> m.severity
        ((0.0, 10.0), (10.0, 100.0), (100.0, inf))
        """
        issues: list[Issue] = []
        for name, edges in (
            ("likelihood_edges", likelihood_edges),
            ("severity_edges", severity_edges),
        ):
            if not _is_number_list(edges) or len(edges) < 2:
                issues.append(Issue(name, f"must be a list of at least 2 numbers, got {edges!r}"))
        if issues:
            raise ValidationError(issues)
        return cls(
            likelihood=_bands_from_edges(likelihood_edges),
            likelihood_labels=tuple(likelihood_labels),
            severity=_bands_from_edges(severity_edges),
            severity_labels=tuple(severity_labels),
            appetite=tuple(tuple(row) for row in appetite),
            severity_measure=severity_measure,
        )

    @classmethod
    def default(
        cls, *, scale: float, severity_measure: SeverityMeasure = "p90_given_event"
    ) -> ImpactMatrix:
        """The common ISO 31000-style 5x5 register, with severity in units of ``scale``.

        Likelihood (annual probability of at least one event): Rare [0, 0.05),
        Unlikely [0.05, 0.2), Possible [0.2, 0.5), Likely [0.5, 0.8), Almost certain
        [0.8, 1]. Severity, as multiples of ``scale`` (a currency amount, such as the
        loss the organisation calls material): Minor [0, 0.1x), Moderate [0.1x, 1x),
        Major [1x, 5x), Severe [5x, 20x), Critical [20x, inf). Appetite by the score
        likelihood rank x severity rank (1-5 each): up to 4 accept, 5-9 monitor,
        10 and above treat.

        Examples
        --------
        >>> from riskbench.matrix import ImpactMatrix
        >>> m = ImpactMatrix.default(scale=1e6)
        >>> m.severity[2], m.appetite[0]
        ((1000000.0, 5000000.0), ('monitor', 'treat', 'treat', 'treat', 'treat'))
        """
        if isinstance(scale, bool) or not (
            isinstance(scale, int | float) and math.isfinite(scale) and scale > 0
        ):
            raise ValidationError(
                [Issue("scale", f"must be a positive, finite currency amount, got {scale!r}")]
            )
        return cls(
            likelihood=_bands_from_edges(DEFAULT_LIKELIHOOD_EDGES),
            likelihood_labels=DEFAULT_LIKELIHOOD_LABELS,
            severity=_bands_from_edges([m * scale for m in DEFAULT_SEVERITY_MULTIPLES]),
            severity_labels=DEFAULT_SEVERITY_LABELS,
            appetite=_default_appetite(),
            severity_measure=severity_measure,
        )

    # -- lookups ----------------------------------------------------------------------
    def likelihood_band(self, p_any: float) -> str:
        """The label of the likelihood band holding ``p_any`` (a fraction in [0, 1])."""
        if not (math.isfinite(p_any) and 0 <= p_any <= 1):
            raise ValidationError(
                [Issue("p_any", f"must be a probability in [0, 1] (a fraction), got {p_any!r}")]
            )
        return self.likelihood_labels[_band_index(self.likelihood, p_any)]

    def severity_band(self, loss: float) -> str:
        """The label of the severity band holding ``loss`` (currency, >= 0)."""
        if not (0 <= loss <= math.inf):
            raise ValidationError([Issue("loss", f"must be a loss >= 0, got {loss!r}")])
        return self.severity_labels[_band_index(self.severity, loss)]

    def appetite_of(self, likelihood: str, severity: str) -> Appetite:
        """The appetite of the cell (``likelihood`` label, ``severity`` label)."""
        i = _label_index("likelihood", likelihood, self.likelihood_labels)
        j = _label_index("severity", severity, self.severity_labels)
        return self.appetite[len(self.likelihood) - 1 - i][j]

    def appetite_frame(self) -> pd.DataFrame:
        """The appetite grid as drawn: rows likelihood high to low, columns severity."""
        return _grid_frame(self, [list(row) for row in self.appetite])

    # -- placement --------------------------------------------------------------------
    def place(
        self,
        result: SimulationResult | ExactResult,
        *,
        residual: SimulationResult | ExactResult | None = None,
    ) -> MatrixPlacement:
        """Place each scenario of ``result`` in the matrix.

        Parameters
        ----------
        result
            A :class:`~riskbench.SimulationResult` or :class:`~riskbench.ExactResult`:
            the inherent position.
        residual
            Optionally a second result with the same scenario ids (after mitigations):
            the residual position, and whether each scenario moved.

        Returns
        -------
        MatrixPlacement

        Examples
        --------
        >>> import riskbench as rb
        >>> s = rb.Scenario(id="outage", title="Outage", category="operational",
        ...                 frequency=rb.Bernoulli(1.0), severity=rb.Constant(2e6))
        >>> from riskbench.matrix import ImpactMatrix
        >>> placed = ImpactMatrix.default(scale=1e6).place(rb.simulate(s, 1_000, seed=0))
        >>> placed.cell("Almost certain", "Major")
        ('outage',)
        """
        table = self._positions(result, "result")
        if residual is not None:
            if set(residual.ids) != set(result.ids):
                raise ValidationError(
                    [
                        Issue(
                            "residual",
                            f"must have the same scenarios as result; it has "
                            f"{sorted(residual.ids)}, result has {sorted(result.ids)}",
                        )
                    ]
                )
            after = self._positions(residual, "residual").set_index("scenario")
            after = after.loc[table["scenario"]].reset_index(drop=True)
            for col in ("p_any", "severity", "likelihood_band", "severity_band", "appetite"):
                table[f"residual_{col}"] = after[col]
            table["moved"] = (table["likelihood_band"] != table["residual_likelihood_band"]) | (
                table["severity_band"] != table["residual_severity_band"]
            )
        return MatrixPlacement(matrix=self, table=table)

    def _positions(self, result: Any, name: str) -> pd.DataFrame:
        p_any, severity = _measures(result, self.severity_measure, name)
        portfolio = result.portfolio
        lik = [self.likelihood_band(p) for p in p_any]
        sev = [self.severity_band(x) for x in severity]
        return pd.DataFrame(
            {
                "scenario": list(result.ids),
                "title": [s.title for s in portfolio.scenarios],
                "category": [s.category for s in portfolio.scenarios],
                "p_any": p_any,
                "severity": severity,
                "likelihood_band": pd.Categorical(
                    lik, categories=list(self.likelihood_labels), ordered=True
                ),
                "severity_band": pd.Categorical(
                    sev, categories=list(self.severity_labels), ordered=True
                ),
                "appetite": [self.appetite_of(a, b) for a, b in zip(lik, sev, strict=True)],
            }
        )


@dataclass(frozen=True)
class MatrixPlacement:
    """Where each scenario sits in an :class:`ImpactMatrix`.

    Attributes
    ----------
    matrix : ImpactMatrix
        The bands and appetite used.
    table : pandas.DataFrame
        One row per scenario, in portfolio order: ``scenario``, ``title``,
        ``category``, ``p_any``, ``severity`` (the matrix's ``severity_measure``, in
        currency), ``likelihood_band`` and ``severity_band`` (ordered categoricals,
        lowest first) and ``appetite``. With a residual result also
        ``residual_p_any``, ``residual_severity``, ``residual_likelihood_band``,
        ``residual_severity_band``, ``residual_appetite`` and ``moved`` (either band
        changed).
    """

    matrix: ImpactMatrix
    table: pd.DataFrame = field(repr=False)

    @property
    def has_residual(self) -> bool:
        """Whether the placement has residual (after mitigation) positions."""
        return "moved" in self.table.columns

    def counts(self, *, residual: bool = False) -> pd.DataFrame:
        """Number of scenarios per cell: rows likelihood high to low, columns severity
        low to high; the cells sum to the number of scenarios."""
        lik, sev = self._band_columns(residual)
        grid = [[0] * len(self.matrix.severity) for _ in self.matrix.likelihood]
        top = len(self.matrix.likelihood) - 1
        for a, b in zip(lik.cat.codes, sev.cat.codes, strict=True):
            grid[top - int(a)][int(b)] += 1
        return _grid_frame(self.matrix, grid)

    def cell(self, likelihood: str, severity: str, *, residual: bool = False) -> tuple[str, ...]:
        """The ids of the scenarios in one cell (band labels), in portfolio order."""
        _label_index("likelihood", likelihood, self.matrix.likelihood_labels)
        _label_index("severity", severity, self.matrix.severity_labels)
        lik, sev = self._band_columns(residual)
        hit = (lik == likelihood).to_numpy() & (sev == severity).to_numpy()
        return tuple(self.table["scenario"][hit])

    def _band_columns(self, residual: bool) -> tuple[pd.Series, pd.Series]:
        if residual and not self.has_residual:
            raise ValidationError(
                [
                    Issue(
                        "residual", "this placement has no residual result: pass residual= to place"
                    )
                ]
            )
        prefix = "residual_" if residual else ""
        return self.table[f"{prefix}likelihood_band"], self.table[f"{prefix}severity_band"]


# ---------------------------------------------------------------------- validation
def _is_number(v: Any) -> bool:
    return isinstance(v, int | float | np.integer | np.floating) and not isinstance(v, bool)


def _is_number_list(v: Any) -> bool:
    return isinstance(v, Sequence) and not isinstance(v, str) and all(_is_number(x) for x in v)


def _check_bands(name: str, bands: Any, *, top: float, issues: list[Issue]) -> tuple[Band, ...]:
    if not isinstance(bands, Sequence) or isinstance(bands, str):
        issues.append(Issue(name, f"must be a list of (low, high) bands, got {bands!r}"))
        return ()
    out: list[Band] = []
    for i, band in enumerate(bands):
        if not (_is_number_list(band) and len(band) == 2) or any(math.isnan(x) for x in band):
            issues.append(
                Issue(f"{name}[{i}]", f"must be a (low, high) pair of numbers, got {band!r}")
            )
            return ()
        out.append((float(band[0]), float(band[1])))
    if not _MIN_BANDS <= len(out) <= _MAX_BANDS:
        issues.append(
            Issue(name, f"must have {_MIN_BANDS} to {_MAX_BANDS} bands, got {len(out)}: {out!r}")
        )
        return ()
    span = "[0, 1]" if top == 1.0 else "[0, inf)"
    if out[0][0] != 0:
        issues.append(Issue(f"{name}[0]", f"must start at 0 (bands cover {span}), got {out[0]!r}"))
    if out[-1][1] != top:
        issues.append(
            Issue(
                f"{name}[{len(out) - 1}]",
                f"must end at {top} (bands cover {span}), got {out[-1]!r}",
            )
        )
    for i, (low, high) in enumerate(out):
        if not low < high:
            issues.append(
                Issue(f"{name}[{i}]", f"edges must increase (low < high), got {(low, high)!r}")
            )
        if top == 1.0 and not 0 <= low <= high <= 1:
            issues.append(
                Issue(f"{name}[{i}]", f"must lie in [0, 1] (probabilities), got {(low, high)!r}")
            )
        if i and low != out[i - 1][1]:
            what = "overlaps" if low < out[i - 1][1] else "leaves a gap after"
            issues.append(
                Issue(
                    f"{name}[{i}]",
                    f"{what} {name}[{i - 1}] = {out[i - 1]!r}: got {(low, high)!r}; each band "
                    f"must start where the previous one ends ({out[i - 1][1]})",
                )
            )
    return tuple(out)


def _check_labels(
    name: str, labels: Any, bands: tuple[Band, ...], issues: list[Issue]
) -> tuple[str, ...]:
    if (
        not isinstance(labels, Sequence)
        or isinstance(labels, str)
        or not all(isinstance(x, str) and x for x in labels)
    ):
        issues.append(Issue(name, f"must be a list of non-empty strings, got {labels!r}"))
        return ()
    if bands and len(labels) != len(bands):
        issues.append(
            Issue(
                name,
                f"must have one label per band ({len(bands)}), got {len(labels)}: {list(labels)!r}",
            )
        )
    if len(set(labels)) != len(labels):
        issues.append(Issue(name, f"must be unique, got {list(labels)!r}"))
    return tuple(labels)


def _check_appetite(
    grid: Any, lik: tuple[Band, ...], sev: tuple[Band, ...], issues: list[Issue]
) -> tuple[tuple[Appetite, ...], ...]:
    rows, cols = len(lik), len(sev)
    shape = f"{rows} rows (likelihood, highest first) of {cols} entries (severity, lowest first)"
    if not isinstance(grid, Sequence) or isinstance(grid, str):
        issues.append(Issue("appetite", f"must be {shape}, got {grid!r}"))
        return ()
    if rows and len(grid) != rows:
        issues.append(Issue("appetite", f"must have {shape}; got {len(grid)} rows"))
    out: list[tuple[Appetite, ...]] = []
    for i, row in enumerate(grid):
        if not isinstance(row, Sequence) or isinstance(row, str):
            issues.append(Issue(f"appetite[{i}]", f"must be a list of {cols} entries, got {row!r}"))
            continue
        if cols and len(row) != cols:
            issues.append(
                Issue(
                    f"appetite[{i}]",
                    f"must have {cols} entries (one per severity band), "
                    f"got {len(row)}: {list(row)!r}",
                )
            )
        for j, value in enumerate(row):
            if value not in APPETITES:
                issues.append(
                    Issue(f"appetite[{i}][{j}]", f"must be one of {list(APPETITES)}, got {value!r}")
                )
        out.append(tuple(row))
    return tuple(out)


def _band_index(bands: tuple[Band, ...], x: float) -> int:
    # [low, high): a value on an edge goes up; the last band also takes its top edge.
    for i, (_, high) in enumerate(bands):
        if x < high:
            return i
    return len(bands) - 1


def _label_index(axis: str, label: str, labels: tuple[str, ...]) -> int:
    if label not in labels:
        raise ValidationError(
            [Issue(axis, f"unknown {axis} band {label!r}; the bands are {list(labels)}")]
        )
    return labels.index(label)


def _grid_frame(matrix: ImpactMatrix, grid: list[list[Any]]) -> pd.DataFrame:
    frame = pd.DataFrame(
        grid,
        index=pd.Index(list(reversed(matrix.likelihood_labels)), name="likelihood"),
        columns=pd.Index(list(matrix.severity_labels), name="severity"),
    )
    return frame


# ---------------------------------------------------------------------- measures
def _measures(result: Any, measure: str, name: str) -> tuple[list[float], list[float]]:
    """Each scenario's p_any and severity measure."""
    if not isinstance(result, SimulationResult | ExactResult):
        raise ValidationError(
            [
                Issue(
                    name,
                    f"must be a SimulationResult or ExactResult (from rb.simulate), got "
                    f"{type(result).__name__}",
                )
            ]
        )
    summary = result.summary()
    p_any = [float(summary.at[sid, "p_any"]) for sid in result.ids]
    if measure == "tvar99":
        return p_any, [float(summary.at[sid, "tvar99"]) for sid in result.ids]
    severity = []
    for sid, p in zip(result.ids, p_any, strict=True):
        if isinstance(result, SimulationResult):
            losses = result.scenario_losses(sid)[result.counts[sid].to_numpy() > 0]
            weights = None
        else:
            losses, weights = _exact_given_event(result, sid, p)
        severity.append(_given_event(losses, weights, measure))
    return p_any, severity


def _exact_given_event(
    result: ExactResult, sid: str, p_any: float
) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """The annual-loss grid of an exact result, conditioned on at least one event."""
    grid = result.pmf(sid)
    loss = grid["loss"].to_numpy()
    prob = grid["probability"].to_numpy().copy()
    # The mass at 0 holds the no-event years (1 - p_any) and events that cost nothing.
    prob[0] -= 1.0 - p_any
    if prob[0] < -1e-9:
        raise RiskbenchError(
            f"scenario {sid!r}: the exact result's grid puts {grid['probability'].iloc[0]:.3g} "
            f"at zero loss, less than the {1 - p_any:.3g} of years without an event, so the "
            f"loss given an event cannot be read from it; use a finer grid, "
            f"severity_measure='tvar99' or engine='local'"
        )
    prob[0] = max(prob[0], 0.0)
    return loss, prob


def _given_event(
    losses: np.ndarray[Any, Any], weights: np.ndarray[Any, Any] | None, measure: str
) -> float:
    if weights is None:
        if losses.size == 0:
            return 0.0
        if measure == "mean_given_event":
            return float(losses.mean())
        return float(np.quantile(losses, 0.9, method="inverted_cdf"))
    total = float(weights.sum())
    if total <= 0:
        return 0.0
    if measure == "mean_given_event":
        return float(losses @ weights / total)
    # The smallest loss with P(L <= x | event) >= 0.9, as result.var defines quantiles.
    cdf = np.cumsum(weights) / total
    idx = int(np.searchsorted(cdf, 0.9 - 1e-12, side="left"))
    return float(losses[min(idx, losses.size - 1)])

"""Simulation results: annual losses, their risk measures and exceedance curves.

Two kinds of result share one interface (``summary``, ``var``, ``tvar``,
``exceedance_prob``, ``exceedance_curve``, ``occurrence_prob``):

- :class:`SimulationResult`, from Monte Carlo: every simulated year is kept, so
  ``losses``, ``annual_loss``, ``counts`` and ``max_event`` are available.
- :class:`ExactResult`, from the FFT engine: the exact distribution on a grid; it
  has no simulated years.

Definitions (both kinds):

- ``var(q)``: the q-quantile of annual loss, the smallest x with P(L <= x) >= q.
- ``tvar(q)``: expected shortfall, the mean of the worst (1 - q) of years,
  ``(1/(1-q)) * integral from q to 1 of var(u) du``; coherent, and >= ``var(q)``.
- ``exceedance_prob(x)``: P(L > x). ``p_any``: P(at least one event in the year).
- occurrence: the largest single event loss in a year.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import math
import mmap
import os
import shutil
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from riskbench.errors import Issue, RiskbenchError, ValidationError
from riskbench.files import replace_dir, sha256_file
from riskbench.scenario import Layer, Portfolio, Scenario

if TYPE_CHECKING:
    from riskbench.sensitivity import Tornado

__all__ = ["ExactResult", "SimulationResult"]

FloatArray = NDArray[np.float64]
SUMMARY_COLUMNS = ("mean", "sd", "p50", "p90", "p95", "p99", "tvar99", "p_any")
PORTFOLIO = "portfolio"


def _version() -> str:
    from riskbench import __version__

    return __version__


def _check_level(q: Any, name: str = "q") -> FloatArray:
    arr = np.asarray(q, dtype=float)
    if arr.size == 0 or np.any(~np.isfinite(arr)) or np.any((arr <= 0) | (arr >= 1)):
        raise ValidationError(
            [
                Issue(
                    name,
                    f"must be a probability strictly between 0 and 1 (0.99, not 99), got {q!r}",
                )
            ]
        )
    return arr


def _scalar_or_array(arr: FloatArray, like: Any) -> Any:
    return float(arr) if np.ndim(like) == 0 else arr


# ------------------------------------------------------------------ marginal kinds
class _Marginal(ABC):
    p_any: float

    @abstractmethod
    def mean(self) -> float: ...

    @abstractmethod
    def sd(self) -> float: ...

    @abstractmethod
    def quantile(self, q: FloatArray) -> FloatArray: ...

    @abstractmethod
    def tvar(self, q: float) -> float: ...

    @abstractmethod
    def sf(self, x: FloatArray) -> FloatArray: ...

    @abstractmethod
    def curve_levels(self) -> FloatArray:
        """Exceedance probabilities worth plotting: from 1 down to the resolution."""


@dataclass
class _Samples(_Marginal):
    values: FloatArray
    p_any: float

    def mean(self) -> float:
        return float(self.values.mean())

    def sd(self) -> float:
        return float(self.values.std(ddof=1)) if self.values.size > 1 else 0.0

    def _index(self, q: FloatArray) -> NDArray[np.intp]:
        # 0-based index of the smallest x with F(x) >= q (the inverted cdf).
        n = self.values.size
        return np.clip(np.ceil(np.asarray(q) * n - 1e-9).astype(np.intp) - 1, 0, n - 1)

    def quantile(self, q: FloatArray) -> FloatArray:
        idx = self._index(q)
        flat = np.atleast_1d(idx)
        part = np.partition(self.values, np.unique(flat))
        return np.asarray(part[idx], dtype=float)

    def tvar(self, q: float) -> float:
        return self.quantiles_and_tvar(np.array([q]), q)[1]

    def quantiles_and_tvar(self, qs: FloatArray, tail: float) -> tuple[FloatArray, float]:
        """Several quantiles and the expected shortfall at ``tail`` from one partition."""
        n = self.values.size
        idx = self._index(qs)
        k = int(self._index(np.array(tail))) + 1  # 1-based index of var(tail)
        part = np.partition(self.values, np.unique(np.append(idx, k - 1)))
        var = part[k - 1]
        es = float((part[k:].sum() + (k - tail * n) * var) / (n * (1 - tail)))
        return np.asarray(part[idx], dtype=float), es

    def sf(self, x: FloatArray) -> FloatArray:
        ordered = _sorted_cache(self.values)
        return 1.0 - np.searchsorted(ordered, x, side="right") / ordered.size

    def curve_levels(self) -> FloatArray:
        return np.asarray(1.0 / self.values.size, dtype=float)


_SORT_CACHE: dict[int, tuple[FloatArray, FloatArray]] = {}


def _sorted_cache(values: FloatArray) -> FloatArray:
    # One sorted copy of the last array asked for (the portfolio, usually).
    hit = _SORT_CACHE.get(id(values))
    if hit is not None and hit[0] is values:
        return hit[1]
    _SORT_CACHE.clear()
    ordered = np.sort(values)
    _SORT_CACHE[id(values)] = (values, ordered)
    return ordered


@dataclass
class _Grid(_Marginal):
    """A distribution on the grid 0, h, 2h, ... with probabilities ``pmf``."""

    h: float
    pmf: FloatArray
    p_any: float

    @property
    def x(self) -> FloatArray:
        return np.arange(self.pmf.size, dtype=float) * self.h

    @property
    def cdf(self) -> FloatArray:
        return np.minimum(np.cumsum(self.pmf), 1.0)

    def mean(self) -> float:
        return float(self.x @ self.pmf)

    def sd(self) -> float:
        m = self.mean()
        return math.sqrt(max(float(((self.x - m) ** 2) @ self.pmf), 0.0))

    def quantile(self, q: FloatArray) -> FloatArray:
        idx = np.searchsorted(self.cdf, np.asarray(q) - 1e-12, side="left")
        return np.asarray(np.minimum(idx, self.pmf.size - 1) * self.h, dtype=float)

    def tvar(self, q: float) -> float:
        cdf = self.cdf
        j = min(int(np.searchsorted(cdf, q - 1e-12, side="left")), self.pmf.size - 1)
        x = self.x
        tail = float(x[j + 1 :] @ self.pmf[j + 1 :])
        return float((tail + (cdf[j] - q) * x[j]) / (1 - q))

    def sf(self, x: FloatArray) -> FloatArray:
        idx = np.floor(np.asarray(x, dtype=float) / self.h + 1e-9).astype(np.int64)
        cdf = self.cdf
        inside = np.clip(idx, 0, self.pmf.size - 1)
        return np.where(idx < 0, 1.0, np.where(idx >= self.pmf.size, 0.0, 1.0 - cdf[inside]))

    def curve_levels(self) -> FloatArray:
        return np.asarray(1e-6, dtype=float)


# ---------------------------------------------------------------------- shared base
class _ResultBase(ABC):
    portfolio: Portfolio
    basis: str

    @property
    def ids(self) -> tuple[str, ...]:
        """The scenario ids, in portfolio order."""
        return self.portfolio.ids

    @property
    def currency(self) -> str:
        return self.portfolio.currency

    def _check_scenario(self, scenario: str | None) -> None:
        if scenario is not None and scenario not in self.ids:
            raise ValidationError(
                [Issue("scenario", f"unknown scenario {scenario!r}; known: {list(self.ids)}")]
            )

    @abstractmethod
    def _marginal(self, scenario: str | None) -> _Marginal: ...

    def summary(self) -> pd.DataFrame:
        """Risk measures per scenario and for the portfolio.

        Columns: ``mean``, ``sd``, ``p50``, ``p90``, ``p95``, ``p99`` (quantiles of
        annual loss), ``tvar99`` (expected shortfall at 99%) and ``p_any`` (the
        probability of at least one event in a year). Index: scenario ids, then
        ``"portfolio"``.
        """
        rows = {}
        levels = np.array([0.5, 0.9, 0.95, 0.99])
        for name in [*self.ids, None]:
            m = self._marginal(name)
            if isinstance(m, _Samples):
                q, es = m.quantiles_and_tvar(levels, 0.99)
            else:
                q, es = m.quantile(levels), m.tvar(0.99)
            rows[name or PORTFOLIO] = [m.mean(), m.sd(), *q, es, m.p_any]
        frame = pd.DataFrame.from_dict(rows, orient="index", columns=list(SUMMARY_COLUMNS))
        frame.index.name = "scenario"
        return frame

    def var(self, q: float | ArrayLike, scenario: str | None = None) -> Any:
        """Value at risk: the ``q``-quantile of annual loss (``q`` a fraction, 0.99)."""
        self._check_scenario(scenario)
        levels = _check_level(q)
        return _scalar_or_array(self._marginal(scenario).quantile(levels), q)

    def tvar(self, q: float, scenario: str | None = None) -> float:
        """Tail value at risk (expected shortfall) at level ``q``: the mean of the
        worst ``1 - q`` of years."""
        self._check_scenario(scenario)
        level = float(_check_level(q))
        return self._marginal(scenario).tvar(level)

    def exceedance_prob(self, threshold: float | ArrayLike, scenario: str | None = None) -> Any:
        """P(annual loss > ``threshold``)."""
        self._check_scenario(scenario)
        x = np.asarray(threshold, dtype=float)
        return _scalar_or_array(self._marginal(scenario).sf(x), threshold)

    def exceedance_curve(self, scenario: str | None = None, *, points: int = 200) -> pd.DataFrame:
        """The loss exceedance curve: columns ``loss`` and ``probability`` = P(L > loss).

        Losses are the quantiles at exceedance probabilities log-spaced from 1 down
        to the result's resolution (1/trials for a simulation); each probability is
        then computed exactly at its loss, so every row is a true point of the curve.
        """
        self._check_scenario(scenario)
        m = self._marginal(scenario)
        floor = float(m.curve_levels())
        exceed = np.unique(np.geomspace(1.0, floor, points))[::-1]
        losses = np.unique(m.quantile(np.clip(1 - exceed, 0.0, 1 - floor / 2)))
        return pd.DataFrame({"loss": losses, "probability": m.sf(losses)})

    def occurrence_prob(self, threshold: float | ArrayLike, scenario: str | None = None) -> Any:
        """P(the largest single event loss in a year > ``threshold``).

        For one scenario this is exact: P(max <= x) = E[F(x)^N], the frequency's
        generating function at the per-event loss cdf (after the per-event
        insurance layer, on the result's basis).
        """
        self._check_scenario(scenario)
        x = np.asarray(threshold, dtype=float)
        if scenario is None:
            return _scalar_or_array(self._portfolio_occurrence_sf(x), threshold)
        s = self.portfolio[scenario]
        f = _event_cdf(s, x, self.basis)
        out = 1.0 - np.real(s.frequency.pgf(f.astype(complex)))  # type: ignore[attr-defined]
        return _scalar_or_array(np.clip(out, 0.0, 1.0), threshold)

    @abstractmethod
    def _portfolio_occurrence_sf(self, x: FloatArray) -> FloatArray: ...


def _event_cdf(s: Scenario, x: FloatArray, basis: str) -> FloatArray:
    """P(one event's amount <= x) on ``basis``, after the per-event layer."""
    sev = s.severity
    layer: Layer | None = s.insurance.per_event if s.insurance else None
    xs = np.maximum(np.asarray(x, dtype=float), 0.0)
    if basis == "gross":
        return sev.cdf(xs)
    if layer is None:
        return np.ones_like(xs) if basis == "ceded" else sev.cdf(xs)
    d = layer.deductible
    lim = np.inf if layer.limit is None else layer.limit
    if basis == "net":
        # retained = X below d, d between d and d + limit, X - limit above
        return np.where(xs < d, sev.cdf(xs), sev.cdf(xs + lim))
    # ceded = min(max(X - d, 0), limit)
    return np.where(xs >= lim, 1.0, sev.cdf(xs + d))


def _independent_occurrence_sf(portfolio: Portfolio, x: FloatArray, basis: str) -> FloatArray:
    """P(largest event > x) for independent scenarios: 1 - prod_s E[F_s(x)^N_s]."""
    cdf = np.ones_like(np.asarray(x, dtype=float))
    for s in portfolio.scenarios:
        f = _event_cdf(s, x, basis)
        cdf = cdf * np.real(s.frequency.pgf(f.astype(complex)))  # type: ignore[attr-defined]
    return np.asarray(np.clip(1.0 - cdf, 0.0, 1.0), dtype=float)


# ------------------------------------------------------------------ Monte Carlo result
class SimulationResult(_ResultBase):
    """The simulated years of a Monte Carlo run.

    Attributes
    ----------
    losses : pandas.DataFrame
        One row per simulated year, one column per scenario id: annual loss.
    annual_loss : numpy.ndarray
        The portfolio's annual loss per simulated year (row sums of ``losses``).
    counts : pandas.DataFrame
        Number of events per year and scenario.
    max_event : numpy.ndarray
        The largest single event loss in each year, across all scenarios.
    trials, seed, basis, block_size, sampling
        How the run was made; ``seed`` is the entropy actually used; ``sampling``
        is ``"random"``, ``"lhs"`` or ``"sobol"`` (see :mod:`riskbench.sampling`).
    """

    engine = "local"

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        losses: FloatArray,
        counts: NDArray[np.unsignedinteger[Any]],
        annual_loss: FloatArray,
        max_event: FloatArray | None,
        any_event: NDArray[np.bool_],
        trials: int,
        seed: int,
        basis: str,
        block_size: int,
        engine_version: str,
        created_at: str | None = None,
        sampling: str = "random",
    ):
        self.portfolio = portfolio
        self._losses = losses  # (scenarios, years), C order: each scenario contiguous
        self._counts = counts
        self.annual_loss = annual_loss
        self._max_event = max_event
        self._any_event = any_event
        self.trials = trials
        self.seed = seed
        self.basis = basis
        self.block_size = block_size
        self.engine_version = engine_version
        self.sampling = sampling
        self.created_at = created_at or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")

    # -- construction by the engine ------------------------------------------------
    @classmethod
    def allocate(
        cls,
        portfolio: Portfolio,
        *,
        trials: int,
        seed: int,
        basis: str,
        block_size: int,
        engine_version: str,
        count_dtype: type[np.unsignedinteger[Any]] = np.uint32,
        track_max: bool = True,
        sampling: str = "random",
    ) -> SimulationResult:
        """Empty arrays for the engine to fill, block by block."""
        k = len(portfolio.scenarios)
        return cls(
            portfolio,
            losses=_plain_pages((k, trials), np.float64),
            counts=_plain_pages((k, trials), count_dtype),
            annual_loss=np.empty(trials),
            max_event=np.empty(trials) if track_max else None,
            any_event=np.empty(trials, dtype=bool),
            trials=trials,
            seed=seed,
            basis=basis,
            block_size=block_size,
            engine_version=engine_version,
            sampling=sampling,
        )

    # -- data -----------------------------------------------------------------------
    @property
    def losses(self) -> pd.DataFrame:
        """Annual loss per simulated year (rows) and scenario (columns)."""
        frame = pd.DataFrame(self._losses.T, columns=list(self.ids), copy=False)
        frame.index.name = "year"
        return frame

    @property
    def counts(self) -> pd.DataFrame:
        """Number of events per simulated year (rows) and scenario (columns)."""
        frame = pd.DataFrame(self._counts.T, columns=list(self.ids), copy=False)
        frame.index.name = "year"
        return frame

    def scenario_losses(self, scenario: str) -> FloatArray:
        """The annual losses of one scenario, as a numpy array (no copy)."""
        self._check_scenario(scenario)
        return np.asarray(self._losses[self.ids.index(scenario)], dtype=float)

    def _marginal(self, scenario: str | None) -> _Marginal:
        if scenario is None:
            return _Samples(self.annual_loss, float(self._any_event.mean()))
        i = self.ids.index(scenario)
        return _Samples(self._losses[i], float((self._counts[i] > 0).mean()))

    @property
    def max_event(self) -> FloatArray:
        """The largest single event loss of each simulated year, across scenarios.

        Simulated with the run when scenarios are correlated; for an independent
        portfolio it is simulated again from the same seed on first use (the run
        itself does not need it: its occurrence probabilities are exact).
        """
        if self._max_event is None:
            from riskbench.engine import largest_events

            self._max_event = largest_events(self, workers=os.cpu_count() or 1)
        return self._max_event

    def _portfolio_occurrence_sf(self, x: FloatArray) -> FloatArray:
        if not any(rho for *_, rho in self.portfolio.correlation):
            return _independent_occurrence_sf(self.portfolio, x, self.basis)
        return _Samples(self.max_event, 0.0).sf(x)

    def occurrence_curve(self, *, points: int = 200) -> pd.DataFrame:
        """The portfolio's occurrence exceedance curve (largest event in a year)."""
        m = _Samples(self.max_event, 0.0)
        exceed = np.unique(np.geomspace(1.0, 1 / self.trials, points))[::-1]
        losses = np.unique(m.quantile(np.clip(1 - exceed, 0.0, 1 - 0.5 / self.trials)))
        return pd.DataFrame({"loss": losses, "probability": m.sf(losses)})

    def event_summary(self) -> pd.DataFrame:
        """Per scenario: mean events a year, P(0), P(1), P(2+) events, largest count."""
        rows = {}
        for i, sid in enumerate(self.ids):
            c = self._counts[i]
            rows[sid] = {
                "mean_events": float(c.mean()),
                "p0": float((c == 0).mean()),
                "p1": float((c == 1).mean()),
                "p2plus": float((c >= 2).mean()),
                "max_events": int(c.max()) if c.size else 0,
            }
        frame = pd.DataFrame.from_dict(rows, orient="index")
        frame.index.name = "scenario"
        return frame

    def standard_error(self, scenario: str | None = None) -> float:
        """Monte Carlo standard error of the mean annual loss."""
        self._check_scenario(scenario)
        m = self._marginal(scenario)
        return m.sd() / math.sqrt(self.trials)

    def tornado(
        self,
        *,
        trials: int | None = 100_000,
        quantiles: tuple[float, float] = (0.1, 0.9),
        metric: str = "p99",
    ) -> Tornado:
        """Swing each scenario's frequency and severity; see :func:`riskbench.tornado`."""
        from riskbench.sensitivity import tornado

        return tornado(self, trials=trials, quantiles=quantiles, metric=metric)

    # -- provenance and files ---------------------------------------------------------
    def input_hash(self) -> str:
        """SHA-256 of what determines the numbers: card, trials, seed, basis, layout,
        engine and sampling."""
        return layout_hash(self)

    def manifest(self) -> dict[str, Any]:
        """What was run, with what, and when: enough to reproduce the numbers."""
        return run_manifest(self, "riskbench.SimulationResult")

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the result to the folder ``path`` (``years.parquet`` + ``manifest.json``).

        The folder appears whole or not at all: it is written beside the target and
        renamed into place. Needs the ``io`` extra (pyarrow).
        """
        pa, pq = _pyarrow()
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}."))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a saved result is not
        try:
            columns: dict[str, Any] = {sid: self._losses[i] for i, sid in enumerate(self.ids)}
            columns.update({f"n:{sid}": self._counts[i] for i, sid in enumerate(self.ids)})
            columns["__portfolio__"] = self.annual_loss
            if self._max_event is not None:
                columns["__max_event__"] = self._max_event
            columns["__any_event__"] = self._any_event
            table = pa.table(columns)
            pq.write_table(table, tmp / "years.parquet", compression="zstd")
            manifest = self.manifest()
            manifest["files"] = {"years.parquet": sha256_file(tmp / "years.parquet")}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
            replace_dir(tmp, target)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        return target

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> SimulationResult:
        """Read a result written by :meth:`save`, checking the file hashes."""
        _, pq = _pyarrow()
        folder = Path(path)
        try:
            manifest = json.loads((folder / "manifest.json").read_text())
        except FileNotFoundError:
            raise ValidationError(
                [Issue("path", f"{folder} holds no manifest.json: not a saved result")]
            ) from None
        expected = manifest.get("files", {}).get("years.parquet")
        if expected and sha256_file(folder / "years.parquet") != expected:
            raise RiskbenchError(f"{folder / 'years.parquet'} does not match its manifest hash")
        portfolio = Portfolio.from_dict(manifest["portfolio"], source=str(folder))
        table = pq.read_table(folder / "years.parquet")
        ids = portfolio.ids
        losses = (
            np.stack([table.column(sid).to_numpy() for sid in ids]) if ids else np.empty((0, 0))
        )
        counts = np.stack([table.column(f"n:{sid}").to_numpy() for sid in ids])
        result = cls(
            portfolio,
            losses=np.ascontiguousarray(losses, dtype=float),
            counts=np.ascontiguousarray(counts),
            annual_loss=table.column("__portfolio__").to_numpy().copy(),
            max_event=(
                table.column("__max_event__").to_numpy().copy()
                if "__max_event__" in table.column_names
                else None
            ),
            any_event=table.column("__any_event__").to_numpy(zero_copy_only=False).copy(),
            trials=int(manifest["trials"]),
            seed=int(manifest["seed"]),
            basis=manifest["basis"],
            block_size=int(manifest["block_size"]),
            engine_version=manifest["engine_version"],
            created_at=manifest["created_at"],
            sampling=manifest.get("sampling", "random"),  # saved before sampling existed
        )
        if result.input_hash() != manifest["input_hash"]:
            raise RiskbenchError(f"{folder}: the inputs do not match the manifest's input_hash")
        return result

    def __repr__(self) -> str:
        return (
            f"<SimulationResult {len(self.ids)} scenarios x {self.trials:,} years, "
            f"seed={self.seed}, basis={self.basis}"
            + ("" if self.sampling == "random" else f", sampling={self.sampling}")
            + ">"
        )


def _plain_pages(shape: tuple[int, int], dtype: Any) -> NDArray[Any]:
    """A zeroed array in its own anonymous memory map, without huge pages.

    numpy asks the kernel for transparent huge pages on large arrays; on a machine
    whose memory is fragmented the kernel then compacts memory on the first write,
    which cost up to a second for the 400 MB of a 50 x 1,000,000 run here (see
    docs/benchmarks.md). Ordinary pages avoid that. The map is released with the array.
    """
    size = int(np.prod(shape)) * np.dtype(dtype).itemsize
    if size < 1 << 24:
        return np.zeros(shape, dtype=dtype)
    buffer = mmap.mmap(-1, size)
    return np.frombuffer(buffer, dtype=dtype).reshape(shape)


def layout_hash(result: Any) -> str:
    """:func:`input_hash` of a Monte Carlo result's own inputs (what its every
    simulated year depends on)."""
    return input_hash(
        result.portfolio,
        trials=result.trials,
        seed=result.seed,
        basis=result.basis,
        block_size=result.block_size,
        engine_version=result.engine_version,
        sampling=result.sampling,
    )


def run_manifest(result: Any, kind: str, **extra: Any) -> dict[str, Any]:
    """The manifest of a Monte Carlo result (``kind`` names its class): what was run,
    with what, and when; ``extra`` adds the class's own keys."""
    import platform

    import scipy

    return {
        "kind": kind,
        "riskbench_version": _version(),
        "engine": result.engine,
        "engine_version": result.engine_version,
        **{k: v for k, v in extra.items() if k != "hashes"},
        "trials": result.trials,
        "seed": str(result.seed),
        "basis": result.basis,
        "block_size": result.block_size,
        "sampling": result.sampling,
        "input_hash": result.input_hash(),
        **extra.get("hashes", {}),
        "created_at": result.created_at,
        "currency": result.currency,
        "scenarios": list(result.ids),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scipy": scipy.__version__,
        "pandas": pd.__version__,
        "portfolio": result.portfolio.to_dict(),
    }


def input_hash(
    portfolio: Portfolio,
    *,
    trials: int,
    seed: int,
    basis: str,
    block_size: int,
    engine_version: str,
    sampling: str = "random",
) -> str:
    """SHA-256 of a run's inputs: the same inputs always give the same numbers."""
    payload = {
        "card": portfolio.to_dict(),
        "trials": trials,
        "seed": str(seed),
        "basis": basis,
        "block_size": block_size,
        "engine_version": engine_version,
    }
    # Plain Monte Carlo runs hash as they did before sampling existed (stored run ids).
    if sampling != "random":
        payload["sampling"] = sampling
    text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def _pyarrow() -> tuple[Any, Any]:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        from riskbench.errors import MissingDependencyError

        raise MissingDependencyError("pyarrow", "io", purpose="Saving results") from None
    return pa, pq


# ----------------------------------------------------------------------- exact result
class ExactResult(_ResultBase):
    """The exact annual-loss distribution of an independent portfolio (FFT engine).

    Has the same risk measures as :class:`SimulationResult`; there are no simulated
    years, so ``losses`` and ``annual_loss`` raise an error that says so.
    """

    engine = "fft"

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        h: float,
        scenario_pmfs: Sequence[FloatArray],
        portfolio_pmf: FloatArray,
        p_any: Sequence[float],
        portfolio_p_any: float,
        basis: str,
        aliasing: float,
    ):
        self.portfolio = portfolio
        self.h = h
        self._scen = [_Grid(h, pmf, p) for pmf, p in zip(scenario_pmfs, p_any, strict=True)]
        self._port = _Grid(h, portfolio_pmf, portfolio_p_any)
        self.basis = basis
        self.aliasing = aliasing

    def _marginal(self, scenario: str | None) -> _Marginal:
        if scenario is None:
            return self._port
        return self._scen[self.ids.index(scenario)]

    def _portfolio_occurrence_sf(self, x: FloatArray) -> FloatArray:
        return _independent_occurrence_sf(self.portfolio, x, self.basis)

    @property
    def losses(self) -> pd.DataFrame:
        raise RiskbenchError(
            "an exact (fft) result is a distribution, not simulated years: it has no "
            "losses table; use engine='local' for simulated years"
        )

    @property
    def annual_loss(self) -> FloatArray:
        raise RiskbenchError(
            "an exact (fft) result has no simulated years; use var/tvar/exceedance_curve, "
            "or engine='local'"
        )

    def pmf(self, scenario: str | None = None) -> pd.DataFrame:
        """The distribution on its grid: columns ``loss`` and ``probability``."""
        self._check_scenario(scenario)
        g = self._marginal(scenario)
        assert isinstance(g, _Grid)
        return pd.DataFrame({"loss": g.x, "probability": g.pmf})

    def __repr__(self) -> str:
        return f"<ExactResult {len(self.ids)} scenarios, grid step {self.h:,.4g}>"

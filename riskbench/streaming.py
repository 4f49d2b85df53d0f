"""Very large runs in bounded memory: ``rb.simulate(..., keep="summary")``.

A run with ``keep="years"`` holds every simulated year of every scenario, 10 bytes
per scenario-year: 50 scenarios x 10^8 years would be 50 GB. With ``keep="summary"``
each block is reduced where it is simulated to a :class:`BlockSummary`, and the
summaries are merged **in block order**, so the result depends on the seed and the
block layout only, never on what ran the blocks. What is kept:

- the portfolio's annual loss of every year, exactly (float64, 8 bytes a year:
  10^8 years is 800 MB), so every portfolio number is exact, the same as with
  ``keep="years"`` for the same seed;
- per scenario: exact counts (years with an event, events, years with one event,
  the largest count), the exact minimum and maximum, the mean and the sum of squared
  deviations M2 (merged with Chan et al.'s pairwise update, ``delta = mean_b -
  mean_a``, ``M2 = M2_a + M2_b + delta**2 n_a n_b / n``: numerically stable, equal
  to the full result's mean and sd up to rounding, ~1e-15 relative), and a
  :class:`~riskbench.sketch.QuantileSketch` of the annual loss, from which the
  quantiles, tail value at risk and exceedance probabilities are read within a
  relative ``alpha`` (0.5%: see :mod:`riskbench.sketch` for the exact guarantee).

(n, mean, M2) rather than power sums: a sum of squares of losses near 1e9 loses the
variance to cancellation when the sd is small beside the mean; the pairwise update
does not. Merging in block order makes the rounding, too, the same on every run.

:attr:`StreamedResult.exactness` says which number is which. Per-year scenario data
(``losses``, ``counts``, ``tornado``, the largest event of each year) is not kept:
asking for it raises an error that says to use ``keep="years"``.

Memory: the portfolio vector, plus the few blocks in flight (``workers + 1`` blocks
of ``block_size`` years x scenarios), plus a few kilobytes of sketch per scenario.
Reading the portfolio's quantiles or exceedance probabilities sorts one copy of the
vector, once (8 more bytes a year).

Progress in a notebook: ``progress`` is any ``progress(done_years, trials)``
callable, for instance a tqdm bar's::

    from tqdm.auto import tqdm

    with tqdm(total=trials, unit="years", unit_scale=True) as bar:
        res = rb.simulate(portfolio, trials, seed, keep="summary",
                          progress=lambda done, total: bar.update(done - bar.n))

and ``cancel=threading.Event()`` stops the run from another thread (the event set:
:class:`~riskbench.errors.Cancelled` is raised within about a block).

Examples
--------
>>> import riskbench as rb
>>> p = rb.load_portfolio("examples/register.yaml")
>>> small = rb.simulate(p, trials=20_000, seed=3, keep="summary")
>>> full = rb.simulate(p, trials=20_000, seed=3)
>>> bool(small.var(0.99) == full.var(0.99))  # the portfolio is exact
True
>>> q, x = small.var(0.9, "plant-fire"), full.var(0.9, "plant-fire")
>>> bool(abs(q - x) <= 0.005 * x)  # a scenario's quantiles are sketched
True
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import functools
import hashlib
import json
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from riskbench.engine import ENGINE_VERSION, Plan, simulate_block
from riskbench.errors import RiskbenchError
from riskbench.executors import Engine, map_blocks
from riskbench.results import (
    _independent_occurrence_sf,
    _Marginal,
    _ResultBase,
    _Samples,
    layout_hash,
    run_manifest,
)
from riskbench.scenario import Portfolio
from riskbench.sketch import DEFAULT_ALPHA, QuantileSketch

if TYPE_CHECKING:
    from distributed import Client

    from riskbench.sensitivity import Tornado

__all__ = ["BlockSummary", "StreamedResult", "summarise_block"]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
_CHUNK = 1 << 20
Progress = Callable[[int, int], None]


# ------------------------------------------------------------------------- one block
@dataclass(frozen=True)
class BlockSummary:
    """What a block of years leaves behind with ``keep="summary"``.

    Per-scenario arrays have one entry per scenario, in portfolio order.
    """

    index: int
    years: int
    annual: FloatArray  # (years,): the portfolio's annual loss, kept exactly
    any_event: int  # years in which some scenario had an event
    with_event: IntArray  # years with at least one event
    events: IntArray  # events in all
    one_event: IntArray  # years with exactly one event
    max_events: IntArray  # the most events in one year
    mean: FloatArray  # mean annual loss
    m2: FloatArray  # sum of squared deviations from the mean
    low: FloatArray  # smallest annual loss
    high: FloatArray  # largest annual loss
    sketches: tuple[QuantileSketch, ...]


def summarise_block(plan: Plan, b: int, alpha: float = DEFAULT_ALPHA) -> BlockSummary:
    """Simulate block ``b`` of ``plan`` and reduce it to a :class:`BlockSummary`.

    Runs where the block is simulated (a thread or a Dask worker): only the summary,
    about the size of the block's portfolio vector, travels back.
    """
    block = simulate_block(plan, b)
    k, n = block.losses.shape
    mean, m2, low, high = (np.zeros(k) for _ in range(4))
    with_event, events, one_event, max_events = (np.zeros(k, dtype=np.int64) for _ in range(4))
    sketches = []
    for s in range(k):
        x = block.losses[s]
        c = block.counts[s]
        mean[s] = x.mean()
        m2[s] = float(np.square(x - mean[s]).sum())
        low[s], high[s] = x.min(), x.max()
        with_event[s] = np.count_nonzero(c)
        events[s] = c.sum(dtype=np.int64)
        one_event[s] = np.count_nonzero(c == 1)
        max_events[s] = c.max()
        sketches.append(QuantileSketch.of(x, alpha))
    return BlockSummary(
        index=b,
        years=n,
        annual=block.annual,
        any_event=int(np.count_nonzero(block.any_event)),
        with_event=with_event,
        events=events,
        one_event=one_event,
        max_events=max_events,
        mean=mean,
        m2=m2,
        low=low,
        high=high,
        sketches=tuple(sketches),
    )


class _Totals:
    """The merge of the block summaries so far; blocks must come in block order."""

    def __init__(self, plan: Plan, alpha: float):
        k = len(plan.scenarios)
        self.plan = plan
        self.next = 0
        self.n = 0
        self.annual = np.empty(plan.trials)
        self.any_event = 0
        self.with_event, self.events, self.one_event, self.max_events = (
            np.zeros(k, dtype=np.int64) for _ in range(4)
        )
        self.mean, self.m2 = np.zeros(k), np.zeros(k)
        self.low, self.high = np.full(k, np.inf), np.full(k, -np.inf)
        self.sketches = [QuantileSketch(alpha) for _ in range(k)]

    def add(self, s: BlockSummary) -> None:
        if s.index != self.next:
            raise RiskbenchError(f"block {s.index} arrived where block {self.next} was due")
        start, stop = self.plan.block_bounds(s.index)
        self.annual[start:stop] = s.annual
        self.any_event += s.any_event
        self.with_event += s.with_event
        self.events += s.events
        self.one_event += s.one_event
        np.maximum(self.max_events, s.max_events, out=self.max_events)
        np.minimum(self.low, s.low, out=self.low)
        np.maximum(self.high, s.high, out=self.high)
        # Chan, Golub & LeVeque's pairwise update of (n, mean, M2).
        n = self.n + s.years
        delta = s.mean - self.mean
        self.mean = self.mean + delta * (s.years / n)
        self.m2 = self.m2 + s.m2 + delta**2 * (self.n * s.years / n)
        self.n = n
        for mine, theirs in zip(self.sketches, s.sketches, strict=True):
            mine.merge(theirs)
        self.next += 1


def simulate_summary(
    portfolio: Portfolio,
    plan: Plan,
    *,
    engine: Engine = "local",
    client: Client | str | None = None,
    workers: int = 1,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
    alpha: float = DEFAULT_ALPHA,
) -> StreamedResult:
    """Run ``plan`` keeping a summary of each block (``simulate(..., keep="summary")``).

    The blocks are reduced where they run (:func:`summarise_block`, through
    :func:`riskbench.executors.map_blocks`) and merged here in block order.
    """
    # The largest event per year is not kept: no need to simulate it.
    plan = dataclasses.replace(plan, track_max=False)
    totals = _Totals(plan, alpha)
    fn = functools.partial(summarise_block, alpha=alpha)
    blocks = range(plan.n_blocks)
    for _, summary in map_blocks(
        fn,
        plan,
        blocks,
        engine=engine,
        client=client,
        workers=workers,
        cancel=cancel,
        progress=progress,
    ):
        totals.add(summary)
    return StreamedResult(
        portfolio,
        totals=totals,
        seed=plan.entropy,
        basis=plan.basis,
        block_size=plan.block_size,
        sampling=plan.sampling,
        engine=engine,
        engine_version=ENGINE_VERSION,
    )


# ---------------------------------------------------------------------- the marginals
@dataclass
class _Sorted(_Samples):
    """Exact samples read through one sorted copy, made on first use and kept.

    The same order statistics as :class:`_Samples`; one copy in all (``_Samples``
    partitions a fresh copy per call, sorts another for ``sf`` and ``np.std`` makes
    a third), so reading a 10^8-year portfolio needs 800 MB more, not 2.4 GB.
    """

    @functools.cached_property
    def ordered(self) -> FloatArray:
        return np.sort(self.values)

    def sd(self) -> float:
        # Two passes by chunks: np.std would make a temporary as large as the sample.
        n = self.values.size
        if n < 2:
            return 0.0
        mean = self.values.mean()
        parts = []
        for i in range(0, n, _CHUNK):
            d = self.values[i : i + _CHUNK] - mean
            parts.append(float(np.square(d, out=d).sum()))
        return math.sqrt(math.fsum(parts) / (n - 1))

    def quantile(self, q: FloatArray) -> FloatArray:
        return np.asarray(self.ordered[self._index(q)], dtype=float)

    def quantiles_and_tvar(self, qs: FloatArray, tail: float) -> tuple[FloatArray, float]:
        n = self.values.size
        k = int(self._index(np.array(tail))) + 1
        var = self.ordered[k - 1]
        es = float((self.ordered[k:].sum() + (k - tail * n) * var) / (n * (1 - tail)))
        return self.quantile(qs), es

    def sf(self, x: FloatArray) -> FloatArray:
        return 1.0 - np.searchsorted(self.ordered, x, side="right") / self.ordered.size


@dataclass
class _Sketched(_Marginal):
    """A scenario: exact moments and p_any, sketched quantiles."""

    n: int
    mean_: float
    m2: float
    sketch: QuantileSketch
    p_any: float

    def mean(self) -> float:
        return self.mean_

    def sd(self) -> float:
        return math.sqrt(self.m2 / (self.n - 1)) if self.n > 1 else 0.0

    def quantile(self, q: FloatArray) -> FloatArray:
        return np.asarray(self.sketch.quantile(q), dtype=float)

    def tvar(self, q: float) -> float:
        return self.sketch.tvar(q)

    def sf(self, x: FloatArray) -> FloatArray:
        return np.asarray(self.sketch.sf(x), dtype=float)

    def curve_levels(self) -> FloatArray:
        return np.asarray(1.0 / self.n, dtype=float)


# ------------------------------------------------------------------------- the result
class StreamedResult(_ResultBase):
    """A Monte Carlo run kept as a summary: ``rb.simulate(..., keep="summary")``.

    Reads like :class:`~riskbench.SimulationResult` (``summary``, ``var``, ``tvar``,
    ``exceedance_prob``, ``exceedance_curve``, ``occurrence_prob`` per scenario,
    ``annual_loss``, ``event_summary``, ``standard_error``, ``manifest``,
    ``input_hash``). The portfolio's numbers are exact; a scenario's mean, sd,
    ``p_any`` and event counts are exact, its quantiles, ``tvar`` and exceedance
    probabilities come from a quantile sketch within a relative ``sketch_alpha``:
    :attr:`exactness` lists which is which. What needs each year of each scenario
    (``losses``, ``counts``, ``tornado``, ``max_event``) raises
    :class:`~riskbench.RiskbenchError` naming ``keep="years"``.

    Attributes
    ----------
    annual_loss : numpy.ndarray
        The portfolio's annual loss per simulated year, exactly as ``keep="years"``.
    trials, seed, basis, block_size, sampling, engine, engine_version
        How the run was made; ``seed`` is the entropy actually used.
    sketch_alpha : float
        The relative accuracy of the scenarios' quantile sketches.
    """

    keep = "summary"

    def __init__(
        self,
        portfolio: Portfolio,
        *,
        totals: _Totals,
        seed: int,
        basis: str,
        block_size: int,
        engine: str,
        engine_version: str,
        sampling: str = "random",
        created_at: str | None = None,
    ):
        self.portfolio = portfolio
        self.annual_loss = totals.annual
        self.trials = totals.n
        self.seed = seed
        self.basis = basis
        self.block_size = block_size
        self.sampling = sampling
        self.engine = engine
        self.engine_version = engine_version
        self.sketch_alpha = totals.sketches[0].alpha if totals.sketches else DEFAULT_ALPHA
        self.created_at = created_at or _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")
        self._totals = totals
        self._portfolio = _Sorted(totals.annual, totals.any_event / totals.n)
        self._scenarios = [
            _Sketched(totals.n, float(m), float(m2), sk, int(w) / totals.n)
            for m, m2, sk, w in zip(
                totals.mean, totals.m2, totals.sketches, totals.with_event, strict=True
            )
        ]

    def _marginal(self, scenario: str | None) -> _Marginal:
        if scenario is None:
            return self._portfolio
        return self._scenarios[self.ids.index(scenario)]

    # -- what is exact -------------------------------------------------------------------
    @property
    def exactness(self) -> pd.DataFrame:
        """Which numbers are exact and which are sketched, with the bound.

        Index: the measures (the columns of :meth:`summary`, then ``var``, ``tvar``,
        ``exceedance_prob``, ``exceedance_curve``, ``event_summary``,
        ``annual_loss``); columns ``scenario`` and ``portfolio`` (``"exact"`` or
        ``"sketched"``) and ``bound`` (the guarantee of the sketched ones).
        """
        a = f"{self.sketch_alpha:g}"
        quantile = f"|x - x_q| <= {a} * x_q, x_q the exact sample quantile of rank ceil(q * trials)"
        rows = {
            "mean": ("exact", "rounding only (pairwise merge of mean and M2)"),
            "sd": ("exact", "rounding only (pairwise merge of mean and M2)"),
            "p50": ("sketched", quantile),
            "p90": ("sketched", quantile),
            "p95": ("sketched", quantile),
            "p99": ("sketched", quantile),
            "tvar99": ("sketched", f"within {a} * tvar (relative) of the exact value"),
            "p_any": ("exact", "exact count"),
            "var": ("sketched", quantile),
            "tvar": ("sketched", f"within {a} * tvar (relative) of the exact value"),
            "exceedance_prob": (
                "sketched",
                f"between the exact P(L > x / (1 - {a})) and P(L > x / (1 + {a}))",
            ),
            "exceedance_curve": ("sketched", f"losses within {a} (relative) of exact points"),
            "event_summary": ("exact", "exact counts"),
            "annual_loss": ("n/a", "portfolio only, exact"),
        }
        frame = pd.DataFrame(
            {
                "scenario": [v[0] for v in rows.values()],
                "portfolio": ["exact"] * len(rows),
                "bound": [v[1] for v in rows.values()],
            },
            index=pd.Index(list(rows), name="measure"),
        )
        return frame

    # -- exact extras ---------------------------------------------------------------------
    def event_summary(self) -> pd.DataFrame:
        """Per scenario: mean events a year, P(0), P(1), P(2+) events, largest count."""
        t = self._totals
        n = t.n
        frame = pd.DataFrame(
            {
                "mean_events": t.events / n,
                "p0": (n - t.with_event) / n,
                "p1": t.one_event / n,
                "p2plus": (t.with_event - t.one_event) / n,
                "max_events": t.max_events.astype(int),
            },
            index=pd.Index(list(self.ids), name="scenario"),
        )
        return frame

    def standard_error(self, scenario: str | None = None) -> float:
        """Monte Carlo standard error of the mean annual loss."""
        self._check_scenario(scenario)
        return self._marginal(scenario).sd() / math.sqrt(self.trials)

    # -- what needs every year ------------------------------------------------------------
    def _needs_years(self, what: str) -> NoReturn:
        raise RiskbenchError(
            f"{what} needs every simulated year of every scenario, which a "
            f'keep="summary" run does not keep; run rb.simulate(..., keep="years") '
            f"(the default) for it"
        )

    @property
    def losses(self) -> pd.DataFrame:
        self._needs_years("losses")

    @property
    def counts(self) -> pd.DataFrame:
        self._needs_years("counts")

    def scenario_losses(self, scenario: str) -> FloatArray:
        self._needs_years("scenario_losses")

    @property
    def max_event(self) -> FloatArray:
        self._needs_years("max_event (the largest event of each year)")

    def occurrence_curve(self, *, points: int = 200) -> pd.DataFrame:
        self._needs_years("occurrence_curve")

    def tornado(self, **_options: Any) -> Tornado:
        self._needs_years("tornado")

    def _portfolio_occurrence_sf(self, x: FloatArray) -> FloatArray:
        if not any(rho for *_, rho in self.portfolio.correlation):
            return _independent_occurrence_sf(self.portfolio, x, self.basis)
        self._needs_years("the portfolio's occurrence_prob for a correlated portfolio")

    # -- provenance -----------------------------------------------------------------------
    def years_input_hash(self) -> str:
        """The input hash of the ``keep="years"`` run of the same inputs."""
        return layout_hash(self)

    def input_hash(self) -> str:
        """SHA-256 of what determines the numbers: the inputs of the same run with
        ``keep="years"`` (:meth:`years_input_hash`), plus ``keep`` and the sketch's
        accuracy."""
        payload = {
            "inputs": self.years_input_hash(),
            "keep": self.keep,
            "sketch_alpha": self.sketch_alpha,
        }
        text = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def manifest(self) -> dict[str, Any]:
        """What was run, with what, and when: enough to reproduce the numbers."""
        return run_manifest(
            self,
            "riskbench.StreamedResult",
            keep=self.keep,
            sketch={"kind": "log-bucket (DDSketch)", "relative_accuracy": self.sketch_alpha},
            hashes={"years_input_hash": self.years_input_hash()},
        )

    def __repr__(self) -> str:
        return (
            f"<StreamedResult {len(self.ids)} scenarios x {self.trials:,} years (summary), "
            f"seed={self.seed}, basis={self.basis}>"
        )

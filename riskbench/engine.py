"""The compound frequency-severity Monte Carlo engine.

Each simulated year, each scenario draws its number of events N from its
frequency, then N separate losses from its severity; its annual loss is their
sum (after any insurance). The portfolio's annual loss is the sum over scenarios.

Fixed block layout
------------------
The trials are cut into blocks of ``block_size`` years. Block ``b`` of scenario
``s`` draws from its own stream, ``SeedSequence(seed, spawn_key=(b, key(s)))``,
where ``key(s)`` is a hash of the scenario id; the correlation step of block
``b`` has a stream of its own too. So a seed gives the same numbers whichever
worker runs a block, in whatever order, and adding a scenario leaves the others'
draws unchanged (common random numbers for what-if comparisons). With
``sampling="lhs"`` or ``"sobol"`` a block's draws are stratified within the block,
from the same streams (:mod:`riskbench.sampling`), so all of this still holds.

Examples
--------
>>> import riskbench as rb
>>> s = rb.Scenario(id="fire", title="Plant fire", category="operational",
...                 frequency=rb.Bernoulli(p=0.05), severity=rb.Constant(1e6))
>>> res = rb.simulate(rb.Portfolio([s]), trials=100_000, seed=7)
>>> float(res.annual_loss.max())  # Bernoulli: at most one event a year
1000000.0
>>> bool(abs(res.annual_loss.mean() - 0.05 * 1e6) < 4 * res.standard_error())
True
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
from numpy.typing import NDArray

from riskbench.correlation import normal_scores_target, rank_positions
from riskbench.errors import Issue, RiskbenchError, ValidationError
from riskbench.executors import map_blocks
from riskbench.results import ExactResult, SimulationResult
from riskbench.sampling import Sampling, check_sampling, draw_counts, draw_events
from riskbench.scenario import Layer, Portfolio, Scenario

if TYPE_CHECKING:
    from distributed import Client

    from riskbench.streaming import StreamedResult

__all__ = ["BLOCK_SIZE", "ENGINE_VERSION", "simulate"]

BLOCK_SIZE = 1 << 16
ENGINE_VERSION = "1"
_CORRELATION_KEY = 0xC0441A7E
Basis = Literal["net", "gross", "ceded"]
Progress = Callable[[int, int], None]

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


def scenario_key(scenario_id: str) -> int:
    """The stable 32-bit stream key of a scenario id."""
    return int.from_bytes(hashlib.sha256(scenario_id.encode()).digest()[:4], "little")


@dataclass(frozen=True)
class Plan:
    """Everything a block needs, prepared once per run."""

    scenarios: tuple[Scenario, ...]
    entropy: int
    trials: int
    block_size: int
    basis: Basis
    correlated: tuple[int, ...]
    target: FloatArray | None
    count_dtype: type[np.unsignedinteger[Any]] = np.uint32
    # The largest event per year is simulated when scenarios are correlated; for an
    # independent portfolio its distribution is exact without it (see results).
    track_max: bool = True
    sampling: Sampling = "random"

    @property
    def n_blocks(self) -> int:
        return -(-self.trials // self.block_size)

    def block_bounds(self, b: int) -> tuple[int, int]:
        start = b * self.block_size
        return start, min(start + self.block_size, self.trials)

    def rng(self, b: int, key: int) -> np.random.Generator:
        return np.random.Generator(
            np.random.PCG64(np.random.SeedSequence(self.entropy, spawn_key=(b, key)))
        )


@dataclass
class Block:
    """One block's simulated years, already reordered for correlation."""

    index: int
    losses: FloatArray  # (scenarios, years): annual loss per scenario
    counts: NDArray[np.unsignedinteger[Any]]  # (scenarios, years): events
    annual: FloatArray  # (years,): the portfolio's annual loss
    max_event: FloatArray | None  # (years,): the largest event across scenarios
    any_event: NDArray[np.bool_]  # (years,): whether any scenario had an event


class Sink:
    """Where blocks write their years: the result's arrays, sliced per block.

    Blocks own disjoint slices, so threads write into them without locks and no
    block is copied after it is simulated.
    """

    def __init__(self, result: SimulationResult):
        self.result = result

    def block(self, b: int, start: int, stop: int) -> Block:
        r = self.result
        return Block(
            index=b,
            losses=r._losses[:, start:stop],
            counts=r._counts[:, start:stop],
            annual=r.annual_loss[start:stop],
            max_event=None if r._max_event is None else r._max_event[start:stop],
            any_event=r._any_event[start:stop],
        )

    def store(self, block: Block, start: int, stop: int) -> None:
        """Copy a block simulated elsewhere (a Dask worker) into its slices."""
        mine = self.block(block.index, start, stop)
        mine.losses[:] = block.losses
        mine.counts[:] = block.counts
        mine.annual[:] = block.annual
        mine.any_event[:] = block.any_event
        if mine.max_event is not None and block.max_event is not None:
            mine.max_event[:] = block.max_event


def _empty_block(plan: Plan, b: int, n: int) -> Block:
    return Block(
        index=b,
        losses=np.empty((len(plan.scenarios), n)),
        counts=np.empty((len(plan.scenarios), n), dtype=plan.count_dtype),
        annual=np.empty(n),
        max_event=np.empty(n) if plan.track_max else None,
        any_event=np.empty(n, dtype=bool),
    )


def make_plan(
    portfolio: Portfolio,
    *,
    trials: int,
    seed: int | None,
    basis: Basis = "net",
    block_size: int = BLOCK_SIZE,
    track_max: bool | None = None,
    sampling: Sampling = "random",
) -> Plan:
    entropy = np.random.SeedSequence(seed).entropy
    assert isinstance(entropy, int)
    m = portfolio.correlation_matrix()
    off = np.abs(m - np.eye(len(m))).sum(axis=0) > 0
    correlated = tuple(int(i) for i in np.flatnonzero(off))
    target = None
    if correlated:
        sub = m[np.ix_(correlated, correlated)]
        labels = [portfolio.ids[i] for i in correlated]
        target = normal_scores_target(sub, labels=labels)
    top = max(float(s.frequency.max_count()) for s in portfolio.scenarios)  # type: ignore[attr-defined]
    # Counts are stored in 16 bits when no scenario can exceed that (memory).
    count_dtype = np.uint16 if top <= np.iinfo(np.uint16).max else np.uint32
    return Plan(
        track_max=bool(correlated) if track_max is None else track_max,
        count_dtype=count_dtype,
        scenarios=portfolio.scenarios,
        entropy=entropy,
        trials=trials,
        block_size=block_size,
        basis=basis,
        correlated=correlated,
        target=target,
        sampling=sampling,
    )


class Years:
    """Groups consecutive event values into years: ``counts[i]`` values for year ``i``.

    The index work is done once and shared by every reduction over the same events.
    """

    def __init__(self, counts: IntArray, n_events: int, *, compact: bool = False):
        self.size = counts.size
        self.empty = n_events == 0
        self.nonzero = counts > 0
        self.index = np.flatnonzero(self.nonzero)
        self.starts = (np.cumsum(counts) - counts)[self.index]
        # Compact results hold only the years with events: far less work for the
        # rare scenarios that fill most registers. Dense when most years have events.
        self.compact = compact and self.index.size < self.size // 3

    def reduce(self, values: FloatArray, op: np.ufunc = np.add) -> FloatArray:
        """``op`` over each year's values: one per year (0 without events), or one
        per year with events when ``compact``."""
        if self.compact:
            return op.reduceat(values, self.starts) if not self.empty else np.zeros(0)
        out = np.zeros(self.size)
        if not self.empty:
            out[self.nonzero] = op.reduceat(values, self.starts)
        return out

    def dense(self, values: FloatArray) -> FloatArray:
        """Per-year values from what :meth:`reduce` gave."""
        if not self.compact:
            return values
        out = np.zeros(self.size)
        out[self.index] = values
        return out


def scenario_year_losses(
    scenario: Scenario,
    counts: IntArray,
    events: FloatArray,
    basis: Basis,
    years: Years | None = None,
    *,
    with_max: bool = True,
) -> tuple[FloatArray, FloatArray | None]:
    """Annual losses and largest event per year from event counts and event losses.

    Insurance follows the usual policy structure: each event recovers its
    ``per_event`` layer (all of it when there is none); the year's recoveries then
    pass through the ``annual`` aggregate layer (aggregate deductible and limit).
    The retained (net) loss is the gross loss less what the insurer pays.
    """
    ins = scenario.insurance
    per_event: Layer | None = ins.per_event if ins else None
    annual_layer: Layer | None = ins.annual if ins else None
    if scenario.severity.support_min < 0:
        np.maximum(events, 0.0, out=events)
    years = years or Years(counts, events.size)
    if basis == "gross" or (per_event is None and annual_layer is None):
        if basis == "ceded":
            zeros = np.zeros(years.index.size if years.compact else counts.size)
            return zeros, zeros.copy() if with_max else None
        return years.reduce(events), years.reduce(events, np.maximum) if with_max else None
    recovered = per_event.recovery(events) if per_event is not None else events
    paid = years.reduce(recovered)
    if annual_layer is not None:
        paid = annual_layer.recovery(paid)
    # The largest single event is judged after the per-event layer only: an
    # aggregate cover does not belong to any one event.
    per_event_amount = recovered if per_event is not None else np.zeros_like(events)
    if basis == "ceded":
        return paid, years.reduce(per_event_amount, np.maximum) if with_max else None
    biggest = years.reduce(events - per_event_amount, np.maximum) if with_max else None
    return years.reduce(events) - paid, biggest


def simulate_block(plan: Plan, b: int, sink: Sink | None = None) -> Block:
    """Simulate block ``b`` of ``plan``, into ``sink`` if given."""
    start, stop = plan.block_bounds(b)
    n = stop - start
    block = sink.block(b, start, stop) if sink else _empty_block(plan, b, n)
    block.annual[:] = 0.0
    block.any_event[:] = False
    top = block.max_event
    if top is not None:
        top[:] = 0.0
    limit = np.iinfo(plan.count_dtype).max
    # The correlated order depends only on the block's own scores, so each
    # scenario can be reordered as soon as it is drawn (bounded memory).
    positions = None
    if plan.target is not None:
        positions = rank_positions(n, plan.target, plan.rng(b, _CORRELATION_KEY))
    column = {s: j for j, s in enumerate(plan.correlated)}
    for s, scenario in enumerate(plan.scenarios):
        rng = plan.rng(b, scenario_key(scenario.id))
        c = draw_counts(scenario.frequency, n, rng, plan.sampling)
        if n and int(c.max()) > limit:
            raise RiskbenchError(
                f"{scenario.id}: {int(c.max()):,} events in one year exceed what a "
                f"result can count ({limit:,})"
            )
        events = draw_events(scenario.severity, int(c.sum()), rng, plan.sampling)
        correlated = positions is not None and s in column
        years = Years(c, events.size, compact=not correlated)
        year, biggest = scenario_year_losses(
            scenario, c, events, plan.basis, years, with_max=top is not None
        )
        if years.compact:
            idx = years.index
            row = block.losses[s]
            row[:] = 0.0
            row[idx] = year
            block.counts[s] = c
            block.annual[idx] += year
            block.any_event[idx] = True
            if top is not None and biggest is not None:
                top[idx] = np.maximum(top[idx], biggest)
            continue
        if positions is not None and correlated:
            order = np.argsort(year, kind="stable")
            where = positions[:, column[s]]
            year[where] = year[order]
            c[where] = c[order]
            if biggest is not None:
                biggest[where] = biggest[order]
        block.losses[s] = year
        block.counts[s] = c
        block.annual += year
        block.any_event |= c > 0
        if top is not None and biggest is not None:
            np.maximum(top, biggest, out=top)
    return block


def plan_for(result: SimulationResult, *, track_max: bool | None = None) -> Plan:
    """The plan that made ``result`` (the same blocks, streams and correlation)."""
    return make_plan(
        result.portfolio,
        trials=result.trials,
        seed=result.seed,
        basis=result.basis,  # type: ignore[arg-type]
        block_size=result.block_size,
        track_max=track_max,
        sampling=result.sampling,  # type: ignore[arg-type]
    )


def largest_events(result: SimulationResult, *, workers: int = 1) -> FloatArray:
    """The largest single event of each year of ``result``, by simulating its blocks
    again (the same seed gives the same events)."""
    plan = plan_for(result, track_max=True)
    out = np.empty(result.trials)
    for block in run_blocks(plan, range(plan.n_blocks), workers=workers):
        start, stop = plan.block_bounds(block.index)
        assert block.max_event is not None
        out[start:stop] = block.max_event
    return out


def run_blocks(
    plan: Plan, blocks: Iterable[int], *, workers: int = 1, sink: Sink | None = None
) -> Iterator[Block]:
    """Simulate ``blocks`` on ``workers`` threads, yielding them in the given order.

    numpy's generators release the GIL while drawing, so threads use several cores.
    At most ``workers + 1`` blocks are held at once, which bounds memory.
    """
    fn = partial(simulate_block, sink=sink)
    for _, block in map_blocks(fn, plan, blocks, workers=max(1, workers)):
        yield block


def _check_options(
    trials: Any, seed: Any, engine: Any, basis: Any, workers: Any, block_size: Any
) -> None:
    issues = []
    if isinstance(trials, bool) or not isinstance(trials, int | np.integer) or trials < 1:
        issues.append(Issue("trials", f"must be a whole number of years >= 1, got {trials!r}"))
    if seed is not None and (
        isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0
    ):
        issues.append(Issue("seed", f"must be a non-negative integer or None, got {seed!r}"))
    if engine not in ("local", "dask", "fft"):
        issues.append(Issue("engine", f"must be one of 'local', 'dask', 'fft', got {engine!r}"))
    if basis not in ("net", "gross", "ceded"):
        issues.append(Issue("basis", f"must be one of 'net', 'gross', 'ceded', got {basis!r}"))
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        issues.append(Issue("workers", f"must be an integer >= 1, got {workers!r}"))
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 16:
        issues.append(Issue("block_size", f"must be an integer >= 16, got {block_size!r}"))
    if issues:
        raise ValidationError(issues)


def _check_engine_options(engine: Any, workers: Any, client: Any) -> None:
    if client is not None and engine != "dask":
        raise ValidationError(
            [Issue("client", f"is an option of engine='dask' only, got engine={engine!r}")]
        )
    if workers is not None and engine == "dask":
        raise ValidationError(
            [
                Issue(
                    "workers",
                    "is an option of engine='local' only: with engine='dask' the cluster's "
                    "workers run the blocks (client='local:N' for N local workers)",
                )
            ]
        )


def _check_keep(keep: Any, engine: Any) -> None:
    if keep not in ("years", "summary"):
        raise ValidationError([Issue("keep", f"must be one of 'years', 'summary', got {keep!r}")])
    if keep == "summary" and engine == "fft":
        raise ValidationError(
            [
                Issue(
                    "keep",
                    "'summary' is for the Monte Carlo engines ('local', 'dask'): "
                    "engine='fft' simulates no years",
                )
            ]
        )


def as_portfolio(value: Portfolio | Scenario | Sequence[Scenario]) -> Portfolio:
    """A portfolio from a portfolio, one scenario or a list of scenarios."""
    if isinstance(value, Portfolio):
        return value
    if isinstance(value, Scenario):
        return Portfolio([value])
    if isinstance(value, Sequence) and all(isinstance(s, Scenario) for s in value):
        return Portfolio(list(value))
    raise ValidationError(
        [Issue("portfolio", f"must be a Portfolio, a Scenario or a list of them, got {value!r}")]
    )


def simulate(
    portfolio: Portfolio | Scenario | Sequence[Scenario],
    trials: int = 100_000,
    seed: int | None = None,
    *,
    engine: Literal["local", "dask", "fft"] = "local",
    basis: Basis = "net",
    workers: int | None = None,
    block_size: int = BLOCK_SIZE,
    sampling: Sampling = "random",
    progress: Progress | None = None,
    client: Client | str | None = None,
    cancel: threading.Event | None = None,
    keep: Literal["years", "summary"] = "years",
    **fft_options: Any,
) -> SimulationResult | ExactResult | StreamedResult:
    """Simulate the annual losses of a portfolio.

    Parameters
    ----------
    portfolio
        A :class:`~riskbench.Portfolio` (or one scenario, or a list of scenarios).
    trials
        Number of simulated years.
    seed
        Seed of the run; ``None`` draws one from the operating system and records
        it on the result (``result.seed``), so every run can be repeated.
    engine
        ``"local"``: Monte Carlo in this process. ``"dask"``: the same blocks on the
        workers of a Dask cluster (see ``client``), bit-identical to ``"local"``.
        ``"fft"``: the exact aggregate distribution of an independent portfolio (see
        :func:`riskbench.fft.aggregate`); ``trials`` and ``seed`` are then ignored.
    basis
        ``"net"`` (default): losses retained after insurance; ``"gross"``: before
        insurance; ``"ceded"``: what insurance pays.
    workers
        Threads to run blocks on with ``engine="local"`` (default: the number of CPUs,
        at most the number of blocks). The numbers do not depend on it.
    block_size
        Years per block: part of the fixed layout, so changing it changes the numbers.
    sampling
        ``"random"`` (default): plain Monte Carlo. ``"lhs"`` (Latin hypercube) or
        ``"sobol"`` (scrambled Sobol'): counts and event losses by inverse transform
        of uniforms stratified within each block, for a smaller standard error of
        the mean at the same ``trials`` (see :mod:`riskbench.sampling`). Part of the
        run's identity; ignored by ``engine="fft"``.
    progress
        Called as ``progress(done_years, trials)`` after each block.
    client
        For ``engine="dask"`` only: ``None`` (default) starts a local cluster of one
        worker process per CPU for this call; ``"local:N"`` one of ``N`` workers; a
        scheduler address such as ``"tcp://host:8786"``; or a ``distributed.Client``
        (a dask-gateway cluster's ``get_client()`` too). See docs/scale-out.md.
    cancel
        A :class:`threading.Event`: setting it (from another thread, or from
        ``progress``) stops the run within about a block and raises
        :class:`~riskbench.errors.Cancelled`.
    keep
        ``"years"`` (default): keep every simulated year of every scenario. ``"summary"``:
        reduce each block where it runs and keep the portfolio's annual losses (8 bytes
        a year) and a summary of each scenario, for runs too large to hold (see
        :mod:`riskbench.streaming`); returns a :class:`~riskbench.streaming.StreamedResult`.

    Returns
    -------
    SimulationResult
        For ``"local"`` and ``"dask"``; :class:`~riskbench.results.ExactResult` for
        ``"fft"``.
        With ``keep="summary"``, a :class:`~riskbench.streaming.StreamedResult`.

    Examples
    --------
    >>> import riskbench as rb
    >>> p = rb.Portfolio([rb.Scenario(id="a", title="A", category="other",
    ...     frequency=rb.Poisson(rate=2.0), severity=rb.Constant(10.0))])
    >>> res = rb.simulate(p, trials=50_000, seed=1)
    >>> bool(abs(res.summary().loc["portfolio", "mean"] - 20.0) < 0.2)
    True
    """
    workers_given = workers
    workers = workers if workers is not None else 1
    _check_options(trials, seed, engine, basis, workers, block_size)
    _check_engine_options(engine, workers_given, client)
    _check_keep(keep, engine)
    pf = as_portfolio(portfolio)
    check_sampling(sampling, () if engine == "fft" else pf.scenarios)
    if engine == "fft":
        from riskbench.fft import aggregate

        return aggregate(pf, basis=basis, **fft_options)
    if fft_options:
        raise ValidationError(
            [Issue(k, "is an option of engine='fft' only") for k in sorted(fft_options)]
        )
    plan = make_plan(
        pf, trials=int(trials), seed=seed, basis=basis, block_size=block_size, sampling=sampling
    )
    if workers_given is None:
        workers = max(1, min(os.cpu_count() or 1, plan.n_blocks))
    if keep == "summary":
        from riskbench.streaming import simulate_summary

        return simulate_summary(
            pf,
            plan,
            engine=engine,
            client=client,
            workers=workers,
            cancel=cancel,
            progress=progress,
        )
    result = SimulationResult.allocate(
        pf,
        track_max=plan.track_max,
        trials=plan.trials,
        seed=plan.entropy,
        basis=basis,
        block_size=block_size,
        engine_version=ENGINE_VERSION,
        count_dtype=plan.count_dtype,
        sampling=sampling,
    )
    sink = Sink(result)
    blocks = range(plan.n_blocks)
    if engine == "dask":
        # The blocks come back from the workers as arrays, in block order.
        for b, block in map_blocks(
            simulate_block,
            plan,
            blocks,
            engine="dask",
            client=client,
            cancel=cancel,
            progress=progress,
        ):
            sink.store(block, *plan.block_bounds(b))
    else:
        fn = partial(simulate_block, sink=sink)
        for _ in map_blocks(fn, plan, blocks, workers=workers, cancel=cancel, progress=progress):
            pass
    return result

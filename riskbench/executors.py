"""Where blocks run: threads in this process, or the workers of a Dask cluster.

:func:`map_blocks` applies ``fn(plan, b)`` to blocks of the fixed layout (see
:mod:`riskbench.engine`) and yields the values in the order of the blocks asked
for, whoever ran them and whenever they finished. Reductions over the values
(floating-point sums included) are therefore the same on one thread, several
threads or a cluster.

Only a few blocks are in flight at once (``workers + 1`` on threads, twice the
cluster's threads on Dask), so memory stays bounded however many years are run.

Examples
--------
>>> import riskbench as rb
>>> from riskbench.engine import make_plan, simulate_block
>>> p = rb.Portfolio([rb.Scenario(id="a", title="A", category="other",
...                   frequency=rb.Poisson(rate=1.0), severity=rb.Constant(10.0))])
>>> plan = make_plan(p, trials=1_000, seed=1, block_size=256)
>>> [b for b, _ in map_blocks(simulate_block, plan, [3, 0, 2, 1], workers=2)]
[3, 0, 2, 1]
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_local
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypeVar

from riskbench.errors import (
    Cancelled,
    Issue,
    MissingDependencyError,
    RiskbenchError,
    ValidationError,
)

if TYPE_CHECKING:
    from distributed import Client

__all__ = ["Engine", "connect", "map_blocks", "parse_scheduler", "shared_client"]

T = TypeVar("T")
Engine = Literal["local", "dask"]
Progress = Callable[[int, int], None]

# How often a wait looks at the cancel event (seconds): cancelling takes about this long.
_POLL_S = 0.05
# How often the Dask window is resized to the cluster's threads (workers come and go).
_RESIZE_S = 1.0
_ADDRESS = re.compile(r"(tcp|tls|ws|wss|ucx)://(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9._-]+)(:\d{1,5})?")
_LOCAL = re.compile(r"local:(\d+)")


class BlockPlan(Protocol):
    """What :func:`map_blocks` needs of a plan (:class:`riskbench.engine.Plan`)."""

    @property
    def trials(self) -> int: ...

    def block_bounds(self, b: int) -> tuple[int, int]: ...


P = TypeVar("P", bound=BlockPlan)


def map_blocks(
    fn: Callable[[P, int], T],
    plan: P,
    blocks: Iterable[int],
    *,
    engine: Engine = "local",
    client: Client | str | None = None,
    workers: int = 1,
    cancel: threading.Event | None = None,
    progress: Progress | None = None,
) -> Iterator[tuple[int, T]]:
    """Apply ``fn(plan, b)`` to each block and yield ``(b, value)`` in the order of ``blocks``.

    Parameters
    ----------
    fn
        A function of the plan and a block index. With ``engine="dask"`` it runs on
        the workers: it must be importable there (a module-level function of a
        package the workers have) and its value is sent back.
    plan
        The run's :class:`~riskbench.engine.Plan`; sent to a cluster once, not per block.
    blocks
        Block indices, in the order the values are wanted.
    engine
        ``"local"``: ``workers`` threads of this process (numpy releases the GIL while
        drawing). ``"dask"``: the workers of a ``dask.distributed`` cluster.
    client
        For ``engine="dask"`` (see :func:`connect`): ``None`` starts a local cluster of
        one single-threaded worker process per CPU for this call; ``"local:N"`` one of
        ``N`` workers; a scheduler address such as ``"tcp://host:8786"``; or a
        ``distributed.Client`` (a dask-gateway cluster's ``get_client()`` too), which is
        left open.
    workers
        Threads for ``engine="local"``.
    cancel
        When this event is set, no more blocks are started, those waiting are dropped
        (a block already running cannot be interrupted: it finishes and is discarded)
        and :class:`~riskbench.errors.Cancelled` is raised, within about 50 ms.
    progress
        Called as ``progress(done_years, total_years)`` as the values are yielded.

    Yields
    ------
    tuple
        ``(b, fn(plan, b))`` for each block, in the order of ``blocks``.
    """
    order = list(blocks)
    if engine == "local":
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValidationError([Issue("workers", f"must be an integer >= 1, got {workers!r}")])
        if client is not None:
            raise ValidationError([Issue("client", "is an option of engine='dask' only")])
        values = _local(fn, plan, order, workers, cancel)
    elif engine == "dask":
        values = _dask(fn, plan, order, client, cancel)
    else:
        raise ValidationError([Issue("engine", f"must be one of 'local', 'dask', got {engine!r}")])
    sizes = {b: _years(plan, b) for b in order}
    total = sum(sizes.values())
    done = 0
    try:
        for b, value in values:
            done += sizes[b]
            if progress is not None:
                progress(done, total)
            yield b, value
    finally:
        values.close()  # cancels what is still in flight when the caller stops early


def _years(plan: BlockPlan, b: int) -> int:
    start, stop = plan.block_bounds(b)
    return stop - start


def _stop_if_cancelled(cancel: threading.Event | None, done: int, total: int) -> None:
    if cancel is not None and cancel.is_set():
        raise Cancelled(done=done, total=total)


# ------------------------------------------------------------------------- threads
def _local(
    fn: Callable[[P, int], T],
    plan: P,
    order: list[int],
    workers: int,
    cancel: threading.Event | None,
) -> Generator[tuple[int, T], None, None]:
    total = len(order)
    if workers == 1:
        for done, b in enumerate(order):
            _stop_if_cancelled(cancel, done, total)
            yield b, fn(plan, b)
        return
    pool = ThreadPoolExecutor(max_workers=workers)
    pending: deque[tuple[int, Future[T]]] = deque()
    todo = iter(order)

    def fill(done: int) -> None:
        while len(pending) < workers:
            b = next(todo, None)
            if b is None:
                return
            _stop_if_cancelled(cancel, done, total)
            pending.append((b, pool.submit(fn, plan, b)))

    try:
        fill(0)
        for done in range(total):
            b, future = pending.popleft()
            if cancel is not None:
                while not wait_local([future], timeout=_POLL_S).done:
                    _stop_if_cancelled(cancel, done, total)
            value = future.result()
            # The next block starts before this one is handed over: ``workers`` in
            # flight plus the one the caller holds.
            fill(done)
            yield b, value
    finally:
        for _, future in pending:
            future.cancel()
        # Blocks already running finish (numpy cannot be interrupted); none starts.
        pool.shutdown(wait=True, cancel_futures=True)


# ---------------------------------------------------------------------------- dask
def parse_scheduler(text: str, *, loc: str = "client") -> int | str:
    """The number of workers of ``"local:N"``, or the scheduler address itself.

    Raises :class:`~riskbench.errors.ValidationError` located at ``loc`` for anything else.

    Examples
    --------
    >>> parse_scheduler("local:2"), parse_scheduler("tcp://10.0.0.5:8786")
    (2, 'tcp://10.0.0.5:8786')
    """
    local = _LOCAL.fullmatch(text)
    if local is not None and int(local.group(1)) >= 1:
        return int(local.group(1))
    if _ADDRESS.fullmatch(text):
        return text
    raise ValidationError(
        [
            Issue(
                loc,
                "must be 'local:N' (a local Dask cluster of N >= 1 worker processes) or a "
                f"scheduler address such as 'tcp://host:8786', got {text!r}",
            )
        ]
    )


def _distributed() -> Any:
    try:
        import distributed
    except ImportError:
        raise MissingDependencyError("distributed", "dask", purpose="engine='dask'") from None
    return distributed


@contextmanager
def connect(client: Client | str | None = None, *, loc: str = "client") -> Iterator[Client]:
    """A ``distributed.Client`` for ``client``, closed afterwards if opened here.

    Parameters
    ----------
    client
        ``None``: a local cluster of one single-threaded worker process per CPU;
        ``"local:N"``: one of ``N`` workers (both are closed afterwards); a scheduler
        address (``"tcp://host:8786"``): a client of that scheduler (the client is
        closed afterwards, the cluster is not); a ``distributed.Client``: itself,
        left open.
    loc
        Where a bad ``client`` is reported (the CLI says ``--scheduler``).
    """
    distributed = _distributed()
    if isinstance(client, distributed.Client):
        yield client
        return
    if client is None:
        spec: int | str = os.cpu_count() or 1
    elif isinstance(client, str):
        spec = parse_scheduler(client, loc=loc)
    else:
        raise ValidationError(
            [
                Issue(
                    loc,
                    "must be None, a distributed.Client, 'local:N' or a scheduler address "
                    f"such as 'tcp://host:8786', got {client!r}",
                )
            ]
        )
    if isinstance(spec, int):
        # Processes, one thread each: the blocks run in parallel and a worker that
        # dies is restarted by its nanny without taking the others with it. The HTTP
        # server (dashboard) takes a free port: 8787 may be another cluster's.
        with (
            worker_environment(),
            distributed.LocalCluster(
                n_workers=spec, threads_per_worker=1, processes=True, dashboard_address=":0"
            ) as cluster,
            distributed.Client(cluster, set_as_default=False) as own,
        ):
            yield own
        return
    try:
        remote = distributed.Client(spec, set_as_default=False)
    except (OSError, TimeoutError) as error:
        raise ValidationError(
            [Issue(loc, f"cannot connect to the Dask scheduler at {spec!r}: {error}")]
        ) from None
    with remote:
        yield remote


@contextmanager
def worker_environment() -> Iterator[None]:
    """Dask's settings for the worker processes started inside, without the
    ``MALLOC_TRIM_THRESHOLD_`` that Dask's nannies put in a worker's environment.

    Setting any glibc trim threshold turns off glibc's dynamic mmap threshold, so every
    array over 128 KiB is mapped fresh from the kernel and its pages faulted in again:
    measured here, a 65,536-year block of 50 scenarios took 0.31 s in such a worker
    against 0.14 s in this process, and 0.14 s in a worker without the variable.
    Dask sets it to hand freed memory back to the system sooner; a simulation's
    blocks are freed and reallocated at the same sizes, which glibc's default serves
    from memory it keeps.
    """
    import dask

    var = "MALLOC_TRIM_THRESHOLD_"
    key = f"distributed.nanny.pre-spawn-environ.{var}"
    dask_value = dask.config.get(key, None)
    # A nanny also copies its settings into its own process's environment, which the
    # next workers inherit: take Dask's value (only Dask's) out of it meanwhile.
    leaked = dask_value is not None and os.environ.get(var) == str(dask_value)
    with dask.config.set({key: None}):  # None: Dask's way to unset a variable
        saved = os.environ.pop(var) if leaked else None
        try:
            yield
        finally:
            if saved is not None:
                os.environ[var] = saved


@contextmanager
def shared_client(engine: str, client: Client | str | None) -> Iterator[Client | str | None]:
    """What to pass as ``client`` to several simulations in a row: with
    ``engine="dask"``, one client (and local cluster) for them all, not one each."""
    if engine != "dask":
        yield client  # simulate says that a client needs engine='dask'
        return
    with connect(client) as opened:
        yield opened


def _done_event(future: Any) -> threading.Event:
    """An event set when a Dask future is done (finished, failed or cancelled)."""
    ready = threading.Event()
    future.add_done_callback(lambda _: ready.set())
    return ready


def _identity(value: T) -> T:
    return value


def _versions() -> dict[str, str]:
    import numpy

    from riskbench import __version__

    return {"numpy": numpy.__version__, "riskbench": __version__}


def _check_workers(client: Client) -> None:
    """Workers must run the same numpy and riskbench as here, or the numbers differ."""
    mine = _versions()
    try:
        theirs: dict[str, dict[str, str]] = client.run(_versions)
    except ImportError as error:
        raise RiskbenchError(
            f"the Dask workers cannot import riskbench ({error}): install the same "
            f"riskbench {mine['riskbench']} and numpy {mine['numpy']} on them"
        ) from None
    for worker, versions in sorted(theirs.items()):
        if versions != mine:
            raise RiskbenchError(
                f"Dask worker {worker} runs {versions}, this process {mine}: the numbers "
                "would differ; install the same versions on every worker"
            )


def _dask(
    fn: Callable[[P, int], T],
    plan: P,
    order: list[int],
    client: Client | str | None,
    cancel: threading.Event | None,
) -> Generator[tuple[int, T], None, None]:
    _distributed()  # names the extra to install when it is missing
    from dask.base import tokenize

    total = len(order)
    with connect(client) as opened:
        c: Any = opened  # distributed's methods are untyped
        _check_workers(c)
        token = tokenize(fn, plan)
        # The plan travels once per worker as the value of a task of its own: unlike
        # scattered data, the scheduler can compute it again if its workers are lost.
        shared = c.submit(_identity, plan, key=f"riskbench-plan-{token}", pure=True)
        pending: deque[tuple[int, Any]] = deque()
        todo = iter(order)
        window, resized = 2, 0.0
        try:
            for done in range(total):
                now = time.monotonic()
                if now - resized > _RESIZE_S:
                    window, resized = max(2, 2 * sum(c.nthreads().values())), now
                while len(pending) < window:
                    b = next(todo, None)
                    if b is None:
                        break
                    _stop_if_cancelled(cancel, done, total)
                    # A fixed key per (plan, block): a block lost with its worker is
                    # recomputed by the scheduler, from the same stream.
                    key = f"riskbench-block-{token}-{b}"
                    pending.append((b, c.submit(fn, shared, b, key=key, pure=True)))
                b, future = pending.popleft()
                if cancel is not None:
                    # Wait for the block to be done, not with result(timeout=...): a
                    # timeout there cancels the transfer under way, and with it any
                    # other thread's that the client merged into the same request.
                    ready = _done_event(future)
                    while not ready.wait(_POLL_S):
                        _stop_if_cancelled(cancel, done, total)
                value = future.result()
                del future  # the worker may forget the block now
                yield b, value
        finally:
            # Released, not cancelled: a key cancelled on a client is cancelled for
            # everyone using it, and the same run may be going on beside this one (the
            # keys are the same). Blocks that nothing wants any more are dropped by the
            # scheduler; those running finish and are forgotten.
            for _, future in pending:
                future.release()
            pending.clear()
            shared.release()

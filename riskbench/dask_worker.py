"""``python -m riskbench.dask_worker SCHEDULER [dask worker options]``: Dask's
``dask worker`` command with riskbench's worker environment
(:func:`riskbench.executors.worker_environment`: no ``MALLOC_TRIM_THRESHOLD_``, which
halves a block's speed). ``make cluster`` starts its workers with it."""

from __future__ import annotations

import sys

from riskbench.executors import worker_environment


def main(argv: list[str] | None = None) -> None:
    """Run ``dask worker`` with ``argv`` (default: the command line) in riskbench's
    worker environment."""
    from distributed.cli.dask_worker import main as dask_worker

    with worker_environment():
        dask_worker.main(args=sys.argv[1:] if argv is None else argv, prog_name="dask worker")


if __name__ == "__main__":
    main()

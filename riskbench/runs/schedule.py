"""Notebook runs on a cron schedule, run by ``riskbench scheduler``.

A schedule is a row in the organisation's workspace: a name, a cron expression (five
fields, UTC), a notebook, its parameters (checked when the schedule is added) and the
time the next run is due.

How a scheduler runs a due job, exactly once, whatever else is running or crashes:

1. In one transaction it takes the schedule's row with ``SELECT ... FOR UPDATE SKIP
   LOCKED``. A second scheduler skips a row that is taken, so a job never runs twice
   at once, and each scheduler runs one job at a time.
2. The transaction stays open while the notebook runs. If the scheduler dies, its
   connection drops, the lock goes and ``next_run_at`` is unchanged: the next
   scheduler to look takes the same slot. The dead run's row, still ``running``, is
   marked ``interrupted`` first.
3. If a run for that slot already succeeded (the scheduler died after the run but
   before the commit), it is not run again.
4. ``next_run_at`` moves to the first cron time after the slot and after now (a
   scheduler that was down for three slots runs the latest once, not three times),
   and the transaction commits.

A failed run is recorded with its error and the job waits for its next slot.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import threading
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pandas as pd

from riskbench.errors import Issue, StoreError, ValidationError
from riskbench.runs import store
from riskbench.runs.notebook import NotebookRun, check_parameters, run_notebook

__all__ = [
    "Scheduler",
    "add_schedule",
    "list_schedules",
    "next_time",
    "remove_schedule",
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def next_time(cron: str, after: dt.datetime) -> dt.datetime:
    """The first time after ``after`` that ``cron`` (5 fields, UTC) names."""
    from croniter import croniter

    if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
        raise ValidationError(
            [
                Issue(
                    "cron",
                    f"must be a 5-field cron expression (minute hour day month weekday, "
                    f"UTC) such as '0 6 1 * *', got {cron!r}",
                )
            ]
        )
    nxt: dt.datetime = croniter(cron, after.astimezone(dt.UTC)).get_next(dt.datetime)
    return nxt.astimezone(dt.UTC)


def add_schedule(
    ws: Any,
    name: str,
    cron: str,
    notebook: str | os.PathLike[str],
    parameters: Mapping[str, Any] | None = None,
    *,
    now: dt.datetime | None = None,
) -> dt.datetime:
    """Add (or replace) schedule ``name``; when it is next due.

    The parameters are checked against the notebook now, so a bad value is refused
    when the schedule is made rather than at 6 a.m. on the first of the month.
    """
    from sqlalchemy.dialects.postgresql import insert

    from riskbench.workspace.models import Schedule
    from riskbench.workspace.records import check_name

    check_name(name, "name")
    due = next_time(cron, now or _now())
    path = Path(notebook).resolve()
    values = dict(parameters or {})
    checked = check_parameters(path, values)
    if "org" in checked and checked["org"] != ws.org:
        raise ValidationError(
            [Issue("org", f"{checked['org']!r} is not the schedule's organisation {ws.org!r}")]
        )
    with ws._tx() as s:
        ws._require(s, "analyst", "add a schedule")
        row = {
            "cron": cron,
            "notebook": str(path),
            "parameters": checked,
            "enabled": True,
            "next_run_at": due,
            "created_by": ws.user,
        }
        s.execute(
            insert(Schedule)
            .values(org_id=ws.org, name=name, **row)
            .on_conflict_do_update(index_elements=["org_id", "name"], set_=row)
        )
        ws._audit(s, "schedule.add", name, {"cron": cron, "notebook": path.name})
    return due


def remove_schedule(ws: Any, name: str) -> None:
    """Remove schedule ``name`` (its past runs stay recorded)."""
    from sqlalchemy import delete

    from riskbench.workspace.models import Schedule

    with ws._tx() as s:
        ws._require(s, "analyst", "remove a schedule")
        gone = s.execute(
            delete(Schedule).where(Schedule.org_id == ws.org, Schedule.name == name)
        ).rowcount
        if not gone:
            raise StoreError(f"organisation {ws.org!r} has no schedule {name!r}")
        ws._audit(s, "schedule.remove", name, {})


def list_schedules(ws: Any) -> pd.DataFrame:
    """The organisation's schedules, by name."""
    from sqlalchemy import select

    from riskbench.workspace.models import Schedule

    columns = ["cron", "notebook", "next_run_at", "last_run_id", "last_status", "enabled"]
    with ws._tx() as s:
        ws._require(s, "viewer", "list schedules")
        rows = s.execute(select(Schedule).order_by(Schedule.name)).scalars().all()
        frame = pd.DataFrame(
            [{"name": r.name, **{c: getattr(r, c) for c in columns}} for r in rows],
            columns=["name", *columns],
        )
    return frame.set_index("name")


class Scheduler:
    """Runs an organisation's due schedules, one at a time (see the module docstring).

    Parameters
    ----------
    ws
        An open workspace; its user (an analyst) is recorded as running the jobs.
    home, kernel
        Passed to :func:`~riskbench.runs.run_notebook`.
    clock
        Returns the current time (tests move it).
    on_run
        Called with each finished run.
    """

    def __init__(
        self,
        ws: Any,
        *,
        home: str | os.PathLike[str] | None = None,
        kernel: str = "python3",
        clock: Callable[[], dt.datetime] = _now,
        on_run: Callable[[NotebookRun], None] | None = None,
    ) -> None:
        self.ws = ws
        self.home = home
        self.kernel = kernel
        self.clock = clock
        self.on_run = on_run
        self._stop = threading.Event()

    def run_due(self) -> list[NotebookRun]:
        """Run every job due now, each once; the runs made."""
        done: list[NotebookRun] = []
        while not self._stop.is_set():
            run = self._run_one()
            if run is None:
                break
            done.append(run)
        return done

    def _run_one(self) -> NotebookRun | None:
        from sqlalchemy import select

        from riskbench.workspace.models import Schedule

        now = self.clock()
        ws = self.ws
        with ws._tx() as s:
            ws._require(s, "analyst", "run schedules")
            job = s.execute(
                select(Schedule)
                .where(Schedule.org_id == ws.org, Schedule.enabled, Schedule.next_run_at <= now)
                .order_by(Schedule.next_run_at, Schedule.name)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if job is None:
                return None
            slot = job.next_run_at
            store.mark_interrupted(ws, job.name, slot)
            run = store.succeeded_at(ws, job.name, slot)
            if run is None:
                run = run_notebook(
                    job.notebook,
                    dict(job.parameters),
                    workspace=ws,
                    home=self.home,
                    kernel=self.kernel,
                    schedule=job.name,
                    slot=slot,
                    raise_on_failure=False,
                )
            job.next_run_at = next_time(job.cron, max(slot, self.clock()))
            job.last_run_id = run.run_id
            job.last_status = run.status
            ws._audit(
                s,
                "schedule.ran",
                job.name,
                {"slot": slot.isoformat(), "run_id": run.run_id, "status": run.status},
            )
        if self.on_run is not None:
            self.on_run(run)
        return run

    def stop(self) -> None:
        """Stop after the current run."""
        self._stop.set()

    def serve(self, poll_seconds: float = 30.0) -> None:
        """Run due jobs until :meth:`stop` (or SIGTERM/SIGINT in the main thread)."""
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                signal.signal(sig, lambda *_: self.stop())
        while not self._stop.is_set():
            self.run_due()
            self._stop.wait(poll_seconds)

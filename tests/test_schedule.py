"""Scheduled notebook runs against a real (embedded) PostgreSQL: schedules are checked
when added, a due job runs once per slot, two schedulers never run a job twice, and a
scheduler killed mid-run loses nothing: the next one runs the slot again.

Organisation ``sched-a`` (admin ada). Scheduler processes are real ``riskbench
scheduler --once`` processes, killed with SIGKILL where the test says so.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import riskbench as rb
from helpers import ROOT, job_notebook
from riskbench.errors import RunError, StoreError, ValidationError
from riskbench.runs import store
from riskbench.runs.schedule import (
    Scheduler,
    add_schedule,
    list_schedules,
    next_time,
    remove_schedule,
)

pytestmark = pytest.mark.db
ORG, USER = "sched-a", "ada"
UTC = dt.UTC
JOB = """\
import pathlib, time
from riskbench.runs import run_dir
start = time.time()
while hold and pathlib.Path(hold).exists() and time.time() - start < 120:
    time.sleep(0.2)
(run_dir() / "done.txt").write_text(f"{value * 2}")
"""


@pytest.fixture(scope="module")
def job(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A notebook that waits while the file ``hold`` exists, then writes done.txt."""
    return job_notebook(tmp_path_factory.mktemp("jobs"), 'hold = ""\nvalue = 1', JOB)


@pytest.fixture(scope="module")
def ws(pg_home: Path) -> Iterator[rb.Workspace]:
    from riskbench.workspace import Workspace

    with Workspace(org=ORG, user=USER, home=pg_home) as w:
        yield w


def test_next_time_follows_cron_in_utc() -> None:
    after = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    assert next_time("0 6 1 * *", after) == dt.datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    assert next_time("*/15 * * * *", after) == dt.datetime(2026, 11, 27, 12, 15, tzinfo=UTC)
    with pytest.raises(
        ValidationError, match=r"cron: must be a 5-field cron expression .* got '0 6 1 \*'"
    ):
        next_time("0 6 1 *", after)
    with pytest.raises(ValidationError, match="got '61 \\* \\* \\* \\*'"):
        next_time("61 * * * *", after)


def test_schedules_are_checked_when_added_and_listed(ws: rb.Workspace, job: Path) -> None:
    now = dt.datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
    due = add_schedule(ws, "month-end", "0 6 1 * *", job, {"value": "21"}, now=now)
    assert due == dt.datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
    table = list_schedules(ws)
    assert table.loc["month-end", "cron"] == "0 6 1 * *"
    assert table.loc["month-end", "next_run_at"] == due
    with pytest.raises(RunError) as info:  # refused now, not at 6 a.m. on the 1st
        add_schedule(ws, "bad", "0 6 1 * *", job, {"value": "lots", "colour": "red"})
    assert {i.loc for i in info.value.issues} == {"value", "colour"}
    with pytest.raises(ValidationError, match="cron"):
        add_schedule(ws, "bad", "every month", job, {})
    assert "bad" not in list_schedules(ws).index
    remove_schedule(ws, "month-end")
    assert "month-end" not in list_schedules(ws).index
    with pytest.raises(StoreError, match="has no schedule 'month-end'"):
        remove_schedule(ws, "month-end")


class Clock:
    def __init__(self, now: dt.datetime) -> None:
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


@pytest.mark.slow
def test_a_due_job_runs_once_per_slot_and_catches_up_once(
    ws: rb.Workspace, job: Path, pg_home: Path
) -> None:
    start = dt.datetime(2026, 1, 1, 0, 0, tzinfo=UTC)
    add_schedule(ws, "hourly", "0 * * * *", job, {"value": 5}, now=start)
    clock = Clock(start + dt.timedelta(minutes=30))
    scheduler = Scheduler(ws, home=pg_home, clock=clock)
    assert scheduler.run_due() == []  # not due yet
    clock.now = start + dt.timedelta(hours=3, minutes=10)  # three slots missed
    runs = scheduler.run_due()
    assert len(runs) == 1  # the latest slot once, not three runs
    run = runs[0]
    assert run.ok
    assert run.schedule == "hourly"
    assert run.slot == dt.datetime(2026, 1, 1, 1, 0, tzinfo=UTC)
    assert (run.folder / "done.txt").read_text() == "10"
    table = list_schedules(ws)
    assert table.loc["hourly", "next_run_at"] == dt.datetime(2026, 1, 1, 4, 0, tzinfo=UTC)
    assert table.loc["hourly", "last_run_id"] == run.run_id
    assert scheduler.run_due() == []  # nothing due until 04:00
    remove_schedule(ws, "hourly")


def _scheduler(pg_home: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "RISKBENCH_HOME": str(pg_home)}
    env.pop("RISKBENCH_DATABASE_URL", None)
    return subprocess.Popen(
        [sys.executable, "-m", "riskbench", "scheduler", "--once", "--org", ORG, "--user", USER],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _runs_of(ws: rb.Workspace, name: str) -> list[rb.NotebookRun]:
    return [
        store.get(ws, i) for i in store.list_runs(ws).index if store.get(ws, i).schedule == name
    ]


def _wait_for(check: object, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if check():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise TimeoutError("condition not met")


@pytest.mark.slow
def test_two_schedulers_never_run_a_job_twice(
    ws: rb.Workspace, job: Path, pg_home: Path, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    past = dt.datetime.now(UTC) - dt.timedelta(hours=2)
    add_schedule(ws, "twice", "0 * * * *", job, {"hold": str(hold)}, now=past)
    a, b = _scheduler(pg_home), _scheduler(pg_home)
    try:
        _wait_for(lambda: any(r.status == "running" for r in _runs_of(ws, "twice")))
        time.sleep(3)  # both schedulers have had time to look
        assert [r.status for r in _runs_of(ws, "twice")] == ["running"]
        hold.unlink()
        assert a.wait(timeout=120) == 0
        assert b.wait(timeout=120) == 0
    finally:
        for p in (a, b):
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    runs = _runs_of(ws, "twice")
    assert [r.status for r in runs] == ["succeeded"]
    assert list_schedules(ws).loc["twice", "next_run_at"] > dt.datetime.now(UTC)
    remove_schedule(ws, "twice")


@pytest.mark.slow
def test_a_killed_scheduler_loses_and_duplicates_nothing(
    ws: rb.Workspace, job: Path, pg_home: Path, tmp_path: Path
) -> None:
    hold = tmp_path / "hold"
    hold.touch()
    past = dt.datetime.now(UTC) - dt.timedelta(hours=2)
    add_schedule(ws, "crash", "0 * * * *", job, {"hold": str(hold)}, now=past)
    due = list_schedules(ws).loc["crash", "next_run_at"]
    first = _scheduler(pg_home)
    try:
        _wait_for(lambda: any(r.status == "running" for r in _runs_of(ws, "crash")))
    finally:
        os.killpg(first.pid, signal.SIGKILL)  # mid-run: the row lock goes with it
        first.wait(timeout=30)
    assert list_schedules(ws).loc["crash", "next_run_at"] == due  # the slot is not lost
    hold.unlink()
    second = _scheduler(pg_home)
    out, _ = second.communicate(timeout=180)
    assert second.returncode == 0, out.decode()
    runs = _runs_of(ws, "crash")
    assert [r.status for r in runs] == ["interrupted", "succeeded"]
    assert runs[0].slot == runs[1].slot == due
    assert (runs[1].folder / "done.txt").read_text() == "2"
    assert list_schedules(ws).loc["crash", "last_status"] == "succeeded"
    # once more: the slot has run, nothing is due
    third = _scheduler(pg_home)
    third.communicate(timeout=120)
    assert len(_runs_of(ws, "crash")) == 2
    remove_schedule(ws, "crash")


def test_schedule_cli(pg_home: Path, job: Path) -> None:
    env = {**os.environ, "RISKBENCH_HOME": str(pg_home)}
    env.pop("RISKBENCH_DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "riskbench", *args, "--org", ORG, "--user", USER],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    added = cli("schedule", "add", "nightly", "--cron", "30 2 * * *", str(job), "-p", "value", "4")
    assert added.returncode == 0, added.stderr
    assert "schedule 'nightly' added; next run" in added.stdout
    listed = cli("schedule", "list")
    assert "nightly" in listed.stdout
    assert "30 2 * * *" in listed.stdout
    bad = cli("schedule", "add", "x", "--cron", "30 2 * * *", str(job), "-p", "value", "four")
    assert bad.returncode == 2
    assert "value: must be a whole number like 1, got 'four'" in bad.stderr
    assert cli("schedule", "remove", "nightly").returncode == 0
    assert "nightly" not in cli("schedule", "list").stdout

"""Notebook runs in the workspace: ``notebook_runs`` rows, read and written under the
organisation's row-level security, each write audited in its transaction."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from riskbench.errors import StoreError

if TYPE_CHECKING:
    from riskbench.runs.notebook import NotebookRun

__all__ = [
    "finish",
    "get",
    "latest",
    "list_runs",
    "mark_interrupted",
    "record",
    "require",
    "succeeded_at",
]

_COLUMNS = [
    "notebook",
    "status",
    "started_at",
    "finished_at",
    "input_hash",
    "outputs_sha256",
    "schedule",
    "created_by",
    "folder",
]


def require(ws: Any, role: str, action: str) -> None:
    """Raise :class:`~riskbench.errors.PermissionDenied` unless the workspace user has
    ``role`` or higher."""
    with ws._tx() as s:
        ws._require(s, role, action)


def _row(run: NotebookRun) -> dict[str, Any]:
    return {
        "notebook": run.notebook,
        "parameters": run.parameters,
        "input_hash": run.input_hash,
        "status": run.status,
        "error": run.error,
        "folder": str(run.folder),
        "outputs_sha256": run.outputs_sha256,
        "manifest": run.manifest,
        "schedule": run.schedule,
        "slot": run.slot,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
    }


def record(ws: Any, run: NotebookRun) -> None:
    """Insert the run (status running, or failed when its parameters were refused)."""
    from sqlalchemy.dialects.postgresql import insert

    from riskbench.workspace.models import NotebookRun as Row

    with ws._tx() as s:
        ws._require(s, "analyst", "record a notebook run")
        s.execute(
            insert(Row).values(org_id=ws.org, run_id=run.run_id, created_by=ws.user, **_row(run))
        )
        detail: dict[str, Any] = {"notebook": Path(run.notebook).name, "status": run.status}
        if run.error:
            detail["error"] = run.error
        ws._audit(s, "notebook_run.start", run.run_id, detail)


def finish(ws: Any, run: NotebookRun) -> None:
    """Store the run's end: status, error, manifest, outputs hash."""
    from sqlalchemy import update

    from riskbench.workspace.models import NotebookRun as Row

    with ws._tx() as s:
        s.execute(
            update(Row).where(Row.org_id == ws.org, Row.run_id == run.run_id).values(**_row(run))
        )
        ws._audit(
            s,
            "notebook_run.finish",
            run.run_id,
            {"status": run.status, "error": run.error, "outputs_sha256": run.outputs_sha256},
        )


def _from_row(row: Any) -> NotebookRun:
    from riskbench.runs.notebook import NotebookRun

    return NotebookRun(
        run_id=row.run_id,
        org=row.org_id,
        notebook=row.notebook,
        parameters=dict(row.parameters),
        input_hash=row.input_hash,
        status=row.status,
        folder=Path(row.folder),
        started_at=row.started_at,
        finished_at=row.finished_at,
        error=row.error,
        outputs_sha256=row.outputs_sha256,
        manifest=row.manifest,
        schedule=row.schedule,
        slot=row.slot,
        created_by=row.created_by,
    )


def get(ws: Any, run_id: str) -> NotebookRun:
    """The recorded run ``run_id`` of the workspace's organisation."""
    from sqlalchemy import select

    from riskbench.workspace.models import NotebookRun as Row

    with ws._tx() as s:
        ws._require(s, "viewer", f"read notebook run {run_id!r}")
        row = s.execute(
            select(Row).where(Row.org_id == ws.org, Row.run_id == run_id)
        ).scalar_one_or_none()
        if row is None:
            raise StoreError(f"organisation {ws.org!r} has no notebook run {run_id!r}")
        return _from_row(row)


def latest(ws: Any, *, status: str = "succeeded") -> NotebookRun | None:
    """The newest run with ``status``, or None."""
    from sqlalchemy import select

    from riskbench.workspace.models import NotebookRun as Row

    with ws._tx() as s:
        ws._require(s, "viewer", "read notebook runs")
        row = s.execute(
            select(Row)
            .where(Row.org_id == ws.org, Row.status == status)
            .order_by(Row.started_at.desc(), Row.run_id.desc())
            .limit(1)
        ).scalar_one_or_none()
        return _from_row(row) if row is not None else None


def _all(ws: Any) -> list[NotebookRun]:
    from sqlalchemy import select

    from riskbench.workspace.models import NotebookRun as Row

    with ws._tx() as s:
        ws._require(s, "viewer", "list notebook runs")
        rows = s.execute(select(Row).order_by(Row.started_at, Row.run_id)).scalars().all()
        return [_from_row(r) for r in rows]


def list_runs(ws: Any) -> pd.DataFrame:
    """The organisation's notebook runs, oldest first, indexed by ``run_id``."""
    runs = _all(ws)
    frame = pd.DataFrame(
        [{"run_id": r.run_id, **{c: _value(getattr(r, c)) for c in _COLUMNS}} for r in runs],
        columns=["run_id", *_COLUMNS],
    )
    return frame.set_index("run_id")


def _value(v: Any) -> Any:
    return str(v) if isinstance(v, Path) else v


def mark_interrupted(ws: Any, schedule: str, slot: Any) -> list[str]:
    """Mark the still-running runs of ``schedule`` at ``slot`` as interrupted (their
    scheduler died); their ids."""
    from sqlalchemy import update

    from riskbench.workspace.models import NotebookRun as Row

    with ws._tx() as s:
        ids = list(
            s.execute(
                update(Row)
                .where(
                    Row.org_id == ws.org,
                    Row.schedule == schedule,
                    Row.slot == slot,
                    Row.status == "running",
                )
                .values(status="interrupted")
                .returning(Row.run_id)
            ).scalars()
        )
        for run_id in ids:
            ws._audit(s, "notebook_run.interrupted", run_id, {"schedule": schedule})
        return ids


def succeeded_at(ws: Any, schedule: str, slot: Any) -> NotebookRun | None:
    """The succeeded run of ``schedule`` at ``slot``, if there is one."""
    from sqlalchemy import select

    from riskbench.workspace.models import NotebookRun as Row

    with ws._tx() as s:
        row = s.execute(
            select(Row).where(
                Row.org_id == ws.org,
                Row.schedule == schedule,
                Row.slot == slot,
                Row.status == "succeeded",
            )
        ).scalar_one_or_none()
        return _from_row(row) if row is not None else None

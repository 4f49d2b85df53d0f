"""The workspace tables as SQLAlchemy 2 declarative models.

Every tenant table carries ``org_id``; row-level security (set up by the migration,
not by these models) restricts the application role to the rows of the organisation
named by the transaction's ``app.org_id`` setting. The migration in
``migrations/versions`` is written by hand and is the source of truth for the schema;
these models mirror it for queries and inserts.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from pgvector.sqlalchemy import Vector
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Float,
    ForeignKeyConstraint,
    Integer,
    Text,
    func,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "EMBEDDING_DIM",
    "ROLES",
    "TENANT_TABLES",
    "Asset",
    "AuditEntry",
    "Base",
    "Export",
    "Member",
    "Mitigation",
    "NotebookRun",
    "Organisation",
    "Run",
    "RunScenario",
    "ScenarioRow",
    "ScenarioVersion",
    "Schedule",
    "Setting",
]

#: Width of the ``scenario_versions.embedding`` column; an embedder must match it.
EMBEDDING_DIM = 384
#: Member roles, weakest first.
ROLES = ("viewer", "analyst", "admin")


def _now() -> Any:
    return mapped_column(DateTime(timezone=True), server_default=func.now(), nullable=False)


class Base(DeclarativeBase):
    pass


class Organisation(Base):
    __tablename__ = "organisations"
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = _now()


class Setting(Base):
    """Per-organisation settings, such as the embedder its vectors were made with."""

    __tablename__ = "settings"
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[Any] = mapped_column(JSONB, nullable=False)


class Member(Base):
    __tablename__ = "members"
    __table_args__ = (CheckConstraint("role IN ('viewer', 'analyst', 'admin')", name="role_ok"),)
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    username: Mapped[str] = mapped_column(Text, primary_key=True)
    role: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = _now()


class Asset(Base):
    __tablename__ = "assets"
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    attributes: Mapped[Any] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_at: Mapped[dt.datetime] = _now()
    created_by: Mapped[str] = mapped_column(Text, nullable=False)


class ScenarioRow(Base):
    """A scenario's identity and its current version; ``deleted_at`` hides it."""

    __tablename__ = "scenarios"
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    scenario_id: Mapped[str] = mapped_column(Text, primary_key=True)
    current_version: Mapped[int] = mapped_column(Integer, nullable=False)
    deleted_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))


class ScenarioVersion(Base):
    """One immutable version of a scenario card."""

    __tablename__ = "scenario_versions"
    __table_args__ = (
        ForeignKeyConstraint(
            ["org_id", "scenario_id"], ["scenarios.org_id", "scenarios.scenario_id"]
        ),
    )
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    scenario_id: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    card: Mapped[Any] = mapped_column(JSONB, nullable=False)
    card_sha256: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    created_by: Mapped[str] = mapped_column(Text, nullable=False)
    embedding: Mapped[Any] = mapped_column(Vector(EMBEDDING_DIM))


class Run(Base):
    __tablename__ = "runs"
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text, primary_key=True)
    input_hash: Mapped[str] = mapped_column(Text, nullable=False)
    parameters: Mapped[Any] = mapped_column(JSONB, nullable=False)
    seed: Mapped[str] = mapped_column(Text, nullable=False)
    engine: Mapped[str] = mapped_column(Text, nullable=False)
    engine_version: Mapped[str] = mapped_column(Text, nullable=False)
    package_version: Mapped[str] = mapped_column(Text, nullable=False)
    summary: Mapped[Any] = mapped_column(JSONB, nullable=False)
    artefact: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()
    created_by: Mapped[str] = mapped_column(Text, nullable=False)


class RunScenario(Base):
    """Which scenario versions a run used: old runs keep pointing at old versions."""

    __tablename__ = "run_scenarios"
    __table_args__ = (
        ForeignKeyConstraint(["org_id", "run_id"], ["runs.org_id", "runs.run_id"]),
        ForeignKeyConstraint(
            ["org_id", "scenario_id", "version"],
            [
                "scenario_versions.org_id",
                "scenario_versions.scenario_id",
                "scenario_versions.version",
            ],
        ),
    )
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text, primary_key=True)
    scenario_id: Mapped[str] = mapped_column(Text, primary_key=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)


class Mitigation(Base):
    __tablename__ = "mitigations"
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    scenario_id: Mapped[str] = mapped_column(Text, nullable=False)
    name: Mapped[str] = mapped_column(Text, nullable=False)
    cost_per_year: Mapped[float] = mapped_column(Float, nullable=False)
    reduction: Mapped[Any] = mapped_column(JSONB, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    created_by: Mapped[str] = mapped_column(Text, nullable=False)


class Export(Base):
    __tablename__ = "exports"
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    id: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    path: Mapped[str] = mapped_column(Text, nullable=False)
    sha256: Mapped[str] = mapped_column(Text, nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    created_at: Mapped[dt.datetime] = _now()
    created_by: Mapped[str] = mapped_column(Text, nullable=False)


class AuditEntry(Base):
    """One entry of the append-only, hash-chained audit log of an organisation."""

    __tablename__ = "audit_log"
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    actor: Mapped[str] = mapped_column(Text, nullable=False)
    action: Mapped[str] = mapped_column(Text, nullable=False)
    object: Mapped[str] = mapped_column(Text, nullable=False)
    detail: Mapped[Any] = mapped_column(JSONB, nullable=False)
    prev_hash: Mapped[str] = mapped_column(Text, nullable=False)
    hash: Mapped[str] = mapped_column(Text, nullable=False)


class NotebookRun(Base):
    """One papermill execution of a notebook, with its provenance (migration 0002)."""

    __tablename__ = "notebook_runs"
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    run_id: Mapped[str] = mapped_column(Text, primary_key=True)
    notebook: Mapped[str] = mapped_column(Text, nullable=False)
    parameters: Mapped[Any] = mapped_column(JSONB, nullable=False)
    input_hash: Mapped[str] = mapped_column(Text, nullable=False)
    status: Mapped[str] = mapped_column(Text, nullable=False)
    error: Mapped[Any] = mapped_column(JSONB)
    folder: Mapped[str] = mapped_column(Text, nullable=False)
    outputs_sha256: Mapped[str | None] = mapped_column(Text)
    manifest: Mapped[Any] = mapped_column(JSONB)
    schedule: Mapped[str | None] = mapped_column(Text)
    slot: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    started_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    finished_at: Mapped[dt.datetime | None] = mapped_column(DateTime(timezone=True))
    created_by: Mapped[str] = mapped_column(Text, nullable=False)


class Schedule(Base):
    """A notebook run on a cron schedule (migration 0002)."""

    __tablename__ = "schedules"
    org_id: Mapped[str] = mapped_column(Text, primary_key=True)
    name: Mapped[str] = mapped_column(Text, primary_key=True)
    cron: Mapped[str] = mapped_column(Text, nullable=False)
    notebook: Mapped[str] = mapped_column(Text, nullable=False)
    parameters: Mapped[Any] = mapped_column(JSONB, nullable=False)
    enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="true")
    next_run_at: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    last_run_id: Mapped[str | None] = mapped_column(Text)
    last_status: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[dt.datetime] = _now()
    created_by: Mapped[str] = mapped_column(Text, nullable=False)


#: Every table that holds an organisation's rows (all get row-level security).
TENANT_TABLES = (
    "organisations",
    "settings",
    "members",
    "assets",
    "scenarios",
    "scenario_versions",
    "runs",
    "run_scenarios",
    "mitigations",
    "exports",
    "audit_log",
    "notebook_runs",
    "schedules",
)

"""Notebook runs (papermill executions with provenance) and their schedules.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

APP_ROLE = "riskbench_app"

TABLES = """
CREATE TABLE notebook_runs (
    org_id text NOT NULL REFERENCES organisations (org_id),
    run_id text NOT NULL,
    notebook text NOT NULL,
    parameters jsonb NOT NULL,
    input_hash text NOT NULL,
    status text NOT NULL
        CONSTRAINT status_ok CHECK (status IN ('running', 'succeeded', 'failed', 'interrupted')),
    error jsonb,
    folder text NOT NULL,
    outputs_sha256 text,
    manifest jsonb,
    schedule text,
    slot timestamptz,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    created_by text NOT NULL,
    PRIMARY KEY (org_id, run_id)
);
CREATE INDEX notebook_runs_by_inputs ON notebook_runs (org_id, input_hash);
CREATE UNIQUE INDEX notebook_runs_one_success_per_slot ON notebook_runs (org_id, schedule, slot)
    WHERE status = 'succeeded';
CREATE TABLE schedules (
    org_id text NOT NULL REFERENCES organisations (org_id),
    name text NOT NULL,
    cron text NOT NULL,
    notebook text NOT NULL,
    parameters jsonb NOT NULL,
    enabled boolean NOT NULL DEFAULT true,
    next_run_at timestamptz NOT NULL,
    last_run_id text,
    last_status text,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    PRIMARY KEY (org_id, name)
);
"""

NEW_TABLES = ("notebook_runs", "schedules")


def upgrade() -> None:
    op.execute(TABLES)
    for table in NEW_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_by_org ON {table} "
            "USING (org_id = current_setting('app.org_id', true)) "
            "WITH CHECK (org_id = current_setting('app.org_id', true))"
        )
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
        op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")


def downgrade() -> None:
    for table in reversed(NEW_TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")

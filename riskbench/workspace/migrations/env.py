"""Alembic environment: runs on the connection that :func:`riskbench.workspace.upgrade`
passes in ``config.attributes["connection"]`` (there is no alembic.ini)."""

from __future__ import annotations

from alembic import context


def _run() -> None:
    connection = context.config.attributes["connection"]
    context.configure(connection=connection, transaction_per_migration=False)
    with context.begin_transaction():
        context.run_migrations()


# Imported outside alembic (by pytest's doctest collection) there is no config: do nothing.
if getattr(context, "config", None) is not None:
    _run()

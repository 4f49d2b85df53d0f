"""Command-line hooks for the workspace: ``riskbench db upgrade``, ``riskbench db
grant`` and ``riskbench audit verify``. :func:`register` adds them to the main
parser's subcommands; each handler returns the exit code (0 ok, 1 tampering found or
store failure, 2 bad input).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from typing import Any

from riskbench.errors import RiskbenchError, StoreError, ValidationError

__all__ = ["cmd_audit_verify", "cmd_db_grant", "cmd_db_upgrade", "register"]


def register(subparsers: Any) -> None:
    """Add the ``db`` and ``audit`` commands to ``subparsers``
    (from ``ArgumentParser.add_subparsers()``); each sets ``handler``."""
    db = subparsers.add_parser("db", help="manage the workspace database")
    db_sub = db.add_subparsers(dest="db_command", required=True)
    up = db_sub.add_parser(
        "upgrade",
        help="create or migrate the workspace schema, row-level security and app role",
    )
    up.add_argument(
        "--url",
        help="an administrator's PostgreSQL URL (default: RISKBENCH_DATABASE_URL, "
        "else the embedded store under RISKBENCH_HOME)",
    )
    up.set_defaults(handler=cmd_db_upgrade)
    grant = db_sub.add_parser(
        "grant",
        help="make a user a member of an organisation with a role (as the administrator)",
        description=(
            "Make USER a member of ORG with ROLE (viewer, analyst or admin), creating the "
            "organisation if it is new, as the database administrator: for deployments "
            "that decide memberships themselves, such as JupyterHub's users file. The "
            "change is appended to the organisation's audit log."
        ),
    )
    grant.add_argument("--org", required=True)
    grant.add_argument("--user", required=True)
    grant.add_argument("--role", required=True, choices=("viewer", "analyst", "admin"))
    grant.add_argument(
        "--url", help="an administrator's PostgreSQL URL (default: as for db upgrade)"
    )
    grant.set_defaults(handler=cmd_db_grant)

    audit = subparsers.add_parser("audit", help="check the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    verify = audit_sub.add_parser("verify", help="recompute the audit hash chain")
    verify.add_argument("--org", help="one organisation (default: every organisation)")
    verify.add_argument(
        "--url", help="an administrator's PostgreSQL URL (default: as for db upgrade)"
    )
    verify.set_defaults(handler=cmd_audit_verify)


def _admin_url(url: str | None) -> str:
    from riskbench.workspace.server import admin_url

    url = url or os.environ.get("RISKBENCH_DATABASE_URL") or None
    return url if url is not None else admin_url()


def _report(action: Callable[[], str]) -> int:
    """Run ``action``; print what it returns (exit 0) or the error (2 bad input, 1 other)."""
    try:
        message = action()
    except ValidationError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    except RiskbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(message)
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    """``riskbench db upgrade [--url URL]``."""
    from riskbench.workspace.server import upgrade

    return _report(lambda: f"workspace database at revision {upgrade(_admin_url(args.url))}")


def cmd_db_grant(args: argparse.Namespace) -> int:
    """``riskbench db grant --org ORG --user USER --role ROLE [--url URL]``."""
    from riskbench.workspace.server import grant

    def run() -> str:
        grant(args.org, args.user, args.role, url=_admin_url(args.url))
        return f"{args.user} is {args.role} in {args.org}"

    return _report(run)


def cmd_audit_verify(args: argparse.Namespace) -> int:
    """``riskbench audit verify [--org ORG]``: 0 intact, 1 tampered, 2 unknown org."""
    from sqlalchemy import text

    from riskbench.workspace.audit import verify_chain
    from riskbench.workspace.server import make_engine, upgrade

    try:
        url = _admin_url(args.url)
        if args.url is None and not os.environ.get("RISKBENCH_DATABASE_URL"):
            upgrade(url)  # the embedded store is always kept at the latest schema
        engine = make_engine(url)
        try:
            with engine.connect() as conn:
                # An administrator's connection sees every organisation.
                orgs = [
                    str(o)
                    for o in conn.execute(
                        text("SELECT org_id FROM organisations ORDER BY org_id")
                    ).scalars()
                ]
                if args.org is not None:
                    if args.org not in orgs:
                        print(
                            f"error: no organisation {args.org!r}; known: {orgs}",
                            file=sys.stderr,
                        )
                        return 2
                    orgs = [args.org]
                reports = [verify_chain(conn, org) for org in orgs]
        finally:
            engine.dispose()
    except RiskbenchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    except Exception as err:  # a database error: report it, don't dump a traceback
        print(f"error: {StoreError(str(err))}", file=sys.stderr)
        return 1
    for report in reports:
        print(report)
    return 0 if all(r.ok for r in reports) else 1

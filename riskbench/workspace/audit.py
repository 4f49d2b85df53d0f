"""The audit log: append-only and hash-chained, one chain per organisation.

Each entry's ``hash`` is ``sha256(prev_hash + canonical JSON of the entry)``, where
the entry is its ``org_id``, ``seq``, ``at``, ``actor``, ``action``, ``object`` and
``detail``; the first entry's ``prev_hash`` is 64 zeros. Changing, removing or
reordering any entry breaks the chain from that entry on, which :func:`verify_chain`
reports. The application role may only insert and read entries.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from dataclasses import dataclass
from typing import Any

__all__ = ["GENESIS", "AuditReport", "append", "entry_hash", "verify_chain"]

GENESIS = "0" * 64


def _canonical_at(at: dt.datetime) -> str:
    return at.astimezone(dt.UTC).isoformat(timespec="microseconds")


def entry_hash(prev_hash: str, entry: dict[str, Any]) -> str:
    """``sha256(prev_hash + canonical JSON of entry)`` as hex."""
    body = dict(entry)
    body["at"] = _canonical_at(body["at"])
    text = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256((prev_hash + text).encode()).hexdigest()


@dataclass(frozen=True)
class AuditReport:
    """The result of checking one organisation's audit chain.

    Attributes
    ----------
    org_id
        The organisation checked.
    entries
        How many entries were read.
    first_bad_seq
        The first entry whose hash, link or sequence number is wrong; None when the
        chain is intact.
    problem
        What is wrong with that entry ("" when intact).
    """

    org_id: str
    entries: int
    first_bad_seq: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        """True when every entry checks out."""
        return self.first_bad_seq is None

    def __str__(self) -> str:
        if self.ok:
            return f"audit log of {self.org_id!r}: {self.entries} entries, chain intact"
        return (
            f"audit log of {self.org_id!r}: TAMPERED at seq {self.first_bad_seq} "
            f"({self.problem}); {self.entries} entries read"
        )


def append(
    conn: Any, *, org_id: str, actor: str, action: str, obj: str, detail: dict[str, Any]
) -> int:
    """Add an entry to ``org_id``'s chain inside the caller's transaction; its seq."""
    from sqlalchemy import text

    # One writer per organisation at a time, until this transaction ends: the chain
    # must not fork when two sessions append at once.
    conn.execute(text("SELECT pg_advisory_xact_lock(hashtextextended(:o, 7))"), {"o": org_id})
    last = conn.execute(
        text("SELECT seq, hash FROM audit_log WHERE org_id = :o ORDER BY seq DESC LIMIT 1"),
        {"o": org_id},
    ).first()
    seq, prev = (1, GENESIS) if last is None else (int(last[0]) + 1, str(last[1]))
    # Hash the detail as PostgreSQL will give it back (jsonb normalises numbers).
    stored = conn.execute(
        text("SELECT CAST(:d AS jsonb)"), {"d": json.dumps(detail, allow_nan=False)}
    ).scalar_one()
    at = conn.execute(text("SELECT clock_timestamp()")).scalar_one()
    entry = {
        "org_id": org_id,
        "seq": seq,
        "at": at,
        "actor": actor,
        "action": action,
        "object": obj,
        "detail": stored,
    }
    digest = entry_hash(prev, entry)
    conn.execute(
        text(
            "INSERT INTO audit_log (org_id, seq, at, actor, action, object, detail, "
            "prev_hash, hash) VALUES (:org_id, :seq, :at, :actor, :action, :object, "
            "CAST(:detail AS jsonb), :prev, :hash)"
        ),
        {**entry, "detail": json.dumps(stored), "prev": prev, "hash": digest},
    )
    return seq


def verify_chain(conn: Any, org_id: str) -> AuditReport:
    """Recompute ``org_id``'s chain on ``conn`` and name the first bad entry."""
    from sqlalchemy import text

    rows = conn.execute(
        text(
            "SELECT seq, at, actor, action, object, detail, prev_hash, hash "
            "FROM audit_log WHERE org_id = :o ORDER BY seq"
        ),
        {"o": org_id},
    ).all()
    prev = GENESIS
    for expected_seq, row in enumerate(rows, start=1):
        seq, at, actor, action, obj, detail, prev_hash, digest = row
        if seq != expected_seq:
            return AuditReport(org_id, len(rows), expected_seq, f"entry missing (next is {seq})")
        if prev_hash != prev:
            return AuditReport(org_id, len(rows), seq, "prev_hash does not match the entry before")
        entry = {
            "org_id": org_id,
            "seq": seq,
            "at": at,
            "actor": actor,
            "action": action,
            "object": obj,
            "detail": detail,
        }
        if entry_hash(prev, entry) != digest:
            return AuditReport(org_id, len(rows), seq, "contents do not match the stored hash")
        prev = digest
    return AuditReport(org_id, len(rows))

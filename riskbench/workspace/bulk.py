"""Loading many new scenarios at once with ``COPY``.

PostgreSQL refuses ``COPY FROM`` into a table with row-level security, so the rows
are copied (binary format) into a temporary table first and then moved with one
``INSERT ... SELECT`` per table: those inserts run as the application role with the
organisation set, and the policies check every row as they would for any insert.

Keeping the HNSW index on ``scenario_versions`` up to date row by row is most of the
cost of a large load. The application role may not drop it (it belongs to the
schema's owner): for a first load of many thousands of scenarios an administrator
can drop it before and create it again after (``benchmarks/store.py`` times both).
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from typing import Any

import numpy as np
from numpy.typing import NDArray

from riskbench.errors import StoreError

__all__ = ["copy_new_scenarios", "vector_binary"]

_STAGE = "riskbench_bulk_scenarios"


def vector_binary(vector: NDArray[np.float64]) -> bytes:
    """``vector`` in pgvector's binary wire format (what ``vector_recv`` reads)."""
    # Two big-endian int16 (dimensions, unused) and then big-endian float4s.
    return struct.pack(">hh", len(vector), 0) + np.asarray(vector, dtype=">f4").tobytes()


def copy_new_scenarios(
    conn: Any, *, org: str, user: str, rows: Iterable[tuple[str, Any, str, bytes]]
) -> int:
    """Add ``rows`` of ``(scenario_id, card, card_sha256, vector_binary)`` as version 1
    of new scenarios of ``org``, inside the caller's transaction on ``conn`` (a
    SQLAlchemy connection with ``app.org_id`` set); how many.

    Raises StoreError, naming them, when some of the ids are already stored (deleted
    ones included).
    """
    from sqlalchemy import text

    conn.execute(
        text(
            f"CREATE TEMPORARY TABLE {_STAGE} (scenario_id text NOT NULL, card jsonb NOT NULL, "
            "card_sha256 text NOT NULL, embedding vector) ON COMMIT DROP"
        )
    )
    raw = conn.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {_STAGE} FROM STDIN (FORMAT BINARY)") as copy,
    ):
        # The vectors are already in pgvector's binary format: send their bytes as is.
        copy.set_types(["text", "jsonb", "text", "bytea"])
        for row in rows:
            copy.write_row(row)
    taken = list(
        conn.execute(
            text(
                f"SELECT b.scenario_id FROM {_STAGE} b JOIN scenarios s USING (scenario_id) "
                "ORDER BY b.scenario_id LIMIT 21"
            )
        ).scalars()
    )
    if taken:
        more = ", ..." if len(taken) > 20 else ""
        raise StoreError(
            f"organisation {org!r} already stores scenario(s) {taken[:20]}{more}: a bulk "
            f"load adds new scenarios only; save changed ones with save_scenario"
        )
    params = {"org": org, "user": user}
    conn.execute(
        text(
            "INSERT INTO scenarios (org_id, scenario_id, current_version) "
            f"SELECT :org, scenario_id, 1 FROM {_STAGE}"
        ),
        params,
    )
    inserted = conn.execute(
        text(
            "INSERT INTO scenario_versions (org_id, scenario_id, version, card, card_sha256, "
            f"created_by, embedding) SELECT :org, scenario_id, 1, card, card_sha256, :user, "
            f"embedding FROM {_STAGE}"
        ),
        params,
    )
    return int(inserted.rowcount)

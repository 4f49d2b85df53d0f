"""The log store: incidents, ledger, revenue, deliveries and cyber events, in ClickHouse.

One SQL text runs on two engines through ``clickhouse_connect``:

- **embedded** (the default): chdb, the ClickHouse engine in-process, with its data in
  ``$RISKBENCH_HOME/logs`` (``RISKBENCH_HOME`` defaults to ``~/.riskbench``);
- **server**: a ClickHouse server, when a URL is given or ``RISKBENCH_CLICKHOUSE_URL`` is set
  (``http://user:password@host:8123/database``).

chdb holds its data path for one process at a time, and a process can open only one path.
So a :class:`LogStore` opens lazily (on its first query), should be closed when done
(``close()`` or a ``with`` block), and raises :class:`~riskbench.errors.StoreError` naming
the path when another process (a notebook kernel, a running ``riskbench ingest``) holds it.
To share logs between processes, run a ClickHouse server and set
``RISKBENCH_CLICKHOUSE_URL``.

Every table carries ``org_id`` first in its order key, and every query filters by it with
a bound parameter (``{org:String}``): values never enter the SQL text.

Examples
--------
>>> store = LogStore(home="/tmp/riskbench-doc")   # nothing is opened yet
>>> store.is_embedded
True
>>> sorted(TABLES)
['cyber_events', 'deliveries', 'incidents', 'ledger', 'revenue_daily']
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import pandas as pd

from riskbench.errors import Issue, MissingDependencyError, StoreError, ValidationError
from riskbench.files import riskbench_home

__all__ = ["TABLES", "LogStore", "Staging", "Table"]

LOCK_RETRY_S = 2.0
INSERT_SLICE = 25_000  # rows per insert into a staging table
# Bulk statements in small blocks on one thread: chdb runs inside our process, so its
# buffers count against the ingest's memory (the default blocks hold ~1M rows).
_LEAN = {
    "max_threads": 1,
    "max_block_size": 65_536,
    "min_insert_block_size_rows": 65_536,
    "min_insert_block_size_bytes": 16 << 20,
}  # how long to wait for another process to let go of a chdb path


@dataclass(frozen=True, kw_only=True)
class Table:
    """A canonical log table: its columns (name, ClickHouse type), order key and natural key."""

    name: str
    columns: tuple[tuple[str, str], ...]
    order_by: tuple[str, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        return [name for name, _ in self.columns]

    def create_sql(self, name: str | None = None) -> str:
        cols = ",\n  ".join(f"{c} {t}" for c, t in self.columns)
        return (
            f"CREATE TABLE IF NOT EXISTS {name or self.name} (\n  {cols}\n) "
            f"ENGINE = MergeTree ORDER BY ({', '.join(self.order_by)})"
        )


_ORG = ("org_id", "LowCardinality(String)")
_HASH = ("source_hash", "String")

TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            name="incidents",
            columns=(
                _ORG,
                ("incident_id", "String"),
                ("occurred_on", "Date"),
                ("category", "LowCardinality(String)"),
                ("scenario_id", "Nullable(String)"),
                ("asset", "Nullable(String)"),
                ("loss", "Float64"),
                ("currency", "LowCardinality(String)"),
                ("description", "String"),
                _HASH,
            ),
            # Counts and loss samples are read per category over time.
            order_by=("org_id", "category", "occurred_on", "incident_id"),
            key=("incident_id",),
        ),
        Table(
            name="ledger",
            columns=(
                _ORG,
                ("entry_id", "String"),
                ("posted_on", "Date"),
                ("account", "LowCardinality(String)"),
                ("product", "LowCardinality(String)"),
                ("amount", "Float64"),
                ("currency", "LowCardinality(String)"),
                _HASH,
            ),
            order_by=("org_id", "posted_on", "entry_id"),
            key=("entry_id",),
        ),
        Table(
            name="revenue_daily",
            columns=(
                _ORG,
                ("day", "Date"),
                ("product", "LowCardinality(String)"),
                ("revenue", "Float64"),
                ("currency", "LowCardinality(String)"),
                _HASH,
            ),
            order_by=("org_id", "product", "day"),
            key=("day", "product"),
        ),
        Table(
            name="deliveries",
            columns=(
                _ORG,
                ("delivery_id", "String"),
                ("supplier", "LowCardinality(String)"),
                ("ordered_on", "Date"),
                ("promised_on", "Date"),
                ("delivered_on", "Nullable(Date)"),
                ("quantity", "Float64"),
                ("status", "LowCardinality(String)"),
                _HASH,
            ),
            order_by=("org_id", "supplier", "promised_on", "delivery_id"),
            key=("delivery_id",),
        ),
        Table(
            name="cyber_events",
            columns=(
                _ORG,
                ("event_id", "String"),
                ("observed_at", "DateTime64(3, 'UTC')"),
                ("kind", "LowCardinality(String)"),
                ("severity", "LowCardinality(String)"),
                ("system", "LowCardinality(String)"),
                ("description", "String"),
                _HASH,
            ),
            order_by=("org_id", "kind", "observed_at", "event_id"),
            key=("event_id",),
        ),
    )
}


def _check_org(org: str) -> str:
    if not isinstance(org, str) or not org:
        raise ValidationError([Issue("org", f"must be a non-empty string, got {org!r}")])
    return org


def _choice(name: str, value: str, allowed: Sequence[str]) -> str:
    if value not in allowed:
        raise ValidationError(
            [Issue(name, f"{value!r} is not one of {', '.join(map(repr, allowed))}")]
        )
    return value


def _lock_holder(path: Path) -> str | None:
    """Who holds the chdb data path ``path`` ("process 123"), or None if nobody does.

    ClickHouse takes an exclusive ``flock`` on ``<path>/status`` and writes its PID there.
    """
    status = path / "status"
    if not status.exists():
        return None
    try:
        fd = os.open(status, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = status.read_text(errors="replace")
            found = re.search(r"PID:\s*(\d+)", text)
            return f"process {found.group(1)}" if found else "another process"
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


class LogStore:
    """Event logs of one or more organisations, in chdb (embedded) or a ClickHouse server.

    Parameters
    ----------
    url
        A ClickHouse server URL (``http://user:pw@host:8123/db``). None: use
        ``RISKBENCH_CLICKHOUSE_URL`` if set, else embedded chdb in ``HOME/logs``.
    home
        The riskbench home folder (default ``$RISKBENCH_HOME`` or ``~/.riskbench``); holds the
        embedded data and the ingest quarantine.
    lock_retry_s
        How long to keep retrying when another process holds the embedded data path.

    Notes
    -----
    Nothing is opened until the first query. chdb lets one process hold a data path, and
    one path per process: call :meth:`close` (or use ``with LogStore() as store:``) so that
    another process, or another path, can be opened.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        lock_retry_s: float = LOCK_RETRY_S,
    ) -> None:
        self.home = riskbench_home(home)
        self.url = url or os.environ.get("RISKBENCH_CLICKHOUSE_URL") or None
        self.path = None if self.url else self.home / "logs"
        self.lock_retry_s = lock_retry_s
        self._client: Any = None

    def __repr__(self) -> str:
        where = f"url={_redact(self.url)!r}" if self.url else f"path={str(self.path)!r}"
        state = "open" if self._client is not None else "closed"
        return f"LogStore({where}, {state})"

    @property
    def is_embedded(self) -> bool:
        """True for chdb in-process, False for a ClickHouse server."""
        return self.url is None

    # ------------------------------------------------------------------ lifecycle
    @property
    def client(self) -> Any:
        """The ``clickhouse_connect`` client, opened (and the tables created) on first use."""
        if self._client is None:
            self._client = self._connect()
            try:
                for table in TABLES.values():
                    self._client.command(table.create_sql())
                if self.is_embedded:
                    self._drop_leftovers()
            except BaseException:
                self.close()
                raise
        return self._client

    def _connect(self) -> Any:
        try:
            import clickhouse_connect
            from clickhouse_connect.driver.exceptions import ClickHouseError
        except ImportError:
            raise MissingDependencyError(
                "clickhouse-connect", "stores", purpose="The log store"
            ) from None
        if self.url is not None:
            try:
                return clickhouse_connect.get_client(dsn=self.url)
            except ClickHouseError as error:
                raise StoreError(
                    f"cannot connect to the ClickHouse server at {_redact(self.url)}: {error}"
                ) from error
        assert self.path is not None
        self.path.mkdir(parents=True, exist_ok=True)
        deadline = time.monotonic() + self.lock_retry_s
        delay = 0.1
        while True:
            try:
                return clickhouse_connect.get_client(dsn=f"chdb://{self.path}")
            except ClickHouseError as error:
                text = str(error)
                if "already initialized with path" in text:
                    raise StoreError(
                        f"cannot open the log store at {self.path}: this process already "
                        "has another chdb data path open, and chdb opens one path per "
                        "process. Close the other LogStore first (store.close()), or use "
                        f"the same RISKBENCH_HOME. chdb said: {text}"
                    ) from error
                holder = _lock_holder(self.path)
                if holder is None:
                    raise StoreError(f"cannot open the log store at {self.path}: {text}") from error
                if time.monotonic() >= deadline:
                    raise StoreError(
                        f"the log store at {self.path} is in use by {holder}: chdb lets only "
                        "one process open a data path at a time. Close that process (a "
                        "notebook kernel, a running `riskbench ingest`) or call close() on "
                        "its LogStore, then retry; or set RISKBENCH_HOME to another folder; "
                        "or, to share the logs between processes, run a ClickHouse server "
                        "and set RISKBENCH_CLICKHOUSE_URL."
                    ) from error
                time.sleep(delay)
                delay = min(delay * 2, 0.5)

    def _drop_leftovers(self) -> None:
        """Drop staging tables a killed process left behind (embedded only: this process
        holds the path, so no other ingest can be using them)."""
        names = self._client.query(
            "SELECT name FROM system.tables WHERE database = currentDatabase() "
            "AND (startsWith(name, '_staging_') OR startsWith(name, '_keys_'))"
        ).result_rows
        for (name,) in names:
            self._client.command(f"DROP TABLE IF EXISTS `{name}`")

    def close(self) -> None:
        """Close the connection (and let go of the embedded data path); reopens on next use."""
        client, self._client = self._client, None
        if client is not None:
            client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # ------------------------------------------------------------------ low level
    def query_df(
        self,
        sql: str,
        *,
        _columns: Sequence[str] | None = None,
        _settings: dict[str, Any] | None = None,
        **parameters: Any,
    ) -> pd.DataFrame:
        """Run ``sql`` with bound ``{name:Type}`` parameters; the result as a DataFrame."""
        df = self.client.query_df(sql, parameters=parameters, settings=_settings)
        if df.empty and len(df.columns) == 0 and _columns is not None:
            df = pd.DataFrame(columns=list(_columns))
        elif df.empty and len(df.columns) == 0:  # an empty result: keep its column names
            described = self.client.query(f"DESCRIBE ({sql})", parameters=parameters)
            df = pd.DataFrame(columns=[row[0] for row in described.result_rows])
        return df

    def count(self, table: str, org: str) -> int:
        """Rows of ``org`` in ``table``."""
        t = self._table(table)
        result = self.client.query(
            f"SELECT count() FROM {t.name} WHERE org_id = {{org:String}}",
            parameters={"org": _check_org(org)},
        )
        return int(result.result_rows[0][0])

    def insert(self, table: str, df: pd.DataFrame) -> None:
        """Add the canonical rows ``df`` to ``table`` all at once (through a staging table)."""
        with self.staging(table) as stage:
            stage.insert(df)

    @contextlib.contextmanager
    def staging(self, table: str) -> Iterator[Staging]:
        """A staging table for one batch: moved into ``table`` on success, else dropped.

        Nothing of the batch is visible in ``table`` until the block ends without an error;
        then its parts are attached to the table in one step and it is dropped.
        """
        t = self._table(table)
        stage = Staging(self, t, f"_staging_{t.name}_{uuid.uuid4().hex[:12]}")
        self.client.command(t.create_sql(stage.name))
        # Merging the staging table's parts would only cost memory: it is read once.
        self.client.command(f"SYSTEM STOP MERGES {stage.name}")
        try:
            yield stage
            self.publish(stage)
        finally:
            self.client.command(f"DROP TABLE IF EXISTS {stage.name}")

    def publish(self, stage: Staging) -> None:
        """Add the rows of a staging table to its table, all of them or none.

        The tables are not partitioned, so the staging table's parts form one partition,
        ``tuple()``; ``ATTACH PARTITION ... FROM`` adds all of its parts to the table in
        one step (hard links, no rewrite), where an ``INSERT ... SELECT`` would commit one
        part per block and a crash between blocks could leave part of a batch loaded.
        """
        self.client.command(
            f"ALTER TABLE {stage.table.name} ATTACH PARTITION tuple() FROM {stage.name}"
        )

    def existing(
        self, table: str, org: str, keys: pd.DataFrame, *, also: str | None = None
    ) -> pd.DataFrame:
        """The key columns and ``source_hash`` of rows of ``org`` whose key is in ``keys``.

        ``also`` names a staging table searched as well (rows of the batch loaded so far).
        """
        t = self._table(table)
        first = t.key[0]
        if keys.empty:
            return pd.DataFrame(columns=[*t.key, "source_hash"])
        col = keys[first]
        if pd.api.types.is_datetime64_any_dtype(col):  # a Date key: toString gives the day
            col = col.dt.strftime("%Y-%m-%d")
        # The keys travel as a table, not a query parameter: binding 100k values is slow.
        holder = f"_keys_{uuid.uuid4().hex[:12]}"
        self.client.command(f"CREATE TABLE {holder} (key String) ENGINE = Memory")
        try:
            self.client.insert_df(holder, pd.DataFrame({"key": col.astype(str).unique()}))
            sources = [t.name] if also is None else [t.name, also]
            select = " UNION ALL ".join(
                f"SELECT {', '.join(t.key)}, source_hash FROM {src} WHERE org_id = "
                f"{{org:String}} AND toString({first}) IN (SELECT key FROM {holder})"
                for src in sources
            )
            return self.query_df(
                select, org=_check_org(org), _columns=[*t.key, "source_hash"], _settings=_LEAN
            )
        finally:
            self.client.command(f"DROP TABLE IF EXISTS {holder}")

    @staticmethod
    def _table(name: str) -> Table:
        if name not in TABLES:
            raise ValidationError([Issue("table", f"{name!r} is not one of {sorted(TABLES)}")])
        return TABLES[name]

    # ------------------------------------------------------------------ aggregations
    def incident_counts(self, org: str, *, by: str = "category") -> pd.DataFrame:
        """Incidents per ``by`` per year, zeros included, with the exposure in years.

        The exposure is the organisation's observation window: every year from the first
        to the last year with any incident, inclusive. Each (``by``, year) pair in that
        window gets a row; ``exposure_years`` is the window's length.

        Returns
        -------
        DataFrame
            Columns ``by``, ``year``, ``count``, ``exposure_years``; sorted.
        """
        _choice("by", by, ("category", "scenario_id", "asset"))
        counts = self.query_df(
            f"SELECT {by} AS group, toYear(occurred_on) AS year, count() AS count "
            f"FROM incidents WHERE org_id = {{org:String}} AND {by} IS NOT NULL "
            "GROUP BY group, year",
            org=_check_org(org),
        )
        span = self.query_df(
            "SELECT min(toYear(occurred_on)) AS first, max(toYear(occurred_on)) AS last, "
            "count() AS n FROM incidents WHERE org_id = {org:String}",
            org=org,
        )
        columns = [by, "year", "count", "exposure_years"]
        if counts.empty or int(span["n"].iloc[0]) == 0:
            return pd.DataFrame({c: pd.Series(dtype="int64") for c in columns}).astype(
                {by: "object"}
            )
        first, last = int(span["first"].iloc[0]), int(span["last"].iloc[0])
        grid = pd.MultiIndex.from_product(
            [sorted(counts["group"].astype(str).unique()), range(first, last + 1)],
            names=[by, "year"],
        )
        counts["year"] = counts["year"].astype("int64")
        table = (
            counts.rename(columns={"group": by})
            .astype({by: "object"})
            .set_index([by, "year"])["count"]
            .reindex(grid, fill_value=0)
            .astype("int64")
            .reset_index()
        )
        table["exposure_years"] = last - first + 1
        return table[columns]

    def loss_samples(self, org: str, *, category: str | None = None) -> pd.DataFrame:
        """Every incident's loss (columns incident_id, occurred_on, category, scenario_id,
        loss, currency), oldest first; only ``category`` if given."""
        where = "org_id = {org:String}"
        params: dict[str, Any] = {"org": _check_org(org)}
        if category is not None:
            where += " AND category = {category:String}"
            params["category"] = category
        return self.query_df(
            "SELECT incident_id, occurred_on, category, scenario_id, loss, currency "
            f"FROM incidents WHERE {where} ORDER BY occurred_on, incident_id",
            **params,
        )

    def revenue_per_day(self, org: str, *, product: str | None = None) -> pd.DataFrame:
        """Revenue per day (columns day, currency, revenue), summed over products unless
        ``product`` is given."""
        where = "org_id = {org:String}"
        params: dict[str, Any] = {"org": _check_org(org)}
        if product is not None:
            where += " AND product = {product:String}"
            params["product"] = product
        return self.query_df(
            f"SELECT day, currency, sum(revenue) AS revenue FROM revenue_daily WHERE {where} "
            "GROUP BY day, currency ORDER BY day, currency",
            **params,
        )

    def supplier_delays(self, org: str, *, supplier: str | None = None) -> pd.DataFrame:
        """Days late of each delivered delivery (negative: early), with its supplier.

        Columns delivery_id, supplier, promised_on, delivered_on, days_late; deliveries
        not yet delivered are left out.
        """
        where = "org_id = {org:String} AND delivered_on IS NOT NULL"
        params: dict[str, Any] = {"org": _check_org(org)}
        if supplier is not None:
            where += " AND supplier = {supplier:String}"
            params["supplier"] = supplier
        return self.query_df(
            # No alias may be named delivered_on: ClickHouse would use it in WHERE.
            "SELECT delivery_id, supplier, promised_on, delivered_on, "
            "toInt64(dateDiff('day', promised_on, assumeNotNull(delivered_on))) AS days_late "
            f"FROM deliveries WHERE {where} ORDER BY supplier, promised_on, delivery_id",
            **params,
        )

    def incident_summary(self, org: str) -> pd.DataFrame:
        """Per category: count, total, mean and largest loss, first and last date."""
        return self.query_df(
            "SELECT category, count() AS count, sum(loss) AS total_loss, avg(loss) AS "
            "mean_loss, max(loss) AS max_loss, min(occurred_on) AS first, "
            "max(occurred_on) AS last FROM incidents WHERE org_id = {org:String} "
            "GROUP BY category ORDER BY category",
            org=_check_org(org),
        )


class Staging:
    """A staging table of one batch; see :meth:`LogStore.staging`."""

    def __init__(self, store: LogStore, table: Table, name: str) -> None:
        self.store, self.table, self.name = store, table, name
        self.rows = 0

    def insert(self, df: pd.DataFrame) -> None:
        """Append canonical rows (all the table's columns) to the staging table."""
        if df.empty:
            return
        missing = [c for c in self.table.column_names if c not in df.columns]
        if missing:
            raise ValidationError([Issue(self.table.name, f"missing columns {missing}")])
        df = df[self.table.column_names]
        for name, type_ in self.table.columns:
            if type_ == "Nullable(Date)" and pd.api.types.is_datetime64_any_dtype(df[name]):
                # clickhouse_connect writes NaT as 1970-01-01: pass None for NULL.
                col = df[name]
                df = df.assign(**{name: col.dt.date.astype(object).where(col.notna(), None)})
        # In slices: the client converts a whole frame to one native block in memory.
        for start in range(0, len(df), INSERT_SLICE):
            self.store.client.insert_df(
                self.name, df.iloc[start : start + INSERT_SLICE], settings=_LEAN
            )
        self.rows += len(df)

    def existing(self, org: str, keys: pd.DataFrame) -> pd.DataFrame:
        """Rows with these keys already in the table or in this batch."""
        return self.store.existing(self.table.name, org, keys, also=self.name)


def _redact(url: str | None) -> str:
    """The URL with any password hidden."""
    return re.sub(r"(//[^:/@]+:)[^@]*@", r"\1***@", url or "")

"""Load a customer's file into the log store: map, coerce, validate, quarantine, dedupe.

One call is one batch. Good rows go to a staging table chunk by chunk; only when the whole
file has been read are they attached to the table, all parts in one step. Rows with
problems go to a quarantine Parquet file with their row number and the reasons; rows
already loaded (same key, same content) are skipped, so re-ingesting a file loads nothing;
a row whose key is loaded with different content is quarantined, never silently replaced.

The quarantine file ``$RISKBENCH_HOME/quarantine/<batch>.parquet`` holds each bad row as
read (every column as text) after two columns: ``row_number`` (1-based, counting data rows
only, not the header) and ``reason`` (every problem found, separated by "; ").
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pandas as pd

from riskbench.errors import Issue, ValidationError
from riskbench.files import read_yaml
from riskbench.ingestion.readers import read_chunks
from riskbench.ingestion.schema import KINDS, Kind, Options, coerce, source_hashes
from riskbench.logstore import TABLES, LogStore, Staging

__all__ = ["IngestReport", "Mapping", "ingest", "load_mapping"]

Progress = Callable[[int], None]
_MAPPING_KEYS = (
    "columns",
    "currency",
    "date_format",
    "timezone",
    "encoding",
    "delimiter",
    "decimal",
    "thousands",
    "sheet",
)


@dataclass(frozen=True, kw_only=True)
class Mapping:
    """How a customer's file maps onto a canonical schema (from a YAML mapping file).

    ``columns`` maps their column names to ours; the other fields set how values are read.
    """

    columns: dict[str, str] = field(default_factory=dict)
    currency: str | None = None
    date_format: str | None = None
    timezone: str | None = None
    encoding: str | None = None
    delimiter: str | None = None
    decimal: str = "."
    thousands: str | None = None
    sheet: str | None = None


def load_mapping(source: str | os.PathLike[str] | Mapping | dict[str, Any] | None) -> Mapping:
    """A :class:`Mapping` from a YAML file, a dict of the same shape, or None (identity).

    Examples
    --------
    >>> load_mapping({"columns": {"Betrag": "amount"}, "date_format": "%d.%m.%Y"}).columns
    {'Betrag': 'amount'}
    """
    if source is None:
        return Mapping()
    if isinstance(source, Mapping):
        return source
    where = "mapping"
    if isinstance(source, dict):
        data: Any = source
    else:
        where = str(source)
        data, _ = read_yaml(source)
    if not isinstance(data, dict):
        raise ValidationError([Issue("", "must be a mapping with a `columns:` key")], source=where)
    issues = [
        Issue(str(k), f"unknown key; allowed: {', '.join(_MAPPING_KEYS)}")
        for k in data
        if k not in _MAPPING_KEYS
    ]
    columns = data.get("columns") or {}
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in columns.items()
    ):
        issues.append(Issue("columns", "must map their column names to ours (strings)"))
        columns = {}
    for key in _MAPPING_KEYS[1:]:
        if data.get(key) is not None and not isinstance(data[key], str):
            issues.append(Issue(key, f"must be a string, got {data[key]!r}"))
    if issues:
        raise ValidationError(issues, source=where)
    return Mapping(columns=dict(columns), **{k: data[k] for k in _MAPPING_KEYS[1:] if k in data})


@dataclass(kw_only=True)
class IngestReport:
    """What one ingest did. ``loaded + quarantined + duplicates_skipped == rows_in``."""

    kind: str
    path: str
    org: str
    batch: str
    rows_in: int = 0
    loaded: int = 0
    quarantined: int = 0
    duplicates_skipped: int = 0
    reasons: dict[str, int] = field(default_factory=dict)
    quarantine_file: str | None = None
    ignored_columns: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def check(self) -> None:
        """Assert the row invariant."""
        assert self.loaded + self.quarantined + self.duplicates_skipped == self.rows_in, self

    def __str__(self) -> str:
        lines = [
            f"{self.kind} from {self.path} for org {self.org!r} (batch {self.batch}):",
            f"  rows in             {self.rows_in:,}",
            f"  loaded              {self.loaded:,}",
            f"  quarantined         {self.quarantined:,}",
            f"  duplicates skipped  {self.duplicates_skipped:,}",
        ]
        if self.seconds > 0 and self.rows_in:
            lines.append(
                f"  time                {self.seconds:.1f} s "
                f"({self.rows_in / self.seconds:,.0f} rows/s)"
            )
        for reason, n in sorted(self.reasons.items(), key=lambda kv: (-kv[1], kv[0])):
            lines.append(f"  {n:>8,} x {reason}")
        if self.quarantine_file:
            lines.append(f"  quarantine: {self.quarantine_file}")
        if self.ignored_columns:
            lines.append(f"  ignored columns: {', '.join(self.ignored_columns)}")
        return "\n".join(lines)


class _Quarantine:
    """Bad rows written as they come to ``folder/<batch>.parquet`` (all columns text)."""

    def __init__(self, folder: Path, batch: str) -> None:
        self.path = folder / f"{batch}.parquet"
        self._tmp = folder / f".{batch}.parquet.tmp"
        self._writer: Any = None
        self._schema: Any = None

    def write(self, rows: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        table = pa.Table.from_pandas(
            rows.astype({c: str for c in rows.columns if c != "row_number"}), preserve_index=False
        )
        if self._writer is None:
            self._tmp.parent.mkdir(parents=True, exist_ok=True)
            self._schema = table.schema
            self._writer = pq.ParquetWriter(self._tmp, self._schema)
        self._writer.write_table(table.cast(self._schema))

    def close(self, *, keep: bool) -> str | None:
        if self._writer is None:
            return None
        self._writer.close()
        if keep:
            os.replace(self._tmp, self.path)
            return str(self.path)
        self._tmp.unlink(missing_ok=True)
        return None


def _split_duplicates(
    stage: Staging, org: str, kind: Kind, good: pd.DataFrame
) -> tuple[pd.DataFrame, pd.Series, pd.Series]:
    """(new rows, duplicate mask, conflict mask) of the good rows of a chunk.

    A duplicate has a key already loaded (or earlier in this batch) with the same content;
    a conflict has such a key with different content, and is quarantined: we never replace
    loaded rows silently.
    """
    key = list(TABLES[kind.table].key)
    seen = stage.existing(org, good[key])
    within = good.duplicated(subset=key, keep="first")
    dup = pd.Series(False, index=good.index)
    conflict = pd.Series(False, index=good.index)
    if not seen.empty:
        for col in key:  # compare keys on a common representation
            seen[col] = _key_text(seen[col])
        probe = good[key].copy()
        for col in key:
            probe[col] = _key_text(probe[col])
        merged = (
            probe.reset_index()
            .merge(seen.drop_duplicates(subset=key), on=key, how="left")
            .set_index("index")
        )
        known = merged["source_hash"].notna()
        dup = known & (merged["source_hash"] == good["source_hash"])
        conflict = known & ~dup
    # The first row of a key repeated within the chunk was handled above; later repeats
    # are duplicates if their content is the same as the first, else conflicts.
    first_hash = good.groupby(key, sort=False)["source_hash"].transform("first")
    dup |= within & (good["source_hash"] == first_hash)
    conflict |= within & (good["source_hash"] != first_hash)
    conflict &= ~dup
    new = good[~dup & ~conflict]
    return new, dup, conflict


def _key_text(col: pd.Series) -> pd.Series:
    if pd.api.types.is_datetime64_any_dtype(col):
        return col.dt.strftime("%Y-%m-%d")
    return col.astype(str)


def ingest(
    kind: str,
    path: str | os.PathLike[str],
    *,
    org: str,
    store: LogStore,
    mapping: str | os.PathLike[str] | Mapping | dict[str, Any] | None = None,
    currency: str | None = None,
    timezone: str | None = None,
    encoding: str | None = None,
    sheet: str | None = None,
    batch_rows: int = 100_000,
    progress: Progress | None = None,
) -> IngestReport:
    """Load the file ``path`` of ``kind`` rows for organisation ``org`` into ``store``.

    Parameters
    ----------
    kind
        One of ``incidents``, ``ledger``, ``revenue``, ``deliveries``, ``cyber``.
    path
        A CSV (streamed; encoding from its byte-order mark, else UTF-8), Parquet or xlsx file.
    mapping
        A YAML mapping file (or its dict): ``{columns: {their_name: our_name}, currency: EUR,
        date_format: "%d/%m/%Y", timezone: Europe/Berlin, encoding, delimiter, decimal,
        thousands, sheet}``.
    currency, timezone, encoding, sheet
        Override the mapping's. ``currency`` fills rows without one; ``timezone`` (default
        UTC) is where naive timestamps are local time: they are stored in UTC.
    batch_rows
        Rows read and validated at a time (memory is bounded by it, not the file size).
    progress
        Called with the number of rows read so far after each chunk.

    Returns
    -------
    IngestReport
        Counts, reasons and the quarantine file; ``loaded + quarantined +
        duplicates_skipped == rows_in``.

    Raises
    ------
    ValidationError
        The file cannot be read (wrong encoding, malformed CSV, several sheets) or lacks
        required columns; nothing is loaded.
    """
    start = dt.datetime.now(dt.UTC)
    if kind not in KINDS:
        raise ValidationError([Issue("kind", f"{kind!r} is not one of {', '.join(KINDS)}")])
    if not isinstance(org, str) or not org:
        raise ValidationError([Issue("org", f"must be a non-empty string, got {org!r}")])
    if batch_rows < 1:
        raise ValidationError([Issue("batch_rows", f"must be >= 1, got {batch_rows}")])
    spec = KINDS[kind]
    file = Path(path)
    m = load_mapping(mapping)
    tz = timezone or m.timezone or "UTC"
    try:
        ZoneInfo(tz)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError([Issue("timezone", f"unknown time zone {tz!r}")]) from None
    opts = Options(
        date_format=m.date_format,
        timezone=tz,
        decimal=m.decimal,
        thousands=m.thousands,
        currency=(currency or m.currency or None),
    )
    if opts.currency is not None:
        opts = dataclasses.replace(opts, currency=opts.currency.upper())
    batch = f"{kind}-{start:%Y%m%dT%H%M%S}-{uuid.uuid4().hex[:8]}"
    report = IngestReport(kind=kind, path=str(file), org=org, batch=batch)
    quarantine = _Quarantine(store.home / "quarantine", batch)
    reasons: Counter[str] = Counter()
    chunks = read_chunks(
        file,
        batch_rows=batch_rows,
        encoding=encoding or m.encoding,
        delimiter=m.delimiter,
        sheet=sheet or m.sheet,
    )
    ok = False
    try:
        with store.staging(spec.table) as stage:
            for chunk in chunks:
                raw = chunk.rows.rename(columns=m.columns)
                if report.rows_in == 0:
                    _check_columns(spec, raw, opts, file, m)
                    report.ignored_columns = [c for c in raw.columns if c not in spec.names]
                report.rows_in += len(raw)
                canon, why = coerce(spec, raw, opts)
                bad = why != ""
                good = canon[~bad].copy()
                good.insert(0, "org_id", org)
                good["source_hash"] = source_hashes(spec, good) if len(good) else []
                new, dup, conflict = _split_duplicates(stage, org, spec, good)
                why = why.copy()
                why[conflict[conflict].index] = "key already loaded with different content"
                bad |= why.index.isin(conflict[conflict].index)
                if bad.any():
                    rows = chunk.rows[bad].astype(str)
                    rows.insert(0, "reason", why[bad].to_numpy())
                    rows.insert(0, "row_number", chunk.rows.index[bad].astype("int64"))
                    quarantine.write(rows)
                    for text in why[bad]:
                        for part in text.split("; "):
                            reasons[part] += 1
                stage.insert(new)
                report.loaded += len(new)
                report.quarantined += int(bad.sum())
                report.duplicates_skipped += int(dup.sum())
                if progress is not None:
                    progress(report.rows_in)
            report.check()
        ok = True
    finally:
        report.quarantine_file = quarantine.close(keep=ok)
    report.reasons = dict(reasons)
    report.seconds = (dt.datetime.now(dt.UTC) - start).total_seconds()
    report.check()
    return report


def _check_columns(spec: Kind, raw: pd.DataFrame, opts: Options, file: Path, m: Mapping) -> None:
    required = [f.name for f in spec.fields if f.required]
    if spec.has_currency and opts.currency is None:
        required.append("currency")
    missing = [c for c in required if c not in raw.columns]
    if missing:
        hint = (
            ""
            if m.columns
            else "; if the file uses its own column names, give a mapping "
            "file ({columns: {their_name: our_name}})"
        )
        extra = " (or give currency=)" if "currency" in missing else ""
        raise ValidationError(
            [
                Issue(
                    "",
                    f"missing required columns for {spec.name}: {', '.join(missing)}{extra}; "
                    f"the file has: {', '.join(map(str, raw.columns))}{hint}",
                )
            ],
            source=str(file),
        )

"""Readers: a file in chunks of raw text rows (strings, "" for an empty cell).

CSV is streamed (bounded memory whatever its size), Parquet read row-group batch by
batch, Excel (xlsx) read whole (a sheet holds at most about a million rows).
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from riskbench.errors import Issue, MissingDependencyError, ValidationError

__all__ = ["Chunk", "check_encoding", "read_chunks"]

_BLOCK = 1 << 20


@dataclass(frozen=True)
class Chunk:
    """Raw rows of a file; ``first_row`` is the 1-based data-row number of the first one."""

    rows: pd.DataFrame
    first_row: int


def _bad(path: Path, message: str) -> ValidationError:
    return ValidationError([Issue("", message)], source=str(path))


def detect_encoding(path: Path) -> str:
    """The encoding of a text file from its byte-order mark, else UTF-8."""
    with path.open("rb") as fh:
        head = fh.read(4)
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    return "utf-8"


def check_encoding(path: Path, encoding: str) -> None:
    """Raise a ValidationError naming the byte offset where ``path`` stops decoding."""
    try:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
    except LookupError:
        raise _bad(path, f"unknown encoding {encoding!r}") from None
    offset = 0
    with path.open("rb") as fh:
        while True:
            block = fh.read(_BLOCK)
            pending = len(decoder.getstate()[0])
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as error:
                at = offset - pending + error.start
                bad = error.object[error.start : error.start + 4]
                raise _bad(
                    path,
                    f"cannot be read as {encoding}: byte offset {at} (bytes {bad!r}) is not "
                    f"valid {encoding}. Declare the file's encoding, for example "
                    "encoding='latin-1' or encoding='cp1252' (mapping file: `encoding:`; "
                    "command line: --encoding)",
                ) from None
            if not block:
                return
            offset += len(block)


def _sniff_delimiter(path: Path, encoding: str) -> str:
    with path.open(encoding=encoding, newline="") as fh:
        header = fh.readline()
    counts = {d: header.count(d) for d in (",", ";", "\t", "|")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_chunks(
    path: Path, *, encoding: str | None, delimiter: str | None, batch_rows: int
) -> Iterator[Chunk]:
    if path.stat().st_size == 0:
        return
    enc = encoding or detect_encoding(path)
    check_encoding(path, enc)
    sep = delimiter or _sniff_delimiter(path, enc)
    try:
        reader = pd.read_csv(
            path,
            sep=sep,
            encoding=enc,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            chunksize=batch_rows,
            skipinitialspace=True,
        )
    except pd.errors.EmptyDataError:
        return
    first = 1
    try:
        with reader:
            for frame in reader:
                frame.columns = [str(c).strip() for c in frame.columns]
                frame.index = pd.RangeIndex(first, first + len(frame))
                yield Chunk(frame, first)
                first += len(frame)
        if first == 1:
            # A header without rows: still yield the columns, so that they are checked.
            header = pd.read_csv(path, sep=sep, encoding=enc, dtype=str, nrows=0)
            header.columns = [str(c).strip() for c in header.columns]
            yield Chunk(header, 1)
    except pd.errors.ParserError as error:
        raise _bad(path, f"malformed CSV (delimiter {sep!r}): {error}".strip()) from None
    except (csv.Error, UnicodeDecodeError) as error:
        raise _bad(path, f"malformed CSV: {error}") from None


def _text(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return ""
    if isinstance(value, pd.Timestamp | dt.datetime):
        return value.isoformat(sep=" ")
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _as_text(frame: pd.DataFrame) -> pd.DataFrame:
    out = pd.DataFrame(
        {str(c).strip(): frame[c].astype(object).map(_text) for c in frame.columns},
        index=frame.index,
    )
    return out


def _parquet_chunks(path: Path, *, batch_rows: int) -> Iterator[Chunk]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise MissingDependencyError("pyarrow", "io", purpose="Reading Parquet") from None
    try:
        pf = pq.ParquetFile(path)
    except Exception as error:  # pyarrow raises ArrowInvalid for a non-Parquet file
        raise _bad(path, f"not a readable Parquet file: {error}") from None
    first = 1
    for batch in pf.iter_batches(batch_size=batch_rows):
        frame = _as_text(batch.to_pandas())
        frame.index = pd.RangeIndex(first, first + len(frame))
        yield Chunk(frame, first)
        first += len(frame)
    if first == 1:  # no rows: still yield the columns, so that they are checked
        yield Chunk(pd.DataFrame(columns=pf.schema_arrow.names, dtype=str), 1)


def sheet_names(path: Path) -> list[str]:
    """The sheet names of an xlsx workbook."""
    try:
        import openpyxl
    except ImportError:
        raise MissingDependencyError("openpyxl", "ingest", purpose="Reading Excel") from None
    try:
        wb = openpyxl.load_workbook(path, read_only=True)
    except Exception as error:  # zipfile.BadZipFile, InvalidFileException, KeyError...
        raise _bad(path, f"not a readable xlsx workbook: {error}") from None
    try:
        return list(wb.sheetnames)
    finally:
        wb.close()


def _excel_chunks(path: Path, *, sheet: str | None, batch_rows: int) -> Iterator[Chunk]:
    names = sheet_names(path)
    if sheet is None:
        if len(names) > 1:
            raise _bad(
                path,
                f"the workbook has {len(names)} sheets ({', '.join(map(repr, names))}): "
                "say which to read with sheet= (command line: --sheet)",
            )
        sheet = names[0]
    elif sheet not in names:
        raise _bad(path, f"no sheet {sheet!r}; the sheets are {', '.join(map(repr, names))}")
    frame = pd.read_excel(path, sheet_name=sheet, dtype=object, engine="openpyxl")
    frame = _as_text(frame)
    if frame.empty:  # no rows: still yield the columns, so that they are checked
        yield Chunk(frame, 1)
    for start in range(0, len(frame), batch_rows):
        part = frame.iloc[start : start + batch_rows].copy()
        part.index = pd.RangeIndex(start + 1, start + 1 + len(part))
        yield Chunk(part, start + 1)


def read_chunks(
    path: Path,
    *,
    batch_rows: int,
    encoding: str | None = None,
    delimiter: str | None = None,
    sheet: str | None = None,
) -> Iterator[Chunk]:
    """The file's rows in chunks of at most ``batch_rows``, by its suffix."""
    if not path.is_file():
        raise _bad(path, "no such file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".txt", ".tsv"):
        yield from _csv_chunks(path, encoding=encoding, delimiter=delimiter, batch_rows=batch_rows)
    elif suffix in (".parquet", ".pq"):
        yield from _parquet_chunks(path, batch_rows=batch_rows)
    elif suffix in (".xlsx", ".xlsm"):
        yield from _excel_chunks(path, sheet=sheet, batch_rows=batch_rows)
    else:
        raise _bad(path, f"unknown file type {suffix!r}: use .csv, .parquet or .xlsx")

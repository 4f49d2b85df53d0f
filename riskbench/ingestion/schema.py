"""Canonical schemas of the ingest kinds, and the coercion of raw text rows to them.

A raw chunk is a DataFrame of strings ("" for an empty cell) with our column names.
:func:`coerce` turns it into canonical typed columns plus a ``reason`` per row: empty for
a good row, else every problem found ("loss: negative; occurred_on: not a date").
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from riskbench.scenario import CATEGORIES

__all__ = ["KINDS", "Field", "Kind", "coerce"]

_OFFSET = re.compile(r"(?:Z|[+-]\d\d:?\d\d)$")
_CURRENCY = re.compile(r"^[A-Z]{3}$")


@dataclass(frozen=True, kw_only=True)
class Field:
    """One canonical column: its type, whether a value is required, and a row check."""

    name: str
    type: str  # "str", "date", "datetime", "float"
    required: bool = True  # the column must be in the file
    nullable: bool = False  # an empty value is allowed (stored as NULL or "")
    null_as_empty: bool = False  # store an empty value as "" rather than NULL
    allowed: tuple[str, ...] = ()  # allowed values, compared in lower case
    min_value: float | None = None


@dataclass(frozen=True, kw_only=True)
class Kind:
    """An ingest kind: the table it loads and its fields (``currency`` is handled apart)."""

    name: str
    table: str
    fields: tuple[Field, ...]
    has_currency: bool = True
    extra_check: Callable[[pd.DataFrame], pd.Series] | None = field(default=None)

    @property
    def names(self) -> list[str]:
        return [f.name for f in self.fields] + (["currency"] if self.has_currency else [])


def _delivered_before_ordered(df: pd.DataFrame) -> pd.Series:
    bad = df["delivered_on"].notna() & (df["delivered_on"] < df["ordered_on"])
    return bad.map({True: "delivered_on: before ordered_on", False: ""})


KINDS: dict[str, Kind] = {
    k.name: k
    for k in (
        Kind(
            name="incidents",
            table="incidents",
            fields=(
                Field(name="incident_id", type="str"),
                Field(name="occurred_on", type="date"),
                Field(name="category", type="str", allowed=CATEGORIES),
                Field(name="scenario_id", type="str", required=False, nullable=True),
                Field(name="asset", type="str", required=False, nullable=True),
                Field(name="loss", type="float", min_value=0.0),
                Field(
                    name="description",
                    type="str",
                    required=False,
                    nullable=True,
                    null_as_empty=True,
                ),
            ),
        ),
        Kind(
            name="ledger",
            table="ledger",
            fields=(
                Field(name="entry_id", type="str"),
                Field(name="posted_on", type="date"),
                Field(name="account", type="str"),
                Field(
                    name="product", type="str", required=False, nullable=True, null_as_empty=True
                ),
                Field(name="amount", type="float"),
            ),
        ),
        Kind(
            name="revenue",
            table="revenue_daily",
            fields=(
                Field(name="day", type="date"),
                Field(name="product", type="str"),
                Field(name="revenue", type="float"),
            ),
        ),
        Kind(
            name="deliveries",
            table="deliveries",
            has_currency=False,
            fields=(
                Field(name="delivery_id", type="str"),
                Field(name="supplier", type="str"),
                Field(name="ordered_on", type="date"),
                Field(name="promised_on", type="date"),
                Field(name="delivered_on", type="date", nullable=True),
                Field(name="quantity", type="float", min_value=0.0),
                Field(
                    name="status",
                    type="str",
                    allowed=("open", "delivered", "partial", "cancelled"),
                ),
            ),
            extra_check=_delivered_before_ordered,
        ),
        Kind(
            name="cyber",
            table="cyber_events",
            has_currency=False,
            fields=(
                Field(name="event_id", type="str"),
                Field(name="observed_at", type="datetime"),
                Field(name="kind", type="str", allowed=("alert", "incident")),
                Field(name="severity", type="str", allowed=("low", "medium", "high", "critical")),
                Field(name="system", type="str"),
                Field(
                    name="description",
                    type="str",
                    required=False,
                    nullable=True,
                    null_as_empty=True,
                ),
            ),
        ),
    )
}


@dataclass(frozen=True, kw_only=True)
class Options:
    """How to read values: date format, time zone, number format, default currency."""

    date_format: str | None = None
    timezone: str = "UTC"
    decimal: str = "."
    thousands: str | None = None
    currency: str | None = None


def _parse_dates(text: pd.Series, fmt: str | None) -> pd.Series:
    """Naive timestamps from text; NaT where unparseable. ``fmt`` first, then ISO 8601."""
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[us]")
    todo = text != ""
    if fmt is not None and todo.any():
        parsed = pd.to_datetime(text[todo], format=fmt, errors="coerce")
        out[todo] = parsed
        todo &= out.isna()
    if todo.any():
        parsed = pd.to_datetime(text[todo], format="ISO8601", errors="coerce")
        out[todo] = parsed
    return out


def _parse_timestamps(text: pd.Series, opts: Options) -> tuple[pd.Series, pd.Series]:
    """UTC timestamps from text, and a reason per row ("" when fine).

    Text with an offset (``Z``, ``+02:00``) is converted to UTC; naive text is local time in
    ``opts.timezone``. A local time that does not exist or is ambiguous (a DST change) is
    refused rather than guessed.
    """
    out = pd.Series(pd.NaT, index=text.index, dtype="datetime64[ms, UTC]")
    reason = pd.Series("", index=text.index, dtype=object)
    aware = text.str.contains(_OFFSET, regex=True)
    if aware.any():
        out[aware] = pd.to_datetime(text[aware], format="ISO8601", utc=True, errors="coerce")
    naive = ~aware & (text != "")
    if naive.any():
        local = _parse_dates(text[naive], opts.date_format)
        ok = local.notna()
        localised = (
            local[ok]
            .dt.tz_localize(opts.timezone, ambiguous="NaT", nonexistent="NaT")
            .dt.tz_convert("UTC")
        )
        out[localised.index] = localised
        reason[localised.index[localised.isna()]] = (
            f"time does not exist or is ambiguous in {opts.timezone}"
        )
    return out, reason


def _parse_numbers(text: pd.Series, opts: Options) -> pd.Series:
    cleaned = text
    if opts.thousands:
        cleaned = cleaned.str.replace(opts.thousands, "", regex=False)
    if opts.decimal != ".":
        cleaned = cleaned.str.replace(opts.decimal, ".", regex=False)
    return pd.to_numeric(cleaned.str.replace(" ", "", regex=False), errors="coerce")


def coerce(kind: Kind, raw: pd.DataFrame, opts: Options) -> tuple[pd.DataFrame, pd.Series]:
    """Canonical typed columns of ``raw`` and each row's problems ("" if none)."""
    out = pd.DataFrame(index=raw.index)
    problems: list[pd.Series] = []

    def flag(mask: pd.Series, message: str) -> None:
        problems.append(mask.map({True: message, False: ""}).astype(object))

    for f in kind.fields:
        if f.name in raw.columns:
            text = raw[f.name].astype(str).str.strip()
        else:
            text = pd.Series("", index=raw.index, dtype=object)
        empty = text == ""
        if not f.nullable:
            flag(empty, f"{f.name}: missing")
        if f.type == "str":
            value = text
            if f.allowed:
                value = text.str.lower()
                flag(
                    ~empty & ~value.isin(f.allowed), f"{f.name}: not one of {', '.join(f.allowed)}"
                )
            if f.nullable and not f.null_as_empty:
                value = value.where(~empty, None)
            out[f.name] = value.astype(object)
        elif f.type == "date":
            parsed = _parse_dates(text, opts.date_format)
            flag(~empty & parsed.isna(), f"{f.name}: not a date")
            out[f.name] = parsed.dt.normalize()
        elif f.type == "datetime":
            stamps, why = _parse_timestamps(text, opts)
            flag(~empty & stamps.isna() & (why == ""), f"{f.name}: not a date-time")
            problems.append(why.where(why == "", f"{f.name}: " + why))
            out[f.name] = stamps
        else:
            number = _parse_numbers(text, opts)
            flag(
                ~empty & (number.isna() | ~np.isfinite(number.fillna(0))), f"{f.name}: not a number"
            )
            if f.min_value is not None:
                flag(number < f.min_value, f"{f.name}: negative")
            out[f.name] = number.astype("float64")
    if kind.has_currency:
        if "currency" in raw.columns:
            cur = raw["currency"].astype(str).str.strip().str.upper()
        else:
            cur = pd.Series("", index=raw.index, dtype=object)
        if opts.currency:
            cur = cur.where(cur != "", opts.currency)
        flag(~cur.str.match(_CURRENCY), "currency: not a 3-letter ISO code")
        out["currency"] = cur
    if kind.extra_check is not None:
        problems.append(kind.extra_check(out))
    reason = pd.Series("", index=raw.index, dtype=object)
    for p in problems:
        reason = reason.str.cat(p, sep="; ").str.strip("; ")
    return out, reason


def source_hashes(kind: Kind, df: pd.DataFrame) -> pd.Series:
    """SHA-256 of each row's canonical content (kind, then every field in order)."""
    text = pd.Series(kind.name, index=df.index, dtype=object)
    for name in kind.names:
        col = df[name]
        if pd.api.types.is_datetime64_any_dtype(col):
            as_text = col.dt.strftime("%Y-%m-%dT%H:%M:%S.%f")
        elif pd.api.types.is_float_dtype(col):
            as_text = col.map(repr)
        else:
            as_text = col.astype(object)
        text = text + "\x1f" + as_text.astype(object).where(col.notna(), "\\N").astype(str)
    return text.map(lambda s: hashlib.sha256(s.encode()).hexdigest())

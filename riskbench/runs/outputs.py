"""What a scenario run produced, in one versioned JSON file that the board pack and the
exports read.

:class:`RunOutputs` holds plain values and tables (pandas DataFrames), nothing that
needs the run's code or its random numbers to read. ``save`` writes ``outputs.json``
atomically; ``load`` checks the schema name.

Tables (``RunOutputs.tables``; every money column is in ``meta["currency"]``):

- ``scenarios``: ``scenario, title, category, owner, frequency, severity, events_per_year,
  loss_per_event`` (the card's distributions in words and their means).
- ``summary``: ``scenario`` (ids, then ``portfolio``), ``mean, sd, p50, p90, p95, p99,
  tvar99, p_any``: inherent (after calibration).
- ``residual_summary``: the same, after the mitigation plan (absent with no plan).
- ``curve``: ``basis`` (``inherent``/``residual``), ``scenario``, ``loss``,
  ``probability``: exceedance curves, about 200 points each.
- ``tolerance``: ``loss, probability``: the board's risk tolerance.
- ``matrix``: ``scenario, title, category, p_any, severity, likelihood_band,
  severity_band, appetite`` and ``residual_`` columns of the same: placement on the
  likelihood x severity matrix.
- ``stress``: ``stress_set, description, mean_base, mean_stressed, p99_base,
  p99_stressed, p99_ratio, tvar99_base, tvar99_stressed``: the portfolio under each set.
- ``mitigations``: ``option, name, scenarios, one_off_cost, annual_cost, eal_reduction,
  p99_reduction, rosi, npv, payback_years, in_plan`` (``payback_years`` is missing
  when the option never pays back).
- ``frontier``: ``mitigations, annual_cost, objective``: best plan per budget.
- ``single_points_of_failure``: ``node, kind, lost_revenue, share`` (30-day outages
  costing over 10% of revenue).
- ``assumptions``: ``scenario, name, text, rationale, source``.
- ``calibration``: ``scenario, card_events_per_year, calibrated_events_per_year,
  incidents, years``.

``meta``: ``org, organisation, as_of, run_id, sim_run_id, portfolio, currency, trials,
seed, engine, engine_version, package_version, scenarios, exact_p99`` (the FFT value
when the portfolio allows it, else None), ``parameters``.
``plan``: ``ids, names, one_off_cost, annual_cost, budget_per_year, objective,
inherent_mean, inherent_p99, residual_mean, residual_p99``.
``narratives``: ``executive`` (the summary in words, see :mod:`riskbench.runs.summary`),
``scenarios`` (id -> text, the top scenarios by mean annual loss), ``method`` (the
summary's: ``template`` or ``llm:<model>``), ``notes``.
``findings``: text lines about the dependency graph.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from riskbench.errors import Issue, ValidationError
from riskbench.files import atomic_write_text

__all__ = ["OUTPUTS_FILE", "SCHEMA", "TABLES", "RunOutputs"]

SCHEMA = "riskbench.run-outputs/1"
OUTPUTS_FILE = "outputs.json"
#: The tables a run can hold, in the order exports write them.
TABLES = (
    "summary",
    "residual_summary",
    "curve",
    "tolerance",
    "scenarios",
    "matrix",
    "stress",
    "mitigations",
    "frontier",
    "single_points_of_failure",
    "assumptions",
    "calibration",
)


def plain(v: Any) -> Any:
    """A JSON value: numpy scalars as Python ones, NaN and infinities as None, tuples
    as lists, dates and timestamps as ISO text, paths as text."""
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, tuple | list | np.ndarray):
        return [plain(x) for x in v]
    if isinstance(v, dict):
        return {str(k): plain(x) for k, x in v.items()}
    if isinstance(v, pd.Timestamp | dt.date):
        return v.isoformat()
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    return v


def _table_json(frame: pd.DataFrame) -> dict[str, Any]:
    return {
        "columns": [str(c) for c in frame.columns],
        "rows": [[plain(v) for v in row] for row in frame.itertuples(index=False, name=None)],
    }


def _table_frame(data: Any, name: str) -> pd.DataFrame:
    if not isinstance(data, dict) or "columns" not in data or "rows" not in data:
        raise ValidationError([Issue(f"tables.{name}", "must be {columns: [...], rows: [...]}")])
    frame = pd.DataFrame(data["rows"], columns=data["columns"])
    for col in frame.columns:  # None back to NaN in number columns
        if (
            frame[col].dtype == object
            and frame[col].map(lambda x: x is None or isinstance(x, int | float)).all()
        ):
            frame[col] = pd.to_numeric(frame[col], errors="coerce")
    return frame


@dataclass
class RunOutputs:
    """The numbers, tables and words of one scenario run (see the module docstring)."""

    meta: dict[str, Any]
    tables: dict[str, pd.DataFrame]
    plan: dict[str, Any] = field(default_factory=dict)
    narratives: dict[str, Any] = field(default_factory=dict)
    findings: list[str] = field(default_factory=list)

    def table(self, name: str) -> pd.DataFrame:
        """Table ``name`` (an empty frame when the run has none)."""
        if name not in TABLES:
            raise ValidationError([Issue("table", f"unknown {name!r}; known: {', '.join(TABLES)}")])
        return self.tables.get(name, pd.DataFrame())

    @property
    def currency(self) -> str:
        return str(self.meta.get("currency") or "")

    @property
    def p99(self) -> float:
        """The portfolio's 1-in-100-year annual loss (inherent)."""
        summary = self.tables["summary"].set_index("scenario")
        return float(summary.loc["portfolio", "p99"])

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "meta": plain(self.meta),
            "plan": plain(self.plan),
            "narratives": plain(self.narratives),
            "findings": list(self.findings),
            "tables": {n: _table_json(self.tables[n]) for n in TABLES if n in self.tables},
        }

    def fingerprint(self) -> str:
        """SHA-256 of everything but the run id: runs with the same inputs have the
        same fingerprint (their numbers, tables and words are the same)."""
        import hashlib

        data = self.to_json()
        data["meta"].pop("run_id", None)
        text = json.dumps(data, sort_keys=True, allow_nan=False, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def save(self, folder: str | Path) -> Path:
        """Write ``folder/outputs.json`` atomically; its path."""
        path = Path(folder) / OUTPUTS_FILE
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(self.to_json(), indent=1, sort_keys=False, allow_nan=False)
        return atomic_write_text(path, text + "\n")

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunOutputs:
        if not isinstance(data, dict) or data.get("schema") != SCHEMA:
            got = data.get("schema") if isinstance(data, dict) else type(data).__name__
            raise ValidationError([Issue("schema", f"must be {SCHEMA!r}, got {got!r}")])
        tables = {n: _table_frame(t, n) for n, t in data.get("tables", {}).items()}
        unknown = sorted(set(tables) - set(TABLES))
        if unknown:
            raise ValidationError(
                [Issue("tables", f"unknown {unknown}; known: {', '.join(TABLES)}")]
            )
        return cls(
            meta=dict(data.get("meta", {})),
            tables=tables,
            plan=dict(data.get("plan", {})),
            narratives=dict(data.get("narratives", {})),
            findings=list(data.get("findings", [])),
        )

    @classmethod
    def load(cls, folder: str | Path) -> RunOutputs:
        """Read ``outputs.json`` from ``folder`` (or the file itself)."""
        path = Path(folder)
        if path.is_dir():
            path = path / OUTPUTS_FILE
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise ValidationError(
                [Issue("path", f"{path} does not exist: not a run's outputs")]
            ) from None
        return cls.from_json(data)

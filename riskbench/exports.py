"""Data exports of a scenario run: CSV, JSON and XLSX files with a manifest.

:func:`export_run` writes the sections of a :class:`~riskbench.runs.RunOutputs` into a
folder; :func:`load_run_export` reads ``run.json`` back and validates it against the
shipped JSON Schema (``riskbench/schemas/run-export-1.schema.json``, see
``docs/exports.md``).

Sections (:data:`SECTIONS`; money in ``meta.currency``):

- ``summary``: the portfolio headline, one row per basis (``inherent``, then
  ``residual`` when the run has a mitigation plan).
- ``exceedance_curve``: ``basis, scenario, loss, probability``, long form.
- ``scenarios``: per-scenario card means and simulated metrics.
- ``matrix``: placement on the likelihood x severity matrix, inherent and residual.
- ``mitigations``: the options evaluated, with ``in_plan``.
- ``stress``, ``tolerance``: only when the run has them.

Files: ``<section>.csv`` per section, ``run.json``, ``run.xlsx`` (a sheet per section
and a ``meta`` sheet) and ``manifest.json`` (each file's SHA-256 and size). The folder
appears whole or not at all, and the same outputs give the same bytes.
"""

from __future__ import annotations

import datetime as _dt
import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import pandas as pd

from riskbench.errors import Issue, MissingDependencyError, ValidationError
from riskbench.files import replace_dir, sha256_file
from riskbench.runs.outputs import RunOutputs, plain

__all__ = [
    "FORMATS",
    "MANIFEST_FILE",
    "RUN_JSON",
    "RUN_XLSX",
    "SCHEMA",
    "SCHEMA_ID",
    "SCHEMA_VERSION",
    "SECTIONS",
    "ExportResult",
    "check_export_folder",
    "export_run",
    "load_run_export",
    "run_export_schema",
]

#: Formats :func:`export_run` writes, in the order it writes them.
FORMATS = ("csv", "json", "xlsx")
SCHEMA = "riskbench.run-export/1"
SCHEMA_VERSION = "1"
SCHEMA_ID = "https://riskbench.invalid/schemas/run-export-1.schema.json"
SCHEMA_FILE = "run-export-1.schema.json"
RUN_JSON = "run.json"
RUN_XLSX = "run.xlsx"
MANIFEST_FILE = "manifest.json"

# Each section's columns and their kind. The kind sets the XLSX number format; the
# shipped schema must list the same columns in the same order (tests/test_exports.py).
_MONEY = ("mean", "sd", "p50", "p90", "p95", "p99", "tvar99")
_COLUMNS: dict[str, tuple[tuple[str, str], ...]] = {
    "summary": (
        ("basis", "text"),
        *((c, "money") for c in _MONEY),
        ("p_any", "probability"),
        ("exact_p99", "money"),
    ),
    "exceedance_curve": (
        ("basis", "text"),
        ("scenario", "text"),
        ("loss", "money"),
        ("probability", "probability"),
    ),
    "scenarios": (
        ("scenario", "text"),
        ("title", "text"),
        ("category", "text"),
        ("owner", "text"),
        ("events_per_year", "rate"),
        ("loss_per_event", "money"),
        *((c, "money") for c in _MONEY),
        ("p_any", "probability"),
        ("residual_mean", "money"),
        ("residual_p99", "money"),
    ),
    "matrix": (
        ("scenario", "text"),
        ("title", "text"),
        ("category", "text"),
        ("p_any", "probability"),
        ("severity", "money"),
        ("likelihood_band", "text"),
        ("severity_band", "text"),
        ("appetite", "text"),
        ("residual_p_any", "probability"),
        ("residual_severity", "money"),
        ("residual_likelihood_band", "text"),
        ("residual_severity_band", "text"),
        ("residual_appetite", "text"),
        ("moved", "boolean"),
    ),
    "mitigations": (
        ("option", "text"),
        ("name", "text"),
        ("scenarios", "text"),
        ("one_off_cost", "money"),
        ("annual_cost", "money"),
        ("eal_reduction", "money"),
        ("p99_reduction", "money"),
        ("rosi", "ratio"),
        ("npv", "money"),
        ("payback_years", "years"),
        ("in_plan", "boolean"),
    ),
    "stress": (
        ("stress_set", "text"),
        ("description", "text"),
        ("mean_base", "money"),
        ("mean_stressed", "money"),
        ("p99_base", "money"),
        ("p99_stressed", "money"),
        ("p99_ratio", "ratio"),
        ("tvar99_base", "money"),
        ("tvar99_stressed", "money"),
    ),
    "tolerance": (("loss", "money"), ("probability", "probability")),
}
#: Sections in the order they are written; the last two only when the run has them.
SECTIONS = tuple(_COLUMNS)
_OPTIONAL = ("stress", "tolerance")
_NUMBER_FORMATS = {
    "money": "#,##0",
    "probability": "0.00%",
    "rate": "0.000",
    "ratio": "0.00",
    "years": "0.0",
}


@dataclass(frozen=True)
class ExportResult:
    """What :func:`export_run` wrote.

    Attributes
    ----------
    folder
        The export folder.
    files
        File name -> path, in the order written (``manifest.json`` last).
    sha256
        File name -> SHA-256 of its bytes (hex).
    export_ids
        File name -> the workspace's export id (empty without a workspace).
    """

    folder: Path
    files: dict[str, Path] = field(default_factory=dict)
    sha256: dict[str, str] = field(default_factory=dict)
    export_ids: dict[str, str] = field(default_factory=dict)


def run_export_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of ``run.json``, as shipped with the package."""
    text = resources.files("riskbench.schemas").joinpath(SCHEMA_FILE).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


# -- sections ------------------------------------------------------------------------
def _value(v: Any) -> Any:
    """A cell value: numpy scalars as Python ones, NaN/NA/non-finite as None."""
    if v is None or (not isinstance(v, str | bool | list | tuple) and pd.isna(v)):
        return None
    return plain(v)


def _frame(section: str, frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with exactly the section's columns (missing ones as None) as objects."""
    columns = [c for c, _ in _COLUMNS[section]]
    out = pd.DataFrame(index=range(len(frame)), columns=columns, dtype=object)
    for col in columns:
        if col in frame.columns:
            out[col] = [_value(v) for v in frame[col].astype(object)]
        else:
            out[col] = None
    return out


def _sections(outputs: RunOutputs) -> dict[str, pd.DataFrame]:
    """The export sections of ``outputs``, each with its exact columns."""
    tables = outputs.tables
    residual = tables.get("residual_summary")
    summary = tables["summary"].set_index("scenario")
    headline = [{"basis": "inherent", **summary.loc["portfolio"].to_dict()}]
    headline[0]["exact_p99"] = outputs.meta.get("exact_p99")
    if residual is not None and not residual.empty:
        row = residual.set_index("scenario").loc["portfolio"].to_dict()
        headline.append({"basis": "residual", **row, "exact_p99": None})

    per_scenario = tables["scenarios"].merge(
        summary.drop(index="portfolio").reset_index(), on="scenario", how="left"
    )
    if residual is not None and not residual.empty:
        res = residual[residual["scenario"] != "portfolio"][["scenario", "mean", "p99"]]
        res = res.rename(columns={"mean": "residual_mean", "p99": "residual_p99"})
        per_scenario = per_scenario.merge(res, on="scenario", how="left")

    out = {
        "summary": _frame("summary", pd.DataFrame(headline)),
        "exceedance_curve": _frame("exceedance_curve", tables["curve"]),
        "scenarios": _frame("scenarios", per_scenario),
        "matrix": _frame("matrix", tables["matrix"]),
        "mitigations": _frame("mitigations", tables.get("mitigations", pd.DataFrame())),
    }
    for name in _OPTIONAL:
        table = tables.get(name)
        if table is not None and not table.empty:
            out[name] = _frame(name, table)
    return out


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [
        {str(k): _value(v) for k, v in zip(frame.columns, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]


def _meta(outputs: RunOutputs, run_id: str | None) -> dict[str, Any]:
    m = outputs.meta
    meta = {
        "org": m.get("org"),
        "organisation": m.get("organisation"),
        "as_of": m.get("as_of"),
        "run_id": run_id,
        "sim_run_id": m.get("sim_run_id"),
        "portfolio": m.get("portfolio"),
        "currency": m.get("currency"),
        "trials": m.get("trials"),
        "seed": m.get("seed"),
        "engine": m.get("engine"),
        "engine_version": m.get("engine_version"),
        "package_version": m.get("package_version"),
        "scenario_count": m.get("scenarios"),
        "tolerance_breach": m.get("tolerance_breach"),
        "parameters": m.get("parameters") or {},
    }
    return plain(meta)  # type: ignore[no-any-return]


def _document(meta: dict[str, Any], sections: Mapping[str, pd.DataFrame]) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "schema_version": SCHEMA_VERSION,
        "meta": meta,
        **{name: _records(frame) for name, frame in sections.items()},
    }


def _json_text(data: Any) -> str:
    return json.dumps(data, indent=1, ensure_ascii=False, allow_nan=False) + "\n"


# -- XLSX ----------------------------------------------------------------------------
def _fixed_time(as_of: Any) -> _dt.datetime:
    """Midnight of the run's as-of date (1980-01-01, the ZIP epoch, if it has none):
    the workbook's created/modified time, so that the same run gives the same bytes."""
    try:
        day = _dt.date.fromisoformat(str(as_of)[:10])
    except ValueError:
        day = _dt.date(1980, 1, 1)
    return _dt.datetime.combine(max(day, _dt.date(1980, 1, 1)), _dt.time())


class _FixedTimeZip(zipfile.ZipFile):
    """A ZIP file whose entries carry one fixed time instead of the clock's."""

    def __init__(self, file: io.BytesIO, when: _dt.datetime) -> None:
        super().__init__(file, "w", zipfile.ZIP_DEFLATED)
        self._when = when.timetuple()[:6]

    def writestr(self, zinfo_or_arcname: Any, data: Any, *args: Any, **kwargs: Any) -> None:
        if isinstance(zinfo_or_arcname, str):
            info = zipfile.ZipInfo(zinfo_or_arcname, date_time=self._when)
            info.compress_type = self.compression
            info.external_attr = 0o600 << 16  # what ZipFile.writestr gives a name
            zinfo_or_arcname = info
        super().writestr(zinfo_or_arcname, data, *args, **kwargs)

    def write(self, filename: Any, arcname: Any = None, *args: Any, **kwargs: Any) -> None:
        # openpyxl writes each worksheet to a temporary file and adds it by path, which
        # would stamp the file's modification time.
        self.writestr(str(arcname or filename), Path(filename).read_bytes())


def _width(value: Any, kind: str) -> int:
    if value is None:
        return 0
    if kind == "money" and isinstance(value, int | float) and not isinstance(value, bool):
        return len(f"{value:,.0f}")
    if kind == "probability":
        return 7
    if isinstance(value, float):
        return min(len(repr(value)), 12)
    return len(str(value))


def _xlsx_bytes(meta: dict[str, Any], sections: Mapping[str, pd.DataFrame], *, title: str) -> bytes:
    try:
        from openpyxl import Workbook
        from openpyxl.styles import Font
        from openpyxl.utils import get_column_letter
        from openpyxl.utils.exceptions import IllegalCharacterError
        from openpyxl.writer.excel import ExcelWriter
    except ImportError:
        raise MissingDependencyError("openpyxl", "reports", purpose="The XLSX export") from None

    bold = Font(bold=True)
    when = _fixed_time(meta.get("as_of"))
    wb = Workbook()
    wb.remove(wb.active)
    wb.properties.created = when
    wb.properties.modified = when
    wb.properties.creator = f"riskbench {meta.get('package_version') or ''}".strip()
    wb.properties.title = title

    def sheet(name: str, columns: list[tuple[str, str]], rows: Iterable[tuple[Any, ...]]) -> None:
        ws = wb.create_sheet(name)
        widths = [len(c) for c, _ in columns]
        for j, (col, _) in enumerate(columns, start=1):
            ws.cell(row=1, column=j, value=col).font = bold
        n = 1
        for n, row in enumerate(rows, start=2):
            for j, ((col, kind), v) in enumerate(zip(columns, row, strict=True), start=1):
                if v is None:
                    continue
                try:
                    cell = ws.cell(row=n, column=j, value=v)
                except IllegalCharacterError:
                    raise ValidationError(
                        [
                            Issue(
                                f"{name}[{n - 2}].{col}",
                                f"{v!r} holds a control character that XLSX cannot store",
                            )
                        ]
                    ) from None
                if kind in _NUMBER_FORMATS and not isinstance(v, bool):
                    cell.number_format = _NUMBER_FORMATS[kind]
                widths[j - 1] = max(widths[j - 1], _width(v, kind))
        ws.freeze_panes = "A2"
        if n > 1:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{n}"
        for j, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(j)].width = min(max(w + 2, 8), 60)

    for name, frame in sections.items():
        rows = frame.itertuples(index=False, name=None)
        sheet(name, list(_COLUMNS[name]), rows)
    sheet("meta", [("field", "text"), ("value", "text")], _meta_rows(meta))

    buffer = io.BytesIO()
    ExcelWriter(wb, _FixedTimeZip(buffer, when)).save()  # wb.save would stamp "now"
    return buffer.getvalue()


def _meta_rows(meta: dict[str, Any]) -> list[tuple[str, Any]]:
    """(field, value) rows: parameters flattened as ``parameters.<name>``, lists as
    JSON text."""
    rows: list[tuple[str, Any]] = [("schema", SCHEMA), ("schema_version", SCHEMA_VERSION)]
    flat = {k: v for k, v in meta.items() if k != "parameters"}
    flat |= {f"parameters.{k}": v for k, v in (meta.get("parameters") or {}).items()}
    for key, value in flat.items():
        if isinstance(value, list | dict):
            value = json.dumps(value, ensure_ascii=False)
        rows.append((key, value))
    return rows


# -- export --------------------------------------------------------------------------
def _check_formats(formats: Any) -> tuple[str, ...]:
    chosen = (formats,) if isinstance(formats, str) else formats
    try:
        chosen = tuple(chosen)
    except TypeError:
        chosen = None
    allowed = ", ".join(FORMATS)
    if not chosen or not all(isinstance(f, str) and f in FORMATS for f in chosen):
        raise ValidationError(
            [Issue("formats", f"must be one or more of {allowed}, got {formats!r}")]
        )
    return tuple(f for f in FORMATS if f in chosen)


def check_export_folder(folder: Any) -> Path:
    """``folder`` as a path, if an export may be written there: a new or empty folder,
    or an earlier export (it has a ``manifest.json``), which is replaced; any other
    folder is refused (a :class:`~riskbench.errors.ValidationError` naming it)."""
    if not isinstance(folder, str | os.PathLike) or not str(folder).strip():
        raise ValidationError([Issue("folder", f"give a folder to export into, got {folder!r}")])
    target = Path(folder)
    if target.exists() and (
        not target.is_dir() or (any(target.iterdir()) and not (target / MANIFEST_FILE).is_file())
    ):
        raise ValidationError(
            [
                Issue(
                    "folder",
                    f"{str(target)!r} exists and is not an earlier export (no "
                    f"{MANIFEST_FILE}): choose a new or empty folder",
                )
            ]
        )
    return target


def _write(path: Path, data: bytes) -> None:
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())  # on disk before the folder is renamed into place


def export_run(
    outputs: RunOutputs,
    folder: str | os.PathLike[str],
    *,
    formats: Iterable[str] = FORMATS,
    workspace: Any = None,
    run_id: str | None = None,
) -> ExportResult:
    """Export the sections of a scenario run into ``folder``.

    Writes ``<section>.csv`` for each section (``csv``), ``run.json`` (``json``),
    ``run.xlsx`` (``xlsx``) and ``manifest.json`` (always). The folder appears whole
    or not at all: files go into a hidden sibling folder renamed into place at the
    end, so a failure leaves ``folder`` as it was. A folder left by an earlier export
    (it has a ``manifest.json``) is replaced; any other non-empty folder is refused.
    The same outputs give byte-identical files.

    Parameters
    ----------
    outputs
        What the run produced (:func:`riskbench.runs.scenario_run`).
    folder
        The export folder.
    formats
        Any of :data:`FORMATS`; written in that order.
    workspace
        An open :class:`~riskbench.workspace.Workspace`: each file (the manifest too)
        is recorded with ``workspace.record_export`` after the folder is in place. Its
        kind is ``csv:<section>``, ``json``, ``xlsx`` or ``manifest``. A refused
        recording (an unknown run, a viewer) raises the workspace's error and leaves
        the complete folder on disk.
    run_id
        The run's id (in the workspace, when one is given): stored in ``meta.run_id``
        and the manifest. Default ``outputs.meta["run_id"]``, else
        ``outputs.meta["sim_run_id"]``.

    Returns
    -------
    ExportResult

    Raises
    ------
    ValidationError
        Bad ``formats`` or ``folder``, a workspace without a run id, or data a format
        cannot hold (the location names section, row and column).

    Examples
    --------
    >>> import tempfile
    >>> from riskbench.runs import RunParameters, scenario_run
    >>> params = RunParameters.from_mapping(
    ...     {"card": "examples/register.yaml", "trials": 2_000, "seed": 1})
    >>> outputs = scenario_run(params)
    >>> with tempfile.TemporaryDirectory() as tmp:
    ...     result = export_run(outputs, f"{tmp}/export", formats=["csv", "json"])
    ...     document = load_run_export(result.folder)
    >>> list(result.files)[-3:], len(result.files)
    (['mitigations.csv', 'run.json', 'manifest.json'], 7)
    >>> document["schema"], [row["basis"] for row in document["summary"]]
    ('riskbench.run-export/1', ['inherent'])
    """
    if not isinstance(outputs, RunOutputs):
        raise ValidationError(
            [Issue("outputs", f"must be a RunOutputs, got {type(outputs).__name__}")]
        )
    chosen = _check_formats(formats)
    target = check_export_folder(folder)
    run_id = run_id or outputs.meta.get("run_id") or outputs.meta.get("sim_run_id")
    if workspace is not None and not run_id:
        raise ValidationError(
            [
                Issue(
                    "run_id",
                    "give the id of the run in the workspace to record the export "
                    "under (the outputs carry none)",
                )
            ]
        )

    # Everything is computed before anything is written.
    sections = _sections(outputs)
    meta = _meta(outputs, run_id)
    contents: list[tuple[str, str, str, bytes]] = []  # (name, format, section, bytes)
    if "csv" in chosen:
        for name, frame in sections.items():
            text = frame.to_csv(index=False, lineterminator="\n")
            contents.append((f"{name}.csv", "csv", name, text.encode("utf-8")))
    if "json" in chosen:
        text = _json_text(_document(meta, sections))
        contents.append((RUN_JSON, "json", "", text.encode("utf-8")))
    if "xlsx" in chosen:
        title = f"{meta.get('organisation') or meta.get('org') or ''} risk scenario run".strip()
        data = _xlsx_bytes(meta, sections, title=f"{title} {meta.get('as_of') or ''}".strip())
        contents.append((RUN_XLSX, "xlsx", "", data))

    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp"))
    try:
        tmp.chmod(0o755)  # mkdtemp makes it private to its owner
        listed: list[dict[str, Any]] = []
        for name, fmt, section, data in contents:
            _write(tmp / name, data)
            listed.append(
                {
                    "path": name,
                    "format": fmt,
                    "section": section or None,
                    "sha256": sha256_file(tmp / name),
                    "bytes": len(data),
                }
            )
        manifest = {
            "schema_id": SCHEMA_ID,
            "schema": SCHEMA,
            "run_id": run_id,
            "org": meta["org"],
            "as_of": meta["as_of"],
            "package_version": meta["package_version"],
            "formats": list(chosen),
            "sections": list(sections),
            "files": listed,
        }
        _write(tmp / MANIFEST_FILE, _json_text(manifest).encode("utf-8"))
        replace_dir(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise

    names = [f["path"] for f in listed] + [MANIFEST_FILE]
    files = {name: target / name for name in names}
    digests = {f["path"]: f["sha256"] for f in listed}
    digests[MANIFEST_FILE] = sha256_file(target / MANIFEST_FILE)
    export_ids: dict[str, str] = {}
    if workspace is not None and run_id:
        kinds = {n: (f"{fmt}:{sec}" if sec else fmt) for n, fmt, sec, _ in contents}
        for name, path in files.items():
            kind = kinds.get(name, "manifest")
            export_ids[name] = workspace.record_export(run_id, kind, path)
    return ExportResult(folder=target, files=files, sha256=digests, export_ids=export_ids)


# -- reading back --------------------------------------------------------------------
def load_run_export(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read an export's ``run.json`` (the file, or the folder holding it) and validate
    it against the run-export JSON Schema; the document.

    Raises
    ------
    ValidationError
        The file is missing, not JSON, or breaks the schema: each issue is located by
        its JSON path (``$.summary[0].mean``).
    MissingDependencyError
        jsonschema is not installed.
    """
    try:
        import jsonschema  # type: ignore[import-untyped,unused-ignore]
    except ImportError:
        raise MissingDependencyError(
            "jsonschema", "reports", purpose="Validating a run export"
        ) from None
    file = Path(path)
    if file.is_dir():
        file = file / RUN_JSON
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValidationError([Issue("", "no such file")], source=str(file)) from None
    except json.JSONDecodeError as err:
        raise ValidationError(
            [Issue("$", f"not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}")],
            source=str(file),
        ) from None
    validator = jsonschema.Draft202012Validator(run_export_schema())
    errors = sorted(validator.iter_errors(data), key=lambda e: e.json_path)
    if errors:
        raise ValidationError([Issue(e.json_path, e.message) for e in errors], source=str(file))
    document: dict[str, Any] = data
    return document

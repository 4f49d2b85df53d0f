"""Data exports of a scenario run (riskbench.exports): CSV, JSON against the shipped
schema, XLSX read back with openpyxl, the manifest, atomic folders, reproducible bytes
and recording in a real workspace (the embedded PostgreSQL).

The expected values are built here from ``RunOutputs.tables``, not from the exporter's
own helpers, so each format is checked against the run itself.
"""

from __future__ import annotations

import copy
import json
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import numpy as np
import openpyxl
import pandas as pd
import pytest

from helpers import ROOT, full_run_parameters
from riskbench.errors import StoreError, ValidationError
from riskbench.exports import (
    FORMATS,
    SCHEMA,
    SCHEMA_ID,
    SECTIONS,
    ExportResult,
    export_run,
    load_run_export,
    run_export_schema,
)
from riskbench.files import sha256_file
from riskbench.runs import RunOutputs, RunParameters, scenario_run

SCHEMA_PATH = ROOT / "riskbench" / "schemas" / "run-export-1.schema.json"
MONEY = "#,##0"
PERCENT = "0.00%"
REL = 1e-15  # openpyxl writes floats with 16 significant digits


@pytest.fixture(scope="module")
def outputs() -> RunOutputs:
    return scenario_run(full_run_parameters(), organisation="Northwind Components")


@pytest.fixture(scope="module")
def exported(outputs: RunOutputs, tmp_path_factory: pytest.TempPathFactory) -> ExportResult:
    return export_run(outputs, tmp_path_factory.mktemp("export") / "run-2026-11")


# -- what the files must hold, from the run's tables -------------------------------------
def expected(outputs: RunOutputs) -> dict[str, pd.DataFrame]:
    t = outputs.tables
    stats = ["mean", "sd", "p50", "p90", "p95", "p99", "tvar99", "p_any"]
    inherent = t["summary"].set_index("scenario")
    residual = t["residual_summary"].set_index("scenario")
    summary = pd.DataFrame(
        [
            {"basis": "inherent", **inherent.loc["portfolio", stats], "exact_p99": np.nan},
            {"basis": "residual", **residual.loc["portfolio", stats], "exact_p99": np.nan},
        ]
    )
    rows = []
    for card in t["scenarios"].itertuples():
        sid = card.scenario
        rows.append(
            {
                "scenario": sid,
                "title": card.title,
                "category": card.category,
                "owner": card.owner,
                "events_per_year": card.events_per_year,
                "loss_per_event": card.loss_per_event,
                **inherent.loc[sid, stats],
                "residual_mean": residual.loc[sid, "mean"],
                "residual_p99": residual.loc[sid, "p99"],
            }
        )
    matrix = t["matrix"].copy()
    for col in ("likelihood_band", "severity_band"):
        for c in (col, f"residual_{col}"):
            matrix[c] = matrix[c].astype(str)
    # JSON has no infinity: a payback that never comes is null in every format.
    mitigations = t["mitigations"].replace([np.inf, -np.inf], np.nan)
    return {
        "summary": summary,
        "exceedance_curve": t["curve"],
        "scenarios": pd.DataFrame(rows),
        "matrix": matrix,
        "mitigations": mitigations,
        "stress": t["stress"],
        "tolerance": t["tolerance"],
    }


def assert_same(got: pd.DataFrame, want: pd.DataFrame) -> None:
    assert list(got.columns) == list(want.columns)
    pd.testing.assert_frame_equal(
        got.reset_index(drop=True).astype(object).where(got.notna().to_numpy(), None),
        want.reset_index(drop=True).astype(object).where(want.notna().to_numpy(), None),
        check_dtype=False,
        check_exact=False,
        rtol=REL,
    )


def schema_columns(section: str) -> list[str]:
    return list(run_export_schema()["$defs"][section]["items"]["properties"])


# -- files and manifest ----------------------------------------------------------------
def test_files_and_manifest(outputs: RunOutputs, exported: ExportResult) -> None:
    csvs = [f"{s}.csv" for s in SECTIONS]
    assert list(exported.files) == [*csvs, "run.json", "run.xlsx", "manifest.json"]
    assert sorted(p.name for p in exported.folder.iterdir()) == sorted(exported.files)
    assert not [p for p in exported.folder.parent.iterdir() if p.name.startswith(".")]
    for name, path in exported.files.items():
        assert path == exported.folder / name
        assert exported.sha256[name] == sha256_file(path)
    manifest = json.loads((exported.folder / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["schema_id"] == SCHEMA_ID
    assert manifest["schema"] == SCHEMA
    assert manifest["run_id"] is None  # the outputs carry none and none was given
    assert manifest["formats"] == list(FORMATS)
    assert manifest["sections"] == list(SECTIONS)
    assert [f["path"] for f in manifest["files"]] == [*csvs, "run.json", "run.xlsx"]
    for entry in manifest["files"]:
        path = exported.folder / entry["path"]
        assert entry["sha256"] == sha256_file(path)
        assert entry["bytes"] == path.stat().st_size
    assert exported.export_ids == {}
    assert len({p.stat().st_mode for p in exported.files.values()}) == 1  # manifest too


# -- CSV ------------------------------------------------------------------------------
@pytest.mark.parametrize("section", SECTIONS)
def test_csv_reads_back_equal_to_the_run(
    outputs: RunOutputs, exported: ExportResult, section: str
) -> None:
    path = exported.files[f"{section}.csv"]
    assert path.read_bytes().decode("utf-8").splitlines()[0] == ",".join(schema_columns(section))
    got = pd.read_csv(path, keep_default_na=False, na_values=[""])
    assert_same(got, expected(outputs)[section])


def test_csv_keeps_full_precision(outputs: RunOutputs, exported: ExportResult) -> None:
    p99 = float(outputs.tables["summary"].set_index("scenario").loc["portfolio", "p99"])
    assert repr(p99) in exported.files["summary.csv"].read_text(encoding="utf-8")
    got = pd.read_csv(exported.files["summary.csv"])
    assert got.loc[0, "p99"] == p99  # exactly


# -- JSON and its schema --------------------------------------------------------------
def test_schema_is_valid_2020_12_and_documented() -> None:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    assert schema == run_export_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    assert schema["$id"] == SCHEMA_ID
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    undocumented = []
    for name, definition in schema["$defs"].items():
        assert definition.get("description"), name
        props = definition.get("properties") or definition["items"]["properties"]
        undocumented += [f"{name}.{k}" for k, v in props.items() if not v.get("description")]
    assert not undocumented
    for section in SECTIONS:  # every column is required: missing values are null
        items = schema["$defs"][section]["items"]
        assert items["required"] == list(items["properties"])


def test_run_json_validates_and_holds_the_data(outputs: RunOutputs, exported: ExportResult) -> None:
    doc = load_run_export(exported.folder)
    assert doc == load_run_export(exported.files["run.json"])
    assert (doc["schema"], doc["schema_version"]) == ("riskbench.run-export/1", "1")
    meta = doc["meta"]
    for key in ("org", "organisation", "as_of", "currency", "trials", "seed"):
        assert meta[key] == outputs.meta[key]
    assert meta["package_version"] == outputs.meta["package_version"]
    assert meta["parameters"] == json.loads(json.dumps(outputs.meta["parameters"]))
    assert meta["run_id"] is None
    want = expected(outputs)
    for section in SECTIONS:
        rows = doc[section]
        assert all(list(r) == schema_columns(section) for r in rows)
        assert_same(pd.DataFrame(rows, columns=schema_columns(section)), want[section])
    first = doc["summary"][0]
    assert isinstance(first["mean"], float)
    assert first["exact_p99"] is None  # the FFT cannot take this register: null, not NaN
    assert isinstance(doc["mitigations"][0]["in_plan"], bool)


def broken(doc: dict[str, Any], change: Any) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    change(doc)
    return doc


@pytest.mark.parametrize(
    ("change", "where", "message"),
    [
        (
            lambda d: d["summary"][0].update(mean="7.3 million"),
            "$.summary[0].mean",
            "'7.3 million' is not of type 'number'",
        ),
        (
            lambda d: d["scenarios"][1].pop("p99"),
            "$.scenarios[1]",
            "'p99' is a required property",
        ),
        (lambda d: d.pop("matrix"), "$", "'matrix' is a required property"),
        (lambda d: d["meta"].update(trials="many"), "$.meta.trials", "is not of type"),
        (lambda d: d.update(schema_version="2"), "$.schema_version", "'1' was expected"),
        (
            lambda d: d["exceedance_curve"][3].update(probability=1.5),
            "$.exceedance_curve[3].probability",
            "1.5 is greater than the maximum of 1",
        ),
    ],
)
def test_schema_rejects_a_modified_document(
    exported: ExportResult, tmp_path: Path, change: Any, where: str, message: str
) -> None:
    doc = json.loads(exported.files["run.json"].read_text(encoding="utf-8"))
    path = tmp_path / "run.json"
    path.write_text(json.dumps(broken(doc, change)), encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        load_run_export(path)
    assert [i.loc for i in info.value.issues] == [where]
    assert message in info.value.issues[0].message
    assert str(info.value).startswith(f"{path}: {where}: ")


def test_load_run_export_reports_bad_files(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"run\.json: no such file"):
        load_run_export(tmp_path)
    (tmp_path / "run.json").write_text('{"schema": ', encoding="utf-8")
    with pytest.raises(ValidationError, match=r"\$: not valid JSON at line 1, column 12"):
        load_run_export(tmp_path)


# -- XLSX ----------------------------------------------------------------------------
def test_xlsx_sheets_cells_and_formats(outputs: RunOutputs, exported: ExportResult) -> None:
    wb = openpyxl.load_workbook(exported.files["run.xlsx"])
    assert wb.sheetnames == [*SECTIONS, "meta"]
    want = expected(outputs)
    money = {"mean", "sd", "p99", "tvar99", "loss", "severity", "annual_cost", "npv"}
    for section in SECTIONS:
        ws = wb[section]
        header = [c.value for c in ws[1]]
        assert header == schema_columns(section)
        assert all(c.font.bold for c in ws[1])
        assert ws.freeze_panes == "A2"
        for letter in "AB":
            assert ws.column_dimensions[letter].width >= 8
        frame = want[section].reset_index(drop=True)
        assert ws.max_row == len(frame) + 1
        for i, row in enumerate(ws.iter_rows(min_row=2), start=0):
            for col, cell in zip(header, row, strict=True):
                value = frame.loc[i, col]
                if pd.isna(value):
                    assert cell.value is None, (section, i, col)
                elif isinstance(value, bool | np.bool_):
                    assert cell.data_type == "b"
                    assert cell.value is bool(value)
                elif isinstance(value, int | float | np.number):
                    assert cell.data_type == "n", (section, i, col, cell.value)
                    assert cell.value == pytest.approx(float(value), rel=REL, abs=0)
                    if col in money or col.endswith("_cost"):
                        assert cell.number_format == MONEY, (section, col)
                    if col in ("p_any", "probability", "residual_p_any"):
                        assert cell.number_format == PERCENT, (section, col)
                else:
                    assert cell.value == str(value)
    assert wb["scenarios"]["E2"].number_format == "0.000"  # events_per_year


def test_xlsx_meta_sheet(outputs: RunOutputs, exported: ExportResult) -> None:
    ws = openpyxl.load_workbook(exported.files["run.xlsx"])["meta"]
    assert [c.value for c in ws[1]] == ["field", "value"]
    assert ws.freeze_panes == "A2"
    meta = dict(ws.iter_rows(min_row=2, values_only=True))
    assert meta["schema"] == SCHEMA
    assert meta["organisation"] == "Northwind Components"
    assert meta["as_of"] == "2026-11-01"
    assert meta["trials"] == 20_000
    assert meta["seed"] == 7
    assert meta["currency"] == outputs.currency
    assert meta["parameters.budget_per_year"] == 800_000
    assert json.loads(meta["parameters.tolerance"]) == [[5e6, 0.2], [20e6, 0.05], [60e6, 0.01]]


# -- reproducible bytes --------------------------------------------------------------
def test_re_export_gives_identical_bytes(
    outputs: RunOutputs, exported: ExportResult, tmp_path: Path
) -> None:
    time.sleep(2.1)  # ZIP times have a 2-second resolution: make the clock's differ
    again = export_run(outputs, tmp_path / "again")
    assert again.sha256 == exported.sha256
    with zipfile.ZipFile(again.files["run.xlsx"]) as z:
        assert {i.date_time for i in z.infolist()} == {(2026, 11, 1, 0, 0, 0)}
    props = openpyxl.load_workbook(again.files["run.xlsx"]).properties
    assert props.created == props.modified == pd.Timestamp("2026-11-01").to_pydatetime()


def test_outputs_read_back_from_disk_export_the_same_bytes(
    outputs: RunOutputs, exported: ExportResult, tmp_path: Path
) -> None:
    outputs.save(tmp_path / "run")  # outputs.json, as a notebook run leaves it
    again = export_run(RunOutputs.load(tmp_path / "run"), tmp_path / "again")
    assert again.sha256 == exported.sha256


# -- errors and atomicity ------------------------------------------------------------
@pytest.mark.parametrize("formats", [("csv", "pdf"), (), "docx", [1]])
def test_bad_formats_name_field_value_and_allowed(
    outputs: RunOutputs, tmp_path: Path, formats: Any
) -> None:
    with pytest.raises(ValidationError) as info:
        export_run(outputs, tmp_path / "out", formats=formats)
    assert str(info.value) == f"formats: must be one or more of csv, json, xlsx, got {formats!r}"
    assert not (tmp_path / "out").exists()
    assert list(tmp_path.iterdir()) == []


def test_one_format_writes_only_its_files(outputs: RunOutputs, tmp_path: Path) -> None:
    result = export_run(outputs, tmp_path / "x", formats=["xlsx", "xlsx"])
    assert list(result.files) == ["run.xlsx", "manifest.json"]
    manifest = json.loads(result.files["manifest.json"].read_text(encoding="utf-8"))
    assert manifest["formats"] == ["xlsx"]


def test_a_failure_midway_leaves_nothing_partial(
    outputs: RunOutputs, exported: ExportResult, tmp_path: Path
) -> None:
    # A control character is fine in CSV and JSON but XLSX cannot store it: the export
    # fails after the CSV and JSON files are built.
    bad = copy.deepcopy(outputs)
    bad.tables["scenarios"].loc[0, "title"] = "Ransomware\x01"
    with pytest.raises(ValidationError, match=r"scenarios\[0\]\.title: .*control character"):
        export_run(bad, tmp_path / "new")
    assert list(tmp_path.iterdir()) == []  # no folder, no hidden temporary one

    # Over an earlier export: it stays exactly as it was.
    before = {p.name: sha256_file(p) for p in exported.folder.iterdir()}
    with pytest.raises(ValidationError):
        export_run(bad, exported.folder)
    assert {p.name: sha256_file(p) for p in exported.folder.iterdir()} == before
    assert not [p for p in exported.folder.parent.iterdir() if p.name.startswith(".")]


def test_refuses_a_folder_that_is_not_an_export(outputs: RunOutputs, tmp_path: Path) -> None:
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "notes.txt").write_text("keep me")
    with pytest.raises(ValidationError, match="exists and is not an earlier export"):
        export_run(outputs, folder)
    assert [p.name for p in folder.iterdir()] == ["notes.txt"]
    with pytest.raises(ValidationError, match="outputs: must be a RunOutputs, got dict"):
        export_run({}, tmp_path / "y")  # type: ignore[arg-type]


def test_run_without_plan_or_stress(tmp_path: Path) -> None:
    params = RunParameters.from_mapping(
        {"card": "examples/register.yaml", "trials": 2_000, "seed": 3, "as_of": "2026-11-01"},
        base_dir=ROOT,
    )
    plain = scenario_run(params)
    result = export_run(plain, tmp_path / "plain")
    assert "stress.csv" not in result.files
    assert "tolerance.csv" not in result.files
    doc = load_run_export(result.folder)
    assert "stress" not in doc
    assert "tolerance" not in doc
    assert [r["basis"] for r in doc["summary"]] == ["inherent"]
    assert doc["mitigations"] == []
    assert all(r["residual_mean"] is None for r in doc["scenarios"])
    assert all(r["moved"] is None and r["residual_appetite"] is None for r in doc["matrix"])
    header = pd.read_csv(result.files["mitigations.csv"])
    assert list(header.columns) == schema_columns("mitigations")
    assert header.empty
    wb = openpyxl.load_workbook(result.files["run.xlsx"])
    assert wb.sheetnames == ["summary", "exceedance_curve", "scenarios", "matrix",
                             "mitigations", "meta"]  # fmt: skip


# -- workspace (real PostgreSQL) ---------------------------------------------------------
@pytest.fixture(scope="module")
def workspace(pg_home: Path, pg_admin: object) -> Iterator[Any]:
    from riskbench.workspace import Workspace

    with Workspace(org="exports-a", user="ada", home=pg_home) as ws:
        yield ws


@pytest.mark.db
def test_exports_are_recorded_in_the_workspace(workspace: Any, tmp_path: Path) -> None:
    stored = scenario_run(full_run_parameters(), workspace=workspace, organisation="Northwind")
    run_id = stored.meta["sim_run_id"]
    assert run_id in workspace.runs().index

    result = export_run(stored, tmp_path / "ws-export", workspace=workspace)
    assert set(result.export_ids) == set(result.files)
    recorded = workspace.exports(run_id)
    assert sorted(recorded.index) == sorted(result.export_ids.values())
    by_path = recorded.set_index("path")
    for name, path in result.files.items():
        row = by_path.loc[str(path.resolve())]
        assert row["sha256"] == result.sha256[name] == sha256_file(path)
        assert row["size_bytes"] == path.stat().st_size
        assert row["created_by"] == "ada"
    kinds = dict(zip(by_path.index.map(lambda p: Path(p).name), by_path["kind"], strict=True))
    assert kinds["summary.csv"] == "csv:summary"
    assert (kinds["run.json"], kinds["run.xlsx"], kinds["manifest.json"]) == (
        "json",
        "xlsx",
        "manifest",
    )
    assert load_run_export(result.folder)["meta"]["run_id"] == run_id
    manifest = json.loads(result.files["manifest.json"].read_text(encoding="utf-8"))
    assert manifest["run_id"] == run_id

    again = export_run(stored, tmp_path / "ws-export", workspace=workspace)
    assert again.export_ids == result.export_ids  # same bytes, same ids: stored once
    assert len(workspace.exports(run_id)) == len(result.files)


@pytest.mark.db
def test_workspace_export_needs_a_known_run(
    workspace: Any, outputs: RunOutputs, tmp_path: Path
) -> None:
    with pytest.raises(ValidationError, match="run_id: give the id of the run"):
        export_run(outputs, tmp_path / "a", workspace=workspace)
    assert list(tmp_path.iterdir()) == []
    # The workspace decides which runs it knows: it refuses after the folder is whole.
    with pytest.raises(
        StoreError, match="organisation 'exports-a' has no run or notebook run 'nope'"
    ):
        export_run(outputs, tmp_path / "b", workspace=workspace, run_id="nope")
    assert load_run_export(tmp_path / "b")["meta"]["run_id"] == "nope"
    assert workspace.exports("nope").empty

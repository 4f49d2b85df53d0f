"""ReportWizard (widgets/report.py): headless, files checked against riskbench directly."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from bokeh.resources import INLINE

import riskbench as rb
import riskbench.widgets.report as report_module
from helpers import external_resources
from riskbench.errors import ValidationError
from riskbench.files import sha256_file
from riskbench.widgets.report import SECTIONS, ReportWizard

ROOT = Path(__file__).resolve().parents[1]
CHOSEN = ["ransomware-erp", "plant-fire"]


@pytest.fixture(scope="module")
def portfolio() -> rb.Portfolio:
    return rb.load_portfolio(ROOT / "examples" / "register.yaml")


@pytest.fixture(scope="module")
def mitigations() -> list[rb.Mitigation]:
    return list(rb.load_mitigations(ROOT / "examples" / "mitigations.yaml"))


@pytest.fixture(scope="module")
def result(portfolio: rb.Portfolio) -> rb.SimulationResult:
    return rb.simulate(portfolio, trials=5_000, seed=1)


@pytest.fixture
def wizard(result: rb.SimulationResult, mitigations: list[rb.Mitigation]) -> ReportWizard:
    w = ReportWizard(result, mitigations=mitigations)
    w.choose(scenarios=CHOSEN)
    return w


def test_export_csv(wizard: ReportWizard, result: rb.SimulationResult, tmp_path: Path) -> None:
    folder = tmp_path / "report"
    paths = wizard.export(folder)
    names = [p.name for p in paths]
    assert names == [
        "summary.csv",
        "exceedance_curve.csv",
        "matrix_placement.csv",
        "mitigations.csv",
        "narratives.json",
        "manifest.json",
    ]
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)
    summary = pd.read_csv(folder / "summary.csv", index_col="scenario")
    expected = result.summary().loc[[*CHOSEN, "portfolio"]]
    pd.testing.assert_frame_equal(summary, expected)
    curve = pd.read_csv(folder / "exceedance_curve.csv")
    assert list(curve["scenario"].unique()) == [*CHOSEN, "portfolio"]
    got = curve[curve["scenario"] == "plant-fire"][["loss", "probability"]]
    pd.testing.assert_frame_equal(got.reset_index(drop=True), result.exceedance_curve("plant-fire"))
    placed = pd.read_csv(folder / "matrix_placement.csv")
    assert list(placed["scenario"]) == CHOSEN
    narratives = json.loads((folder / "narratives.json").read_text())["narratives"]
    assert list(narratives) == CHOSEN
    direct = rb.narrate(
        result.portfolio["plant-fire"], result, mitigations=wizard.mitigations, llm=False
    )
    assert narratives["plant-fire"]["text"] == direct.text


def test_manifest_hashes(wizard: ReportWizard, tmp_path: Path) -> None:
    wizard.choose(sections=["summary", "narratives"], fmt="json")
    paths = wizard.export(tmp_path / "r")
    manifest = json.loads(paths[-1].read_text())
    assert manifest["scenarios"] == CHOSEN
    assert manifest["sections"] == ["summary", "narratives"]
    assert manifest["format"] == "json"
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    assert set(listed) == {"summary.json", "narratives.json"}
    for name, digest in listed.items():
        assert sha256_file(tmp_path / "r" / name) == digest
    rows = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert [r["scenario"] for r in rows] == [*CHOSEN, "portfolio"]


def test_mitigations_section(
    wizard: ReportWizard,
    result: rb.SimulationResult,
    mitigations: list[rb.Mitigation],
    tmp_path: Path,
) -> None:
    wizard.choose(sections=["mitigations"])
    wizard.export(tmp_path / "m")
    got = pd.read_csv(tmp_path / "m" / "mitigations.csv", index_col="option")
    options = [m for m in mitigations if set(CHOSEN) & set(m.scenarios)]
    direct = rb.evaluate_mitigations(
        result.portfolio, options, trials=result.trials, seed=result.seed
    )
    assert list(got.index) == list(direct.table.index)
    pd.testing.assert_series_equal(got["npv"], direct.table["npv"], check_names=False)


def test_failing_write_leaves_no_folder(
    wizard: ReportWizard, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = report_module.atomic_write_text
    calls = []

    def flaky(path: Path, text: str) -> Path:
        calls.append(path)
        if len(calls) == 3:
            raise OSError("disk full")
        return real(path, text)

    monkeypatch.setattr(report_module, "atomic_write_text", flaky)
    with pytest.raises(OSError, match="disk full"):
        wizard.export(tmp_path / "report")
    assert list(tmp_path.iterdir()) == []  # no folder, no hidden temporary one


def test_earlier_export_is_replaced_other_folders_refused(
    wizard: ReportWizard, tmp_path: Path
) -> None:
    wizard.choose(sections=["summary"])
    wizard.export(tmp_path / "r")
    wizard.choose(sections=["matrix_placement"])
    wizard.export(tmp_path / "r")
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == [
        "manifest.json",
        "matrix_placement.csv",
    ]
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(ValidationError, match="not an earlier export"):
        wizard.export(tmp_path / "mine")
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


@pytest.mark.slow
def test_pdf_is_the_board_pack_with_the_chosen_scenarios(
    wizard: ReportWizard, result: rb.SimulationResult, tmp_path: Path
) -> None:
    import subprocess

    wizard.choose(fmt="pdf")
    paths = wizard.export(tmp_path / "pack")
    assert [p.name for p in paths] == ["board-pack.pdf", "manifest.json"]
    manifest = json.loads(paths[1].read_text())
    assert manifest["format"] == "pdf"
    assert manifest["files"][0]["sha256"] == sha256_file(paths[0])
    text = subprocess.run(
        ["pdftotext", "-layout", str(paths[0]), "-"], capture_output=True, text=True, check=True
    ).stdout
    # the same portfolio, trials and seed: the pack's headline is the result's p99
    assert f"EUR {result.var(0.99):,.0f}" in text
    top = text[text.rindex("Top scenarios") : text.rindex("Stress tests")]  # the section
    titles = {s.id: s.title for s in result.portfolio.scenarios}
    for sid in CHOSEN:  # the chosen scenarios are narrated
        assert titles[sid] in top
    # In the UI: choosing PDF clears any message and keeps Export enabled.
    wizard.format_select.value = "html"
    assert not wizard.message.visible
    assert not wizard.export_button.disabled
    assert wizard.fmt == "html"


def test_bad_choices(wizard: ReportWizard, result: rb.SimulationResult) -> None:
    with pytest.raises(ValidationError, match="unknown ids"):
        wizard.choose(scenarios=["nope"])
    with pytest.raises(ValidationError, match="at least one section"):
        wizard.choose(sections=[])
    plain = ReportWizard(result)
    assert "mitigations" not in plain.available
    with pytest.raises(ValidationError, match="mitigations="):
        plain.choose(sections=["mitigations"])
    assert set(plain.sections) == set(SECTIONS) - {"mitigations"}


def test_ui_export(wizard: ReportWizard, tmp_path: Path) -> None:
    wizard.scenario_select.value = ["plant-fire"]
    wizard.section_boxes.value = ["summary"]
    wizard.folder_input.value = str(tmp_path / "ui")
    wizard.export_button.clicks += 1
    assert "Wrote 2 files" in wizard.done.object
    summary = pd.read_csv(tmp_path / "ui" / "summary.csv", index_col="scenario")
    assert list(summary.index) == ["plant-fire", "portfolio"]


@pytest.mark.db
def test_exports_recorded_in_workspace(
    pg_home: Path, result: rb.SimulationResult, tmp_path: Path
) -> None:
    with rb.Workspace(org="report-a", user="ada", home=pg_home) as ws:
        run_id = ws.save_run(result)
        wizard = ReportWizard(result, workspace=ws, run_id=run_id)
        wizard.choose(scenarios=CHOSEN, sections=["summary", "narratives"])
        paths = wizard.export(tmp_path / "report")
        exports = ws.exports(run_id)
    recorded = set(zip(exports["kind"], exports["path"], exports["sha256"], strict=True))
    expected = {
        (kind, str(p.resolve()), sha256_file(p))
        for kind, p in zip(["summary", "narratives", "manifest"], paths, strict=True)
    }
    assert expected <= recorded


def test_saved_html_has_no_cdn(wizard: ReportWizard, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    wizard.__panel__().save(out, resources=INLINE)
    text = out.read_text()
    assert "Matrix placement" in text
    assert external_resources(text) == []

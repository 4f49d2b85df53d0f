"""The notebooks run end to end in a real kernel, and say what the library says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
import pandas as pd
import papermill
import pytest

import riskbench as rb

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
QUICKSTART = NOTEBOOKS / "quickstart.ipynb"


def stream_text(nb: nbformat.NotebookNode) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.get("outputs", [])
        if out.output_type == "stream"
    )


def test_quickstart_is_stripped_and_parameterised() -> None:
    nb = nbformat.read(QUICKSTART, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.outputs == [] and c.execution_count is None for c in code)
    tagged = [c for c in code if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1
    source = tagged[0].source
    assert "trials = 100_000" in source
    assert "seed = 2026" in source
    assert 'card = "../examples/register.yaml"' in source
    assert nb.metadata["kernelspec"]["name"] == "python3"


@pytest.mark.notebook
@pytest.mark.slow
def test_quickstart_runs_and_matches_a_direct_simulation(tmp_path: Path) -> None:
    # The notebook's own defaults, as a scheduler would run it; papermill still
    # injects them through the parameters cell.
    trials, seed = 100_000, 2026
    output = tmp_path / "quickstart.ipynb"
    # A failing cell raises PapermillExecutionError; a dead kernel raises too: no skips.
    papermill.execute_notebook(
        str(QUICKSTART),
        str(output),
        kernel_name="python3",
        parameters={"trials": trials, "seed": seed},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    nb = nbformat.read(output, as_version=4)
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert errors == []

    text = stream_text(nb)
    match = re.search(r"portfolio p99: (\S+)", text)
    assert match, text
    expected = rb.simulate(rb.load_portfolio(ROOT / "examples" / "register.yaml"), trials, seed)
    assert match.group(1) == f"{expected.var(0.99):.2f}"
    assert f"{trials:,} years, seed {seed}" in text

    images = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    ]
    assert len(images) == 2  # the exceedance curve and the tornado
    assert len(_panel_views(nb)) == 1  # the interactive SimChart

    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert json.dumps(trials) in injected[0].source.replace("_", "")


ANALYSIS = NOTEBOOKS / "analysis.ipynb"


@pytest.mark.notebook
@pytest.mark.slow
def test_analysis_notebook_runs_and_its_numbers_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The kernel inherits the environment: its stores live in a fresh home.
    monkeypatch.setenv("RISKBENCH_HOME", str(tmp_path / "home"))
    data, out = tmp_path / "data", tmp_path / "out"
    output = tmp_path / "analysis.ipynb"
    papermill.execute_notebook(
        str(ANALYSIS),
        str(output),
        kernel_name="python3",
        parameters={"data_dir": str(data), "out_dir": str(out)},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    nb = nbformat.read(output, as_version=4)
    text = stream_text(nb)
    for name in (
        "calibration.csv",
        "summary.csv",
        "stress.csv",
        "mitigations.csv",
        "mitigation_frontier.csv",
        "matrix.csv",
        "matrix_counts.csv",
        "outage_valve_forgings.csv",
        "single_points_of_failure.csv",
    ):
        assert (out / name).stat().st_size > 0, name

    # The calibration, recomputed here with pandas from the same incident file (not
    # through the log store), gives the p99 the notebook printed.
    counts = _counts_with_pandas(data / "incidents.csv")
    portfolio = rb.load_portfolio(ROOT / "examples" / "register.yaml")
    calibrated = rb.calibrate(portfolio, counts)
    p99 = rb.simulate(calibrated, trials=50_000, seed=2026).var(0.99)
    assert f"portfolio p99 after calibration: {p99:.2f}" in text

    assert len(_panel_views(nb)) == 3  # matrix, graph and mitigation components
    matrix_counts = pd.read_csv(out / "matrix_counts.csv", index_col=0)
    assert int(matrix_counts.to_numpy().sum()) == len(portfolio)
    stress = pd.read_csv(out / "stress.csv", index_col=0)
    assert (stress["p99_stressed"] >= stress["p99_base"]).all()


def _counts_with_pandas(incidents_csv: Path) -> pd.DataFrame:
    """Incident counts per scenario and year, zeros included, recomputed with pandas."""
    incidents = pd.read_csv(incidents_csv, dtype={"scenario_id": str})
    years = pd.to_datetime(incidents["occurred_on"]).dt.year
    first, last = int(years.min()), int(years.max())
    linked = incidents.assign(year=years).dropna(subset=["scenario_id"])
    grid = pd.MultiIndex.from_product(
        [sorted(linked["scenario_id"].unique()), range(first, last + 1)],
        names=["scenario_id", "year"],
    )
    counts = (
        linked.groupby(["scenario_id", "year"])
        .size()
        .reindex(grid, fill_value=0)
        .rename("count")
        .reset_index()
    )
    counts["exposure_years"] = last - first + 1
    return counts


EXPLORE = NOTEBOOKS / "explore.ipynb"
DASHBOARD = NOTEBOOKS / "dashboard.ipynb"


def _panel_views(nb: nbformat.NotebookNode) -> list[object]:
    """The cell results that are rendered Panel/HoloViews views (the components; the
    extension's own display of its JavaScript is not a cell result)."""
    return [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "execute_result"
        and "application/vnd.holoviews_exec.v0+json" in out.get("data", {})
    ]


def _errors(nb: nbformat.NotebookNode) -> list[object]:
    return [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]


@pytest.mark.notebook
@pytest.mark.slow
def test_explore_notebook_runs_and_its_components_show_the_cores_numbers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKBENCH_LLM", raising=False)
    data = tmp_path / "data"
    output = tmp_path / "explore.ipynb"
    papermill.execute_notebook(
        str(EXPLORE),
        str(output),
        kernel_name="python3",
        parameters={"data_dir": str(data), "trials": 20_000},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    nb = nbformat.read(output, as_version=4)
    assert _errors(nb) == []
    text = stream_text(nb)
    portfolio = rb.load_portfolio(ROOT / "examples" / "register.yaml")
    calibrated = rb.calibrate(portfolio, _counts_with_pandas(data / "incidents.csv"))
    result = rb.simulate(calibrated, trials=20_000, seed=2026)
    assert f"portfolio p99: {result.var(0.99):.2f}" in text
    graph = rb.DependencyGraph.from_yaml(ROOT / "examples" / "dependencies.yaml")
    lost = graph.outage("valve-forgings", 90).total_lost_revenue
    assert f"valve-forgings out for 90 days: {lost:,.0f} lost revenue" in text
    mitigations = rb.load_mitigations(ROOT / "examples" / "mitigations.yaml")
    report = rb.evaluate_mitigations(
        calibrated,
        mitigations,
        trials=20_000,
        seed=2026,
        plan=["immutable-backups", "edr-mdr"],
    )
    assert f"plan residual p99: {float(report.table.loc['plan', 'p99']):.2f}" in text
    # the components rendered as Panel/Bokeh views, not as text
    assert len(_panel_views(nb)) == 5
    # the narrative printed is the core's, offline
    story = rb.narrate(calibrated["ransomware-erp"], result, graph=graph, mitigations=mitigations)
    assert story.sections["numbers"].split(". ")[0] in text


@pytest.mark.notebook
@pytest.mark.db
@pytest.mark.slow
def test_dashboard_notebook_loads_the_latest_stored_run(
    pg_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from riskbench.workspace import Workspace

    monkeypatch.setenv("RISKBENCH_HOME", str(pg_home))
    portfolio = rb.load_portfolio(ROOT / "examples" / "register.yaml")
    result = rb.simulate(portfolio, trials=5_000, seed=9)
    with Workspace(org="dash-nb", user="ada", home=pg_home) as ws:
        ws.save_run(result, artefact_dir=pg_home / "artefacts")
    output = tmp_path / "dashboard.ipynb"
    papermill.execute_notebook(
        str(DASHBOARD),
        str(output),
        kernel_name="python3",
        parameters={"org": "dash-nb", "user": "ada"},
        cwd=str(NOTEBOOKS),
        progress_bar=False,
    )
    nb = nbformat.read(output, as_version=4)
    assert _errors(nb) == []
    shown = json.dumps([c.outputs for c in nb.cells if c.cell_type == "code"])
    # the stored run's p99, as the headline writes it
    assert f"EUR {result.var(0.99):,.0f}" in shown

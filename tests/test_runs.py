"""Scenario runs: checked parameters, the analysis against the core's own numbers, and
papermill runs recorded with provenance in a real (embedded) PostgreSQL workspace.

Organisation ``runs-a`` (admin ada, viewer val) and ``runs-b`` (admin bea).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import nbformat
import numpy as np
import pandas as pd
import pytest

import riskbench as rb
from helpers import FULL_RUN, ROOT, job_notebook
from riskbench.ai import humanize as hz
from riskbench.errors import PermissionDenied, RunError, StoreError
from riskbench.files import sha256_file
from riskbench.mitigation import apply_mitigations
from riskbench.runs import RunOutputs, RunParameters, run_notebook, scenario_run, store
from riskbench.runs.outputs import SCHEMA

EXAMPLES = ROOT / "examples"
NOTEBOOK = ROOT / "notebooks" / "scenario_run.ipynb"
TRIALS, SEED = 5_000, 11
FULL = {**FULL_RUN, "trials": TRIALS, "seed": SEED, "as_of": "2026-10-31", "top": 3}


# ------------------------------------------------------------------ parameters
def test_parameters_coerce_cli_text_and_fill_defaults() -> None:
    params = RunParameters.from_mapping(
        {
            "card": "examples/register.yaml",
            "trials": "20000",
            "seed": "7",
            "plan": "['a', 'b']",
            "mitigations_file": "examples/mitigations.yaml",
            "tolerance": "[[1e6, 0.1]]",
            "stress_sets": "severe but plausible, cyber wave",
            "stress_file": "examples/stress.yaml",
        },
        base_dir=ROOT,
    )
    assert (params.trials, params.seed) == (20_000, 7)
    assert params.plan == ("a", "b")
    assert params.tolerance == ((1e6, 0.1),)
    assert params.stress_sets == ("severe but plausible", "cyber wave")
    assert params.as_of  # today when not given
    assert params.resolve("card") == ROOT / "examples" / "register.yaml"


def test_bad_parameters_name_each_field_value_and_what_is_allowed() -> None:
    with pytest.raises(RunError) as info:
        RunParameters.from_mapping(
            {
                "card": "examples/nope.yaml",
                "trials": 10,
                "seed": -1,
                "as_of": "31/10/2026",
                "budget_per_year": "lots",
                "tolerance": [[1e6, 1.5]],
                "plan": ["backups"],
                "colour": "red",
            },
            base_dir=ROOT,
        )
    err = info.value
    where = {i.loc: i.message for i in err.issues}
    assert "no file at 'examples/nope.yaml'" in where["card"]
    assert where["trials"] == "must be a whole number from 1,000 to 100,000,000, got 10"
    assert "got -1" in where["seed"]
    assert where["as_of"] == "must be a date YYYY-MM-DD, got '31/10/2026'"
    assert "got 'lots'" in where["budget_per_year"]
    assert "got [1000000.0, 1.5]" in where["tolerance[0]"]
    assert "needs a mitigations_file" in where["plan"]
    assert where["colour"].startswith("is not a run parameter; allowed: as_of, budget_per_year")
    assert "trials: must be a whole number" in str(err)


# ------------------------------------------------------------------ the analysis
@pytest.fixture(scope="module")
def outputs() -> RunOutputs:
    params = RunParameters.from_mapping(FULL, base_dir=ROOT)
    return scenario_run(params, organisation="Northwind Components")


def test_run_numbers_are_the_cores_numbers(outputs: RunOutputs) -> None:
    portfolio = rb.load_portfolio(EXAMPLES / "register.yaml")
    result = rb.simulate(portfolio, trials=TRIALS, seed=SEED)
    summary = outputs.table("summary").set_index("scenario")
    pd.testing.assert_frame_equal(summary, result.summary().rename_axis("scenario"))
    assert outputs.p99 == result.var(0.99)

    options = rb.load_mitigations(EXAMPLES / "mitigations.yaml", portfolio=portfolio)
    best = rb.optimize_mitigations(
        portfolio, options, budget_per_year=800_000, objective="mean", trials=TRIALS, seed=SEED
    )
    assert outputs.plan["ids"] == list(best.best)
    chosen = [m for m in options if m.id in best.best]
    mitigated = portfolio.with_scenarios(
        [apply_mitigations(s, chosen) for s in portfolio.scenarios]
    )
    residual = rb.simulate(mitigated, trials=TRIALS, seed=SEED)
    assert outputs.plan["residual_p99"] == residual.var(0.99)
    assert outputs.plan["annual_cost"] == pytest.approx(sum(m.annual_cost for m in chosen))
    table = outputs.table("mitigations").set_index("option")
    assert set(table.index[table["in_plan"]]) == set(best.best)

    sets = rb.load_stress_sets(EXAMPLES / "stress.yaml", portfolio=portfolio)
    stressed = rb.stress_all(portfolio, list(sets.values()), trials=TRIALS, seed=SEED)
    stress = outputs.table("stress").set_index("stress_set")
    for name, res in stressed.items():
        assert stress.loc[name, "p99_stressed"] == res.table.loc["portfolio", "p99_stressed"]

    graph = rb.DependencyGraph.from_yaml(EXAMPLES / "dependencies.yaml")
    spof = graph.single_points_of_failure(days=30, threshold=0.1)
    pd.testing.assert_frame_equal(outputs.table("single_points_of_failure"), spof)
    curve = outputs.table("curve")
    port = curve[(curve["basis"] == "inherent") & (curve["scenario"] == "portfolio")]
    np.testing.assert_allclose(port["loss"], result.exceedance_curve()["loss"])


def test_executive_summary_quotes_the_runs_figures(outputs: RunOutputs) -> None:
    text = outputs.narratives["executive"]
    assert hz.money(outputs.p99, "EUR") in text
    assert "As of 2026-10-31" in text
    assert hz.money(outputs.plan["residual_p99"], "EUR") in text
    breach = outputs.meta["tolerance_breach"]
    assert breach is not None
    assert breach[0] < breach[1]
    assert f"from {hz.money(breach[0], 'EUR')}" in text
    assert len(outputs.narratives["scenarios"]) == 3
    top = outputs.table("summary").set_index("scenario").drop(index="portfolio")
    assert list(outputs.narratives["scenarios"]) == list(top["mean"].nlargest(3).index)


def test_executive_summary_states_only_the_runs_figures(outputs: RunOutputs) -> None:
    from riskbench.ai.grounding import check_grounding
    from riskbench.runs.summary import draft_executive_summary, summary_facts

    summary = draft_executive_summary(outputs, llm=False)
    assert summary.method == "template"
    assert summary.text == outputs.narratives["executive"]
    assert summary.grounding.ok, summary.grounding.describe()
    assert len(summary.grounding.matched) >= 10
    altered = summary.text.replace(hz.money(outputs.p99, "EUR"), "EUR 99 million")
    assert not check_grounding(altered, summary_facts(outputs)).ok


@pytest.fixture
def model_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKBENCH_LLM", raising=False)


def test_a_models_summary_is_checked_retried_and_else_replaced(
    outputs: RunOutputs, model_home: None
) -> None:
    """With a model (a TEST DOUBLE of a hosted model: none can run here), a draft with
    an invented figure goes back once; two such drafts give the template text."""
    import crew_double

    from riskbench.runs.summary import draft_executive_summary

    p99 = hz.money(outputs.p99, "EUR")
    bad = f"Losses could reach {p99} in a severe year, or EUR 123 million in 2031."
    good = f"In a severe year, one in a hundred, losses could reach {p99}."
    model = crew_double.ScriptedLLM(model="scripted/cro", answers={"other": [bad, good]})
    summary = draft_executive_summary(outputs, llm=model)
    assert summary.method == "llm:scripted/cro"
    assert summary.text == good
    assert "EUR 123 million" in summary.notes[0]
    sent = model.received_text()
    assert p99 in sent  # the fact table went to the model
    stubborn = crew_double.ScriptedLLM(model="scripted/cro", answers={"other": [bad]})
    fallback = draft_executive_summary(outputs, llm=stubborn)
    assert fallback.method == "template"
    assert fallback.text == outputs.narratives["executive"]
    assert "offline template executive summary instead" in fallback.notes[-1]


def test_outputs_round_trip_through_json(outputs: RunOutputs, tmp_path: Path) -> None:
    path = outputs.save(tmp_path)
    data = json.loads(path.read_text())
    assert data["schema"] == SCHEMA
    back = RunOutputs.load(tmp_path)
    assert back.p99 == outputs.p99
    assert back.to_json() == outputs.to_json()  # every table, value for value
    assert back.table("summary")["p99"].dtype == float
    data["schema"] = "riskbench.run-outputs/9"
    path.write_text(json.dumps(data))
    with pytest.raises(rb.ValidationError, match=r"schema: must be 'riskbench\.run-outputs/1'"):
        RunOutputs.load(tmp_path)


# ------------------------------------------------------------------ papermill runs
@pytest.fixture(scope="module")
def ws(pg_home: Path) -> Iterator[rb.Workspace]:
    from riskbench.workspace import Workspace

    with Workspace(org="runs-a", user="ada", home=pg_home) as w:
        w.add_member("val", "viewer")
        yield w


@pytest.fixture(scope="module")
def first_run(ws: rb.Workspace, pg_home: Path) -> rb.NotebookRun:
    params = {**FULL, "card": "../examples/register.yaml"}
    for key in ("stress_file", "mitigations_file", "graph_file"):
        params[key] = "../" + str(params[key])
    return run_notebook(NOTEBOOK, params, workspace=ws, home=pg_home)


@pytest.mark.db
@pytest.mark.slow
def test_run_notebook_stores_notebook_outputs_and_provenance(
    first_run: rb.NotebookRun, ws: rb.Workspace, pg_home: Path
) -> None:
    run = first_run
    assert run.ok
    assert run.folder == pg_home / "runs" / "runs-a" / run.run_id
    assert {p.name for p in run.folder.iterdir()} >= {
        "executed.ipynb",
        "outputs.json",
        "manifest.json",
    }
    manifest = json.loads((run.folder / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert manifest["seed"] == SEED
    assert manifest["parameters"]["trials"] == TRIALS
    assert manifest["parameters"]["as_of"] == "2026-10-31"
    assert manifest["inputs"]["card"] == sha256_file(EXAMPLES / "register.yaml")
    assert manifest["inputs"]["notebook"] == sha256_file(NOTEBOOK)
    assert manifest["versions"]["riskbench"] == rb.__version__
    assert manifest["versions"]["papermill"]
    assert manifest["started_at"] < manifest["finished_at"]
    for name, digest in manifest["files"].items():
        assert sha256_file(run.folder / name) == digest
    # the executed notebook holds the injected parameters and the printed headline
    nb = nbformat.read(run.folder / "executed.ipynb", as_version=4)
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert "seed = 11" in injected[0].source
    printed = "".join(
        o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs
    )
    outputs = run.outputs()
    assert f"1-in-100-year annual loss: EUR {outputs.p99:,.0f}" in printed
    assert outputs.meta["run_id"] == run.run_id
    # recorded in the workspace, with the simulation run it stored
    stored = store.get(ws, run.run_id)
    assert stored.status == "succeeded"
    assert stored.manifest == manifest
    assert outputs.meta["sim_run_id"] in ws.runs().index
    audit = ws.audit_log()
    assert {"notebook_run.start", "notebook_run.finish"} <= set(audit["action"])


@pytest.mark.db
@pytest.mark.slow
def test_same_inputs_reproduce_the_same_numbers_exactly(
    first_run: rb.NotebookRun, ws: rb.Workspace, pg_home: Path
) -> None:
    again = run_notebook(NOTEBOOK, first_run.parameters, workspace=ws, home=pg_home)
    assert again.run_id != first_run.run_id
    assert again.input_hash == first_run.input_hash
    assert again.outputs_sha256 == first_run.outputs_sha256 == first_run.outputs().fingerprint()
    first, second = first_run.outputs().to_json(), again.outputs().to_json()
    assert (first["meta"].pop("run_id"), second["meta"].pop("run_id")) == (
        first_run.run_id,
        again.run_id,
    )
    assert first == second  # every number, table and word
    # another seed: other inputs, other numbers
    other = run_notebook(NOTEBOOK, {**first_run.parameters, "seed": 12}, workspace=ws, home=pg_home)
    assert other.input_hash != first_run.input_hash
    assert other.outputs().p99 != first_run.outputs().p99


@pytest.mark.db
def test_refused_parameters_run_nothing_and_are_recorded(ws: rb.Workspace, pg_home: Path) -> None:
    with pytest.raises(RunError) as info:
        run_notebook(NOTEBOOK, {"trials": "many", "seed": 3}, workspace=ws, home=pg_home)
    assert any(i.loc == "trials" for i in info.value.issues)
    runs = store.list_runs(ws)
    failed = store.get(ws, runs.index[-1])
    assert failed.status == "failed"
    assert failed.error == {
        "parameters": ["trials: must be a whole number from 1,000 to 100,000,000, got 'many'"]
    }
    assert not failed.folder.exists()  # nothing ran, nothing written


@pytest.mark.db
@pytest.mark.slow
def test_a_failing_cell_is_reported_with_its_index(
    ws: rb.Workspace, pg_home: Path, tmp_path: Path
) -> None:
    path = job_notebook(tmp_path, "x = 1", "y = x * 2", "raise ValueError(f'bad ledger: {y}')")
    with pytest.raises(RunError, match=r"cell 3: .*ValueError: bad ledger: 6") as info:
        run_notebook(path, {"x": 3}, workspace=ws, home=pg_home)
    assert info.value.cell_index == 3  # parameters, injected parameters, y = ..., raise
    failed = store.get(ws, store.list_runs(ws).index[-1])
    assert failed.status == "failed"
    assert failed.error == {"cell_index": 3, "ename": "ValueError", "evalue": "bad ledger: 6"}
    executed = nbformat.read(failed.folder / "executed.ipynb", as_version=4)
    errors = [
        c.source
        for c in executed.cells
        if c.cell_type == "code" and any(o.get("ename") == "ValueError" for o in c.outputs)
    ]
    assert errors == ["raise ValueError(f'bad ledger: {y}')"]  # kept, with its error
    assert json.loads((failed.folder / "manifest.json").read_text())["status"] == "failed"


@pytest.mark.db
def test_any_notebooks_parameters_are_checked_against_its_parameters_cell(
    tmp_path: Path,
) -> None:
    from riskbench.runs.notebook import check_parameters

    path = job_notebook(tmp_path, "trials = 1000\nrate = 0.5\nname = 'a'\nflag = False")
    assert check_parameters(path, {"trials": "2000", "rate": "1"}) == {
        "trials": 2000,
        "rate": 1.0,
        "name": "a",
        "flag": False,
    }
    with pytest.raises(RunError) as info:
        check_parameters(path, {"trials": "2.5", "name": 3, "flag": "yes", "other": 1})
    where = {i.loc: i.message for i in info.value.issues}
    assert where["trials"] == "must be a whole number like 1000, got '2.5'"
    assert where["name"] == "must be text like 'a', got 3"
    assert where["flag"] == "must be true/false like False, got 'yes'"
    assert where["other"].startswith("is not a parameter of job.ipynb")


@pytest.mark.db
def test_runs_need_an_analyst_and_stay_in_their_organisation(
    ws: rb.Workspace, pg_home: Path, first_run: rb.NotebookRun
) -> None:
    from riskbench.workspace import Workspace

    with Workspace(org="runs-a", user="val", home=pg_home) as viewer:
        with pytest.raises(PermissionDenied, match="may not run a notebook"):
            run_notebook(NOTEBOOK, {}, workspace=viewer, home=pg_home)
        assert first_run.run_id in store.list_runs(viewer).index  # viewers read
    with Workspace(org="runs-b", user="bea", home=pg_home) as other:
        assert first_run.run_id not in store.list_runs(other).index
        with pytest.raises(StoreError, match="has no notebook run"):
            store.get(other, first_run.run_id)


@pytest.mark.db
@pytest.mark.slow
def test_report_and_export_commands_on_a_recorded_run(
    first_run: rb.NotebookRun, ws: rb.Workspace, pg_home: Path
) -> None:
    """`riskbench report` and `riskbench export` on the recorded run: the pack's
    headline p99 is the p99 stored in the workspace for the run's simulation, and every
    file is recorded as an export of the run with its hash."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "RISKBENCH_HOME": str(pg_home)}
    env.pop("RISKBENCH_DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "riskbench", *args, "--org", "runs-a", "--user", "ada"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )

    report = cli("report", first_run.run_id)
    assert report.returncode == 0, report.stderr
    pdf = first_run.folder / "board-pack.pdf"
    assert report.stdout.strip() == f"board pack: {pdf}"
    text = subprocess.run(
        ["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True, check=True
    ).stdout
    stored = ws.run(first_run.outputs().meta["sim_run_id"]).summary.loc["portfolio", "p99"]
    assert f"EUR {stored:,.0f}" in text
    exported = cli("export", "latest", "--formats", "csv,xlsx")
    assert exported.returncode == 0, exported.stderr
    latest = store.latest(ws)
    assert latest is not None
    recorded = ws.exports(latest.run_id)
    files = [Path(p) for p in recorded["path"]]
    assert any(p.name == "run.xlsx" for p in files)
    for path, digest in zip(files, recorded["sha256"], strict=True):
        assert sha256_file(path) == digest
    assert "board-pack-pdf" in set(ws.exports(first_run.run_id)["kind"])
    refused = cli("export", first_run.run_id, "--formats", "csv,docx")
    assert refused.returncode == 2
    assert "formats" in refused.stderr

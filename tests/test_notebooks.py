"""The notebooks run end to end in a real kernel, and say what the library says."""

from __future__ import annotations

import json
import re
from pathlib import Path

import nbformat
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

    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert len(injected) == 1
    assert json.dumps(trials) in injected[0].source.replace("_", "")

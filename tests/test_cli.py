"""The ``riskbench`` command, in-process through ``main`` and as a real subprocess."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import matplotlib.image as mpimg
import pandas as pd
import pytest
import yaml

import riskbench as rb
from riskbench import cli
from riskbench.cli import main

ROOT = Path(__file__).resolve().parents[1]
CARD = ROOT / "examples" / "register.yaml"
TRIALS = 3_000
SEED = 7
OUTPUTS = {
    "summary.json",
    "summary.csv",
    "exceedance_curve.csv",
    "exceedance_curve.png",
    "tornado.csv",
    "tornado.png",
    "manifest.json",
}

BROKEN_CARD = """\
currency: EUR
scenarios:
  - id: fire
    title: Plant fire
    category: operational
    frequency: {dist: poisson, rate: 0.1}
    severity: {dist: uniform, low: 5000000, high: 1000000}
  - id: flood
    title: Flood
    category: weather
    frequency: {dist: bernoulli, p: 5}
    severity: {dist: constant, value: 1000}
"""

INDEPENDENT_CARD = """\
name: Two independent risks
currency: USD
scenarios:
  - id: fire
    title: Plant fire
    category: operational
    frequency: {dist: bernoulli, p: 0.05}
    severity: {dist: lognormal, low: 1000000, high: 20000000}
  - id: fraud
    title: Payment fraud
    category: cyber
    frequency: {dist: poisson, rate: 2}
    severity: {dist: pert, low: 10000, mode: 50000, high: 500000}
"""


def run_main(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def run_process(*argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "riskbench", *argv],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **env},
        check=False,
    )


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """One in-process run of the example register, shared by the tests that read it."""
    out = tmp_path_factory.mktemp("cli") / "run"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):
        code = main(
            ["run", str(CARD), "--trials", str(TRIALS), "--seed", str(SEED), "--out", str(out)]
        )
    assert code == 0
    return out, stdout.getvalue()


@pytest.fixture(scope="module")
def reference() -> rb.SimulationResult:
    res = rb.simulate(rb.load_portfolio(CARD), trials=TRIALS, seed=SEED)
    assert isinstance(res, rb.SimulationResult)
    return res


# ------------------------------------------------------------------------------ run
def test_run_writes_every_output(run_dir: tuple[Path, str]) -> None:
    out, _ = run_dir
    assert {p.name for p in out.iterdir()} == OUTPUTS
    # Nothing left beside it: the temporary folder was renamed into place.
    assert [p.name for p in out.parent.iterdir()] == ["run"]


def test_run_summary_matches_a_direct_simulation(
    run_dir: tuple[Path, str], reference: rb.SimulationResult
) -> None:
    out, _ = run_dir
    data = json.loads((out / "summary.json").read_text())
    assert data["currency"] == "EUR"
    assert data["trials"] == TRIALS
    assert data["seed"] == str(SEED)
    assert data["input_hash"] == reference.input_hash()
    rows = {r["scenario"]: r for r in data["summary"]}
    assert list(rows) == [*reference.ids, "portfolio"]
    assert rows["portfolio"]["p99"] == reference.var(0.99)
    assert rows["portfolio"]["tvar99"] == pytest.approx(reference.tvar(0.99), rel=1e-12)
    table = pd.read_csv(out / "summary.csv", index_col="scenario")
    pd.testing.assert_frame_equal(table, reference.summary(), check_exact=False, rtol=1e-12)


def test_run_exceedance_curve_csv(
    run_dir: tuple[Path, str], reference: rb.SimulationResult
) -> None:
    out, _ = run_dir
    curve = pd.read_csv(out / "exceedance_curve.csv")
    assert list(curve.columns) == ["loss", "probability"]
    pd.testing.assert_frame_equal(curve, reference.exceedance_curve(), rtol=1e-12)


def test_run_tornado_csv(run_dir: tuple[Path, str]) -> None:
    out, _ = run_dir
    table = pd.read_csv(out / "tornado.csv")
    assert {"scenario", "input", "p99_low", "p99_high", "p99_swing"} <= set(table.columns)
    assert len(table) == 2 * 16


def test_run_charts_are_not_blank(run_dir: tuple[Path, str]) -> None:
    out, _ = run_dir
    for name in ("exceedance_curve.png", "tornado.png"):
        pixels = mpimg.imread(out / name)
        assert pixels.shape[0] > 300, name
        assert float(pixels[..., :3].var()) > 1e-3, name


def test_run_manifest_lists_outputs_with_hashes(
    run_dir: tuple[Path, str], reference: rb.SimulationResult
) -> None:
    out, _ = run_dir
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["input_hash"] == reference.input_hash()
    assert manifest["trials"] == TRIALS
    assert set(manifest["outputs"]) == OUTPUTS - {"manifest.json"}
    for name, digest in manifest["outputs"].items():
        assert sha256(out / name) == digest, name


def test_run_prints_a_short_summary(
    run_dir: tuple[Path, str], reference: rb.SimulationResult
) -> None:
    out, stdout = run_dir
    assert f"{TRIALS:,} years, seed {SEED}" in stdout
    p99 = rb.plotting.format_money(reference.var(0.99), "EUR")
    assert f"portfolio p99     {p99}" in stdout
    assert "portfolio mean" in stdout
    assert "portfolio tvar99" in stdout
    assert str(out / "summary.json") in stdout


def test_run_as_a_subprocess(tmp_path: Path, reference: rb.SimulationResult) -> None:
    out = tmp_path / "sub"
    proc = run_process(
        "run", str(CARD), "--trials", str(TRIALS), "--seed", str(SEED), "--out", str(out),
        "--workers", "2", "--save-years",
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    data = json.loads((out / "summary.json").read_text())
    portfolio = next(r for r in data["summary"] if r["scenario"] == "portfolio")
    assert portfolio["p99"] == reference.var(0.99)
    saved = rb.SimulationResult.load(out / "result")
    assert saved.var(0.99) == reference.var(0.99)
    manifest = json.loads((out / "manifest.json").read_text())
    assert "result/years.parquet" in manifest["outputs"]


def test_run_replaces_an_earlier_run(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(INDEPENDENT_CARD)
    out = tmp_path / "out"
    args = ["run", str(card), "--trials", "500", "--out", str(out)]
    assert run_main(capsys, *args, "--seed", "1")[0] == 0
    first = json.loads((out / "summary.json").read_text())
    assert run_main(capsys, *args, "--seed", "2")[0] == 0
    second = json.loads((out / "summary.json").read_text())
    assert (first["seed"], second["seed"]) == ("1", "2")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.yaml", "out"]


def test_run_records_a_drawn_seed(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(INDEPENDENT_CARD)
    code, stdout, _ = run_main(
        capsys, "run", str(card), "--trials", "500", "--out", str(tmp_path / "o")
    )
    assert code == 0
    seed = json.loads((tmp_path / "o" / "summary.json").read_text())["seed"]
    assert f"seed {seed}" in stdout
    again = rb.simulate(rb.load_portfolio(card), trials=500, seed=int(seed))
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())["summary"]
    assert summary[-1]["p99"] == again.var(0.99)


def test_run_basis_and_fft_engine(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(INDEPENDENT_CARD)
    out = tmp_path / "exact"
    code, stdout, err = run_main(
        capsys, "run", str(card), "--engine", "fft", "--basis", "gross", "--out", str(out)
    )
    assert code == 0, err
    assert "exact (fft)" in stdout
    assert {p.name for p in out.iterdir()} == OUTPUTS - {"tornado.csv", "tornado.png"}
    data = json.loads((out / "summary.json").read_text())
    assert (data["engine"], data["basis"], data["trials"], data["seed"]) == (
        "fft",
        "gross",
        None,
        None,
    )
    exact = rb.simulate(rb.load_portfolio(card), engine="fft", basis="gross")
    assert data["summary"][-1]["p99"] == pytest.approx(exact.var(0.99))


# ------------------------------------------------------------------------ bad input
def test_broken_card_exits_2_listing_every_problem(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    card = tmp_path / "broken.yaml"
    card.write_text(BROKEN_CARD)
    out = tmp_path / "out"
    code, stdout, err = run_main(capsys, "run", str(card), "--trials", "100", "--out", str(out))
    assert code == 2
    assert "Traceback" not in err
    assert "scenarios[0] (fire).severity.high: must be greater than low (5000000)" in err
    assert "scenarios[1] (flood).category" in err
    assert "scenarios[1] (flood).frequency.p" in err
    assert not out.exists()
    assert stdout == ""


def test_broken_card_in_a_subprocess(tmp_path: Path) -> None:
    card = tmp_path / "broken.yaml"
    card.write_text(BROKEN_CARD)
    proc = run_process("run", str(card), "--out", str(tmp_path / "out"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr
    assert "broken.yaml: scenarios[0] (fire).severity.high: must be greater than low" in proc.stderr


def test_missing_card_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.yaml"
    for command in (
        ["validate", str(missing)],
        ["run", str(missing), "--out", str(tmp_path / "o")],
    ):
        code, _, err = run_main(capsys, *command)
        assert code == 2
        assert err.strip() == f"error: {missing}: no such file"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", str(CARD), "--out", "x", "--trials", "0"], "--trials: must be >= 1"),
        (["run", str(CARD), "--out", "x", "--trials", "many"], "must be a whole number"),
        (["run", str(CARD), "--out", "x", "--seed", "-1"], "--seed: must be >= 0"),
        (["run", str(CARD), "--out", "x", "--basis", "after-tax"], "invalid choice: 'after-tax'"),
        (["run", str(CARD)], "the following arguments are required: --out"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required: COMMAND"),
    ],
)
def test_bad_options_exit_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(capsys, *argv)
    assert code == 2
    assert message in err


def test_fft_of_a_correlated_card_is_bad_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(
        capsys, "run", str(CARD), "--engine", "fft", "--out", str(tmp_path / "o")
    )
    assert code == 2
    assert "'fft' is exact only for independent scenarios" in err


def test_save_years_needs_the_local_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run_main(
        capsys, "run", str(CARD), "--engine", "fft", "--save-years", "--out", str(tmp_path / "o")
    )
    assert code == 2
    assert "--save-years: needs --engine local" in err


def test_run_refuses_to_replace_a_foreign_folder(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    code, _, err = run_main(capsys, "run", str(CARD), "--trials", "100", "--out", str(tmp_path))
    assert code == 2
    assert "not written by `riskbench run`" in err
    assert (tmp_path / "precious.txt").read_text() == "keep me"


# ------------------------------------------------------------------ failures, atomic
def _fail(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("chart exploded")


def test_internal_error_leaves_nothing_half_written(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(INDEPENDENT_CARD)
    out = tmp_path / "out"
    args = ["run", str(card), "--trials", "500", "--seed", "1", "--out", str(out)]
    assert run_main(capsys, *args)[0] == 0
    before = {p.name: sha256(p) for p in out.iterdir()}

    monkeypatch.delenv("RISKBENCH_DEBUG", raising=False)
    monkeypatch.setattr("riskbench.plotting.tornado_chart", _fail)
    code, _, err = run_main(capsys, *args[:-4], "--seed", "2", "--out", str(out))
    assert code == 1
    assert "internal error: RuntimeError: chart exploded" in err
    assert "RISKBENCH_DEBUG=1" in err
    assert "Traceback" not in err
    # The earlier run is untouched and no temporary folder is left behind.
    assert {p.name: sha256(p) for p in out.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.yaml", "out"]

    fresh = tmp_path / "fresh"
    code, _, _ = run_main(capsys, *args[:-1], str(fresh))
    assert code == 1
    assert not fresh.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.yaml", "out"]


def test_debug_shows_the_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(INDEPENDENT_CARD)
    monkeypatch.setenv("RISKBENCH_DEBUG", "1")
    monkeypatch.setattr("riskbench.plotting.tornado_chart", _fail)
    code, _, err = run_main(
        capsys, "run", str(card), "--trials", "200", "--out", str(tmp_path / "o")
    )
    assert code == 1
    assert "Traceback" in err
    assert "internal error: RuntimeError: chart exploded" in err


def test_progress_bar_draws_on_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    with cli._progress_bar(1_000, enabled=True) as update:
        assert update is not None
        update(500, 1_000)
        update(1_000, 1_000)
    assert "1.00k/1.00k" in capsys.readouterr().err
    with cli._progress_bar(1_000, enabled=False) as update:
        assert update is None


# --------------------------------------------------------------- validate and schema
def test_validate_ok(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run_main(capsys, "validate", str(CARD))
    assert code == 0
    assert out.strip() == "OK: 16 scenarios, currency EUR"
    assert err == ""


def test_validate_reports_every_problem(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    card = tmp_path / "broken.yaml"
    card.write_text(BROKEN_CARD)
    code, out, err = run_main(capsys, "validate", str(card))
    assert code == 2
    assert out == ""
    assert err.startswith("error: 3 problems:")
    assert len([line for line in err.splitlines() if line.startswith("  broken.yaml: ")]) == 3


def test_validate_warns_about_an_invalid_correlation_matrix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = yaml.safe_load(INDEPENDENT_CARD)
    data["scenarios"].append({**data["scenarios"][0], "id": "fire-2"})
    data["correlation"] = [
        ["fire", "fraud", 0.9],
        ["fraud", "fire-2", 0.9],
        ["fire", "fire-2", -0.9],
    ]
    card = tmp_path / "card.yaml"
    card.write_text(yaml.safe_dump(data))
    code, out, err = run_main(capsys, "validate", str(card))
    assert code == 0
    assert out.startswith("OK: 3 scenarios")
    assert "not positive semi-definite" in err


def test_schema_validates_the_example_register(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "schema")
    assert code == 0
    assert out.startswith("{\n  ")  # indented
    schema = json.loads(out)
    assert schema == rb.card_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    card = yaml.safe_load(CARD.read_text())
    assert list(validator.iter_errors(card)) == []
    broken = yaml.safe_load(BROKEN_CARD)
    assert list(validator.iter_errors(broken))  # bad category and p > 1


# ---------------------------------------------------------------------- help, version
def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run_main(capsys, "--version")
    assert code == 0
    assert out.strip() == f"riskbench {rb.__version__}"


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ([], ["run", "validate", "schema", "--version"]),
        (
            ["run"],
            ["--trials", "--seed", "--out", "--basis", "--workers", "--engine", "--save-years",
             "example:", "riskbench run examples/register.yaml"],
        ),
        (["validate"], ["CARD", "example:"]),
        (["schema"], ["JSON Schema", "example:"]),
    ],
)  # fmt: skip
def test_help_explains_every_option(
    command: list[str], words: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run_main(capsys, *command, "--help")
    assert code == 0
    for word in words:
        assert word in out


def test_python_dash_m_help() -> None:
    proc = run_process("--help")
    assert proc.returncode == 0
    assert "usage: riskbench" in proc.stdout


def test_missing_matplotlib_names_the_extra(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    card = tmp_path / "card.yaml"
    card.write_text(INDEPENDENT_CARD)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    code, _, err = run_main(
        capsys, "run", str(card), "--trials", "200", "--out", str(tmp_path / "o")
    )
    assert code == 1
    assert "pip install 'riskbench[cli]'" in err
    assert "internal error" not in err
    assert not (tmp_path / "o").exists()

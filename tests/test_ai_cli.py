"""`riskbench narrate` and `riskbench suggest`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

import riskbench as rb
from helpers import ROOT
from riskbench.cli import main
from riskbench.sampledata import write_sample_data

CARD = str(ROOT / "examples" / "register.yaml")
COMPANY = str(ROOT / "examples" / "company.yaml")


@pytest.fixture(autouse=True)
def _offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISKBENCH_LLM", raising=False)


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_narrate_writes_markdown_with_the_simulated_figures(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    out = tmp_path / "n.md"
    code, printed, _ = run(
        capsys,
        "narrate",
        CARD,
        "--scenario",
        "gdpr-fine",
        "--scenario",
        "plant-fire",
        "--trials",
        "20000",
        "--seed",
        "3",
        "--style",
        "analyst",
        "--out",
        str(out),
    )
    assert code == 0
    assert "wrote 2 narratives" in printed
    text = out.read_text()
    assert text.startswith("# Northwind Components risk register\n")
    assert text.count("\n## ") == 2
    portfolio = rb.load_portfolio(CARD)
    result = rb.simulate(portfolio, trials=20_000, seed=3)
    expected = rb.narrate(portfolio["plant-fire"], result, style="analyst", llm=False)
    assert expected.sections["numbers"] in text


def test_narrate_to_stdout_without_simulation(capsys: pytest.CaptureFixture[str]) -> None:
    code, printed, _ = run(
        capsys, "narrate", CARD, "--scenario", "fx-adverse-move", "--trials", "0", "--offline"
    )
    assert code == 0
    assert "## " in printed
    assert "Before insurance, the expected loss is" in printed


def test_narrate_bad_input_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "narrate", CARD, "--scenario", "nope", "--trials", "0")
    assert code == 2
    assert "--scenario: unknown ids ['nope']" in err
    code, _, err = run(capsys, "narrate", CARD, "--trials", "-1")
    assert code == 2
    assert "--trials: must be >= 0, got -1" in err
    code, _, err = run(capsys, "narrate", CARD, "--incidents", "missing.csv", "--trials", "0")
    assert code == 2
    assert "--incidents: no such file: missing.csv" in err


def test_suggest_writes_a_card_that_runs(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    files = write_sample_data(tmp_path / "data", seed=5, years=5)
    out = tmp_path / "suggested.yaml"
    code, printed, _ = run(
        capsys,
        "suggest",
        "--context",
        COMPANY,
        "--incidents",
        str(files["incidents"]),
        "--n",
        "7",
        "--out",
        str(out),
    )
    assert code == 0
    assert "7 suggested scenarios for Northwind Components (offline):" in printed
    assert "duplicates ransomware-erp" in printed
    suggested = rb.load_portfolio(out)
    assert len(suggested.ids) == 7
    assert not set(suggested.ids) & set(rb.load_portfolio(CARD).ids)
    code, printed, _ = run(
        capsys, "run", str(out), "--trials", "2000", "--seed", "1", "--out", str(tmp_path / "run")
    )
    assert code == 0
    summary = pd.read_csv(tmp_path / "run" / "summary.csv", index_col=0)
    assert set(suggested.ids) <= set(summary.index)


def test_suggest_bad_input_exits_2(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run(capsys, "suggest", "--context", COMPANY, "--n", "0")
    assert code == 2
    assert "n: must be a whole number from 1 to 200, got 0" in err
    bad = tmp_path / "company.yaml"
    bad.write_text("profile: {name: X, industry: mining, regions: [EU]}\n")
    code, _, err = run(capsys, "suggest", "--context", str(bad))
    assert code == 2
    assert "profile.industry: must be one of" in err
    assert "'mining'" in err
    assert not (tmp_path / "suggested.yaml").exists()


def test_suggest_as_a_subprocess(tmp_path: Path) -> None:
    out = tmp_path / "s.yaml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "riskbench",
            "suggest",
            "--context",
            COMPANY,
            "--n",
            "3",
            "--out",
            str(out),
            "--offline",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert len(rb.load_portfolio(out).ids) == 3


@pytest.mark.db
@pytest.mark.slow
def test_suggest_from_a_workspace_and_its_log_store(pg_home: Path, tmp_path: Path) -> None:
    """The demo's path, in a fresh process (chdb opens one path per process): incidents
    in the log store, the register stored by a run, the profile from the company file."""
    env = {**os.environ, "RISKBENCH_HOME": str(pg_home)}
    env.pop("RISKBENCH_LLM", None)
    env.pop("RISKBENCH_DATABASE_URL", None)

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "riskbench", *args],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            check=False,
        )

    files = write_sample_data(tmp_path / "data", seed=11, years=5)
    assert cli("ingest", "incidents", str(files["incidents"]), "--org", "cli-ai").returncode == 0
    done = cli(
        "run",
        CARD,
        "--trials",
        "2000",
        "--seed",
        "1",
        "--out",
        str(tmp_path / "run"),
        "--workspace",
        "cli-ai",
    )
    assert done.returncode == 0, done.stderr
    done = cli("suggest", "--workspace", "cli-ai", "--n", "4")
    assert done.returncode == 2
    assert "has no profile" in done.stderr
    assert "--save-profile" in done.stderr
    out = tmp_path / "s.yaml"
    done = cli(
        "suggest",
        "--workspace",
        "cli-ai",
        "--context",
        COMPANY,
        "--save-profile",
        "--n",
        "6",
        "--out",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    assert "recurring-" in done.stdout  # from the logged incidents no scenario covers
    assert "duplicates ransomware-erp" in done.stdout  # the workspace's stored scenarios
    assert len(rb.load_portfolio(out).ids) == 6
    # the profile is now stored: the workspace alone is enough
    done = cli("suggest", "--workspace", "cli-ai", "--n", "2")
    assert done.returncode == 0, done.stderr
    assert "2 suggested scenarios for Northwind Components" in done.stdout

"""The store commands of the ``riskbench`` CLI, against the real embedded PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskbench.cli import main

pytestmark = pytest.mark.db


def test_run_stores_the_run_once_and_the_audit_chain_verifies(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RISKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKBENCH_DATABASE_URL", raising=False)
    args = ["run", "examples/register.yaml", "--trials", "5000", "--seed", "3"]
    assert main([*args, "--out", str(tmp_path / "a"), "--workspace", "acme", "--save-years"]) == 0
    first = capsys.readouterr().out
    assert main([*args, "--out", str(tmp_path / "b"), "--workspace", "acme"]) == 0
    second = capsys.readouterr().out
    run_id = first.strip().splitlines()[-1].split()[-1]
    assert len(run_id) == 64
    # The same card, trials and seed: the same run, stored once.
    assert second.strip().splitlines()[-1].endswith(run_id)
    assert (tmp_path / "home" / "artefacts" / run_id / "manifest.json").exists()

    from riskbench.workspace import Workspace

    with Workspace(org="acme") as ws:
        runs = ws.runs()
        assert list(runs.index) == [run_id]
        assert len(ws.scenarios()) == 16

    assert main(["audit", "verify", "--org", "acme"]) == 0
    assert "chain intact" in capsys.readouterr().out
    assert main(["audit", "verify", "--org", "nobody"]) == 2
    assert main(["db", "upgrade"]) == 0


def test_run_to_a_workspace_needs_the_monte_carlo_engine(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        [
            "run",
            "examples/register.yaml",
            "--engine",
            "fft",
            "--out",
            str(tmp_path / "x"),
            "--workspace",
            "acme",
        ]
    )
    assert code == 2
    assert "--workspace: needs --engine local" in capsys.readouterr().err

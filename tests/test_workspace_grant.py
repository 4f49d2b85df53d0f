"""`grant`: memberships decided by a deployment (JupyterHub's users file), as the
database administrator, audited; and `riskbench db grant`."""

from __future__ import annotations

from pathlib import Path

import pytest

import riskbench as rb
from riskbench.cli import main
from riskbench.workspace import Workspace
from riskbench.workspace.server import admin_url, grant

pytestmark = pytest.mark.db


def test_grant_creates_the_membership_and_audits_it(pg_home: Path) -> None:
    url = admin_url(pg_home)
    grant("grant-a", "ada", "analyst", url=url, actor="jupyterhub")
    with Workspace(org="grant-a", user="ada", home=pg_home) as ws:
        assert ws.role() == "analyst"  # not admin: she did not create the organisation
        with pytest.raises(rb.PermissionDenied):
            ws.add_member("eve", "viewer")  # an analyst may not add members
    grant("grant-a", "ada", "analyst", url=url, actor="jupyterhub")  # no change, no entry
    grant("grant-a", "ada", "admin", url=url, actor="jupyterhub")
    with Workspace(org="grant-a", user="ada", home=pg_home) as ws:
        assert ws.role() == "admin"
        log = ws.audit_log()
        assert ws.audit_verify().ok
    entries = log[log["actor"] == "jupyterhub"]
    assert list(entries["action"]) == ["org.create", "member.set", "member.set"]
    assert [d.get("role") for d in entries["detail"]][1:] == ["analyst", "admin"]
    assert entries["detail"].iloc[2]["was"] == "analyst"


def test_grant_names_bad_input(pg_home: Path) -> None:
    with pytest.raises(rb.ValidationError) as err:
        grant("grant a", "ada", "owner", url=admin_url(pg_home))
    text = str(err.value)
    assert "org: must be 1-128 letters" in text
    assert "'grant a'" in text
    assert "role: must be one of ['viewer', 'analyst', 'admin'], got 'owner'" in text


def test_db_grant_command(
    pg_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RISKBENCH_HOME", str(pg_home))
    monkeypatch.delenv("RISKBENCH_DATABASE_URL", raising=False)
    assert main(["db", "grant", "--org", "grant-b", "--user", "bea", "--role", "viewer"]) == 0
    assert "bea is viewer in grant-b" in capsys.readouterr().out
    with Workspace(org="grant-b", user="bea", home=pg_home) as ws:
        assert ws.role() == "viewer"
    assert main(["db", "grant", "--org", "grant-b", "--user", "bea", "--role", "boss"]) == 2

"""The workspace against a real PostgreSQL (the embedded pgserver), as the app role.

One embedded server serves the whole session; tests keep apart by organisation and
scenario id. Tenant isolation is checked through the API and through raw SQL on the
application role's own connections (a superuser would bypass row-level security).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

import riskbench as rb
from riskbench.errors import StoreError, ValidationError
from riskbench.workspace import LexicalEmbedder, PermissionDenied, Workspace
from riskbench.workspace.cli import register
from riskbench.workspace.server import admin_url, make_engine

pytestmark = pytest.mark.db


def scenario(sid: str, title: str, narrative: str = "", category: str = "cyber") -> rb.Scenario:
    return rb.Scenario(
        id=sid,
        title=title,
        category=category,
        frequency=rb.Poisson(rate=0.5),
        severity=rb.LogNormal.from_ci(10_000, 1_000_000),
        narrative=narrative,
    )


def execute_as(engine: object, org: str, sql: str) -> None:
    """Run ``sql`` in one transaction with ``app.org_id`` set to ``org``."""
    with engine.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(text("SELECT set_config('app.org_id', :o, true)"), {"o": org})
        conn.execute(text(sql))


@pytest.fixture(scope="session")
def home(pg_home: Path) -> Path:
    return pg_home


@pytest.fixture(scope="session")
def admin(pg_admin: object, home: Path) -> object:
    """The superuser engine, once org-a exists (alice, its first user, is its admin)."""
    Workspace(org="org-a", user="alice", home=home).close()
    return pg_admin


@pytest.fixture(scope="session")
def ws_a(home: Path, admin: object) -> Iterator[Workspace]:
    ws = Workspace(org="org-a", user="alice", home=home)
    ws.add_member("victor", "viewer")
    ws.add_member("anna", "analyst")
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def ws_b(home: Path, admin: object) -> Iterator[Workspace]:
    ws = Workspace(org="org-b", user="bob", home=home)
    ws.save_scenario(scenario("b-secret", "Ransomware encrypts the ERP servers"))
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def b_run(ws_b: Workspace) -> str:
    result = rb.simulate(rb.Portfolio([ws_b.scenario("b-secret")]), trials=500, seed=1)
    return ws_b.save_run(result)


def test_workspace_connects_as_an_ordinary_role(ws_a: Workspace, admin: object) -> None:
    with ws_a.engine.connect() as conn:
        user, superuser, bypass = conn.execute(
            text(
                "SELECT current_user, rolsuper, rolbypassrls FROM pg_roles "
                "WHERE rolname = current_user"
            )
        ).one()
    assert (user, superuser, bypass) == ("riskbench_app", False, False)
    with admin.connect() as conn:  # type: ignore[attr-defined]
        flags = conn.execute(
            text(
                "SELECT relname, relrowsecurity, relforcerowsecurity FROM pg_class "
                "WHERE relname IN ('scenarios', 'runs', 'audit_log', 'members')"
            )
        ).all()
    assert len(flags) == 4
    assert all(r[1] and r[2] for r in flags)


def test_api_never_shows_another_orgs_rows(ws_a: Workspace, ws_b: Workspace, b_run: str) -> None:
    assert "b-secret" not in [s.scenario_id for s in ws_a.scenarios()]
    with pytest.raises(StoreError, match="no scenario 'b-secret'"):
        ws_a.scenario("b-secret")
    with pytest.raises(StoreError, match="no scenario 'b-secret' version 1"):
        ws_a.scenario("b-secret", version=1)
    assert b_run not in ws_a.runs().index
    with pytest.raises(StoreError, match="no run"):
        ws_a.run(b_run)
    with pytest.raises(StoreError, match="no scenario"):
        ws_a.delete_scenario("b-secret")
    assert ws_b.scenario("b-secret").title == "Ransomware encrypts the ERP servers"


def test_raw_sql_as_app_role_cannot_touch_another_org(
    ws_a: Workspace, ws_b: Workspace, b_run: str, admin: object
) -> None:
    org_a = {"o": "org-a"}
    with ws_a.engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.org_id', :o, true)"), org_a)
        # read: even an explicit WHERE on org B finds nothing
        assert (
            conn.execute(text("SELECT count(*) FROM scenarios WHERE org_id = 'org-b'")).scalar()
            == 0
        )
        assert conn.execute(text("SELECT count(*) FROM runs WHERE org_id = 'org-b'")).scalar() == 0
        assert (
            conn.execute(text("SELECT count(*) FROM audit_log WHERE org_id = 'org-b'")).scalar()
            == 0
        )
        # update and delete: no row matches
        updated = conn.execute(
            text("UPDATE scenarios SET current_version = 99 WHERE org_id = 'org-b'")
        )
        assert updated.rowcount == 0
        deleted = conn.execute(text("DELETE FROM run_scenarios WHERE org_id = 'org-b'"))
        assert deleted.rowcount == 0
        conn.rollback()
    # insert: the policy's WITH CHECK refuses a row for org B
    planted = (
        "INSERT INTO scenarios (org_id, scenario_id, current_version) "
        "VALUES ('org-b', 'planted', 1)"
    )
    with pytest.raises(ProgrammingError, match="row-level security"):
        execute_as(ws_a.engine, "org-a", planted)
    # with no organisation set nothing at all is visible
    with ws_a.engine.begin() as conn:
        assert conn.execute(text("SELECT count(*) FROM scenarios")).scalar() == 0
    # org B's rows are untouched (checked as superuser)
    with admin.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(
            text("SELECT scenario_id, current_version FROM scenarios WHERE org_id = 'org-b'")
        ).all()
        runs = conn.execute(text("SELECT count(*) FROM run_scenarios WHERE org_id = 'org-b'"))
        assert runs.scalar() == 1
    assert ("b-secret", 1) in rows
    assert all(sid != "planted" for sid, _ in rows)


def test_org_setting_does_not_leak_between_transactions(ws_a: Workspace) -> None:
    ws_a.save_scenario(scenario("leak-check", "Leak check"))
    engine = make_engine(ws_a.url, pool_size=1, max_overflow=0)
    try:
        with engine.begin() as conn:
            pid = conn.execute(text("SELECT pg_backend_pid()")).scalar()
            conn.execute(text("SELECT set_config('app.org_id', 'org-a', true)"))
            assert conn.execute(text("SELECT count(*) FROM scenarios")).scalar() > 0
        with engine.begin() as conn:
            assert conn.execute(text("SELECT pg_backend_pid()")).scalar() == pid  # same one
            assert not conn.execute(text("SELECT current_setting('app.org_id', true)")).scalar()
            assert conn.execute(text("SELECT count(*) FROM scenarios")).scalar() == 0
    finally:
        engine.dispose()


def test_roles(home: Path, ws_a: Workspace) -> None:
    s = scenario("role-check", "Role check")
    with Workspace(org="org-a", user="victor", home=home) as viewer:
        assert viewer.role() == "viewer"
        with pytest.raises(PermissionDenied) as err:
            viewer.save_scenario(s)
        assert str(err.value) == (
            "user 'victor' has role 'viewer' in organisation 'org-a' and may not save "
            "scenario 'role-check': that needs role 'analyst' or higher "
            "(roles: viewer, analyst, admin)"
        )
        with pytest.raises(PermissionDenied, match="needs role 'admin'"):
            viewer.add_member("victor", "admin")
        viewer.scenarios()  # reading is allowed
    with Workspace(org="org-a", user="anna", home=home) as analyst:
        assert analyst.save_scenario(s) == 1
        with pytest.raises(
            PermissionDenied, match=r"'anna' has role 'analyst'.*needs role 'admin'"
        ):
            analyst.delete_scenario("role-check")
    with (
        Workspace(org="org-a", user="mallory", home=home) as stranger,
        pytest.raises(PermissionDenied, match=r"no role \(not a member\)"),
    ):
        stranger.scenarios()
    assert isinstance(
        PermissionDenied(user="u", role=None, org="o", action="a", needed="admin"), StoreError
    )
    ws_a.delete_scenario("role-check")
    assert "role-check" not in [i.scenario_id for i in ws_a.scenarios()]
    with pytest.raises(ValidationError, match="role: must be one of"):
        ws_a.add_member("zed", "owner")


def test_versions_and_old_runs_keep_their_versions(ws_a: Workspace, tmp_path: Path) -> None:
    original = scenario("ver-erp", "ERP outage", "The ERP is down for a week.")
    assert ws_a.save_scenario(original) == 1
    assert ws_a.save_scenario(original) == 1  # same card: no new version
    run1 = ws_a.save_run(rb.simulate(rb.Portfolio([original]), trials=1000, seed=3))
    edited = original.with_(narrative="The ERP is down for two weeks.")
    assert ws_a.save_scenario(edited) == 2
    assert ws_a.scenario("ver-erp") == edited
    assert ws_a.scenario("ver-erp", version=1) == original
    assert ws_a.run(run1).scenarios == {"ver-erp": 1}
    run2 = ws_a.save_run(rb.simulate(rb.Portfolio([edited]), trials=1000, seed=3))
    assert run2 != run1
    assert ws_a.run(run2).scenarios == {"ver-erp": 2}
    assert ws_a.portfolio(["ver-erp"], currency="EUR")["ver-erp"] == edited
    # a run of a changed card saves the new version itself
    third = edited.with_(title="ERP outage (long)")
    run3 = ws_a.save_run(rb.simulate(rb.Portfolio([third]), trials=1000, seed=3))
    assert ws_a.run(run3).scenarios == {"ver-erp": 3}
    assert ws_a.run(run1).scenarios == {"ver-erp": 1}


def test_run_save_is_idempotent(ws_a: Workspace, tmp_path: Path) -> None:
    portfolio = rb.Portfolio(
        [scenario("idem-a", "Idempotent A"), scenario("idem-b", "Idempotent B")],
        [("idem-a", "idem-b", 0.3)],
    )
    result = rb.simulate(portfolio, trials=2000, seed=11)
    run_id = ws_a.save_run(result, artefact_dir=tmp_path)
    assert ws_a.save_run(result, artefact_dir=tmp_path) == run_id
    assert list(ws_a.runs().index).count(run_id) == 1
    log = ws_a.audit_log()
    assert ((log["action"] == "run.save") & (log["object"] == run_id)).sum() == 1
    info = ws_a.run(run_id)
    assert info.artefact == str((tmp_path / run_id).resolve())
    assert (tmp_path / run_id / "manifest.json").exists()
    assert rb.SimulationResult.load(info.artefact).input_hash() == result.input_hash()
    assert info.seed == "11"
    assert info.parameters["trials"] == 2000
    expected = result.summary()
    assert list(info.summary.columns) == list(expected.columns)
    assert list(info.summary.index) == list(expected.index)
    np.testing.assert_allclose(info.summary.to_numpy(), expected.to_numpy())
    with pytest.raises(ValidationError, match="must be a SimulationResult"):
        ws_a.save_run("not a result")  # type: ignore[arg-type]


def test_audit_chain_detects_tampering(home: Path, admin: object) -> None:
    with Workspace(org="org-t", user="tina", home=home) as ws:
        ws.save_scenario(scenario("audit-a", "Audit A"))
        ws.save_scenario(scenario("audit-b", "Audit B"))
        report = ws.audit_verify()
        assert report.ok, str(report)
        assert report.entries >= 4
        # the app role cannot change or remove entries
        for sql in ("UPDATE audit_log SET actor = 'x'", "DELETE FROM audit_log"):
            with pytest.raises(ProgrammingError, match="permission denied"):
                execute_as(ws.engine, "org-t", sql)
        # a superuser can; verify names the entry
        with admin.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(
                text(
                    "UPDATE audit_log SET detail = '{\"version\": 7}' "
                    "WHERE org_id = 'org-t' AND seq = 3"
                )
            )
        report = ws.audit_verify()
        assert not report.ok
        assert report.first_bad_seq == 3
        assert "seq 3" in str(report)
    # the CLI says the same, with exit code 1; an intact org gives 0, an unknown one 2
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command"))
    url = admin_url(home)

    def run(*argv: str) -> int:
        args = parser.parse_args(list(argv))
        code: int = args.handler(args)
        return code

    assert run("audit", "verify", "--org", "org-t", "--url", url) == 1
    assert run("audit", "verify", "--org", "org-a", "--url", url) == 0
    assert run("audit", "verify", "--org", "nope", "--url", url) == 2
    assert run("db", "upgrade", "--url", url) == 0


def test_audit_verify_names_a_removed_entry(home: Path, admin: object) -> None:
    with Workspace(org="org-t2", user="tom", home=home) as ws:
        for i in range(3):
            ws.save_scenario(scenario(f"gap-{i}", f"Gap {i}"))
        assert ws.audit_verify().ok
        with admin.begin() as conn:  # type: ignore[attr-defined]
            conn.execute(text("DELETE FROM audit_log WHERE org_id = 'org-t2' AND seq = 2"))
        report = ws.audit_verify()
    assert report.first_bad_seq == 2
    assert "missing" in report.problem


def test_similar_ranks_the_paraphrase_first_within_the_org(home: Path, ws_b: Workspace) -> None:
    with Workspace(org="org-s", user="sam", home=home) as ws:
        ws.save_scenario(
            scenario(
                "ransomware",
                "Ransomware encrypts the ERP servers",
                "Attackers encrypt the ERP servers and production stops until restored.",
            )
        )
        ws.save_scenario(
            scenario(
                "flood",
                "River flood damages the warehouse",
                "The river floods the main warehouse and stock is lost.",
                category="climate",
            )
        )
        ws.save_scenario(
            scenario(
                "supplier",
                "Sole supplier goes bankrupt",
                "Our only supplier of castings becomes insolvent.",
                category="supply-chain",
            )
        )
        hits = ws.similar("production stops because ransomware encrypted our ERP servers", k=10)
        assert hits[0][0] == "ransomware"
        assert {sid for sid, _ in hits} == {"ransomware", "flood", "supplier"}  # never b-secret
        assert hits[0][1] < hits[1][1]
        # a scenario query leaves itself out
        assert "flood" not in [sid for sid, _ in ws.similar(ws.scenario("flood"))]
        ws.delete_scenario("supplier")
        assert "supplier" not in [sid for sid, _ in ws.similar("supplier insolvent")]


def test_two_processes_share_the_embedded_store(home: Path, ws_a: Workspace) -> None:
    child = textwrap.dedent(
        """
        import riskbench as rb
        from riskbench.workspace import Workspace
        s = rb.Scenario(id="from-child", title="Written by another process", category="other",
                        frequency=rb.Poisson(rate=1.0), severity=rb.Constant(10.0))
        with Workspace(org="org-a", user="alice") as ws:
            print(ws.save_scenario(s))
        """
    )
    env = {**os.environ, "RISKBENCH_HOME": str(home)}
    env.pop("RISKBENCH_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", child], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"
    assert ws_a.scenario("from-child").title == "Written by another process"
    ws_a.scenarios()  # the parent's server connection still works after the child exits


def test_production_url_connects_as_the_app_role(home: Path, ws_a: Workspace) -> None:
    ws_a.save_scenario(scenario("prod-url", "Seen through a URL"))
    with Workspace(admin_url(home), org="org-a", user="alice") as ws:
        assert "riskbench_app" in ws.url
        assert "prod-url" in [s.scenario_id for s in ws.scenarios()]


class _OtherEmbedder:
    name = "other-384"
    dim = 384

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.ones((len(texts), 384)) / np.sqrt(384)


def test_embedder_mismatch_is_refused(home: Path, ws_a: Workspace) -> None:
    with pytest.raises(StoreError, match=r"embedder 'lexical-blake2b-v1-384'.*'other-384'"):
        Workspace(org="org-a", user="alice", home=home, embedder=_OtherEmbedder())
    with pytest.raises(StoreError, match="64-dimensional"):
        Workspace(org="org-a", user="alice", home=home, embedder=LexicalEmbedder(dim=64))


def test_lexical_embedder() -> None:
    emb = LexicalEmbedder()
    v = emb.embed(["ERP ransomware attack", "ransomware attack on the ERP", "river flood", ""])
    assert v.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(v[:3], axis=1), 1.0)
    assert not v[3].any()
    assert v[0] @ v[1] > v[0] @ v[2]
    np.testing.assert_array_equal(
        v, emb.embed(["ERP ransomware attack", "ransomware attack on the ERP", "river flood", ""])
    )
    with pytest.raises(ValidationError, match="dim"):
        LexicalEmbedder(dim=1)

"""Assets, mitigations, exports and the bulk scenario load against a real PostgreSQL
(the embedded pgserver), as the application role.

Organisation ``obj-a`` (admin ada, analyst ann, viewer val) and ``obj-b`` (admin bea)
share one embedded server; tests keep apart by object id. Tenancy is checked through
the API and through raw SQL on the application role's own connections.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import ProgrammingError

import riskbench as rb
from riskbench.errors import PermissionDenied, StoreError, ValidationError
from riskbench.files import sha256_file
from riskbench.workspace import RunInfo, ScenarioInfo, Workspace

pytestmark = pytest.mark.db


def scenario(sid: str, title: str = "", narrative: str = "") -> rb.Scenario:
    return rb.Scenario(
        id=sid,
        title=title or sid.replace("-", " ").capitalize(),
        category="cyber",
        frequency=rb.Poisson(rate=0.5),
        severity=rb.LogNormal.from_ci(10_000, 1_000_000),
        narrative=narrative,
    )


@pytest.fixture(scope="module")
def home(pg_home: Path) -> Path:
    return pg_home


@pytest.fixture(scope="module")
def admin(pg_admin: object, home: Path) -> object:
    """The superuser engine (only to check from outside), once obj-a exists."""
    Workspace(org="obj-a", user="ada", home=home).close()
    return pg_admin


@pytest.fixture(scope="module")
def ws_a(home: Path, admin: object) -> Iterator[Workspace]:
    ws = Workspace(org="obj-a", user="ada", home=home)
    ws.add_member("ann", "analyst")
    ws.add_member("val", "viewer")
    ws.save_scenario(scenario("ransomware", "Ransomware encrypts the ERP"))
    ws.save_scenario(scenario("flood", "River flood"))
    yield ws
    ws.close()


@pytest.fixture(scope="module")
def analyst(home: Path, ws_a: Workspace) -> Iterator[Workspace]:
    with Workspace(org="obj-a", user="ann", home=home) as ws:
        yield ws


@pytest.fixture(scope="module")
def viewer(home: Path, ws_a: Workspace) -> Iterator[Workspace]:
    with Workspace(org="obj-a", user="val", home=home) as ws:
        yield ws


@pytest.fixture(scope="module")
def ws_b(home: Path, admin: object) -> Iterator[Workspace]:
    with Workspace(org="obj-b", user="bea", home=home) as ws:
        yield ws


@pytest.fixture(scope="module")
def run_a(ws_a: Workspace) -> str:
    result = rb.simulate(rb.Portfolio([ws_a.scenario("ransomware")]), trials=500, seed=1)
    return ws_a.save_run(result)


def test_split_keeps_the_public_names() -> None:
    import riskbench.errors
    import riskbench.workspace.core as core

    assert core.Workspace is Workspace
    assert core.PermissionDenied is riskbench.errors.PermissionDenied
    assert (core.RunInfo, core.ScenarioInfo) == (RunInfo, ScenarioInfo)


def test_assets_save_list_replace_delete(
    ws_a: Workspace, analyst: Workspace, viewer: Workspace
) -> None:
    analyst.save_asset("erp", "SAP ERP", "system", owner="finance", rto_days=3)
    analyst.save_asset("plant-1", "Main plant", "site", address={"city": "Lyon"})
    frame = viewer.assets()
    assert frame.index.name == "asset_id"
    assert list(frame.columns) == ["name", "kind", "attributes", "created_at", "created_by"]
    assert frame.loc["erp", "attributes"] == {"owner": "finance", "rto_days": 3}
    assert frame.loc["plant-1", "created_by"] == "ann"
    entries = len(ws_a.audit_log())
    analyst.save_asset("erp", "SAP ERP", "system", owner="finance", rto_days=3)
    assert len(ws_a.audit_log()) == entries  # identical: nothing stored, nothing logged
    analyst.save_asset("erp", "SAP S/4HANA", "system", owner="finance", rto_days=2)
    assert viewer.assets().loc["erp", "name"] == "SAP S/4HANA"
    last = ws_a.audit_log().iloc[-1]
    assert (last["action"], last["object"], last["actor"]) == ("asset.save", "erp", "ann")
    assert last["detail"]["replaced"] is True
    with pytest.raises(PermissionDenied, match=r"'val' has role 'viewer'.*save asset 'x'"):
        viewer.save_asset("x", "X", "system")
    with pytest.raises(
        PermissionDenied, match=r"'ann' has role 'analyst'.*delete asset 'erp'.*needs role 'admin'"
    ):
        analyst.delete_asset("erp")
    ws_a.delete_asset("plant-1")
    assert "plant-1" not in viewer.assets().index
    with pytest.raises(StoreError, match="organisation 'obj-a' has no asset 'plant-1'"):
        ws_a.delete_asset("plant-1")


def test_asset_validation_names_each_field(analyst: Workspace) -> None:
    with pytest.raises(ValidationError) as err:
        analyst.save_asset("bad id", "", "system", when=object(), ratio=float("nan"))
    lines = str(err.value).splitlines()
    assert lines[0] == "4 problems:"
    assert lines[1].startswith("  id: must be 1-128 letters, digits or '_.@-'")
    assert lines[1].endswith("got 'bad id'")
    assert lines[2] == "  name: must be non-empty text, got ''"
    assert lines[3].startswith("  attributes.when: must be JSON data")
    assert lines[4].startswith("  attributes.ratio: must be JSON data")
    assert lines[4].endswith("got nan")


def test_mitigation_validation_messages(analyst: Workspace) -> None:
    def problems(**kw: object) -> str:
        args: dict[str, object] = {
            "id": "m",
            "scenario_id": "ransomware",
            "name": "MFA",
            "cost_per_year": 1_000.0,
            "reduction": {"frequency": 0.5},
        }
        with pytest.raises(ValidationError) as err:
            analyst.save_mitigation(**{**args, **kw})  # type: ignore[arg-type]
        assert isinstance(err.value, ValueError)
        return str(err.value)

    assert problems(cost_per_year=-5) == "cost_per_year: must be a finite number >= 0, got -5"
    assert problems(cost_per_year=float("inf")).endswith("got inf")
    assert problems(reduction={"frequency": 30}) == (
        "reduction.frequency: must be a fraction in [0, 1] (0.3 for a 30 % cut), got 30"
    )
    assert problems(reduction={"severity": -0.1}).startswith("reduction.severity: ")
    assert problems(reduction={"frequency": True}).endswith("got True")
    assert problems(reduction={"freq": 0.3}) == (
        "reduction: unknown key 'freq'; allowed: frequency, severity"
    )
    assert problems(reduction={}).startswith("reduction: must be a non-empty dict")
    assert problems(status="done") == (
        "status: must be one of ['proposed', 'approved', 'implemented', 'rejected'], got 'done'"
    )
    both = problems(cost_per_year=-1, reduction={"frequency": 2, "severity": 0.2}, name=" ")
    assert both.splitlines() == [
        "3 problems:",
        "  name: must be non-empty text, got ' '",
        "  cost_per_year: must be a finite number >= 0, got -1",
        "  reduction.frequency: must be a fraction in [0, 1] (0.3 for a 30 % cut), got 2",
    ]


def test_mitigations_save_filter_delete(
    ws_a: Workspace, analyst: Workspace, viewer: Workspace
) -> None:
    analyst.save_mitigation("mfa", "ransomware", "MFA everywhere", 40_000, {"frequency": 0.5})
    analyst.save_mitigation(
        "backup",
        "ransomware",
        "Immutable backups",
        25_000.0,
        {"severity": 0.6, "frequency": 0},
        status="approved",
    )
    analyst.save_mitigation("levee", "flood", "Levee", 0, {"severity": 1.0}, status="rejected")
    frame = viewer.mitigations()
    assert frame.index.name == "mitigation_id"
    assert list(frame.index) == ["levee", "backup", "mfa"]  # by scenario, then id
    assert frame.loc["backup", "reduction"] == {"severity": 0.6, "frequency": 0.0}
    assert frame.loc["mfa", "cost_per_year"] == 40_000.0
    assert frame.loc["mfa", "status"] == "proposed"
    assert list(viewer.mitigations("ransomware").index) == ["backup", "mfa"]
    assert viewer.mitigations("nope").empty
    analyst.save_mitigation(
        "mfa", "ransomware", "MFA everywhere", 40_000, {"frequency": 0.5}, status="approved"
    )
    assert viewer.mitigations().loc["mfa", "status"] == "approved"
    with pytest.raises(StoreError, match="has no scenario 'ghost' for mitigation 'm'"):
        analyst.save_mitigation("m", "ghost", "M", 1.0, {"frequency": 0.1})
    with pytest.raises(PermissionDenied, match="needs role 'analyst'"):
        viewer.save_mitigation("m", "flood", "M", 1.0, {"frequency": 0.1})
    with pytest.raises(PermissionDenied, match="needs role 'admin'"):
        analyst.delete_mitigation("levee")
    ws_a.delete_mitigation("levee")
    assert "levee" not in viewer.mitigations().index
    with pytest.raises(StoreError, match="has no mitigation 'levee'"):
        ws_a.delete_mitigation("levee")


def test_exports_record_hash_and_dedupe(
    ws_a: Workspace, analyst: Workspace, viewer: Workspace, run_a: str, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    report.write_text("scenario,mean\nransomware,123\n")
    export_id = analyst.record_export(run_a, "csv", report)
    assert analyst.record_export(run_a, "csv", str(report)) == export_id  # stored once
    frame = viewer.exports()
    row = frame.loc[export_id]
    assert (row["run_id"], row["kind"], row["path"]) == (run_a, "csv", str(report.resolve()))
    assert row["sha256"] == sha256_file(report)
    assert row["size_bytes"] == report.stat().st_size
    assert row["created_by"] == "ann"
    report.write_text("scenario,mean\nransomware,124\n")
    changed = analyst.record_export(run_a, "csv", report)
    assert changed != export_id
    assert list(viewer.exports(run_a).index) == [export_id, changed]
    assert viewer.exports("no-such-run").empty
    log = ws_a.audit_log()
    assert (log["action"] == "export.record").sum() == 2
    with pytest.raises(ValidationError, match=r"path: must be an existing file, got '.*missing'"):
        analyst.record_export(run_a, "csv", tmp_path / "missing")
    with pytest.raises(
        StoreError, match="organisation 'obj-a' has no run or notebook run 'no-such-run'"
    ):
        analyst.record_export("no-such-run", "csv", report)
    with pytest.raises(PermissionDenied, match="needs role 'analyst'"):
        viewer.record_export(run_a, "csv", report)


def test_other_org_sees_nothing_through_the_api(
    ws_a: Workspace, ws_b: Workspace, analyst: Workspace, run_a: str, tmp_path: Path
) -> None:
    analyst.save_asset("secret-asset", "Secret", "system")
    analyst.save_mitigation("secret-mit", "ransomware", "Secret", 1.0, {"frequency": 0.1})
    file = tmp_path / "a.txt"
    file.write_text("a")
    analyst.record_export(run_a, "txt", file)
    assert ws_b.assets().empty
    assert ws_b.mitigations().empty
    assert ws_b.mitigations("ransomware").empty
    assert ws_b.exports().empty
    assert ws_b.exports(run_a).empty
    with pytest.raises(StoreError, match="'obj-b' has no asset 'secret-asset'"):
        ws_b.delete_asset("secret-asset")
    with pytest.raises(StoreError, match="'obj-b' has no mitigation 'secret-mit'"):
        ws_b.delete_mitigation("secret-mit")
    # org A's scenario and run do not exist for org B
    with pytest.raises(StoreError, match="'obj-b' has no scenario 'ransomware'"):
        ws_b.save_mitigation("m", "ransomware", "M", 1.0, {"frequency": 0.1})
    with pytest.raises(StoreError, match=f"'obj-b' has no run or notebook run '{run_a}'"):
        ws_b.record_export(run_a, "txt", file)
    # the same ids in org B are org B's own
    ws_b.save_asset("secret-asset", "B's own", "site")
    assert ws_a.assets().loc["secret-asset", "name"] == "Secret"
    assert ws_b.assets().loc["secret-asset", "name"] == "B's own"


def test_raw_sql_as_app_role_cannot_touch_another_orgs_register(
    ws_a: Workspace, ws_b: Workspace, analyst: Workspace, run_a: str, admin: object
) -> None:
    analyst.save_asset("raw-asset", "Raw", "system")
    with ws_b.engine.begin() as conn:
        conn.execute(text("SELECT set_config('app.org_id', 'obj-b', true)"))
        for table in ("assets", "mitigations", "exports"):
            seen = conn.execute(text(f"SELECT count(*) FROM {table} WHERE org_id = 'obj-a'"))
            assert seen.scalar() == 0, table
            changed = conn.execute(
                text(f"UPDATE {table} SET created_by = 'bea' WHERE org_id = 'obj-a'")
            )
            assert changed.rowcount == 0, table
            deleted = conn.execute(text(f"DELETE FROM {table} WHERE org_id = 'obj-a'"))
            assert deleted.rowcount == 0, table
        conn.rollback()
    planted = {
        "assets": "INSERT INTO assets (org_id, id, name, kind, created_by) "
        "VALUES ('obj-a', 'planted', 'P', 'system', 'bea')",
        "mitigations": "INSERT INTO mitigations (org_id, id, scenario_id, name, "
        "cost_per_year, reduction, status, created_by) VALUES ('obj-a', 'planted', "
        "'ransomware', 'P', 0, '{}', 'proposed', 'bea')",
        "exports": "INSERT INTO exports (org_id, id, run_id, kind, path, sha256, size_bytes, "
        "created_by) VALUES ('obj-a', 'planted', 'r', 'csv', '/x', 'h', 0, 'bea')",
    }
    for sql in planted.values():
        with ws_b.engine.begin() as conn:
            conn.execute(text("SELECT set_config('app.org_id', 'obj-b', true)"))
            with pytest.raises(ProgrammingError, match="row-level security"):
                conn.execute(text(sql))
    with admin.connect() as conn:  # type: ignore[attr-defined]
        for table in planted:
            found = conn.execute(text(f"SELECT count(*) FROM {table} WHERE id = 'planted'"))
            assert found.scalar() == 0, table
        owner = conn.execute(text("SELECT org_id FROM assets WHERE id = 'raw-asset'"))
        assert owner.scalar() == "obj-a"


def test_writes_are_audited_and_the_chain_verifies(home: Path, admin: object) -> None:
    with Workspace(org="obj-audit", user="aud", home=home) as ws:
        ws.save_scenario(scenario("s1"))
        run_id = ws.save_run(rb.simulate(rb.Portfolio([ws.scenario("s1")]), trials=200, seed=2))
        ws.save_asset("a1", "Asset", "system")
        ws.save_mitigation("m1", "s1", "Mitigation", 10.0, {"severity": 0.2})
        file = home / "audit-export.txt"
        file.write_text("x")
        ws.record_export(run_id, "txt", file)
        ws.delete_mitigation("m1")
        ws.delete_asset("a1")
        ws.bulk_load_scenarios([scenario(f"bulk-{i}") for i in range(5)])
        before = len(ws.audit_log())
        with pytest.raises(StoreError):  # a refused write leaves no entry
            ws.save_mitigation("m2", "ghost", "M", 1.0, {"frequency": 0.1})
        log = ws.audit_log()
        assert len(log) == before
        assert list(log["action"])[-7:] == [
            "run.save",
            "asset.save",
            "mitigation.save",
            "export.record",
            "mitigation.delete",
            "asset.delete",
            "scenario.bulk_load",
        ]
        assert log.iloc[-1]["detail"]["count"] == 5
        assert log.iloc[-3]["detail"] == {"name": "Mitigation", "scenario_id": "s1"}
        report = ws.audit_verify()
        assert report.ok, str(report)
        assert report.entries == len(log)


def test_bulk_load_scenarios(
    ws_a: Workspace, ws_b: Workspace, analyst: Workspace, viewer: Workspace, admin: object
) -> None:
    cards = [
        scenario(f"bulk-a-{i:03d}", f"Bulk scenario {i}", f"Narrative number {i}.")
        for i in range(40)
    ]
    cards[7] = scenario("bulk-a-007", "Warehouse fire", "A fire destroys the main warehouse.")
    entries = len(ws_a.audit_log())
    assert analyst.bulk_load_scenarios(cards) == 40
    log = ws_a.audit_log()
    assert len(log) == entries + 1
    assert (log.iloc[-1]["action"], log.iloc[-1]["object"]) == (
        "scenario.bulk_load",
        "40 scenarios",
    )
    stored = {i.scenario_id: i for i in viewer.scenarios()}
    assert {c.id for c in cards} <= set(stored)
    assert stored["bulk-a-007"].version == 1
    assert stored["bulk-a-007"].created_by == "ann"
    assert viewer.scenario("bulk-a-007") == cards[7]
    # the vectors went in intact: the search finds the fire first
    assert viewer.similar("fire destroys the warehouse", k=1)[0][0] == "bulk-a-007"
    # saving a changed card afterwards makes version 2 as usual
    assert analyst.save_scenario(cards[7].with_(title="Warehouse fire (big)")) == 2
    # all or nothing: one id already stored and nothing is added
    again = [scenario("bulk-a-new"), scenario("bulk-a-003")]
    with pytest.raises(StoreError, match=r"already stores scenario\(s\) \['bulk-a-003'\]"):
        analyst.bulk_load_scenarios(again)
    assert "bulk-a-new" not in {i.scenario_id for i in viewer.scenarios()}
    with pytest.raises(ValidationError, match=r"ids must be unique, repeated: \['d'\]"):
        analyst.bulk_load_scenarios([scenario("d"), scenario("d")])
    with pytest.raises(ValidationError, match=r"scenarios\[1\]: must be a riskbench.Scenario"):
        analyst.bulk_load_scenarios([scenario("e"), "f"])  # type: ignore[list-item]
    with pytest.raises(PermissionDenied, match=r"'val' has role 'viewer'.*bulk-load 1 scenarios"):
        viewer.bulk_load_scenarios([scenario("g")])
    assert analyst.bulk_load_scenarios([]) == 0
    # org B may load the same ids: they are its own, and it sees none of org A's
    assert ws_b.bulk_load_scenarios(cards[:3]) == 3
    assert [i.scenario_id for i in ws_b.scenarios()] == [c.id for c in cards[:3]]
    with admin.connect() as conn:  # type: ignore[attr-defined]
        orgs = conn.execute(
            text(
                "SELECT org_id, count(*) FROM scenario_versions WHERE scenario_id LIKE "
                "'bulk-a-%' GROUP BY org_id ORDER BY org_id"
            )
        ).all()
    assert [tuple(r) for r in orgs] == [("obj-a", 41), ("obj-b", 3)]
    assert ws_a.audit_verify().ok
    assert ws_b.audit_verify().ok

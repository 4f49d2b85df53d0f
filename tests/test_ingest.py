"""Ingest on real chdb: every kind from the sample data, mapping, bad input, quarantine,
idempotence, all-or-nothing batches, and a bounded-memory million-row CSV."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pandas as pd
import pytest

from riskbench.errors import ValidationError
from riskbench.ingestion import IngestReport, ingest, load_mapping
from riskbench.ingestion.cli import main as cli_main
from riskbench.logstore import LogStore
from riskbench.sampledata import write_sample_data

pytestmark = pytest.mark.logs

INCIDENT_HEADER = "incident_id,occurred_on,category,loss,currency,description\n"


@pytest.fixture(scope="module")
def sample(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return write_sample_data(tmp_path_factory.mktemp("sample"), seed=7, years=3)


def _csv(tmp_path: Path, text: str, name: str = "f.csv", encoding: str = "utf-8") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode(encoding))
    return path


def _check(report: IngestReport) -> IngestReport:
    assert report.loaded + report.quarantined + report.duplicates_skipped == report.rows_in
    return report


def test_sample_data_is_deterministic(tmp_path: Path, sample: dict[str, Path]) -> None:
    again = write_sample_data(tmp_path, seed=7, years=3)
    for name in ("incidents", "ledger", "revenue", "cyber"):
        assert again[name].read_bytes() == sample[name].read_bytes(), name
    inc = pd.read_csv(sample["incidents"])
    assert set(inc["scenario_id"].dropna()) <= set(
        pd.read_csv(sample["incidents"])["scenario_id"].dropna()
    )
    assert inc["occurred_on"].str[:4].astype(int).between(2023, 2025).all()
    cyber = pd.read_csv(sample["cyber"])
    counts = cyber["kind"].value_counts()
    assert counts["alert"] > 20 * counts["incident"] > 0


@pytest.mark.parametrize("kind", ["incidents", "revenue", "deliveries", "cyber"])
def test_ingest_each_kind_from_sample_data(
    log_store: LogStore, sample: dict[str, Path], kind: str
) -> None:
    org = f"sample-{kind}"
    report = _check(ingest(kind, sample[kind], org=org, store=log_store))
    assert report.quarantined == 0, report.reasons
    assert report.loaded == report.rows_in > 0
    table = {"revenue": "revenue_daily", "cyber": "cyber_events"}.get(kind, kind)
    assert log_store.count(table, org) == report.loaded


def test_sample_incidents_carry_register_scenarios(
    log_store: LogStore, sample: dict[str, Path], example_portfolio: object
) -> None:
    org = "sample-register"
    ingest("incidents", sample["incidents"], org=org, store=log_store)
    losses = log_store.loss_samples(org)
    ids = {s.id for s in example_portfolio.scenarios}  # type: ignore[attr-defined]
    assert set(losses["scenario_id"].dropna()) <= ids
    assert losses["scenario_id"].isna().any()  # minor incidents have no scenario
    counts = log_store.incident_counts(org)
    assert (counts["exposure_years"] == 3).all()


def test_mapping_reads_a_german_erp_export(log_store: LogStore, sample: dict[str, Path]) -> None:
    org = "sample-ledger"
    with pytest.raises(ValidationError, match="missing required columns for ledger: entry_id"):
        ingest("ledger", sample["ledger"], org=org, store=log_store)
    report = _check(
        ingest(
            "ledger", sample["ledger"], org=org, store=log_store, mapping=sample["ledger_mapping"]
        )
    )
    assert report.loaded == report.rows_in > 0
    raw = pd.read_csv(sample["ledger"], sep=";", dtype=str)
    loaded = log_store.query_df(
        "SELECT entry_id, posted_on, amount FROM ledger WHERE org_id = {org:String} "
        "ORDER BY entry_id",
        org=org,
    )
    first = raw.sort_values("Belegnummer").iloc[0]
    want = float(first["Betrag"].replace(".", "").replace(",", "."))
    assert loaded["amount"].iloc[0] == pytest.approx(want)
    assert pd.Timestamp(loaded["posted_on"].iloc[0]) == pd.to_datetime(
        first["Buchungsdatum"], format="%d.%m.%Y"
    )


def test_reingest_is_idempotent(log_store: LogStore, sample: dict[str, Path]) -> None:
    org = "idem"
    first = _check(ingest("revenue", sample["revenue"], org=org, store=log_store))
    second = _check(ingest("revenue", sample["revenue"], org=org, store=log_store))
    assert second.loaded == 0
    assert second.duplicates_skipped == first.rows_in
    assert log_store.count("revenue_daily", org) == first.loaded


def test_bad_rows_go_to_quarantine(log_store: LogStore, tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        INCIDENT_HEADER
        + "A1,2024-01-05,cyber,1000,EUR,ok\n"
        + "A2,31/02/2024,cyber,1000,EUR,bad date\n"
        + "A3,2024-01-06,cyber,-5,EUR,negative\n"
        + "A4,2024-01-07,aliens,10,EUR,unknown category\n"
        + ",2024-01-08,cyber,10,EUR,missing id\n"
        + "A6,2024-01-09,Climate,abc,EUR,not a number\n"
        + "A7,2024-01-10,climate,20,EUR,ok\n"
        + "A7,2024-01-10,climate,20,EUR,same row again\n",
    )
    report = _check(ingest("incidents", path, org="quar", store=log_store))
    assert (report.rows_in, report.loaded, report.quarantined) == (8, 2, 6)
    assert report.duplicates_skipped == 0  # A7 differs in description: a conflict
    assert report.reasons["occurred_on: not a date"] == 1
    assert report.reasons["loss: negative"] == 1
    assert report.reasons["incident_id: missing"] == 1
    assert report.reasons["loss: not a number"] == 1
    assert any(r.startswith("category: not one of") for r in report.reasons)
    assert report.reasons["key already loaded with different content"] == 1
    assert report.quarantine_file is not None
    assert Path(report.quarantine_file).parent == log_store.home / "quarantine"
    q = pd.read_parquet(report.quarantine_file)
    assert list(q["row_number"]) == [2, 3, 4, 5, 6, 8]
    assert list(q.columns[:2]) == ["row_number", "reason"]
    assert q.loc[q["row_number"] == 2, "occurred_on"].item() == "31/02/2024"
    assert log_store.count("incidents", "quar") == 2


def test_exact_repeat_within_a_file_is_a_duplicate(log_store: LogStore, tmp_path: Path) -> None:
    row = "B1,2024-01-05,cyber,1000,EUR,ok\n"
    path = _csv(tmp_path, INCIDENT_HEADER + row + row + row)
    report = _check(ingest("incidents", path, org="dups", store=log_store, batch_rows=1))
    assert (report.loaded, report.duplicates_skipped) == (1, 2)


def test_missing_columns_are_listed(log_store: LogStore, tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,when,amount\n1,2024-01-01,5\n")
    with pytest.raises(ValidationError) as caught:
        ingest("incidents", path, org="cols", store=log_store)
    message = str(caught.value)
    assert (
        "missing required columns for incidents: incident_id, occurred_on, category, loss"
        in message
    )
    assert "the file has: id, when, amount" in message
    assert str(path) in message
    assert log_store.count("incidents", "cols") == 0


def test_currency_can_come_from_the_caller(log_store: LogStore, tmp_path: Path) -> None:
    path = _csv(tmp_path, "incident_id,occurred_on,category,loss\nC1,2024-01-01,cyber,5\n")
    report = ingest("incidents", path, org="cur", store=log_store, currency="eur")
    assert report.loaded == 1
    assert log_store.loss_samples("cur")["currency"].item() == "EUR"


def test_wrong_encoding_names_file_offset_and_encoding(log_store: LogStore, tmp_path: Path) -> None:
    text = INCIDENT_HEADER + "E1,2024-01-05,cyber,1000,EUR,Überschwemmung im Lager\n"
    path = _csv(tmp_path, text, encoding="latin-1")
    with pytest.raises(ValidationError) as caught:
        ingest("incidents", path, org="enc", store=log_store)
    message = str(caught.value)
    offset = text.encode("latin-1").index("Ü".encode("latin-1"))
    assert str(path) in message
    assert f"byte offset {offset}" in message
    assert "utf-8" in message
    assert "encoding=" in message
    report = ingest("incidents", path, org="enc", store=log_store, encoding="latin-1")
    assert report.loaded == 1
    loaded = log_store.query_df(
        "SELECT description FROM incidents WHERE org_id = {org:String}", org="enc"
    )
    assert loaded["description"].item() == "Überschwemmung im Lager"


def test_malformed_csv_loads_nothing(log_store: LogStore, tmp_path: Path) -> None:
    path = _csv(
        tmp_path,
        INCIDENT_HEADER
        + "M1,2024-01-05,cyber,1000,EUR,ok\n"
        + "M2,2024-01-05,cyber,1000,EUR,too,many,fields\n",
    )
    with pytest.raises(ValidationError, match="malformed CSV"):
        ingest("incidents", path, org="malformed", store=log_store)
    assert log_store.count("incidents", "malformed") == 0


def test_empty_files_give_an_empty_report(log_store: LogStore, tmp_path: Path) -> None:
    for text in ("", INCIDENT_HEADER):
        path = _csv(tmp_path, text)
        report = _check(ingest("incidents", path, org="empty", store=log_store))
        assert report.rows_in == 0
        assert report.quarantine_file is None


def test_a_header_without_rows_is_still_checked(log_store: LogStore, tmp_path: Path) -> None:
    path = _csv(tmp_path, "id,when,what\n")
    with pytest.raises(ValidationError, match="missing required columns for incidents"):
        ingest("incidents", path, org="empty", store=log_store)


def test_workbook_with_several_sheets_needs_sheet(log_store: LogStore, tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "incident_id": ["X1", "X2"],
            "occurred_on": pd.to_datetime(["2024-03-01", "2024-03-02"]),
            "category": ["climate", "cyber"],
            "loss": [10.0, 20.0],
            "currency": ["EUR", "EUR"],
        }
    )
    path = tmp_path / "book.xlsx"
    with pd.ExcelWriter(path, engine="openpyxl") as writer:
        frame.to_excel(writer, sheet_name="Notes", index=False)
        frame.to_excel(writer, sheet_name="Incidents 2024", index=False)
    with pytest.raises(ValidationError, match=r"2 sheets \('Notes', 'Incidents 2024'\).*sheet="):
        ingest("incidents", path, org="xlsx", store=log_store)
    with pytest.raises(ValidationError, match="no sheet 'Nope'"):
        ingest("incidents", path, org="xlsx", store=log_store, sheet="Nope")
    report = ingest("incidents", path, org="xlsx", store=log_store, sheet="Incidents 2024")
    assert report.loaded == 2
    dates = log_store.loss_samples("xlsx")["occurred_on"]
    assert [str(d.date()) for d in dates] == ["2024-03-01", "2024-03-02"]


def test_parquet_in_batches(log_store: LogStore, sample: dict[str, Path], tmp_path: Path) -> None:
    frame = pd.read_excel(sample["deliveries"])
    path = tmp_path / "deliveries.parquet"
    frame.to_parquet(path, row_group_size=100)
    seen: list[int] = []
    report = _check(
        ingest("deliveries", path, org="pq", store=log_store, batch_rows=100, progress=seen.append)
    )
    assert report.loaded == len(frame)
    assert seen == sorted(seen)
    assert seen[-1] == len(frame)
    assert len(seen) > 1
    delays = log_store.supplier_delays("pq")
    assert len(delays) == frame["delivered_on"].notna().sum()


def test_naive_timestamps_are_localised_then_stored_in_utc(
    log_store: LogStore, tmp_path: Path
) -> None:
    path = _csv(
        tmp_path,
        "event_id,observed_at,kind,severity,system\n"
        "T1,2024-01-15 10:00:00,alert,low,erp\n"  # CET: UTC+1
        "T2,2024-07-15 10:00:00,incident,high,erp\n"  # CEST: UTC+2
        "T3,2024-07-15T10:00:00+00:00,alert,low,vpn\n"  # explicit offset wins
        "T4,2024-03-31 02:30:00,alert,low,vpn\n"  # does not exist in Berlin
        "T5,2024-07-15 10:00:00,ALERT,bogus,vpn\n",
    )
    report = _check(
        ingest("cyber", path, org="tz", store=log_store, mapping={"timezone": "Europe/Berlin"})
    )
    assert (report.loaded, report.quarantined) == (3, 2)
    assert "observed_at: time does not exist or is ambiguous in Europe/Berlin" in report.reasons
    assert "severity: not one of low, medium, high, critical" in report.reasons
    got = log_store.query_df(
        "SELECT event_id, toString(observed_at) AS t FROM cyber_events "
        "WHERE org_id = {org:String} ORDER BY event_id",
        org="tz",
    )
    assert list(got["t"]) == [
        "2024-01-15 09:00:00.000",
        "2024-07-15 08:00:00.000",
        "2024-07-15 10:00:00.000",
    ]


def test_failure_before_the_move_loads_nothing(
    log_store: LogStore, sample: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    def crash(self: LogStore, stage: object) -> None:
        raise RuntimeError("simulated crash before the move")

    monkeypatch.setattr(LogStore, "publish", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        ingest("cyber", sample["cyber"], org="crash", store=log_store, batch_rows=500)
    monkeypatch.undo()
    assert log_store.count("cyber_events", "crash") == 0
    tables = log_store.query_df("SELECT name FROM system.tables WHERE database = currentDatabase()")
    assert not [t for t in tables["name"] if str(t).startswith("_staging_")]
    # and the same file loads in full afterwards
    report = ingest("cyber", sample["cyber"], org="crash", store=log_store, batch_rows=500)
    assert report.loaded == report.rows_in


def test_mapping_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("columns: [a, b]\ncolour: red\n", encoding="utf-8")
    with pytest.raises(ValidationError) as caught:
        load_mapping(bad)
    assert "colour: unknown key" in str(caught.value)
    assert "columns: must map" in str(caught.value)


def test_bad_arguments(log_store: LogStore, tmp_path: Path) -> None:
    path = _csv(tmp_path, INCIDENT_HEADER)
    with pytest.raises(ValidationError, match="'invoices' is not one of incidents"):
        ingest("invoices", path, org="x", store=log_store)
    with pytest.raises(ValidationError, match="unknown time zone 'Mars/Olympus'"):
        ingest("incidents", path, org="x", store=log_store, timezone="Mars/Olympus")
    with pytest.raises(ValidationError, match="no such file"):
        ingest("incidents", tmp_path / "nope.csv", org="x", store=log_store)


def test_cli_ingest_and_sample_data(
    log_store: LogStore,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # The same home as the session's store: chdb shares one path within a process.
    monkeypatch.setenv("RISKBENCH_HOME", str(log_store.home))
    monkeypatch.delenv("RISKBENCH_CLICKHOUSE_URL", raising=False)
    assert cli_main(["sample-data", str(tmp_path / "data"), "--years", "1", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "ledger_mapping" in out
    ledger = tmp_path / "data" / "ledger_erp.csv"
    mapping = tmp_path / "data" / "ledger_mapping.yaml"
    assert (
        cli_main(["ingest", "ledger", str(ledger), "--org", "cli", "--mapping", str(mapping)]) == 0
    )
    assert "loaded" in capsys.readouterr().out
    assert log_store.count("ledger", "cli") > 0

    assert cli_main(["ingest", "ledger", str(ledger), "--org", "cli"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ")
    assert "missing required columns" in err
    assert "Traceback" not in err


@pytest.mark.slow
def test_million_row_csv_in_bounded_memory(tmp_path: Path) -> None:
    # Memory is bounded by batch_rows, not the file: the growth is measured after chdb is
    # open (chdb alone takes ~300 MB), in a fresh process so that nothing else counts.
    script = textwrap.dedent(
        f"""
        import json, time

        def peak_kb():  # VmHWM: ru_maxrss would start at the forking parent's size
            for line in open("/proc/self/status"):
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])

        import numpy as np
        from riskbench.ingestion import ingest
        from riskbench.logstore import LogStore

        path = {str(tmp_path / "big.csv")!r}
        rng = np.random.default_rng(0)
        with open(path, "w") as fh:
            fh.write("entry_id,posted_on,account,product,amount,currency\\n")
            for start in range(0, 1_000_000, 100_000):
                ids = np.arange(start, start + 100_000)
                days = np.datetime64("2020-01-01") + rng.integers(0, 2000, ids.size)
                amounts = rng.normal(0, 1e4, ids.size).round(2)
                fh.writelines(
                    f"E{{i}},{{d}},8400,p{{i % 4}},{{a}},EUR\\n"
                    for i, d, a in zip(ids, days.astype(str), amounts)
                )
        store = LogStore(home={str(tmp_path / "home")!r})
        store.count("ledger", "warm")  # open chdb before measuring
        before = peak_kb()
        seen = []
        start = time.monotonic()
        report = ingest(
            "ledger", path, org="big", store=store, batch_rows=25_000, progress=seen.append
        )
        seconds = time.monotonic() - start
        after = peak_kb()
        print(json.dumps({{
            "loaded": report.loaded, "rows_in": report.rows_in, "count": store.count("ledger", "big"),
            "growth_mb": (after - before) / 1024, "progress": seen, "rows_per_s": report.rows_in / seconds,
        }}))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=600, check=True
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    print(f"1M-row CSV: {result['rows_per_s']:,.0f} rows/s, +{result['growth_mb']:.0f} MB RSS")
    assert result["loaded"] == result["rows_in"] == result["count"] == 1_000_000
    assert result["growth_mb"] < 300
    assert len(result["progress"]) == 40
    assert result["progress"][-1] == 1_000_000

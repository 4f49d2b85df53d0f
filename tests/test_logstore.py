"""The log store on real chdb: aggregations against pandas, bound parameters, locking."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from riskbench.errors import StoreError, ValidationError
from riskbench.logstore import TABLES, LogStore

pytestmark = pytest.mark.logs

AGG = "org-agg"
CATS = ["cyber", "climate", "operational"]


def _incidents(org: str, n: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    years = rng.choice([2018, 2019, 2021, 2023], size=n)  # 2020 and 2022 have none
    days = rng.integers(0, 365, size=n)
    return pd.DataFrame(
        {
            "org_id": org,
            "incident_id": [f"I{i}" for i in range(n)],
            "occurred_on": pd.to_datetime([f"{y}-01-01" for y in years])
            + pd.to_timedelta(days, unit="D"),
            "category": rng.choice(CATS, size=n, p=[0.6, 0.1, 0.3]),
            "scenario_id": [None if i % 3 else f"s{i % 4}" for i in range(n)],
            "asset": None,
            "loss": rng.lognormal(10, 1, size=n),
            "currency": "EUR",
            "description": "",
            "source_hash": [f"h{i}" for i in range(n)],
        }
    )


@pytest.fixture(scope="module")
def loaded(log_store: LogStore) -> dict[str, pd.DataFrame]:
    rng = np.random.default_rng(1)
    inc = _incidents(AGG)
    days = pd.date_range("2024-01-01", periods=60, freq="D")
    rev = pd.DataFrame(
        {
            "org_id": AGG,
            "day": np.repeat(days, 3),
            "product": np.tile(["a", "b", "c"], len(days)),
            "revenue": rng.uniform(0, 1000, size=3 * len(days)),
            "currency": "EUR",
        }
    )
    rev["source_hash"] = [f"r{i}" for i in range(len(rev))]
    n = 80
    promised = pd.Timestamp("2024-01-10") + pd.to_timedelta(rng.integers(0, 200, n), unit="D")
    delivered = promised + pd.to_timedelta(rng.integers(-3, 20, n), unit="D")
    dlv = pd.DataFrame(
        {
            "org_id": AGG,
            "delivery_id": [f"D{i}" for i in range(n)],
            "supplier": rng.choice(["x", "y"], size=n),
            "ordered_on": promised - pd.Timedelta(days=30),
            "promised_on": promised,
            "delivered_on": delivered.where(np.arange(n) % 10 != 0),  # every 10th still open
            "quantity": 1.0,
            "status": "delivered",
            "source_hash": [f"d{i}" for i in range(n)],
        }
    )
    log_store.insert("incidents", inc)
    log_store.insert("revenue_daily", rev)
    log_store.insert("deliveries", dlv)
    return {"incidents": inc, "revenue": rev, "deliveries": dlv}


def test_incident_counts_match_pandas(log_store: LogStore, loaded: dict[str, pd.DataFrame]) -> None:
    inc = loaded["incidents"]
    got = log_store.incident_counts(AGG)
    years = inc["occurred_on"].dt.year
    grid = pd.MultiIndex.from_product(
        [sorted(inc["category"].unique()), range(years.min(), years.max() + 1)],
        names=["category", "year"],
    )
    want = inc.groupby(["category", years.rename("year")]).size().reindex(grid, fill_value=0)
    assert list(got.columns) == ["category", "year", "count", "exposure_years"]
    assert got.set_index(["category", "year"])["count"].to_dict() == want.to_dict()
    assert (got["exposure_years"] == 6).all()  # 2018..2023 inclusive, gaps included
    assert got["count"].sum() == len(inc)

    by_scenario = log_store.incident_counts(AGG, by="scenario_id")
    assert by_scenario["count"].sum() == inc["scenario_id"].notna().sum()


def test_incident_counts_rejects_unknown_grouping(log_store: LogStore) -> None:
    with pytest.raises(ValidationError, match="'loss' is not one of 'category'"):
        log_store.incident_counts(AGG, by="loss")


def test_loss_samples_and_summary_match_pandas(
    log_store: LogStore, loaded: dict[str, pd.DataFrame]
) -> None:
    inc = loaded["incidents"]
    cyber = log_store.loss_samples(AGG, category="cyber")
    want = inc[inc["category"] == "cyber"]
    assert len(cyber) == len(want)
    np.testing.assert_allclose(np.sort(cyber["loss"]), np.sort(want["loss"]))
    assert cyber["occurred_on"].is_monotonic_increasing
    assert len(log_store.loss_samples(AGG)) == len(inc)

    summary = log_store.incident_summary(AGG).set_index("category")
    g = inc.groupby("category")["loss"]
    assert summary["count"].to_dict() == g.size().to_dict()
    np.testing.assert_allclose(summary["total_loss"], g.sum().loc[summary.index])
    np.testing.assert_allclose(summary["mean_loss"], g.mean().loc[summary.index])
    np.testing.assert_allclose(summary["max_loss"], g.max().loc[summary.index])


def test_revenue_per_day_matches_pandas(
    log_store: LogStore, loaded: dict[str, pd.DataFrame]
) -> None:
    rev = loaded["revenue"]
    total = log_store.revenue_per_day(AGG)
    want = rev.groupby("day")["revenue"].sum()
    np.testing.assert_allclose(total["revenue"], want.to_numpy())
    assert (pd.to_datetime(total["day"]).to_numpy() == want.index.to_numpy()).all()
    only_b = log_store.revenue_per_day(AGG, product="b")
    np.testing.assert_allclose(only_b["revenue"], rev[rev["product"] == "b"]["revenue"])


def test_supplier_delays_match_pandas(log_store: LogStore, loaded: dict[str, pd.DataFrame]) -> None:
    dlv = loaded["deliveries"]
    got = log_store.supplier_delays(AGG, supplier="x")
    want = dlv[(dlv["supplier"] == "x") & dlv["delivered_on"].notna()]
    want_days = (want["delivered_on"] - want["promised_on"]).dt.days
    assert sorted(got["days_late"]) == sorted(want_days)
    assert len(log_store.supplier_delays(AGG)) == dlv["delivered_on"].notna().sum()


def test_bound_parameters_keep_orgs_apart(log_store: LogStore) -> None:
    evil = "o'brien'; DROP TABLE incidents; --"
    log_store.insert("incidents", _incidents(evil, n=5, seed=7))
    log_store.insert("incidents", _incidents("o'brien", n=3, seed=8))
    assert log_store.count("incidents", evil) == 5
    assert len(log_store.loss_samples(evil)) == 5
    assert log_store.incident_summary("o'brien")["count"].sum() == 3
    assert log_store.incident_counts(evil, by="category")["count"].sum() == 5
    assert len(log_store.loss_samples(evil, category="x' OR '1'='1")) == 0
    assert log_store.count("incidents", "nobody") == 0


def test_empty_org_gives_empty_frames_with_columns(log_store: LogStore) -> None:
    assert log_store.incident_counts("empty-org").empty
    assert "loss" in log_store.loss_samples("empty-org").columns
    assert "days_late" in log_store.supplier_delays("empty-org").columns


def test_failed_move_leaves_nothing(log_store: LogStore, monkeypatch: pytest.MonkeyPatch) -> None:
    def crash(self: LogStore, stage: object) -> None:
        raise RuntimeError("simulated crash before the move")

    monkeypatch.setattr(LogStore, "publish", crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        log_store.insert("incidents", _incidents("org-crash", n=10))
    monkeypatch.undo()
    assert log_store.count("incidents", "org-crash") == 0
    tables = log_store.query_df("SELECT name FROM system.tables WHERE database = currentDatabase()")
    assert not [t for t in tables["name"] if str(t).startswith("_staging_")]


def test_close_and_reopen(log_store: LogStore) -> None:
    log_store.insert("incidents", _incidents("org-reopen", n=4))
    log_store.close()
    assert "closed" in repr(log_store)
    assert log_store.count("incidents", "org-reopen") == 4  # reopens lazily


def test_tables_lead_their_order_key_with_org_id() -> None:
    for table in TABLES.values():
        assert table.order_by[0] == "org_id"
        assert table.columns[0] == ("org_id", "LowCardinality(String)")


def test_another_path_in_this_process_is_refused(log_store: LogStore, tmp_path: object) -> None:
    log_store.count("incidents", "x")  # make sure the session's path is open
    other = LogStore(home=str(tmp_path))
    with pytest.raises(StoreError, match="one path per process"):
        other.count("incidents", "x")
    assert log_store.count("incidents", "x") == 0  # the open store still works


def test_path_held_by_another_process(log_store: LogStore) -> None:
    log_store.count("incidents", "x")  # this process holds the path
    script = textwrap.dedent(
        f"""
        import time
        from riskbench.errors import StoreError
        from riskbench.logstore import LogStore
        start = time.monotonic()
        try:
            LogStore(home={str(log_store.home)!r}, lock_retry_s=0.5).count("incidents", "x")
        except StoreError as error:
            print("ELAPSED", time.monotonic() - start)
            print("ERROR", error)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=True
    )
    assert "ERROR" in done.stdout, done.stdout + done.stderr
    message = done.stdout.split("ERROR ", 1)[1]
    assert str(log_store.path) in message
    assert "in use by process" in message
    assert "RISKBENCH_CLICKHOUSE_URL" in message
    elapsed = float(done.stdout.split("ELAPSED ")[1].split()[0])
    assert 0.4 < elapsed < 10  # retried for a bounded time


def test_server_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKBENCH_CLICKHOUSE_URL", "http://u:secret@localhost:1/db")
    store = LogStore()
    assert not store.is_embedded
    assert store.path is None
    assert "secret" not in repr(store)


def test_staging_left_by_a_killed_process_is_dropped_on_open(log_store: LogStore) -> None:
    log_store.client.command("CREATE TABLE _staging_incidents_dead AS incidents")
    log_store.close()
    tables = log_store.query_df("SELECT name FROM system.tables WHERE database = currentDatabase()")
    assert "_staging_incidents_dead" not in set(tables["name"])

"""MitigationTable (widgets/mitigation_table.py): headless, against riskbench directly."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pandas as pd
import pytest
from bokeh.resources import INLINE

import riskbench as rb
from helpers import external_resources
from riskbench.errors import ValidationError
from riskbench.widgets.mitigation_table import OPTION_COLUMNS, MitigationTable

ROOT = Path(__file__).resolve().parents[1]
TRIALS, SEED = 20_000, 0
PLAN = ["immutable-backups", "edr-mdr"]


@pytest.fixture(scope="module")
def portfolio() -> rb.Portfolio:
    return rb.load_portfolio(ROOT / "examples" / "register.yaml")


@pytest.fixture(scope="module")
def mitigations() -> list[rb.Mitigation]:
    return list(rb.load_mitigations(ROOT / "examples" / "mitigations.yaml"))


@pytest.fixture(scope="module")
def table(portfolio: rb.Portfolio, mitigations: list[rb.Mitigation]) -> MitigationTable:
    return MitigationTable(portfolio, mitigations, trials=TRIALS, seed=SEED)


def test_report_matches_evaluate(portfolio: rb.Portfolio, mitigations: list[rb.Mitigation]) -> None:
    fresh = MitigationTable(portfolio, mitigations, trials=TRIALS, seed=SEED)
    direct = rb.evaluate_mitigations(portfolio, mitigations, trials=TRIALS, seed=SEED)
    pd.testing.assert_frame_equal(fresh.report.table, direct.table)
    assert fresh.plan == tuple(m.id for m in mitigations)
    shown = fresh.options_pane.object
    assert list(shown.index) == [m.id for m in mitigations]
    assert list(shown["name"]) == [m.name for m in mitigations]
    # Every number shown is the report's (columns renamed for display).
    values = shown.drop(columns="name").to_numpy()
    expected = direct.table.loc[[m.id for m in mitigations], list(OPTION_COLUMNS)].to_numpy()
    assert (pd.isna(values) == pd.isna(expected)).all()
    assert ((values == expected) | pd.isna(expected)).all()


def test_tick_residual_matches_plan_row(
    table: MitigationTable, portfolio: rb.Portfolio, mitigations: list[rb.Mitigation]
) -> None:
    summary = table.tick(PLAN)
    direct = rb.evaluate_mitigations(portfolio, mitigations, trials=TRIALS, seed=SEED, plan=PLAN)
    plan, base = direct.table.loc["plan"], direct.table.loc["baseline"]
    assert table.plan == tuple(PLAN)
    assert summary["plan"] == tuple(PLAN)
    assert summary["annual_cost"] == plan["annual_cost"]
    assert summary["one_off_cost"] == plan["one_off_cost"]
    assert summary["residual_mean"] == plan["eal"]
    assert summary["residual_p99"] == plan["p99"]
    assert summary["inherent_mean"] == base["eal"]
    assert summary["inherent_p99"] == base["p99"]
    assert summary["rosi"] == plan["rosi"]
    assert summary["npv"] == plan["npv"]
    pd.testing.assert_frame_equal(table.report.table, direct.table)
    shown = table.summary_pane.object
    assert shown.loc["mean annual loss", "residual"] == plan["eal"]
    assert shown.loc["1-in-100-year loss (p99)", "inherent"] == base["p99"]
    assert table.checkboxes.value == PLAN
    assert not table.summary_pane.loading


def test_frontier_matches_optimize(
    table: MitigationTable, portfolio: rb.Portfolio, mitigations: list[rb.Mitigation]
) -> None:
    budget = sum(m.annual_cost for m in mitigations)
    direct = rb.optimize_mitigations(
        portfolio, mitigations, budget_per_year=budget, trials=TRIALS, seed=SEED
    )
    pts = table.frontier_points()
    assert list(pts["annual_cost"]) == list(direct.frontier["annual_cost"])
    assert list(pts["objective"]) == list(direct.frontier["objective"])
    # The drawn frontier and the current plan's marker.
    table.tick(PLAN)
    overlay = table.frontier_pane.object
    curve = overlay.get(0)
    assert list(curve.dimension_values("objective")) == list(direct.frontier["objective"])
    marker = overlay.get(2)
    s = table.summary()
    assert marker.dimension_values("annual_cost")[0] == s["annual_cost"]
    assert marker.dimension_values("objective")[0] == s["residual_mean"]


def test_ticking_in_the_ui(table: MitigationTable, portfolio: rb.Portfolio) -> None:
    # No event loop here: the tick recomputes at once.
    table.checkboxes.value = ["payment-controls"]
    assert table.plan == ("payment-controls",)
    # Auto-update off: ticking waits for the button.
    table.auto.value = False
    try:
        table.checkboxes.value = ["fx-hedging"]
        assert table.plan == ("payment-controls",)
        assert "Update" in table.status.object
        table.update_button.clicks += 1
        assert table.plan == ("fx-hedging",)
    finally:
        table.auto.value = True


def test_ticks_settle_before_recomputing(table: MitigationTable) -> None:
    table.tick([])
    table.debounce_ms = 200

    async def tick_twice() -> tuple[tuple[str, ...], tuple[str, ...]]:
        table.checkboxes.value = ["sprinklers"]
        await asyncio.sleep(0.05)
        table.checkboxes.value = ["sprinklers", "flood-barriers"]
        during = table.plan
        for _ in range(100):
            await asyncio.sleep(0.05)
            if table.plan != during:
                break
        return during, table.plan

    during, after = asyncio.run(tick_twice())
    assert during == ()
    assert after == ("sprinklers", "flood-barriers")


def test_unknown_id(table: MitigationTable) -> None:
    with pytest.raises(ValidationError, match="unknown mitigation ids"):
        table.tick(["no-such-option"])


def test_saved_html_has_no_cdn(table: MitigationTable, tmp_path: Path) -> None:
    out = tmp_path / "mitigations.html"
    table.__panel__().save(out, resources=INLINE)
    text = out.read_text()
    assert "immutable-backups" in text
    assert external_resources(text) == []

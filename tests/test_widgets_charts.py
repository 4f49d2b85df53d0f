"""SimChart: the numbers drawn are riskbench's, for the selection, residual and tolerance."""

from __future__ import annotations

import re
from pathlib import Path

import holoviews as hv
import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.resources import INLINE

import riskbench as rb
from helpers import ROOT
from riskbench.errors import ValidationError
from riskbench.mitigation import apply_mitigations
from riskbench.mitigation_io import load_mitigations
from riskbench.widgets.charts import HEADLINE_COLUMNS, SimChart

TRIALS = 20_000
SEED = 11
TOLERANCE = [(5e5, 0.9), (5e6, 0.6), (3e7, 0.05), (1e8, 0.002)]


@pytest.fixture(scope="module")
def portfolio() -> rb.Portfolio:
    return rb.load_portfolio(ROOT / "examples" / "register.yaml")


@pytest.fixture(scope="module")
def result(portfolio: rb.Portfolio) -> rb.SimulationResult:
    return rb.simulate(portfolio, trials=TRIALS, seed=SEED)


@pytest.fixture(scope="module")
def residual(portfolio: rb.Portfolio) -> rb.SimulationResult:
    mitigations = load_mitigations(ROOT / "examples" / "mitigations.yaml", portfolio=portfolio)
    mitigated = tuple(
        apply_mitigations(s, [m for m in mitigations if s.id in m.scenarios])
        for s in portfolio.scenarios
    )
    return rb.simulate(
        portfolio.model_copy(update={"scenarios": mitigated}), trials=TRIALS, seed=SEED
    )


def elements(overlay: object, group: str, kind: type = hv.Element) -> list[hv.Element]:
    found = overlay.traverse(lambda e: e, [kind])  # type: ignore[attr-defined]
    return [e for e in found if e.group == group]


def expected_breaches(curve: pd.DataFrame, tolerance: list[tuple[float, float]]) -> pd.DataFrame:
    """Independently: the tolerance as straight lines on log-log axes, over its span."""
    tl = np.log([p[0] for p in tolerance])
    tp = np.log([p[1] for p in tolerance])
    x = curve["loss"].to_numpy()
    inside = (x >= np.exp(tl[0])) & (x <= np.exp(tl[-1]))
    with np.errstate(divide="ignore"):
        tolerated = np.exp(np.interp(np.log(np.where(inside, x, 1.0)), tl, tp))
    return curve[inside & (curve["probability"].to_numpy() > tolerated)]


# -------------------------------------------------------------------- the curve
def test_curve_data_is_the_results_exceedance_curve_for_portfolio_and_scenario(result):
    chart = SimChart(result)
    pd.testing.assert_frame_equal(chart.curve_data(), result.exceedance_curve())
    chart.select("plant-fire")
    assert chart.scenario == "plant-fire"
    pd.testing.assert_frame_equal(chart.curve_data(), result.exceedance_curve("plant-fire"))
    chart.select(None)
    pd.testing.assert_frame_equal(chart.curve_data(), result.exceedance_curve())


def test_the_drawn_curve_is_curve_data_on_the_log_axis(result):
    chart = SimChart(result)
    chart.select("ransomware-erp")
    (curve,) = elements(chart._exceedance.object, "Exceedance", hv.Curve)
    data = chart.curve_data()
    shown = data[(data["loss"] > 0) & (data["probability"] > 0)]
    np.testing.assert_array_equal(curve.dimension_values("loss"), shown["loss"].to_numpy())
    np.testing.assert_array_equal(
        curve.dimension_values("probability"), shown["probability"].to_numpy()
    )
    plot = hv.renderer("bokeh").get_plot(chart._exceedance.object)
    assert type(plot.state.x_scale).__name__ == "LogScale"
    hovers = [t for t in plot.state.tools if type(t).__name__ == "HoverTool"]
    tips = str([h.tooltips for h in hovers])
    assert "@{loss_text}" in tips
    assert "@{probability_text}" in tips


def test_the_scenario_selector_widget_drives_select(result):
    chart = SimChart(result)
    chart._scenario_select.value = "gdpr-fine"
    assert chart.scenario == "gdpr-fine"
    pd.testing.assert_frame_equal(chart.curve_data(), result.exceedance_curve("gdpr-fine"))
    chart._scenario_select.value = ""
    assert chart.scenario is None


def test_unknown_scenario_is_a_validation_error_naming_it(result):
    chart = SimChart(result)
    with pytest.raises(ValidationError, match="unknown scenario 'nope'") as err:
        chart.select("nope")
    assert err.value.issues[0].loc == "scenario"


# ---------------------------------------------------------------- histogram
@pytest.mark.parametrize("scenario", [None, "plant-fire", "bec-payment-fraud"])
def test_histogram_counts_sum_to_the_number_of_trials(result, scenario):
    chart = SimChart(result)
    chart.select(scenario)
    bins = chart.histogram_data()
    assert int(bins["count"].sum()) == TRIALS
    assert bins["share"].sum() == pytest.approx(1.0)
    values = result.annual_loss if scenario is None else result.scenario_losses(scenario)
    assert int(bins["count"].iloc[0]) == int((values <= 0).sum())
    (histogram,) = chart._histogram.object.traverse(lambda e: e, [hv.Histogram])
    drawn = histogram.dimension_values("share")
    np.testing.assert_allclose(drawn, bins["share"].iloc[1:].to_numpy())


# ----------------------------------------------------------------- headline
def test_headline_numbers_are_the_results_summary(result, residual):
    chart = SimChart(result)
    summary = result.summary()
    head = chart.headline()
    assert list(head.columns) == list(HEADLINE_COLUMNS)
    for col in HEADLINE_COLUMNS:
        assert head.loc["result", col] == summary.loc["portfolio", col]
    chart.select("product-recall")
    for col in HEADLINE_COLUMNS:
        assert chart.headline().loc["result", col] == summary.loc["product-recall", col]
    both = SimChart(result, residual=residual).headline()
    res_summary = residual.summary()
    for col in HEADLINE_COLUMNS:
        assert both.loc["inherent", col] == summary.loc["portfolio", col]
        assert both.loc["residual", col] == res_summary.loc["portfolio", col]
    assert rb.plotting.format_money(summary.loc["portfolio", "p99"], "EUR") in (
        chart._headline.object + SimChart(result)._headline.object
    )


# ---------------------------------------------------------------- tolerance
@pytest.mark.parametrize("scenario", [None, "commodity-price-spike"])
def test_tolerance_marks_exactly_the_points_above_it(result, scenario):
    chart = SimChart(result, tolerance=TOLERANCE)
    chart.select(scenario)
    want = expected_breaches(chart.curve_data(), TOLERANCE)
    got = chart.breaches()
    np.testing.assert_array_equal(got["loss"].to_numpy(), want["loss"].to_numpy())
    np.testing.assert_array_equal(got["probability"].to_numpy(), want["probability"].to_numpy())
    marks = elements(chart._exceedance.object, "Breach", hv.Scatter)
    if want.empty:
        assert marks == []
    else:
        (mark,) = marks
        np.testing.assert_array_equal(mark.dimension_values("loss"), want["loss"].to_numpy())
    tolerance_lines = elements(chart._exceedance.object, "Tolerance", hv.Curve)
    np.testing.assert_array_equal(
        tolerance_lines[0].dimension_values("loss"), [p[0] for p in TOLERANCE]
    )


def test_portfolio_curve_breaches_this_tolerance(result):
    # The fixture tolerance is tight enough that the check above is not vacuous.
    assert len(SimChart(result, tolerance=TOLERANCE).breaches()) > 0


def test_tolerance_is_checked_as_optimize_mitigations_checks_it(result):
    with pytest.raises(ValidationError) as err:
        SimChart(result, tolerance=[(1e6, 0.01), (1e7, 0.5)])
    assert err.value.issues[0].loc.startswith("tolerance")
    frame = pd.DataFrame(
        {"loss": [p[0] for p in TOLERANCE], "probability": [p[1] for p in TOLERANCE]}
    )
    a = SimChart(result, tolerance=frame).breaches()
    b = SimChart(result, tolerance=TOLERANCE).breaches()
    pd.testing.assert_frame_equal(a, b)


# ----------------------------------------------------------------- residual
def test_residual_adds_a_second_curve_with_a_legend(result, residual):
    alone = elements(SimChart(result)._exceedance.object, "Exceedance", hv.Curve)
    chart = SimChart(result, residual=residual, tolerance=TOLERANCE)
    both = elements(chart._exceedance.object, "Exceedance", hv.Curve)
    assert len(alone) == 1
    assert [c.label for c in both] == ["inherent", "residual"]
    pd.testing.assert_frame_equal(chart.curve_data(residual=True), residual.exceedance_curve())
    r = both[1].dimension_values("loss")
    data = residual.exceedance_curve()
    np.testing.assert_array_equal(r, data[data["loss"] > 0]["loss"].to_numpy())
    plot = hv.renderer("bokeh").get_plot(chart._exceedance.object)
    legend_items = [item.label["value"] for item in plot.state.legend[0].items]
    assert "inherent" in legend_items
    assert "residual" in legend_items
    assert len(elements(chart._histogram.object, "Histogram", hv.Histogram)) == 2


def test_residual_with_other_scenarios_is_refused(result):
    other = rb.simulate(
        rb.Portfolio(
            [
                rb.Scenario(
                    id="x",
                    title="X",
                    category="other",
                    frequency=rb.Poisson(rate=1.0),
                    severity=rb.Constant(1.0),
                )
            ]
        ),
        trials=1_000,
        seed=1,
    )
    with pytest.raises(ValidationError, match="same scenarios"):
        SimChart(result, residual=other)


# ------------------------------------------------------------------- update
def test_update_swaps_the_results_and_keeps_the_selection(portfolio, result, residual):
    chart = SimChart(result, tornado=None)
    chart.select("plant-fire")
    newer = rb.simulate(portfolio, trials=5_000, seed=99)
    chart.update(newer, residual=residual)
    assert chart.result is newer
    assert chart.scenario == "plant-fire"
    pd.testing.assert_frame_equal(chart.curve_data(), newer.exceedance_curve("plant-fire"))
    pd.testing.assert_frame_equal(
        chart.curve_data(residual=True), residual.exceedance_curve("plant-fire")
    )
    assert chart.headline().loc["inherent", "mean"] == newer.summary().loc["plant-fire", "mean"]
    assert int(chart.histogram_data()["count"].sum()) == 5_000
    (curve, _) = elements(chart._exceedance.object, "Exceedance", hv.Curve)
    shown = newer.exceedance_curve("plant-fire")
    np.testing.assert_array_equal(
        curve.dimension_values("loss"), shown[shown["loss"] > 0]["loss"].to_numpy()
    )
    chart.update(result)
    assert chart.residual is None
    assert len(elements(chart._exceedance.object, "Exceedance", hv.Curve)) == 1


# ------------------------------------------------------------------- tornado
@pytest.fixture(scope="module")
def small(portfolio: rb.Portfolio) -> rb.SimulationResult:
    return rb.simulate(portfolio, trials=4_000, seed=SEED)


def test_a_given_tornado_is_drawn_largest_swing_on_top(small):
    result = small
    t = result.tornado(trials=None)
    chart = SimChart(result, tornado=t)
    bars = elements(chart._tornado_pane.object, "Tornado", hv.Rectangles)
    assert [len(b) for b in bars] == [min(15, len(t.table))] * 2
    low, high = bars
    top = t.table.iloc[0]
    base, lo, hi = top["p99_base"], top["p99_low"], top["p99_high"]
    row = int(np.argmax(low.dimension_values("y1")))
    assert low.dimension_values("x0")[row] == min(base, lo)
    assert high.dimension_values("x1")[row] == max(base, hi)


def test_compute_tornado_is_riskbenchs_and_clears_loading(small):
    result = small
    chart = SimChart(result)
    assert chart.tornado is None
    assert chart._tornado_pane.object is None
    chart.tornado_trials = 4_000
    chart._tornado_button.clicks += 1  # the button's own path
    want = rb.tornado(result, trials=4_000, metric="p99")
    pd.testing.assert_frame_equal(chart.tornado.table, want.table)
    assert chart._tornado_pane.loading is False
    assert chart._tornado_pane.object is not None
    chart.update(result)
    assert chart.tornado is None


def test_an_exact_result_draws_without_a_tornado(portfolio):
    independent = portfolio.model_copy(update={"correlation": ()})
    exact = rb.simulate(independent, engine="fft", basis="gross")
    chart = SimChart(exact)
    pd.testing.assert_frame_equal(chart.curve_data(), exact.exceedance_curve())
    assert chart.histogram_data()["share"].sum() == pytest.approx(1.0)
    assert chart._tornado_button.disabled
    with pytest.raises(ValidationError, match="exact"):
        chart.compute_tornado()


# ------------------------------------------------------------------- offline
def external_references(path: Path) -> tuple[list[str], dict[str, int]]:
    text = path.read_text()
    loads = re.findall(
        r"<script[^>]*\bsrc=[\"'](https?:[^\"']+)|"
        r"<link[^>]*rel=[\"']stylesheet[\"'][^>]*href=[\"'](https?:[^\"']+)",
        text,
    )
    counts = {k: text.count(k) for k in ("cdn.bokeh.org", "cdn.jsdelivr", "unpkg.com")}
    return [a or b for a, b in loads], counts


def test_saved_html_loads_nothing_from_a_cdn(result, residual, tmp_path):
    chart = SimChart(result, residual=residual, tolerance=TOLERANCE, tornado=None)
    pn.io.save.save(chart.__panel__(), tmp_path / "chart.html", resources=INLINE)
    pn.io.save.save(pn.Column("blank"), tmp_path / "blank.html", resources=INLINE)
    loads, counts = external_references(tmp_path / "chart.html")
    _, baseline = external_references(tmp_path / "blank.html")
    assert loads == []
    assert counts["cdn.bokeh.org"] == 0
    assert counts["unpkg.com"] == 0
    # Bokeh's inline bundle names jsdelivr for MathJax and icon fonts it never loads here.
    assert counts["cdn.jsdelivr"] <= baseline["cdn.jsdelivr"]

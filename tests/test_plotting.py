"""Charts: what each draws, log axes, money ticks, a non-blank PNG, and format_money."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import matplotlib
import numpy as np
import pandas as pd
import pytest

import riskbench as rb
from riskbench.plotting import exceedance_chart, format_money, histogram_chart, tornado_chart

matplotlib.use("Agg")
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

ROOT = Path(__file__).resolve().parents[1]
TRIALS = 4_000


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def result() -> rb.SimulationResult:
    res = rb.simulate(rb.load_portfolio(ROOT / "examples" / "register.yaml"), TRIALS, seed=11)
    assert isinstance(res, rb.SimulationResult)
    return res


def small_portfolio() -> rb.Portfolio:
    return rb.Portfolio(
        [
            rb.Scenario(
                id="fire",
                title="Fire",
                category="operational",
                frequency=rb.Bernoulli(p=0.1),
                severity=rb.LogNormal.from_ci(1e6, 2e7),
            ),
            rb.Scenario(
                id="fraud",
                title="Fraud",
                category="cyber",
                frequency=rb.Poisson(rate=2.0),
                severity=rb.PERT(1e4, 5e4, 5e5),
            ),
            rb.Scenario(
                id="flood",
                title="Flood",
                category="climate",
                frequency=rb.Poisson(rate=0.2),
                severity=rb.Triangular(1e5, 1e6, 1e7),
            ),
        ],
        currency="USD",
    )


@pytest.fixture(scope="module")
def tornado() -> rb.Tornado:
    res = rb.simulate(small_portfolio(), 3_000, seed=5)
    assert isinstance(res, rb.SimulationResult)
    return res.tornado(trials=3_000)


# ---------------------------------------------------------------------- format_money
@pytest.mark.parametrize(
    ("x", "currency", "text"),
    [
        (1_200_000, "EUR", "EUR 1.2M"),
        (850_000, "USD", "USD 850k"),
        (12_500_000_000, "EUR", "EUR 12.5bn"),
        (1_234_567, "EUR", "EUR 1.23M"),
        (10_000_000, "EUR", "EUR 10M"),
        (123_456_789, "GBP", "GBP 123M"),
        (999_999, "USD", "USD 1M"),  # rounds up into the next unit
        (999.4, "USD", "USD 999"),
        (1_000, "USD", "USD 1k"),
        (42.0, "CHF", "CHF 42"),
        (0, "EUR", "EUR 0"),
        (0.5, "EUR", "EUR 0.5"),
        (-2_500_000, "EUR", "-EUR 2.5M"),
        (3.4e12, "USD", "USD 3.4tn"),
        (5e15, "USD", "USD 5,000tn"),
        (1_500_000, "", "1.5M"),
        (np.float64(2e6), "EUR", "EUR 2M"),
    ],
)
def test_format_money(x: float, currency: str, text: str) -> None:
    assert format_money(x, currency) == text


def test_format_money_non_finite() -> None:
    assert format_money(float("inf"), "EUR") == "EUR inf"
    assert format_money(float("nan"), "EUR") == "EUR nan"


# ------------------------------------------------------------------ exceedance chart
def test_exceedance_chart_portfolio_only(result: rb.SimulationResult) -> None:
    ax = exceedance_chart(result)
    lines = ax.get_lines()
    assert len(lines) == 1
    assert lines[0].get_linewidth() > 2  # the portfolio is bold
    assert ax.get_xscale() == "log"
    assert ax.get_yscale() == "log"
    assert ax.get_ylim() == pytest.approx((1 / TRIALS, 1.0))
    x, y = lines[0].get_data()
    assert np.all(np.asarray(x) > 0)  # no loss of 0 on a log axis
    assert np.all(np.diff(np.asarray(y)) <= 0)  # exceedance probability falls with loss


def test_exceedance_chart_scenarios_and_tolerance(result: rb.SimulationResult) -> None:
    tolerance = pd.DataFrame({"loss": [1e7, 1e6, 1e8], "probability": [0.1, 0.5, 0.002]})
    ax = exceedance_chart(result, scenarios=["plant-fire", "river-flood"], tolerance=tolerance)
    lines = ax.get_lines()
    assert len(lines) == 4
    labels = [line.get_label() for line in lines]
    assert labels == ["portfolio", "plant-fire", "river-flood", "risk tolerance"]
    tol_x, tol_y = lines[-1].get_data()
    assert list(tol_x) == [1e6, 1e7, 1e8]  # sorted by loss
    assert list(tol_y) == [0.5, 0.1, 0.002]
    assert lines[1].get_linewidth() < lines[0].get_linewidth()


def test_exceedance_chart_all_scenarios_and_list_tolerance(result: rb.SimulationResult) -> None:
    ax = exceedance_chart(result, scenarios="all", tolerance=[(1e6, 0.5), (5e7, 0.01)])
    assert len(ax.get_lines()) == 1 + len(result.ids) + 1


def test_exceedance_chart_money_ticks(result: rb.SimulationResult) -> None:
    ax = exceedance_chart(result)
    ax.figure.canvas.draw()
    labels = [t.get_text() for t in ax.get_xticklabels() if t.get_text()]
    assert labels
    assert all(label.startswith("EUR ") for label in labels)
    assert "EUR 10M" in labels
    ylabels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    assert "1%" in ylabels


def test_exceedance_chart_draws_on_given_axes(result: rb.SimulationResult) -> None:
    fig = Figure()
    ax = fig.add_subplot()
    assert exceedance_chart(result, ax=ax) is ax


def test_exceedance_chart_rejects_bad_input(result: rb.SimulationResult) -> None:
    with pytest.raises(rb.ValidationError, match="unknown scenario 'nope'"):
        exceedance_chart(result, scenarios=["nope"])
    with pytest.raises(rb.ValidationError, match="'all'"):
        exceedance_chart(result, scenarios="plant-fire")
    with pytest.raises(rb.ValidationError, match=r"tolerance.probability.*fractions"):
        exceedance_chart(result, tolerance=[(1e6, 50)])
    with pytest.raises(rb.ValidationError, match=r"tolerance.loss"):
        exceedance_chart(result, tolerance=[(0, 0.5)])
    with pytest.raises(rb.ValidationError, match="columns 'loss' and 'probability'"):
        exceedance_chart(result, tolerance=pd.DataFrame({"x": [1.0], "p": [0.1]}))
    with pytest.raises(rb.ValidationError, match="list of"):
        exceedance_chart(result, tolerance=[1, 2, 3])


def test_exceedance_chart_of_an_exact_result() -> None:
    exact = rb.simulate(small_portfolio(), engine="fft", grid_size=1 << 14)
    ax = exceedance_chart(exact, scenarios=["fire"])
    assert len(ax.get_lines()) == 2
    low, high = ax.get_ylim()
    assert 0 < low < 1e-3
    assert high == 1.0


# ---------------------------------------------------------------------- tornado chart
def test_tornado_chart_bars_largest_at_top(tornado: rb.Tornado) -> None:
    rows = len(tornado.table)
    assert rows == 6  # 3 scenarios x (frequency, severity)
    ax = tornado_chart(tornado, currency="USD")
    assert len(ax.patches) == 2 * rows
    # Top to bottom, the rows come in the table's order: the largest swing first.
    by_height = sorted(
        zip(ax.get_yticks(), (t.get_text() for t in ax.get_yticklabels()), strict=True),
        reverse=True,
    )
    expected = [f"{row.scenario}: {row.input}" for row in tornado.table.itertuples()]
    assert [label for _, label in by_height] == expected
    swings = tornado.table[f"{tornado.metric}_swing"].abs().to_numpy()
    assert np.all(np.diff(swings) <= 0)


def test_tornado_chart_bars_span_low_to_high(tornado: rb.Tornado) -> None:
    ax = tornado_chart(tornado, top=2)
    assert len(ax.patches) == 4
    low_bars, high_bars = ax.containers
    metric = tornado.metric
    for i, bar in enumerate(low_bars.patches):
        row = tornado.table.iloc[i]
        ends = sorted([bar.get_x(), bar.get_x() + bar.get_width()])
        expected = sorted([row[f"{metric}_base"], row[f"{metric}_low"]])
        assert ends == pytest.approx(expected)
    for i, bar in enumerate(high_bars.patches):
        row = tornado.table.iloc[i]
        ends = sorted([bar.get_x(), bar.get_x() + bar.get_width()])
        assert ends == pytest.approx(sorted([row[f"{metric}_base"], row[f"{metric}_high"]]))


def test_tornado_plot_method_and_top(tornado: rb.Tornado) -> None:
    ax = tornado.plot(top=3)
    assert len(ax.patches) == 6
    with pytest.raises(rb.ValidationError, match="top"):
        tornado_chart(tornado, top=0)


# -------------------------------------------------------------------- histogram chart
def test_histogram_chart(result: rb.SimulationResult) -> None:
    ax = histogram_chart(result, bins=40)
    assert len(ax.patches) == 40
    assert ax.get_xscale() == "log"
    heights = sum(p.get_height() for p in ax.patches)
    assert heights == pytest.approx(float((result.annual_loss > 0).mean()))
    assert [line.get_label().split(" EUR")[0] for line in ax.get_lines()] == [
        "mean",
        "VaR 99%",
        "TVaR 99%",
    ]


def test_histogram_chart_of_an_exact_result() -> None:
    exact = rb.simulate(small_portfolio(), engine="fft", grid_size=1 << 14)
    ax = histogram_chart(exact, bins=25)
    assert len(ax.patches) == 25


# ----------------------------------------------------------------------------- files
def test_png_is_not_blank(result: rb.SimulationResult, tmp_path: Path) -> None:
    fig = Figure(figsize=(6, 4))
    FigureCanvasAgg(fig)
    exceedance_chart(result, ax=fig.add_subplot(), scenarios=["plant-fire"])
    path = tmp_path / "lec.png"
    fig.savefig(path, dpi=60)
    pixels = mpimg.imread(path)
    assert pixels.shape[0] > 100
    assert pixels.shape[1] > 100
    assert float(pixels[..., :3].var()) > 1e-3
    # Dark pixels (the bold portfolio line, text) and light ones (background) both present.
    grey = pixels[..., :3].mean(axis=-1)
    assert (grey < 0.2).mean() > 0.001
    assert (grey > 0.9).mean() > 0.5


def test_missing_matplotlib_names_the_extra(
    result: rb.SimulationResult, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib.pyplot", None)
    with pytest.raises(rb.MissingDependencyError, match=r"riskbench\[plots\]"):
        exceedance_chart(result)

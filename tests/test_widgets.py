"""riskbench.widgets with real ipywidgets objects and a real simulation."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import ipywidgets
import pytest

import riskbench as rb
from riskbench.errors import ValidationError
from riskbench.widgets import ScenarioPicker, summary_table

CARD = Path(__file__).resolve().parents[1] / "examples" / "register.yaml"


@pytest.fixture(scope="module")
def portfolio() -> rb.Portfolio:
    return rb.load_portfolio(CARD)


@pytest.fixture(scope="module")
def result(portfolio: rb.Portfolio) -> rb.SimulationResult:
    return rb.simulate(portfolio, trials=20_000, seed=1)


class _Table(HTMLParser):
    """The text of each <tr> of an HTML table, cell by cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: object) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def parse(html_text: str) -> list[list[str]]:
    table = _Table()
    table.feed(html_text)
    return table.rows


# --- summary_table ----------------------------------------------------------------------


def test_summary_table_is_an_html_widget_with_one_row_per_summary_row(result):
    widget = summary_table(result)
    assert isinstance(widget, ipywidgets.HTML)
    header, *body = parse(widget.value)
    summary = result.summary()
    assert [row[0] for row in body] == [str(i) for i in summary.index]
    assert body[-1][0] == "portfolio"
    assert header[0] == "scenario"
    assert [h.split(" (")[0] for h in header[1:]] == [
        "Mean",
        "SD",
        "Median",
        "P90",
        "P95",
        "P99",
        "TVaR 99%",
        "P(any event)",
    ]


def test_summary_table_formats_money_with_separators_and_p_any_as_percent(result):
    summary = result.summary()
    _, *body = parse(summary_table(result).value)
    columns = list(summary.columns)
    for label, cells in zip(summary.index, body, strict=True):
        values = dict(zip(columns, cells[1:], strict=True))
        for column in ("mean", "sd", "p50", "p90", "p95", "p99", "tvar99"):
            assert values[column] == f"{summary.loc[label, column]:,.0f}"
        assert values["p_any"] == f"{summary.loc[label, 'p_any']:.1%}"
        assert values["p_any"].endswith("%")
    # The example register's portfolio loses millions a year: separators must show.
    portfolio_mean = dict(zip(columns, body[-1][1:], strict=True))["mean"]
    assert portfolio_mean.count(",") >= 2


def test_summary_table_labels_columns_with_the_currency(result):
    header = parse(summary_table(result, currency="EUR").value)[0]
    assert "Mean (EUR)" in header
    assert "TVaR 99% (EUR)" in header
    assert "P(any event)" in header  # a probability has no currency


def test_summary_table_widgets_are_independent(result):
    a, b = summary_table(result), summary_table(result)
    assert a is not b
    assert a.model_id != b.model_id


# --- ScenarioPicker ---------------------------------------------------------------------


def test_picker_selects_everything_at_first(portfolio):
    picker = ScenarioPicker(portfolio)
    assert isinstance(picker.widget, ipywidgets.SelectMultiple)
    assert picker.selected_ids == portfolio.ids
    assert picker.widget.value == portfolio.ids
    labels = [label for label, _ in picker.widget.options]
    assert labels == [f"{s.category}: {s.title}" for s in portfolio.scenarios]
    assert picker.portfolio().ids == portfolio.ids


def test_picker_follows_the_widget_in_portfolio_order(portfolio):
    picker = ScenarioPicker(portfolio)
    first, second, third = portfolio.ids[:3]
    picker.widget.value = (third, first)  # what a click in the front end does
    assert picker.selected_ids == (first, third)
    picked = picker.portfolio()
    assert isinstance(picked, rb.Portfolio)
    assert picked.ids == (first, third)
    assert picked.currency == portfolio.currency
    assert second not in picked.ids


def test_picker_keeps_only_correlations_within_the_selection(portfolio):
    assert portfolio.correlation, "the example register should have correlations"
    a, b, rho = portfolio.correlation[0]
    other = next(sid for sid in portfolio.ids if sid not in (a, b))
    both = ScenarioPicker(portfolio, selected=[a, b, other]).portfolio()
    assert (a, b, rho) in both.correlation
    alone = ScenarioPicker(portfolio, selected=[a, other]).portfolio()
    assert all({x, y} <= {a, other} for x, y, _ in alone.correlation)
    assert (a, b, rho) not in alone.correlation


def test_picked_portfolio_simulates(portfolio):
    picker = ScenarioPicker(portfolio, selected=portfolio.ids[:2])
    res = rb.simulate(picker.portfolio(), trials=2_000, seed=3)
    assert list(res.summary().index) == [*portfolio.ids[:2], "portfolio"]


def test_picker_rejects_unknown_ids(portfolio):
    with pytest.raises(ValidationError, match=r"selected.*no-such-risk.*allowed"):
        ScenarioPicker(portfolio, selected=["no-such-risk"])


def test_empty_selection_is_a_clear_error(portfolio):
    picker = ScenarioPicker(portfolio, selected=[])
    assert picker.selected_ids == ()
    with pytest.raises(ValidationError, match="select at least one"):
        picker.portfolio()


def test_pickers_never_share_widgets(portfolio):
    # Widgets built as class attributes would be shared across dashboard sessions.
    one, two = ScenarioPicker(portfolio), ScenarioPicker(portfolio)
    assert one.widget is not two.widget
    one.widget.value = portfolio.ids[:1]
    assert two.selected_ids == portfolio.ids
    assert not any(isinstance(v, ipywidgets.Widget) for v in vars(ScenarioPicker).values())


def test_picker_displays_as_its_widget(portfolio):
    picker = ScenarioPicker(portfolio, description="Risks")
    bundle = picker._repr_mimebundle_()
    view = bundle["application/vnd.jupyter.widget-view+json"]
    assert view["model_id"] == picker.widget.model_id
    assert picker.widget.description == "Risks"

"""ImpactMatrixView: colours, counts and cell contents are the placement's."""

from __future__ import annotations

import re

import holoviews as hv
import numpy as np
import panel as pn
import pytest
from bokeh.resources import INLINE

import riskbench as rb
from helpers import ROOT
from riskbench.errors import ValidationError
from riskbench.mitigation import apply_mitigations
from riskbench.mitigation_io import load_mitigations
from riskbench.widgets._panel import APPETITE_COLOURS
from riskbench.widgets.matrix_view import ImpactMatrix, ImpactMatrixView

TRIALS = 20_000
SEED = 5


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


@pytest.fixture(scope="module")
def placement(result, residual) -> rb.MatrixPlacement:
    return rb.ImpactMatrix.default(scale=1e6).place(result, residual=residual)


def layer(view: ImpactMatrixView, group: str, kind: type) -> hv.Element:
    found = [e for e in view._static.traverse(lambda e: e, [kind]) if e.group == group]
    assert len(found) == 1, found
    return found[0]


def test_cell_colours_are_the_appetite_frame(placement):
    view = ImpactMatrixView(placement)
    cells = layer(view, "Cells", hv.Rectangles).dframe()
    appetite = placement.matrix.appetite_frame()
    drawn = cells.pivot(index="likelihood", columns="severity", values="colour")
    drawn = drawn.loc[appetite.index, appetite.columns]
    assert (drawn == appetite.map(APPETITE_COLOURS.get)).all().all()
    # each rectangle sits at its bands' position: likelihood up, severity across
    m = placement.matrix
    for row in cells.itertuples():
        assert row.y0 == m.likelihood_labels.index(row.likelihood)
        assert row.x0 == m.severity_labels.index(row.severity)


@pytest.mark.parametrize("residual_view", [False, True])
def test_rendered_counts_sum_to_the_scenarios_and_match_counts(placement, residual_view):
    view = ImpactMatrixView(placement, residual=residual_view)
    labels = layer(view, "Counts", hv.Labels).dframe()
    n = len(placement.table)
    assert int(labels["text"].astype(int).sum()) == n
    counts = placement.counts(residual=residual_view)
    cells = view.cell_frame()
    for row in cells.itertuples():
        assert row.count == counts.loc[row.likelihood, row.severity]
    points = layer(view, "Scenarios", hv.Points).dframe()
    assert len(points) == n


def test_select_cell_lists_the_placements_cell(placement):
    view = ImpactMatrixView(placement)
    m = placement.matrix
    for lik in m.likelihood_labels:
        for sev in m.severity_labels:
            ids = view.select_cell(lik, sev)
            assert ids == placement.cell(lik, sev)
            assert view.selected == ids
            assert view.selected_cell == (lik, sev)
            frame = view.selected_frame()
            assert tuple(frame["id"]) == ids
            table = placement.table.set_index("scenario").loc[list(ids)]
            np.testing.assert_array_equal(frame["p_any"], table["p_any"])
            np.testing.assert_array_equal(frame["p90_given_event"], table["severity"])
            assert list(frame.columns) == ["id", "title", "p_any", "p90_given_event"]


def test_a_tap_on_a_cell_selects_it(placement):
    view = ImpactMatrixView(placement)
    m = placement.matrix
    busy = placement.counts().stack().idxmax()  # (likelihood, severity) with most scenarios
    i, j = m.likelihood_labels.index(busy[0]), m.severity_labels.index(busy[1])
    view._tap.event(x=j + 0.3, y=i + 0.7)
    assert view.selected_cell == busy
    assert view.selected == placement.cell(*busy)
    assert len(view.selected) == placement.counts().loc[busy]
    assert view._table.object is not None
    assert len(view._table.object) == len(view.selected)
    view._tap.event(x=-1.0, y=0.5)  # outside the matrix: nothing changes
    assert view.selected_cell == busy
    plot = hv.renderer("bokeh").get_plot(view._plot.object)
    callbacks = [type(c).__name__ for p in plot.traverse(lambda x: x) for c in p.callbacks]
    assert "TapCallback" in callbacks


def test_invalid_band_label_is_a_validation_error_naming_it(placement):
    view = ImpactMatrixView(placement)
    with pytest.raises(ValidationError, match="'Often'") as err:
        view.select_cell("Often", "Major")
    assert err.value.issues[0].loc == "likelihood"
    with pytest.raises(ValidationError, match="'Huge'") as err:
        view.select_cell("Rare", "Huge")
    assert err.value.issues[0].loc == "severity"
    assert view.selected == ()


def test_residual_toggle_shows_residual_cells_and_movement(placement):
    view = ImpactMatrixView(placement)
    assert view._mode.visible
    moved = placement.table[placement.table["moved"]]
    assert len(moved) > 0
    sid = moved["scenario"].iloc[0]
    row = moved.iloc[0]
    inherent_cell = (row["likelihood_band"], row["severity_band"])
    residual_cell = (row["residual_likelihood_band"], row["residual_severity_band"])
    assert sid in view.select_cell(*inherent_cell)
    view._mode.value = "residual"  # the toggle's own path
    assert view.residual is True
    # the selection follows the mode: the same cell now lists its residual contents
    assert view.selected == placement.cell(*inherent_cell, residual=True)
    assert sid in view.select_cell(*residual_cell)
    segments = layer(view, "Movement", hv.Segments)
    assert list(segments.dframe()["scenario"]) == list(moved["scenario"])
    view._movement.value = False
    assert not [e for e in view._static.traverse(lambda e: e) if e.group == "Movement"]


def test_residual_without_a_residual_placement_is_refused(result):
    view = ImpactMatrixView.from_result(result)
    assert not view._mode.visible
    with pytest.raises(ValidationError, match="no residual"):
        view.show_residual(True)


def test_points_sit_inside_their_cells_and_never_coincide(placement):
    for residual_view in (False, True):
        view = ImpactMatrixView(placement, residual=residual_view)
        pts = view.points()
        m = placement.matrix
        i = pts["likelihood"].map(m.likelihood_labels.index)
        j = pts["severity_band"].map(m.severity_labels.index)
        assert ((pts["x"] > j) & (pts["x"] < j + 1)).all()
        assert ((pts["y"] > i) & (pts["y"] < i + 1)).all()
        assert not pts[["x", "y"]].duplicated().any()
        # deterministic
        assert pts.equals(ImpactMatrixView(placement, residual=residual_view).points())


def test_from_result_places_with_the_default_or_given_matrix(result, residual):
    view = ImpactMatrix.from_result(result, residual=residual)
    assert ImpactMatrix is ImpactMatrixView
    want = rb.ImpactMatrix.default(scale=1e6).place(result, residual=residual)
    assert view.placement.table.equals(want.table)
    matrix = rb.ImpactMatrix.from_edges(
        likelihood_edges=[0, 0.1, 0.5, 1],
        likelihood_labels=["Low", "Medium", "High"],
        severity_edges=[0, 1e6, 1e7, float("inf")],
        severity_labels=["S", "M", "L"],
        appetite=[["monitor", "treat", "treat"], ["accept", "monitor", "treat"], ["accept"] * 3],
    )
    view = ImpactMatrixView.from_result(result, matrix)
    assert view.placement.matrix is matrix
    assert view.cell_frame()["count"].sum() == len(result.ids)
    assert view.select_cell("Low", "L") == matrix.place(result).cell("Low", "L")


def test_update_swaps_the_placement_and_keeps_the_selection(result, placement):
    view = ImpactMatrixView(placement, residual=True)
    view.select_cell("Unlikely", "Major")
    inherent_only = rb.ImpactMatrix.default(scale=1e7).place(result)
    view.update(inherent_only)
    assert view.residual is False
    assert not view._mode.visible
    assert view.selected == inherent_only.cell("Unlikely", "Major")
    assert int(view.cell_frame()["count"].sum()) == len(result.ids)


def test_saved_html_loads_nothing_from_a_cdn(placement, result, tmp_path):
    view = ImpactMatrixView(placement, portfolio=result.portfolio)
    view.select_cell("Unlikely", "Severe")
    pn.io.save.save(view.__panel__(), tmp_path / "matrix.html", resources=INLINE)
    pn.io.save.save(pn.Column("blank"), tmp_path / "blank.html", resources=INLINE)
    text = (tmp_path / "matrix.html").read_text()
    blank = (tmp_path / "blank.html").read_text()
    loads = re.findall(r"<script[^>]*\bsrc=[\"'](https?:[^\"']+)", text)
    sheets = re.findall(r"<link[^>]*rel=[\"']stylesheet[\"'][^>]*href=[\"'](https?:[^\"']+)", text)
    assert loads == []
    assert sheets == []
    assert "cdn.bokeh.org" not in text
    assert "unpkg.com" not in text
    # Bokeh's inline bundle names jsdelivr for MathJax and icon fonts it never loads here.
    assert text.count("cdn.jsdelivr") <= blank.count("cdn.jsdelivr")

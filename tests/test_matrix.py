"""Impact matrix: bands, placement on closed-form scenarios, residual moves, validation."""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import riskbench as rb
from helpers import scenario
from riskbench.matrix import ImpactMatrix, MatrixPlacement, SeverityMeasure

M = 1e6
DEFAULT = ImpactMatrix.default(scale=M)


def constructed(
    years: Mapping[str, tuple[Sequence[int], Sequence[float]]],
) -> rb.SimulationResult:
    """A SimulationResult built from given event counts and annual losses per scenario,
    so that p_any and the severity measures are known exactly."""
    ids = list(years)
    counts = np.array([years[i][0] for i in ids], dtype=np.uint32)
    losses = np.array([years[i][1] for i in ids], dtype=float)
    portfolio = rb.Portfolio([scenario(i) for i in ids])
    return rb.SimulationResult(
        portfolio,
        losses=losses,
        counts=counts,
        annual_loss=losses.sum(axis=0),
        max_event=None,
        any_event=np.asarray((counts > 0).any(axis=0)),
        trials=counts.shape[1],
        seed=0,
        basis="net",
        block_size=counts.shape[1],
        engine_version="test",
    )


def bernoulli(sid: str, p: float, loss: float) -> rb.Scenario:
    return scenario(sid, frequency=rb.Bernoulli(p), severity=rb.Constant(loss))


# ------------------------------------------------------------------------ defaults
def test_default_is_the_documented_5x5() -> None:
    assert DEFAULT.likelihood == ((0, 0.05), (0.05, 0.2), (0.2, 0.5), (0.5, 0.8), (0.8, 1))
    assert DEFAULT.severity == (
        (0, 0.1 * M),
        (0.1 * M, M),
        (M, 5 * M),
        (5 * M, 20 * M),
        (20 * M, math.inf),
    )
    assert DEFAULT.likelihood_labels == ("Rare", "Unlikely", "Possible", "Likely", "Almost certain")
    assert DEFAULT.severity_labels == ("Minor", "Moderate", "Major", "Severe", "Critical")
    assert DEFAULT.severity_measure == "p90_given_event"
    assert DEFAULT.appetite_of("Almost certain", "Critical") == "treat"
    assert DEFAULT.appetite_of("Rare", "Minor") == "accept"
    assert DEFAULT.appetite_of("Possible", "Major") == "monitor"  # score 9
    assert DEFAULT.appetite_of("Likely", "Moderate") == "monitor"  # 4 x 2 = 8
    assert DEFAULT.appetite_of("Almost certain", "Moderate") == "treat"  # 5 x 2 = 10
    frame = DEFAULT.appetite_frame()
    assert list(frame.index) == list(reversed(DEFAULT.likelihood_labels))
    assert frame.loc["Almost certain", "Critical"] == "treat"


def test_matrix_is_immutable_and_hashable() -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT.severity_measure = "tvar99"  # type: ignore[misc]
    assert hash(DEFAULT) == hash(ImpactMatrix.default(scale=M))
    m = ImpactMatrix.from_edges(
        likelihood_edges=[0, 0.3, 0.6, 1],
        likelihood_labels=["L", "M", "H"],
        severity_edges=[0, 1, 2, math.inf],
        severity_labels=["s", "m", "l"],
        appetite=[["accept"] * 3] * 3,
    )
    assert isinstance(m.appetite, tuple)
    assert isinstance(m.appetite[0], tuple)


# ------------------------------------------------------------------------ boundaries
@pytest.mark.parametrize(
    ("p", "band"),
    [
        (0.0, "Rare"),
        (0.049, "Rare"),
        (0.05, "Unlikely"),
        (0.2, "Possible"),
        (0.5, "Likely"),
        (0.8, "Almost certain"),
        (1.0, "Almost certain"),
    ],
)
def test_a_probability_on_an_edge_goes_to_the_higher_band(p: float, band: str) -> None:
    assert DEFAULT.likelihood_band(p) == band


@pytest.mark.parametrize(
    ("loss", "band"),
    [
        (0.0, "Minor"),
        (0.1 * M, "Moderate"),
        (M, "Major"),
        (5 * M, "Severe"),
        (20 * M, "Critical"),
        (1e15, "Critical"),
    ],
)
def test_a_loss_on_an_edge_goes_to_the_higher_band(loss: float, band: str) -> None:
    assert DEFAULT.severity_band(loss) == band


def test_out_of_range_measures_are_rejected() -> None:
    with pytest.raises(rb.ValidationError, match=r"p_any: must be a probability in \[0, 1\].*1.5"):
        DEFAULT.likelihood_band(1.5)
    with pytest.raises(rb.ValidationError, match="loss: must be a loss >= 0, got -1"):
        DEFAULT.severity_band(-1.0)


def test_constructed_boundaries_place_on_the_documented_side() -> None:
    # 20 years: 1 event year -> p_any = 0.05 exactly; 4 -> 0.2; the loss in event years
    # sits on a severity edge.
    one = [1] + [0] * 19
    four = [1] * 4 + [0] * 16
    result = constructed(
        {
            "edge-low": (one, [M] + [0.0] * 19),
            "edge-mid": (four, [0.1 * M] * 4 + [0.0] * 16),
        }
    )
    table = DEFAULT.place(result).table.set_index("scenario")
    assert table.loc["edge-low", "p_any"] == 0.05
    assert (table.loc["edge-low", "likelihood_band"], table.loc["edge-low", "severity_band"]) == (
        "Unlikely",
        "Major",
    )
    assert (table.loc["edge-mid", "likelihood_band"], table.loc["edge-mid", "severity_band"]) == (
        "Possible",
        "Moderate",
    )


# ------------------------------------------------------------------------ measures
def test_severity_measures_given_an_event_on_constructed_years() -> None:
    # 10 event years with losses 1..10 (one event year costs 0: it still counts), 10 quiet.
    losses = [0.0, *range(2, 11)] + [0.0] * 10
    result = constructed({"s": ([1] * 10 + [0] * 10, losses)})
    p90 = DEFAULT.place(result).table.iloc[0]
    assert p90["p_any"] == 0.5
    assert p90["severity"] == 9.0  # smallest x with P(L <= x | event) >= 0.9
    mean = dataclasses.replace(DEFAULT, severity_measure="mean_given_event").place(result)
    assert mean.table["severity"].iloc[0] == pytest.approx(sum(losses) / 10)
    tvar = dataclasses.replace(DEFAULT, severity_measure="tvar99").place(result)
    assert tvar.table["severity"].iloc[0] == pytest.approx(result.tvar(0.99, "s"))


def test_bernoulli_constant_scenarios_land_in_their_exact_cells() -> None:
    portfolio = rb.Portfolio(
        [
            bernoulli("certain-major", 1.0, 2 * M),
            bernoulli("never", 0.0, 50 * M),
            bernoulli("possible-critical", 0.3, 30 * M),
            bernoulli("rare-minor", 0.01, 0.05 * M),
        ]
    )
    result = rb.simulate(portfolio, trials=4_000, seed=1)
    placed = DEFAULT.place(result)
    t = placed.table.set_index("scenario")
    assert t.loc["certain-major", "p_any"] == 1.0
    assert t.loc["certain-major", "severity"] == 2 * M
    assert t.loc["possible-critical", "severity"] == 30 * M
    # no event, no loss: the lowest severity band
    assert (t.loc["never", "p_any"], t.loc["never", "severity"]) == (0.0, 0.0)
    assert placed.cell("Almost certain", "Major") == ("certain-major",)
    assert placed.cell("Rare", "Minor") == ("never", "rare-minor")
    assert placed.cell("Possible", "Critical") == ("possible-critical",)
    assert t.loc["possible-critical", "appetite"] == "treat"
    assert t.loc["never", "appetite"] == "accept"
    assert list(placed.table.columns) == [
        "scenario",
        "title",
        "category",
        "p_any",
        "severity",
        "likelihood_band",
        "severity_band",
        "appetite",
    ]
    assert t.loc["never", "title"] == "NEVER"
    assert t.loc["never", "category"] == "other"
    counts = placed.counts()
    assert list(counts.index) == list(reversed(DEFAULT.likelihood_labels))
    assert list(counts.columns) == list(DEFAULT.severity_labels)
    assert counts.loc["Rare", "Minor"] == 2
    assert int(counts.to_numpy().sum()) == 4


def test_exact_result_places_like_the_closed_form() -> None:
    portfolio = rb.Portfolio([bernoulli("a", 0.3, 2 * M), bernoulli("b", 0.9, 30 * M)])
    # a grid step of 10,000 puts both losses on grid points
    exact = rb.simulate(portfolio, engine="fft", grid_size=4096, max_loss=4095 * 1e4)
    assert isinstance(exact, rb.ExactResult)
    for measure in ("p90_given_event", "mean_given_event", "tvar99"):
        m = dataclasses.replace(DEFAULT, severity_measure=measure)
        placed = m.place(exact)
        t = placed.table.set_index("scenario")
        assert t.loc["a", "p_any"] == pytest.approx(0.3)
        assert t.loc["a", "severity"] == pytest.approx(2 * M, rel=2e-3)
        assert t.loc["b", "severity"] == pytest.approx(30 * M, rel=2e-3)
        assert placed.cell("Possible", "Major") == ("a",)
        assert placed.cell("Almost certain", "Critical") == ("b",)


def test_exact_result_without_the_no_event_mass_is_a_clear_error() -> None:
    portfolio = rb.Portfolio([bernoulli("a", 0.3, 2.0)])
    pmf = np.array([0.5, 0.5])  # only 0.5 at zero, but 0.7 of years have no event
    bad = rb.ExactResult(
        portfolio,
        h=2.0,
        scenario_pmfs=[pmf],
        portfolio_pmf=pmf,
        p_any=[0.3],
        portfolio_p_any=0.3,
        basis="net",
        aliasing=0.0,
    )
    with pytest.raises(rb.RiskbenchError, match=r"'a'.*given an event.*severity_measure='tvar99'"):
        DEFAULT.place(bad)
    tvar = dataclasses.replace(DEFAULT, severity_measure="tvar99").place(bad)
    assert tvar.table["severity"].iloc[0] == 2.0


def test_only_results_can_be_placed() -> None:
    with pytest.raises(
        rb.ValidationError, match=r"result: must be a SimulationResult or ExactResult.*dict"
    ):
        DEFAULT.place({"a": 1})  # type: ignore[arg-type]


# ------------------------------------------------------------------------ residual
def test_residual_positions_and_movement() -> None:
    inherent = rb.Portfolio([bernoulli("fire", 0.9, 30 * M), bernoulli("flood", 0.01, 0.05 * M)])
    mitigated = rb.Portfolio([bernoulli("flood", 0.01, 0.05 * M), bernoulli("fire", 0.1, 0.5 * M)])
    before = rb.simulate(inherent, trials=2_000, seed=2)
    after = rb.simulate(mitigated, trials=2_000, seed=3)
    placed = DEFAULT.place(before, residual=after)
    assert placed.has_residual
    t = placed.table.set_index("scenario")
    assert (t.loc["fire", "likelihood_band"], t.loc["fire", "severity_band"]) == (
        "Almost certain",
        "Critical",
    )
    assert (t.loc["fire", "residual_likelihood_band"], t.loc["fire", "residual_severity_band"]) == (
        "Unlikely",
        "Moderate",
    )
    assert t.loc["fire", "appetite"] == "treat"
    assert t.loc["fire", "residual_appetite"] == "accept"
    assert t.loc["fire", "residual_severity"] == 0.5 * M
    assert bool(t.loc["fire", "moved"])
    assert not bool(t.loc["flood", "moved"])
    assert placed.cell("Unlikely", "Moderate", residual=True) == ("fire",)
    assert placed.cell("Unlikely", "Moderate") == ()
    assert int(placed.counts(residual=True).to_numpy().sum()) == 2


def test_residual_must_have_the_same_scenarios() -> None:
    before = rb.simulate(rb.Portfolio([bernoulli("a", 0.5, M)]), trials=100, seed=0)
    after = rb.simulate(rb.Portfolio([bernoulli("b", 0.5, M)]), trials=100, seed=0)
    with pytest.raises(
        rb.ValidationError, match=r"residual: must have the same scenarios.*\['b'\].*\['a'\]"
    ):
        DEFAULT.place(before, residual=after)


def test_placement_lookups_name_the_allowed_values() -> None:
    placed = DEFAULT.place(rb.simulate(rb.Portfolio([bernoulli("a", 0.5, M)]), trials=100, seed=0))
    with pytest.raises(
        rb.ValidationError, match=r"likelihood: unknown likelihood band 'Often'.*'Rare'"
    ):
        placed.cell("Often", "Minor")
    with pytest.raises(
        rb.ValidationError, match=r"severity: unknown severity band 'Huge'.*'Critical'"
    ):
        placed.cell("Rare", "Huge")
    with pytest.raises(rb.ValidationError, match="residual: this placement has no residual result"):
        placed.counts(residual=True)
    assert isinstance(placed, MatrixPlacement)
    assert not placed.has_residual


# ------------------------------------------------------------------------ validation
GOOD: dict[str, Any] = {
    "likelihood": [(0, 0.2), (0.2, 0.6), (0.6, 1)],
    "likelihood_labels": ["L", "M", "H"],
    "severity": [(0, 10), (10, 100), (100, math.inf)],
    "severity_labels": ["s", "m", "l"],
    "appetite": [["monitor", "treat", "treat"], ["accept", "monitor", "treat"], ["accept"] * 3],
}


def test_the_good_definition_is_valid() -> None:
    m = ImpactMatrix(**GOOD)
    assert m.appetite_of("H", "s") == "monitor"
    assert m.appetite_of("L", "l") == "accept"


@pytest.mark.parametrize(
    ("change", "loc", "message"),
    [
        (
            {"likelihood": [(0, 0.3), (0.2, 0.6), (0.6, 1)]},
            "likelihood[1]",
            r"overlaps likelihood\[0\] = \(0.0, 0.3\): got \(0.2, 0.6\)",
        ),
        (
            {"severity": [(0, 10), (20, 100), (100, math.inf)]},
            "severity[1]",
            r"leaves a gap after severity\[0\] = \(0.0, 10.0\): got \(20.0, 100.0\)",
        ),
        (
            {"likelihood": [(0, 0.6), (0.6, 0.2), (0.2, 1)]},
            "likelihood[1]",
            r"edges must increase \(low < high\), got \(0.6, 0.2\)",
        ),
        ({"likelihood": [(0.1, 0.2), (0.2, 0.6), (0.6, 1)]}, "likelihood[0]", r"must start at 0"),
        (
            {"likelihood": [(0, 0.2), (0.2, 0.6), (0.6, 0.9)]},
            "likelihood[2]",
            r"must end at 1.0.*0.9",
        ),
        (
            {"severity": [(0, 10), (10, 100), (100, 1e9)]},
            "severity[2]",
            r"must end at inf.*1000000000.0",
        ),
        ({"likelihood": [(0, 0.5), (0.5, 1)]}, "likelihood", r"must have 3 to 6 bands, got 2"),
        (
            {"severity": [(i, i + 1) for i in range(6)] + [(6, math.inf)]},
            "severity",
            r"must have 3 to 6 bands, got 7",
        ),
        (
            {"likelihood": [(0, "a"), (0.5, 1)]},
            "likelihood[0]",
            r"must be a \(low, high\) pair.*'a'",
        ),
        (
            {"likelihood_labels": ["L", "M"]},
            "likelihood_labels",
            r"one label per band \(3\), got 2: \['L', 'M'\]",
        ),
        (
            {"severity_labels": ["s", "s", "l"]},
            "severity_labels",
            r"must be unique, got \['s', 's', 'l'\]",
        ),
        ({"severity_labels": ["s", "", "l"]}, "severity_labels", r"non-empty strings"),
        (
            {"appetite": [["accept"] * 3] * 2},
            "appetite",
            r"3 rows \(likelihood, highest first\).*got 2 rows",
        ),
        (
            {"appetite": [["accept"] * 3, ["accept"] * 2, ["accept"] * 3]},
            "appetite[1]",
            r"must have 3 entries \(one per severity band\), got 2",
        ),
        (
            {"appetite": [["accept"] * 3, ["accept", "ignore", "treat"], ["accept"] * 3]},
            "appetite[1][1]",
            r"must be one of \['accept', 'monitor', 'treat'\], got 'ignore'",
        ),
        (
            {"severity_measure": "p99"},
            "severity_measure",
            r"must be one of \['p90_given_event'.*got 'p99'",
        ),
    ],
)
def test_invalid_definitions_name_the_field_and_value(
    change: dict[str, Any], loc: str, message: str
) -> None:
    with pytest.raises(rb.ValidationError) as info:
        ImpactMatrix(**{**GOOD, **change})
    matching = [i for i in info.value.issues if i.loc == loc]
    assert matching, f"no issue at {loc}: {info.value}"
    assert any(re.search(message, i.message) for i in matching), str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(rb.ValidationError) as info:
        ImpactMatrix(**{**GOOD, "likelihood_labels": ["L"], "appetite": [["nope"] * 3] * 3})
    locs = {i.loc for i in info.value.issues}
    assert {"likelihood_labels", "appetite[0][0]", "appetite[2][2]"} <= locs


@pytest.mark.parametrize("scale", [0, -1.0, math.inf, math.nan, "1e6", True])
def test_default_scale_must_be_a_positive_amount(scale: Any) -> None:
    with pytest.raises(
        rb.ValidationError, match="scale: must be a positive, finite currency amount"
    ):
        ImpactMatrix.default(scale=scale)


def test_from_edges_checks_edges_and_label_counts() -> None:
    with pytest.raises(
        rb.ValidationError, match=r"likelihood_edges: must be a list of at least 2 numbers"
    ):
        ImpactMatrix.from_edges(
            likelihood_edges=["a", 1],  # type: ignore[list-item]
            likelihood_labels=["x"],
            severity_edges=[0, math.inf],
            severity_labels=["y"],
            appetite=[["accept"]],
        )
    with pytest.raises(
        rb.ValidationError, match=r"severity_labels: must have one label per band \(4\)"
    ):
        ImpactMatrix.from_edges(
            likelihood_edges=[0, 0.2, 0.6, 1],
            likelihood_labels=["L", "M", "H"],
            severity_edges=[0, 1, 2, 3, math.inf],
            severity_labels=["a", "b", "c"],
            appetite=[["accept"] * 4] * 3,
        )


# ------------------------------------------------------------------------ property
@given(
    st.lists(
        st.tuples(
            st.lists(st.integers(0, 2), min_size=10, max_size=10),
            st.floats(0, 1e9, allow_nan=False),
        ),
        min_size=1,
        max_size=8,
    ),
    st.sampled_from(["p90_given_event", "mean_given_event", "tvar99"]),
)
def test_counts_sum_to_the_number_of_scenarios(
    specs: list[tuple[list[int], float]], measure: SeverityMeasure
) -> None:
    years = {
        f"s{i}": (counts, [c * loss for c in counts]) for i, (counts, loss) in enumerate(specs)
    }
    result = constructed(years)
    placed = dataclasses.replace(DEFAULT, severity_measure=measure).place(result, residual=result)
    counts = placed.counts()
    assert int(counts.to_numpy().sum()) == len(specs)
    assert not placed.table["moved"].any()
    for row in placed.table.itertuples():
        assert row.scenario in placed.cell(row.likelihood_band, row.severity_band)
        assert counts.loc[row.likelihood_band, row.severity_band] >= 1

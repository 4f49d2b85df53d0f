"""Mitigations: hand-computed financials, invariants under common random numbers,
the exhaustive optimiser and the card loader."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

import riskbench as rb
from riskbench.mitigation import (
    Mitigation,
    apply_mitigations,
    evaluate_mitigations,
    load_mitigations,
    optimize_mitigations,
)


def certain(sid: str, loss: float) -> rb.Scenario:
    """One event every year of a fixed size: the expected annual loss is exactly ``loss``."""
    return rb.Scenario(
        id=sid,
        title=sid,
        category="other",
        frequency=rb.Bernoulli(p=1.0),
        severity=rb.Constant(loss),
    )


def scenario(frequency: rb.Distribution, severity: rb.Distribution, sid: str = "s") -> rb.Scenario:
    return rb.Scenario(id=sid, title=sid, category="other", frequency=frequency, severity=severity)


# ------------------------------------------------------------------ financials
def test_rosi_npv_payback_match_a_hand_calculation() -> None:
    m = Mitigation(
        id="m",
        name="M",
        scenarios=["a"],
        one_off_cost=3000,
        lifetime_years=3,
        cost_per_year=1000,
        severity_factor=0.5,
    )
    report = evaluate_mitigations(
        rb.Portfolio([certain("a", 10_000)]), [m], trials=1000, seed=3, discount_rate=0.08
    )
    row = report.table.loc["m"]
    assert report.table.loc["baseline", "eal"] == 10_000
    assert row["eal"] == 5000
    assert row["eal_reduction"] == 5000
    assert row["annual_cost"] == 2000  # 1000 + 3000 / 3
    assert row["rosi"] == pytest.approx((5000 - 2000) / 2000)
    # One-off at t=0 and again at t=3 (lifetime 3 < horizon 5); net 4000 a year.
    npv = -3000 - 3000 / 1.08**3 + sum(4000 / 1.08**t for t in range(1, 6))
    assert row["npv"] == pytest.approx(npv)
    assert row["payback_years"] == pytest.approx(3000 / 4000)
    assert report.table.loc["plan", "npv"] == pytest.approx(npv)


def test_insurance_as_a_mitigation_costs_its_premium() -> None:
    m = Mitigation(
        id="cover",
        name="Cover",
        scenarios=["a"],
        insurance=rb.Insurance(per_event=rb.Layer(deductible=1000, limit=5000)),
        premium_per_year=2500,
    )
    row = evaluate_mitigations(
        rb.Portfolio([certain("a", 10_000)]), [m], trials=500, seed=0
    ).table.loc["cover"]
    assert row["eal"] == 5000  # 10000 less the 5000 the layer pays
    assert row["annual_cost"] == 2500
    assert row["rosi"] == pytest.approx((5000 - 2500) / 2500)
    assert row["payback_years"] == 0


def test_a_costly_useless_option_never_pays_back() -> None:
    m = Mitigation(id="m", name="M", scenarios=["a"], cost_per_year=10, frequency_factor=1.0)
    row = evaluate_mitigations(
        rb.Portfolio([certain("a", 100)]), [m], trials=100, seed=0
    ).table.loc["m"]
    assert row["rosi"] == -1
    assert math.isinf(row["payback_years"])


# ------------------------------------------------------------------ invariants
frequencies = st.one_of(
    st.floats(0.05, 3.0).map(lambda r: rb.Poisson(rate=r)),
    st.floats(0.01, 1.0).map(lambda p: rb.Bernoulli(p=p)),
    st.tuples(st.floats(0.5, 5), st.floats(0.1, 3)).map(
        lambda t: rb.NegativeBinomial.from_mean_dispersion(t[1], t[0])
    ),
    st.just(rb.Poisson(rate=rb.Gamma(2, 10))),
)
severities = st.one_of(
    st.floats(1.0, 1e6).map(rb.Constant),
    st.just(rb.LogNormal(low=1e3, high=1e5, conf=0.9)),
    st.just(rb.PERT(100, 400, 2000)),
)
factors = st.floats(0.01, 1.0)


@given(frequencies, severities, factors, factors)
def test_a_free_mitigation_never_increases_losses(
    freq: rb.Distribution, sev: rb.Distribution, f_freq: float, f_sev: float
) -> None:
    pf = rb.Portfolio([scenario(freq, sev), certain("other", 50.0)])
    ms = [
        Mitigation(id="f", name="F", scenarios=["s"], frequency_factor=f_freq),
        Mitigation(id="v", name="V", scenarios=["s"], severity_factor=f_sev),
    ]
    r = evaluate_mitigations(pf, ms, trials=2000, seed=11, workers=1)
    base = r.annual_losses["baseline"]
    uncertain_rate = isinstance(freq, rb.Poisson) and isinstance(freq.rate, rb.Distribution)
    # The severity stream is shared, so fewer events sum fewer of the same draws.
    for name in ("v",) if uncertain_rate else ("f", "v", "plan"):
        assert r.table.loc[name, "eal"] <= r.table.loc["baseline", "eal"] * (1 + 1e-12)
    # Same events, each scaled down: every year is no worse.
    assert np.all(r.annual_losses["v"] <= base + 1e-9)
    if isinstance(sev, rb.Constant) and not uncertain_rate:
        # Counts come by inverse transform: a lower rate never gives more events.
        assert np.all(r.annual_losses["f"] <= base + 1e-9)
        assert np.all(r.annual_losses["plan"] <= base + 1e-9)


@given(frequencies, severities, st.floats(0, 1e5), st.one_of(st.none(), st.floats(1, 1e6)))
def test_insurance_never_increases_the_retained_loss(
    freq: rb.Distribution, sev: rb.Distribution, deductible: float, limit: float | None
) -> None:
    cover = rb.Insurance(
        per_event=rb.Layer(deductible=deductible, limit=limit), annual=rb.Layer(limit=limit)
    )
    m = Mitigation(id="i", name="I", scenarios=["s"], insurance=cover)
    r = evaluate_mitigations(
        rb.Portfolio([scenario(freq, sev)]), [m], trials=2000, seed=5, workers=1
    )
    assert np.all(r.annual_losses["i"] <= r.annual_losses["baseline"] + 1e-9)


def test_factors_on_one_scenario_multiply() -> None:
    s = scenario(rb.Poisson(rate=1.5), rb.Constant(1000.0))
    half = [
        Mitigation(id=f"h{i}", name="Half", scenarios=["s"], severity_factor=0.5) for i in (1, 2)
    ]
    assert apply_mitigations(s, half).severity.mean() == 250.0
    r = evaluate_mitigations(rb.Portfolio([s]), half, trials=3000, seed=2, workers=1)
    np.testing.assert_array_equal(r.annual_losses["plan"], 0.25 * r.annual_losses["baseline"])
    freq = [Mitigation(id=f"f{i}", name="F", scenarios=["s"], frequency_factor=0.5) for i in (1, 2)]
    assert apply_mitigations(s, freq).frequency.mean() == pytest.approx(0.375)


def test_an_uncertain_factor_keeps_its_mean() -> None:
    s = scenario(rb.Poisson(rate=2.0), rb.LogNormal(low=1e3, high=1e5, conf=0.9))
    f = rb.PERT(0.4, 0.6, 0.8)
    changed = apply_mitigations(
        s, [Mitigation(id="u", name="U", scenarios=["s"], frequency_factor=f, severity_factor=f)]
    )
    assert changed.frequency.mean() == pytest.approx(2.0 * 0.6, rel=0.01)
    assert changed.severity.mean() == pytest.approx(s.severity.mean() * 0.6, rel=0.01)


@pytest.mark.parametrize("correlated", [False, True])
def test_reused_columns_equal_a_full_simulation(correlated: bool) -> None:
    # Only the touched scenario is simulated again; with common random numbers the
    # result must equal simulating the whole mitigated portfolio.
    ss = [
        scenario(rb.Poisson(rate=0.8), rb.LogNormal(low=1e3, high=1e5, conf=0.9), sid="a"),
        scenario(rb.Bernoulli(p=0.3), rb.PERT(1e3, 5e3, 2e4), sid="b"),
        scenario(rb.Poisson(rate=0.2), rb.Constant(7e4), sid="c"),
    ]
    pf = rb.Portfolio(ss, [("a", "b", 0.6)] if correlated else None)
    m = Mitigation(id="m", name="M", scenarios=["a"], frequency_factor=0.5, severity_factor=0.7)
    r = evaluate_mitigations(pf, [m], trials=3000, seed=9, workers=1)
    full = rb.simulate(
        pf.with_scenarios([apply_mitigations(s, [m]) for s in ss]), 3000, 9, workers=1
    )
    np.testing.assert_allclose(r.annual_losses["m"], full.annual_loss, rtol=1e-12)


# ------------------------------------------------------------------ the optimiser
def test_optimizer_finds_the_hand_computed_best_set_and_a_clean_frontier() -> None:
    pf = rb.Portfolio([certain("a", 1000), certain("b", 600)])
    ms = [
        Mitigation(id="ma", name="A half", scenarios=["a"], cost_per_year=100, severity_factor=0.5),
        Mitigation(id="mb", name="B half", scenarios=["b"], cost_per_year=100, severity_factor=0.5),
        Mitigation(
            id="mb2", name="B tenth", scenarios=["b"], cost_per_year=150, severity_factor=0.1
        ),
    ]
    res = optimize_mitigations(pf, ms, budget_per_year=250, trials=200, seed=0, workers=1)
    # Affordable: {}, ma, mb, mb2, ma+mb (200), ma+mb2 (250), mb+mb2 (250).
    assert res.n_evaluated == 7
    assert res.best == ("ma", "mb2")
    assert res.best_objective == pytest.approx(500 + 60)
    assert res.baseline_objective == 1600
    assert [tuple(x) for x in res.frontier["mitigations"]] == [
        (),
        ("ma",),
        ("mb2",),
        ("ma", "mb"),
        ("ma", "mb2"),
    ]
    np.testing.assert_allclose(res.frontier["objective"], [1600, 1100, 1060, 800, 560])
    cost, value = res.frontier["annual_cost"].to_numpy(), res.frontier["objective"].to_numpy()
    assert np.all(np.diff(cost) > 0)
    assert np.all(np.diff(value) < 0)
    tail = optimize_mitigations(
        pf, ms, budget_per_year=100, objective="p99", trials=200, seed=0, workers=1
    )
    assert tail.best == ("ma",)
    assert tail.best_objective == pytest.approx(1100)


def test_optimizer_refuses_too_many_options() -> None:
    pf = rb.Portfolio([certain("a", 1)])
    ms = [Mitigation(id=f"m{i}", name="M", scenarios=["a"]) for i in range(3)]
    with pytest.raises(rb.ValidationError, match="max_exact=2"):
        optimize_mitigations(pf, ms, budget_per_year=1, trials=10, seed=0, max_exact=2)


# ------------------------------------------------------------------ validation
@pytest.mark.parametrize(
    ("changes", "loc", "message"),
    [
        ({"one_off_cost": -5}, "one_off_cost", "must be a cost >= 0 (currency), got -5"),
        ({"cost_per_year": -1.0}, "cost_per_year", "got -1.0"),
        ({"frequency_factor": 1.5}, "frequency_factor", "must lie in (0, 1]"),
        ({"severity_factor": 0}, "severity_factor", "got 0"),
        ({"severity_factor": rb.PERT(0.5, 0.9, 1.4)}, "severity_factor", "on [0, 1]"),
        ({"premium_per_year": 10}, "", "insurance is not"),
    ],
)
def test_errors_name_the_field_the_value_and_what_is_allowed(
    changes: dict[str, object], loc: str, message: str
) -> None:
    with pytest.raises(rb.ValidationError) as info:
        Mitigation(id="m", name="M", scenarios=["a"], **changes)
    issue = info.value.issues[0]
    assert issue.loc == loc
    assert message in issue.message


def test_unknown_scenario_ids_are_reported_against_the_portfolio() -> None:
    m = Mitigation(id="m", name="M", scenarios=["a", "nope"])
    with pytest.raises(rb.ValidationError) as info:
        evaluate_mitigations(rb.Portfolio([certain("a", 1)]), [m], trials=10, seed=0)
    assert str(info.value) == (
        "mitigations[0] (m).scenarios: unknown scenario id 'nope'; known ids: ['a']"
    )


def test_the_example_mitigations_load_and_evaluate(example_portfolio: rb.Portfolio) -> None:
    ms = load_mitigations("examples/mitigations.yaml", portfolio=example_portfolio)
    assert 6 <= len(ms) <= 10
    r = evaluate_mitigations(example_portfolio, ms, trials=4000, seed=1, workers=1)
    assert r.table.loc["plan", "eal"] < r.table.loc["baseline", "eal"]


def test_the_loader_locates_every_problem(tmp_path: Path) -> None:
    card = tmp_path / "bad.yaml"
    card.write_text(
        "mitigations:\n"
        "  - {id: ok, name: OK, scenarios: [a]}\n"
        "  - {id: neg, name: N, scenarios: [a], cost_per_year: -3}\n"
        "  - {id: fac, name: F, scenarios: [a], severity_factor: {dist: pert, low: 0.5, mode: 1, high: 2}}\n"
    )
    with pytest.raises(rb.ValidationError) as info:
        load_mitigations(card)
    assert [i.loc for i in info.value.issues] == [
        "mitigations[1] (neg).cost_per_year",
        "mitigations[2] (fac).severity_factor",
    ]
    assert str(info.value).splitlines()[1].startswith("  bad.yaml: mitigations[1] (neg)")


# ------------------------------------------------------------------ risk-tolerance curve
def tolerance_case() -> tuple[rb.Portfolio, list[Mitigation]]:
    # a: 1000 with probability 0.2; b: 300 with probability 0.5 (independent).
    pf = rb.Portfolio(
        [
            scenario(rb.Bernoulli(p=0.2), rb.Constant(1000.0), "a"),
            scenario(rb.Bernoulli(p=0.5), rb.Constant(300.0), "b"),
        ]
    )
    ms = [
        Mitigation(
            id="ma-freq", name="A rarer", scenarios=["a"], cost_per_year=100, frequency_factor=0.4
        ),
        Mitigation(
            id="ma-sev", name="A smaller", scenarios=["a"], cost_per_year=50, severity_factor=0.4
        ),
        Mitigation(
            id="mb", name="B rarer", scenarios=["b"], cost_per_year=60, frequency_factor=0.4
        ),
        # The same effect as ma-sev, dearer: a tie the cost must break.
        Mitigation(
            id="ma-sev-dear",
            name="A smaller, dear",
            scenarios=["a"],
            cost_per_year=95,
            severity_factor=0.4,
        ),
    ]
    return pf, ms


CURVE = [(200.0, 0.5), (500.0, 0.1)]  # at most 1 year in 2 above 200, 1 in 10 above 500


def test_tolerance_objective_matches_the_hand_computed_exceedances() -> None:
    pf, ms = tolerance_case()
    res = optimize_mitigations(
        pf,
        ms,
        budget_per_year=200,
        objective="tolerance",
        tolerance=CURVE,
        trials=40_000,
        seed=3,
        workers=1,
    )
    # P(L > 200) = 1 - 0.8 * 0.5 = 0.6 (ratio 1.2); P(L > 500) = 0.2 (ratio 2).
    assert res.baseline_objective == pytest.approx(2.0, abs=0.06)
    # ma-sev + mb: a is 400, b has p = 0.2: P(L > 200) = 1 - 0.8 * 0.8 = 0.36 (0.72),
    # P(L > 500) = 0.2 * 0.2 = 0.04 (0.4). ma-sev-dear + mb ties exactly; it costs more.
    assert res.best == ("ma-sev", "mb")
    assert res.best_objective == pytest.approx(0.72, abs=0.02)
    assert res.within_tolerance is True
    assert res.tolerance is not None
    np.testing.assert_allclose(res.tolerance["exceedance"], [0.36, 0.04], atol=0.01)
    # The reported exceedances are exactly those of the simulated years.
    plan = evaluate_mitigations(pf, ms, trials=40_000, seed=3, plan=list(res.best), workers=1)
    losses = plan.annual_losses["plan"]
    exact = [float((losses > 200).mean()), float((losses > 500).mean())]
    assert list(res.tolerance["exceedance"]) == exact
    assert res.best_objective == max(exact[0] / 0.5, exact[1] / 0.1)
    # The frontier is still non-dominated: dearer sets are strictly better.
    assert [tuple(x) for x in res.frontier["mitigations"]] == [
        (),
        ("ma-sev",),
        ("ma-freq",),
        ("ma-sev", "mb"),
    ]
    cost, value = res.frontier["annual_cost"].to_numpy(), res.frontier["objective"].to_numpy()
    assert np.all(np.diff(cost) > 0)
    assert np.all(np.diff(value) < 0)
    np.testing.assert_allclose(value, [2.0, 1.2, 1.08, 0.72], atol=0.06)


def test_tolerance_says_when_no_affordable_set_is_within_it() -> None:
    pf, ms = tolerance_case()
    frame = pd.DataFrame({"loss": [200.0, 500.0], "probability": [0.5, 0.1]})
    res = optimize_mitigations(
        pf,
        ms,
        budget_per_year=100,
        objective="tolerance",
        tolerance=frame,
        trials=40_000,
        seed=3,
        workers=1,
    )
    # ma-freq: P(L > 200) = 1 - 0.92 * 0.5 = 0.54 (1.08), P(L > 500) = 0.08 (0.8).
    assert res.best == ("ma-freq",)
    assert res.best_objective == pytest.approx(1.08, abs=0.03)
    assert res.within_tolerance is False
    mean = optimize_mitigations(pf, ms, budget_per_year=100, trials=100, seed=3, workers=1)
    assert mean.within_tolerance is None
    assert mean.tolerance is None


@pytest.mark.parametrize(
    ("tolerance", "loc", "message"),
    [
        ([(500.0, 0.1), (200.0, 0.05)], "tolerance[1]", "losses must increase"),
        ([(200.0, 0.1), (500.0, 0.5)], "tolerance[1]", "probabilities must not increase"),
        ([(200.0, 0.0)], "tolerance[0]", "probability must lie in (0, 1]"),
        ([(200.0, 5)], "tolerance[0]", "got 5.0"),
        ([(-1.0, 0.5)], "tolerance[0]", "loss must be a finite amount >= 0"),
        ([(200.0,)], "tolerance[0]", "must be a (loss, probability) pair"),
        ([], "tolerance", "at least one"),
        (pd.DataFrame({"loss": [1.0]}), "tolerance", "missing ['probability']"),
        (None, "tolerance", "needs a tolerance="),
    ],
)
def test_tolerance_curve_errors(tolerance: Any, loc: str, message: str) -> None:
    pf, ms = tolerance_case()
    with pytest.raises(rb.ValidationError) as info:
        optimize_mitigations(
            pf,
            ms,
            budget_per_year=100,
            objective="tolerance",
            tolerance=tolerance,
            trials=10,
            seed=0,
        )
    issue = info.value.issues[0]
    assert issue.loc == loc
    assert message in issue.message


def test_tolerance_needs_the_tolerance_objective() -> None:
    pf, ms = tolerance_case()
    with pytest.raises(rb.ValidationError, match="only with objective='tolerance'"):
        optimize_mitigations(pf, ms, budget_per_year=1, tolerance=CURVE, trials=10, seed=0)

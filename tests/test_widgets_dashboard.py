"""The executive dashboard, headless: what it shows is the core's number for the same
inputs, and two visitors never share state."""

from __future__ import annotations

import threading

import pytest

import riskbench as rb
from helpers import ROOT
from riskbench.mitigation import apply_mitigations
from riskbench.widgets.dashboard import Dashboard

TRIALS, SEED = 5_000, 4


@pytest.fixture(scope="module")
def result() -> rb.SimulationResult:
    res = rb.simulate(rb.load_portfolio(ROOT / "examples" / "register.yaml"), TRIALS, SEED)
    assert isinstance(res, rb.SimulationResult)
    return res


def _dashboard(result: rb.SimulationResult) -> Dashboard:
    return Dashboard(org="headless", result=result, trials=TRIALS)


def test_loaded_result_is_shown_without_simulating(result: rb.SimulationResult) -> None:
    d = _dashboard(result)
    assert d.headline == f"EUR {result.var(0.99):,.0f}"


def test_what_if_is_the_cores_number(result: rb.SimulationResult) -> None:
    d = _dashboard(result)
    plan = [
        m for m in rb.load_mitigations(ROOT / "examples" / "mitigations.yaml") if m.id == "edr-mdr"
    ]
    run = d.apply(plan=["edr-mdr"])
    mitigated = result.portfolio.with_scenarios(
        [apply_mitigations(s, plan) for s in result.portfolio.scenarios]
    )
    expected = rb.simulate(mitigated, trials=TRIALS, seed=SEED).var(0.99)
    assert run.var(0.99) == expected
    assert d.headline == f"EUR {expected:,.0f}"
    stressed = d.apply(scenario="plant-fire", frequency_factor=2.0)
    core = rb.stress(
        result.portfolio,
        [rb.ScaleFrequency("plant-fire", 2.0, cap=True)],
        trials=TRIALS,
        seed=SEED,
        mitigations=plan,
    ).stressed
    assert stressed.var(0.99) == core.var(0.99)


def test_two_visitors_do_not_share_state(result: rb.SimulationResult) -> None:
    first, second = _dashboard(result), _dashboard(result)
    first.apply(severity_factor=3.0, plan=["immutable-backups"])
    assert second.headline == f"EUR {result.var(0.99):,.0f}"
    assert second.what_if.plan == []
    assert second.what_if.severity_factor == 1.0
    assert first._frequency is not second._frequency  # widgets built per instance
    assert first.chart is not second.chart


def test_cancel_stops_a_long_what_if_and_keeps_the_numbers(result: rb.SimulationResult) -> None:
    long = 10_000_000  # about a minute on two cores if it were not cancelled
    d = Dashboard(org="headless", result=result, trials=long)
    before = d.headline
    moving = threading.Event()
    d._progress.param.watch(lambda e: moving.set() if e.new > 0 else None, "value")
    thread = d.apply_in_background(severity_factor=3.0)
    assert moving.wait(60), "the what-if never reported progress"
    assert d._progress.visible
    assert not d._cancel.disabled
    d._cancel.clicks += 1  # the visitor clicks Cancel
    thread.join(60)
    assert not thread.is_alive()
    assert d._progress.value < long  # stopped early
    assert d.headline == before  # the previous numbers stay
    assert "cancelled" in d._note.object
    assert not d._progress.visible
    assert d._cancel.disabled
    # The next what-if runs to the end, with the bar full.
    d.trials = TRIALS
    run = d.apply(severity_factor=3.0)
    assert run is not None
    assert d.headline == f"EUR {run.var(0.99):,.0f}"
    assert d._progress.value == TRIALS
    assert d._note.object == ""

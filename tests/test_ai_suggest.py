"""Suggested scenarios: from the dependency graph, the incident history and the
archetype library; duplicates flagged; every suggestion a valid card that simulates."""

from __future__ import annotations

import math
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

import riskbench as rb
from helpers import ROOT
from riskbench.ai.context import OrgContext, OrgProfile, load_context
from riskbench.ai.suggest import single_points_of_failure, suggest_scenarios
from riskbench.sampledata import write_sample_data

COMPANY = ROOT / "examples" / "company.yaml"


@pytest.fixture(scope="module")
def incidents() -> pd.DataFrame:
    files = write_sample_data(tempfile.mkdtemp(), seed=2026, years=6)
    return pd.read_csv(files["incidents"], keep_default_na=False)


@pytest.fixture(scope="module")
def context(incidents: pd.DataFrame) -> OrgContext:
    return replace(load_context(COMPANY), incidents=incidents)


@pytest.fixture(scope="module")
def found(context: OrgContext) -> rb.ai.suggest.Suggestions:
    return suggest_scenarios(context, n=12, llm=False)


# -- (a) the dependency graph ------------------------------------------------------------
def test_single_source_supplier_becomes_an_outage_scenario(context: OrgContext) -> None:
    """A company without a register yet: the graph's single-source supplier yields an
    outage scenario whose severity is the graph's propagated lost revenue."""
    fresh = replace(context, portfolio=None)
    found = suggest_scenarios(fresh, n=12, llm=False)
    by_id = {s.id: s for s in found}
    s = by_id["outage-valve-forgings"]
    assert s.origin == "graph"
    assert s.scenario.assets == ("valve-forgings",)
    assert s.scenario.category == "supply-chain"
    assert "single point of failure" in s.rationale
    graph = context.graph
    assert graph is not None
    # Severity: a PERT whose ends are the graph's loss for the shortest and the longest
    # outage (30 and 270 days for a single-source supplier), recomputed here one outage
    # at a time, and whose mean is the mean loss over the uncertain outage length.
    sev = s.scenario.severity
    assert isinstance(sev, rb.PERT)
    assert sev.low == pytest.approx(graph.outage("valve-forgings", 30).total_lost_revenue, abs=50)
    assert sev.high == pytest.approx(graph.outage("valve-forgings", 270).total_lost_revenue, abs=50)
    exact = graph.outage_loss_distribution("valve-forgings", rb.PERT(30, 90, 270))
    assert sev.mean() == pytest.approx(exact.mean(), rel=1e-3)
    # Not only the mean: the quantiles agree with the propagated distribution.
    q = np.array([0.1, 0.5, 0.9])
    np.testing.assert_allclose(sev.ppf(q), exact.ppf(q), rtol=0.15)
    # The narrative traces the graph: the hydraulic valves line is what it stops.
    assert "hydraulic valves" in s.scenario.narrative


def test_single_points_of_failure_are_the_big_nodes(context: OrgContext) -> None:
    graph = context.graph
    assert graph is not None
    found = {n.id: share for n, share in single_points_of_failure(graph)}
    # The plants feed products directly; the single-source supplier is in by definition.
    assert {"plant-riverside", "plant-poland", "valve-forgings"} <= set(found)
    # A supplier with alternatives and buffers downstream loses nothing in 21 days.
    assert "steel-mill" not in found
    lost = graph.outage("plant-riverside", 30).total_lost_revenue
    assert found["plant-riverside"] == pytest.approx(lost / (graph.revenue_per_day * 30))


def test_with_the_register_the_supplier_outage_is_a_flagged_duplicate(found: Any) -> None:
    dup = {d.id: d for d in found.duplicates}
    # The register's single-source-supplier-failure already covers valve-forgings.
    assert dup["outage-valve-forgings"].duplicate_of == "single-source-supplier-failure"
    assert "outage-valve-forgings" not in {s.id for s in found}


def test_regional_concentration_joins_the_suppliers_of_a_region(context: OrgContext) -> None:
    fresh = replace(context, portfolio=None)
    found = suggest_scenarios(fresh, n=40, llm=False)
    regional = [s for s in found if s.id.startswith("regional-supply-disruption-")]
    assert regional, [s.id for s in found]
    for s in regional:
        assert s.scenario.assets
        assert all(context.graph.node(a).kind == "supplier" for a in s.scenario.assets)
        assert "of revenue depends on" in s.rationale


# -- (b) the incident history ----------------------------------------------------------
def test_uncovered_incidents_get_calibrated_frequency_and_fitted_severity() -> None:
    losses = np.array(
        [
            12_000,
            30_000,
            8_000,
            55_000,
            21_000,
            17_000,
            40_000,
            9_500,
            26_000,
            14_000,
            33_000,
            19_000,
        ],
        dtype=float,
    )
    days = pd.date_range("2021-01-15", periods=12, freq="120D")  # 2021 to 2024
    table = pd.DataFrame(
        {
            "occurred_on": days,
            "category": "operational",
            "scenario_id": "",
            "loss": losses,
            "description": [f"press {i} breakdown" for i in range(12)],
        }
    )
    profile = OrgProfile(name="Test", industry="manufacturing", regions=("EU",), annual_revenue=1e8)
    found = suggest_scenarios(OrgContext(profile, incidents=table), n=10, llm=False)
    s = {x.id: x for x in found}["recurring-operational-incidents"]
    assert s.origin == "incidents"
    years = days.year.max() - days.year.min() + 1
    # Gamma(0.5, 0.05) prior, 12 events in `years` years: posterior mean (0.5+12)/(0.05+years)
    assert s.scenario.frequency.mean() == pytest.approx((0.5 + 12) / (0.05 + years))
    logs = np.log(losses)
    assert s.scenario.severity.mu == pytest.approx(logs.mean(), abs=1e-4)
    assert s.scenario.severity.sigma == pytest.approx(logs.std(ddof=1), abs=1e-4)
    assert "press breakdown" in s.scenario.narrative
    assert "12 incidents" in s.rationale


# -- (c) archetypes, matched to industry and region ---------------------------------------
def test_archetypes_follow_industry_and_region() -> None:
    us_health = OrgProfile(
        name="Clinic", industry="healthcare", regions=("US",), currency="USD", annual_revenue=2e8
    )
    ids = {s.id for s in suggest_scenarios(OrgContext(us_health), n=60, llm=False)}
    assert "hipaa-breach-enforcement" in ids
    assert "nis2-noncompliance" not in ids
    assert "gdpr-enforcement-fine" not in ids
    eu_maker = OrgProfile(
        name="Maker", industry="manufacturing", regions=("EU",), annual_revenue=2e8
    )
    ids = {s.id for s in suggest_scenarios(OrgContext(eu_maker), n=60, llm=False)}
    assert "nis2-noncompliance" in ids
    assert "hipaa-breach-enforcement" not in ids


def test_no_revenue_means_no_archetypes_but_a_clear_result() -> None:
    profile = OrgProfile(name="Unknown size", industry="retail", regions=("EU",))
    found = suggest_scenarios(OrgContext(profile), n=5, llm=False)
    assert len(found) == 0


# -- validity, duplicates, variety -------------------------------------------------------
def test_every_suggestion_is_a_valid_card_that_simulates(found: Any, tmp_path: Path) -> None:
    assert len(found) == 12
    path = found.save(tmp_path / "suggested.yaml")
    loaded = rb.load_portfolio(path)
    assert loaded == found.portfolio()
    text = path.read_text()
    assert text.count("\n  # ") == 12  # each card says where it came from
    exact = rb.simulate(loaded, engine="fft")
    for s in found:
        mean = float(exact.summary().loc[s.id, "mean"])
        assert mean == pytest.approx(s.expected_annual_loss, rel=1e-3), s.id
        assert s.narrative is not None
        assert s.narrative.grounding.ok, s.id
        assert s.scenario.narrative
        assert s.scenario.assumptions
        assert all(a.source for a in s.scenario.assumptions), s.id
    mc = rb.simulate(loaded, trials=20_000, seed=1)
    assert np.isfinite(mc.annual_loss).all()
    assert mc.annual_loss.mean() > 0


def test_duplicates_are_flagged_not_proposed(found: Any, context: OrgContext) -> None:
    existing = set(context.portfolio.ids)
    proposed = {s.id for s in found}
    assert not proposed & existing
    dup = {d.id: d.duplicate_of for d in found.duplicates}
    assert dup["ransomware-core-systems"] == "ransomware-erp"
    assert dup["gdpr-enforcement-fine"] == "gdpr-fine"
    assert dup["plant-fire-2"] == "plant-fire"
    for d in found.duplicates:
        assert d.duplicate_of in existing
        assert d.id not in proposed
        dupe = context.portfolio[d.duplicate_of]
        assert dupe.category == d.scenario.category


def test_a_varied_selection(found: Any) -> None:
    origins = [s.origin for s in found]
    assert origins.count("graph") == 4  # a third of 12
    assert origins.count("incidents") >= 2
    categories = {s.scenario.category for s in found}
    assert len(categories) >= 5
    assert len({s.id for s in found}) == len(found)


def test_bad_input_is_named(context: OrgContext) -> None:
    with pytest.raises(rb.ValidationError, match=r"n: must be a whole number from 1 to 200, got 0"):
        suggest_scenarios(context, n=0, llm=False)
    with pytest.raises(rb.ValidationError, match="workspace_or_context: must be an OrgContext"):
        suggest_scenarios("northwind", llm=False)
    with pytest.raises(rb.ValidationError, match=r"profile.industry: must be one of"):
        OrgProfile.from_dict({"name": "x", "industry": "mining", "regions": ["EU"]})
    with pytest.raises(rb.ValidationError, match=r"profile.regions"):
        OrgProfile.from_dict({"name": "x", "industry": "retail", "regions": "EU"})


# -- with a model: the crew drafts ---------------------------------------------------------
@pytest.mark.filterwarnings(r"ignore::DeprecationWarning:crewai(\..*)?")
def test_with_a_model_the_crew_drafts_and_offline_fills(
    context: OrgContext, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RISKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKBENCH_LLM", raising=False)
    from riskbench.ai.llm import import_crewai

    import_crewai()
    import crew_double as double

    llm = double.ScriptedLLM(
        model="scripted/test",
        answers={
            "analyst": ["1. A flood at the Polish plant."],
            "quant": [double.cards_answer(double.card("flood-plant-poland", category="climate"))],
            "reviewer": [double.review_answer()],
        },
    )
    found = suggest_scenarios(context, n=4, llm=llm)
    assert found.method == "crew:scripted/test"
    assert found[0].id == "flood-plant-poland"
    assert found[0].origin == "crew"
    assert [s.origin for s in found[1:]] == ["graph", "graph", "incidents"]
    assert any("fill the rest" in note for note in found.notes)
    prompts = double_text(llm)
    # The crew saw this organisation's context and its own retrieved scenarios ...
    assert "Northwind Components" in prompts
    assert any(s.title in prompts for s in context.portfolio.scenarios)
    # ... and the offline candidates' figures as evidence.
    assert "outage-plant-riverside" in prompts


def double_text(llm: Any) -> str:
    return llm.received_text()


# -- the workspace path ----------------------------------------------------------------------
@pytest.mark.db
def test_from_a_workspace(pg_home: Path, incidents: pd.DataFrame) -> None:
    from riskbench.graph.assets import save_graph_assets
    from riskbench.workspace import PermissionDenied, Workspace

    profile = load_context(COMPANY).profile
    portfolio = rb.load_portfolio(ROOT / "examples" / "register.yaml")
    graph = rb.DependencyGraph.from_yaml(ROOT / "examples" / "dependencies.yaml")
    with Workspace(org="suggest-a", user="ada", home=pg_home) as ws:
        assert ws.profile() is None
        with pytest.raises(rb.ValidationError, match="has no profile"):
            suggest_scenarios(ws, llm=False)
        ws.set_profile(profile)
        assert ws.profile() == profile
        ws.bulk_load_scenarios(portfolio.scenarios)
        save_graph_assets(graph, ws)
        ws.add_member("vic", "viewer")
        found = suggest_scenarios(ws, n=8, llm=False)
    assert not {s.id for s in found} & set(portfolio.ids)
    assert {d.duplicate_of for d in found.duplicates} >= {"ransomware-erp", "gdpr-fine"}
    assert any(s.origin == "graph" for s in found)
    with Workspace(org="suggest-a", user="vic", home=pg_home) as viewer:
        assert viewer.profile() == profile
        with pytest.raises(PermissionDenied):
            viewer.set_profile(replace(profile, employees=1))
    # another organisation sees neither the profile nor the scenarios
    with Workspace(org="suggest-b", user="bob", home=pg_home) as other:
        assert other.profile() is None
        assert other.scenarios() == []


def test_yaml_comments_survive_and_reload(found: Any) -> None:
    text = found.to_yaml()
    again = rb.Portfolio.from_yaml(text)
    assert again.ids == found.portfolio().ids
    assert math.isclose(
        sum(s.expected_annual_loss() for s in again.scenarios),
        sum(s.expected_annual_loss for s in found),
        rel_tol=1e-9,
    )


@pytest.mark.db
@pytest.mark.filterwarnings(r"ignore::DeprecationWarning:crewai(\..*)?")
def test_prompts_from_a_workspace_hold_no_other_organisations_data(
    pg_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two organisations in one database: the crew drafting for one is never sent the
    other's scenarios, although both are stored side by side and the similarity search
    runs over the same table."""
    from riskbench.ai.llm import import_crewai
    from riskbench.workspace import Workspace

    monkeypatch.setenv("RISKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKBENCH_LLM", raising=False)
    secret = "Tailings dam breach at the Quellbrunn quarry"
    with Workspace(org="privacy-b", user="bea", home=pg_home) as other:
        other.save_scenario(
            rb.Scenario(
                id="dam-breach",
                title=secret,
                category="operational",
                frequency=rb.Poisson(rate=0.02),
                severity=rb.Constant(5e7),
                narrative="Ransomware encrypts the ERP and the dam breaks.",
            )
        )
    import_crewai()
    import crew_double as double

    llm = double.ScriptedLLM(
        model="scripted/test",
        answers={
            "analyst": ["1. A flood at the Polish plant."],
            "quant": [double.cards_answer(double.card("flood-plant-poland", category="climate"))],
            "reviewer": [double.review_answer()],
        },
    )
    portfolio = rb.load_portfolio(ROOT / "examples" / "register.yaml")
    with Workspace(org="privacy-a", user="ada", home=pg_home) as ws:
        ws.set_profile(load_context(COMPANY).profile)
        ws.bulk_load_scenarios(portfolio.scenarios)
        found = suggest_scenarios(ws, n=3, llm=llm)
    sent = llm.received_text()
    assert found.method == "crew:scripted/test"
    assert "Northwind Components" in sent
    assert any(s.title in sent for s in portfolio.scenarios)
    assert secret not in sent
    assert "Quellbrunn" not in sent
    assert "dam-breach" not in sent

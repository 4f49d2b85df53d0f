"""The scenario wizard (widgets/wizard.py), headless: fields in, riskbench objects out."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import panel as pn
import pytest
from bokeh.resources import INLINE

import riskbench as rb
from helpers import EXAMPLE_CARD, external_resources
from riskbench.calibration import gamma_from_interval
from riskbench.widgets.wizard import ScenarioWizard, slug

CDNS = ("cdn.bokeh.org", "cdn.jsdelivr", "unpkg.com")


def elicited_card() -> rb.Portfolio:
    """A card whose distributions are all of the kinds the wizard elicits."""
    ransomware = rb.Scenario(
        id="ransomware-erp",
        title="Ransomware encrypts the ERP",
        category="cyber",
        owner="CISO",
        assets=("erp", "mes"),
        frequency=rb.Poisson(rate=gamma_from_interval(0.1, 0.5)),
        severity=rb.LogNormal.from_ci(500_000, 15e6),
        narrative="A criminal group encrypts the ERP.",
        assumptions=(
            rb.Assumption(name="rate", text="once in five years", rationale="sector data"),
            rb.Assumption(name="loss", text="two weeks of downtime", source="BIA 2025"),
        ),
        insurance=rb.Insurance(per_event=rb.Layer(deductible=500_000, limit=10e6)),
    )
    fire = rb.Scenario(
        id="plant-fire",
        title="Fire at the main plant",
        category="operational",
        frequency=rb.Bernoulli(p=0.02),
        severity=rb.PERT(1e6, 5e6, 40e6),
    )
    fraud = rb.Scenario(
        id="bec-fraud",
        title="Payment fraud",
        category="financial",
        frequency=rb.Poisson(rate=2.0),
        severity=rb.LogNormal.from_ci(10_000, 400_000),
    )
    return rb.Portfolio(
        [ransomware, fire, fraud],
        [("ransomware-erp", "bec-fraud", 0.3)],
        name="Test register",
        currency="EUR",
    )


def fill_basics(w: ScenarioWizard, title: str = "Ransomware encrypts the ERP") -> None:
    w.title_input.value = title
    w.category_select.value = "cyber"


def test_interval_fields_give_lognormal_and_gamma_rate() -> None:
    w = ScenarioWizard()
    fill_basics(w)
    assert w.id_input.value == "ransomware-encrypts-the-erp"  # suggested from the title
    w.owner_input.value = "CISO"
    w.assets_input.value = "erp, mes"
    w.frequency_mode.value = "rate"
    w.rate_input.value = 0.2
    w.rate_low_input.value = 0.05
    w.rate_high_input.value = 1.0
    w.severity_mode.value = "interval"
    w.ci_low_input.value = 500_000.0
    w.ci_high_input.value = 15e6

    expected = rb.Scenario(
        id="ransomware-encrypts-the-erp",
        title="Ransomware encrypts the ERP",
        category="cyber",
        owner="CISO",
        assets=("erp", "mes"),
        frequency=rb.Poisson(rate=gamma_from_interval(0.05, 1.0)),
        severity=rb.LogNormal.from_ci(500_000, 15e6),
    )
    assert w.errors == {}
    assert w.scenario == expected
    assert w.scenario.to_dict() == expected.to_dict()
    np.testing.assert_allclose(w.scenario.severity.ppf([0.05, 0.95]), [500_000, 15e6])
    np.testing.assert_allclose(w.scenario.frequency.rate.ppf([0.05, 0.95]), [0.05, 1.0])

    # The preview is the distributions' own closed forms.
    preview = w.preview()["value"]
    sev, freq = expected.severity, expected.frequency
    assert preview["loss per event: mean"] == pytest.approx(sev.mean())
    np.testing.assert_allclose(
        preview[["loss per event: 5%", "loss per event: 50%", "loss per event: 95%"]],
        sev.ppf([0.05, 0.5, 0.95]),
    )
    assert preview["events a year: mean"] == pytest.approx(freq.mean())
    assert preview["chance of at least one in a year"] == pytest.approx(float(freq.prob_exceeds(0)))
    assert preview["expected annual loss"] == pytest.approx(expected.expected_annual_loss())
    assert "EUR" in w.preview_pane.object

    # A best guess alone is a fixed rate.
    w.rate_low_input.value = None
    w.rate_high_input.value = None
    assert w.scenario.frequency == rb.Poisson(rate=0.2)


def test_pert_and_chance_in_a_year() -> None:
    w = ScenarioWizard()
    fill_basics(w, "Fire at the main plant")
    w.category_select.value = "operational"
    w.frequency_mode.value = "chance"
    w.chance_input.value = 3.0
    w.severity_mode.value = "pert"
    w.pert_low_input.value = 1e6
    w.pert_mode_input.value = 5e6
    w.pert_high_input.value = 40e6
    i = w.add_assumption()
    w.assumption_rows[i]["name"].value = "frequency"
    w.assumption_rows[i]["text"].value = "one fire in 30 years across the sector"
    w.assumption_rows[i]["source"].value = "insurer survey"
    w.add_assumption()  # an empty row is ignored
    s = w.scenario
    assert s == rb.Scenario(
        id="fire-at-the-main-plant",
        title="Fire at the main plant",
        category="operational",
        frequency=rb.Bernoulli(p=0.03),
        severity=rb.PERT(1e6, 5e6, 40e6),
        assumptions=(
            rb.Assumption(
                name="frequency",
                text="one fire in 30 years across the sector",
                source="insurer survey",
            ),
        ),
    )
    assert s.frequency.p == 0.03
    assert w.preview()["value"]["chance of at least one in a year"] == pytest.approx(0.03)

    w.remove_assumption(0)
    assert w.scenario.assumptions == ()
    assert len(w.assumption_rows) == 1


def test_errors_are_shown_next_to_their_fields() -> None:
    card = elicited_card()
    w = ScenarioWizard(card["ransomware-erp"])
    assert w.errors == {}
    w.ci_high_input.value = 100_000.0  # below the low end
    assert w.scenario is None
    assert set(w.errors) == {"severity.high"}
    message = w.errors["severity.high"]
    assert "greater than low" in message
    pane = w.error_pane("severity.high")
    assert pane.visible
    assert message in pane.object
    assert pane is w._sev_panes["interval"]["severity.high"]  # under the high field
    assert w.draft_button.disabled
    assert w.save_yaml_button.disabled
    with pytest.raises(rb.ValidationError, match=r"severity\.high"):
        w.save_yaml("never-written.yaml")
    assert not Path("never-written.yaml").exists()

    w.ci_high_input.value = 15e6  # fixed: the pane clears
    assert w.errors == {}
    assert not pane.visible
    assert w.scenario == card["ransomware-erp"]

    # Each problem goes to its own field, all at once.
    w.id_input.value = "Bad Id"
    w.title_input.value = ""
    w.frequency_mode.value = "chance"
    w.chance_input.value = 300.0
    w.severity_mode.value = "pert"
    w.pert_low_input.value = 10.0
    w.pert_mode_input.value = 50.0
    w.pert_high_input.value = 40.0
    assert set(w.errors) == {"id", "title", "frequency.p", "severity.mode"}
    assert "percentage" in w.errors["frequency.p"]
    for loc, message in w.errors.items():
        assert w.error_pane(loc).visible
        assert message.split("(")[0] in w.error_pane(loc).object

    # A best guess outside its interval, an interval missing an end.
    w.frequency_mode.value = "rate"
    w.rate_input.value = 2.0
    w.rate_low_input.value = 0.1
    w.rate_high_input.value = 0.5
    assert "within the 90% interval" in w.errors["frequency.rate"]
    w.rate_high_input.value = None
    assert "both ends" in w.errors["frequency.high"]

    # A row's problem goes to the row.
    i = w.add_assumption(text="no name")
    assert w.errors[f"assumptions[{i}].name"] == "is required"
    assert w.assumption_rows[i]["error"].visible
    assert w.assumption_rows[i]["error"].object == "name: is required"


def test_load_round_trips_a_card_of_elicited_kinds(tmp_path: Path) -> None:
    path = tmp_path / "card.yaml"
    rb.save_portfolio(elicited_card(), path)
    p = rb.load_portfolio(path)
    w = ScenarioWizard()
    for sid in p.ids:
        w.load(p[sid])
        assert w.scenario == p[sid], sid
        assert w.frequency_locked_note.object == ""
        assert w.severity_locked_note.object == ""

    w.load(p["ransomware-erp"])
    # The fields show what the expert said.
    assert (w.ci_low_input.value, w.ci_high_input.value) == (500_000, 15e6)
    assert (w.rate_low_input.value, w.rate_high_input.value) == pytest.approx((0.1, 0.5))
    assert w.owner_input.value == "CISO"
    assert w.assets_input.value == "erp, mes"
    assert [r["name"].value for r in w.assumption_rows] == ["rate", "loss"]
    # Editing and undoing the edit gives the original back; insurance is kept.
    w.title_input.value = "Ransomware"
    assert w.id_input.value == "ransomware-erp"  # a loaded id is not re-suggested
    assert w.scenario == p["ransomware-erp"].with_(title="Ransomware")
    w.title_input.value = p["ransomware-erp"].title
    w.ci_high_input.value = 20e6
    w.ci_high_input.value = 15e6
    assert w.scenario == p["ransomware-erp"]

    # Also from the constructor, and the example register's scenario.
    example = rb.load_portfolio(EXAMPLE_CARD)["ransomware-erp"]
    assert ScenarioWizard(example).scenario == example
    w = ScenarioWizard(p["plant-fire"])
    assert (w.frequency_mode.value, w.chance_input.value) == ("chance", 2.0)
    assert w.severity_mode.value == "pert"


def test_other_kinds_are_kept_read_only() -> None:
    mixed = rb.Scenario(
        id="mixed",
        title="Mixed",
        category="other",
        frequency=rb.NegativeBinomial(r=2, p=0.5),
        severity=rb.Mixture([(0.9, rb.Constant(1_000.0)), (0.1, rb.LogNormal.from_ci(1e4, 1e6))]),
    )
    w = ScenarioWizard(mixed)
    assert w.scenario == mixed
    assert "Kept as it is" in w.severity_locked_note.object
    assert "Kept as it is" in w.frequency_locked_note.object
    assert not w._sev_inputs.visible
    assert w._sev_locked_box.visible
    w.reelicit("severity")
    assert isinstance(w.scenario.severity, rb.LogNormal)
    np.testing.assert_allclose(
        w.scenario.severity.ppf([0.05, 0.95]), mixed.severity.ppf([0.05, 0.95]), rtol=1e-5
    )
    w.frequency_reelicit.clicks += 1  # the button calls the same method
    assert w.scenario.frequency == rb.Poisson(rate=mixed.frequency.mean())


def test_draft_narrative_is_the_offline_narrator(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISKBENCH_LLM", raising=False)
    card = elicited_card()
    w = ScenarioWizard(card["plant-fire"])
    before = w.scenario
    narrative = w.draft_narrative()
    expected = rb.narrate(before, llm=False)
    assert w.narrative_input.value == expected.text == narrative.text
    assert "template" in w.draft_note.object
    assert w.scenario == before.with_(narrative=expected.text)

    # Not offered while the scenario is not valid.
    w.pert_high_input.value = None
    assert w.draft_button.disabled
    with pytest.raises(rb.ValidationError, match=r"severity\.high"):
        w.draft_narrative()


def test_quick_simulation_matches_riskbench() -> None:
    card = elicited_card()
    w = ScenarioWizard(card["ransomware-erp"], seed=0)
    row = w.quick_simulation()
    expected = rb.simulate(card["ransomware-erp"], trials=20_000, seed=0).summary()
    pd.testing.assert_series_equal(row, expected.loc["ransomware-erp"])
    assert rb.plotting.format_money(row["p99"], "EUR") in w.simulation_pane.object
    assert w.exceedance_pane.visible

    w.seed = 7
    w.simulate_button.clicks += 1  # the button runs the same method
    again = rb.simulate(card["ransomware-erp"], trials=20_000, seed=7).summary()
    assert rb.plotting.format_money(again.loc["ransomware-erp", "p90"], "EUR") in (
        w.simulation_pane.object
    )


def test_save_yaml_adds_or_replaces_and_keeps_the_rest(tmp_path: Path) -> None:
    path = tmp_path / "register.yaml"
    shutil.copy(EXAMPLE_CARD, path)
    original = rb.load_portfolio(path)
    w = ScenarioWizard(original["gdpr-fine"])
    w.title_input.value = "GDPR fine after a breach"
    w.save_yaml(path)
    saved = rb.load_portfolio(path)
    assert saved.ids == original.ids
    assert saved["gdpr-fine"] == w.scenario
    assert saved.correlation == original.correlation
    assert (saved.name, saved.currency) == (original.name, original.currency)
    for sid in original.ids:
        if sid != "gdpr-fine":
            assert saved[sid] == original[sid]

    # A new scenario is added at the end, through the button.
    w.load(elicited_card()["bec-fraud"].with_(id="new-fraud"))
    w.path_input.value = str(path)
    w.save_yaml_button.clicks += 1
    saved = rb.load_portfolio(path)
    assert saved.ids == (*original.ids, "new-fraud")
    assert "Saved" in w.save_status.object

    # A new file: this scenario alone, in the wizard's currency.
    alone = tmp_path / "sub" / "new.yaml"
    w.save_yaml(alone)
    assert rb.load_portfolio(alone) == rb.Portfolio([w.scenario], currency="EUR")


def test_failed_save_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "card.yaml"
    rb.save_portfolio(elicited_card(), path)
    before = path.read_text()
    w = ScenarioWizard(elicited_card()["plant-fire"])
    w.title_input.value = "Changed"

    def fail(*args: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", fail)
    with pytest.raises(OSError, match="disk full"):
        w.save_yaml(path)
    w.path_input.value = str(path)
    w.save_yaml_button.clicks += 1  # the button shows the failure instead of raising
    assert "disk full" in w.save_status.object
    monkeypatch.undo()
    assert path.read_text() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["card.yaml"]  # no temporary left

    # A file that is not a valid card is not overwritten.
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios: 3\n")
    with pytest.raises(rb.ScenarioError):
        w.save_yaml(bad)
    assert bad.read_text() == "scenarios: 3\n"


@pytest.mark.db
def test_save_workspace_versions(pg_home: Path) -> None:
    from riskbench.workspace import Workspace

    with Workspace(org="wizard-a", user="ada", home=pg_home) as ws:
        w = ScenarioWizard(elicited_card()["ransomware-erp"], workspace=ws)
        assert w.save_workspace_button.visible
        assert not w.save_workspace_button.disabled
        assert w.save_workspace() == 1
        assert ws.scenario("ransomware-erp") == w.scenario
        w.ci_high_input.value = 20e6
        w.save_workspace_button.clicks += 1  # through the button
        assert "version 2" in w.save_status.object
        assert ws.scenario("ransomware-erp") == w.scenario
        assert ws.scenario("ransomware-erp", version=1) == elicited_card()["ransomware-erp"]
        assert w.save_workspace() == 2  # nothing changed: no new version


def test_without_a_workspace_saving_there_is_refused() -> None:
    w = ScenarioWizard(elicited_card()["plant-fire"])
    assert not w.save_workspace_button.visible
    with pytest.raises(rb.ValidationError, match="workspace"):
        w.save_workspace()


@pytest.mark.slow
def test_suggestions_fill_the_list_and_load(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RISKBENCH_LLM", raising=False)
    from riskbench.ai.context import load_context

    ctx = load_context("examples/company.yaml")
    w = ScenarioWizard(context=ctx)
    assert w.suggest_button.visible
    suggestions = w.suggest()
    expected = rb.suggest_scenarios(ctx, n=10, llm=False)
    assert [s.id for s in suggestions] == [s.id for s in expected]
    assert list(w.suggestion_select.options.values())[1:] == [s.id for s in expected]
    w.suggestion_select.value = expected[0].id  # choosing one loads it
    assert w.scenario == expected[0].scenario
    assert expected[0].rationale[:20] in w.suggestion_note.object
    w.choose_suggestion(expected[-1].id)
    assert w.scenario == expected[-1].scenario


def test_edit_a_scenario_of_the_register() -> None:
    card = elicited_card()
    w = ScenarioWizard(portfolio=card)
    assert w.edit_select.visible
    w.edit_select.value = "bec-fraud"
    assert w.scenario == card["bec-fraud"]
    assert not ScenarioWizard().edit_select.visible


def test_id_suggestion_stops_once_typed() -> None:
    assert slug("Überschwemmung: Köln / Rhein") == "uberschwemmung-koln-rhein"
    w = ScenarioWizard()
    w.title_input.value = "Flood"
    assert w.id_input.value == "flood"
    w.title_input.value = "River flood"
    assert w.id_input.value == "river-flood"
    w.id_input.value = "flood-koeln"
    w.title_input.value = "River flood at Cologne"
    assert w.id_input.value == "flood-koeln"


def test_constructor_checks_its_scenario() -> None:
    with pytest.raises(rb.ValidationError, match="scenario"):
        ScenarioWizard("ransomware-erp")  # type: ignore[arg-type]


def test_no_cdn_in_the_saved_page(tmp_path: Path) -> None:
    w = ScenarioWizard(elicited_card()["ransomware-erp"], portfolio=elicited_card())
    w.quick_simulation()
    out = tmp_path / "wizard.html"
    pn.io.save.save(w.__panel__(), str(out), resources=INLINE)
    page = out.read_text()
    assert "Quick simulation" in page
    assert "ransomware-erp" in page
    assert external_resources(page) == []
    # Outside Bokeh's own bundle (its MathJax loader), no CDN is named anywhere.
    bundle_free = re.sub(
        r"<script(?![^>]*application/json)[^>]*>.*?</script>", "", page, flags=re.S
    )
    for cdn in CDNS:
        assert cdn not in bundle_free, cdn

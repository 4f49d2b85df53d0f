"""The built-in archetype library: coverage, matching, scaling and validation."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

import riskbench as rb
from riskbench.ai.archetypes import (
    THEMES,
    Archetype,
    archetypes_for,
    load_archetypes,
    parse_archetypes,
    read_archetypes,
)
from riskbench.ai.context import OrgProfile
from riskbench.errors import ValidationError

PROFILE = OrgProfile(
    name="Test", industry="manufacturing", regions=("EU",), currency="EUR", annual_revenue=6e8
)
LIBRARY = load_archetypes()
BY_ID = {a.id: a for a in LIBRARY}


def test_library_size_and_themes() -> None:
    assert len(LIBRARY) >= 44
    counts = Counter(a.theme for a in LIBRARY)
    assert set(counts) == set(THEMES)
    assert min(counts.values()) >= 5, counts


def test_ids_unique() -> None:
    ids = [a.id for a in LIBRARY]
    assert len(ids) == len(set(ids))


def test_load_is_cached() -> None:
    assert load_archetypes() is LIBRARY


@pytest.mark.parametrize("archetype", LIBRARY, ids=lambda a: a.id)
def test_story_has_no_digits(archetype: Archetype) -> None:
    for text in (archetype.trigger, archetype.unfolding, archetype.impact):
        assert not re.search(r"\d", text), text


@pytest.mark.parametrize("archetype", LIBRARY, ids=lambda a: a.id)
def test_numbers_are_flagged_illustrative(archetype: Archetype) -> None:
    names = {a.name: a for a in archetype.assumptions}
    for name in ("event rate", "loss per event"):
        text = names[name].text
        assert "illustrative starting point of the riskbench library" in text
        assert "mid-size organisation" in text
        assert "not taken from any report" in (names[name].source or "")
    assert "rb.calibrate" in names["event rate"].text
    assert archetype.mitigations


@pytest.mark.parametrize("archetype", LIBRARY, ids=lambda a: a.id)
def test_converts_to_valid_scenario(archetype: Archetype) -> None:
    s = archetype.to_scenario(PROFILE)
    assert s.id == archetype.id
    assert s.category == archetype.category
    assert s.narrative.startswith(archetype.trigger)
    assert archetype.impact in s.narrative
    assert s.assumptions[-1].name == "severity scaling"
    assert s.assumptions[:-1] == archetype.assumptions
    # Round-trips through the card form.
    assert rb.Portfolio.from_dict(rb.Portfolio([s]).to_dict()).scenarios[0] == s


def test_whole_library_simulates() -> None:
    portfolio = rb.Portfolio([a.to_scenario(PROFILE) for a in LIBRARY], currency="EUR")
    result = rb.simulate(portfolio, trials=2000, seed=0)
    assert isinstance(result, rb.SimulationResult)
    annual = np.asarray(result.annual_loss)
    assert list(result.losses.columns) == [a.id for a in LIBRARY]
    assert annual.shape == (2000,)
    assert np.all(np.isfinite(annual))
    assert np.all(annual >= 0)
    # Illustrative but sane: the expected yearly loss of the whole library is a few
    # percent of revenue, not a multiple of it.
    assert 0.001 < portfolio_eal(portfolio) / 6e8 < 0.2


def portfolio_eal(portfolio: rb.Portfolio) -> float:
    return sum(s.expected_annual_loss() for s in portfolio.scenarios)


def test_to_scenario_id_and_assets_pass_through() -> None:
    s = BY_ID["plant-fire"].to_scenario(PROFILE, id="fire-plant-b", assets=("plant-b", "erp"))
    assert s.id == "fire-plant-b"
    assert s.assets == ("plant-b", "erp")
    with pytest.raises(ValidationError, match="id"):
        BY_ID["plant-fire"].to_scenario(PROFILE, id="Not An Id")


# ------------------------------------------------------------------ severity scaling
@pytest.mark.parametrize("archetype_id", ["plant-fire", "cloud-region-outage", "ot-ics-attack"])
def test_severity_quantiles_are_share_times_revenue(archetype_id: str) -> None:
    a = BY_ID[archetype_id]
    assert a.severity_floor is None
    s = a.to_scenario(PROFILE)
    q05, q95 = s.severity.ppf([0.05, 0.95])
    assert q05 == pytest.approx(a.severity_share[0] * 6e8, rel=1e-9)
    assert q95 == pytest.approx(a.severity_share[1] * 6e8, rel=1e-9)
    assert s.severity.to_dict()["conf"] == 0.9


def test_severity_floor_applies_when_larger() -> None:
    a = BY_ID["business-email-compromise"]
    assert a.severity_floor is not None
    small = OrgProfile(name="Small", industry="retail", regions=("UK",), annual_revenue=1e7)
    s = a.to_scenario(small)
    q05, q95 = s.severity.ppf([0.05, 0.95])
    assert q05 == pytest.approx(max(a.severity_share[0] * 1e7, a.severity_floor[0]), rel=1e-9)
    assert q95 == pytest.approx(max(a.severity_share[1] * 1e7, a.severity_floor[1]), rel=1e-9)
    assert q05 == pytest.approx(a.severity_floor[0], rel=1e-9)  # the floor wins here
    scaling = s.assumptions[-1].text
    assert "floor" in scaling
    assert "EUR 20,000" in scaling


def test_floor_in_other_currency_is_said_to_be_unconverted() -> None:
    us = OrgProfile(
        name="U", industry="retail", regions=("US",), currency="USD", annual_revenue=1e7
    )
    text = BY_ID["business-email-compromise"].to_scenario(us).assumptions[-1].text
    assert "applied unconverted to USD" in text
    assert text.startswith("One event's loss is log-normal with a 90% interval of USD ")


def test_no_revenue_is_a_clear_error() -> None:
    bare = OrgProfile(name="N", industry="retail", regions=("EU",))
    with pytest.raises(ValidationError, match=r"annual_revenue.*plant-fire"):
        BY_ID["plant-fire"].to_scenario(bare)


# ------------------------------------------------------------------ matching
def test_eu_manufacturer_gets_eu_regulation_not_us() -> None:
    ids = [a.id for a, _ in archetypes_for(PROFILE)]
    assert "nis2-noncompliance" in ids
    assert "gdpr-enforcement-fine" in ids
    assert "ot-ics-attack" in ids
    for us_only in ("sec-cyber-disclosure-action", "us-privacy-class-action", "hurricane-landfall"):
        assert us_only not in ids
        assert BY_ID[us_only].matches(PROFILE) == 0.0
    assert "hipaa-breach-enforcement" not in ids
    assert "dora-ict-noncompliance" not in ids  # financial services only


def test_us_healthcare_gets_hipaa() -> None:
    clinic = OrgProfile(name="C", industry="healthcare", regions=("US",), currency="USD")
    scored = dict((a.id, s) for a, s in archetypes_for(clinic))
    assert scored["hipaa-breach-enforcement"] == 1.0
    assert "nis2-noncompliance" not in scored
    assert "gdpr-enforcement-fine" not in scored


def test_apac_gets_typhoon_and_earthquake() -> None:
    apac = OrgProfile(name="A", industry="logistics", regions=("APAC",))
    ids = {a.id for a, _ in archetypes_for(apac, themes=["climate-physical"])}
    assert {"typhoon-strike", "earthquake-site"} <= ids
    assert "river-flood-site" not in ids


def test_specific_match_scores_above_any() -> None:
    retail = OrgProfile(name="R", industry="retail", regions=("EU", "US"))
    scored = dict((a.id, s) for a, s in archetypes_for(retail))
    assert scored["payment-fraud-wave"] == 0.75  # retail (specific), any region
    assert scored["key-person-loss"] == 0.5  # any, any
    assert scored["gdpr-enforcement-fine"] == 0.75  # any industry, EU
    assert scored["us-privacy-class-action"] == 0.75  # any industry, US (one region of two)


def test_archetypes_for_is_sorted_and_filters_themes() -> None:
    result = archetypes_for(PROFILE, themes=["people", "cyber"])
    assert {a.theme for a, _ in result} == {"people", "cyber"}
    keys = [(-s, a.id) for a, s in result]
    assert keys == sorted(keys)
    assert all(s > 0 for _, s in result)


def test_unknown_theme_is_rejected() -> None:
    with pytest.raises(ValidationError, match=r"themes: unknown \['weather'\]; allowed: cyber"):
        archetypes_for(PROFILE, themes=["weather"])


# ------------------------------------------------------------------ validation
GOOD = """
archetypes:
  - id: plant-fire
    title: Fire
    theme: operational
    category: operational
    industries: [manufacturing]
    regions: [any]
    trigger: A fire starts.
    unfolding: It spreads.
    impact: The plant is lost.
    frequency: {dist: bernoulli, p: 0.02}
    severity_share: [0.005, 0.08]
    node_kinds: [site]
    assumptions:
      - {name: event rate, text: illustrative, source: riskbench}
    mitigations: [sprinklers]
"""


def test_parse_good_text() -> None:
    (a,) = parse_archetypes(GOOD)
    assert a.id == "plant-fire"
    assert a.industries == ("manufacturing",)
    assert a.severity_share == (0.005, 0.08)
    assert a.frequency == {"dist": "bernoulli", "p": 0.02}


def test_broken_file_names_archetype_and_field(tmp_path: Path) -> None:
    broken = (
        GOOD.replace("[0.005, 0.08]", "[0.08, 0.005]")
        .replace("[manufacturing]", "[mining]")
        .replace("It spreads.", "It spreads in 3 hours.")
        .replace("p: 0.02", "p: 2")
        .replace("[site]", "[site, moon]")
    )
    path = tmp_path / "mine.yaml"
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ValidationError) as info:
        read_archetypes(str(path))
    err = info.value
    locs = {i.loc for i in err.issues}
    assert "archetypes[0] (plant-fire).severity_share" in locs
    assert "archetypes[0] (plant-fire).industries" in locs
    assert "archetypes[0] (plant-fire).unfolding" in locs
    assert "archetypes[0] (plant-fire).frequency.p" in locs
    assert "archetypes[0] (plant-fire).node_kinds" in locs
    text = str(err)
    assert text.startswith("5 problems:")
    assert "mine.yaml: archetypes[0] (plant-fire).severity_share: must be two numbers" in text
    assert "0 < low < high <= 1; got [0.08, 0.005]" in text
    assert "'mining'" in text
    assert "must not contain digits" in text
    assert "unknown ['moon']; allowed: supplier, site" in text
    # The parse function gives the same issues from the text itself.
    with pytest.raises(ValidationError) as again:
        parse_archetypes(path.read_text(encoding="utf-8"))
    assert again.value.issues == err.issues


def test_missing_unknown_and_duplicate() -> None:
    text = GOOD + GOOD.split("archetypes:\n", 1)[1].replace(
        "    title: Fire\n", "    colour: red\n"
    )
    with pytest.raises(ValidationError) as info:
        parse_archetypes(text)
    messages = [str(i) for i in info.value.issues]
    assert "archetypes[1] (plant-fire).id: repeats archetypes[0]; ids are unique" in messages
    assert any(m.startswith("archetypes[1] (plant-fire).colour: unknown field") for m in messages)
    assert "archetypes[1] (plant-fire): missing title" in messages


def test_bad_assumption_and_top_level() -> None:
    bad = GOOD.replace("{name: event rate, text: illustrative, source: riskbench}", "{name: x}")
    with pytest.raises(ValidationError, match=r"\(plant-fire\)\.assumptions\[0\]\.text"):
        parse_archetypes(bad)
    with pytest.raises(ValidationError, match="'archetypes' list"):
        parse_archetypes("- just a list")
    with pytest.raises(ValidationError, match="not valid YAML"):
        parse_archetypes("archetypes: [")


def test_direct_construction_is_validated() -> None:
    good = BY_ID["plant-fire"]
    with pytest.raises(ValidationError, match=r"severity_floor: must be two numbers"):
        Archetype(
            **{**{f: getattr(good, f) for f in good.__dataclass_fields__}, "severity_floor": (5, 1)}
        )

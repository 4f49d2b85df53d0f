"""Scenario cards: loading, round trips, the schema, and every error path."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

import riskbench as rb
from helpers import EXAMPLE_CARD, scenario

BASE: dict[str, Any] = {
    "name": "Test register",
    "currency": "EUR",
    "scenarios": [
        {
            "id": "data-breach",
            "title": "Customer data breach",
            "category": "cyber",
            "frequency": {"dist": "poisson", "rate": 0.2},
            "severity": {"dist": "lognormal", "low": 100000, "high": 5000000, "conf": 0.9},
        },
        {
            "id": "flood",
            "title": "River flood",
            "category": "climate",
            "frequency": {"dist": "bernoulli", "p": 0.03},
            "severity": {"dist": "pert", "low": 1000000, "mode": 3000000, "high": 20000000},
        },
        {
            "id": "ransomware-erp",
            "title": "Ransomware encrypts the ERP",
            "category": "cyber",
            "frequency": {"dist": "poisson", "rate": 0.3},
            "severity": {"dist": "lognormal", "low": 250000, "high": 8000000, "conf": 0.9},
            "narrative": "An affiliate encrypts the ERP.",
            "assumptions": [{"name": "recovery", "text": "10 days", "source": "DR test"}],
            "insurance": {"per_event": {"deductible": 500000, "limit": 10000000}},
        },
    ],
    "correlation": [["data-breach", "ransomware-erp", 0.4]],
}


def card(**changes: Any) -> dict[str, Any]:
    c = copy.deepcopy(BASE)
    c.update(changes)
    return c


def write(tmp_path: Path, data: Any, name: str = "card.yaml") -> Path:
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump(data, sort_keys=False) if name.endswith(".yaml") else json.dumps(data)
    )
    return path


def issues_of(tmp_path: Path, data: Any) -> list[str]:
    with pytest.raises(rb.ScenarioError) as info:
        rb.load_portfolio(write(tmp_path, data))
    return [str(i) for i in info.value.issues]


def test_example_register_loads_and_is_realistic(example_portfolio: rb.Portfolio) -> None:
    p = example_portfolio
    assert len(p) >= 12
    categories = {s.category for s in p.scenarios}
    assert {
        "cyber",
        "supply-chain",
        "operational",
        "financial",
        "regulatory",
        "climate",
    } <= categories
    for s in p.scenarios:
        assert s.narrative.strip(), s.id
        assert s.assumptions, s.id
        assert all(a.source and a.rationale for a in s.assumptions), s.id


def test_yaml_and_json_cards_give_the_same_portfolio(tmp_path: Path) -> None:
    a = rb.load_portfolio(write(tmp_path, BASE, "card.yaml"))
    b = rb.load_portfolio(write(tmp_path, BASE, "card.json"))
    assert a == b
    assert a.ids == ("data-breach", "flood", "ransomware-erp")
    assert a["flood"].frequency == rb.Bernoulli(p=0.03)
    assert a.correlation_matrix()[0, 2] == 0.4


def test_round_trip_is_exact(tmp_path: Path) -> None:
    raw = yaml.safe_load(EXAMPLE_CARD.read_text())
    p = rb.load_portfolio(EXAMPLE_CARD)
    assert p.to_dict() == raw  # exactly the card's keys and values
    assert rb.Portfolio.from_dict(p.to_dict()) == p
    assert rb.Portfolio.from_yaml(p.to_yaml()) == p
    assert yaml.safe_load(p.to_yaml()) == raw
    out = rb.save_portfolio(p, tmp_path / "copy.json")
    assert rb.load_portfolio(out) == p


def test_portfolio_and_scenario_are_immutable(example_portfolio: rb.Portfolio) -> None:
    with pytest.raises(Exception, match="frozen"):
        example_portfolio.name = "x"  # type: ignore[misc]
    with pytest.raises(Exception, match="frozen"):
        example_portfolio.scenarios[0].id = "x"  # type: ignore[misc]


def test_the_issue_example_message(tmp_path: Path) -> None:
    data = card()
    data["scenarios"][2]["severity"]["high"] = 100000
    assert issues_of(tmp_path, data) == [
        "scenarios[2] (ransomware-erp).severity.high: must be greater than low (250000), got 100000"
    ]
    with pytest.raises(
        rb.ScenarioError,
        match=r"^card\.yaml: scenarios\[2\] \(ransomware-erp\)\.severity\.high: must be greater than low \(250000\)",
    ):
        rb.load_portfolio(tmp_path / "card.yaml")


def test_all_errors_are_reported_at_once(tmp_path: Path) -> None:
    data = card()
    data["scenarios"][0]["severity"]["conf"] = 90
    data["scenarios"][1]["frequency"]["p"] = 3
    data["scenarios"][1]["category"] = "weather"
    data["scenarios"][2]["frequency"] = {"dist": "poison", "rate": 1}
    data["correlation"].append(["flood", "nowhere", 1.5])
    found = issues_of(tmp_path, data)
    assert len(found) == 6, found
    joined = "\n".join(found)
    assert "scenarios[0] (data-breach).severity.conf: must lie strictly between 0 and 1" in joined
    assert "scenarios[1] (flood).frequency.p: must be a probability in [0, 1]" in joined
    assert "scenarios[1] (flood).category: Input should be 'cyber', 'supply-chain'" in joined
    assert "scenarios[2] (ransomware-erp).frequency.dist: unknown distribution 'poison'" in joined
    assert "correlation[1]: unknown scenario id 'nowhere'" in joined
    assert "correlation[1]: rho must lie in [-1, 1], got 1.5" in joined
    data2 = card()
    data2["correlation"] = [["flood", "nowhere", 1.5], ["flood", "flood", 0.2]]
    found2 = issues_of(tmp_path, data2)
    assert (
        "correlation[0]: unknown scenario id 'nowhere'; known ids: ['data-breach', 'flood', 'ransomware-erp']"
        in found2
    )
    assert "correlation[0]: rho must lie in [-1, 1], got 1.5" in found2
    assert "correlation[1]: a scenario cannot be correlated with itself ('flood')" in found2


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (
            lambda c: c["scenarios"].append(copy.deepcopy(c["scenarios"][0])),
            "scenarios[3] (data-breach).id: duplicate id: already used by scenarios[0]",
        ),
        (
            lambda c: c["scenarios"][0].update(severity={"dist": "gumbel", "mu": 1}),
            "scenarios[0] (data-breach).severity.dist: unknown distribution 'gumbel'; allowed: bernoulli, beta",
        ),
        (
            lambda c: c["correlation"].append(["flood", "ghost", 0.1]),
            "correlation[1]: unknown scenario id 'ghost'",
        ),
        (
            lambda c: c["correlation"].append(["flood", "data-breach", -1.2]),
            "correlation[1]: rho must lie in [-1, 1], got -1.2",
        ),
        (
            lambda c: c["correlation"].append(["ransomware-erp", "data-breach", 0.1]),
            "correlation[1]: pair (ransomware-erp, data-breach) already given in correlation[0]",
        ),
        (
            lambda c: c["correlation"].append(["flood", "data-breach"]),
            "correlation[1]: must be [id_a, id_b, rho]",
        ),
        (
            lambda c: c["scenarios"][1]["frequency"].update(p=float("nan")),
            "scenarios[1] (flood).frequency.p: must be a finite number, got nan",
        ),
        (
            lambda c: c["scenarios"][0]["frequency"].update(rate=-1),
            "scenarios[0] (data-breach).frequency.rate: must be >= 0 (events per year), got -1",
        ),
        (
            lambda c: c["scenarios"][1]["severity"].update(mode=50000000),
            "scenarios[1] (flood).severity.mode: must lie in [low, high] = [1000000, 20000000], got 50000000",
        ),
        (lambda c: c["scenarios"][0].pop("title"), "scenarios[0] (data-breach).title: is required"),
        (
            lambda c: c["scenarios"][0].update(id="Data Breach"),
            "scenarios[0] (Data Breach).id: must be 1-80 lower-case letters",
        ),
        (
            lambda c: c["scenarios"][0].update(colour="red"),
            "scenarios[0] (data-breach).colour: is not a known key",
        ),
        (
            lambda c: c["scenarios"][0].update(severity={"dist": "poisson", "rate": 1}),
            "scenarios[0] (data-breach).severity: must be a loss distribution",
        ),
        (
            lambda c: c["scenarios"][0].update(
                frequency={"dist": "lognormal", "mu": 1, "sigma": 1}
            ),
            "scenarios[0] (data-breach).frequency: must be a count distribution",
        ),
        (
            lambda c: c["scenarios"][0].update(severity={"dist": "normal", "mean": 100, "sd": 100}),
            "scenarios[0] (data-breach).severity: losses must be non-negative",
        ),
        (
            lambda c: c["scenarios"][2]["insurance"]["per_event"].update(limit=-5),
            "scenarios[2] (ransomware-erp).insurance.per_event.limit: Input should be greater than 0",
        ),
        (lambda c: c.update(currency="euro"), "currency: String should match pattern"),
        (lambda c: c.update(scenarios=[]), "scenarios: must be a non-empty list of scenarios"),
        (lambda c: c.update(owner="me"), "owner: is not a known key"),
    ],
)
def test_card_error_paths(tmp_path: Path, mutate: Any, expected: str) -> None:
    data = card()
    mutate(data)
    found = issues_of(tmp_path, data)
    assert any(expected in f for f in found), found


def test_file_level_errors(tmp_path: Path) -> None:
    with pytest.raises(rb.ScenarioError, match=r"missing\.yaml: no such file"):
        rb.load_portfolio(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("scenarios:\n  - id: a\n    title: [unclosed\n")
    with pytest.raises(
        rb.ScenarioError, match=r"bad\.yaml: not valid YAML at line \d+, column \d+"
    ):
        rb.load_portfolio(bad)
    bad_json = tmp_path / "bad.json"
    bad_json.write_text('{"scenarios": [}')
    with pytest.raises(rb.ScenarioError, match=r"bad\.json: not valid JSON at line 1, column 16"):
        rb.load_portfolio(bad_json)
    listy = tmp_path / "list.yaml"
    listy.write_text("- a\n- b\n")
    with pytest.raises(rb.ScenarioError, match="a card must be a mapping"):
        rb.load_portfolio(listy)


def test_python_api_errors_are_the_same() -> None:
    with pytest.raises(rb.ValidationError, match=r"severity\.high: must be greater than low \(5\)"):
        scenario(severity={"dist": "lognormal", "low": 5, "high": 1})  # type: ignore[arg-type]
    with pytest.raises(rb.ScenarioError, match="duplicate id"):
        rb.Portfolio([scenario("a"), scenario("a")])
    with pytest.raises(rb.ScenarioError, match="unknown scenario id 'c'"):
        rb.Portfolio([scenario("a"), scenario("b")], [("a", "c", 0.3)])


def test_correlation_can_be_a_dataframe_or_mapping() -> None:
    import pandas as pd

    a, b = scenario("a"), scenario("b")
    frame = pd.DataFrame([[1, 0.3], [0.3, 1]], index=["a", "b"], columns=["a", "b"])
    assert rb.Portfolio([a, b], frame).correlation == (("a", "b", 0.3),)
    assert rb.Portfolio([a, b], {("a", "b"): 0.3}).correlation == (("a", "b", 0.3),)


def test_schema_validates_the_example_and_rejects_bad_cards() -> None:
    schema = rb.card_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(yaml.safe_load(EXAMPLE_CARD.read_text()))
    validator.validate(BASE)
    bad = card()
    bad["scenarios"][0]["severity"] = {"dist": "lognormal", "low": 1}
    assert list(validator.iter_errors(bad))
    bad = card()
    bad["scenarios"][0]["frequency"] = {"dist": "pert", "low": 1, "mode": 2, "high": 3}
    assert list(validator.iter_errors(bad))
    bad = card()
    bad["scenarios"][0]["category"] = "weather"
    assert list(validator.iter_errors(bad))
    bad = card()
    bad["correlation"] = [["a", "b", 2]]
    assert list(validator.iter_errors(bad))

"""The narrator: golden narratives, grammar, grounding and the model path.

The golden files in tests/golden/narratives/ were read and reviewed as text for a
board, not accepted as snapshots: when the narrator changes, a failing test writes
the new text next to the old one (``*.new``) to be read and, if better, copied over.
"""

from __future__ import annotations

import difflib
import re
import tempfile
from functools import cache
from typing import Any

import pandas as pd
import pytest
from pydantic import Field

import riskbench as rb
from helpers import ROOT, scenario
from riskbench.ai.grounding import check_grounding
from riskbench.ai.narrate import SECTIONS, narrate
from riskbench.mitigation import Mitigation, load_mitigations
from riskbench.sampledata import write_sample_data

GOLDEN = ROOT / "tests" / "golden" / "narratives"


@pytest.fixture(scope="module")
def inputs(example_portfolio: rb.Portfolio) -> dict[str, Any]:
    files = write_sample_data(tempfile.mkdtemp(), seed=2026, years=6)
    return {
        "portfolio": example_portfolio,
        "result": rb.simulate(example_portfolio, trials=20_000, seed=7),
        "graph": rb.DependencyGraph.from_yaml(ROOT / "examples" / "dependencies.yaml"),
        "mitigations": load_mitigations(ROOT / "examples" / "mitigations.yaml"),
        "incidents": pd.read_csv(files["incidents"], keep_default_na=False),
    }


def _narrate(inputs: dict[str, Any], sid: str, style: str = "board") -> Any:
    return narrate(
        inputs["portfolio"][sid],
        inputs["result"],
        style=style,
        graph=inputs["graph"],
        mitigations=inputs["mitigations"],
        incidents=inputs["incidents"],
        llm=False,
    )


# -- golden narratives ------------------------------------------------------------------
@pytest.mark.parametrize(
    ("sid", "style"),
    [
        ("ransomware-erp", "board"),
        ("single-source-supplier-failure", "board"),
        ("gdpr-fine", "board"),
        ("ransomware-erp", "analyst"),
    ],
)
def test_golden_narratives(inputs: dict[str, Any], sid: str, style: str) -> None:
    got = _narrate(inputs, sid, style).text + "\n"
    path = GOLDEN / f"{sid}.{style}.txt"
    want = path.read_text(encoding="utf-8")
    if got != want:
        path.with_suffix(".txt.new").write_text(got, encoding="utf-8")
        diff = "\n".join(
            difflib.unified_diff(want.splitlines(), got.splitlines(), "golden", "now", lineterm="")
        )
        pytest.fail(f"{path.name} changed; review {path.name}.new:\n{diff}")


def test_golden_files_are_grounded_and_complete(inputs: dict[str, Any]) -> None:
    """What the golden files say holds for the data: every figure is a fact, and each
    section a board expects is there."""
    text = _narrate(inputs, "ransomware-erp").text
    for heading in (
        "What could happen.",
        "How it spreads.",
        "What it would cost.",
        "What this rests on.",
        "What we can do.",
    ):
        assert heading in text
    # the graph numbers are the graph's, recomputed independently
    lost = inputs["graph"].outage("erp", 6).total_lost_revenue
    assert f"EUR {round(lost, -4):,.0f}" in text
    # the 1-in-100-year figure is the simulated 99th percentile
    p99 = inputs["result"].var(0.99, "ransomware-erp")
    assert f"EUR {p99 / 1e6:.1f} million" in text


# -- every narrative is grounded ----------------------------------------------------------
@pytest.mark.parametrize("style", ["board", "analyst"])
def test_every_offline_narrative_is_grounded(inputs: dict[str, Any], style: str) -> None:
    for sid in inputs["portfolio"].ids:
        n = _narrate(inputs, sid, style)
        assert n.method == "template"
        assert n.grounding.ok, (sid, n.grounding.describe())
        assert len(n.grounding.figures) >= 8
        assert list(n.sections) == [s for s in SECTIONS if s in n.sections]
        assert "  " not in n.text
        assert " ." not in n.text
        assert ".." not in n.text


def test_checker_catches_an_altered_figure(inputs: dict[str, Any]) -> None:
    n = _narrate(inputs, "single-source-supplier-failure")
    figures = [f for f in n.grounding.figures if f.kind == "money" and "million" in f.text]
    target = figures[0]
    number = re.search(r"\d+(\.\d+)?", target.text)
    assert number is not None
    altered_value = float(number.group()) + 1
    altered_text = target.text.replace(number.group(), f"{altered_value:g}", 1)
    altered = n.text[: target.start] + altered_text + n.text[target.end :]
    facts = rb_facts(inputs, "single-source-supplier-failure")
    report = check_grounding(altered, facts)
    assert [f.text for f in report.ungrounded] == [altered_text]
    assert altered_text in report.describe()


def rb_facts(inputs: dict[str, Any], sid: str) -> list[Any]:
    from riskbench.ai.facts import scenario_facts

    sheet = scenario_facts(
        inputs["portfolio"][sid],
        inputs["result"],
        graph=inputs["graph"],
        incidents=inputs["incidents"],
        mitigations=inputs["mitigations"],
    )
    return sheet.facts()


# -- grammar and variety --------------------------------------------------------------------
def _text(s: rb.Scenario, **kw: Any) -> str:
    return narrate(s, llm=False, **kw).text


def test_one_event_a_year_and_several() -> None:
    once = scenario("a", rb.Poisson(rate=1.0), rb.Constant(2e6), category="operational")
    assert "An incident of this kind happens about once a year" in _text(once)
    often = scenario("b", rb.Poisson(rate=3.0), rb.Constant(2e6), category="operational")
    assert "Incidents of this kind happen about 3 times a year" in _text(often)
    rare = scenario("c", rb.Bernoulli(p=0.05), rb.Constant(2e6), category="regulatory")
    text = _text(rare)
    assert "Enforcement actions of this kind happen at most once a year" in text
    assert "a chance of 5% in any given year (about 1 in 20 years)" in text


def test_fixed_amount_and_range() -> None:
    fixed = scenario("a", rb.Poisson(rate=0.05), rb.Constant(2e6), category="operational")
    text = _text(fixed)
    assert "Each incident would cost EUR 2 million." in text
    assert "between" not in text
    ranged = scenario(
        "b",
        rb.Poisson(rate=0.2),
        rb.LogNormal(low=500_000, high=15e6, conf=0.9),
        category="cyber",
    )
    text = _text(ranged)
    assert "90% of successful attacks would cost between EUR 500,000 and EUR 15 million" in text
    assert "Each successful attack would most likely cost around EUR 2.7 million" in text


def _incidents(rows: list[tuple[str, str, str, float]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["occurred_on", "category", "scenario_id", "loss"])


def test_incident_counts_singular_plural_none() -> None:
    s = scenario("fire", rb.Poisson(rate=0.05), rb.Constant(2e6), category="operational")
    one = _incidents(
        [("2021-03-01", "operational", "fire", 250_000.0), ("2024-05-01", "cyber", "", 1_000.0)]
    )
    text = _text(s, incidents=one)
    assert (
        "Our incident record of 4 years holds one incident linked to this scenario, "
        "which cost EUR 250,000."
    ) in text
    three = _incidents(
        [
            ("2021-03-01", "operational", "fire", 250_000.0),
            ("2022-03-01", "operational", "fire", 100_000.0),
            ("2023-03-01", "operational", "fire", 50_000.0),
        ]
    )
    text = _text(s, incidents=three)
    assert (
        "holds 3 incidents linked to this scenario, totalling EUR 400,000; the largest "
        "cost EUR 250,000."
    ) in text
    none = _incidents([("2021-03-01", "cyber", "", 1_000.0)])
    assert "Our incident record of one year holds no operational incidents." in _text(
        s, incidents=none
    )


def test_sentences_vary_by_category() -> None:
    base = {"frequency": rb.Poisson(rate=0.2), "severity": rb.Constant(1e6)}
    words = {
        "cyber": "successful attack",
        "supply-chain": "disruption",
        "regulatory": "enforcement action",
        "market": "adverse move",
        "climate": "event",
    }
    texts = {}
    for category, noun in words.items():
        texts[category] = _text(scenario("s", category=category, **base))
        assert "of this kind happens" in texts[category]
        assert noun in texts[category]
    # the same numbers, five different texts
    assert len(set(texts.values())) == len(words)


def test_graph_spread_names_lines_and_the_largest() -> None:
    graph = rb.DependencyGraph.from_yaml(ROOT / "examples" / "dependencies.yaml")
    s = scenario(
        "fire",
        rb.Poisson(rate=0.05),
        rb.Constant(2e6),
        category="operational",
        assets=["plant-riverside"],
    )
    text = _text(s, graph=graph)
    impact = graph.outage("plant-riverside", 30)
    hit = impact.lost_revenue[impact.lost_revenue > 0]
    assert len(hit) == 2
    assert "If the plant riverside site were out for 30 days" in text
    top = hit.idxmax().replace("-", " ")
    assert f"most of it in {top}" in text
    unknown = s.with_(assets=("not-in-graph",))
    assert "How it spreads" not in _text(unknown, graph=graph)


def test_mitigations_that_pay_and_that_do_not() -> None:
    s = scenario("fire", rb.Poisson(rate=0.1), rb.Constant(1e6), category="operational")
    cheap = Mitigation(
        id="m1", name="Sprinklers", scenarios=["fire"], cost_per_year=10_000, severity_factor=0.5
    )
    dear = Mitigation(
        id="m2",
        name="A second plant",
        scenarios=["fire"],
        cost_per_year=500_000,
        frequency_factor=0.5,
    )
    other = Mitigation(id="m3", name="Elsewhere", scenarios=["other"], cost_per_year=1.0)
    text = _text(s, mitigations=[cheap, dear, other])
    assert (
        "Sprinklers. It would cost EUR 10,000 a year and remove about 50% of the expected "
        "loss (EUR 50,000 a year), more than it costs."
    ) in text
    assert "less than it costs on this scenario alone" in text
    assert "Elsewhere" not in text
    assert "No mitigation has been assessed" in _text(s)


# -- errors -----------------------------------------------------------------------------------
def test_bad_arguments_are_named(example_portfolio: rb.Portfolio) -> None:
    s = example_portfolio["gdpr-fine"]
    with pytest.raises(
        rb.ValidationError, match=r"style: must be one of board, analyst; got 'memo'"
    ):
        narrate(s, style="memo", llm=False)  # type: ignore[arg-type]
    other = rb.simulate(rb.Portfolio([scenario("x")]), trials=1000, seed=0)
    with pytest.raises(rb.ValidationError, match=r"result: does not contain scenario 'gdpr-fine'"):
        narrate(s, other, llm=False)
    with pytest.raises(rb.ValidationError, match="scenario: must be a riskbench Scenario"):
        narrate("gdpr-fine", llm=False)  # type: ignore[arg-type]


# -- the model path, with a test double of the model ------------------------------------
@cache
def _double() -> type:
    from riskbench.ai.llm import import_crewai

    base = import_crewai().BaseLLM

    class ScriptedNarrator(base):  # type: ignore[misc,valid-type]
        """TEST DOUBLE of a hosted language model (none can run here): answers with
        the scripted texts in turn and records what it was sent."""

        script: list[str]
        seen: list[Any] = Field(default_factory=list)

        def call(self, messages: Any, *args: Any, **kwargs: Any) -> str:
            self.seen.append(messages)
            return self.script[min(len(self.seen), len(self.script)) - 1]

        def supports_function_calling(self) -> bool:
            return False

    return ScriptedNarrator


@pytest.fixture
def crewai_home(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RISKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKBENCH_LLM", raising=False)


def test_model_draft_with_an_invented_figure_is_sent_back(crewai_home: None) -> None:
    s = scenario("fire", rb.Poisson(rate=0.05), rb.Constant(2e6), category="operational")
    offline = narrate(s, llm=False).text
    bad = "A fire would cost EUR 9.9 million and happen about once every 20 years."
    good = "A fire would cost EUR 2 million and happen about once every 20 years."
    model = _double()(model="scripted/narrator", script=[bad, good])
    n = narrate(s, llm=model)
    assert n.method == "llm:scripted/narrator"
    assert n.text == good
    assert n.grounding.ok
    assert len(model.seen) == 2
    retry = model.seen[1][-1]["content"]
    assert "EUR 9.9 million" in retry
    assert "fact table" in retry
    assert "EUR 9.9 million" in n.notes[0]
    first_prompt = "\n".join(m["content"] for m in model.seen[0])
    assert "EUR 2 million" in first_prompt
    assert offline in first_prompt


def test_model_that_keeps_inventing_falls_back_to_the_template(crewai_home: None) -> None:
    s = scenario("fire", rb.Poisson(rate=0.05), rb.Constant(2e6), category="operational")
    bad = "A fire would cost EUR 9.9 million in 2031."
    model = _double()(model="scripted/narrator", script=[bad])
    n = narrate(s, llm=model)
    assert n.method == "template"
    assert n.text == narrate(s, llm=False).text
    assert len(model.seen) == 2
    assert "offline template narrative instead" in n.notes[-1]


def test_no_model_configured_means_offline(crewai_home: None) -> None:
    s = scenario("fire", rb.Poisson(rate=0.05), rb.Constant(2e6), category="operational")
    assert narrate(s).method == "template"


def test_configured_model_without_crewai_falls_back_with_a_note(
    crewai_home: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sys

    monkeypatch.setenv("RISKBENCH_LLM", "openai/gpt-4o-mini")
    monkeypatch.setitem(sys.modules, "crewai", None)  # as if the agents extra were absent
    s = scenario("fire", rb.Poisson(rate=0.05), rb.Constant(2e6), category="operational")
    n = narrate(s)
    assert n.method == "template"
    assert "RISKBENCH_LLM is set but unusable" in n.notes[0]
    assert "pip install 'riskbench[agents]'" in n.notes[0]
    with pytest.raises(rb.MissingDependencyError, match="agents"):
        narrate(s, llm="openai/gpt-4o-mini")

"""The LLM seam (riskbench.ai.llm) and the CrewAI crew (riskbench.ai.crew).

The crew runs for real, end to end through CrewAI, with one test double: the hosted
model, replaced by ``ScriptedLLM`` (tests/crew_double.py).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from helpers import ROOT
from riskbench.ai.context import OrgContext, OrgProfile
from riskbench.ai.llm import (
    CREWAI_SWITCHES,
    LLMConfig,
    complete,
    crewai_environment,
    import_crewai,
    llm_config,
    model_name,
    resolve_llm,
)
from riskbench.errors import MissingDependencyError, RunError, ValidationError
from riskbench.scenario import Portfolio, Scenario

ORG = "Zephyrine Quokka Foundries"
OTHER_ORG_TITLE = "Quarry collapse at Brightwater Mining"
_ENV = [*CREWAI_SWITCHES, "CREWAI_STORAGE_DIR", "HOME", "RISKBENCH_HOME"]
_LLM_ENV = ["RISKBENCH_LLM", "RISKBENCH_LLM_BASE_URL", "RISKBENCH_LLM_API_KEY"]

# CrewAI 1.15 warns about its own deprecated fields (function_calling_llm, multimodal) on
# every kickoff; nothing riskbench can change.
pytestmark = pytest.mark.filterwarnings(r"ignore::DeprecationWarning:crewai(\..*)?")


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """HOME and the riskbench home in tmp_path; CrewAI's variables restored afterwards."""
    for name in _ENV + _LLM_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RISKBENCH_HOME", str(tmp_path / "rbhome"))
    return tmp_path


@pytest.fixture
def double(home: Path) -> Any:
    """The test-double module, imported after CrewAI was imported riskbench's way."""
    import_crewai()
    import crew_double

    return crew_double


def _context() -> OrgContext:
    existing = Scenario(
        id="kiln-failure",
        title="Kiln failure stops casting",
        category="operational",
        frequency={"dist": "poisson", "rate": 0.3},
        severity={"dist": "lognormal", "low": 200_000, "high": 2_000_000, "conf": 0.9},
        narrative="The main kiln fails and casting stops for two weeks.",
    )
    profile = OrgProfile(
        name=ORG,
        industry="manufacturing",
        regions=("EU",),
        currency="EUR",
        annual_revenue=250e6,
        employees=900,
        description="Foundry casting parts for pumps, with a warehouse in Ghent.",
    )
    return OrgContext(profile=profile, portfolio=Portfolio([existing]))


def _other_org() -> OrgContext:
    quarry = Scenario(
        id="quarry-collapse",
        title=OTHER_ORG_TITLE,
        category="operational",
        frequency={"dist": "poisson", "rate": 0.1},
        severity={"dist": "lognormal", "low": 1e6, "high": 5e6, "conf": 0.9},
    )
    profile = OrgProfile(name="Brightwater Mining", industry="energy", regions=("UK",))
    return OrgContext(profile=profile, portfolio=Portfolio([quarry]))


def _quant_prompts(llm: Any) -> list[str]:
    return [
        "\n".join(str(m["content"]) for m in msgs) for agent, msgs in llm.calls if agent == "quant"
    ]


# -- llm.py ---------------------------------------------------------------------------
def test_llm_config_reads_the_environment() -> None:
    assert llm_config({}) is None
    assert llm_config({"RISKBENCH_LLM": "  "}) is None
    cfg = llm_config(
        {
            "RISKBENCH_LLM": "openai/gpt-4o-mini",
            "RISKBENCH_LLM_BASE_URL": "https://llm.example.invalid/v1",
            "RISKBENCH_LLM_API_KEY": "sk-test",
        }
    )
    assert cfg == LLMConfig(
        "openai/gpt-4o-mini", "https://llm.example.invalid/v1", "RISKBENCH_LLM_API_KEY"
    )
    assert cfg.provider == "openai"
    assert llm_config({"RISKBENCH_LLM": "ollama/llama3.1"}) == LLMConfig("ollama/llama3.1")


def test_llm_config_errors_name_the_variable_the_value_and_examples() -> None:
    with pytest.raises(ValidationError) as err:
        llm_config({"RISKBENCH_LLM": "gpt-4o", "RISKBENCH_LLM_BASE_URL": "localhost:11434"})
    (model, url) = err.value.issues
    assert model.loc == "RISKBENCH_LLM"
    assert "'gpt-4o'" in model.message
    assert "openai/gpt-4o-mini" in model.message
    assert "ollama/llama3.1" in model.message
    assert url.loc == "RISKBENCH_LLM_BASE_URL"
    assert "'localhost:11434'" in url.message


def test_resolve_llm_offline_paths(home: Path) -> None:
    assert resolve_llm(False) is None
    assert resolve_llm() is None  # RISKBENCH_LLM unset (the fixture removes it)
    with pytest.raises(ValidationError, match="llm: must be None"):
        resolve_llm(42)


def test_resolve_llm_builds_the_configured_model(
    home: Path, double: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    crewai = import_crewai()
    monkeypatch.setenv("RISKBENCH_LLM", "openai/gpt-4o-mini")
    monkeypatch.setenv("RISKBENCH_LLM_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("RISKBENCH_LLM_API_KEY", "sk-riskbench-test-key")
    llm = resolve_llm()
    assert isinstance(llm, crewai.BaseLLM)
    assert model_name(llm) in ("openai/gpt-4o-mini", "gpt-4o-mini")
    assert llm.base_url == "http://127.0.0.1:9/v1"
    assert llm.api_key == "sk-riskbench-test-key"
    named = resolve_llm("ollama/llama3.1")
    assert isinstance(named, crewai.BaseLLM)
    scripted = double.ScriptedLLM(model="scripted/test", answers={})
    assert resolve_llm(scripted) is scripted


def test_complete_makes_one_call_and_hides_the_key(double: Any) -> None:
    llm = double.ScriptedLLM(model="scripted/test", answers={"other": ["four"]})
    assert complete(llm, [{"role": "user", "content": "2 + 2?"}]) == "four"
    assert len(llm.calls) == 1

    class FailingLLM(double.ScriptedLLM):  # type: ignore[misc,name-defined]
        """Test double of a hosted model whose provider refuses the key."""

        def call(self, messages: Any, *args: Any, **kwargs: Any) -> str:
            raise RuntimeError(f"401: invalid key {self.api_key}")

    failing = FailingLLM(model="openai/gpt-4o-mini", api_key="sk-secret-0123456789", answers={})
    with pytest.raises(RunError) as err:
        complete(failing, "hello")
    assert "'openai/gpt-4o-mini'" in str(err.value)
    assert "401" in str(err.value)
    assert "sk-secret-0123456789" not in str(err.value)


def test_crewai_environment_switches_and_storage(home: Path) -> None:
    storage = crewai_environment()
    assert storage == home / "rbhome" / "crewai"
    assert storage.is_dir()
    assert os.environ["CREWAI_STORAGE_DIR"] == str(storage.resolve())
    for name in ("CREWAI_DISABLE_TELEMETRY", "OTEL_SDK_DISABLED", "CREWAI_DISABLE_TRACKING"):
        assert os.environ[name] == "true"
    assert os.environ["CREWAI_TRACING_ENABLED"] == "false"
    assert crewai_environment(home / "elsewhere") == home / "elsewhere" / "crewai"


def test_missing_crewai_names_the_extra(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "crewai", None)  # what Python does for a blocked import
    with pytest.raises(MissingDependencyError) as err:
        import_crewai()
    assert "riskbench[agents]" in str(err.value)
    assert "Drafting with a language model" in str(err.value)


# -- the crew -------------------------------------------------------------------------
def test_invalid_card_is_sent_back_with_the_validation_errors(double: Any) -> None:
    from riskbench.ai.crew import draft_scenarios

    bad = double.card(
        "foundry-fire",
        title="Fire in the foundry",
        category="operational",
        severity={"dist": "lognormal", "low": 5_000_000, "high": 1_000_000, "conf": 0.9},
        narrative="A furnace fire stops production for weeks.",
    )
    fixed = {
        **bad,
        "severity": {"dist": "lognormal", "low": 1_000_000, "high": 5_000_000, "conf": 0.9},
    }
    llm = double.ScriptedLLM(
        model="scripted/test",
        answers={
            "analyst": ["1. Flood closes the Ghent warehouse. 2. Fire in the foundry."],
            "quant": [
                double.cards_answer(double.card("ghent-flood"), bad),
                double.cards_answer(fixed),
            ],
            "reviewer": [double.review_answer()],
        },
    )
    outcome = draft_scenarios(_context(), 2, llm)
    assert [s.id for s in outcome.scenarios] == ["ghent-flood", "foundry-fire"]
    assert outcome.scenarios[1].severity.to_dict()["high"] == 5_000_000
    assert outcome.rejected == ()
    first, retry = _quant_prompts(llm)
    assert "severity.high: must be greater than low (5000000), got 1000000" in retry
    assert "ghent-flood" not in retry.split("These cards were rejected")[1]
    assert any("severity.high: must be greater than low" in p for p in outcome.prompts)
    assert "Risk quant" in first
    assert "JSON" in first
    assert outcome.notes[0] == "round 1: 1 card(s) accepted, 1 sent back"


def test_ungrounded_figure_is_flagged_retried_and_rejected(double: Any) -> None:
    from riskbench.ai.crew import draft_scenarios

    made_up = double.card(
        "ghent-flood",
        narrative="A flood closes the warehouse and costs EUR 9.1 million, as in 2019.",
    )
    llm = double.ScriptedLLM(
        model="scripted/test",
        answers={
            "analyst": ["Flood closes the Ghent warehouse."],
            "quant": [double.cards_answer(made_up)],  # the retry repeats it
            "reviewer": [double.review_answer()],
        },
    )
    outcome = draft_scenarios(_context(), 1, llm, max_retries=1)
    assert outcome.scenarios == ()
    ((draft, problems),) = outcome.rejected
    assert draft["id"] == "ghent-flood"
    assert any("EUR 9.1 million" in p for p in problems)
    _, retry = _quant_prompts(llm)
    assert "EUR 9.1 million" in retry.split("These cards were rejected")[1]
    assert len(_quant_prompts(llm)) == 2  # one retry, then given up
    assert any("still failed after 1 retry" in n for n in outcome.notes)


def test_evidence_facts_ground_a_narrative(double: Any) -> None:
    from riskbench.ai.crew import draft_scenarios
    from riskbench.ai.grounding import Fact

    cited = double.card(
        "ghent-flood",
        narrative="A flood closes the warehouse, which holds EUR 9.1 million of stock.",
    )
    llm = double.ScriptedLLM(
        model="scripted/test",
        answers={
            "analyst": ["Flood."],
            "quant": [double.cards_answer(cited)],
            "reviewer": [double.review_answer()],
        },
    )
    stock = Fact("graph.warehouse_stock", 9_100_000, "money", "stock held in Ghent")
    outcome = draft_scenarios(_context(), 1, llm, evidence=[stock], max_retries=0)
    assert [s.id for s in outcome.scenarios] == ["ghent-flood"]
    assert "graph.warehouse_stock" in llm.received_text()


def test_taken_ids_and_reviewer_objections_are_sent_back(double: Any) -> None:
    from riskbench.ai.crew import draft_scenarios

    clash = double.card("kiln-failure")  # the portfolio's own id
    llm = double.ScriptedLLM(
        model="scripted/test",
        answers={
            "analyst": ["Flood."],
            "quant": [
                double.cards_answer(clash, double.card("ghent-flood")),
                double.cards_answer(double.card("ghent-flood-2"), double.card("ghent-flood")),
            ],
            "reviewer": [
                double.review_answer({"ghent-flood": (False, ["Ghent is not on a river"])}),
                double.review_answer(),
            ],
        },
    )
    outcome = draft_scenarios(_context(), 2, llm)
    assert sorted(s.id for s in outcome.scenarios) == ["ghent-flood", "ghent-flood-2"]
    retry = _quant_prompts(llm)[1]
    assert "'kiln-failure' is already taken" in retry
    assert "reviewer: Ghent is not on a river" in retry


def test_an_answer_that_is_not_json_is_retried_then_rejected(double: Any) -> None:
    from riskbench.ai.crew import draft_scenarios

    llm = double.ScriptedLLM(
        model="scripted/test",
        answers={
            "analyst": ["Flood."],
            "quant": ["I cannot quantify these."],
            "reviewer": [double.review_answer()],
        },
    )
    outcome = draft_scenarios(_context(), 1, llm, max_retries=1)
    assert outcome.scenarios == ()
    ((_, problems),) = outcome.rejected
    assert "not a JSON object with a 'cards' list" in problems[0]
    # Read by riskbench's guardrail: CrewAI's converter never re-asked the model.
    assert [agent for agent, _ in llm.calls] == [
        "analyst",
        "quant",
        "reviewer",
        "quant",
        "reviewer",
    ]


def test_no_network_connection_during_kickoff(double: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from riskbench.ai.crew import draft_scenarios

    attempts: list[str] = []

    def refuse(name: str) -> Any:
        def guard(*args: Any, **kwargs: Any) -> Any:
            attempts.append(f"{name}{args[1:] if name == 'connect' else args}")
            raise OSError(f"network access refused in tests: {name}")

        return guard

    monkeypatch.setattr(socket.socket, "connect", refuse("connect"))
    monkeypatch.setattr(socket.socket, "connect_ex", refuse("connect"))
    monkeypatch.setattr(socket, "getaddrinfo", refuse("getaddrinfo"))
    monkeypatch.setattr(socket, "create_connection", refuse("create_connection"))
    llm = double.ScriptedLLM(
        model="scripted/test",
        answers={
            "analyst": ["Flood."],
            "quant": [double.cards_answer(double.card("ghent-flood"))],
            "reviewer": [double.review_answer()],
        },
    )
    outcome = draft_scenarios(_context(), 1, llm)
    assert [s.id for s in outcome.scenarios] == ["ghent-flood"]
    assert attempts == []


def test_prompts_hold_only_this_organisations_data(double: Any) -> None:
    from riskbench.ai.crew import draft_scenarios

    other = _other_org()
    assert OTHER_ORG_TITLE in [s.title for s in other.portfolio.scenarios]  # type: ignore[union-attr]
    seed = Scenario(**double.card("seed-flood", title="Seed: river flood"))
    llm = double.ScriptedLLM(
        model="scripted/test",
        answers={
            "analyst": ["Flood."],
            "quant": [double.cards_answer(double.card("ghent-flood"))],
            "reviewer": [double.review_answer()],
        },
    )
    outcome = draft_scenarios(_context(), 1, llm, seeds=[seed])
    sent = llm.received_text()
    for text in (*outcome.prompts, sent):
        assert OTHER_ORG_TITLE not in text
        assert "Brightwater" not in text
    assert ORG in outcome.prompts[0]
    assert ORG in sent
    assert "Kiln failure stops casting" in outcome.prompts[0]  # its own scenario, retrieved
    assert "Seed: river flood" in outcome.prompts[0]


def test_no_model_means_nothing_drafted(home: Path) -> None:
    from riskbench.ai.crew import draft_scenarios

    outcome = draft_scenarios(_context(), 3, None)
    assert outcome.scenarios == ()
    assert outcome.prompts == ()
    with pytest.raises(ValidationError, match="n: must be a whole number from 1 to 50"):
        draft_scenarios(_context(), 0, False)


_SUBPROCESS = textwrap.dedent(
    """
    import json, os, socket, sys
    attempts = []
    def refuse(name):
        def guard(*args, **kwargs):
            attempts.append(name)
            raise OSError("network access refused: " + name)
        return guard
    socket.socket.connect = refuse("connect")
    socket.socket.connect_ex = refuse("connect_ex")
    socket.getaddrinfo = refuse("getaddrinfo")
    socket.create_connection = refuse("create_connection")

    from riskbench.ai.crew import draft_scenarios
    from riskbench.ai.context import OrgContext, OrgProfile
    import crew_double as d

    llm = d.ScriptedLLM(model="scripted/test", answers={
        "analyst": ["Flood."],
        "quant": [d.cards_answer(d.card("ghent-flood"))],
        "reviewer": [d.review_answer()],
    })
    ctx = OrgContext(OrgProfile(name="Acme", industry="retail", regions=("EU",)))
    out = draft_scenarios(ctx, 1, llm)
    switches = ["CREWAI_DISABLE_TELEMETRY", "OTEL_SDK_DISABLED", "CREWAI_DISABLE_TRACKING",
                "CREWAI_TRACING_ENABLED", "CREWAI_STORAGE_DIR"]
    print(json.dumps({"ids": [s.id for s in out.scenarios], "attempts": attempts,
                      "env": {k: os.environ.get(k) for k in switches},
                      "home": os.environ["HOME"]}))
    """
)


@pytest.mark.slow
def test_a_fresh_process_keeps_crewai_at_home_and_offline(tmp_path: Path) -> None:
    """Import and run in a new process: CrewAI's import-time files included."""
    home = tmp_path / "home"
    home.mkdir()
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("CREWAI_", "OTEL_", "RISKBENCH_")) and k != "PYTHON_DOTENV_DISABLED"
    }
    env.update(
        HOME=str(home),
        TMPDIR=str(tmp_path / "tmp"),
        PYTHONPATH=os.pathsep.join([str(ROOT / "tests"), str(ROOT)]),
    )
    (tmp_path / "tmp").mkdir()
    proc = subprocess.run(
        [sys.executable, "-c", _SUBPROCESS],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["ids"] == ["ghent-flood"]
    assert result["attempts"] == []
    assert result["home"] == str(home)  # HOME restored after the import
    storage = home / ".riskbench" / "crewai"
    assert result["env"] == {
        "CREWAI_DISABLE_TELEMETRY": "true",
        "OTEL_SDK_DISABLED": "true",
        "CREWAI_DISABLE_TRACKING": "true",
        "CREWAI_TRACING_ENABLED": "false",
        "CREWAI_STORAGE_DIR": str(storage.resolve()),
    }
    outside = [p for p in home.rglob("*") if not p.is_relative_to(home / ".riskbench")]
    assert outside == []
    assert (storage / "latest_kickoff_task_outputs.db").is_file()
    # Written at import, kept inside the riskbench home:
    assert (storage / "home" / ".local" / "share" / "crewai" / "credentials").is_dir()

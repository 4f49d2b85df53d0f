"""A test double of a hosted language model for the CrewAI crew tests.

No model can run here, so :class:`ScriptedLLM` stands in for one: a real
``crewai.BaseLLM`` subclass that answers from a script, by which agent is asking (the
role in CrewAI's system message). Everything else in the tests is real CrewAI.

``ScriptedLLM`` is built on first use, through ``riskbench.ai.llm.import_crewai()``,
so that CrewAI is imported in riskbench's environment (the fixtures set it up).
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from pydantic import PrivateAttr

from riskbench.ai.llm import import_crewai


def __getattr__(name: str) -> Any:
    # Built on first use, not at import: pytest's doctest collection imports this module,
    # and CrewAI must be imported in the environment the fixtures set up.
    if name == "ScriptedLLM":
        return _scripted_llm()
    raise AttributeError(name)


@cache
def _scripted_llm() -> type:
    base_llm = import_crewai().BaseLLM

    class ScriptedLLM(base_llm):  # type: ignore[misc,valid-type]
        """Test double standing in for a hosted model: scripted answers per agent.

        Parameters
        ----------
        answers
            For each agent (``"analyst"``, ``"quant"``, ``"reviewer"``), the answers to
            give in turn; the last one repeats when they run out.
        """

        answers: dict[str, list[str]]
        _calls: list[tuple[str, list[dict[str, Any]]]] = PrivateAttr(default_factory=list)

        @property
        def calls(self) -> list[tuple[str, list[dict[str, Any]]]]:
            """Every call: (agent, messages), in order."""
            return self._calls

        def received_text(self) -> str:
            """All the text the model was sent, joined."""
            return "\n".join(str(m.get("content", "")) for _, ms in self._calls for m in ms)

        def call(
            self,
            messages: Any,
            tools: Any = None,
            callbacks: Any = None,
            available_functions: Any = None,
            from_task: Any = None,
            from_agent: Any = None,
            response_model: Any = None,
        ) -> str:
            if isinstance(messages, str):
                messages = [{"role": "user", "content": messages}]
            msgs = [dict(m) for m in messages]
            system = " ".join(str(m.get("content", "")) for m in msgs if m.get("role") == "system")
            agent = next(
                (k for k, role in _ROLES.items() if system.startswith(f"You are {role}")), "other"
            )
            self._calls.append((agent, msgs))
            script = self.answers.get(agent)
            if not script:
                raise AssertionError(f"ScriptedLLM has no answer for {agent!r}: {msgs!r}")
            done = sum(1 for a, _ in self._calls if a == agent) - 1
            return script[min(done, len(script) - 1)]

        def supports_function_calling(self) -> bool:
            """No native function calling: CrewAI's converter then asks in plain text."""
            return False

        def get_input_tokens_count(
            self, messages: Any, tools: Any = None, response_model: Any = None
        ) -> int:
            """Characters / 4, without CrewAI's warning that it is an estimate."""
            text = messages if isinstance(messages, str) else json.dumps(messages, default=str)
            return (len(text) + 3) // 4

    return ScriptedLLM


_ROLES = {"analyst": "Scenario analyst", "quant": "Risk quant", "reviewer": "Reviewer"}


def card(id: str, **changes: Any) -> dict[str, Any]:
    """A valid card in the quant's answer form, with ``changes`` applied."""
    base: dict[str, Any] = {
        "id": id,
        "title": "Flood closes the Ghent warehouse",
        "category": "climate",
        "frequency": {"dist": "poisson", "rate": 0.05},
        "severity": {"dist": "lognormal", "low": 1_000_000, "high": 8_000_000, "conf": 0.9},
        "narrative": "River flooding closes the warehouse; losses range from EUR 1 million "
        "to EUR 8 million per event, about once every 20 years.",
        "assumptions": [{"name": "rate", "text": "Flood maps", "source": "regional flood map"}],
        "assets": [],
    }
    base.update(changes)
    return base


def cards_answer(*cards: dict[str, Any]) -> str:
    """The quant's answer holding ``cards``."""
    return json.dumps({"cards": list(cards)})


def review_answer(verdicts: dict[str, tuple[bool, list[str]]] | None = None) -> str:
    """The reviewer's answer: ``{id: (ok, problems)}``; none means no objection."""
    items = (verdicts or {}).items()
    return json.dumps({"verdicts": [{"id": k, "ok": ok, "problems": p} for k, (ok, p) in items]})

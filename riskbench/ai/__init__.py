"""AI-assisted scenarios: narratives, suggested scenarios and the CrewAI crew.

Everything here works offline by default (a deterministic template narrator and a
built-in scenario library); with ``RISKBENCH_LLM`` set, a language model drafts
through CrewAI. See ``docs/ai.md``.
"""

"""Small builders shared by the tests."""

from __future__ import annotations

from pathlib import Path

import riskbench as rb

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE_CARD = ROOT / "examples" / "register.yaml"


def scenario(
    sid: str = "s",
    frequency: rb.Distribution | None = None,
    severity: rb.Distribution | None = None,
    **kw: object,
) -> rb.Scenario:
    """A scenario with defaults, for tests."""
    return rb.Scenario(
        id=sid,
        title=kw.pop("title", sid.upper()),
        category=kw.pop("category", "other"),
        frequency=frequency if frequency is not None else rb.Poisson(rate=1.0),
        severity=severity if severity is not None else rb.Constant(1.0),
        **kw,
    )

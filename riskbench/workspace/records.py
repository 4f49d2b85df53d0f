"""What the workspace hands back (:class:`ScenarioInfo`, :class:`RunInfo`) and the
small checks and hashes its modules share.

Nothing here touches the database.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from dataclasses import dataclass
from typing import Any

import pandas as pd

from riskbench.embed import scenario_text
from riskbench.errors import Issue, ValidationError

__all__ = [
    "RunInfo",
    "ScenarioInfo",
    "canonical_json",
    "check_name",
    "finite",
    "json_sha256",
    "scenario_text",
]

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$")


@dataclass(frozen=True)
class ScenarioInfo:
    """A stored scenario's current version and who saved it when."""

    scenario_id: str
    version: int
    title: str
    category: str
    created_at: Any
    created_by: str


@dataclass(frozen=True)
class RunInfo:
    """A stored run: how it was made, which scenario versions it used, its summary."""

    run_id: str
    created_at: Any
    created_by: str
    parameters: dict[str, Any]
    seed: str
    engine: str
    engine_version: str
    package_version: str
    artefact: str | None
    scenarios: dict[str, int]
    summary: pd.DataFrame


def canonical_json(value: Any) -> str:
    """``value`` as JSON with sorted keys and no spaces (NaN refused)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def json_sha256(value: Any) -> str:
    """The SHA-256 of :func:`canonical_json` of ``value``, as hex."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def finite(value: Any) -> Any:
    """``value``, or None for a float NaN or infinity."""
    # jsonb has no NaN or infinity: store them as null.
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def check_name(value: Any, field: str) -> str:
    """``value`` if it is a valid organisation, user or object id; else ValidationError."""
    if not isinstance(value, str) or not _NAME.match(value):
        raise ValidationError(
            [
                Issue(
                    field,
                    f"must be 1-128 letters, digits or '_.@-', starting with a letter or "
                    f"digit, got {value!r}",
                )
            ]
        )
    return value

"""Scenario card files: load, save and the JSON Schema editors validate them with.

A card is a YAML or JSON file with a ``scenarios`` list and optional
``correlation`` list (see the README for the format). Errors name the file, the
scenario and the field, and every problem in a card is reported at once.

Examples
--------
>>> import json, riskbench as rb
>>> schema = rb.card_schema()
>>> schema["required"]
['scenarios']
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from riskbench.dists import Distribution, registry
from riskbench.errors import Issue, ScenarioError
from riskbench.files import atomic_write_text, read_text
from riskbench.scenario import CATEGORIES, Portfolio

__all__ = ["atomic_write_text", "card_schema", "load_portfolio", "save_portfolio"]


def load_portfolio(path: str | os.PathLike[str]) -> Portfolio:
    """Read a scenario card (YAML or JSON) into a validated :class:`Portfolio`.

    Raises
    ------
    ScenarioError
        With one line per problem, e.g. ``card.yaml: scenarios[2] (ransomware-erp)
        .severity.high: must be greater than low (250000), got 100000``.
    """
    p = Path(path)
    text = read_text(p, error=ScenarioError)
    if p.suffix.lower() == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ScenarioError(
                [Issue("", f"not valid JSON at line {err.lineno}, column {err.colno}: {err.msg}")],
                source=p.name,
            ) from None
        return Portfolio.from_dict(data, source=p.name)
    return Portfolio.from_yaml(text, source=p.name)


def save_portfolio(portfolio: Portfolio, path: str | os.PathLike[str]) -> Path:
    """Write the card to ``path`` (YAML, or JSON when the name ends in ``.json``), atomically."""
    p = Path(path)
    if p.suffix.lower() == ".json":
        text = json.dumps(portfolio.to_dict(), indent=2) + "\n"
    else:
        text = portfolio.to_yaml()
    return atomic_write_text(p, text)


# ------------------------------------------------------------------------ JSON Schema
def _dist_schema(cls: type[Distribution]) -> dict[str, Any]:
    raw = cls.model_json_schema(by_alias=True)
    props: dict[str, Any] = {"dist": {"const": cls.dist}}
    for name, prop in raw.get("properties", {}).items():
        prop = {k: v for k, v in prop.items() if k not in ("title", "default")}
        if name in ("low", "high", "mode", "mu", "sigma", "conf", "value", "mean", "sd"):
            prop = {"type": "number", **_bounds(prop)}
        props[name] = prop
    if cls.dist == "poisson":
        props["rate"] = {
            "anyOf": [{"type": "number", "minimum": 0}, {"$ref": "#/$defs/value_dist"}],
            "description": "events per year: a number, or a distribution for an uncertain rate",
        }
    if cls.dist == "mixture":
        props["components"] = {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "array",
                "prefixItems": [
                    {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                    {"$ref": "#/$defs/value_dist"},
                ],
                "minItems": 2,
                "maxItems": 2,
            },
            "description": "[weight, distribution] pairs; weights sum to 1",
        }
    if cls.dist == "empirical":
        props["values"] = {"type": "array", "items": {"type": "number"}, "minItems": 1}
    if cls.dist == "bernoulli":
        props["p"] = {"type": "number", "minimum": 0, "maximum": 1}
    if cls.dist == "lognormal":
        props["conf"] = {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}
        return {
            "type": "object",
            "properties": props,
            "required": ["dist"],
            "additionalProperties": False,
            "oneOf": [{"required": ["mu", "sigma"]}, {"required": ["low", "high"]}],
            "description": cls.__doc__.strip().splitlines()[0] if cls.__doc__ else "",
        }
    required = ["dist", *[n for n in raw.get("required", []) if n in props]]
    return {
        "type": "object",
        "properties": props,
        "required": required,
        "additionalProperties": False,
        "description": cls.__doc__.strip().splitlines()[0] if cls.__doc__ else "",
    }


def _bounds(prop: dict[str, Any]) -> dict[str, Any]:
    for option in prop.get("anyOf", [prop]):
        if option.get("type") == "number":
            return {k: v for k, v in option.items() if k != "type"}
    return {}


def card_schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) of a scenario card.

    Structural checks only; cross-field rules (``high > low``) are the loader's.
    """
    dists = registry()
    freq = [n for n, c in dists.items() if c.kind == "frequency"]
    value = [n for n, c in dists.items() if c.kind == "value"]
    defs: dict[str, Any] = {f"dist_{n}": _dist_schema(c) for n, c in dists.items()}
    defs["frequency_dist"] = {"oneOf": [{"$ref": f"#/$defs/dist_{n}"} for n in freq]}
    defs["value_dist"] = {"oneOf": [{"$ref": f"#/$defs/dist_{n}"} for n in value]}
    layer = {
        "type": "object",
        "properties": {
            "deductible": {"type": "number", "minimum": 0},
            "limit": {"type": ["number", "null"], "exclusiveMinimum": 0},
        },
        "additionalProperties": False,
    }
    defs["scenario"] = {
        "type": "object",
        "required": ["id", "title", "category", "frequency", "severity"],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string", "pattern": "^[a-z0-9][a-z0-9-]{0,79}$"},
            "title": {"type": "string", "minLength": 1},
            "category": {"enum": list(CATEGORIES)},
            "owner": {"type": ["string", "null"]},
            "assets": {"type": "array", "items": {"type": "string", "minLength": 1}},
            "frequency": {"$ref": "#/$defs/frequency_dist"},
            "severity": {"$ref": "#/$defs/value_dist"},
            "narrative": {"type": "string"},
            "assumptions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name", "text"],
                    "additionalProperties": False,
                    "properties": {
                        k: {"type": "string"}
                        if k in ("name", "text")
                        else {"type": ["string", "null"]}
                        for k in ("name", "text", "rationale", "source")
                    },
                },
            },
            "insurance": {
                "type": ["object", "null"],
                "additionalProperties": False,
                "properties": {"per_event": layer, "annual": layer},
            },
        },
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "riskbench scenario card",
        "type": "object",
        "required": ["scenarios"],
        "additionalProperties": False,
        "properties": {
            "name": {"type": "string"},
            "currency": {"type": "string", "pattern": "^[A-Z]{3}$"},
            "description": {"type": "string"},
            "scenarios": {"type": "array", "minItems": 1, "items": {"$ref": "#/$defs/scenario"}},
            "correlation": {
                "type": "array",
                "items": {
                    "type": "array",
                    "prefixItems": [
                        {"type": "string"},
                        {"type": "string"},
                        {"type": "number", "minimum": -1, "maximum": 1},
                    ],
                    "minItems": 3,
                    "maxItems": 3,
                },
            },
        },
        "$defs": defs,
    }

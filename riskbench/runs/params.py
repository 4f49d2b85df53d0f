"""The parameters of a scenario run, checked before anything runs.

A papermill parameters cell holds plain literals, and ``papermill -p`` turns every
value into text ("50000", "None", "[1, 2]"). :meth:`RunParameters.from_mapping`
takes either, coerces text the way a person means it, checks every field, and raises
one :class:`~riskbench.errors.RunError` that lists every problem with its field, the
value given and what is allowed.
"""

from __future__ import annotations

import ast
import datetime as dt
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from riskbench.errors import Issue, RunError

__all__ = ["MAX_TRIALS", "MIN_TRIALS", "RunParameters"]

MIN_TRIALS = 1_000
MAX_TRIALS = 100_000_000
_INCIDENT_SOURCES = ("store", "none")
_PLAN_WORDS = ("best", "none")


def _literal(value: Any) -> Any:
    """A CLI string as the Python literal it spells ("50000" -> 50000, "None" -> None);
    any other text stays text."""
    if not isinstance(value, str):
        return value
    text = value.strip()
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


@dataclass(frozen=True)
class RunParameters:
    """What a scenario run uses: where the scenarios come from, how many years, the
    seed, the as-of date, the stress sets, the mitigation plan and the organisation.

    Attributes
    ----------
    org
        Organisation id: whose workspace the run is recorded in (and whose scenarios
        it reads when ``card`` is empty).
    card
        Path of a scenario card file; empty to read ``scenarios`` from the workspace.
    scenarios
        With no card: ``"all"`` (the workspace's current scenarios) or a list of ids.
    trials, seed
        Simulated years (1,000 to 100 million) and the random seed (an integer >= 0).
    as_of
        The date the figures are as of (ISO ``YYYY-MM-DD``).
    stress_file, stress_sets
        A stress-set file, and the names in it to run (empty: all).
    mitigations_file, plan, budget_per_year
        Mitigation options; the plan is ``"best"`` (the best within the budget, by
        mean annual loss), ``"none"`` or a list of option ids.
    graph_file
        A dependency-graph file, for the single points of failure.
    incidents
        ``"store"``: calibrate frequencies on the organisation's incident log;
        ``"none"``; or the path of an incidents CSV.
    tolerance
        The board's risk tolerance: ``[[loss, annual probability], ...]``.
    top
        How many scenarios (by mean annual loss) get a narrative in the board pack.
    """

    org: str = "northwind"
    card: str = ""
    scenarios: str | tuple[str, ...] = "all"
    trials: int = 50_000
    seed: int = 2026
    as_of: str = ""
    stress_file: str = ""
    stress_sets: tuple[str, ...] = ()
    mitigations_file: str = ""
    plan: str | tuple[str, ...] = "best"
    budget_per_year: float = 0.0
    graph_file: str = ""
    incidents: str = "none"
    tolerance: tuple[tuple[float, float], ...] = ()
    top: int = 5
    base_dir: str = field(default="", compare=False)

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The parameter names a notebook or ``-p`` may give (``base_dir`` is set by
        the runner: relative paths are read from there)."""
        return tuple(f.name for f in fields(cls) if f.name != "base_dir")

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any], *, base_dir: str | Path = "") -> RunParameters:
        """Checked parameters from ``values`` (literals or ``-p`` text).

        Raises :class:`~riskbench.errors.RunError` listing every problem: unknown
        names, wrong types, values out of range, missing files.
        """
        issues: list[Issue] = []
        known = set(cls.names())
        for name in values:
            if name not in known:
                issues.append(
                    Issue(name, f"is not a run parameter; allowed: {', '.join(sorted(known))}")
                )
        raw = {k: _literal(v) for k, v in values.items() if k in known}
        defaults = cls()
        out: dict[str, Any] = {}
        base = Path(base_dir) if base_dir else Path.cwd()

        def get(name: str) -> Any:
            value = raw.get(name, getattr(defaults, name))
            return getattr(defaults, name) if value is None else value

        def text(name: str) -> str:
            value = get(name)
            if not isinstance(value, str):
                issues.append(Issue(name, f"must be text, got {value!r}"))
                return str(getattr(defaults, name))
            return value.strip()

        def integer(name: str, low: int, high: int) -> int:
            value = get(name)
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                issues.append(
                    Issue(name, f"must be a whole number from {low:,} to {high:,}, got {value!r}")
                )
                return int(getattr(defaults, name))
            return value

        def path(name: str) -> str:
            value = text(name)
            if value and not (base / value).expanduser().is_file():
                issues.append(
                    Issue(name, f"no file at {value!r} (relative paths are read from {base})")
                )
            return value

        def names_list(name: str) -> tuple[str, ...]:
            value = get(name)
            if isinstance(value, str):
                value = [v.strip() for v in value.split(",") if v.strip()]
            if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
                issues.append(Issue(name, f"must be a list of names, got {value!r}"))
                return ()
            return tuple(value)

        out["org"] = text("org")
        if not out["org"]:
            issues.append(Issue("org", "must name the organisation, got ''"))
        out["card"] = path("card")
        scenarios = get("scenarios")
        if scenarios == "all":
            out["scenarios"] = "all"
        else:
            out["scenarios"] = names_list("scenarios")
            if not out["scenarios"] and not out["card"]:
                issues.append(Issue("scenarios", "must be 'all' or name at least one scenario"))
        out["trials"] = integer("trials", MIN_TRIALS, MAX_TRIALS)
        out["seed"] = integer("seed", 0, 2**63 - 1)
        as_of = text("as_of") or dt.date.today().isoformat()
        try:
            dt.date.fromisoformat(as_of)
        except ValueError:
            issues.append(Issue("as_of", f"must be a date YYYY-MM-DD, got {as_of!r}"))
        out["as_of"] = as_of
        out["stress_file"] = path("stress_file")
        out["stress_sets"] = names_list("stress_sets")
        if out["stress_sets"] and not out["stress_file"]:
            issues.append(Issue("stress_sets", "needs a stress_file to take the sets from"))
        out["mitigations_file"] = path("mitigations_file")
        plan = get("plan")
        if isinstance(plan, str) and plan.strip() in _PLAN_WORDS:
            out["plan"] = plan.strip()
        else:
            out["plan"] = names_list("plan")
        if isinstance(out["plan"], tuple) and out["plan"] and not out["mitigations_file"]:
            issues.append(Issue("plan", f"{plan!r} needs a mitigations_file to take options from"))
        budget = get("budget_per_year")
        if (
            isinstance(budget, bool)
            or not isinstance(budget, int | float)
            or not math.isfinite(budget)
            or budget < 0
        ):
            issues.append(Issue("budget_per_year", f"must be an amount >= 0, got {budget!r}"))
            budget = 0.0
        out["budget_per_year"] = float(budget)
        out["graph_file"] = path("graph_file")
        incidents = text("incidents")
        if incidents not in _INCIDENT_SOURCES:
            incidents = path("incidents")
        out["incidents"] = incidents
        out["tolerance"] = cls._tolerance(get("tolerance"), issues)
        out["top"] = integer("top", 0, 100)
        if issues:
            raise RunError(
                "bad run parameters:\n" + "\n".join(f"  {i}" for i in issues), issues=issues
            )
        return cls(**out, base_dir=str(base))

    @staticmethod
    def _tolerance(value: Any, issues: list[Issue]) -> tuple[tuple[float, float], ...]:
        if not isinstance(value, list | tuple):
            issues.append(Issue("tolerance", f"must be [[loss, probability], ...], got {value!r}"))
            return ()
        points = []
        for i, pair in enumerate(value):
            ok = (
                isinstance(pair, list | tuple)
                and len(pair) == 2
                and all(isinstance(x, int | float) and not isinstance(x, bool) for x in pair)
                and pair[0] >= 0
                and 0 < pair[1] <= 1
            )
            if not ok:
                issues.append(
                    Issue(
                        f"tolerance[{i}]",
                        f"must be [loss >= 0, probability in (0, 1]], got {pair!r}",
                    )
                )
                continue
            points.append((float(pair[0]), float(pair[1])))
        return tuple(points)

    def resolve(self, name: str) -> Path | None:
        """The file parameter ``name`` as a path (relative to ``base_dir``), or None."""
        value = getattr(self, name)
        if not value or value in _INCIDENT_SOURCES:
            return None
        return (Path(self.base_dir or ".") / str(value)).expanduser()

    def to_dict(self) -> dict[str, Any]:
        """The parameters as plain JSON values (lists for tuples), without base_dir."""
        out = asdict(self)
        out.pop("base_dir")
        return {k: _jsonable(v) for k, v in out.items()}


def _jsonable(v: Any) -> Any:
    if isinstance(v, tuple | list):
        return [_jsonable(x) for x in v]
    return v

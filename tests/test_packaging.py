"""Packaging invariants: environment.yml matches pyproject.toml, the core stays free of
UI imports, and the public API is pinned."""

from __future__ import annotations

import ast
import re
import tomllib
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

# The names ARCHITECTURE.md promises under "The public API".
PUBLIC_API = {
    "Bernoulli",
    "Beta",
    "Constant",
    "Empirical",
    "LogNormal",
    "Mixture",
    "Normal",
    "PERT",
    "Poisson",
    "Portfolio",
    "Scenario",
    "SimulationResult",
    "Triangular",
    "Uniform",
    "load_portfolio",
    "simulate",
}

UI_MODULES = {"panel", "ipywidgets", "bokeh", "holoviews"}

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


def normalise(spec: str) -> str:
    """The distribution name in a requirement, PEP 503-normalised.

    >>> normalise("psycopg[binary]>=3.1"), normalise("conda-forge::PyYAML >=6")
    ('psycopg', 'pyyaml')
    """
    spec = spec.split("::")[-1].strip()
    match = _NAME.match(spec)
    assert match, f"cannot read a package name from {spec!r}"
    return re.sub(r"[-_.]+", "-", match.group()).lower()


def pyproject_names() -> set[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    specs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        specs.extend(extra)
    return {normalise(s) for s in specs} - {normalise(project["name"])}


def environment_names() -> set[str]:
    env: dict[str, Any] = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    names: set[str] = set()
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            # pip options and local paths ("-e .") are not package names
            names.update(normalise(s) for s in dep["pip"] if not s.startswith(("-", ".")))
        else:
            names.add(normalise(dep))
    return names - {"python", "pip"}


def test_environment_has_every_pyproject_dependency() -> None:
    missing = pyproject_names() - environment_names()
    assert not missing, f"in pyproject.toml but not in environment.yml: {sorted(missing)}"


def test_environment_has_nothing_beyond_pyproject() -> None:
    extra = environment_names() - pyproject_names()
    assert not extra, f"in environment.yml but not in pyproject.toml: {sorted(extra)}"


def test_environment_installs_the_project_and_python_3_11() -> None:
    env = yaml.safe_load((ROOT / "environment.yml").read_text(encoding="utf-8"))
    assert env["name"] == "riskbench"
    assert "python=3.11" in env["dependencies"]
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip


def ui_imports(path: Path) -> list[str]:
    """``file:line module`` for each import of a UI package in ``path``."""
    source = path.read_text(encoding="utf-8")
    found = []
    for node in ast.walk(ast.parse(source, filename=str(path))):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules = [node.module]
        else:
            continue
        found += [f"{path}:{node.lineno} {m}" for m in modules if m.split(".")[0] in UI_MODULES]
    return found


def test_ui_import_scanner_finds_each_form(tmp_path: Path) -> None:
    # Guards the guard: a scanner that found nothing would pass the test below vacuously.
    src = tmp_path / "probe.py"
    src.write_text(
        "import os\nimport panel as pn\nfrom bokeh.models import Div\n"
        "def f():\n    import ipywidgets.widgets, holoviews\n"
        "from paneling import x\nfrom . import panel\n"
    )
    modules = [hit.split(" ")[-1] for hit in ui_imports(src)]
    assert modules == ["panel", "bokeh.models", "ipywidgets.widgets", "holoviews"]


def test_core_never_imports_the_ui() -> None:
    sources = sorted((ROOT / "riskbench").rglob("*.py"))
    assert sources, "no sources found under riskbench/"
    found = [hit for path in sources for hit in ui_imports(path)]
    assert not found, "riskbench/ must not import the UI layer (put it in widgets/):\n" + (
        "\n".join(found)
    )


def isort_key(name: str) -> tuple[int, list[int | str]]:
    """Sort key of an isort-style sort, the order ruff's RUF022 keeps ``__all__`` in.

    CONSTANTS first, then CamelCase, then the rest; digits compare as numbers.

    >>> sorted(["load", "Scenario", "PERT", "__version__", "Beta2", "Beta10"], key=isort_key)
    ['PERT', 'Beta2', 'Beta10', 'Scenario', '__version__', 'load']
    """
    kind = 0 if name.isupper() and len(name) > 1 else 1 if name[:1].isupper() else 2
    return kind, [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", name)]


def test_public_api_is_sorted_and_importable() -> None:
    import riskbench as rb

    exported = list(rb.__all__)
    assert exported == sorted(exported, key=isort_key), "riskbench.__all__ must be sorted"
    assert len(exported) == len(set(exported)), "riskbench.__all__ has duplicates"
    missing = [name for name in exported if not hasattr(rb, name)]
    assert not missing, f"in riskbench.__all__ but not importable: {missing}"
    absent = PUBLIC_API - set(exported)
    assert not absent, f"public API names missing from riskbench.__all__: {sorted(absent)}"

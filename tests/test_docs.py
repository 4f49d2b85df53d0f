"""The docs stay true: every public name is documented, README code runs."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import riskbench as rb
from helpers import ROOT


def test_every_public_name_is_in_the_api_reference() -> None:
    text = (ROOT / "docs" / "api.md").read_text()
    missing = [n for n in rb.__all__ if n != "__version__" and f"rb.{n}" not in text]
    assert not missing, f"add to docs/api.md: {missing}"


def test_every_public_name_has_a_docstring() -> None:
    for name in rb.__all__:
        obj = getattr(rb, name)
        if isinstance(obj, str | tuple):
            continue
        assert (obj.__doc__ or "").strip(), name


def _python_blocks(path: str) -> list[str]:
    text = (ROOT / path).read_text()
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.parametrize(
    "path",
    [
        "README.md",
        "docs/user-guide.md",
        "docs/analyses.md",
        "docs/ai.md",
        "docs/runs.md",
        "docs/boardpack.md",
        "docs/exports.md",
    ],
)
def test_python_examples_in_the_docs_run(
    path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stores the examples open live in a fresh home, never the user's ~/.riskbench.
    monkeypatch.setenv("RISKBENCH_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("RISKBENCH_DATABASE_URL", raising=False)
    monkeypatch.delenv("RISKBENCH_CLICKHOUSE_URL", raising=False)
    monkeypatch.delenv("RISKBENCH_LLM", raising=False)  # the offline path, as documented
    blocks = _python_blocks(path)
    assert blocks, f"{path} has no python examples"
    namespace: dict[str, object] = {}
    for block in blocks:
        exec(compile(block, path, "exec"), namespace)

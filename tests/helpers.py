"""Small builders shared by the tests."""

from __future__ import annotations

import socket
from collections.abc import Iterable
from html.parser import HTMLParser
from pathlib import Path

import riskbench as rb
from riskbench.runs.params import RunParameters

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


def external_resources(text: str) -> list[str]:
    """The src/href of every <script> and stylesheet <link> that points off the page.

    Bokeh's inline bundle itself mentions cdn.jsdelivr (a MathJax loader used only
    for LaTeX labels), so the check is on what the page loads, not on any substring;
    Panel's page template links its favicon from cdn.holoviz.org (an icon, which an
    offline browser simply does not show), so icons are left out.
    """

    class Refs(HTMLParser):
        def __init__(self) -> None:
            super().__init__()
            self.refs: list[str] = []

        def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
            found = dict(attrs)
            if tag == "link" and "icon" in (found.get("rel") or ""):
                return
            for key in ("src", "href"):
                value = found.get(key)
                if tag in ("script", "link") and value:
                    self.refs.append(value)

    parser = Refs()
    parser.feed(text)
    return [r for r in parser.refs if r.startswith(("http:", "https:", "//"))]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def off_server(requests: Iterable[str], host: str) -> list[str]:
    """The requests a browser page made to anything but ``host`` (``127.0.0.1:PORT``)."""
    local = (f"http://{host}", f"ws://{host}", "data:", "blob:", "about:")
    return [r for r in requests if not r.startswith(local)]


#: The scenario-run parameters of the example company with every input (paths from the
#: repository root): the tests of runs, board packs and exports share them.
FULL_RUN = {
    "card": "examples/register.yaml",
    "trials": 20_000,
    "seed": 7,
    "as_of": "2026-11-01",
    "stress_file": "examples/stress.yaml",
    "mitigations_file": "examples/mitigations.yaml",
    "budget_per_year": 800_000,
    "graph_file": "examples/dependencies.yaml",
    "tolerance": [[5e6, 0.2], [20e6, 0.05], [60e6, 0.01]],
}


def full_run_parameters(**changes: object) -> RunParameters:
    """:data:`FULL_RUN` with ``changes``, checked."""
    return RunParameters.from_mapping({**FULL_RUN, **changes}, base_dir=ROOT)


def job_notebook(folder: Path, parameters: str, *cells: str) -> Path:
    """``folder/job.ipynb``: a parameters cell (``parameters``, papermill's tag) and
    code ``cells``, for the python3 kernel."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(parameters, metadata={"tags": ["parameters"]})])
    nb.cells += [new_code_cell(c) for c in cells]
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    path = folder / "job.ipynb"
    nbformat.write(nb, path)
    return path

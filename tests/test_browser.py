"""The dashboard in a real browser: Voila and `panel serve`, driven by Playwright with
Debian's Chromium (/usr/bin/chromium), against servers started here on 127.0.0.1.

Each test loads the dashboard of an organisation whose run is stored in the session's
embedded PostgreSQL, checks that every chart is drawn, that the page asks nothing of
any other host (no CDN) and logs no error, then ticks a mitigation and moves a slider
and checks that the headline p99 becomes what the core computes for the same inputs.
Screenshots go to out/test-artefacts/.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import riskbench as rb
from helpers import ROOT, free_port, off_server
from riskbench.mitigation import apply_mitigations

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]

CHROMIUM = "/usr/bin/chromium"
ARTEFACTS = ROOT / "out" / "test-artefacts"
VENV_BIN = Path(sys.executable).parent
ORG = "browser-a"
TRIALS, SEED = 20_000, 5
WHAT_IF_TRIALS = 50_000
TICKED = "immutable-backups"


def _wait_for_port(port: int, proc: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


@pytest.fixture(scope="module")
def stored(pg_home: Path) -> rb.SimulationResult:
    """The organisation's run, stored with its simulated years as the demo stores it."""
    from riskbench.workspace import Workspace

    result = rb.simulate(rb.load_portfolio(ROOT / "examples" / "register.yaml"), TRIALS, SEED)
    assert isinstance(result, rb.SimulationResult)
    with Workspace(org=ORG, user="ada", home=pg_home) as ws:
        ws.save_run(result, artefact_dir=pg_home / "artefacts")
    return result


def _server_env(pg_home: Path) -> dict[str, str]:
    jupyter = str(ROOT / "templates" / "jupyter")  # as `make dashboard` sets them
    env = {
        **os.environ,
        "RISKBENCH_HOME": str(pg_home),
        "RISKBENCH_ORG": ORG,
        "RISKBENCH_USER": "ada",
        "JUPYTER_PATH": jupyter,
        "JUPYTER_CONFIG_PATH": jupyter,
    }
    env.pop("RISKBENCH_LLM", None)
    env.pop("RISKBENCH_DATABASE_URL", None)
    return env


def _voila(notebook: str, port: int, *options: str) -> list[str]:
    """The command `make dashboard` runs, on ``port``."""
    return [
        str(VENV_BIN / "voila"),
        notebook,
        "--no-browser",
        "--Voila.ip=127.0.0.1",
        f"--port={port}",
        *options,
    ]


def _panel(notebook: str, port: int) -> list[str]:
    """The command `make app` runs, on ``port``."""
    return [
        str(VENV_BIN / "panel"),
        "serve",
        notebook,
        "--address",
        "127.0.0.1",
        "--port",
        str(port),
        "--allow-websocket-origin",
        f"127.0.0.1:{port}",
    ]


@contextmanager
def _served(
    cmd: list[str], port: int, *, cwd: Path, env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """The server ``cmd`` started on 127.0.0.1:``port``, stopped afterwards."""
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        _wait_for_port(port, proc)
        yield proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture
def voila(pg_home: Path, stored: rb.SimulationResult) -> Iterator[tuple[str, Any]]:
    """Voila as `make dashboard` runs it (templates/jupyter/voila.json), with a shorter
    idle cull so that the test sees it happen."""
    import psutil

    port = free_port()
    cmd = _voila(
        "notebooks/dashboard.ipynb",
        port,
        "--MappingKernelManager.cull_idle_timeout=4",
        "--MappingKernelManager.cull_interval=2",
    )
    with _served(cmd, port, cwd=ROOT, env=_server_env(pg_home)) as proc:
        yield f"http://127.0.0.1:{port}/", psutil.Process(proc.pid)


@pytest.fixture
def panel_app(pg_home: Path, stored: rb.SimulationResult) -> Iterator[str]:
    """`panel serve` of the same notebook, as `make app` runs it."""
    port = free_port()
    cmd = _panel("notebooks/dashboard.ipynb", port)
    with _served(cmd, port, cwd=ROOT, env=_server_env(pg_home)):
        yield f"http://127.0.0.1:{port}/dashboard"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-gpu"])
        yield b
        b.close()


def _expected(stored: rb.SimulationResult, *, severity: float = 1.0) -> str:
    """The headline the core gives: the register with the ticked mitigation (and the
    slider's severity factor on the largest scenario), simulated with the run's seed."""
    portfolio = stored.portfolio
    plan = [
        m for m in rb.load_mitigations(ROOT / "examples" / "mitigations.yaml") if m.id == TICKED
    ]
    if severity == 1.0:
        mitigated = portfolio.with_scenarios(
            [apply_mitigations(s, plan) for s in portfolio.scenarios]
        )
        p99 = rb.simulate(mitigated, trials=WHAT_IF_TRIALS, seed=SEED).var(0.99)
    else:
        summary = stored.summary().drop(index="portfolio")
        biggest = str(summary["mean"].idxmax())
        run = rb.stress(
            portfolio,
            [rb.ScaleSeverity(biggest, severity)],
            trials=WHAT_IF_TRIALS,
            seed=SEED,
            mitigations=plan,
        )
        p99 = run.stressed.var(0.99)
    return f"EUR {p99:,.0f}"


def _wait_text(page: Any, selector: str, old: str, timeout_s: float = 120.0) -> str:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        text = page.inner_text(selector)
        if text != old:
            return str(text)
        page.wait_for_timeout(250)
    raise TimeoutError(f"{selector} still shows {old!r} after {timeout_s} s")


def _drive_dashboard(
    browser: Any,
    url: str,
    stored: rb.SimulationResult,
    name: str,
    while_open: Any = None,
) -> None:
    ARTEFACTS.mkdir(parents=True, exist_ok=True)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    requests: list[str] = []
    problems: list[str] = []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    try:
        page.goto(url, timeout=120_000)
        page.wait_for_load_state("networkidle", timeout=180_000)
        page.wait_for_selector("#rb-p99", timeout=180_000)
        # the stored run's p99, loaded, not re-simulated
        assert page.inner_text("#rb-p99") == f"EUR {stored.var(0.99):,.0f}"
        page.wait_for_timeout(1500)
        # the loss curve, histogram and impact matrix are drawn (Bokeh canvases)
        assert page.locator("canvas").count() >= 3
        page.screenshot(path=str(ARTEFACTS / f"{name}-loaded.png"), full_page=True)

        # tick a mitigation: the headline becomes the core's number for that plan
        before = page.inner_text("#rb-p99")
        page.locator("label:has-text('Immutable offline backups')").first.click()
        shown = _wait_text(page, "#rb-p99", before)
        assert shown == _expected(stored)

        # one step right on the severity slider: x 1.25 on the largest scenario
        handle = page.locator(".noUi-handle").nth(1)
        handle.focus()
        page.keyboard.press("ArrowRight")
        shown = _wait_text(page, "#rb-p99", shown)
        assert shown == _expected(stored, severity=1.25)
        page.screenshot(path=str(ARTEFACTS / f"{name}-what-if.png"), full_page=True)
        if while_open is not None:
            while_open()
        seen = list(problems)  # what the page logged while in use, not while being closed
    finally:
        page.close()
    host = url.split("/")[2]
    foreign = off_server(requests, host)
    assert foreign == [], foreign
    assert seen == [], seen


def test_voila_dashboard(voila: tuple[str, Any], browser: Any, stored: rb.SimulationResult) -> None:
    url, server = voila

    def kernels() -> list[int]:
        import psutil

        alive = []
        for p in server.children(recursive=True):
            try:  # a culled kernel may linger as a zombie until it is reaped: not alive
                if p.status() != psutil.STATUS_ZOMBIE and "ipykernel" in " ".join(p.cmdline()):
                    alive.append(p.pid)
            except psutil.NoSuchProcess:
                continue
        return alive

    def visit_has_a_kernel() -> None:
        assert len(kernels()) == 1

    _drive_dashboard(browser, url, stored, "voila-dashboard", while_open=visit_has_a_kernel)

    # the visit's kernel is culled once the page is closed: no kernel left behind
    end = time.monotonic() + 60
    while kernels() and time.monotonic() < end:
        time.sleep(1)
    assert kernels() == []


def test_panel_app(panel_app: str, browser: Any, stored: rb.SimulationResult) -> None:
    _drive_dashboard(browser, panel_app, stored, "panel-app")


COMPONENTS_NB = """\
import os
from pathlib import Path

import riskbench as rb
from riskbench.widgets import (
    CausalGraph, ImpactMatrixView, MitigationTable, ReportWizard, ScenarioWizard, SimChart,
)

root = Path(os.environ["RISKBENCH_REPO"])
portfolio = rb.load_portfolio(root / "examples" / "register.yaml")
result = rb.simulate(portfolio, trials=5_000, seed=1)
graph = rb.DependencyGraph.from_yaml(root / "examples" / "dependencies.yaml")
mitigations = rb.load_mitigations(root / "examples" / "mitigations.yaml")
"""
COMPONENT_CELLS = [
    "ScenarioWizard(portfolio=portfolio).servable()",
    "SimChart(result).servable()",
    "ImpactMatrixView.from_result(result).servable()",
    "CausalGraph(graph).servable()",
    "MitigationTable(portfolio, mitigations, trials=2_000, seed=1).servable()",
    "ReportWizard(result, portfolio=portfolio).servable()",
]


@pytest.fixture(scope="module")
def components_notebook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    import nbformat
    from nbformat.v4 import new_code_cell, new_notebook

    folder = tmp_path_factory.mktemp("components")
    nb = new_notebook(
        cells=[new_code_cell(COMPONENTS_NB)] + [new_code_cell(c) for c in COMPONENT_CELLS]
    )
    nb.metadata["kernelspec"] = {
        "display_name": "Python 3",
        "language": "python",
        "name": "python3",
    }
    nbformat.write(nb, folder / "components.ipynb")
    return folder


@pytest.mark.parametrize("server", ["voila", "panel"])
def test_every_component_works_in_voila_and_panel_serve(
    server: str, components_notebook: Path, pg_home: Path, browser: Any
) -> None:
    """Each component in a served page: drawn, nothing asked of another host, no
    console error; choosing a node of the graph shows the core's lost revenue."""
    port = free_port()
    if server == "voila":
        cmd, url = _voila("components.ipynb", port), f"http://127.0.0.1:{port}/"
    else:
        cmd, url = _panel("components.ipynb", port), f"http://127.0.0.1:{port}/components"
    env = {**_server_env(pg_home), "RISKBENCH_REPO": str(ROOT)}
    requests: list[str] = []
    problems: list[str] = []
    with _served(cmd, port, cwd=components_notebook, env=env):
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        try:
            page.on("request", lambda r: requests.append(r.url))
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))
            page.on(
                "response",
                lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
            )
            page.goto(url, timeout=120_000)
            page.wait_for_load_state("networkidle", timeout=180_000)
            page.wait_for_selector("text=Node out of action", timeout=180_000)
            page.wait_for_timeout(2000)
            # chart, histogram, matrix, graph, frontier: each a Bokeh canvas
            assert page.locator("canvas").count() >= 5
            graph = rb.DependencyGraph.from_yaml(ROOT / "examples" / "dependencies.yaml")
            from riskbench.ai.facts import outage_days

            days = outage_days(graph, "valve-forgings")
            lost = graph.outage("valve-forgings", days).total_lost_revenue
            page.locator("select:has(option[value='valve-forgings'])").select_option(
                "valve-forgings"
            )
            page.wait_for_selector(f"text={lost:,.0f} EUR", timeout=60_000)
            ARTEFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTEFACTS / f"components-{server}.png"), full_page=True)
            seen = list(problems)  # what the page logged while in use, not while being closed
        finally:
            page.close()
    foreign = off_server(requests, f"127.0.0.1:{port}")
    assert foreign == [], foreign
    assert seen == [], seen

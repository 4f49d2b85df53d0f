"""JupyterHub (jupyterhub_config.py) on 127.0.0.1: anonymous requests go to the login
page; a user logs in, their server is spawned with their organisation, and the Voila
dashboard behind the hub shows their organisation's stored run. Driven with Playwright
and Debian's Chromium; the proxy is configurable-http-proxy from npm (`make test`
installs it into .hub-proxy/)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import riskbench as rb
from helpers import ROOT, free_port, job_notebook, off_server

pytestmark = [pytest.mark.browser, pytest.mark.db, pytest.mark.slow]

PROXY = ROOT / ".hub-proxy" / "node_modules" / ".bin" / "configurable-http-proxy"
PASSWORD = "a-shared-test-password"
DASHBOARD = "voila/render/notebooks/dashboard.ipynb"
ARTEFACTS = ROOT / "out" / "test-artefacts"


@pytest.fixture(scope="module")
def hub(pg_home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    from riskbench.workspace import Workspace

    assert PROXY.exists(), "run `make test` (it installs configurable-http-proxy from npm)"
    state = tmp_path_factory.mktemp("hub")
    users = state / "users.yaml"
    users.write_text(
        "users:\n  ada: {org: hub-a, role: analyst}\n  eve: {org: hub-b, role: viewer}\n"
    )
    result = rb.simulate(rb.load_portfolio(ROOT / "examples" / "register.yaml"), 10_000, 3)
    # the organisation exists, created by someone else: ada is not a member yet
    with Workspace(org="hub-a", user="setup", home=pg_home) as ws:
        ws.save_run(result, artefact_dir=pg_home / "artefacts")
        assert "ada" not in set(ws.audit_log()["object"])
    port, api, proxy_api = free_port(), free_port(), free_port()
    env = {
        **os.environ,
        "RISKBENCH_HOME": str(pg_home),
        "RISKBENCH_HUB_DIR": str(state),
        "RISKBENCH_HUB_USERS": str(users),
        "RISKBENCH_HUB_PASSWORD": PASSWORD,
        "RISKBENCH_HUB_PORT": str(port),
        "RISKBENCH_HUB_API_PORT": str(api),
        "RISKBENCH_HUB_PROXY_API_PORT": str(proxy_api),
        "RISKBENCH_HUB_PROXY": str(PROXY),
        "RISKBENCH_HUB_SCHEDULER_ORGS": "hub-a",
        "RISKBENCH_HUB_SCHEDULER_POLL": "1",
    }
    env.pop("RISKBENCH_LLM", None)
    env.pop("RISKBENCH_DATABASE_URL", None)
    log = (state / "hub.log").open("wb")
    proc = subprocess.Popen(
        [str(Path(sys.executable).parent / "jupyterhub"), "-f", "jupyterhub_config.py"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        end = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{base}/hub/api/", timeout=2)
                break
            except (urllib.error.URLError, ConnectionError):
                if proc.poll() is not None or time.monotonic() > end:
                    raise RuntimeError((state / "hub.log").read_text()[-3000:]) from None
                time.sleep(0.5)
        yield {"base": base, "result": result, "log": state / "hub.log", "home": pg_home}
    finally:
        proc.terminate()  # the hub stops the servers it spawned and its proxy
        try:
            proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
        log.close()


def _final_url(url: str) -> tuple[int, str]:
    with urllib.request.urlopen(url, timeout=30) as response:
        return response.status, response.url


@pytest.mark.parametrize("path", [f"user/ada/{DASHBOARD}", "user/ada/lab", "hub/home"])
def test_anonymous_requests_go_to_the_login_page(hub: dict[str, Any], path: str) -> None:
    status, url = _final_url(f"{hub['base']}/{path}")
    assert status == 200
    assert url.startswith(f"{hub['base']}/hub/login?next=")


def test_the_api_refuses_an_anonymous_caller(hub: dict[str, Any]) -> None:
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(f"{hub['base']}/hub/api/users", timeout=30)
    assert err.value.code == 403


def test_login_spawn_and_the_dashboard(hub: dict[str, Any]) -> None:
    from playwright.sync_api import sync_playwright

    base = hub["base"]
    requests: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium", args=["--no-sandbox", "--disable-gpu"]
        )
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.on("request", lambda r: requests.append(r.url))
        page.goto(f"{base}/user/ada/{DASHBOARD}")
        assert "/hub/login" in page.url
        # a wrong password is refused
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", "not-the-password")
        page.click("input[type=submit], button[type=submit]")
        assert "/hub/login" in page.url
        assert "Invalid username or password" in page.content()
        # a user who is not in the users file is refused too
        page.fill("input[name=username]", "mallory")
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit], button[type=submit]")
        assert "/hub/login" in page.url
        # ada logs in; her server is spawned and the dashboard shows her organisation's run
        page.fill("input[name=username]", "ada")
        page.fill("input[name=password]", PASSWORD)
        page.click("input[type=submit], button[type=submit]")
        page.wait_for_selector("#rb-p99", timeout=240_000)
        assert page.url.startswith(f"{base}/user/ada/{DASHBOARD}")
        assert page.inner_text("#rb-p99") == f"EUR {hub['result'].var(0.99):,.0f}"
        # the server runs with ada's organisation (the status line names it)
        assert page.locator("strong:text-is('hub-a')").count() == 1
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTEFACTS / "hub-dashboard.png"), full_page=True)
        browser.close()
    host = base.split("/")[2]
    foreign = off_server(requests, host)
    assert foreign == [], foreign
    # MathJax comes from her server (npm's MathJax 2 in .hub-mathjax/), not from cdnjs
    assert any(r.startswith(f"{base}/user/ada/static/mathjax/MathJax.js") for r in requests)
    # the hub made ada a member with the role of the users file before her server started
    from riskbench.workspace import Workspace

    with Workspace(org="hub-a", user="ada", home=hub["home"]) as ws:
        assert ws.role() == "analyst"
        log_entries = ws.audit_log()
    granted = log_entries[(log_entries["actor"] == "jupyterhub") & (log_entries["object"] == "ada")]
    assert list(granted["action"]) == ["member.set"]
    log = hub["log"].read_text(errors="replace")
    assert "User logged in: ada" in log
    assert "Culling kernels with idle durations > 600 seconds" in log  # kernel culling is on


def test_the_scheduler_service_runs_a_due_schedule(hub: dict[str, Any], tmp_path: Path) -> None:
    """The hub's scheduler service for hub-a (RISKBENCH_HUB_SCHEDULER_ORGS) runs a
    schedule that is due, as the workspace user "scheduler"."""
    import datetime as dt

    from riskbench.runs import store
    from riskbench.runs.schedule import add_schedule, list_schedules
    from riskbench.workspace import Workspace

    path = job_notebook(
        tmp_path,
        "value = 1",
        "from riskbench.runs import run_dir\n(run_dir() / 'done.txt').write_text(str(value * 3))",
    )
    past = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    with Workspace(org="hub-a", user="setup", home=hub["home"]) as ws:
        add_schedule(ws, "hub-job", "0 * * * *", path, {"value": 7}, now=past)
        end = time.monotonic() + 120
        while list_schedules(ws).loc["hub-job", "last_status"] is None:
            assert time.monotonic() < end, hub["log"].read_text()[-3000:]
            time.sleep(1)
        row = list_schedules(ws).loc["hub-job"]
        assert row["last_status"] == "succeeded"
        run = store.get(ws, row["last_run_id"])
        assert run.created_by == "scheduler"
        assert (run.folder / "done.txt").read_text() == "21"

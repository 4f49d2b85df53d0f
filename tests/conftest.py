"""Shared fixtures. Doctests get ``np`` and ``rb`` and run from the repository root."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

import riskbench as rb
from helpers import EXAMPLE_CARD, ROOT

if TYPE_CHECKING:
    from riskbench.logstore import LogStore

settings.register_profile(
    "riskbench",
    deadline=None,
    max_examples=30,
    suppress_health_check=[HealthCheck.too_slow],
    print_blob=True,
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "riskbench"))


@pytest.fixture(autouse=True)
def _doctest_namespace(doctest_namespace: dict[str, object]) -> None:
    doctest_namespace["np"] = np
    doctest_namespace["rb"] = rb


@pytest.fixture(autouse=True, scope="session")
def _run_from_root() -> None:
    # Doctests and the CLI refer to examples/ relative to the repository root.
    os.chdir(ROOT)


@pytest.fixture(scope="session")
def example_portfolio() -> rb.Portfolio:
    return rb.load_portfolio(EXAMPLE_CARD)


@pytest.fixture(scope="session")
def log_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LogStore]:
    """The one log store of the test session: chdb opens one data path per process.

    Tests share it and keep apart by ``org_id``; a test that needs its own path runs a
    subprocess.
    """
    from riskbench.logstore import LogStore

    store = LogStore(home=tmp_path_factory.mktemp("riskbench-home"))
    try:
        yield store
    finally:
        store.close()


@pytest.fixture(scope="session")
def pg_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The home of the test session's one embedded PostgreSQL: test files share the
    server and keep apart by organisation (row-level security is what they test)."""
    # The server runs as a system user when we are root: pgserver opens up the parents.
    return tmp_path_factory.mktemp("riskbench-pg")


@pytest.fixture(scope="session")
def pg_admin(pg_home: Path) -> Iterator[object]:
    """A superuser engine on the workspace database (bypasses row-level security),
    to look from outside; the database is migrated first."""
    from riskbench.workspace.server import admin_url, make_engine, upgrade

    url = admin_url(pg_home)
    upgrade(url)
    engine = make_engine(url)
    yield engine
    engine.dispose()

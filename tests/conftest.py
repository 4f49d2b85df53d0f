"""Shared fixtures. Doctests get ``np`` and ``rb`` and run from the repository root."""

from __future__ import annotations

import os
from collections.abc import Iterator
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

"""Fixtures of the reliability suite: the operator against its cluster twin, served over HTTP,
and a local PostgreSQL server for the ledger outage.

The constants and helpers (waiting, incidents, ports) are the harness tests' `Kit` of
tests/support, handed out through the `rk` fixture.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubeheal.twin.pgserver import LocalPostgres, find_binaries
from support import Kit


@pytest.fixture
def rk() -> type[Kit]:
    """The harness tests' Kit (tests/support)."""
    return Kit


@pytest.fixture(scope="session")
def reliability_postgres() -> Iterator[LocalPostgres]:
    """One local PostgreSQL server for the session (each test creates its own database)."""
    if find_binaries() is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/setup installs 'postgresql')")
    with LocalPostgres() as server:
        yield server

"""Fixtures of the leader-election tests: a local PostgreSQL server for the shared ledger."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubeheal.twin.pgserver import LocalPostgres, find_binaries


@pytest.fixture(scope="session")
def leader_postgres() -> Iterator[LocalPostgres]:
    """One local PostgreSQL server for the session (each test creates its own database)."""
    if find_binaries() is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/setup installs 'postgresql')")
    with LocalPostgres() as server:
        yield server

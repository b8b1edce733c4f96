"""Fixtures of the ledger tests: a fresh ledger per test, in memory, in a file and in PostgreSQL.

The PostgreSQL server (Debian's binaries, `kubeheal.twin.pgserver`) is started once per test
session on 127.0.0.1; every test that asks for it gets a database of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubeheal.store import Ledger, TargetRef
from kubeheal.twin.pgserver import LocalPostgres, find_binaries

T0 = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)


@pytest.fixture
def at() -> Callable[[float], datetime]:
    """``at(s)``: the fixed test epoch plus ``s`` seconds (the ledger has no clock)."""

    def _at(seconds: float) -> datetime:
        return T0 + timedelta(seconds=seconds)

    return _at


@pytest.fixture
def cart() -> TargetRef:
    return TargetRef(kind="Deployment", namespace="shop", name="cart")


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "ledger.db"


@pytest.fixture(scope="session")
def postgres() -> Iterator[LocalPostgres]:
    """One local PostgreSQL server for the whole session."""
    if find_binaries() is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/setup installs 'postgresql')")
    with LocalPostgres() as server:
        yield server


@pytest.fixture
def pg_url(postgres: LocalPostgres) -> Iterator[str]:
    """The URL of an empty database of this test's own, dropped afterwards."""
    url = postgres.create_database()
    yield url
    postgres.drop_database(url)


@pytest.fixture(params=["memory", "file", "postgres"])
def ledger(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Ledger]:
    """A freshly migrated ledger: in ``:memory:``, in a WAL file, and in PostgreSQL."""
    if request.param == "postgres":
        path: str | Path = request.getfixturevalue("pg_url")
    else:
        path = ":memory:" if request.param == "memory" else db_path
    with Ledger.open(path) as fresh:
        yield fresh

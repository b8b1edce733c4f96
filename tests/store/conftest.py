"""Fixtures of the ledger tests: a fresh ledger per test, in memory and in a file."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from kubeheal.store import Ledger, TargetRef

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


@pytest.fixture(params=["memory", "file"])
def ledger(request: pytest.FixtureRequest, db_path: Path) -> Iterator[Ledger]:
    """A freshly migrated ledger, once in ``:memory:`` and once in a WAL file."""
    path = ":memory:" if request.param == "memory" else db_path
    with Ledger.open(path) as fresh:
        yield fresh

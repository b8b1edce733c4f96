"""`kubeheal report` as a table never prints a Python ``None`` or ``[]`` (a figure without
data is "n/a", no playbook or guard block is "none"), and reads a PostgreSQL ledger from
``--ledger URL`` or ``--ledger-file`` as `kubeheal run` does."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kubeheal.cli.main import app
from kubeheal.store import Ledger
from kubeheal.store import records as rec
from kubeheal.twin.pgserver import LocalPostgres, find_binaries

WEB = rec.TargetRef("Deployment", "shop", "web")


def _report(*args: str) -> str:
    done = CliRunner().invoke(app, ["report", *args], env={"COLUMNS": "200"})
    assert done.exit_code == 0, done.output
    return done.output


def _one_incident(book: Ledger) -> None:
    now = datetime.now(tz=UTC)
    book.open_incident(
        incident_id="inc-1", target=WEB, opened_at=now - timedelta(minutes=5),
        detected_at=now - timedelta(minutes=5), playbook="crashloop-restart",
    )  # fmt: skip
    book.record_plan(
        incident_id="inc-1", decided_at=now - timedelta(minutes=4), reason="cooldown: wait",
        blocked_by="cooldown",
    )  # fmt: skip
    book.transition_incident(
        "inc-1", from_state=rec.IncidentState.OPEN, to_state=rec.IncidentState.ESCALATED,
        at=now - timedelta(minutes=3), reason="no safe fix",
        resolution=rec.Resolution.ESCALATED,
    )  # fmt: skip


def test_an_empty_ledger_reports_no_none_and_no_brackets(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    Ledger.open(path).close()
    out = _report("--ledger", str(path))
    assert "None" not in out and "[]" not in out and "{}" not in out, out
    assert "n/a" in out  # p50 of no incident
    assert any(line.split()[1:3] == ["playbooks", "│"] for line in out.splitlines() if line)
    assert "none" in out


def test_playbooks_and_guards_are_rows(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with Ledger.open(path) as book:
        _one_incident(book)
    out = _report("--ledger", str(path))
    assert "None" not in out and "[]" not in out, out
    assert "playbooks.crashloop-restart" in out and "0 of 1 auto-recovered (0%)" in out
    assert "guard_blocks.cooldown" in out


def test_a_missing_sqlite_ledger_is_one_line(tmp_path: Path) -> None:
    done = CliRunner().invoke(app, ["report", "--ledger", str(tmp_path / "nope.db")])
    assert done.exit_code == 2 and "no ledger at" in done.output


@pytest.fixture(scope="module")
def report_postgres() -> Iterator[LocalPostgres]:
    if find_binaries() is None:
        pytest.skip("PostgreSQL binaries not installed (scripts/setup installs 'postgresql')")
    with LocalPostgres() as server:
        yield server


def test_a_postgresql_ledger_is_read(report_postgres: LocalPostgres, tmp_path: Path) -> None:
    url = report_postgres.create_database()
    with Ledger.open(url) as book:
        _one_incident(book)
    for args in (["--ledger", url], ["--ledger-file", str(tmp_path / "url")]):
        (tmp_path / "url").write_text(url + "\n")
        out = _report(*args)
        assert "no ledger" not in out
        rows = {line.split("│")[1].strip(): line.split("│")[2].strip() for line in out.splitlines()
                if line.count("│") == 3}  # fmt: skip
        assert rows["incidents"] == "1" and rows["escalated"] == "1", out

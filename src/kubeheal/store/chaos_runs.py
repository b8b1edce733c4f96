"""Chaos experiments and game days run by kubeheal, kept in the ledger's database.

`ChaosRunStore.record` keeps one run as `kubeheal chaos run|gameday` wrote it: its JSON
report (``--report``'s document; for ``gameday --compare`` the comparison, with both runs in
full) and its HTML report (``--html``'s page), so the console's Chaos page lists past runs
with their MTTR per fault, with kubeheal and without it, and opens their reports. Records
are never changed once written. Errors are the `kubeheal.store.errors` tree; timestamps are
timezone-aware and come back in UTC, as everywhere in the ledger.

Uses the ledger's own connection and lock (`Ledger._tx`), as the outbox does.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from kubeheal.store.backend import Row
from kubeheal.store.errors import InvalidRecordError, NotFoundError
from kubeheal.store.ledger import Ledger, _dt, _ts

__all__ = ["ChaosRun", "ChaosRunKind", "ChaosRunStore"]

_COLUMNS = "id, kind, title, started_at, finished_at, passed"
MAX_HTML = 8_000_000
"""A report larger than this (8 MB) is not kept (a game day's report is about 100 kB)."""


class ChaosRunKind(StrEnum):
    """An experiment run, a game day, or a game day with kubeheal and without it."""

    RUN = "run"
    GAMEDAY = "gameday"
    COMPARE = "compare"


@dataclass(frozen=True, slots=True)
class ChaosRun:
    """One recorded run (``report`` and ``html`` only when read with `ChaosRunStore.get`)."""

    id: str
    kind: ChaosRunKind
    title: str
    started_at: datetime
    finished_at: datetime
    passed: bool
    report: dict[str, Any] | None = None
    html: str = ""


def _run(row: Row, *, full: bool) -> ChaosRun:
    report = json.loads(row["report"]) if full else None
    return ChaosRun(
        id=str(row["id"]),
        kind=ChaosRunKind(row["kind"]),
        title=str(row["title"]),
        started_at=_dt(row["started_at"]),
        finished_at=_dt(row["finished_at"]),
        passed=bool(row["passed"]),
        report=report if isinstance(report, dict) else None,
        html=str(row["html"]) if full else "",
    )


class ChaosRunStore:
    """The ``chaos_runs`` table of ``ledger``."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    def record(
        self,
        *,
        kind: ChaosRunKind,
        title: str,
        started_at: datetime,
        finished_at: datetime,
        passed: bool,
        report: dict[str, Any],
        html: str,
    ) -> ChaosRun:
        """Keep a run; its id is derived from its start and report (recording the same run
        twice keeps one)."""
        try:
            body = json.dumps(report, sort_keys=True, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as e:
            raise InvalidRecordError(f"chaos report is not JSON-serialisable: {e}") from e
        if len(html) > MAX_HTML:
            raise InvalidRecordError(f"chaos HTML report over {MAX_HTML} bytes")
        started = _ts(started_at, "started_at")
        digest = hashlib.sha256(f"{kind.value}|{started}|{body}".encode()).hexdigest()[:16]
        run_id = f"chaos-{started[:19].replace(':', '').replace('-', '')}-{digest}"
        values = (
            run_id,
            kind.value,
            title[:300],
            started,
            _ts(finished_at, "finished_at"),
            int(passed),
            body,
            html,
        )
        with self._ledger._tx(write=True) as s:
            if not s.query("SELECT id FROM chaos_runs WHERE id = ?", (run_id,)):
                s.execute(
                    "INSERT INTO chaos_runs (id, kind, title, started_at, finished_at, passed, "
                    "report, html) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    values,
                )
        return self.get(run_id)

    def list(self, *, limit: int = 100) -> list[ChaosRun]:
        """The newest ``limit`` runs, newest first, without their reports."""
        with self._ledger._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_COLUMNS} FROM chaos_runs ORDER BY started_at DESC, id LIMIT ?",
                (limit,),
            )
        return [_run(row, full=False) for row in rows]

    def get(self, run_id: str) -> ChaosRun:
        """One run with its reports (`NotFoundError` if there is none)."""
        with self._ledger._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_COLUMNS}, report, html FROM chaos_runs WHERE id = ?", (run_id,)
            )
        if not rows:
            raise NotFoundError(f"no chaos run {run_id}")
        return _run(rows[0], full=True)

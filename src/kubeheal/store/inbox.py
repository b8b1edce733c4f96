"""The alert inbox: Alertmanager notifications accepted by the webhook, kept until processed.

The webhook writes every accepted alert here, in one transaction, *before* it answers 200:
an acknowledged alert survives a crash or a restart. The operator's alert consumer reads the
unprocessed rows in arrival order (``seq``), turns them into signals and marks them
processed. Rows are de-duplicated by ``(fingerprint, status, starts_at)``: Alertmanager
re-sends a firing alert every ``repeat_interval`` and retries failed deliveries, and the
same episode of an alert (same fingerprint and ``startsAt``) is recorded once per status.

Which alerts still fire (for a restarted operator) is a question the inbox answers itself
(`AlertInbox.still_firing`): a processed firing row fires until a row of the same
fingerprint resolves its episode or starts a later one.

Runs on the ledger's `Backend` and lock (the same database, the same transactions), with the
ledger's portable SQL conventions; errors are the `kubeheal.store.errors` tree.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import orjson

from kubeheal.store.backend import Row, Session
from kubeheal.store.errors import InvalidRecordError
from kubeheal.store.ledger import Ledger, _dt, _dt_opt, _ts
from kubeheal.store.records import JSONObject

__all__ = ["AddResult", "AlertInbox", "AlertStatus", "InboxAlert", "InboxRow"]

AlertStatus = Literal["firing", "resolved"]

_COLUMNS = "seq, fingerprint, status, starts_at, received_at, alert, processed_at"

# A row is superseded when a row of the same fingerprint resolves its episode or starts a
# later one ("f" is the outer row).
_SUPERSEDED = (
    "EXISTS (SELECT 1 FROM alert_inbox s WHERE s.fingerprint = f.fingerprint AND "
    "(s.starts_at > f.starts_at OR (s.status = 'resolved' AND s.starts_at = f.starts_at)))"
)


@dataclass(frozen=True, slots=True)
class InboxAlert:
    """One alert of a notification, as the webhook accepted it.

    ``payload`` is the alert as received (labels, annotations, endsAt, generatorURL...) plus
    the notification's receiver and groupKey: a JSON object.
    """

    fingerprint: str
    status: AlertStatus
    starts_at: datetime
    payload: JSONObject

    @property
    def key(self) -> tuple[str, str, datetime]:
        """The de-duplication key."""
        return (self.fingerprint, self.status, self.starts_at)


@dataclass(frozen=True, slots=True)
class InboxRow:
    """A stored alert: arrival number, when it was received, when it was processed."""

    seq: int
    fingerprint: str
    status: AlertStatus
    starts_at: datetime
    received_at: datetime
    payload: JSONObject
    processed_at: datetime | None
    labels: Mapping[str, str] = field(default_factory=dict)
    """The alert's labels (strings only)."""


@dataclass(frozen=True, slots=True)
class AddResult:
    """What one notification added: new alerts, and those already in the inbox."""

    accepted: int
    duplicates: int
    rows: tuple[InboxRow, ...] = ()
    """The rows stored for the accepted alerts, in arrival order."""


_ROWS_PER_STATEMENT = 400
"""Rows per multi-row INSERT (5 parameters each: well under SQLite's and PostgreSQL's
limits on bound parameters)."""


def _dump(alert: InboxAlert) -> str:
    try:
        return orjson.dumps(alert.payload, option=orjson.OPT_SORT_KEYS).decode()
    except TypeError as e:
        raise InvalidRecordError(f"alert {alert.fingerprint} is not JSON-serialisable: {e}") from e


def _prepare(
    received_at: datetime, alerts: Sequence[InboxAlert]
) -> list[tuple[str, str, str, str, str]]:
    """The row values of one notification's alerts (validated)."""
    received = _ts(received_at, "received_at")
    rows: list[tuple[str, str, str, str, str]] = []
    for a in alerts:
        if a.status not in ("firing", "resolved"):
            raise InvalidRecordError(f"alert status must be firing or resolved: {a.status}")
        if not a.fingerprint:
            raise InvalidRecordError("an alert needs a fingerprint")
        rows.append((a.fingerprint, a.status, _ts(a.starts_at, "starts_at"), received, _dump(a)))
    return rows


def _labels(payload: object) -> dict[str, str]:
    raw = payload.get("labels") if isinstance(payload, Mapping) else None
    return {str(k): str(v) for k, v in raw.items()} if isinstance(raw, Mapping) else {}


def _stored(seq: int, alert: InboxAlert, received_at: datetime) -> InboxRow:
    """The row just inserted for ``alert`` (no need to read it back)."""
    return InboxRow(
        seq=seq,
        fingerprint=alert.fingerprint,
        status=alert.status,
        starts_at=alert.starts_at.astimezone(UTC),
        received_at=received_at.astimezone(UTC),
        payload=alert.payload,
        processed_at=None,
        labels=_labels(alert.payload),
    )


def _row(row: Row) -> InboxRow:
    status = row["status"]
    payload = orjson.loads(row["alert"])
    return InboxRow(
        seq=int(row["seq"]),
        fingerprint=row["fingerprint"],
        status="firing" if status == "firing" else "resolved",
        starts_at=_dt(row["starts_at"]),
        received_at=_dt(row["received_at"]),
        payload=payload if isinstance(payload, dict) else {},
        processed_at=_dt_opt(row["processed_at"]),
        labels=_labels(payload),
    )


class AlertInbox:
    """The inbox table of one ledger. Thread-safe (the ledger's lock serialises access).

    ``pending_count`` is kept in memory (read once from the database, then updated by `add`
    and `mark_processed`) so the webhook can refuse work without a query per request; with
    several processes writing to one database call `refresh_pending_count` now and then.

    The figure is exact within the process: a transaction that changes the unprocessed rows
    and the adjustment of the figure happen under one lock (``_change_lock``), and so do a
    recount and its assignment, so a recount can never see a commit whose adjustment is
    still to come (which counted those rows twice) or miss one.

    Room for alerts about to be added can be reserved (`reserve`) against a bound; `add_many`
    turns its reservation into the rows it stored at the moment they count as pending.
    """

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger
        self._change_lock = threading.Lock()
        """Held from a transaction that changes (or counts) unprocessed rows until
        ``_pending`` says so; taken before the ledger's lock."""
        self._count_lock = threading.Lock()
        """Guards ``_pending`` and ``_reserved`` (held briefly: readers never wait for a
        transaction)."""
        self._pending: int | None = None
        self._reserved = 0

    @property
    def ledger(self) -> Ledger:
        """The ledger whose database holds the inbox."""
        return self._ledger

    def _tx(self, *, write: bool) -> AbstractContextManager[Session]:
        # The ledger's own transaction (its lock, its backend): same package, same database.
        return self._ledger._tx(write=write)

    # -- writing

    def add(self, alerts: Sequence[InboxAlert], *, received_at: datetime) -> AddResult:
        """Store one notification's alerts in one transaction; duplicates are counted, not
        stored. Raises `LedgerError` (nothing stored) if the database refuses."""
        return self.add_many([(received_at, alerts)])[0]

    def add_many(
        self,
        notifications: Sequence[tuple[datetime, Sequence[InboxAlert]]],
        *,
        reserved: int = 0,
    ) -> list[AddResult]:
        """Store several notifications, each ``(received_at, alerts)``, in one transaction
        (group commit): all or none.

        Returns one `AddResult` per notification, in order. An alert repeated within the
        batch counts as a duplicate after its first occurrence. ``reserved`` (room taken by
        `reserve` for these alerts) is released when the stored rows count as pending, or
        when nothing was stored because of an error.
        """
        try:
            prepared = [_prepare(received_at, alerts) for received_at, alerts in notifications]
            flat = [row for rows in prepared for row in rows]
            inserted = self._insert(flat, reserved=reserved)
        except BaseException:
            self.release(reserved)  # nothing was stored
            raise
        results: list[AddResult] = []
        for (received_at, alerts), rows in zip(notifications, prepared, strict=True):
            stored: list[InboxRow] = []
            for alert, (fingerprint, status, starts_at, _, _) in zip(alerts, rows, strict=True):
                # The first occurrence of an alert in the batch is the stored one.
                seq = inserted.pop((fingerprint, status, starts_at), None)
                if seq is not None:
                    stored.append(_stored(seq, alert, received_at))
            results.append(
                AddResult(
                    accepted=len(stored), duplicates=len(rows) - len(stored), rows=tuple(stored)
                )
            )
        return results

    def _insert(
        self, flat: Sequence[tuple[str, str, str, str, str]], *, reserved: int
    ) -> dict[tuple[str, str, str], int]:
        """Insert rows in one transaction; the seq of each stored row by its key."""
        inserted: dict[tuple[str, str, str], int] = {}
        with self._change_lock:
            with self._tx(write=True) as s:
                for start in range(0, len(flat), _ROWS_PER_STATEMENT):
                    chunk = flat[start : start + _ROWS_PER_STATEMENT]
                    values = ", ".join("(?, ?, ?, ?, ?)" for _ in chunk)
                    returned = s.query(
                        "INSERT INTO alert_inbox "
                        "(fingerprint, status, starts_at, received_at, alert) "
                        f"VALUES {values} ON CONFLICT (fingerprint, status, starts_at) "
                        "DO NOTHING RETURNING seq, fingerprint, status, starts_at",
                        [value for row in chunk for value in row],
                    )
                    for r in returned:
                        inserted[(r["fingerprint"], r["status"], r["starts_at"])] = int(r["seq"])
            # Committed: the rows count as pending before anyone may count them again.
            self._adjust(len(inserted), release=reserved)
        return inserted

    def mark_processed(self, seqs: Sequence[int], *, at: datetime) -> int:
        """Mark rows processed (one transaction); returns how many were still unprocessed."""
        if not seqs:
            return 0
        stamp = _ts(at, "processed_at")
        changed = 0
        with self._change_lock:
            with self._tx(write=True) as s:
                for start in range(0, len(seqs), 500):
                    chunk = list(seqs[start : start + 500])
                    marks = ", ".join("?" for _ in chunk)
                    changed += s.execute(
                        f"UPDATE alert_inbox SET processed_at = ? "
                        f"WHERE processed_at IS NULL AND seq IN ({marks})",
                        (stamp, *chunk),
                    )
            self._adjust(-changed)
        return changed

    def _adjust(self, delta: int, *, release: int = 0) -> None:
        # Called with `_change_lock` held, right after the commit that changed the rows.
        with self._count_lock:
            if self._pending is not None:
                # max: another process may have marked rows since the last recount.
                self._pending = max(0, self._pending + delta)
            self._reserved -= release

    # -- admission

    def reserve(self, count: int, *, limit: int) -> bool:
        """Take room for ``count`` alerts about to be added if the unprocessed rows, the room
        already taken and ``count`` stay within ``limit``; pass the figure to `add_many`
        (which releases it), or give it back with `release`. Never blocks on a transaction
        once the count is known."""
        if count < 0:
            raise ValueError(f"cannot reserve a negative number of alerts: {count}")
        if self._pending is None:
            self.refresh_pending_count()
        with self._count_lock:
            if (self._pending or 0) + self._reserved + count > limit:
                return False
            self._reserved += count
            return True

    def release(self, count: int) -> None:
        """Give back room taken by `reserve` that `add_many` will not release."""
        with self._count_lock:
            self._reserved -= count

    @property
    def reserved(self) -> int:
        """Room taken by `reserve` for alerts not stored yet."""
        with self._count_lock:
            return self._reserved

    def prune(self, *, before: datetime) -> int:
        """Delete processed rows received before ``before``, keeping alerts still firing.

        Superseded firing rows go first, then resolutions no remaining firing row of their
        fingerprint depends on: a resolution is never deleted while it is what says that an
        episode ended.
        """
        cutoff = _ts(before, "before")
        with self._tx(write=True) as s:
            gone = s.execute(
                "DELETE FROM alert_inbox WHERE seq IN (SELECT f.seq FROM alert_inbox f "
                "WHERE f.processed_at IS NOT NULL AND f.received_at < ? AND "
                f"f.status = 'firing' AND {_SUPERSEDED})",
                (cutoff,),
            )
            gone += s.execute(
                "DELETE FROM alert_inbox WHERE seq IN (SELECT r.seq FROM alert_inbox r "
                "WHERE r.processed_at IS NOT NULL AND r.received_at < ? AND "
                "r.status = 'resolved' AND NOT EXISTS (SELECT 1 FROM alert_inbox f "
                "WHERE f.fingerprint = r.fingerprint AND f.status = 'firing' "
                "AND f.starts_at <= r.starts_at))",
                (cutoff,),
            )
        return gone

    # -- reading

    def pending(self, *, limit: int = 500) -> list[InboxRow]:
        """The oldest unprocessed rows, in arrival order."""
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_COLUMNS} FROM alert_inbox WHERE processed_at IS NULL "
                "ORDER BY seq LIMIT ?",
                (limit,),
            )
        return [_row(r) for r in rows]

    def still_firing(self) -> list[InboxRow]:
        """Processed firing rows whose episode has not resolved nor been superseded."""
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {', '.join('f.' + c for c in _COLUMNS.split(', '))} "
                "FROM alert_inbox f WHERE f.status = 'firing' AND f.processed_at IS NOT NULL "
                f"AND NOT {_SUPERSEDED} ORDER BY f.seq"
            )
        return [_row(r) for r in rows]

    def rows(self, *, after: int = 0, limit: int = 1000) -> list[InboxRow]:
        """Every row after ``seq`` ``after`` (processed or not), in arrival order."""
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_COLUMNS} FROM alert_inbox WHERE seq > ? ORDER BY seq LIMIT ?",
                (after, limit),
            )
        return [_row(r) for r in rows]

    def count(self) -> int:
        """Rows in the inbox, processed or not."""
        with self._tx(write=False) as s:
            rows = s.query("SELECT count(*) AS n FROM alert_inbox")
        return int(rows[0]["n"])

    @property
    def pending_count(self) -> int:
        """Unprocessed rows (from memory after the first call; see the class docstring)."""
        with self._count_lock:
            if self._pending is not None:
                return self._pending
        return self.refresh_pending_count()

    def refresh_pending_count(self) -> int:
        """Count the unprocessed rows in the database and remember the figure (waits for a
        change in progress to be counted first: see the class docstring)."""
        with self._change_lock:
            with self._tx(write=False) as s:
                rows = s.query("SELECT count(*) AS n FROM alert_inbox WHERE processed_at IS NULL")
            count = int(rows[0]["n"])
            with self._count_lock:
                self._pending = count
        return count

"""The notification outbox and the escalations, in the ledger's database.

A notification is recorded (`NotificationStore.enqueue`) before it is sent and marked sent
after; its key (incident, what, channel) is unique, so recording it again inserts nothing.
One that can never be sent (``NewNotification.failed``: it could not be rendered) is
recorded as failed, with the reason, so the ledger shows what was owed.
Delivery claims an item first (`claim`: one conditional update moves ``next_attempt_at`` past
the send's timeout and counts the attempt), so two senders never send one item at the same
time, and an item whose sender died between sending and `mark_sent` is sent again once, when
the claim expires. Items of one incident on one channel are handed out in the order they were
recorded (`due`): a PagerDuty ``resolve`` never overtakes its ``trigger``.

An escalation row per incident records the policy it climbs, how many levels have fired, the
acknowledgement and the end, and whether those were announced. Every change that produces
notifications is one transaction with their recording, and is a compare-and-set on the state
it was computed from: a restarted or concurrent loop neither loses nor repeats one.

Payloads never contain a secret (routing keys, webhook URLs and signatures are added by the
sender at send time). Errors are the `kubeheal.store.errors` tree; timestamps must be
timezone-aware and come back in UTC, as everywhere in the ledger.

This module uses the ledger's own connection and lock (`Ledger._tx`): one SQLite connection
must never run two transactions at once.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from kubeheal.store.backend import Row, Session
from kubeheal.store.errors import InvalidRecordError, NotFoundError
from kubeheal.store.ledger import Ledger, _dt, _dt_opt, _json, _ts, _unjson
from kubeheal.store.records import JSONObject

__all__ = [
    "EscalationRecord",
    "NewNotification",
    "NotificationKind",
    "NotificationStore",
    "OutboxItem",
    "OutboxState",
]

logger = logging.getLogger(__name__)


class OutboxState(StrEnum):
    """Delivery state of a recorded notification."""

    PENDING = "pending"
    SENT = "sent"
    FAILED = "failed"


class NotificationKind(StrEnum):
    """What a notification says: a level was reached, progress, acknowledged, resolved."""

    LEVEL = "level"
    UPDATE = "update"
    ACK = "ack"
    RESOLVE = "resolve"


@dataclass(frozen=True, slots=True)
class NewNotification:
    """A notification to record: ``payload`` is the channel's rendered body (no secrets)."""

    key: str
    incident_id: str
    channel: str
    kind: NotificationKind
    payload: JSONObject
    failed: str | None = None
    """Why it can never be sent (e.g. it could not be rendered): recorded as failed at once,
    with this as its error, so the ledger keeps what was owed and why it was not sent."""


@dataclass(frozen=True, slots=True)
class OutboxItem:
    """A recorded notification and its delivery state."""

    seq: int
    key: str
    incident_id: str
    channel: str
    kind: NotificationKind
    payload: JSONObject
    created_at: datetime
    next_attempt_at: datetime
    attempts: int
    state: OutboxState
    sent_at: datetime | None
    last_error: str | None


@dataclass(frozen=True, slots=True)
class EscalationRecord:
    """The escalation of one incident (see the module docstring)."""

    incident_id: str
    policy: str
    reason: str
    category: str
    severity: str
    started_at: datetime
    level: int
    """Levels fired so far (0: none yet)."""
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    ack_announced: bool
    resolved_at: datetime | None
    resolve_reason: str | None
    resolve_announced: bool
    updates: int
    last_update_at: datetime | None

    @property
    def acknowledged(self) -> bool:
        """Someone acknowledged it: the climb has stopped."""
        return self.acknowledged_at is not None

    @property
    def resolved(self) -> bool:
        """The incident ended (fixed, or its problem is no longer observed)."""
        return self.resolved_at is not None


_OUTBOX_COLUMNS = (
    "seq, key, incident_id, channel, kind, payload, created_at, next_attempt_at, attempts, "
    "state, sent_at, last_error"
)
_ESCALATION_COLUMNS = (
    "incident_id, policy, reason, category, severity, started_at, level, acknowledged_at, "
    "acknowledged_by, ack_note, ack_announced, resolved_at, resolve_reason, resolve_announced, "
    "updates, last_update_at"
)
_ERROR_LIMIT = 2000


def _item(row: Row) -> OutboxItem:
    return OutboxItem(
        seq=int(row["seq"]),
        key=row["key"],
        incident_id=row["incident_id"],
        channel=row["channel"],
        kind=NotificationKind(row["kind"]),
        payload=_unjson(row["payload"]),
        created_at=_dt(row["created_at"]),
        next_attempt_at=_dt(row["next_attempt_at"]),
        attempts=int(row["attempts"]),
        state=OutboxState(row["state"]),
        sent_at=_dt_opt(row["sent_at"]),
        last_error=row["last_error"],
    )


def _escalation(row: Row) -> EscalationRecord:
    return EscalationRecord(
        incident_id=row["incident_id"],
        policy=row["policy"],
        reason=row["reason"],
        category=row["category"],
        severity=row["severity"],
        started_at=_dt(row["started_at"]),
        level=int(row["level"]),
        acknowledged_at=_dt_opt(row["acknowledged_at"]),
        acknowledged_by=row["acknowledged_by"],
        ack_note=row["ack_note"],
        ack_announced=bool(row["ack_announced"]),
        resolved_at=_dt_opt(row["resolved_at"]),
        resolve_reason=row["resolve_reason"],
        resolve_announced=bool(row["resolve_announced"]),
        updates=int(row["updates"]),
        last_update_at=_dt_opt(row["last_update_at"]),
    )


class NotificationStore:
    """Outbox and escalation records in the database of ``ledger`` (thread-safe like it)."""

    def __init__(self, ledger: Ledger) -> None:
        self._ledger = ledger

    @property
    def ledger(self) -> Ledger:
        """The ledger whose database holds the records."""
        return self._ledger

    # -- outbox

    def enqueue(self, notifications: Iterable[NewNotification], *, at: datetime) -> int:
        """Record notifications as pending, due now; return how many were new.

        A key already recorded keeps its stored row (whatever its state): recording is
        idempotent.
        """
        stamp = _ts(at, "at")
        with self._ledger._tx(write=True) as s:
            return self._insert(s, notifications, stamp)

    def due(self, now: datetime, *, limit: int = 50) -> list[OutboxItem]:
        """Pending items whose time has come, oldest first, at most one per incident and
        channel: the first pending one (later ones wait for it to be sent or to fail)."""
        with self._ledger._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_OUTBOX_COLUMNS} FROM notification_outbox o "
                "WHERE o.state = 'pending' AND o.next_attempt_at <= ? AND NOT EXISTS ("
                "  SELECT 1 FROM notification_outbox e WHERE e.incident_id = o.incident_id "
                "  AND e.channel = o.channel AND e.state = 'pending' AND e.seq < o.seq) "
                "ORDER BY o.next_attempt_at, o.seq LIMIT ?",
                (_ts(now, "now"), int(limit)),
            )
        return [_item(row) for row in rows]

    def next_due_at(self) -> datetime | None:
        """When the earliest pending item is due (``None`` when nothing is pending)."""
        with self._ledger._tx(write=False) as s:
            rows = s.query(
                "SELECT MIN(next_attempt_at) AS earliest FROM notification_outbox "
                "WHERE state = 'pending'"
            )
        return _dt_opt(rows[0]["earliest"]) if rows else None

    def claim(self, item: OutboxItem, *, until: datetime) -> OutboxItem | None:
        """Take ``item`` for one delivery attempt: count the attempt and push its next attempt
        to ``until`` (when a sender that died mid-send is presumed dead). ``None`` when
        another sender took it first or it is no longer pending."""
        with self._ledger._tx(write=True) as s:
            rows = s.query(
                "UPDATE notification_outbox SET attempts = attempts + 1, next_attempt_at = ? "
                "WHERE key = ? AND state = 'pending' AND next_attempt_at = ? AND attempts = ? "
                f"RETURNING {_OUTBOX_COLUMNS}",
                (
                    _ts(until, "until"),
                    item.key,
                    _ts(item.next_attempt_at, "next_attempt_at"),
                    item.attempts,
                ),
            )
        return _item(rows[0]) if rows else None

    def mark_sent(self, key: str, *, at: datetime) -> bool:
        """Record a successful delivery; ``False`` if the item was not pending any more."""
        with self._ledger._tx(write=True) as s:
            changed = s.execute(
                "UPDATE notification_outbox SET state = 'sent', sent_at = ?, last_error = NULL "
                "WHERE key = ? AND state = 'pending'",
                (_ts(at, "at"), key),
            )
        return changed > 0

    def mark_retry(self, key: str, *, next_attempt_at: datetime, error: str) -> bool:
        """Record a failed attempt to be retried at ``next_attempt_at``."""
        with self._ledger._tx(write=True) as s:
            changed = s.execute(
                "UPDATE notification_outbox SET next_attempt_at = ?, last_error = ? "
                "WHERE key = ? AND state = 'pending'",
                (_ts(next_attempt_at, "next_attempt_at"), error[:_ERROR_LIMIT], key),
            )
        return changed > 0

    def mark_failed(self, key: str, *, at: datetime, error: str) -> bool:
        """Give up on an item (permanent error, or undelivered for too long)."""
        with self._ledger._tx(write=True) as s:
            changed = s.execute(
                "UPDATE notification_outbox SET state = 'failed', next_attempt_at = ?, "
                "last_error = ? WHERE key = ? AND state = 'pending'",
                (_ts(at, "at"), error[:_ERROR_LIMIT], key),
            )
        return changed > 0

    def get_item(self, key: str) -> OutboxItem:
        """The item recorded under ``key``; `NotFoundError` if none."""
        with self._ledger._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_OUTBOX_COLUMNS} FROM notification_outbox WHERE key = ?", (key,)
            )
        if not rows:
            raise NotFoundError(f"no notification {key!r}")
        return _item(rows[0])

    def items_for_incident(self, incident_id: str) -> list[OutboxItem]:
        """Every notification of an incident, in the order they were recorded."""
        with self._ledger._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_OUTBOX_COLUMNS} FROM notification_outbox WHERE incident_id = ? "
                "ORDER BY seq",
                (incident_id,),
            )
        return [_item(row) for row in rows]

    def count(self, state: OutboxState) -> int:
        """Items in ``state``."""
        with self._ledger._tx(write=False) as s:
            rows = s.query(
                "SELECT COUNT(*) AS n FROM notification_outbox WHERE state = ?", (state.value,)
            )
        return int(rows[0]["n"])

    def channels_told(self, incident_id: str) -> frozenset[str]:
        """Channels an escalation level of the incident was (or is being) sent to."""
        with self._ledger._tx(write=False) as s:
            rows = s.query(
                "SELECT DISTINCT channel FROM notification_outbox WHERE incident_id = ? "
                "AND kind = 'level' AND state IN ('pending', 'sent')",
                (incident_id,),
            )
        return frozenset(str(row["channel"]) for row in rows)

    # -- escalations

    def start_escalation(
        self,
        incident_id: str,
        *,
        policy: str,
        reason: str,
        category: str,
        severity: str,
        started_at: datetime,
    ) -> tuple[EscalationRecord, bool]:
        """Start the escalation of an incident unless it has one; return the stored record
        and whether this call created it."""
        with self._ledger._tx(write=True) as s:
            existing = self._find(s, incident_id)
            if existing is not None:
                return existing, False
            s.execute(
                "INSERT INTO escalations (incident_id, policy, reason, category, severity, "
                "started_at) VALUES (?, ?, ?, ?, ?, ?)",
                (incident_id, policy, reason, category, severity, _ts(started_at, "started_at")),
            )
            created = self._find(s, incident_id)
        assert created is not None
        return created, True

    def get_escalation(self, incident_id: str) -> EscalationRecord | None:
        """The escalation of an incident, if it has one."""
        with self._ledger._tx(write=False) as s:
            return self._find(s, incident_id)

    def open_escalations(self) -> list[EscalationRecord]:
        """Escalations whose end has not been announced yet, oldest first."""
        with self._ledger._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE resolve_announced = 0 "
                "ORDER BY started_at, incident_id"
            )
        return [_escalation(row) for row in rows]

    def escalations_since(self, since: datetime) -> list[EscalationRecord]:
        """Escalations started at or after ``since``, oldest first."""
        with self._ledger._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE started_at >= ? "
                "ORDER BY started_at, incident_id",
                (_ts(since, "since"),),
            )
        return [_escalation(row) for row in rows]

    def fire_levels(
        self,
        incident_id: str,
        *,
        from_level: int,
        to_level: int,
        notifications: Sequence[NewNotification],
        at: datetime,
    ) -> bool:
        """Record that levels ``from_level+1 .. to_level`` fired, with their notifications.
        ``False`` (nothing recorded) if the stored level is no longer ``from_level``, or the
        escalation was acknowledged or resolved meanwhile."""
        if to_level <= from_level:
            raise InvalidRecordError(f"to_level {to_level} must be above {from_level}")
        stamp = _ts(at, "at")
        with self._ledger._tx(write=True) as s:
            changed = s.execute(
                "UPDATE escalations SET level = ? WHERE incident_id = ? AND level = ? "
                "AND acknowledged_at IS NULL AND resolved_at IS NULL",
                (to_level, incident_id, from_level),
            )
            if not changed:
                return False
            self._insert(s, notifications, stamp)
        return True

    def acknowledge(
        self, incident_id: str, *, by: str, note: str, at: datetime
    ) -> tuple[EscalationRecord, bool]:
        """Record an acknowledgement; return the escalation and whether this call changed it
        (``False``: already acknowledged, or already over). `NotFoundError` if the incident
        has no escalation (see `start_escalation`)."""
        if not by.strip():
            raise InvalidRecordError("an acknowledgement needs the name of who acknowledges")
        with self._ledger._tx(write=True) as s:
            changed = s.execute(
                "UPDATE escalations SET acknowledged_at = ?, acknowledged_by = ?, ack_note = ? "
                "WHERE incident_id = ? AND acknowledged_at IS NULL AND resolved_at IS NULL",
                (_ts(at, "at"), by.strip()[:200], note[:_ERROR_LIMIT], incident_id),
            )
            record = self._find(s, incident_id)
        if record is None:
            raise NotFoundError(f"incident {incident_id!r} has no escalation")
        return record, changed > 0

    def announce_ack(
        self, incident_id: str, *, notifications: Sequence[NewNotification], at: datetime
    ) -> bool:
        """Record the acknowledgement's notifications and mark it announced (once)."""
        stamp = _ts(at, "at")
        with self._ledger._tx(write=True) as s:
            changed = s.execute(
                "UPDATE escalations SET ack_announced = 1 WHERE incident_id = ? "
                "AND acknowledged_at IS NOT NULL AND ack_announced = 0",
                (incident_id,),
            )
            if not changed:
                return False
            self._insert(s, notifications, stamp)
        return True

    def resolve(self, incident_id: str, *, at: datetime, reason: str) -> bool:
        """Record the end of an incident's escalation; ``False`` if it had already ended or
        has no escalation."""
        with self._ledger._tx(write=True) as s:
            changed = s.execute(
                "UPDATE escalations SET resolved_at = ?, resolve_reason = ? "
                "WHERE incident_id = ? AND resolved_at IS NULL",
                (_ts(at, "at"), reason[:_ERROR_LIMIT], incident_id),
            )
        return changed > 0

    def announce_resolution(
        self, incident_id: str, *, notifications: Sequence[NewNotification], at: datetime
    ) -> bool:
        """Record the end's notifications and mark it announced (once)."""
        stamp = _ts(at, "at")
        with self._ledger._tx(write=True) as s:
            changed = s.execute(
                "UPDATE escalations SET resolve_announced = 1 WHERE incident_id = ? "
                "AND resolved_at IS NOT NULL AND resolve_announced = 0",
                (incident_id,),
            )
            if not changed:
                return False
            self._insert(s, notifications, stamp)
        return True

    def record_update(
        self,
        incident_id: str,
        *,
        expected_updates: int,
        notifications: Sequence[NewNotification],
        at: datetime,
    ) -> bool:
        """Record a progress update (number ``expected_updates + 1``) and its notifications;
        ``False`` if another update was recorded meanwhile."""
        stamp = _ts(at, "at")
        with self._ledger._tx(write=True) as s:
            changed = s.execute(
                "UPDATE escalations SET updates = updates + 1, last_update_at = ? "
                "WHERE incident_id = ? AND updates = ? AND resolved_at IS NULL",
                (stamp, incident_id, expected_updates),
            )
            if not changed:
                return False
            self._insert(s, notifications, stamp)
        return True

    # -- helpers (inside a transaction)

    @staticmethod
    def _find(s: Session, incident_id: str) -> EscalationRecord | None:
        rows = s.query(
            f"SELECT {_ESCALATION_COLUMNS} FROM escalations WHERE incident_id = ?",
            (incident_id,),
        )
        return _escalation(rows[0]) if rows else None

    @staticmethod
    def _insert(s: Session, notifications: Iterable[NewNotification], stamp: str) -> int:
        inserted = 0
        for n in notifications:
            rows = s.query(
                "INSERT INTO notification_outbox (key, incident_id, channel, kind, payload, "
                "created_at, next_attempt_at, attempts, state, last_error) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?) "
                "ON CONFLICT (key) DO NOTHING RETURNING seq",
                (
                    n.key,
                    n.incident_id,
                    n.channel,
                    NotificationKind(n.kind).value,
                    _json(n.payload, "payload"),
                    stamp,
                    stamp,
                    OutboxState.PENDING.value if n.failed is None else OutboxState.FAILED.value,
                    None if n.failed is None else n.failed[:_ERROR_LIMIT],
                ),
            )
            inserted += len(rows)
        return inserted

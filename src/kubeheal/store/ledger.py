"""The ledger: every signal, incident, plan, action and outcome, with the caller's timestamps.

`Ledger` is synchronous and thread-safe (one lock around one connection); the asyncio runtime
calls it through ``asyncio.to_thread``. Every write is one transaction, so a method either
records everything it says or nothing. The ledger has no clock: timestamps are passed in,
must be timezone-aware, and come back in UTC.

Idempotent actions: `Ledger.begin_action` records an action as ``pending`` under its
idempotency key *before* the cluster write and `Ledger.finish_action` records the outcome
after. If the key is already there (a restarted operator, a retry, another thread), the
stored record is returned instead and nothing is inserted; the caller inspects its state.

Errors are the `kubeheal.store.errors` tree; database driver errors never leak.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, cast

from kubeheal.model.core import (
    ActionId,
    IncidentId,
    IncidentState,
    SignalId,
    SignalKind,
    SignalSource,
    Target,
)
from kubeheal.model.history import ActionState
from kubeheal.store.backend import Backend, Row, Session
from kubeheal.store.errors import ConflictError, InvalidRecordError, NotFoundError
from kubeheal.store.migrations import MIGRATIONS, Migration, apply_migrations, check_history
from kubeheal.store.records import (
    NON_TERMINAL_STATES,
    TERMINAL_STATES,
    ActionBegin,
    ActionRecord,
    GuardVerdict,
    IncidentRecord,
    JSONObject,
    PlanRecord,
    Resolution,
    SignalRecord,
    TargetRef,
    TransitionRecord,
    VerificationRecord,
)
from kubeheal.store.sqlite import SQLiteBackend

__all__ = ["Ledger"]

logger = logging.getLogger(__name__)

_RESOLVED_AS = frozenset({Resolution.AUTO, Resolution.MANUAL, Resolution.FALSE_POSITIVE})
_OPEN_STATES_SQL = "(" + ", ".join(f"'{s.value}'" for s in sorted(NON_TERMINAL_STATES)) + ")"

_INCIDENT_COLUMNS = (
    "id, target_kind, target_namespace, target_name, state, playbook, opened_at, detected_at, "
    "first_action_at, resolved_at, escalated_at, attempts, flapping, resolution"
)
_SIGNAL_COLUMNS = (
    "id, kind, target_kind, target_namespace, target_name, subject, source, observed_at, "
    "details, incident_id"
)
_PLAN_COLUMNS = (
    "id, incident_id, decided_at, playbook, step, action, params, blocked_by, reason, dry_run, "
    "guards"
)
_ACTION_COLUMNS = (
    "idempotency_key, incident_id, action, target_kind, target_namespace, target_name, params, "
    "requested_at, state, finished_at, error"
)
_VERIFICATION_COLUMNS = "id, action_key, started_at, finished_at, recovered, detail"
_TRANSITION_COLUMNS = "id, incident_id, from_state, to_state, at, reason"


# -- conversions --------------------------------------------------------------------------


def _ts(value: datetime, what: str) -> str:
    """A timezone-aware datetime as fixed-width UTC ISO-8601 text (text order = time order)."""
    if not isinstance(value, datetime):
        raise InvalidRecordError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidRecordError(f"{what} must be timezone-aware, got naive {value.isoformat()}")
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _ts_opt(value: datetime | None, what: str) -> str | None:
    return None if value is None else _ts(value, what)


def _dt(text: str) -> datetime:
    return datetime.fromisoformat(text.removesuffix("Z")).replace(tzinfo=UTC)


def _dt_opt(text: str | None) -> datetime | None:
    return None if text is None else _dt(text)


def _json(value: JSONObject, what: str) -> str:
    if not isinstance(value, Mapping):
        raise InvalidRecordError(f"{what} must be a JSON object, got {type(value).__name__}")
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InvalidRecordError(f"{what} is not JSON-serialisable: {e}") from e


def _unjson(text: str) -> JSONObject:
    return cast(JSONObject, json.loads(text))


def _target(row: Row) -> TargetRef:
    return TargetRef(
        kind=row["target_kind"], namespace=row["target_namespace"], name=row["target_name"]
    )


def _target_params(target: Target | TargetRef) -> tuple[TargetRef, str, str, str]:
    """The reference to ``target`` and its three columns (kind, namespace, name)."""
    ref = TargetRef.of(target)
    return ref, ref.kind.value, ref.namespace, ref.name


def _incident(row: Row) -> IncidentRecord:
    resolution = row["resolution"]
    return IncidentRecord(
        id=IncidentId(row["id"]),
        target=_target(row),
        state=IncidentState(row["state"]),
        playbook=row["playbook"],
        opened_at=_dt(row["opened_at"]),
        detected_at=_dt(row["detected_at"]),
        first_action_at=_dt_opt(row["first_action_at"]),
        resolved_at=_dt_opt(row["resolved_at"]),
        escalated_at=_dt_opt(row["escalated_at"]),
        attempts=int(row["attempts"]),
        flapping=bool(row["flapping"]),
        resolution=None if resolution is None else Resolution(resolution),
    )


def _signal(row: Row) -> SignalRecord:
    incident_id = row["incident_id"]
    return SignalRecord(
        id=SignalId(row["id"]),
        kind=SignalKind(row["kind"]),
        target=_target(row),
        subject=row["subject"],
        source=SignalSource(row["source"]),
        observed_at=_dt(row["observed_at"]),
        details=_unjson(row["details"]),
        incident_id=None if incident_id is None else IncidentId(incident_id),
    )


def _transition(row: Row) -> TransitionRecord:
    from_state = row["from_state"]
    return TransitionRecord(
        id=int(row["id"]),
        incident_id=IncidentId(row["incident_id"]),
        from_state=None if from_state is None else IncidentState(from_state),
        to_state=IncidentState(row["to_state"]),
        at=_dt(row["at"]),
        reason=row["reason"],
    )


def _plan(row: Row) -> PlanRecord:
    step = row["step"]
    return PlanRecord(
        id=int(row["id"]),
        incident_id=IncidentId(row["incident_id"]),
        decided_at=_dt(row["decided_at"]),
        playbook=row["playbook"],
        step=None if step is None else int(step),
        action=row["action"],
        params=_unjson(row["params"]),
        blocked_by=row["blocked_by"],
        reason=row["reason"],
        dry_run=bool(row["dry_run"]),
        guards=GuardVerdict.decode(row["guards"]),
    )


def _action(row: Row) -> ActionRecord:
    return ActionRecord(
        idempotency_key=ActionId(row["idempotency_key"]),
        incident_id=IncidentId(row["incident_id"]),
        action=row["action"],
        target=_target(row),
        params=_unjson(row["params"]),
        requested_at=_dt(row["requested_at"]),
        state=ActionState(row["state"]),
        finished_at=_dt_opt(row["finished_at"]),
        error=row["error"],
    )


def _verification(row: Row) -> VerificationRecord:
    return VerificationRecord(
        id=int(row["id"]),
        action_key=ActionId(row["action_key"]),
        started_at=_dt(row["started_at"]),
        finished_at=_dt(row["finished_at"]),
        recovered=bool(row["recovered"]),
        detail=row["detail"],
    )


# -- the ledger ---------------------------------------------------------------------------


class Ledger:
    """The operator's durable record. Open with `Ledger.open`; close with `close` or ``with``."""

    def __init__(self, backend: Backend, *, schema_version: int) -> None:
        """Wrap an already-migrated backend; use `open` or `from_backend` instead."""
        self._backend = backend
        self._schema_version = schema_version
        self._lock = threading.Lock()

    # -- lifecycle

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        busy_timeout: float = 5.0,
        manual_checkpoints: bool = False,
    ) -> Ledger:
        """Open the SQLite ledger at ``path`` (created if absent) or ``":memory:"``.

        A ``postgresql://user:password@host:port/dbname`` URL opens a PostgreSQL ledger
        instead (``busy_timeout`` is then its lock timeout; checkpoints do not apply).
        Applies pending migrations. Raises `StorageError` if the file is unusable and
        `SchemaError` if its schema is newer than this code. With ``manual_checkpoints`` the
        owner must call `checkpoint` regularly (from a background thread).
        """
        if isinstance(path, str) and path.lower().startswith(("postgresql://", "postgres://")):
            from kubeheal.store.postgres import PostgresBackend  # psycopg only when used

            return cls.from_backend(PostgresBackend.open(path, lock_timeout=busy_timeout))
        return cls.from_backend(
            SQLiteBackend.open(
                path, busy_timeout=busy_timeout, manual_checkpoints=manual_checkpoints
            )
        )

    @property
    def manual_checkpoints(self) -> bool:
        """True when the owner, not every commit, checkpoints the write-ahead log."""
        return bool(getattr(self._backend, "manual_checkpoints", False))

    def checkpoint(self) -> None:
        """Checkpoint the write-ahead log without taking the ledger's lock (thread-safe)."""
        checkpoint = getattr(self._backend, "checkpoint", None)
        if checkpoint is not None:
            checkpoint()

    @classmethod
    def from_backend(
        cls, backend: Backend, *, migrations: Sequence[Migration] = MIGRATIONS
    ) -> Ledger:
        """Migrate ``backend`` to the last of ``migrations`` and wrap it (closed on failure)."""
        check_history(migrations)
        try:
            version = apply_migrations(backend, migrations)
        except BaseException:
            backend.close()
            raise
        return cls(backend, schema_version=version)

    @property
    def schema_version(self) -> int:
        """The schema version of the open database."""
        return self._schema_version

    @property
    def location(self) -> str:
        """Where the database is (a path, or ``:memory:``)."""
        return self._backend.location

    def close(self) -> None:
        """Close the database; later calls raise `StorageError`. Idempotent."""
        with self._lock:
            self._backend.close()

    def ping(self) -> None:
        """A cheap read (``SELECT 1``) proving the database answers; raises `StorageError`
        when it does not (health checks)."""
        with self._tx(write=False) as s:
            s.query("SELECT 1 AS ok")

    def __enter__(self) -> Ledger:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @contextmanager
    def _tx(self, *, write: bool) -> Iterator[Session]:
        with self._lock, self._backend.transaction(write=write) as session:
            yield session

    # -- signals

    def record_signal(self, signal: SignalRecord) -> bool:
        """Record a signal; return ``False`` (keeping the stored one) if its id is known."""
        params = (
            signal.id,
            signal.kind.value,
            signal.target.kind.value,
            signal.target.namespace,
            signal.target.name,
            signal.subject,
            signal.source.value,
            _ts(signal.observed_at, "observed_at"),
            _json(signal.details, "details"),
            signal.incident_id,
        )
        with self._tx(write=True) as s:
            if signal.incident_id is not None:
                self._require_incident(s, signal.incident_id)
            rows = s.query(
                f"INSERT INTO signals ({_SIGNAL_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO NOTHING RETURNING id",
                params,
            )
        return bool(rows)

    def link_signal(self, signal_id: str, incident_id: str) -> None:
        """Attach a recorded signal to the incident it was grouped into.

        Raises `NotFoundError` if either is unknown and `ConflictError` if the signal already
        belongs to another incident.
        """
        with self._tx(write=True) as s:
            self._require_incident(s, incident_id)
            rows = s.query("SELECT incident_id FROM signals WHERE id = ?", (signal_id,))
            if not rows:
                raise NotFoundError(f"no signal {signal_id!r}")
            current = rows[0]["incident_id"]
            if current == incident_id:
                return
            if current is not None:
                raise ConflictError(f"signal {signal_id!r} already belongs to incident {current!r}")
            s.execute("UPDATE signals SET incident_id = ? WHERE id = ?", (incident_id, signal_id))

    def get_signal(self, signal_id: str) -> SignalRecord:
        """The signal with this id; `NotFoundError` if none."""
        with self._tx(write=False) as s:
            rows = s.query(f"SELECT {_SIGNAL_COLUMNS} FROM signals WHERE id = ?", (signal_id,))
        if not rows:
            raise NotFoundError(f"no signal {signal_id!r}")
        return _signal(rows[0])

    def signals_for_incident(self, incident_id: str) -> list[SignalRecord]:
        """The signals linked to an incident, oldest first."""
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_SIGNAL_COLUMNS} FROM signals WHERE incident_id = ? "
                "ORDER BY observed_at, id",
                (incident_id,),
            )
        return [_signal(row) for row in rows]

    def list_signals(self, *, since: datetime, until: datetime) -> list[SignalRecord]:
        """Signals observed in ``[since, until)``, oldest first."""
        bounds = (_ts(since, "since"), _ts(until, "until"))
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_SIGNAL_COLUMNS} FROM signals "
                "WHERE observed_at >= ? AND observed_at < ? ORDER BY observed_at, id",
                bounds,
            )
        return [_signal(row) for row in rows]

    # -- incidents

    def open_incident(
        self,
        *,
        incident_id: str,
        target: Target | TargetRef,
        opened_at: datetime,
        detected_at: datetime,
        playbook: str | None = None,
        flapping: bool = False,
        reason: str = "opened",
    ) -> IncidentRecord:
        """Open an incident for ``target`` and record its opening transition.

        ``detected_at`` is when its first signal was observed (not after ``opened_at``).
        Raises `ConflictError` if the id exists or the target already has an incident in
        progress (see `open_incident_for_target`).
        """
        target, target_kind, target_namespace, target_name = _target_params(target)
        opened = _ts(opened_at, "opened_at")
        detected = _ts(detected_at, "detected_at")
        if detected > opened:
            raise InvalidRecordError(
                f"detected_at {detected} is after opened_at {opened} for incident {incident_id!r}"
            )
        with self._tx(write=True) as s:
            if s.query("SELECT id FROM incidents WHERE id = ?", (incident_id,)):
                raise ConflictError(f"incident {incident_id!r} already exists")
            existing = self._open_for_target(s, target)
            if existing is not None:
                raise ConflictError(
                    f"{target.kind} {target.namespace}/{target.name} already has incident "
                    f"{existing.id!r} in state {existing.state.value}"
                )
            s.execute(
                "INSERT INTO incidents (id, target_kind, target_namespace, target_name, state, "
                "playbook, opened_at, detected_at, attempts, flapping) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
                (
                    incident_id,
                    target_kind,
                    target_namespace,
                    target_name,
                    IncidentState.OPEN.value,
                    playbook,
                    opened,
                    detected,
                    int(flapping),
                ),
            )
            self._insert_transition(
                s,
                incident_id,
                from_state=None,
                to_state=IncidentState.OPEN,
                at=opened,
                reason=reason,
            )
            return self._get_incident(s, incident_id)

    def get_incident(self, incident_id: str) -> IncidentRecord:
        """The incident with this id; `NotFoundError` if none."""
        with self._tx(write=False) as s:
            return self._get_incident(s, incident_id)

    def open_incident_for_target(self, target: Target | TargetRef) -> IncidentRecord | None:
        """The target's incident in progress (open, acting or verifying), if any."""
        with self._tx(write=False) as s:
            return self._open_for_target(s, TargetRef.of(target))

    def transition_incident(
        self,
        incident_id: str,
        *,
        from_state: IncidentState,
        to_state: IncidentState,
        at: datetime,
        reason: str,
        resolution: Resolution | None = None,
    ) -> IncidentRecord:
        """Move an incident from ``from_state`` to ``to_state`` and record the transition.

        Compare-and-set: raises `ConflictError` if the stored state is not ``from_state``
        (someone else moved it: a lost update is refused, re-read and decide again).
        Resolved and escalated are final. ``to_state=resolved`` needs a ``resolution`` of
        auto, manual or false_positive and sets ``resolved_at``; ``escalated`` sets
        ``escalated_at`` and the resolution ``escalated``; other states take no resolution.
        """
        from_state = IncidentState(from_state)
        to_state = IncidentState(to_state)
        stamp = _ts(at, "at")
        if from_state in TERMINAL_STATES:
            raise InvalidRecordError(
                f"incident {incident_id!r}: {from_state.value} is final, it cannot become "
                f"{to_state.value}"
            )
        if from_state == to_state:
            raise InvalidRecordError(
                f"incident {incident_id!r}: transition {from_state.value} -> "
                f"{to_state.value} changes nothing"
            )
        resolution = None if resolution is None else Resolution(resolution)
        if to_state == IncidentState.RESOLVED:
            if resolution not in _RESOLVED_AS:
                raise InvalidRecordError(
                    f"incident {incident_id!r}: resolving needs a resolution of auto, manual "
                    f"or false_positive, got {resolution}"
                )
        elif to_state == IncidentState.ESCALATED:
            if resolution not in (None, Resolution.ESCALATED):
                raise InvalidRecordError(
                    f"incident {incident_id!r}: escalating takes no resolution other than "
                    f"escalated, got {resolution.value}"
                )
            resolution = Resolution.ESCALATED
        elif resolution is not None:
            raise InvalidRecordError(
                f"incident {incident_id!r}: a resolution only goes with resolved or "
                f"escalated, not {to_state.value}"
            )
        with self._tx(write=True) as s:
            current = self._get_incident(s, incident_id)
            if current.state != from_state:
                raise ConflictError(
                    f"incident {incident_id!r} is {current.state.value}, not "
                    f"{from_state.value}: it changed since it was read"
                )
            changed = s.execute(
                "UPDATE incidents SET state = ?, resolution = ?, "
                "resolved_at = COALESCE(?, resolved_at), "
                "escalated_at = COALESCE(?, escalated_at) "
                "WHERE id = ? AND state = ?",
                (
                    to_state.value,
                    None if resolution is None else resolution.value,
                    stamp if to_state == IncidentState.RESOLVED else None,
                    stamp if to_state == IncidentState.ESCALATED else None,
                    incident_id,
                    from_state.value,
                ),
            )
            if changed != 1:
                raise ConflictError(f"incident {incident_id!r} changed concurrently")
            self._insert_transition(
                s, incident_id, from_state=from_state, to_state=to_state, at=stamp, reason=reason
            )
            return self._get_incident(s, incident_id)

    def set_flapping(self, incident_id: str, *, flapping: bool) -> IncidentRecord:
        """Mark (or unmark) an incident as flapping."""
        with self._tx(write=True) as s:
            self._require_incident(s, incident_id)
            s.execute(
                "UPDATE incidents SET flapping = ? WHERE id = ?", (int(flapping), incident_id)
            )
            return self._get_incident(s, incident_id)

    def transitions_for_incident(self, incident_id: str) -> list[TransitionRecord]:
        """An incident's transitions in the order they were recorded, opening first."""
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_TRANSITION_COLUMNS} FROM incident_transitions "
                "WHERE incident_id = ? ORDER BY id",
                (incident_id,),
            )
        return [_transition(row) for row in rows]

    def list_incidents(self, *, since: datetime, until: datetime) -> list[IncidentRecord]:
        """Incidents opened in ``[since, until)``, oldest first."""
        bounds = (_ts(since, "since"), _ts(until, "until"))
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_INCIDENT_COLUMNS} FROM incidents "
                "WHERE opened_at >= ? AND opened_at < ? ORDER BY opened_at, id",
                bounds,
            )
        return [_incident(row) for row in rows]

    def incidents_in_progress(self) -> list[IncidentRecord]:
        """Every incident not yet resolved or escalated (what a new leader resumes)."""
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_INCIDENT_COLUMNS} FROM incidents "
                f"WHERE state IN {_OPEN_STATES_SQL} ORDER BY opened_at, id"
            )
        return [_incident(row) for row in rows]

    # -- plans

    def record_plan(
        self,
        *,
        incident_id: str,
        decided_at: datetime,
        reason: str,
        playbook: str | None = None,
        step: int | None = None,
        action: str | None = None,
        params: JSONObject | None = None,
        blocked_by: str | None = None,
        dry_run: bool = False,
        guards: Sequence[GuardVerdict] = (),
    ) -> PlanRecord:
        """Record a decision: the step and action chosen, or the guard that blocked it.

        The incident's ``playbook`` is set by the first plan that names one.
        """
        values = (
            incident_id,
            _ts(decided_at, "decided_at"),
            playbook,
            step,
            action,
            _json({} if params is None else params, "params"),
            blocked_by,
            reason,
            int(dry_run),
            GuardVerdict.encode(guards),
        )
        with self._tx(write=True) as s:
            self._require_incident(s, incident_id)
            rows = s.query(
                "INSERT INTO plans (incident_id, decided_at, playbook, step, action, params, "
                "blocked_by, reason, dry_run, guards) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                f"RETURNING {_PLAN_COLUMNS}",
                values,
            )
            if playbook is not None:
                s.execute(
                    "UPDATE incidents SET playbook = ? WHERE id = ? AND playbook IS NULL",
                    (playbook, incident_id),
                )
        return _plan(rows[0])

    def plans_for_incident(self, incident_id: str) -> list[PlanRecord]:
        """An incident's plans in the order they were recorded."""
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_PLAN_COLUMNS} FROM plans WHERE incident_id = ? ORDER BY id",
                (incident_id,),
            )
        return [_plan(row) for row in rows]

    def list_plans(self, *, since: datetime, until: datetime) -> list[PlanRecord]:
        """Plans decided in ``[since, until)``, oldest first."""
        bounds = (_ts(since, "since"), _ts(until, "until"))
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_PLAN_COLUMNS} FROM plans "
                "WHERE decided_at >= ? AND decided_at < ? ORDER BY decided_at, id",
                bounds,
            )
        return [_plan(row) for row in rows]

    # -- actions

    def begin_action(
        self,
        key: str,
        *,
        incident_id: str,
        action: str,
        target: Target | TargetRef,
        params: JSONObject,
        requested_at: datetime,
    ) -> ActionBegin:
        """Record ``action`` as pending under ``key`` before performing it.

        If ``key`` is new: inserts a pending action, counts an attempt on the incident, sets
        the incident's ``first_action_at`` if unset, and returns ``created=True``: go ahead.
        If ``key`` exists: inserts nothing and returns the stored record with
        ``created=False`` (pending: an earlier run may have performed it, check the cluster;
        finished: do not repeat it). Stored ``params`` win over the ones passed.

        Raises `ConflictError` if ``key`` is stored for a different incident, action or
        target (a key collision), or if the incident is already closed; `NotFoundError` if
        the incident does not exist.
        """
        target, target_kind, target_namespace, target_name = _target_params(target)
        values = (
            key,
            incident_id,
            action,
            target_kind,
            target_namespace,
            target_name,
            _json(params, "params"),
            _ts(requested_at, "requested_at"),
            ActionState.PENDING.value,
        )
        with self._tx(write=True) as s:
            existing = self._find_action(s, key)
            if existing is None:
                incident = self._get_incident(s, incident_id)
                if incident.is_terminal:
                    raise ConflictError(
                        f"incident {incident_id!r} is {incident.state.value}: no new action "
                        f"{key!r} may start"
                    )
                inserted = s.query(
                    f"INSERT INTO actions ({_ACTION_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL) "
                    "ON CONFLICT (idempotency_key) DO NOTHING RETURNING idempotency_key",
                    values,
                )
                if inserted:
                    s.execute(
                        "UPDATE incidents SET attempts = attempts + 1, "
                        "first_action_at = COALESCE(first_action_at, ?) WHERE id = ?",
                        (values[7], incident_id),
                    )
                    record = self._find_action(s, key)
                    assert record is not None
                    return ActionBegin(record=record, created=True)
                # Lost a race with another connection (PostgreSQL read committed).
                existing = self._find_action(s, key)
                assert existing is not None
        if (existing.incident_id, existing.action, existing.target) != (
            incident_id,
            action,
            target,
        ):
            raise ConflictError(
                f"idempotency key {key!r} is already used by action {existing.action!r} on "
                f"{existing.target.kind} {existing.target.namespace}/{existing.target.name} "
                f"for incident {existing.incident_id!r}"
            )
        logger.info("action %s already recorded as %s", key, existing.state.value)
        return ActionBegin(record=existing, created=False)

    def finish_action(
        self,
        key: str,
        *,
        state: ActionState,
        finished_at: datetime,
        error: str | None = None,
    ) -> ActionRecord:
        """Record the outcome of a pending action: succeeded, failed or skipped.

        Repeating the same outcome returns the stored record unchanged; a different outcome
        for an already finished action raises `ConflictError`. `NotFoundError` if unknown.
        """
        state = ActionState(state)
        if state == ActionState.PENDING:
            raise InvalidRecordError(f"action {key!r}: pending is not an outcome")
        stamp = _ts(finished_at, "finished_at")
        with self._tx(write=True) as s:
            current = self._find_action(s, key)
            if current is None:
                raise NotFoundError(f"no action with idempotency key {key!r}")
            if current.state == state:
                return current
            if current.state != ActionState.PENDING:
                raise ConflictError(
                    f"action {key!r} already finished as {current.state.value}, cannot "
                    f"become {state.value}"
                )
            changed = s.execute(
                "UPDATE actions SET state = ?, finished_at = ?, error = ? "
                "WHERE idempotency_key = ? AND state = ?",
                (state.value, stamp, error, key, ActionState.PENDING.value),
            )
            if changed != 1:
                raise ConflictError(f"action {key!r} changed concurrently")
            record = self._find_action(s, key)
        assert record is not None
        return record

    def get_action(self, key: str) -> ActionRecord:
        """The action with this idempotency key; `NotFoundError` if none."""
        with self._tx(write=False) as s:
            record = self._find_action(s, key)
        if record is None:
            raise NotFoundError(f"no action with idempotency key {key!r}")
        return record

    def actions_for_target(
        self, target: Target | TargetRef, *, since: datetime
    ) -> list[ActionRecord]:
        """Actions on ``target`` requested at or after ``since``, oldest first (cooldowns)."""
        _, kind, namespace, name = _target_params(target)
        return self._actions(
            "target_kind = ? AND target_namespace = ? AND target_name = ? AND requested_at >= ?",
            (kind, namespace, name, _ts(since, "since")),
        )

    def actions_in_namespace(self, namespace: str, *, since: datetime) -> list[ActionRecord]:
        """Actions on targets in ``namespace`` requested at or after ``since`` (budgets)."""
        return self._actions(
            "target_namespace = ? AND requested_at >= ?", (namespace, _ts(since, "since"))
        )

    def actions_since(self, since: datetime) -> list[ActionRecord]:
        """All actions requested at or after ``since``, oldest first (global budget)."""
        return self._actions("requested_at >= ?", (_ts(since, "since"),))

    def actions_for_incident(self, incident_id: str) -> list[ActionRecord]:
        """An incident's actions, oldest first."""
        return self._actions("incident_id = ?", (incident_id,))

    def pending_actions(self) -> list[ActionRecord]:
        """Actions begun but never finished (e.g. the operator died mid-action)."""
        return self._actions("state = ?", (ActionState.PENDING.value,))

    # -- verifications

    def record_verification(
        self,
        *,
        action_key: str,
        started_at: datetime,
        finished_at: datetime,
        recovered: bool,
        detail: str = "",
    ) -> VerificationRecord:
        """Record whether the target recovered after the action ``action_key``."""
        started = _ts(started_at, "started_at")
        finished = _ts(finished_at, "finished_at")
        if finished < started:
            raise InvalidRecordError(
                f"verification of {action_key!r} finished ({finished}) before it started "
                f"({started})"
            )
        with self._tx(write=True) as s:
            if self._find_action(s, action_key) is None:
                raise NotFoundError(f"no action with idempotency key {action_key!r}")
            rows = s.query(
                "INSERT INTO verifications (action_key, started_at, finished_at, recovered, "
                f"detail) VALUES (?, ?, ?, ?, ?) RETURNING {_VERIFICATION_COLUMNS}",
                (action_key, started, finished, int(recovered), detail),
            )
        return _verification(rows[0])

    def verifications_for_action(self, action_key: str) -> list[VerificationRecord]:
        """The verifications of one action, in the order they were recorded."""
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_VERIFICATION_COLUMNS} FROM verifications "
                "WHERE action_key = ? ORDER BY id",
                (action_key,),
            )
        return [_verification(row) for row in rows]

    # -- helpers (inside a transaction)

    def _actions(self, where: str, params: tuple[Any, ...]) -> list[ActionRecord]:
        with self._tx(write=False) as s:
            rows = s.query(
                f"SELECT {_ACTION_COLUMNS} FROM actions WHERE {where} "
                "ORDER BY requested_at, idempotency_key",
                params,
            )
        return [_action(row) for row in rows]

    @staticmethod
    def _find_action(s: Session, key: str) -> ActionRecord | None:
        rows = s.query(f"SELECT {_ACTION_COLUMNS} FROM actions WHERE idempotency_key = ?", (key,))
        return _action(rows[0]) if rows else None

    @staticmethod
    def _get_incident(s: Session, incident_id: str) -> IncidentRecord:
        rows = s.query(f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE id = ?", (incident_id,))
        if not rows:
            raise NotFoundError(f"no incident {incident_id!r}")
        return _incident(rows[0])

    @staticmethod
    def _require_incident(s: Session, incident_id: str) -> None:
        if not s.query("SELECT id FROM incidents WHERE id = ?", (incident_id,)):
            raise NotFoundError(f"no incident {incident_id!r}")

    @staticmethod
    def _open_for_target(s: Session, target: TargetRef) -> IncidentRecord | None:
        rows = s.query(
            f"SELECT {_INCIDENT_COLUMNS} FROM incidents WHERE target_kind = ? AND "
            f"target_namespace = ? AND target_name = ? AND state IN {_OPEN_STATES_SQL}",
            (target.kind.value, target.namespace, target.name),
        )
        return _incident(rows[0]) if rows else None

    @staticmethod
    def _insert_transition(
        s: Session,
        incident_id: str,
        *,
        from_state: IncidentState | None,
        to_state: IncidentState,
        at: str,
        reason: str,
    ) -> None:
        s.execute(
            "INSERT INTO incident_transitions (incident_id, from_state, to_state, at, reason) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                incident_id,
                None if from_state is None else from_state.value,
                to_state.value,
                at,
                reason,
            ),
        )

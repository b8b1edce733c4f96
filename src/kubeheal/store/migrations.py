"""The ledger's schema as numbered migrations, applied at open.

Each migration is a version number (1, 2, 3... without gaps), a name and portable DDL
statements (``{serial_pk}`` is filled by the `Dialect`). Applied versions are recorded in
``schema_migrations``; opening applies the missing ones, all in one write transaction, so a
database is either fully upgraded or untouched, and two processes opening at once do not both
migrate. A database whose schema is newer than the code, or whose recorded history differs
from the code's, is refused with `SchemaError` rather than guessed at.

Conventions of the schema (portable between SQLite and PostgreSQL):

- timestamps are UTC ISO-8601 ``TEXT`` with microseconds and a ``Z`` suffix, fixed width, so
  text order is time order and range queries use plain comparisons;
- booleans are ``INTEGER`` 0/1 with a ``CHECK``;
- JSON is ``TEXT`` (canonical: sorted keys, no spaces);
- a target is three ``TEXT`` columns, namespace ``''`` for cluster-scoped objects.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from kubeheal.store.backend import SERIAL_PK, Backend
from kubeheal.store.errors import LedgerError, SchemaError

__all__ = ["MIGRATIONS", "Migration", "apply_migrations"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Migration:
    """One step of the schema's history."""

    version: int
    name: str
    statements: tuple[str, ...]


_OPEN_STATES = "('open', 'acting', 'verifying')"

_INITIAL = Migration(
    version=1,
    name="initial ledger schema",
    statements=(
        """
        CREATE TABLE incidents (
            id TEXT PRIMARY KEY,
            target_kind TEXT NOT NULL,
            target_namespace TEXT NOT NULL,
            target_name TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('open', 'acting', 'verifying', 'resolved', 'escalated')),
            playbook TEXT,
            opened_at TEXT NOT NULL,
            detected_at TEXT NOT NULL,
            first_action_at TEXT,
            resolved_at TEXT,
            escalated_at TEXT,
            attempts INTEGER NOT NULL DEFAULT 0,
            flapping INTEGER NOT NULL DEFAULT 0 CHECK (flapping IN (0, 1)),
            resolution TEXT
                CHECK (resolution IS NULL
                       OR resolution IN ('auto', 'manual', 'escalated', 'false_positive'))
        )
        """,
        # At most one incident in progress per target, even across connections.
        f"""
        CREATE UNIQUE INDEX incidents_one_open_per_target
            ON incidents (target_kind, target_namespace, target_name)
            WHERE state IN {_OPEN_STATES}
        """,
        "CREATE INDEX incidents_opened_at ON incidents (opened_at)",
        """
        CREATE TABLE signals (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL,
            target_kind TEXT NOT NULL,
            target_namespace TEXT NOT NULL,
            target_name TEXT NOT NULL,
            subject TEXT NOT NULL,
            source TEXT NOT NULL,
            observed_at TEXT NOT NULL,
            details TEXT NOT NULL,
            incident_id TEXT REFERENCES incidents (id)
        )
        """,
        "CREATE INDEX signals_observed_at ON signals (observed_at)",
        "CREATE INDEX signals_incident ON signals (incident_id)",
        f"""
        CREATE TABLE incident_transitions (
            id {SERIAL_PK},
            incident_id TEXT NOT NULL REFERENCES incidents (id),
            from_state TEXT,
            to_state TEXT NOT NULL,
            at TEXT NOT NULL,
            reason TEXT NOT NULL
        )
        """,
        "CREATE INDEX incident_transitions_incident ON incident_transitions (incident_id, id)",
        f"""
        CREATE TABLE plans (
            id {SERIAL_PK},
            incident_id TEXT NOT NULL REFERENCES incidents (id),
            decided_at TEXT NOT NULL,
            playbook TEXT,
            step INTEGER,
            action TEXT,
            params TEXT NOT NULL,
            blocked_by TEXT,
            reason TEXT NOT NULL,
            dry_run INTEGER NOT NULL CHECK (dry_run IN (0, 1))
        )
        """,
        "CREATE INDEX plans_incident ON plans (incident_id, id)",
        "CREATE INDEX plans_decided_at ON plans (decided_at)",
        """
        CREATE TABLE actions (
            idempotency_key TEXT PRIMARY KEY,
            incident_id TEXT NOT NULL REFERENCES incidents (id),
            action TEXT NOT NULL,
            target_kind TEXT NOT NULL,
            target_namespace TEXT NOT NULL,
            target_name TEXT NOT NULL,
            params TEXT NOT NULL,
            requested_at TEXT NOT NULL,
            state TEXT NOT NULL
                CHECK (state IN ('pending', 'succeeded', 'failed', 'skipped')),
            finished_at TEXT,
            error TEXT
        )
        """,
        "CREATE INDEX actions_requested_at ON actions (requested_at)",
        """
        CREATE INDEX actions_target
            ON actions (target_kind, target_namespace, target_name, requested_at)
        """,
        "CREATE INDEX actions_namespace ON actions (target_namespace, requested_at)",
        "CREATE INDEX actions_incident ON actions (incident_id, requested_at)",
        "CREATE INDEX actions_state ON actions (state)",
        f"""
        CREATE TABLE verifications (
            id {SERIAL_PK},
            action_key TEXT NOT NULL REFERENCES actions (idempotency_key),
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            recovered INTEGER NOT NULL CHECK (recovered IN (0, 1)),
            detail TEXT NOT NULL
        )
        """,
        "CREATE INDEX verifications_action ON verifications (action_key, id)",
    ),
)

_ALERT_INBOX = Migration(
    version=2,
    name="alert inbox",
    statements=(
        # Alertmanager notifications accepted by the webhook, kept until the operator has
        # turned them into signals: an acknowledged alert survives a restart.
        f"""
        CREATE TABLE alert_inbox (
            seq {SERIAL_PK},
            fingerprint TEXT NOT NULL,
            status TEXT NOT NULL CHECK (status IN ('firing', 'resolved')),
            starts_at TEXT NOT NULL,
            received_at TEXT NOT NULL,
            alert TEXT NOT NULL,
            processed_at TEXT
        )
        """,
        # De-duplication: one row per (fingerprint, status, startsAt).
        "CREATE UNIQUE INDEX alert_inbox_dedup ON alert_inbox (fingerprint, status, starts_at)",
        "CREATE INDEX alert_inbox_pending ON alert_inbox (processed_at, seq)",
    ),
)

_OUTBOX = Migration(
    version=3,
    name="notification outbox",
    statements=(
        # A notification is recorded here before it is sent, then marked sent. The key (incident,
        # what, channel) is unique, so recording it twice (a restart, a retry) inserts nothing.
        # A delivery is claimed by moving next_attempt_at past the send's timeout first: two
        # senders never send one item at once, and an item whose sender died mid-send is sent
        # again once, after the claim expires. The payload never contains a secret (keys, URLs
        # and signatures are added by the sender).
        f"""
        CREATE TABLE notification_outbox (
            seq {SERIAL_PK},
            key TEXT NOT NULL UNIQUE,
            incident_id TEXT NOT NULL,
            channel TEXT NOT NULL,
            kind TEXT NOT NULL CHECK (kind IN ('level', 'update', 'ack', 'resolve')),
            payload TEXT NOT NULL,
            created_at TEXT NOT NULL,
            next_attempt_at TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            state TEXT NOT NULL CHECK (state IN ('pending', 'sent', 'failed')),
            sent_at TEXT,
            last_error TEXT
        )
        """,
        "CREATE INDEX notification_outbox_due ON notification_outbox (state, next_attempt_at)",
        """
        CREATE INDEX notification_outbox_incident
            ON notification_outbox (incident_id, channel, seq)
        """,
        # One escalation per incident: the policy it climbs, how far it got, who acknowledged
        # it and when it ended; *_announced record that the acknowledgement and the end were
        # turned into notifications (so a restart announces what was not yet announced).
        """
        CREATE TABLE escalations (
            incident_id TEXT PRIMARY KEY,
            policy TEXT NOT NULL,
            reason TEXT NOT NULL,
            category TEXT NOT NULL,
            severity TEXT NOT NULL,
            started_at TEXT NOT NULL,
            level INTEGER NOT NULL DEFAULT 0,
            acknowledged_at TEXT,
            acknowledged_by TEXT,
            ack_note TEXT,
            ack_announced INTEGER NOT NULL DEFAULT 0 CHECK (ack_announced IN (0, 1)),
            resolved_at TEXT,
            resolve_reason TEXT,
            resolve_announced INTEGER NOT NULL DEFAULT 0 CHECK (resolve_announced IN (0, 1)),
            updates INTEGER NOT NULL DEFAULT 0,
            last_update_at TEXT
        )
        """,
        "CREATE INDEX escalations_open ON escalations (resolve_announced, started_at)",
    ),
)

_CONSOLE = Migration(
    version=4,
    name="guard verdicts and chaos runs",
    statements=(
        # Every guard's verdict on a decision (a JSON array, in the order they were asked):
        # the console's timeline shows each, not only the one that blocked.
        "ALTER TABLE plans ADD COLUMN guards TEXT NOT NULL DEFAULT '[]'",
        # Chaos experiments and game days run by kubeheal (`kubeheal chaos run|gameday
        # --ledger`): the JSON report (``--report``'s document, the ``--compare`` one for a
        # comparison) and the HTML report, as written, for the console's Chaos page.
        """
        CREATE TABLE chaos_runs (
            id TEXT PRIMARY KEY,
            kind TEXT NOT NULL CHECK (kind IN ('run', 'gameday', 'compare')),
            title TEXT NOT NULL,
            started_at TEXT NOT NULL,
            finished_at TEXT NOT NULL,
            passed INTEGER NOT NULL CHECK (passed IN (0, 1)),
            report TEXT NOT NULL,
            html TEXT NOT NULL
        )
        """,
        "CREATE INDEX chaos_runs_started_at ON chaos_runs (started_at)",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (_INITIAL, _ALERT_INBOX, _OUTBOX, _CONSOLE)
"""The schema's whole history, oldest first. Append; never edit a released migration."""

_CREATE_HISTORY = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name TEXT NOT NULL,
    applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
)
"""


def check_history(migrations: Sequence[Migration]) -> None:
    """Raise ``ValueError`` unless versions run 1, 2, 3... (a programming error otherwise)."""
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1..n without gaps, got {versions}")


def apply_migrations(backend: Backend, migrations: Sequence[Migration] = MIGRATIONS) -> int:
    """Bring the database up to the last of ``migrations``; return the schema version.

    Idempotent: on an up-to-date database it only reads ``schema_migrations``. Raises
    `SchemaError` if the database is newer than ``migrations`` or its recorded history
    differs, and `StorageError` if the database cannot be read or written.
    """
    check_history(migrations)
    latest = len(migrations)
    dialect = backend.dialect
    with backend.transaction(write=True) as session:
        session.execute(dialect.ddl(_CREATE_HISTORY))
        rows = session.query("SELECT version, name FROM schema_migrations ORDER BY version")
        applied = {int(row["version"]): str(row["name"]) for row in rows}
        newest = max(applied, default=0)
        if newest > latest:
            raise SchemaError(
                f"the ledger at {backend.location} has schema version {newest}, newer than "
                f"this kubeheal knows ({latest}): upgrade kubeheal, or point it at another "
                f"database; it will not write to a schema it does not understand"
            )
        for migration in migrations[:newest]:
            name = applied.get(migration.version)
            if name != migration.name:
                raise SchemaError(
                    f"the ledger at {backend.location} records migration "
                    f"{migration.version} as {name!r} but this kubeheal's is "
                    f"{migration.name!r}: the database comes from a different build"
                )
        for migration in migrations[newest:]:
            logger.info(
                "applying ledger migration %d (%s) to %s",
                migration.version,
                migration.name,
                backend.location,
            )
            try:
                for statement in migration.statements:
                    session.execute(dialect.ddl(statement))
            except LedgerError as e:
                raise SchemaError(
                    f"migration {migration.version} ({migration.name}) failed on "
                    f"{backend.location}: {e}"
                ) from e
            session.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)",
                (migration.version, migration.name),
            )
    return latest

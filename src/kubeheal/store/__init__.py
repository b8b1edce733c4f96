"""The ledger: SQLite by default, PostgreSQL for HA. The only database I/O.

`Ledger` records signals, incidents, plans, actions and verifications; `kubeheal.store.report`
computes the figures of merit from its records. The record types are the ledger's own (plain
``str`` ids); the runtime maps them to and from the engine's types.
"""

from kubeheal.store.errors import (
    ConflictError,
    InvalidRecordError,
    LedgerError,
    NotFoundError,
    SchemaError,
    StorageError,
)
from kubeheal.store.ledger import Ledger
from kubeheal.store.records import (
    ActionBegin,
    ActionRecord,
    ActionState,
    IncidentRecord,
    IncidentState,
    PlanRecord,
    Resolution,
    SignalRecord,
    TargetRef,
    TransitionRecord,
    VerificationRecord,
)

__all__ = [
    "ActionBegin",
    "ActionRecord",
    "ActionState",
    "ConflictError",
    "IncidentRecord",
    "IncidentState",
    "InvalidRecordError",
    "Ledger",
    "LedgerError",
    "NotFoundError",
    "PlanRecord",
    "Resolution",
    "SchemaError",
    "SignalRecord",
    "StorageError",
    "TargetRef",
    "TransitionRecord",
    "VerificationRecord",
]

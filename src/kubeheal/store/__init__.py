"""The ledger: SQLite by default, PostgreSQL for HA. The only database I/O.

`Ledger` records signals, incidents, plans, actions and verifications; `kubeheal.store.report`
computes the figures of merit from its records. The records speak the model's vocabulary
(its state enums, signal kinds and origins, ``NewType`` ids; ``IncidentState`` and
``ActionState`` here are the model's) and convert to and from the engine's structs
(`kubeheal.store.records`).
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

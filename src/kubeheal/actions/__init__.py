"""Actions: the only code that writes to the cluster. Idempotent and verified.

``execute(plan, writer=...) -> ActionOutcome`` runs one ``ActionPlan``: one executor per
``ActionParams`` type, each reading the current object first (already done: no change),
sending server-side dry runs for dry-run plans, and emitting an Event plus the
``kubeheal.io/last-action`` annotation after a change. Failures carry their retry intent
(``TemporaryError(delay=...)`` or ``PermanentError``).
"""

from kubeheal.actions._base import ANNOTATION_LAST_ACTION, EVENT_REASON
from kubeheal.actions.errors import ActionError, PermanentError, TemporaryError
from kubeheal.actions.execute import execute
from kubeheal.actions.outcome import ActionOutcome, EvidenceValue, OutcomeState
from kubeheal.actions.protocol import Writer
from kubeheal.actions.workloads import ANNOTATION_ROLLED_BACK_FROM

__all__ = [
    "ANNOTATION_LAST_ACTION",
    "ANNOTATION_ROLLED_BACK_FROM",
    "EVENT_REASON",
    "ActionError",
    "ActionOutcome",
    "EvidenceValue",
    "OutcomeState",
    "PermanentError",
    "TemporaryError",
    "Writer",
    "execute",
]

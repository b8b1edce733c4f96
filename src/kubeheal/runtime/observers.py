"""What the operator tells its observers: `OperatorEvent`, and `compose` to chain observers.

Observers (the demo's timeline, notifications, the anomaly and right-sizing sources) get
every event in order; the ledger stays the record. An observer that raises is logged and
does not stop the others.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from kubeheal.model.core import Target

__all__ = ["Observer", "OperatorEvent", "compose"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OperatorEvent:
    """Something the operator did, for timelines and logs (the ledger is the record)."""

    at: datetime
    kind: str  # signal | incident | plan | action | verify | resolved | escalated | blocked
    target: Target
    message: str
    incident_id: str = ""
    data: dict[str, Any] = field(default_factory=dict)


Observer = Callable[[OperatorEvent], None]


def compose(*observers: Observer | None) -> Observer | None:
    """One observer calling ``observers`` (the ``None`` ones left out) in order."""
    chosen = [o for o in observers if o is not None]
    if len(chosen) <= 1:
        return chosen[0] if chosen else None

    def observe(event: OperatorEvent) -> None:
        for observer in chosen:
            try:
                observer(event)
            except Exception:
                log.exception("operator event observer failed")

    return observe

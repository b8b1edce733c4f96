"""Incidents no enabled playbook matches: held for a grace, then escalated.

Another signal may still arrive that a playbook matches, so within
``incidents.unmatched_escalate_after`` of its opening such an incident is only blocked (a
NoAction); once it has been open that long it is escalated, with its signals as evidence and
what a human should do next, instead of staying open with nobody told.

Pure: no I/O, no clock (``now`` is a parameter).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from kubeheal.config import IncidentSettings
from kubeheal.engine.guards import Block
from kubeheal.model.core import Incident, Signal

__all__ = ["GUARD", "MAX_SIGNALS", "NO_MATCH", "block_for"]

GUARD = "playbook"
MAX_SIGNALS = 5
NO_MATCH = "no enabled playbook matches this incident"


def _clean(text: str) -> str:
    """``text`` without control characters (signal subjects and alert labels are input)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text)


def _seconds(delta: timedelta) -> str:
    seconds = delta.total_seconds()
    return f"{seconds:.0f} s" if seconds < 120 else f"{seconds / 60:.1f} min"


def _describe(signal: Signal) -> str:
    words = [signal.kind.value]
    if signal.subject:
        words.append(signal.subject)
    alert = signal.labels.get("alertname")
    if alert:
        words.append(f"alert {alert}")
    when = signal.observed_at.isoformat(timespec="seconds")
    return _clean(f"{' '.join(words)} (observed {when})")


def block_for(incident: Incident, *, now: datetime, settings: IncidentSettings) -> Block:
    """The block of ``incident``, which no enabled playbook matches: an escalating one,
    naming its signals and the next step, once it has been open
    ``settings.unmatched_escalate_after``; before, a plain block (its reason does not change
    while it waits, so it is recorded once)."""
    after = settings.unmatched_escalate_after
    if now - incident.opened_at < after:
        reason = f"{NO_MATCH}; escalated if still unmatched {_seconds(after)} after opening"
        return Block(guard=GUARD, reason=reason)
    signals = sorted(incident.signals, key=lambda s: (s.observed_at, s.kind.value, s.subject))
    shown = [_describe(s) for s in signals[:MAX_SIGNALS]]
    if len(signals) > MAX_SIGNALS:
        shown.append(f"and {len(signals) - MAX_SIGNALS} more")
    evidence = "; ".join(shown) or "none recorded"
    reason = (
        f"{NO_MATCH} after {_seconds(now - incident.opened_at)} open; "
        f"signals: {evidence}. Next step: look at {_clean(incident.target.key)} by hand "
        "(kubectl describe, its logs and events) and, if kubeheal should fix this itself, "
        "write or enable a playbook whose triggers match these signals"
    )
    return Block(guard=GUARD, reason=reason, escalate=True)

"""Escalation policy: an incident's category and severity, and the policy that handles it.

Pure: no I/O, no clock.

Category and severity come from the incident's signals. An alert's own labels win
(``severity``, and ``category`` when the alert rule sets one); other signals are classified by
kind: ``critical`` (the workload or node is down or cannot start), ``performance`` (it runs,
badly) and ``capacity`` (it runs out of something), plus ``hygiene`` for configuration
findings. The most severe signal decides. Routes are tried in order; the first whose
categories and severities match (an empty list matches anything) names the policy, else the
``default_policy``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from kubeheal.config.settings import EscalationLevelSettings, NotificationSettings
from kubeheal.store.records import SignalRecord

__all__ = [
    "CATEGORY_OF_KIND",
    "SEVERITIES",
    "Classification",
    "classify",
    "levels_of",
    "select_policy",
]

SEVERITIES: tuple[str, ...] = ("critical", "error", "warning", "info")
"""Severities, most severe first (PagerDuty's four)."""

CATEGORY_OF_KIND: Mapping[str, str] = {
    "CrashLoopBackOff": "critical",
    "ImagePullBackOff": "critical",
    "NodeNotReady": "critical",
    "RolloutStuck": "critical",
    "NewReplicaSetUnhealthy": "critical",
    "ReadinessFailing": "critical",
    "SLOBurn": "critical",
    "HighRestartRate": "performance",
    "Anomaly": "performance",
    "OOMKilled": "capacity",
    "PodUnschedulable": "capacity",
    "NodeMemoryPressure": "capacity",
    "NodeDiskPressure": "capacity",
    "HPAMaxedOut": "capacity",
    "Forecast": "capacity",
    "PDBMissing": "hygiene",
    "PDBRedundant": "hygiene",
    "NodeRecovered": "hygiene",
    "Rightsize": "hygiene",
}
"""Category of each signal kind (an alert's ``category`` label overrides it)."""

_SEVERITY_OF_CATEGORY = {
    "critical": "critical",
    "performance": "warning",
    "capacity": "warning",
    "hygiene": "info",
}
_SEVERITY_ALIASES = {
    "critical": "critical",
    "page": "critical",
    "high": "critical",
    "error": "error",
    "major": "error",
    "warning": "warning",
    "warn": "warning",
    "medium": "warning",
    "minor": "warning",
    "info": "info",
    "low": "info",
    "none": "info",
}


@dataclass(frozen=True)
class Classification:
    """What kind of problem an incident is, for routing and for the messages."""

    category: str
    severity: str


def _label(signal: SignalRecord, name: str) -> str:
    value = signal.details.get(f"label.{name}")
    return value.strip().lower() if isinstance(value, str) else ""


def _rank(severity: str) -> int:
    return SEVERITIES.index(severity) if severity in SEVERITIES else len(SEVERITIES)


def classify(signals: Iterable[SignalRecord]) -> Classification:
    """The category and severity of an incident with these signals (see the module doc)."""
    best: Classification | None = None
    for signal in signals:
        category = _label(signal, "category") or CATEGORY_OF_KIND.get(signal.kind, "critical")
        severity = _SEVERITY_ALIASES.get(_label(signal, "severity"), "")
        if not severity:
            severity = _SEVERITY_OF_CATEGORY.get(category, "warning")
        candidate = Classification(category=category, severity=severity)
        if best is None or _rank(candidate.severity) < _rank(best.severity):
            best = candidate
    return best or Classification(category="critical", severity="critical")


def select_policy(settings: NotificationSettings, classification: Classification) -> str | None:
    """The name of the policy for an incident, or ``None`` when no policy applies."""
    for route in settings.routes:
        if route.categories and classification.category not in route.categories:
            continue
        if route.severities and classification.severity not in route.severities:
            continue
        return route.policy
    if settings.default_policy in settings.policies:
        return settings.default_policy
    return None


def levels_of(settings: NotificationSettings, policy: str) -> tuple[EscalationLevelSettings, ...]:
    """The levels of ``policy`` (none if the policy no longer exists)."""
    found = settings.policies.get(policy)
    return found.levels if found is not None else ()

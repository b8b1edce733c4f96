"""Core domain types: ids, targets, signals, incidents.

Pure data: no I/O, no clock. Every struct is frozen; the engine returns new values instead of
mutating old ones (``msgspec.structs.replace``).
"""

from __future__ import annotations

import enum
import hashlib
from datetime import datetime
from typing import NewType

import msgspec

__all__ = [
    "ActionId",
    "Incident",
    "IncidentId",
    "IncidentState",
    "Signal",
    "SignalId",
    "SignalKind",
    "SignalSource",
    "Target",
    "TargetKind",
    "Transition",
    "stable_id",
]

IncidentId = NewType("IncidentId", str)
SignalId = NewType("SignalId", str)
ActionId = NewType("ActionId", str)

DetailValue = str | int | float | bool


def stable_id(*parts: str) -> str:
    """A short deterministic id derived from ``parts`` (same parts, same id)."""
    digest = hashlib.blake2b("\x1f".join(parts).encode(), digest_size=10)
    return digest.hexdigest()


class TargetKind(enum.StrEnum):
    """What a signal or an incident is about."""

    DEPLOYMENT = "Deployment"
    STATEFULSET = "StatefulSet"
    DAEMONSET = "DaemonSet"
    REPLICASET = "ReplicaSet"
    JOB = "Job"
    POD = "Pod"
    NODE = "Node"
    SERVICE = "Service"
    NAMESPACE = "Namespace"
    CLUSTER = "Cluster"


class Target(msgspec.Struct, frozen=True, order=True, kw_only=True):
    """A workload, a node or another object; ``namespace`` is empty for cluster-scoped kinds."""

    kind: TargetKind
    name: str
    namespace: str = ""

    @property
    def key(self) -> str:
        """``Kind/namespace/name`` (``Kind/name`` when cluster-scoped)."""
        if self.namespace:
            return f"{self.kind.value}/{self.namespace}/{self.name}"
        return f"{self.kind.value}/{self.name}"

    def __str__(self) -> str:
        return self.key


class SignalKind(enum.StrEnum):
    """Every kind of normalised observation."""

    CRASH_LOOP_BACK_OFF = "CrashLoopBackOff"
    HIGH_RESTART_RATE = "HighRestartRate"
    OOM_KILLED = "OOMKilled"
    IMAGE_PULL_BACK_OFF = "ImagePullBackOff"
    READINESS_FAILING = "ReadinessFailing"
    POD_UNSCHEDULABLE = "PodUnschedulable"
    ROLLOUT_STUCK = "RolloutStuck"
    NEW_REPLICASET_UNHEALTHY = "NewReplicaSetUnhealthy"
    NODE_NOT_READY = "NodeNotReady"
    NODE_MEMORY_PRESSURE = "NodeMemoryPressure"
    NODE_DISK_PRESSURE = "NodeDiskPressure"
    HPA_MAXED_OUT = "HPAMaxedOut"
    PDB_MISSING = "PDBMissing"
    PDB_REDUNDANT = "PDBRedundant"
    """A PodDisruptionBudget kubeheal created covers a workload its owner's own PDB now also
    covers (``details``: ``pdb``, kubeheal's; ``covered_by``, the others)."""
    NODE_RECOVERED = "NodeRecovered"
    ALERT = "Alert"
    ANOMALY = "Anomaly"
    FORECAST = "Forecast"
    SLO_BURN = "SLOBurn"
    RIGHTSIZE = "Rightsize"
    """A right-sizing recommendation differs from a container's requests/limits
    (``details``: the recommended values; see ``kubeheal.engine.rightsize``)."""


class SignalSource(enum.StrEnum):
    """Where a signal came from."""

    DETECTOR = "detector"
    ALERTMANAGER = "alertmanager"
    PROMETHEUS = "prometheus"
    ANOMALY = "anomaly"
    FORECAST = "forecast"
    SLO = "slo"
    FINOPS = "finops"


class Signal(msgspec.Struct, frozen=True, kw_only=True):
    """A normalised observation about one target.

    ``subject`` names the precise object inside the target (``pod/web-1/container/app``),
    ``details`` carries small typed facts (restart count, exit code, revision),
    ``labels`` the labels of an alert.
    """

    id: SignalId
    kind: SignalKind
    target: Target
    observed_at: datetime
    subject: str = ""
    details: dict[str, DetailValue] = {}
    labels: dict[str, str] = {}
    source: SignalSource = SignalSource.DETECTOR

    @staticmethod
    def make_id(kind: SignalKind, target: Target, subject: str) -> SignalId:
        """The deterministic id of the signal ``kind`` about ``subject`` of ``target``."""
        return SignalId(stable_id(kind.value, target.key, subject))


class IncidentState(enum.StrEnum):
    """Lifecycle of an incident."""

    OPEN = "open"
    ACTING = "acting"
    VERIFYING = "verifying"
    RESOLVED = "resolved"
    ESCALATED = "escalated"

    @property
    def closed(self) -> bool:
        """Resolved and escalated incidents take no more signals."""
        return self in (IncidentState.RESOLVED, IncidentState.ESCALATED)


class Transition(msgspec.Struct, frozen=True, kw_only=True):
    """One state change of an incident."""

    to: IncidentState
    at: datetime
    reason: str = ""


class Incident(msgspec.Struct, frozen=True, kw_only=True):
    """One problem of one target, however many signals describe it.

    ``attempts`` counts the actions taken; ``playbook`` and ``step`` record which playbook
    handles it and which of its steps comes next; ``flapping`` is set when the target keeps
    re-opening incidents, and makes the guards escalate instead of acting again.
    """

    id: IncidentId
    target: Target
    opened_at: datetime
    updated_at: datetime
    signals: tuple[Signal, ...] = ()
    state: IncidentState = IncidentState.OPEN
    attempts: int = 0
    transitions: tuple[Transition, ...] = ()
    flapping: bool = False
    playbook: str | None = None
    step: int = 0

    @property
    def signal_kinds(self) -> frozenset[SignalKind]:
        """The kinds of all signals of this incident."""
        return frozenset(signal.kind for signal in self.signals)

    def entered_at(self, state: IncidentState) -> datetime | None:
        """When the incident last entered ``state`` (``opened_at`` for OPEN)."""
        for transition in reversed(self.transitions):
            if transition.to is state:
                return transition.at
        return self.opened_at if state is IncidentState.OPEN else None

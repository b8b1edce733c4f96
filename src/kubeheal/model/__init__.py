"""Shared data types used by every layer: ids, targets, signals, incidents, history,
slim Kubernetes objects and the cluster snapshot. Pure data: no I/O, no clock."""

from kubeheal.model.cluster import ClusterView
from kubeheal.model.core import (
    ActionId,
    Incident,
    IncidentId,
    IncidentState,
    Signal,
    SignalId,
    SignalKind,
    SignalSource,
    Target,
    TargetKind,
    Transition,
)
from kubeheal.model.history import ActionState, History, IncidentOpening, PastAction
from kubeheal.model.quantity import QuantityError, format_memory, parse_cpu, parse_memory

__all__ = [
    "ActionId",
    "ActionState",
    "ClusterView",
    "History",
    "Incident",
    "IncidentId",
    "IncidentOpening",
    "IncidentState",
    "PastAction",
    "QuantityError",
    "Signal",
    "SignalId",
    "SignalKind",
    "SignalSource",
    "Target",
    "TargetKind",
    "Transition",
    "format_memory",
    "parse_cpu",
    "parse_memory",
]

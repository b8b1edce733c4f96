"""Which playbooks apply to an incident: triggers, then conditions.

Pure: no I/O, no clock (``now`` is a parameter).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from kubeheal.engine.facts import gitops_owner, last_rollout_at, outlier_pod, workload_replicas
from kubeheal.engine.playbooks.loader import PlaybookSet
from kubeheal.engine.playbooks.schema import Conditions, Playbook, Triggers
from kubeheal.model.cluster import ClusterView
from kubeheal.model.core import Incident, Signal, SignalKind

__all__ = ["conditions_hold", "matching_playbooks", "triggered_by"]


def _signal_triggers(triggers: Triggers, signal: Signal) -> bool:
    if signal.kind not in triggers.signals:
        return False
    if signal.kind is SignalKind.ALERT and triggers.alert is not None:
        names = triggers.alert.names
        if names and signal.details.get("alertname") not in names:
            return False
        for key, value in triggers.alert.labels.items():
            if signal.labels.get(key) != value:
                return False
    return all(str(signal.details.get(key)) == value for key, value in triggers.details.items())


def triggered_by(playbook: Playbook, incident: Incident, view: ClusterView) -> bool:
    """Whether the incident's target and one of its signals fit the playbook's triggers."""
    triggers = playbook.triggers
    target = incident.target
    if triggers.namespaces and target.namespace not in triggers.namespaces:
        return False
    if target.namespace in triggers.exclude_namespaces:
        return False
    if triggers.target_kinds and target.kind not in triggers.target_kinds:
        return False
    if triggers.labels:
        meta = view.workload_meta(target)
        labels = meta.labels if meta is not None else {}
        if any(labels.get(k) != v for k, v in triggers.labels.items()):
            return False
    return any(_signal_triggers(triggers, signal) for signal in incident.signals)


def conditions_hold(
    conditions: Conditions, incident: Incident, view: ClusterView, *, now: datetime
) -> bool:
    """Whether every set condition holds for the incident's target."""
    target = incident.target
    rolled = last_rollout_at(view, target)
    if conditions.recent_rollout_within is not None and (
        rolled is None or now - rolled > conditions.recent_rollout_within
    ):
        return False
    if (
        conditions.no_rollout_within is not None
        and rolled is not None
        and now - rolled <= conditions.no_rollout_within
    ):
        return False
    if (
        conditions.replicas_at_least is not None
        and workload_replicas(view, target) < conditions.replicas_at_least
    ):
        return False
    if conditions.has_hpa is not None and bool(view.hpas_for(target)) != conditions.has_hpa:
        return False
    if (
        conditions.has_pdb is not None
        and bool(view.pdbs_for_workload(target)) != conditions.has_pdb
    ):
        return False
    if conditions.owned_by_gitops is not None:
        owned = gitops_owner(view.workload_meta(target)) is not None
        if owned != conditions.owned_by_gitops:
            return False
    if conditions.outlier_pod is not None:
        found = outlier_pod(incident, view, now=now) is not None
        if found != conditions.outlier_pod:
            return False
    return True


def matching_playbooks(
    playbooks: PlaybookSet,
    incident: Incident,
    view: ClusterView,
    *,
    now: datetime,
    disabled: Iterable[str] = (),
) -> list[Playbook]:
    """Enabled playbooks that apply to the incident, in priority order."""
    off = set(disabled)
    return [
        playbook
        for playbook in playbooks
        if playbook.enabled
        and playbook.name not in off
        and triggered_by(playbook, incident, view)
        and conditions_hold(playbook.conditions, incident, view, now=now)
    ]

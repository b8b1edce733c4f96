"""What a notification says about an incident, gathered from the ledger's records.

Pure: no I/O, no clock. `build_context` turns an incident's records (signals, transitions,
plans, actions, verifications) into an `IncidentContext`: what happened, the timeline, the
actions and their outcomes, the suggested next step with the exact kubectl commands (and the
patch to commit when kubeheal escalated one), and the runbook and dashboard links. Every
channel renders the same context.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from kubeheal.config.settings import NotificationSettings
from kubeheal.notify.policy import Classification
from kubeheal.store.records import (
    ActionRecord,
    IncidentRecord,
    PlanRecord,
    SignalRecord,
    TransitionRecord,
    VerificationRecord,
)

__all__ = [
    "ActionSummary",
    "IncidentContext",
    "TimelineEntry",
    "build_context",
    "fill_link",
    "suggested_commands",
]

_PATCH_MARK = "\npatch to commit:\n"
_LOGS_MARK = "\nlast logs of "
_RUNBOOK_KEYS = ("runbook_url", "runbook")
_DASHBOARD_KEYS = ("dashboard_url", "dashboard", "grafana_url")
_RESOURCE = {
    "Deployment": "deployment",
    "StatefulSet": "statefulset",
    "DaemonSet": "daemonset",
    "ReplicaSet": "replicaset",
    "Job": "job",
    "Pod": "pod",
    "Node": "node",
    "Service": "service",
    "Namespace": "namespace",
}
_ROLLOUT_KINDS = frozenset(
    {"RolloutStuck", "NewReplicaSetUnhealthy", "ImagePullBackOff", "CrashLoopBackOff"}
)
_NODE_KINDS = frozenset({"NodeNotReady", "NodeMemoryPressure", "NodeDiskPressure"})


@dataclass(frozen=True)
class TimelineEntry:
    """One dated line of the incident's story."""

    at: datetime
    text: str


@dataclass(frozen=True)
class ActionSummary:
    """An action kubeheal took and how it ended."""

    action: str
    state: str
    requested_at: datetime
    finished_at: datetime | None
    detail: str
    """The error of a failed action, or the verdict of its verification."""


@dataclass(frozen=True)
class IncidentContext:
    """Everything a message about one incident says (channel-independent)."""

    incident_id: str
    target_kind: str
    namespace: str
    name: str
    state: str
    opened_at: datetime
    category: str
    severity: str
    cluster: str
    headline: str
    """One line: what is wrong with what."""
    what_happened: str
    timeline: tuple[TimelineEntry, ...]
    omitted: int
    """Older timeline entries left out."""
    actions: tuple[ActionSummary, ...]
    next_step: str
    commands: tuple[str, ...]
    """Exact kubectl commands, most useful first."""
    patch: str
    """The strategic-merge patch to commit (GitOps), or empty."""
    logs: str
    """The last log lines kubeheal captured when it escalated, or empty."""
    runbook_url: str
    dashboard_url: str

    @property
    def target(self) -> str:
        """``Kind namespace/name`` (``Kind name`` when cluster-scoped)."""
        where = f"{self.namespace}/{self.name}" if self.namespace else self.name
        return f"{self.target_kind} {where}"


def fill_link(template: str, *, kind: str, namespace: str, name: str, incident_id: str) -> str:
    """A link template with ``{kind}``, ``{namespace}``, ``{name}``, ``{incident_id}`` filled
    in (URL-encoded); other braces are left alone."""
    values = {"kind": kind, "namespace": namespace, "name": name, "incident_id": incident_id}
    out = template
    for key, value in values.items():
        out = out.replace("{" + key + "}", quote(value, safe=""))
    return out


def _detail_link(signals: Sequence[SignalRecord], keys: Sequence[str]) -> str:
    for signal in signals:
        for raw_key, value in signal.details.items():
            key = raw_key.lower().rsplit(".", 1)[-1]
            if key in keys and isinstance(value, str) and value.startswith(("http://", "https://")):
                return value
    return ""


def _pod_of(subject: str) -> str:
    parts = subject.split("/")
    if len(parts) >= 2 and parts[0] == "pod":
        return parts[1]
    return ""


def _is_hpa_patch(patch: str) -> bool:
    try:
        body = json.loads(patch)
    except ValueError:
        return False
    spec = body.get("spec") if isinstance(body, dict) else None
    return isinstance(spec, dict) and bool({"maxReplicas", "minReplicas"} & set(spec))


def suggested_commands(
    *,
    kind: str,
    namespace: str,
    name: str,
    signal_kinds: Iterable[str],
    pod: str = "",
    patch: str = "",
) -> tuple[str, ...]:
    """Exact kubectl commands for a human taking over: apply the patch kubeheal proposes,
    then look at what kubeheal saw."""
    ns = f"-n {shlex.quote(namespace)} " if namespace else ""
    resource = _RESOURCE.get(kind, kind.lower())
    ref = f"{resource}/{shlex.quote(name)}"
    kinds = set(signal_kinds)
    commands: list[str] = []
    if patch:
        if _is_hpa_patch(patch) and kind != "HorizontalPodAutoscaler":
            selector = (
                "{.items[?(@.spec.scaleTargetRef.name==" + json.dumps(name) + ")].metadata.name}"
            )
            hpa = f"$(kubectl {ns}get hpa -o jsonpath={shlex.quote(selector)})"
            commands.append(f"kubectl {ns}patch hpa {hpa} --type merge -p {shlex.quote(patch)}")
        else:
            commands.append(f"kubectl {ns}patch {ref} --type strategic -p {shlex.quote(patch)}")
    if pod:
        commands.append(
            f"kubectl {ns}logs {shlex.quote(pod)} --all-containers --previous --tail=50"
        )
        commands.append(f"kubectl {ns}describe pod {shlex.quote(pod)}")
    if kinds & _ROLLOUT_KINDS and resource == "deployment":
        commands.append(f"kubectl {ns}rollout history {ref}")
        commands.append(f"kubectl {ns}rollout undo {ref}")
    if kinds & _NODE_KINDS and resource == "node":
        commands.append(f"kubectl cordon {shlex.quote(name)}")
        commands.append(
            f"kubectl drain {shlex.quote(name)} --ignore-daemonsets --delete-emptydir-data"
        )
    commands.append(f"kubectl {ns}describe {ref}")
    field = shlex.quote(f"involvedObject.name={name}")
    commands.append(f"kubectl {ns}get events --field-selector {field} --sort-by=.lastTimestamp")
    return tuple(dict.fromkeys(commands))


def _split_reason(reason: str) -> tuple[str, str, str]:
    """(reason, logs, patch) of an escalation message written by the operator."""
    head, _, patch = reason.partition(_PATCH_MARK)
    head, sep, logs = head.partition(_LOGS_MARK)
    return head.strip(), (sep.strip() + " " + logs).strip() if sep else "", patch.strip()


def _guard_reason(plan: PlanRecord) -> str:
    """``guard: reason`` (the operator's reasons usually name their guard already)."""
    guard = plan.blocked_by or ""
    return plan.reason if plan.reason.startswith(f"{guard}:") else f"{guard}: {plan.reason}"


def _timeline(
    *,
    signals: Sequence[SignalRecord],
    transitions: Sequence[TransitionRecord],
    plans: Sequence[PlanRecord],
    actions: Sequence[ActionRecord],
    verifications: Mapping[str, Sequence[VerificationRecord]],
) -> list[TimelineEntry]:
    entries: list[TimelineEntry] = []
    for s in signals:
        where = f" {s.subject}" if s.subject else ""
        entries.append(TimelineEntry(s.observed_at, f"signal {s.kind}{where} ({s.source})"))
    for t in transitions:
        first_line = t.reason.splitlines()[0] if t.reason else ""
        if t.from_state is None:
            text = f"incident opened ({first_line})" if first_line else "incident opened"
        else:
            text = f"{t.from_state.value} -> {t.to_state.value}: {first_line}"
        entries.append(TimelineEntry(t.at, text))
    for p in plans:
        if p.blocked_by:
            entries.append(TimelineEntry(p.decided_at, f"blocked: {_guard_reason(p)}"))
        elif p.action and p.action != "escalate":
            step = f" step {p.step}" if p.step is not None else ""
            dry = " (dry run)" if p.dry_run else ""
            entries.append(
                TimelineEntry(p.decided_at, f"plan: {p.action} ({p.playbook}{step}){dry}")
            )
    for a in actions:
        if a.finished_at is not None:
            error = f": {a.error}" if a.error else ""
            entries.append(
                TimelineEntry(a.finished_at, f"action {a.action} {a.state.value}{error}")
            )
        for v in verifications.get(a.idempotency_key, ()):
            verdict = "recovered" if v.recovered else "not recovered"
            entries.append(TimelineEntry(v.finished_at, f"verification: {verdict}: {v.detail}"))
    entries.sort(key=lambda e: e.at)
    return entries


def build_context(
    *,
    incident: IncidentRecord,
    signals: Sequence[SignalRecord],
    transitions: Sequence[TransitionRecord],
    plans: Sequence[PlanRecord],
    actions: Sequence[ActionRecord],
    verifications: Mapping[str, Sequence[VerificationRecord]],
    classification: Classification,
    settings: NotificationSettings,
) -> IncidentContext:
    """The context of one incident from its ledger records (see the module docstring)."""
    target = incident.target
    kinds = sorted({s.kind for s in signals})
    kinds_text = ", ".join(kinds) or "a problem"
    where = f"{target.namespace}/{target.name}" if target.namespace else target.name
    headline = f"{kinds_text} on {target.kind} {where}"

    escalations = [t.reason for t in transitions if t.to_state.value == "escalated"]
    moves = [t.reason for t in transitions if t.from_state is not None and t.reason]
    last_reason = (escalations or moves or [""])[-1]
    reason, logs, patch_from_reason = _split_reason(last_reason)
    escalate_plans = [p for p in plans if p.action == "escalate"]
    patch = ""
    pod = ""
    if escalate_plans:
        params = escalate_plans[-1].params
        patch_value = params.get("patch")
        pod_value = params.get("pod")
        patch = patch_value if isinstance(patch_value, str) else ""
        pod = pod_value if isinstance(pod_value, str) else ""
    patch = patch or patch_from_reason
    if not pod:
        pod = next((p for p in (_pod_of(s.subject) for s in signals) if p), "")

    subjects = sorted({s.subject for s in signals if s.subject})
    what = [
        f"kubeheal observed {kinds_text} on {target.kind} {where}"
        + (f" ({', '.join(subjects[:5])})" if subjects else "")
        + f"; the incident is {incident.state.value}"
        + (f" after {incident.attempts} action(s)" if incident.attempts else "")
        + "."
    ]
    if reason:
        what.append(reason)
    blocked = [p for p in plans if p.blocked_by]
    if blocked:
        what.append(f"Last guard decision: {_guard_reason(blocked[-1])}")

    results: list[ActionSummary] = []
    for a in actions:
        checks = verifications.get(a.idempotency_key, ())
        detail = a.error or ""
        if checks:
            last = checks[-1]
            verdict = "recovered" if last.recovered else "not recovered"
            detail = f"{detail}; " if detail else ""
            detail += f"verified {verdict}: {last.detail}"
        results.append(
            ActionSummary(
                action=a.action,
                state=a.state.value,
                requested_at=a.requested_at,
                finished_at=a.finished_at,
                detail=detail,
            )
        )

    if patch:
        next_step = (
            "Commit this patch to the workload's source of truth (kubeheal did not apply it), "
            "or apply it by hand:"
        )
    elif incident.state.value == "escalated":
        next_step = "kubeheal cannot fix this safely on its own. Investigate with:"
    else:
        next_step = "kubeheal is still working on it but has not fixed it yet. Check:"

    runbook = _detail_link(signals, _RUNBOOK_KEYS)
    dashboard = _detail_link(signals, _DASHBOARD_KEYS)
    link_values = {
        "kind": target.kind,
        "namespace": target.namespace,
        "name": target.name,
        "incident_id": incident.id,
    }
    if not runbook and settings.runbook_url:
        runbook = fill_link(settings.runbook_url, **link_values)
    if not dashboard and settings.dashboard_url:
        dashboard = fill_link(settings.dashboard_url, **link_values)

    entries = _timeline(
        signals=signals,
        transitions=transitions,
        plans=plans,
        actions=actions,
        verifications=verifications,
    )
    keep = settings.timeline_entries
    return IncidentContext(
        incident_id=incident.id,
        target_kind=target.kind,
        namespace=target.namespace,
        name=target.name,
        state=incident.state.value,
        opened_at=incident.opened_at,
        category=classification.category,
        severity=classification.severity,
        cluster=settings.cluster,
        headline=headline,
        what_happened="\n".join(what),
        timeline=tuple(entries[-keep:]),
        omitted=max(0, len(entries) - keep),
        actions=tuple(results),
        next_step=next_step,
        commands=suggested_commands(
            kind=target.kind,
            namespace=target.namespace,
            name=target.name,
            signal_kinds=kinds,
            pod=pod,
            patch=patch,
        ),
        patch=patch,
        logs=logs,
        runbook_url=runbook,
        dashboard_url=dashboard,
    )

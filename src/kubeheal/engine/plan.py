"""Deciding what to do about an incident: ``decide`` returns a ``Plan``.

::

    incident guards ──block──> NoAction | Escalate
          │ allow
    playbook (the incident's, else the first that matches) ──none──> NoAction
          │
    steps from incident.step: escalate step ──> Escalate
          │ compute concrete params ──not applicable──> next step
          │ action guards ──gitops──> next step (least persistent), Escalate with the patch last
          │               ──block──> NoAction (not now) | Escalate
          ▼
       ActionPlan (dry_run when the settings or the playbook say so)

Pure: no I/O, no clock (``now`` is a parameter). Plans are tagged msgspec Structs, so they
round-trip through the ledger as JSON.
"""

from __future__ import annotations

import logging
import math
from datetime import datetime

import msgspec

from kubeheal.config import Settings
from kubeheal.engine import node_loss, unmatched
from kubeheal.engine.evidence import with_evidence
from kubeheal.engine.facts import (
    NodeCapacity,
    kubeheal_made,
    outlier_pod,
    schedulable_capacity,
)
from kubeheal.engine.guards import (
    ACTION_GUARDS,
    INCIDENT_GUARDS,
    Block,
    GuardContext,
    Verdict,
    checks,
)
from kubeheal.engine.params import (
    ActionParams,
    CordonNode,
    CreatePdb,
    DeletePdb,
    DeletePodsOnNode,
    DrainNode,
    RaiseHpaMax,
    ResourceChange,
    ScaleOut,
    SetResources,
    UncordonNode,
)
from kubeheal.engine.playbooks.loader import PlaybookSet
from kubeheal.engine.playbooks.match import matching_playbooks
from kubeheal.engine.playbooks.schema import (
    ActionName,
    CordonNodeStep,
    CreatePdbStep,
    DeletePdbStep,
    DeletePodsOnNodeStep,
    DrainNodeStep,
    EscalateStep,
    Mode,
    Playbook,
    RaiseHpaMaxStep,
    RaiseMemoryLimitStep,
    RestartPodStep,
    RollbackDeploymentStep,
    ScaleOutStep,
    SetResourcesStep,
    Step,
    UncordonNodeStep,
)
from kubeheal.engine.rightsize import ResourceTargets, plan_step
from kubeheal.engine.step_params import (
    _raise_memory,
    _restart,
    _rollback,
    _signal_pods,
    _Skip,
    _Wait,
)
from kubeheal.model.cluster import ClusterView, PodSpec
from kubeheal.model.core import Incident, IncidentId, SignalKind, Target, TargetKind, stable_id
from kubeheal.model.history import History

__all__ = [
    "ActionPlan",
    "EscalatePlan",
    "NoAction",
    "Plan",
    "VerificationPlan",
    "decide",
    "resumed_plan",
    "verification_plan",
]

logger = logging.getLogger(__name__)


class VerificationPlan(msgspec.Struct, frozen=True, kw_only=True):
    """How the runtime proves the action worked, and what to do if not."""

    check: str
    timeout_seconds: float
    stable_for_seconds: float
    on_failure: str


class ActionPlan(msgspec.Struct, frozen=True, kw_only=True, tag="act"):
    """Take ``action`` with ``params`` (or only record it when ``dry_run``)."""

    incident_id: IncidentId
    target: Target
    playbook: str
    step: int
    action: ActionName
    params: ActionParams
    verification: VerificationPlan
    idempotency_key: str
    dry_run: bool = False
    notes: tuple[str, ...] = ()
    verdicts: tuple[Verdict, ...] = ()
    """Each guard's verdict on the decision, in the order they were asked."""


class EscalatePlan(msgspec.Struct, frozen=True, kw_only=True, tag="escalate"):
    """Hand the incident to humans; ``patch`` is the exact change to commit (GitOps)."""

    incident_id: IncidentId
    target: Target
    reason: str
    playbook: str | None = None
    step: int | None = None
    blocks: tuple[Block, ...] = ()
    patch: str = ""
    include_logs: bool = False
    log_lines: int = 0
    pod: str | None = None
    dry_run: bool = False
    verdicts: tuple[Verdict, ...] = ()


class NoAction(msgspec.Struct, frozen=True, kw_only=True, tag="none"):
    """Nothing to do now, and why (each reason names its guard)."""

    incident_id: IncidentId
    target: Target
    reasons: tuple[Block, ...]
    verdicts: tuple[Verdict, ...] = ()


Plan = ActionPlan | EscalatePlan | NoAction


def _template_spec(target: Target, view: ClusterView) -> PodSpec | None:
    """The pod spec new replicas of ``target`` get: its Deployment's template, else a pod's."""
    dep = view.deployment_for(target)
    if dep is not None:
        return dep.spec.template.spec
    pods = view.pods_of(target)
    return pods[0].spec if pods else None


def _capacity(target: Target, view: ClusterView) -> NodeCapacity | None:
    """Room for more pods of ``target`` on the schedulable nodes (None: unknown)."""
    spec = _template_spec(target, view)
    return schedulable_capacity(view, spec) if spec is not None else None


def _unscheduled(target: Target, view: ClusterView) -> int:
    """Pods of ``target`` waiting for a node: they need room before any new one."""
    return sum(
        1
        for p in view.pods_of(target)
        if not p.spec.node_name
        and p.status.phase == "Pending"
        and p.metadata.deletion_timestamp is None
    )


def _room(target: Target, view: ClusterView) -> tuple[int | None, NodeCapacity | None]:
    """(how many more pods of ``target`` fit, None: unbounded or unknown; the capacity)."""
    capacity = _capacity(target, view)
    if capacity is None or capacity.pods_fit is None:
        return None, capacity
    return max(0, capacity.pods_fit - _unscheduled(target, view)), capacity


def _scale_out(
    step: ScaleOutStep, incident: Incident, view: ClusterView, settings: Settings
) -> ScaleOut | _Skip:
    target = incident.target
    if target.kind not in (TargetKind.DEPLOYMENT, TargetKind.STATEFULSET):
        return _Skip(f"{target} cannot be scaled")
    cap = min(step.params.max_replicas, settings.remediation.max_replicas)
    room, capacity = _room(target, view)
    hpas = view.hpas_for(target)
    if hpas:
        if not step.params.via_hpa:
            return _Skip(f"HPA {hpas[0].metadata.name} manages the replicas of {target}")
        hpa = hpas[0]
        current = max(hpa.status.current_replicas, hpa.min_replicas)
        new_min = min(current + step.params.step, cap)
        if room is not None:
            new_min = min(new_min, hpa.status.current_replicas + room)
        if new_min <= current:
            return _Skip(_no_room(target, current, cap, capacity, room))
        hpa_cap = settings.remediation.max_hpa_max_replicas
        return ScaleOut(
            namespace=target.namespace,
            workload_kind=target.kind.value,
            workload=target.name,
            current_replicas=current,
            replicas=new_min,
            hpa=hpa.metadata.name,
            hpa_min_replicas=new_min,
            hpa_max_replicas=min(max(hpa.spec.max_replicas, new_min), max(hpa_cap, new_min)),
        )
    dep = view.deployment_for(target)
    current = dep.replicas if dep is not None else len(view.pods_of(target))
    new = min(current + step.params.step, cap)
    if room is not None:
        running = len(view.pods_of(target))
        new = min(new, max(current, running) + room)
    if new <= current:
        return _Skip(_no_room(target, current, cap, capacity, room))
    return ScaleOut(
        namespace=target.namespace,
        workload_kind=target.kind.value,
        workload=target.name,
        current_replicas=current,
        replicas=new,
    )


def _no_room(
    target: Target, current: int, cap: int, capacity: NodeCapacity | None, room: int | None
) -> str:
    if room is not None and capacity is not None and current < cap:
        return f"{target} cannot grow past {current} replicas: {capacity.describe()}"
    return f"{target} is already at the scale-out cap of {cap} replicas"


def _raise_hpa_max(
    step: RaiseHpaMaxStep, incident: Incident, view: ClusterView, settings: Settings
) -> RaiseHpaMax | _Skip:
    """maxReplicas times the step's factor (at least one more), never above the step's
    ceiling, ``remediation.max_hpa_max_replicas`` and ``remediation.max_replicas``, nor above
    the replicas the HPA runs now plus the pods of its workload the schedulable nodes can
    still hold (allocatable minus requested): a maxReplicas no node can host only adds
    Pending pods."""
    target = incident.target
    hpas = view.hpas_for(target)
    if not hpas:
        return _Skip(f"no HPA targets {target}")
    hpa = hpas[0]
    current = hpa.spec.max_replicas
    ceiling = min(
        step.params.ceiling,
        settings.remediation.max_hpa_max_replicas,
        settings.remediation.max_replicas,
    )
    new = min(max(math.ceil(current * step.params.factor), current + 1), ceiling)
    room, capacity = _room(target, view)
    if room is not None and capacity is not None:
        fits = hpa.status.current_replicas + room
        if fits < new:
            new = fits
            if new <= current:
                return _Skip(
                    f"HPA {hpa.metadata.name} maxReplicas {current} cannot be raised "
                    f"(current replicas {hpa.status.current_replicas}): {capacity.describe()}"
                )
    if new <= current:
        return _Skip(f"HPA {hpa.metadata.name} maxReplicas {current} is at its ceiling {ceiling}")
    return RaiseHpaMax(
        namespace=target.namespace, hpa=hpa.metadata.name, current_max=current, new_max=new
    )


def _capacity_evidence(incident: Incident, view: ClusterView) -> str:
    """The HPA's replicas and the room on the nodes, for an escalation about an HPA-managed
    workload ("" when the view holds no node, so capacity is unknown)."""
    hpas = view.hpas_for(incident.target)
    capacity = _capacity(incident.target, view)
    if not hpas or capacity is None:
        return ""
    hpa = hpas[0]
    return (
        f"HPA {hpa.metadata.name}: {hpa.status.current_replicas} current / "
        f"{hpa.spec.max_replicas} max replicas (desired {hpa.status.desired_replicas}); "
        f"{capacity.describe()}"
    )


def _plan_note(
    step: Step, params: ActionParams, incident: Incident, view: ClusterView, now: datetime
) -> str:
    """The figures an action was planned from (recorded with the plan): the room on the
    nodes for a raise of HPA bounds, the evidence against the outlier pod."""
    if isinstance(step, RestartPodStep) and step.params.pick == "outlier":
        outlier = outlier_pod(incident, view, now=now, ratio=step.params.outlier_ratio)
        return f"outlier: {outlier.why}" if outlier is not None else ""
    if not isinstance(params, RaiseHpaMax):
        return ""
    capacity = _capacity(incident.target, view)
    if capacity is None:
        return ""
    return f"maxReplicas {params.current_max} -> {params.new_max}: {capacity.describe()}"


def _node_name(incident: Incident) -> str | _Skip:
    if incident.target.kind is not TargetKind.NODE:
        return _Skip(f"{incident.target} is not a node")
    return incident.target.name


def _drain(
    step: DrainNodeStep, incident: Incident, view: ClusterView, settings: Settings
) -> DrainNode | _Skip:
    name = _node_name(incident)
    if isinstance(name, _Skip):
        return name
    pods = [
        p.metadata.namespace + "/" + p.metadata.name
        for p in view.pods_on_node(name)
        if not (step.params.ignore_daemonsets and view.owner_of(p).kind is TargetKind.DAEMONSET)
    ]
    return DrainNode(
        node=name,
        grace_period_seconds=int(step.params.grace_period.total_seconds()),
        timeout_seconds=int(step.params.timeout.total_seconds()),
        ignore_daemonsets=step.params.ignore_daemonsets,
        delete_emptydir_data=step.params.delete_emptydir_data,
        pods=tuple(pods),
        lock=settings.guards.node_lock,
    )


def _delete_pods_on_node(
    step: DeletePodsOnNodeStep,
    incident: Incident,
    view: ClusterView,
    settings: Settings,
    now: datetime,
) -> DeletePodsOnNode | _Skip | _Wait:
    """The node's ReplicaSet pods, once it has been down for the step's ``not_ready_for``
    (``kubeheal.engine.node_loss``); the action re-checks the node and its Lease live."""
    name = _node_name(incident)
    if isinstance(name, _Skip):
        return name
    node = view.node(name)
    if node is None:
        return _Skip(f"node {name} is not in the cluster view")
    since = node_loss.not_ready_since(node)
    if since is None:
        return _Skip(f"node {name} is Ready again, or reports no Ready condition")
    outage = node_loss.wide_outage(view)
    if outage is not None:
        return _Skip(f"{outage}; no pod is moved")
    grace = step.params.not_ready_for
    if now - since < grace:
        waited = max(0, int((now - since).total_seconds()))
        return _Wait(
            guard="node_not_ready_for",
            reason=f"node {name} not Ready for {waited}s; its pods are deleted once it has "
            f"been for {int(grace.total_seconds())}s",
        )
    excluded = tuple(settings.guards.excluded_namespaces)
    owners = (TargetKind.DEPLOYMENT, TargetKind.REPLICASET)
    seen = sorted(
        f"{p.metadata.namespace}/{p.metadata.name}"
        for p in view.pods_on_node(name)
        if view.owner_of(p).kind in owners
        and p.metadata.namespace not in excluded
        and p.metadata.deletion_timestamp is None
    )
    if not seen:
        return _Skip(f"no pod of a ReplicaSet is left on node {name}")
    return DeletePodsOnNode(
        node=name,
        not_ready_since=since,
        planned_at=now,
        not_ready_for_seconds=int(grace.total_seconds()),
        excluded_namespaces=excluded,
        seen=tuple(seen),
    )


def _node_followups(incident: Incident, view: ClusterView) -> str:
    """For a node that is still down: the pods kubeheal never forces, and the commands."""
    if incident.target.kind is not TargetKind.NODE:
        return ""
    node = view.node(incident.target.name)
    if node is None or node.ready:
        return ""
    lines = []
    outage = node_loss.wide_outage(view)
    if outage is not None:
        lines.append(f"no pod was moved: {outage}")
    stuck = node_loss.needs_a_human(view, incident.target.name)
    if stuck:
        refs = [(p.metadata.namespace, p.metadata.name) for p in stuck]
        names = ", ".join(f"{ns}/{n}" for ns, n in refs)
        lines.append(f"pods left on the node for a human: {names}")
        lines.append(node_loss.force_commands(incident.target.name, refs))
    return "\n".join(lines)


def _create_pdb(step: CreatePdbStep, incident: Incident, view: ClusterView) -> CreatePdb | _Skip:
    target = incident.target
    if view.pdbs_for_workload(target):
        return _Skip(f"{target} already has a PodDisruptionBudget")
    dep = view.deployment_for(target)
    if dep is None:
        return _Skip(f"{target} is not a Deployment kubeheal can see")
    labels = dict(dep.spec.selector.match_labels) if dep.spec.selector is not None else {}
    if not labels or (dep.spec.selector is not None and dep.spec.selector.match_expressions):
        return _Skip(f"{target} has no plain matchLabels selector to copy")
    return CreatePdb(
        namespace=target.namespace,
        name=f"{target.name}-kubeheal",
        match_labels=labels,
        max_unavailable=step.params.max_unavailable,
        min_available=step.params.min_available,
        pod_labels={**dep.spec.template.metadata.labels, **labels},
    )


def _delete_pdb(incident: Incident, view: ClusterView) -> DeletePdb | _Skip:
    """Kubeheal's own PDB of the workload, when a PDB it did not create covers it too."""
    target = incident.target
    dep = view.deployment_for(target)
    if dep is None:
        return _Skip(f"{target} is not a Deployment kubeheal can see")
    covering = view.pdbs_for_workload(target)
    ours = [p for p in covering if kubeheal_made(p.metadata.labels, p.metadata.annotations)]
    theirs = [p for p in covering if p not in ours]
    if not ours:
        return _Skip(f"no PodDisruptionBudget kubeheal created covers {target}")
    if not theirs:
        return _Skip(f"only kubeheal's PodDisruptionBudget covers {target}; it stays")
    return DeletePdb(
        namespace=target.namespace,
        name=ours[0].metadata.name,
        pod_labels=dict(dep.spec.template.metadata.labels),
        covered_by=tuple(p.metadata.name for p in theirs),
    )


def _rightsize_targets(incident: Incident) -> list[ResourceTargets]:
    """The newest recommendation per container among the incident's Rightsize signals."""
    newest: dict[str, tuple[datetime, ResourceTargets]] = {}
    for signal in incident.signals:
        if signal.kind is not SignalKind.RIGHTSIZE:
            continue
        targets = ResourceTargets.from_details(signal.details)
        if targets is None:
            continue
        known = newest.get(targets.container)
        if known is None or signal.observed_at >= known[0]:
            newest[targets.container] = (signal.observed_at, targets)
    return [newest[name][1] for name in sorted(newest)]


def _set_resources(
    step: SetResourcesStep, incident: Incident, view: ClusterView, settings: Settings
) -> SetResources | _Skip:
    target = incident.target
    wanted = _rightsize_targets(incident)
    if not wanted:
        return _Skip("no right-sizing recommendation in the incident")
    dep = view.deployment_for(target)
    if dep is None:
        return _Skip(f"{target} is not a Deployment kubeheal can see")
    changes: list[ResourceChange] = []
    final = True
    missing: list[str] = []
    for targets in wanted:
        container = dep.spec.template.spec.container(targets.container)
        if container is None:
            missing.append(targets.container)
            continue
        planned = plan_step(
            container,
            targets,
            max_step_change=step.params.max_step_change,
            min_change=settings.finops.apply_min_change,
        )
        changes.extend(planned.changes)
        final = final and planned.final
    if not changes:
        gone = f" (no container {', '.join(missing)})" if missing else ""
        return _Skip(f"{target} is already at its recommendation{gone}")
    return SetResources(
        namespace=target.namespace,
        workload_kind=target.kind.value,
        workload=target.name,
        changes=tuple(changes),
        max_step_change=step.params.max_step_change,
        final=final,
    )


def _params_for(
    step: Step,
    incident: Incident,
    *,
    view: ClusterView,
    history: History,
    settings: Settings,
    now: datetime,
) -> ActionParams | _Skip | _Wait:
    if isinstance(step, RollbackDeploymentStep):
        return _rollback(step, incident, view, now)
    if isinstance(step, RestartPodStep):
        return _restart(step, incident, view, history, now)
    if isinstance(step, RaiseMemoryLimitStep):
        return _raise_memory(step, incident, view, settings)
    if isinstance(step, ScaleOutStep):
        return _scale_out(step, incident, view, settings)
    if isinstance(step, RaiseHpaMaxStep):
        return _raise_hpa_max(step, incident, view, settings)
    if isinstance(step, UncordonNodeStep):
        name = _node_name(incident)
        return name if isinstance(name, _Skip) else UncordonNode(node=name)
    if isinstance(step, CordonNodeStep):
        name = _node_name(incident)
        return name if isinstance(name, _Skip) else CordonNode(node=name)
    if isinstance(step, DrainNodeStep):
        return _drain(step, incident, view, settings)
    if isinstance(step, DeletePodsOnNodeStep):
        return _delete_pods_on_node(step, incident, view, settings, now)
    if isinstance(step, CreatePdbStep):
        return _create_pdb(step, incident, view)
    if isinstance(step, DeletePdbStep):
        return _delete_pdb(incident, view)
    if isinstance(step, SetResourcesStep):
        return _set_resources(step, incident, view, settings)
    return _Skip(f"step {step.action.value} has no parameters to compute")  # pragma: no cover


# -- decide --------------------------------------------------------------------------------


def _escalate(
    incident: Incident,
    *,
    reason: str,
    view: ClusterView,
    blocks: tuple[Block, ...] = (),
    playbook: Playbook | None = None,
    step: int | None = None,
    dry_run: bool = False,
    verdicts: tuple[Verdict, ...] = (),
) -> EscalatePlan:
    include_logs = False
    log_lines = 0
    if playbook is not None and step is not None:
        chosen = playbook.steps[step]
        if isinstance(chosen, EscalateStep):
            include_logs = chosen.params.include_logs
            log_lines = chosen.params.log_lines if include_logs else 0
            if not blocks:  # a guard's reason (e.g. GitOps) says more than the step's
                reason = with_evidence(chosen.params.reason, incident) or reason
    if playbook is not None and any(
        isinstance(s, RaiseHpaMaxStep | ScaleOutStep) for s in playbook.steps
    ):
        capacity = _capacity_evidence(incident, view)
        if capacity and capacity not in reason:
            reason = f"{reason} {capacity}" if reason.endswith(".") else f"{reason}; {capacity}"
    followups = _node_followups(incident, view)
    if followups and followups not in reason:
        reason = f"{reason}\n{followups}"
    pods = _signal_pods(incident, view)
    patch = next((b.patch for b in blocks if b.patch), "")
    return EscalatePlan(
        incident_id=incident.id,
        target=incident.target,
        reason=reason,
        playbook=playbook.name if playbook is not None else None,
        step=step,
        blocks=blocks,
        patch=patch,
        include_logs=include_logs,
        log_lines=log_lines,
        pod=pods[0].metadata.name if pods else None,
        dry_run=dry_run,
        verdicts=verdicts,
    )


def _choose_playbook(
    incident: Incident,
    view: ClusterView,
    settings: Settings,
    playbooks: PlaybookSet,
    now: datetime,
) -> Playbook | None:
    if incident.playbook is not None:
        bound = playbooks.get(incident.playbook)
        if bound is not None:
            return bound
    matches = matching_playbooks(
        playbooks, incident, view, now=now, disabled=settings.playbooks.disabled
    )
    return matches[0] if matches else None


def verification_plan(playbook: Playbook) -> VerificationPlan:
    """How an action of ``playbook`` is verified, and what happens if it is not."""
    verification = playbook.verification
    return VerificationPlan(
        check=verification.check.value,
        timeout_seconds=verification.timeout.total_seconds(),
        stable_for_seconds=verification.stable_for.total_seconds(),
        on_failure=playbook.on_failure.value,
    )


def resumed_plan(
    incident: Incident,
    playbook: Playbook,
    *,
    action: ActionName,
    params: ActionParams,
    step: int,
    idempotency_key: str,
) -> ActionPlan:
    """The plan of an action recorded before a restart (its action, parameters, step and
    key as the ledger holds them), verified as ``playbook`` says: what `decide` returned
    then, without deciding again."""
    return ActionPlan(
        incident_id=incident.id,
        target=incident.target,
        playbook=playbook.name,
        step=step,
        action=action,
        params=params,
        verification=verification_plan(playbook),
        idempotency_key=idempotency_key,
    )


def decide(
    incident: Incident,
    view: ClusterView,
    history: History,
    settings: Settings,
    *,
    now: datetime,
    playbooks: PlaybookSet,
) -> Plan:
    """What to do about ``incident`` now: act, escalate, or nothing (with the reasons)."""
    ctx = GuardContext(incident=incident, view=view, history=history, settings=settings, now=now)
    if incident.state.closed:
        reason = Block(guard="state", reason=f"incident is {incident.state.value}")
        return NoAction(incident_id=incident.id, target=incident.target, reasons=(reason,))
    verdicts = checks(INCIDENT_GUARDS, ctx)
    block = next((v for v in verdicts if isinstance(v, Block)), None)
    playbook = None if block else _choose_playbook(incident, view, settings, playbooks, now)
    if block is None and playbook is None:  # held for a grace, then escalated
        block = unmatched.block_for(incident, now=now, settings=settings.incidents)
        verdicts = (*verdicts, block) if block is not None else verdicts
    if block is not None:
        if block.escalate:
            return _escalate(
                incident, reason=block.reason, view=view, blocks=(block,), verdicts=verdicts
            )
        return NoAction(
            incident_id=incident.id, target=incident.target, reasons=(block,), verdicts=verdicts
        )
    assert playbook is not None
    dry_run = settings.guards.dry_run or playbook.mode is Mode.DRY_RUN
    notes: list[str] = []
    gitops_blocks: list[Block] = []
    for index in range(incident.step, len(playbook.steps)):
        step = playbook.steps[index]
        if isinstance(step, EscalateStep):
            return _escalate(
                incident,
                reason="; ".join(notes) or "the playbook escalates",
                view=view,
                blocks=tuple(gitops_blocks),
                playbook=playbook,
                step=index,
                dry_run=dry_run,
                verdicts=verdicts,
            )
        params = _params_for(step, incident, view=view, history=history, settings=settings, now=now)
        if isinstance(params, _Skip):
            notes.append(f"step {index} ({step.action.value}) skipped: {params.reason}")
            continue
        if isinstance(params, _Wait):
            wait = Block(guard=params.guard, reason=params.reason)
            return NoAction(
                incident_id=incident.id,
                target=incident.target,
                reasons=(wait,),
                verdicts=(*verdicts, wait),
            )
        action_ctx = GuardContext(
            incident=incident,
            view=view,
            history=history,
            settings=settings,
            now=now,
            params=params,
        )
        step_verdicts = checks(ACTION_GUARDS, action_ctx)
        block = next((v for v in step_verdicts if isinstance(v, Block)), None)
        plan_note = _plan_note(step, params, incident, view, now)
        if plan_note:
            notes.append(plan_note)
        if block is not None and block.guard == "gitops":
            gitops_blocks.append(block)
            notes.append(f"step {index} ({step.action.value}) not taken: {block.reason}")
            continue
        if block is not None:
            if block.escalate:
                return _escalate(
                    incident,
                    reason=block.reason,
                    view=view,
                    blocks=(*gitops_blocks, block),
                    playbook=playbook,
                    dry_run=dry_run,
                    verdicts=(*verdicts, *step_verdicts),
                )
            return NoAction(
                incident_id=incident.id,
                target=incident.target,
                reasons=(block,),
                verdicts=(*verdicts, *step_verdicts),
            )
        return ActionPlan(
            incident_id=incident.id,
            target=incident.target,
            playbook=playbook.name,
            step=index,
            action=step.action,
            params=params,
            verification=verification_plan(playbook),
            idempotency_key=stable_id(
                incident.id, playbook.name, str(index), str(incident.attempts)
            ),
            dry_run=dry_run,
            notes=tuple(notes),
            verdicts=(*verdicts, *step_verdicts),
        )
    return _escalate(
        incident,
        reason="; ".join(notes) or f"playbook {playbook.name} has no steps left",
        view=view,
        blocks=tuple(gitops_blocks),
        playbook=playbook,
        dry_run=dry_run,
        verdicts=verdicts,
    )

"""Guards: small pure checks that allow an action or block it with a reason.

Two families, each a list of functions ``(GuardContext) -> Allow | Block``:

- incident guards, checked before any playbook is chosen: excluded namespaces, kill switch,
  flapping, attempts per incident, namespace and global budgets (circuit breaker);
- action guards, checked on the concrete action: cooldown per target and disruption class
  (``params.disruption``: actions of class ``none`` are never held back), blast radius (a ready
  pod restarted, or a rolling change started while pods are unavailable), never the last
  ready replica, PodDisruptionBudgets, node cordon share and concurrency, GitOps ownership,
  and the error budget policy (disruptive actions wait while an affected workload's SLO
  budget is low; the budgets arrive as data in ``History.error_budgets``; ``budget_allows``
  is the same check for callers outside planning, such as chaos experiments).

A ``Block`` with ``escalate=True`` means "stop trying, hand over to humans"; without it,
"not now" (the runtime decides again later). Dry-run is not a guard: plans are marked.

Pure: no I/O, no clock (``now`` is in the context).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import msgspec

from kubeheal.config import Settings
from kubeheal.engine.capacity import Room, drain_capacity, leaving_pods
from kubeheal.engine.facts import disabled_by, gitops_owner, resolve_int_or_percent
from kubeheal.engine.params import (
    ActionParams,
    CordonNode,
    Disruption,
    DrainNode,
    RaiseHpaMax,
    RaiseMemoryLimit,
    RestartPod,
    RollbackDeployment,
    ScaleOut,
    SetResources,
    disruption_of,
)
from kubeheal.model.cluster import ClusterView
from kubeheal.model.core import Incident, Target, TargetKind
from kubeheal.model.history import ErrorBudget, History, KillSwitchState

__all__ = [
    "ACTION_GUARDS",
    "INCIDENT_GUARDS",
    "Allow",
    "Block",
    "Guard",
    "GuardContext",
    "Verdict",
    "blast_radius",
    "budget_allows",
    "budget_blocker",
    "budget_global",
    "budget_namespace",
    "capacity",
    "checks",
    "cooldown",
    "describe",
    "error_budget",
    "excluded_namespace",
    "first_block",
    "flapping",
    "gitops",
    "gitops_patch",
    "kill_switch",
    "last_ready_replica",
    "max_attempts",
    "node_drain_limits",
    "pdb_respected",
    "persistent",
]

_HOUR = timedelta(hours=1)


class Allow(msgspec.Struct, frozen=True, kw_only=True, tag="allow"):
    """The guard lets the action through."""

    guard: str


class Block(msgspec.Struct, frozen=True, kw_only=True, tag="block"):
    """The guard stops the action; ``patch`` is the change to commit for GitOps workloads."""

    guard: str
    reason: str
    escalate: bool = False
    patch: str = ""


Verdict = Allow | Block


@dataclass(frozen=True, slots=True, kw_only=True)
class GuardContext:
    """Everything a guard may look at; ``params`` is None for incident guards."""

    incident: Incident
    view: ClusterView
    history: History
    settings: Settings
    now: datetime
    params: ActionParams | None = None


Guard = Callable[[GuardContext], Verdict]


def _counting_since(history: History, since: datetime) -> list[Target]:
    return [a.target for a in history.actions if a.counts and a.at > since]


def _minutes(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


# -- incident guards -----------------------------------------------------------------------


def excluded_namespace(ctx: GuardContext) -> Verdict:
    """Never act in an excluded namespace (kube-system by default)."""
    namespace = ctx.incident.target.namespace
    if namespace and namespace in ctx.settings.guards.excluded_namespaces:
        return Block(guard="excluded_namespace", reason=f"namespace {namespace} is excluded")
    return Allow(guard="excluded_namespace")


def kill_switch(ctx: GuardContext) -> Verdict:
    """The global switch (settings or ConfigMap, via history) or the disabled annotation.

    The ConfigMap switch fails closed: when its state is unknown (it could not be read, e.g.
    the API server answers 503, 403 or garbage; a 404 means "no switch" = off) nothing is
    done, because a struggling API server is exactly when people pull the switch. The block
    is "not now" (the incident is decided again each sweep and proceeds as soon as the switch
    reads off), and becomes an escalation once the switch has been unknown for
    ``guards.kill_switch_unknown_escalate_after`` (15 minutes by default) and the incident
    waited that long too: by then a human must look, and nobody is paged by an incident that
    only waits.
    """
    guards = ctx.settings.guards
    switch = ctx.history.kill_switch
    if guards.kill_switch or switch.state is KillSwitchState.ON:
        return Block(guard="kill_switch", reason="the global kill switch is on")
    if switch.state is KillSwitchState.UNKNOWN:
        reason = (
            f"the kill switch ConfigMap {guards.kill_switch_configmap} cannot be read "
            f"({switch.reason or 'not read yet'}); no action while its state is unknown"
        )
        bound = guards.kill_switch_unknown_escalate_after
        waited_since = max(switch.since or ctx.now, ctx.incident.opened_at)
        if ctx.now - waited_since >= bound:
            return Block(
                guard="kill_switch",
                reason=f"{reason}, for {_minutes(ctx.now - waited_since)}",
                escalate=True,
            )
        return Block(guard="kill_switch", reason=reason)
    where = disabled_by(ctx.view, ctx.incident.target)
    if where is not None:
        return Block(guard="kill_switch", reason=where)
    return Allow(guard="kill_switch")


def flapping(ctx: GuardContext) -> Verdict:
    """A target that keeps coming back is escalated instead of being fixed again."""
    if ctx.incident.flapping:
        return Block(
            guard="flapping",
            reason=f"{ctx.incident.target} keeps re-opening incidents (flapping)",
            escalate=True,
        )
    return Allow(guard="flapping")


def max_attempts(ctx: GuardContext) -> Verdict:
    """At most ``max_attempts_per_incident`` actions per incident."""
    limit = ctx.settings.guards.max_attempts_per_incident
    if ctx.incident.attempts >= limit:
        return Block(
            guard="max_attempts",
            reason=f"{ctx.incident.attempts} of {limit} attempts used",
            escalate=True,
        )
    return Allow(guard="max_attempts")


def budget_namespace(ctx: GuardContext) -> Verdict:
    """Circuit breaker: at most ``namespace_budget_per_hour`` actions per namespace."""
    namespace = ctx.incident.target.namespace
    if not namespace:
        return Allow(guard="budget_namespace")
    budget = ctx.settings.guards.namespace_budget_per_hour
    spent = sum(
        1 for t in _counting_since(ctx.history, ctx.now - _HOUR) if t.namespace == namespace
    )
    if spent >= budget:
        return Block(
            guard="budget_namespace",
            reason=f"namespace {namespace} spent its budget: {spent} of {budget} actions "
            "in the last hour",
            escalate=True,
        )
    return Allow(guard="budget_namespace")


def budget_global(ctx: GuardContext) -> Verdict:
    """Circuit breaker: at most ``global_budget_per_hour`` actions cluster-wide."""
    budget = ctx.settings.guards.global_budget_per_hour
    spent = len(_counting_since(ctx.history, ctx.now - _HOUR))
    if spent >= budget:
        return Block(
            guard="budget_global",
            reason=f"global budget spent: {spent} of {budget} actions in the last hour",
            escalate=True,
        )
    return Allow(guard="budget_global")


# -- action guards -------------------------------------------------------------------------


def _span(span: timedelta) -> str:
    seconds = max(0, math.ceil(span.total_seconds()))
    minutes, seconds = divmod(seconds, 60)
    if not minutes:
        return f"{seconds} s"
    return f"{minutes} min {seconds} s" if seconds else f"{minutes} min"


def cooldown(ctx: GuardContext) -> Verdict:
    """Per target and disruption class (`kubeheal.engine.params.Disruption`): no two
    disruptive actions on one target within ``guards.cooldown``. An action of class ``none``
    (a PDB created or removed, a cordon, an uncordon) neither waits for a cooldown nor starts
    one, so a PDB created a minute ago never delays the remediation that follows."""
    disruption = Disruption.DISRUPTIVE if ctx.params is None else ctx.params.disruption
    if disruption is Disruption.NONE:
        return Allow(guard="cooldown")
    window = ctx.settings.guards.cooldown
    target = ctx.incident.target
    recent = [
        a
        for a in ctx.history.actions
        if a.counts
        and a.target == target
        and a.at > ctx.now - window
        and disruption_of(a.action) is disruption
    ]
    if recent:
        last = max(recent, key=lambda a: a.at)
        until = last.at + window
        return Block(
            guard="cooldown",
            reason=f"{last.action} on {target} at {last.at.isoformat()}; the next {disruption} "
            f"action waits {_span(until - ctx.now)} more (cooling down until "
            f"{until.isoformat()})",
        )
    return Allow(guard="cooldown")


def _allowed_unavailable(ctx: GuardContext, replicas: int) -> int:
    share = ctx.settings.guards.max_disrupted_share
    allowed = max(1, math.floor(share * replicas))
    dep = ctx.view.deployment_for(ctx.incident.target)
    if dep is not None and dep.spec.strategy.rolling_update is not None:
        max_unavailable = resolve_int_or_percent(
            dep.spec.strategy.rolling_update.max_unavailable, replicas, round_up=False
        )
        if max_unavailable is not None and max_unavailable > 0:
            allowed = min(allowed, max_unavailable)
    return allowed


def _rollout_blocker(ctx: GuardContext) -> Verdict:
    """A rolling template change (``set_resources``) starts only on a settled Deployment:
    rollout complete and every replica available."""
    dep = ctx.view.deployment_for(ctx.incident.target)
    if dep is None:
        return Allow(guard="blast_radius")
    st, desired = dep.status, dep.replicas
    if st.observed_generation < dep.metadata.generation or st.updated_replicas < desired:
        return Block(
            guard="blast_radius",
            reason=f"{ctx.incident.target} is rolling out; a template change waits for the end",
        )
    if st.available_replicas < desired or st.replicas > st.updated_replicas:
        return Block(
            guard="blast_radius",
            reason=f"{st.available_replicas} of {desired} pods of {ctx.incident.target} "
            "available; a rolling change waits until all are",
        )
    return Allow(guard="blast_radius")


def blast_radius(ctx: GuardContext) -> Verdict:
    """Restarting a ready pod must keep the workload's unavailable pods within the smaller of
    ``max_disrupted_share`` (at least one pod) and the Deployment's maxUnavailable; a rolling
    template change (``set_resources``) waits until every pod is available."""
    params = ctx.params
    if isinstance(params, SetResources):
        return _rollout_blocker(ctx)
    if not isinstance(params, RestartPod) or not params.pod_ready:
        return Allow(guard="blast_radius")
    pods = ctx.view.pods_of(ctx.incident.target)
    replicas = max(len(pods), 1)
    dep = ctx.view.deployment_for(ctx.incident.target)
    if dep is not None:
        replicas = max(dep.replicas, 1)
    unavailable = sum(1 for pod in pods if not pod.ready)
    allowed = _allowed_unavailable(ctx, replicas)
    if unavailable + 1 > allowed:
        return Block(
            guard="blast_radius",
            reason=f"{unavailable} of {replicas} pods already unavailable; "
            f"at most {allowed} may be disrupted at once",
        )
    return Allow(guard="blast_radius")


def last_ready_replica(ctx: GuardContext) -> Verdict:
    """Restarting a ready pod never takes the workload's last ready replica: another pod of
    the workload must be ready (whatever ``max_disrupted_share`` allows)."""
    params = ctx.params
    if not isinstance(params, RestartPod) or not params.pod_ready:
        return Allow(guard="last_ready_replica")
    others = [
        p
        for p in ctx.view.pods_of(ctx.incident.target)
        if p.ready and p.metadata.deletion_timestamp is None and p.metadata.name != params.pod
    ]
    if not others:
        return Block(
            guard="last_ready_replica",
            reason=f"pod {params.pod} is the last ready replica of {ctx.incident.target}",
        )
    return Allow(guard="last_ready_replica")


def pdb_respected(ctx: GuardContext) -> Verdict:
    """Restarting a ready pod needs every PodDisruptionBudget covering it to allow one more
    disruption (evictions of drains are retried by the action itself)."""
    params = ctx.params
    if not isinstance(params, RestartPod) or not params.pod_ready:
        return Allow(guard="pdb")
    pod = ctx.view.pod(params.namespace, params.pod)
    if pod is None:
        return Allow(guard="pdb")
    for pdb in ctx.view.pdbs_for_pod(pod):
        if pdb.status.disruptions_allowed < 1:
            return Block(
                guard="pdb",
                reason=f"PodDisruptionBudget {pdb.metadata.name} allows no disruption now",
            )
    return Allow(guard="pdb")


def node_drain_limits(ctx: GuardContext) -> Verdict:
    """One node at a time (``max_concurrent_drains``) and at most ``max_cordoned_share`` of
    the nodes cordoned; a single-node cluster is never cordoned."""
    params = ctx.params
    if not isinstance(params, CordonNode | DrainNode):
        return Allow(guard="node_drain")
    node_name = params.node
    guards = ctx.settings.guards
    in_progress = sorted(n for n in ctx.history.cordoned_nodes if n != node_name)
    if len(in_progress) >= guards.max_concurrent_drains:
        return Block(
            guard="node_drain",
            reason=f"already handling node(s) {', '.join(in_progress)}; "
            f"at most {guards.max_concurrent_drains} at a time",
        )
    nodes = ctx.view.nodes
    cordoned = {n.metadata.name for n in nodes if n.spec.unschedulable}
    cordoned.update(ctx.history.cordoned_nodes)
    if node_name in cordoned:
        return Allow(guard="node_drain")
    allowed = math.floor(guards.max_cordoned_share * len(nodes))
    if len(nodes) >= 2:
        allowed = max(allowed, 1)
    if len(cordoned) + 1 > allowed:
        return Block(
            guard="node_drain",
            reason=f"{len(cordoned)} of {len(nodes)} nodes cordoned; at most {allowed} may be",
            escalate=True,
        )
    return Allow(guard="node_drain")


def capacity(ctx: GuardContext) -> Verdict:
    """A drain, or a cordon of a Ready node, only when the other schedulable nodes hold the
    requests of the pods that leave it, or a node group (``guards.node_groups``) can grow
    (``kubeheal.engine.capacity``); otherwise it waits while another drain is in progress or
    a node is being added, and escalates with the figures (the pods that do not fit, their
    requests, the free room per node) when nothing will make room. Runs after
    ``node_drain_limits``: a second node waits for the first drain before any room is
    counted."""
    params = ctx.params
    if not isinstance(params, CordonNode | DrainNode):
        return Allow(guard="capacity")
    if isinstance(params, CordonNode):
        node = ctx.view.node(params.node)
        if node is None or not node.ready or node.spec.unschedulable:
            return Allow(guard="capacity")  # it takes no pod now: a cordon loses no room
        pods = leaving_pods(ctx.view, params.node)
        what = "cordon"
    else:
        pods = leaving_pods(ctx.view, params.node, params.pods)
        what = "drain"
    check = drain_capacity(
        ctx.view,
        node=params.node,
        pods=pods,
        groups=ctx.settings.guards.node_groups,
        now=ctx.now,
        what=what,
    )
    if check.room in (Room.FITS, Room.GROW):
        return Allow(guard="capacity")
    others = sorted(n for n in ctx.history.cordoned_nodes if n != params.node)
    if check.room is Room.WAIT:
        return Block(guard="capacity", reason=check.reason)
    if others:
        return Block(
            guard="capacity",
            reason=f"{check.reason}; node(s) {', '.join(others)} still being handled: "
            "decided again once they are done",
        )
    return Block(guard="capacity", reason=check.reason, escalate=True)


def gitops_patch(params: ActionParams) -> str:
    """The exact strategic-merge patch (JSON) a human should commit instead of the action;
    empty for actions that change no persistent spec."""
    body: dict[str, object]
    if isinstance(params, RaiseMemoryLimit):
        resources: dict[str, object] = {"limits": {"memory": params.new_limit}}
        if params.new_request is not None:
            resources["requests"] = {"memory": params.new_request}
        container = {"name": params.container, "resources": resources}
        body = {"spec": {"template": {"spec": {"containers": [container]}}}}
    elif isinstance(params, RollbackDeployment):
        containers = [{"name": n, "image": i} for n, i in sorted(params.images.items())]
        body = {"spec": {"template": {"spec": {"containers": containers}}}}
    elif isinstance(params, ScaleOut):
        if params.hpa is not None:
            hpa_spec = {
                "minReplicas": params.hpa_min_replicas,
                "maxReplicas": params.hpa_max_replicas,
            }
            body = {"spec": hpa_spec}
        else:
            body = {"spec": {"replicas": params.replicas}}
    elif isinstance(params, RaiseHpaMax):
        body = {"spec": {"maxReplicas": params.new_max}}
    elif isinstance(params, SetResources):
        per_container: dict[str, dict[str, dict[str, str]]] = {}
        for change in params.changes:
            fields = per_container.setdefault(change.container, {})
            fields.setdefault(change.field, {})[change.resource] = change.new
        resized: list[dict[str, object]] = [
            {"name": n, "resources": r} for n, r in sorted(per_container.items())
        ]
        body = {"spec": {"template": {"spec": {"containers": resized}}}}
    else:
        return ""
    return json.dumps(body, sort_keys=True, separators=(",", ":"))


def persistent(params: ActionParams) -> bool:
    """Actions that rewrite a spec a GitOps tool owns (scaling through an HPA does not)."""
    if isinstance(params, RaiseMemoryLimit | RollbackDeployment | SetResources):
        return True
    return isinstance(params, ScaleOut) and params.hpa is None


def gitops(ctx: GuardContext) -> Verdict:
    """Workloads owned by Argo CD, Flux or Helm are not silently patched: persistent actions
    are blocked with the exact patch to commit (all actions under policy ``escalate``)."""
    params = ctx.params
    target = ctx.incident.target
    if params is None or target.kind is TargetKind.NODE:
        return Allow(guard="gitops")
    owner = gitops_owner(ctx.view.workload_meta(target))
    if owner is None:
        return Allow(guard="gitops")
    if ctx.settings.guards.gitops_policy == "least-persistent" and not persistent(params):
        return Allow(guard="gitops")
    return Block(
        guard="gitops",
        reason=f"{target} is managed by {owner}: commit the patch instead",
        escalate=True,
        patch=gitops_patch(params),
    )


def budget_blocker(
    budgets: Sequence[ErrorBudget],
    targets: Sequence[Target],
    *,
    min_remaining: float,
    now: datetime,
    max_age: timedelta,
) -> ErrorBudget | None:
    """The lowest fresh error budget of ``targets`` below ``min_remaining``, or None."""
    wanted = set(targets)
    low = [
        b
        for b in budgets
        if b.target in wanted and now - b.observed_at <= max_age and b.remaining < min_remaining
    ]
    return min(low, key=lambda b: (b.remaining, b.slo)) if low else None


def budget_allows(
    budgets: Sequence[ErrorBudget],
    targets: Sequence[Target],
    *,
    min_remaining: float,
    now: datetime,
    max_age: timedelta,
) -> bool:
    """Whether the SLO error budgets of ``targets`` allow a disruptive change now: no fresh
    budget (measured within ``max_age`` of ``now``) is below ``min_remaining``."""
    blocker = budget_blocker(
        budgets, targets, min_remaining=min_remaining, now=now, max_age=max_age
    )
    return blocker is None


def _disrupted(ctx: GuardContext, params: ActionParams) -> list[Target]:
    """The workloads a disruptive action would disrupt ([] when it disrupts none)."""
    action = type(params).__struct_config__.tag
    if action not in ctx.settings.slo.disruptive_actions:
        return []
    if isinstance(params, RestartPod) and not params.pod_ready:
        return []
    if isinstance(params, DrainNode):
        found: set[Target] = set()
        for ref in params.pods:
            namespace, _, name = ref.partition("/")
            pod = ctx.view.pod(namespace, name)
            if pod is not None:
                found.add(ctx.view.owner_of(pod))
        return sorted(found)
    return [ctx.incident.target]


def error_budget(ctx: GuardContext) -> Verdict:
    """Budget policy: a disruptive action waits while the SLO error budget of a workload it
    disrupts is below ``slo.freeze_below`` (not escalated: it may run once the budget
    recovers or the figures go stale)."""
    params = ctx.params
    policy = ctx.settings.slo
    if params is None or not policy.budget_policy or not ctx.history.error_budgets:
        return Allow(guard="error_budget")
    targets = _disrupted(ctx, params)
    blocker = budget_blocker(
        ctx.history.error_budgets,
        targets,
        min_remaining=policy.freeze_below,
        now=ctx.now,
        max_age=policy.budget_max_age,
    )
    if blocker is None:
        return Allow(guard="error_budget")
    return Block(
        guard="error_budget",
        reason=f"{blocker.target}: {blocker.remaining:.1%} of the error budget of SLO "
        f"{blocker.slo} is left, below {policy.freeze_below:.0%}; disruptive actions are "
        "frozen until it recovers",
    )


INCIDENT_GUARDS: tuple[Guard, ...] = (
    excluded_namespace,
    kill_switch,
    flapping,
    max_attempts,
    budget_namespace,
    budget_global,
)
ACTION_GUARDS: tuple[Guard, ...] = (
    gitops,
    cooldown,
    blast_radius,
    last_ready_replica,
    pdb_respected,
    node_drain_limits,
    capacity,
    error_budget,
)


def checks(guards: Sequence[Guard], ctx: GuardContext) -> tuple[Verdict, ...]:
    """Each guard's verdict in order, up to and including the first that blocks (the guards
    after it are not asked: what they would say is not part of the decision)."""
    verdicts: list[Verdict] = []
    for guard in guards:
        verdict = guard(ctx)
        verdicts.append(verdict)
        if isinstance(verdict, Block):
            break
    return tuple(verdicts)


def first_block(guards: Sequence[Guard], ctx: GuardContext) -> Block | None:
    """The first guard that blocks, or None when all allow."""
    for guard in guards:
        verdict = guard(ctx)
        if isinstance(verdict, Block):
            return verdict
    return None


def describe(name: str) -> str:
    """What the guard ``name`` checks (the first sentence of its docstring; empty for a
    name that is not one of `INCIDENT_GUARDS` or `ACTION_GUARDS`)."""
    named = {"pdb": "pdb_respected", "node_drain": "node_drain_limits"}
    for guard in (*INCIDENT_GUARDS, *ACTION_GUARDS):
        if guard.__name__ == named.get(name, name):
            text = " ".join((guard.__doc__ or "").replace("``", "").split())
            return text.split(". ")[0].rstrip(".") + "." if text else ""
    return ""

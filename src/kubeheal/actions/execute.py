"""The one entry point: ``execute(plan, writer=...)`` runs the plan's action.

::

    execute(plan) ──> executor for type(plan.params)   (reads first: already done → no-op)
        │ every read and write through GuardedWriter: names valid, inside the target's
        │ namespace, guards re-checked on the objects read back (else PermanentError)
        │ KubeError ──> TemporaryError(delay) | PermanentError      (nothing else escapes)
        ▼ changed (not dry run)
    Event on the target + kubeheal.io/last-action annotation (retried; never fails the action)
        ▼
    ActionOutcome(state, changed, detail, evidence)

The ledger is not written here: the runtime records the idempotency key before calling
``execute`` and the outcome after.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from kubeheal.actions._base import Context, _utcnow, record_change, translate
from kubeheal.actions.errors import PermanentError
from kubeheal.actions.nodes import cordon_node, delete_pods_on_node, drain_node, uncordon_node
from kubeheal.actions.outcome import ActionOutcome, OutcomeState
from kubeheal.actions.pods import restart_pod
from kubeheal.actions.preflight import GuardedWriter, check_plan_names
from kubeheal.actions.protocol import Writer
from kubeheal.actions.workloads import (
    create_pdb,
    delete_pdb,
    raise_hpa_max,
    raise_memory_limit,
    rollback_deployment,
    scale_out,
    set_resources,
)
from kubeheal.clients.kube import KubeError
from kubeheal.config import GuardSettings
from kubeheal.engine.params import (
    ActionParams,
    CordonNode,
    CreatePdb,
    DeletePdb,
    DeletePodsOnNode,
    DrainNode,
    RaiseHpaMax,
    RaiseMemoryLimit,
    RestartPod,
    RollbackDeployment,
    ScaleOut,
    SetResources,
    UncordonNode,
)
from kubeheal.engine.plan import ActionPlan

__all__ = ["EXECUTORS", "execute"]

logger = logging.getLogger(__name__)

Executor = Callable[[Context, Any], Awaitable[ActionOutcome]]

EXECUTORS: dict[type[ActionParams], Executor] = {
    RollbackDeployment: rollback_deployment,
    RestartPod: restart_pod,
    RaiseMemoryLimit: raise_memory_limit,
    ScaleOut: scale_out,
    RaiseHpaMax: raise_hpa_max,
    CordonNode: cordon_node,
    UncordonNode: uncordon_node,
    DrainNode: drain_node,
    DeletePodsOnNode: delete_pods_on_node,
    CreatePdb: create_pdb,
    DeletePdb: delete_pdb,
    SetResources: set_resources,
}
"""One executor per ActionParams type."""


async def execute(
    plan: ActionPlan,
    *,
    writer: Writer,
    guards: GuardSettings | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    wall_clock: Callable[[], datetime] = _utcnow,
    record_failed: Callable[[str], None] | None = None,
) -> ActionOutcome:
    """Take ``plan``'s action through ``writer`` and say what happened.

    Idempotent: running the same plan again changes nothing (``changed=False``). With
    ``plan.dry_run`` the same writes go out as server-side dry runs and the outcome is
    ``skipped``. ``clock``/``sleep`` drive the drain back-off and the retries of the Event
    and the ``kubeheal.io/last-action`` annotation, which ``wall_clock`` stamps;
    ``record_failed`` is called with ``event`` or ``annotation`` when one of those writes is
    given up. ``guards`` (excluded namespaces, GitOps
    policy; the defaults when None) are re-checked on the live objects before every write
    (``kubeheal.actions.preflight``).

    Raises ``TemporaryError`` (retry after ``delay``) or ``PermanentError``; no Kubernetes
    client error escapes.
    """
    executor = EXECUTORS.get(type(plan.params))
    if executor is None:
        raise PermanentError(f"no executor for action parameters {type(plan.params).__name__}")
    if plan.action.value != type(plan.params).__struct_config__.tag:
        raise PermanentError(
            f"plan action {plan.action.value} does not match its parameters "
            f"{type(plan.params).__name__}"
        )
    check_plan_names(plan)
    log = logging.LoggerAdapter(
        logger,
        {
            "incident": plan.incident_id,
            "target": plan.target.key,
            "action": plan.action.value,
            "key": plan.idempotency_key,
        },
    )
    guarded = GuardedWriter(writer, plan=plan, guards=guards or GuardSettings())
    ctx = Context(
        plan=plan,
        writer=guarded,
        clock=clock,
        sleep=sleep,
        wall_clock=wall_clock,
        log=log,
        record_failed=record_failed,
    )
    what = f"{plan.action.value} on {plan.target}"
    try:
        outcome = await executor(ctx, plan.params)
    except KubeError as e:
        raise translate(e, what) from e
    log.info("%s: %s (%s)", what, outcome.detail, outcome.state.value)
    if outcome.changed and outcome.state is not OutcomeState.SKIPPED and not plan.dry_run:
        await record_change(ctx, outcome)
    return outcome

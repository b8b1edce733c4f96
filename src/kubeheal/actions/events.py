"""Events the operator writes outside an action: the Warning on an escalated target.

The Event is built like the one after a change (`kubeheal.actions._base.event_manifest`),
with the uid and apiVersion of the object as read. One try: a failure is logged and counted
through ``record_failed("escalation_event")``, and never stops the escalation.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime

from kubeheal.actions._base import event_manifest
from kubeheal.actions.protocol import Writer
from kubeheal.clients.kube import KubeError
from kubeheal.clients.writer import Kind
from kubeheal.model.core import Target, TargetKind

__all__ = ["ESCALATED_REASON", "record_escalation"]

log = logging.getLogger(__name__)

ESCALATED_REASON = "KubehealEscalated"

_KINDS = {
    TargetKind.DEPLOYMENT: Kind.DEPLOYMENT,
    TargetKind.NODE: Kind.NODE,
    TargetKind.POD: Kind.POD,
}


async def record_escalation(
    writer: Writer,
    target: Target,
    message: str,
    *,
    at: datetime,
    record_failed: Callable[[str], None] | None = None,
) -> bool:
    """A Warning Event ``KubehealEscalated`` with ``message`` on ``target`` (Deployments,
    nodes and pods); whether it was written."""
    kind = _KINDS.get(target.kind)
    if kind is None:
        return False
    namespace = target.namespace or "default"
    try:
        obj = await writer.get(kind, target.namespace or None, target.name)
        metadata = obj.get("metadata")
        uid = metadata.get("uid", "") if isinstance(metadata, dict) else ""
        await writer.create(
            Kind.EVENT,
            namespace,
            event_manifest(
                target,
                metadata={"generateName": f"{target.name}.kubeheal-"},
                reason=ESCALATED_REASON,
                message=message,
                warning=True,
                at=at.strftime("%Y-%m-%dT%H:%M:%SZ"),
                involved={"uid": str(uid), "apiVersion": str(obj.get("apiVersion", ""))},
            ),
        )
    except KubeError as e:
        log.warning("could not record event on %s: %s", target.key, e)
        if record_failed is not None:
            record_failed("escalation_event")
        return False
    return True

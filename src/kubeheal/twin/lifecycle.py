"""How long a deletion takes: the graceful-deletion rules of the API server's registry.

`grace_period` is the pod strategy's `CheckGracefulDelete` (`pkg/registry/core/pod`): the
`gracePeriodSeconds` of the DeleteOptions, else the pod's `terminationGracePeriodSeconds`;
zero (deleted at once) for a pod that is not scheduled or has already terminated. Other kinds
have no grace period. `pending_grace` is `rest.BeforeDelete` for an object already being
deleted: a second DELETE may only shorten the grace period. `FOREGROUND` and `ORPHAN` are the
finalizers the garbage collector honours (`/docs/concepts/architecture/garbage-collection/`).

Pure: plain mappings in, values out; no clock, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["FOREGROUND", "ORPHAN", "grace_period", "pending_grace"]

FOREGROUND = "foregroundDeletion"
ORPHAN = "orphan"


def grace_period(kind: str, obj: Mapping[str, Any], requested: int | None) -> int:
    """Seconds the object may take to go (0: remove it now, finalizers permitting)."""
    if kind != "Pod":
        return 0
    spec = obj.get("spec") or {}
    if requested is not None:
        period = requested
    else:
        period = int(spec.get("terminationGracePeriodSeconds") or 0)
    if not spec.get("nodeName"):
        return 0
    if (obj.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        return 0
    # a negative grace period is taken as 1 s on the delete path, as the pod strategy does
    return 1 if period < 0 else period


def pending_grace(meta: Mapping[str, Any], requested: int | None) -> int | None:
    """For an object already being deleted: the new, shorter grace period, or None to leave
    the pending deletion as it is. An object whose grace period is 0 goes at once."""
    current = meta.get("deletionGracePeriodSeconds")
    if not current:
        return 0
    if requested is None or requested >= int(current):
        return None
    return max(0, requested)

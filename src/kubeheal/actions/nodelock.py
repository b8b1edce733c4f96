"""The node-maintenance Lease: one node drained at a time, cluster-wide.

A drain holds a coordination.k8s.io/v1 Lease (``namespace/name`` from the plan) whose holder
names the node being drained. Another drain finds it held and is retried later
(`TemporaryError`); a lock whose holder stopped renewing it expires after its duration, so a
crashed operator never blocks maintenance for ever. Optimistic concurrency (resourceVersion)
makes two replicas racing for the lock end with exactly one holder. Re-acquiring a lock held
for the same node succeeds (a resumed drain continues).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from kubeheal.actions._base import Context, dig
from kubeheal.actions.errors import PermanentError, TemporaryError
from kubeheal.clients.kube import KubeConflict, KubeNotFound
from kubeheal.clients.writer import Kind

__all__ = ["NodeLock", "holder_for"]

_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


def holder_for(node: str) -> str:
    return f"kubeheal/drain/{node}"


def _parse(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


class NodeLock:
    """Acquire and release the node-maintenance Lease for one drain."""

    def __init__(self, ctx: Context, *, lock: str, node: str, duration_s: int) -> None:
        namespace, _, name = lock.partition("/")
        if not namespace or not name:
            raise PermanentError(f"node lock {lock!r}: expected namespace/name")
        self.ctx = ctx
        self.namespace = namespace
        self.name = name
        self.holder = holder_for(node)
        self.duration_s = max(60, duration_s)

    def _spec(self, now: datetime, *, acquire: datetime | None) -> dict[str, Any]:
        return {
            "holderIdentity": self.holder,
            "leaseDurationSeconds": self.duration_s,
            "acquireTime": (acquire or now).strftime(_MICRO),
            "renewTime": now.strftime(_MICRO),
        }

    async def acquire(self) -> None:
        """Take the lock, or raise TemporaryError while another node's drain holds it."""
        writer, now = self.ctx.writer, self.ctx.wall_clock()
        try:
            lease = await writer.get(Kind.LEASE, self.namespace, self.name)
        except KubeNotFound:
            body = {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": self._spec(now, acquire=None),
            }
            try:
                await writer.create(Kind.LEASE, self.namespace, body)
            except KubeConflict as e:  # someone created it first: try again shortly
                raise TemporaryError(f"node lock {self.name} taken meanwhile", delay=2.0) from e
            return
        holder = dig(lease, "spec", "holderIdentity") or ""
        renewed = _parse(dig(lease, "spec", "renewTime"))
        duration = int(dig(lease, "spec", "leaseDurationSeconds") or 0)
        expired = renewed is None or now > renewed + timedelta(seconds=duration)
        if holder and holder != self.holder and not expired:
            assert renewed is not None
            wait = (renewed + timedelta(seconds=duration) - now).total_seconds()
            raise TemporaryError(
                f"one node at a time: the node-maintenance lock {self.namespace}/{self.name} "
                f"is held by {holder} for up to {wait:.0f}s more",
                delay=min(30.0, max(2.0, wait)),
            )
        acquire = _parse(dig(lease, "spec", "acquireTime")) if holder == self.holder else None
        lease["spec"] = {**(lease.get("spec") or {}), **self._spec(now, acquire=acquire)}
        try:
            await writer.replace(Kind.LEASE, self.namespace, lease)
        except KubeConflict as e:
            raise TemporaryError(f"node lock {self.name} changed meanwhile", delay=2.0) from e

    async def release(self) -> None:
        """Give the lock up if this drain holds it (best effort: it expires anyway)."""
        writer = self.ctx.writer
        try:
            lease = await writer.get(Kind.LEASE, self.namespace, self.name)
            if dig(lease, "spec", "holderIdentity") != self.holder:
                return
            spec = dict(lease.get("spec") or {})
            spec.pop("holderIdentity", None)
            spec.pop("acquireTime", None)
            lease["spec"] = spec
            await writer.replace(Kind.LEASE, self.namespace, lease)
        except Exception as e:  # noqa: BLE001 - the lease expires by itself
            self.ctx.log.warning("could not release node lock %s: %s", self.name, e)

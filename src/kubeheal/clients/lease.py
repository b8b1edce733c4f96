"""One coordination.k8s.io/v1 Lease, read and written with optimistic concurrency.

The lock behind leader election (`kubeheal.runtime.leader`): `LeaseClient.get` returns the
Lease as a `LeaseRecord` (or None when absent), `create` fails with `KubeConflict` when
someone created it first, and `update` fails with `KubeConflict` when the Lease changed since
it was read (its resourceVersion), so two replicas racing for it end with one holder.

Errors are the `kubeheal.clients.kube` tree (through `KubeWriter`); nothing from lightkube
or httpx leaks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx2

from kubeheal.clients.kube import KubeConnection, KubeNotFound
from kubeheal.clients.writer import Kind, KubeWriter

__all__ = ["LeaseClient", "LeaseRecord"]

_MICRO = "%Y-%m-%dT%H:%M:%S.%fZ"


def _parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _format_time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime(_MICRO)


@dataclass(frozen=True, slots=True)
class LeaseRecord:
    """The leader-election fields of a Lease (``spec``), plus its resourceVersion."""

    holder: str = ""
    """``holderIdentity``; empty when nobody holds the Lease (released or never taken)."""
    duration_seconds: int = 0
    acquire_time: datetime | None = None
    renew_time: datetime | None = None
    transitions: int = 0
    resource_version: str = ""
    """Empty for a record not read from the server (to create)."""

    @classmethod
    def from_object(cls, obj: dict[str, Any]) -> LeaseRecord:
        spec = obj.get("spec") or {}
        meta = obj.get("metadata") or {}
        return cls(
            holder=str(spec.get("holderIdentity") or ""),
            duration_seconds=int(spec.get("leaseDurationSeconds") or 0),
            acquire_time=_parse_time(spec.get("acquireTime")),
            renew_time=_parse_time(spec.get("renewTime")),
            transitions=int(spec.get("leaseTransitions") or 0),
            resource_version=str(meta.get("resourceVersion") or ""),
        )

    def spec(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "leaseDurationSeconds": self.duration_seconds,
            "leaseTransitions": self.transitions,
        }
        if self.holder:
            spec["holderIdentity"] = self.holder
        if self.acquire_time is not None:
            spec["acquireTime"] = _format_time(self.acquire_time)
        if self.renew_time is not None:
            spec["renewTime"] = _format_time(self.renew_time)
        return spec


class LeaseClient:
    """Get, create and compare-and-swap one Lease ``namespace/name``."""

    def __init__(
        self,
        connection: KubeConnection,
        *,
        namespace: str,
        name: str,
        timeout: float = 5.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        """``timeout`` bounds each request (keep it under the renew deadline)."""
        self.namespace = namespace
        self.name = name
        self._writer = KubeWriter(
            connection, field_manager="kubeheal-leader-election", transport=transport,
            timeout=timeout,
        )  # fmt: skip

    async def aclose(self) -> None:
        await self._writer.aclose()

    def _object(self, record: LeaseRecord) -> dict[str, Any]:
        metadata: dict[str, Any] = {"name": self.name, "namespace": self.namespace}
        if record.resource_version:
            metadata["resourceVersion"] = record.resource_version
        return {
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": metadata,
            "spec": record.spec(),
        }

    async def get(self) -> LeaseRecord | None:
        """The Lease as it is now, or None if it does not exist."""
        try:
            obj = await self._writer.get(Kind.LEASE, self.namespace, self.name)
        except KubeNotFound:
            return None
        return LeaseRecord.from_object(obj)

    async def create(self, record: LeaseRecord) -> LeaseRecord:
        """Create the Lease; `KubeConflict` if it already exists."""
        created = await self._writer.create(Kind.LEASE, self.namespace, self._object(record))
        return LeaseRecord.from_object(created)

    async def update(self, record: LeaseRecord) -> LeaseRecord:
        """Replace the Lease read as ``record.resource_version``; `KubeConflict` if it moved."""
        if not record.resource_version:
            raise ValueError("update() needs the resourceVersion the Lease was read at")
        replaced = await self._writer.replace(Kind.LEASE, self.namespace, self._object(record))
        return LeaseRecord.from_object(replaced)

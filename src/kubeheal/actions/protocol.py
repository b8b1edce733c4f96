"""The cluster writes actions need, as a Protocol: ``KubeWriter`` implements it, tests fake it.

Objects go in and come out as plain Kubernetes JSON dicts. Implementations raise the
``kubeheal.clients.kube`` exceptions (``KubeNotFound``, ``KubeConflict``, ``KubeForbidden``,
``KubeUnavailable``, ...) and ``KubeDisruptionBlocked`` when a PodDisruptionBudget refuses an
eviction.
"""

from __future__ import annotations

from typing import Any, Protocol

from kubeheal.clients.writer import Kind, PatchKind

__all__ = ["Writer"]


class Writer(Protocol):
    """Reads and writes of single objects against one API server."""

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        """The object, or ``KubeNotFound``."""
        ...

    async def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: dict[str, Any] | list[dict[str, Any]],
        *,
        patch_kind: PatchKind = ...,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        """Patch the object (strategic merge by default) and return it."""
        ...

    async def create(
        self, kind: Kind, namespace: str | None, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Create the object and return it; ``KubeConflict`` when it exists."""
        ...

    async def replace(
        self, kind: Kind, namespace: str | None, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        """Replace the object (optimistic concurrency on its resourceVersion)."""
        ...

    async def delete(
        self, kind: Kind, namespace: str | None, name: str, *, dry_run: bool = False
    ) -> None:
        """Delete the object."""
        ...

    async def list(
        self, kind: Kind, namespace: str | None, *, labels: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The objects of ``kind`` in ``namespace`` (all namespaces when None)."""
        ...

    async def evict(self, namespace: str, name: str, *, dry_run: bool = False) -> None:
        """Evict a pod through the Eviction API."""
        ...

    async def logs(
        self,
        namespace: str,
        name: str,
        *,
        container: str | None = None,
        previous: bool = False,
        tail_lines: int = 50,
    ) -> str:
        """The last lines a container wrote."""
        ...

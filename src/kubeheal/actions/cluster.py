"""The operator's handle on the cluster: the one writer, built here so that only the actions
import the Kubernetes writer (an import-linter contract), and the reads the runtime makes
through it.

The runtime holds a `ClusterWriter` (``KubeWriter`` implements it, tests fake it), passes it
to `kubeheal.actions.execute` and `kubeheal.actions.events.record_escalation`, reads the
kill switch with `read_config_map` and closes it on stop. `set_kill_switch` pulls or releases
the ConfigMap kill switch (the console's button).
"""

from __future__ import annotations

from typing import Any, Protocol

from kubeheal.actions.protocol import Writer
from kubeheal.clients.kube import KubeConnection
from kubeheal.clients.writer import Kind, KubeWriter

__all__ = ["ClusterWriter", "cluster_writer", "read_config_map", "set_kill_switch"]


class ClusterWriter(Writer, Protocol):
    """A `Writer` the operator owns (and closes)."""

    async def aclose(self) -> None:
        """Close its connections."""
        ...


def cluster_writer(connection: KubeConnection) -> ClusterWriter:
    """The writer of the API server ``connection`` points to."""
    return KubeWriter(connection)


async def read_config_map(writer: Writer, namespace: str, name: str) -> dict[str, Any]:
    """The ConfigMap ``namespace/name`` as read (raises the client's errors, e.g.
    ``KubeNotFound``)."""
    return await writer.get(Kind.CONFIGMAP, namespace, name)


async def set_kill_switch(
    writer: Writer, namespace: str, name: str, *, disabled: bool, by: str, at: str
) -> dict[str, Any]:
    """Set the kill switch ConfigMap ``namespace/name``'s ``data.disabled`` to ``"true"``
    (no action is taken) or ``"false"``; ``by`` and ``at`` are recorded in its annotations.
    The ConfigMap must exist (kubeheal's role may patch it, not create ConfigMaps): raises
    ``KubeNotFound`` when it does not, and the client's other errors."""
    annotations = {
        "kubeheal.io/kill-switch-changed-by": by,
        "kubeheal.io/kill-switch-changed-at": at,
    }
    patch = {"metadata": {"annotations": annotations}, "data": {"disabled": str(disabled).lower()}}
    return await writer.patch(Kind.CONFIGMAP, namespace, name, patch)

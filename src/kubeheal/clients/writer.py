"""Writes to the Kubernetes API: the only way kubeheal changes a cluster.

Built on lightkube's typed async client (same configuration as the reflector). Objects go in
and come out as plain JSON dicts so callers above the clients never see lightkube types; every
library error is translated into the `kubeheal.clients.kube` exception tree, plus
`KubeDisruptionBlocked` for an eviction a PodDisruptionBudget refuses (HTTP 429).

Every namespace and name is checked before a request is built (`KubeInvalidName`, nothing
sent): lightkube joins them into the path as they are and the HTTP client resolves `..`,
so `./../../kube-system/deployments/coredns` as a name would otherwise patch CoreDNS.
Namespaces must be DNS-1123 labels, names DNS-1123 subdomains; paths built here escape
each segment.
"""

from __future__ import annotations

import enum
from typing import Any

import httpx2
from lightkube import AsyncClient
from lightkube.core.exceptions import ApiError
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources import (
    apps_v1,
    autoscaling_v2,
    coordination_v1,
    core_v1,
    policy_v1,
)
from lightkube.types import PatchType

from kubeheal.clients.kube import (
    KubeApiError,
    KubeConnection,
    KubeError,
    KubeUnavailable,
    error_class,
    error_from_response,
    retry_after,
    safe_segment,
)
from kubeheal.model.names import NameKind

__all__ = ["Kind", "KubeDisruptionBlocked", "KubeWriter", "PatchKind"]


class KubeDisruptionBlocked(KubeApiError):
    """An eviction was refused because it would violate a PodDisruptionBudget (429)."""


class Kind(enum.Enum):
    """The resource kinds kubeheal reads or writes one at a time."""

    POD = (core_v1.Pod, True)
    NODE = (core_v1.Node, False)
    NAMESPACE = (core_v1.Namespace, False)
    CONFIGMAP = (core_v1.ConfigMap, True)
    EVENT = (core_v1.Event, True)
    DEPLOYMENT = (apps_v1.Deployment, True)
    REPLICASET = (apps_v1.ReplicaSet, True)
    STATEFULSET = (apps_v1.StatefulSet, True)
    DAEMONSET = (apps_v1.DaemonSet, True)
    PDB = (policy_v1.PodDisruptionBudget, True)
    HPA = (autoscaling_v2.HorizontalPodAutoscaler, True)
    LEASE = (coordination_v1.Lease, True)

    @property
    def resource(self) -> Any:
        return self.value[0]

    @property
    def namespaced(self) -> bool:
        return bool(self.value[1])

    @classmethod
    def of(cls, kind: str) -> Kind:
        """The Kind for a Kubernetes kind name such as "Deployment"."""
        for member in cls:
            if member.resource.__name__ == kind:
                return member
        raise KeyError(f"kubeheal does not write objects of kind {kind!r}")


class PatchKind(enum.Enum):
    STRATEGIC = PatchType.STRATEGIC
    MERGE = PatchType.MERGE
    JSON = PatchType.JSON


def _translate(e: Exception, what: str) -> KubeError:
    if isinstance(e, ApiError):
        status = e.status
        response = e.response
        code = int(status.code or (response.status_code if response is not None else 500))
        message = f"{what}: {status.message or e}"
        reason = status.reason or ""
        if code == 429 and "disruption budget" in message.lower():
            return KubeDisruptionBlocked(code=code, reason=reason, message=message)
        if code == 429 or code >= 500:
            return KubeUnavailable(
                f"API server answered {code} {reason}: {message}",
                retry_after=retry_after(response),
            )
        return error_class(code)(code=code, reason=reason, message=message)
    if isinstance(e, httpx2.TimeoutException):
        return KubeUnavailable(f"{what}: timed out: {e!r}")
    if isinstance(e, httpx2.TransportError):
        return KubeUnavailable(f"{what}: cannot reach the API server: {e!r}")
    return KubeError(f"{what}: {e!r}")


def _check(kind: Kind, namespace: str | None, name: str | None) -> None:
    """Refuse (``KubeInvalidName``) a namespace or name that is no valid path segment."""
    if kind.namespaced and namespace is not None:
        safe_segment(namespace, field="namespace", kind=NameKind.LABEL)
    if name is not None:
        safe_segment(name, field=f"{kind.name.lower()} name", kind=NameKind.SUBDOMAIN)


def _check_body(kind: Kind, namespace: str | None, obj: dict[str, Any]) -> None:
    meta = obj.get("metadata")
    meta = meta if isinstance(meta, dict) else {}
    name, body_ns = meta.get("name"), meta.get("namespace")
    _check(kind, namespace, str(name) if name is not None else None)
    if body_ns is not None:
        _check(kind, str(body_ns), None)


def _path(*segments: tuple[str, str, NameKind | None]) -> str:
    """An absolute request path of escaped, checked segments ``(value, field, rule)``."""
    return "/" + "/".join(safe_segment(v, field=f, kind=k) for v, f, k in segments)


def _to_dict(obj: Any) -> dict[str, Any]:
    if isinstance(obj, dict):
        return obj
    out: dict[str, Any] = obj.to_dict()
    return out


class KubeWriter:
    """Typed writes (and the few targeted reads actions need) against one API server."""

    def __init__(
        self,
        connection: KubeConnection,
        *,
        field_manager: str = "kubeheal",
        transport: httpx2.AsyncBaseTransport | None = None,
        timeout: float = 15.0,
    ) -> None:
        self.connection = connection
        self._client = AsyncClient(
            config=connection.config,
            field_manager=field_manager,
            trust_env=False,
            transport=transport,
            timeout=httpx2.Timeout(timeout, connect=5.0),
        )
        inner = getattr(getattr(self._client, "_client", None), "_client", None)
        if isinstance(inner, httpx2.AsyncClient):  # lightkube's own HTTP client
            connection.identify(inner)
        self._http = connection.http_client(timeout=timeout, transport=transport)

    async def aclose(self) -> None:
        await self._client.close()
        await self._http.aclose()

    def _ns(self, kind: Kind, namespace: str | None) -> str | None:
        return namespace if kind.namespaced else None

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        _check(kind, namespace, name)
        try:
            obj = await self._client.get(kind.resource, name, namespace=self._ns(kind, namespace))
        except Exception as e:
            raise _translate(e, f"get {kind.name.lower()} {namespace}/{name}") from e
        return _to_dict(obj)

    async def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: dict[str, Any] | list[dict[str, Any]],
        *,
        patch_kind: PatchKind = PatchKind.STRATEGIC,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        _check(kind, namespace, name)
        try:
            obj = await self._client.patch(
                kind.resource,
                name,
                patch,
                namespace=self._ns(kind, namespace),
                patch_type=patch_kind.value,
                dry_run=dry_run,
            )
        except Exception as e:
            raise _translate(e, f"patch {kind.name.lower()} {namespace}/{name}") from e
        return _to_dict(obj)

    async def create(
        self, kind: Kind, namespace: str | None, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        _check_body(kind, namespace, obj)
        body = dict(obj)
        if kind.namespaced and namespace:
            body["metadata"] = {**body.get("metadata", {}), "namespace": namespace}
        try:
            model = kind.resource.from_dict(body)
            created = await self._client.create(model, dry_run=dry_run)
        except Exception as e:
            name = obj.get("metadata", {}).get("name", "?")
            raise _translate(e, f"create {kind.name.lower()} {namespace}/{name}") from e
        return _to_dict(created)

    async def replace(
        self, kind: Kind, namespace: str | None, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        name = obj.get("metadata", {}).get("name", "")
        _check_body(kind, namespace, obj)
        try:
            model = kind.resource.from_dict(obj)
            replaced = await self._client.replace(
                model, name, namespace=self._ns(kind, namespace), dry_run=dry_run
            )
        except Exception as e:
            raise _translate(e, f"replace {kind.name.lower()} {namespace}/{name}") from e
        return _to_dict(replaced)

    async def delete(
        self, kind: Kind, namespace: str | None, name: str, *, dry_run: bool = False
    ) -> None:
        _check(kind, namespace, name)
        try:
            await self._client.delete(
                kind.resource, name, namespace=self._ns(kind, namespace), dry_run=dry_run
            )
        except Exception as e:
            raise _translate(e, f"delete {kind.name.lower()} {namespace}/{name}") from e

    async def list(
        self, kind: Kind, namespace: str | None, *, labels: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Objects of ``kind`` (in ``namespace``, or in all namespaces when None) matching
        ``labels``."""
        _check(kind, namespace, None)
        where = ("*" if namespace is None else namespace) if kind.namespaced else None
        try:
            found = [
                _to_dict(obj)
                async for obj in self._client.list(
                    kind.resource,
                    namespace=where,
                    labels=dict(labels) if labels else None,
                )
            ]
        except Exception as e:
            raise _translate(e, f"list {kind.name.lower()} {namespace}") from e
        return found

    async def create_custom(
        self, *, group: str, version: str, plural: str, namespace: str, obj: dict[str, Any]
    ) -> dict[str, Any]:
        """Create a namespaced custom resource (e.g. a ChaosEngine) as plain JSON."""
        path = _path(
            ("apis", "prefix", None),
            (group, "group", NameKind.SUBDOMAIN),
            (version, "version", NameKind.LABEL),
            ("namespaces", "prefix", None),
            (namespace, "namespace", NameKind.LABEL),
            (plural, "resource", NameKind.LABEL),
        )
        try:
            response = await self._http.post(path, json=obj)
            body = await response.aread()
        except httpx2.TransportError as e:
            raise KubeUnavailable(f"create {plural}.{group} in {namespace}: {e!r}") from e
        if response.status_code >= 400:
            raise error_from_response(response, body)
        created: dict[str, Any] = response.json()
        return created

    async def delete_custom(
        self, *, group: str, version: str, plural: str, namespace: str, name: str
    ) -> None:
        """Delete a namespaced custom resource."""
        path = _path(
            ("apis", "prefix", None),
            (group, "group", NameKind.SUBDOMAIN),
            (version, "version", NameKind.LABEL),
            ("namespaces", "prefix", None),
            (namespace, "namespace", NameKind.LABEL),
            (plural, "resource", NameKind.LABEL),
            (name, "name", NameKind.SUBDOMAIN),
        )
        try:
            response = await self._http.delete(path)
            body = await response.aread()
        except httpx2.TransportError as e:
            raise KubeUnavailable(f"delete {plural}.{group} {namespace}/{name}: {e!r}") from e
        if response.status_code >= 400:
            raise error_from_response(response, body)

    async def evict(self, namespace: str, name: str, *, dry_run: bool = False) -> None:
        """Evict a pod through the Eviction API; KubeDisruptionBlocked when a PDB refuses."""
        _check(Kind.POD, namespace, name)
        eviction = core_v1.Pod.Eviction(metadata=ObjectMeta(name=name, namespace=namespace))
        try:
            await self._client.create(eviction, name=name, namespace=namespace, dry_run=dry_run)
        except Exception as e:
            raise _translate(e, f"evict pod {namespace}/{name}") from e

    async def logs(
        self,
        namespace: str,
        name: str,
        *,
        container: str | None = None,
        previous: bool = False,
        tail_lines: int = 50,
    ) -> str:
        """The last lines a container wrote (of its previous instance with `previous`)."""
        params: dict[str, str] = {"tailLines": str(tail_lines)}
        if container:
            params["container"] = container
        if previous:
            params["previous"] = "true"
        path = _path(
            ("api", "prefix", None),
            ("v1", "version", None),
            ("namespaces", "prefix", None),
            (namespace, "namespace", NameKind.LABEL),
            ("pods", "resource", None),
            (name, "pod name", NameKind.SUBDOMAIN),
            ("log", "subresource", None),
        )
        try:
            response = await self._http.get(path, params=params)
            body = await response.aread()
        except httpx2.TransportError as e:
            raise KubeUnavailable(f"logs of {namespace}/{name}: {e!r}") from e
        if response.status_code >= 400:
            raise error_from_response(response, body)
        return body.decode("utf-8", "replace")

"""Subresources: `scale` (the autoscaling/v1 Scale view and its writes), `pods/log` (with
`follow`), `pods/eviction` (the Eviction API with PodDisruptionBudgets) and `pods/binding`.

`status` is served by the reads and writes of the object itself.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response, StreamingResponse

from kubeheal.twin.api.admission import validate_fields
from kubeheal.twin.api.requests import (
    Obj,
    Target,
    dry_run,
    json_response,
    object_body,
    read_body,
    success,
    truthy,
)
from kubeheal.twin.clock import format_time
from kubeheal.twin.cluster import Twin
from kubeheal.twin.errors import ApiError, BadRequest, Conflict, Invalid
from kubeheal.twin.resources import ResourceType
from kubeheal.twin.selectors import LabelSelector, SelectorError
from kubeheal.twin.sim.control_plane import evict
from kubeheal.twin.sim.kubelet import read_logs

__all__ = ["Subresources", "scale_of"]


def scale_of(rtype: ResourceType, obj: Obj) -> Obj:
    """The autoscaling/v1 Scale view of a deployment, replica set or stateful set."""
    meta = obj.get("metadata") or {}
    spec = obj.get("spec") or {}
    status = obj.get("status") or {}
    selector = ""
    if spec.get("selector") is not None:
        try:
            selector = str(LabelSelector.from_api(spec["selector"]))
        except SelectorError:
            selector = ""
    scale_meta = {
        k: meta[k]
        for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        if k in meta
    }
    return {
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": scale_meta,
        "spec": {"replicas": spec.get("replicas", 1)},
        "status": {"replicas": int(status.get("replicas") or 0), "selector": selector},
    }


def _set_scheduled_condition(now: str) -> Callable[[Obj], None]:
    def change(pod: Obj) -> None:
        status = pod.setdefault("status", {})
        conditions = [c for c in status.get("conditions") or () if c.get("type") != "PodScheduled"]
        conditions.append({"type": "PodScheduled", "status": "True", "lastTransitionTime": now})
        status["conditions"] = conditions

    return change


class Subresources:
    """The subresource handlers over one twin."""

    def __init__(self, twin: Twin, *, log_follow_poll: float) -> None:
        self.twin = twin
        self.store = twin.store
        self.log_follow_poll = log_follow_poll

    # ------------------------------------------------------------------ scale

    def write_scale(self, target: Target, scale: Obj, *, dry: bool) -> Obj:
        rtype = target.rtype
        assert target.name is not None
        replicas = (scale.get("spec") or {}).get("replicas")
        if not isinstance(replicas, int) or isinstance(replicas, bool) or replicas < 0:
            raise Invalid(
                f'Scale.autoscaling "{target.name}" is invalid: spec.replicas: Invalid value: '
                f"{replicas!r}: must be greater than or equal to 0",
                details={"name": target.name, "group": "autoscaling", "kind": "Scale"},
            )
        with self.store.lock:
            current = self.store.get(rtype, target.namespace, target.name)
            sent_rv = (scale.get("metadata") or {}).get("resourceVersion")
            if sent_rv:
                current["metadata"]["resourceVersion"] = str(sent_rv)
            current.setdefault("spec", {})["replicas"] = replicas
            updated = self.store.update(rtype, current, namespace=target.namespace, dry_run=dry)
        return scale_of(rtype, updated)

    # ------------------------------------------------------------------ pods/log

    async def logs(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        pod = self.store.get(target.rtype, target.namespace, target.name)
        q = request.query_params
        spec = pod.get("spec") or {}
        names = [str(c.get("name")) for c in spec.get("containers") or ()]
        init_names = [str(c.get("name")) for c in spec.get("initContainers") or ()]
        container = q.get("container")
        if not container:
            if len(names) != 1:
                raise BadRequest(
                    f"a container name must be specified for pod {target.name}, choose one of: "
                    f"[{' '.join(names)}]"
                    + (
                        f" or one of the init containers: [{' '.join(init_names)}]"
                        if init_names
                        else ""
                    )
                )
            container = names[0]
        if container not in names and container not in init_names:
            raise BadRequest(f"container {container} is not valid for pod {target.name}")
        previous = truthy(q.get("previous"))
        tail: int | None = None
        if q.get("tailLines"):
            try:
                tail = int(q["tailLines"])
            except ValueError:
                raise BadRequest("tailLines must be an integer") from None
        limit_bytes: int | None = None
        if q.get("limitBytes"):
            try:
                limit_bytes = int(q["limitBytes"])
            except ValueError:
                raise BadRequest("limitBytes must be an integer") from None
        uid = str(pod["metadata"].get("uid", ""))
        if tail is not None and tail < 0:
            raise BadRequest("tailLines must be a non-negative integer")
        timestamps = truthy(q.get("timestamps"))
        follow = truthy(q.get("follow")) and not previous
        full = self._read_logs(uid, container, previous, timestamps=timestamps)
        text = full
        if tail is not None:
            text = "".join(full.splitlines(keepends=True)[-tail:]) if tail else ""
        if limit_bytes is not None:
            text = text.encode()[:limit_bytes].decode(errors="ignore")
        if not follow:
            return PlainTextResponse(text)
        return StreamingResponse(
            self._follow_logs(target, uid, container, text, len(full), timestamps=timestamps),
            media_type="text/plain",
        )

    def _read_logs(
        self,
        pod_uid: str,
        container: str,
        previous: bool,
        *,
        timestamps: bool = False,
    ) -> str:
        return read_logs(
            self.twin.runtime,
            pod_uid=pod_uid,
            container=container,
            previous=previous,
            timestamps=timestamps,
        )

    async def _follow_logs(
        self,
        target: Target,
        uid: str,
        container: str,
        initial: str,
        sent: int,
        *,
        timestamps: bool,
    ) -> AsyncIterator[bytes]:
        """The log so far, then what the container writes, until the pod goes away."""
        yield initial.encode()
        while True:
            await asyncio.sleep(self.log_follow_poll)
            assert target.name is not None
            pod = self.store.find(target.rtype, target.namespace, target.name)
            if pod is None or pod["metadata"].get("uid") != uid:
                return
            try:
                full = self._read_logs(uid, container, False, timestamps=timestamps)
            except ApiError:
                return
            if len(full) < sent:  # the container restarted: its log starts again
                sent = 0
            if len(full) > sent:
                yield full[sent:].encode()
                sent = len(full)

    # ------------------------------------------------------------------ pods/eviction

    async def evict(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        body = object_body(await read_body(request), "Eviction")
        warnings = validate_fields(request, body, api_version="policy/v1", kind="Eviction")
        meta = body.get("metadata") or {}
        if meta.get("name") not in (None, target.name):
            raise BadRequest(
                f"name in URL does not match name in Eviction object ({meta.get('name')} vs "
                f"{target.name})"
            )
        if dry_run(request):
            # As the API server's propagateDryRun: a dry run still checks the budgets (and the
            # more-than-one-PDB refusal); it only changes nothing.
            options = dict(body.get("deleteOptions") or {})
            options["dryRun"] = ["All"]
            body = {**body, "deleteOptions": options}
        namespace = target.namespace or "default"
        with self.store.lock:
            self.store.get(target.rtype, namespace, target.name)
            self._call_evict(namespace, target.name, body)
        return json_response(success(code=201), status=201, warnings=warnings)

    def _call_evict(self, namespace: str, name: str, eviction: Obj) -> None:
        evict(
            self.store, namespace=namespace, name=name, eviction=eviction, now=self.twin.clock.now()
        )

    # ------------------------------------------------------------------ pods/binding

    async def bind(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        body = object_body(await read_body(request), "Binding")
        node = (body.get("target") or {}).get("name")
        if not isinstance(node, str) or not node:
            raise Invalid("Binding is invalid: target.name: Required value")
        dry = dry_run(request)
        name = target.name

        def bind(pod: Obj) -> None:
            spec = pod.setdefault("spec", {})
            if spec.get("nodeName"):
                raise Conflict(f'pod {name} is already assigned to node "{spec["nodeName"]}"')
            spec["nodeName"] = node

        with self.store.lock:
            pod = self.store.get(target.rtype, target.namespace, name)
            bind(pod)
            if not dry:
                self.store.mutate(target.rtype, target.namespace, name, bind)
                self.store.mutate(
                    target.rtype,
                    target.namespace,
                    name,
                    _set_scheduled_condition(format_time(self.twin.clock.now())),
                    subresource="status",
                )
        return json_response(success(code=201), status=201)

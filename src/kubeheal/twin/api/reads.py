"""Reads: get, list (selectors, `limit`/`continue`, Tables, PartialObjectMetadata) and watch
(chunked JSON lines, bookmarks, `timeoutSeconds`, `sendInitialEvents`, 410 as an ERROR event).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence

import orjson
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from kubeheal.twin import tables
from kubeheal.twin.api.requests import (
    JSON,
    Obj,
    Target,
    accept,
    dumps,
    include,
    json_response,
    selectors,
    truthy,
)
from kubeheal.twin.api.subresources import scale_of
from kubeheal.twin.cluster import Twin
from kubeheal.twin.errors import ApiError, BadRequest
from kubeheal.twin.resources import ResourceType
from kubeheal.twin.selectors import FieldSelector
from kubeheal.twin.watch import Watcher

__all__ = ["Reads", "render_one"]


def render_one(
    request: Request,
    rtype: ResourceType,
    obj: Obj,
    *,
    now: float,
    status: int = 200,
    warnings: Sequence[str] = (),
) -> Response:
    """One object as the request's Accept header asks: JSON, a Table or its metadata."""
    mode = accept(request)
    if mode == "Table":
        return json_response(
            tables.table_for(
                rtype,
                [obj],
                now=now,
                include=include(request),
                resource_version=str(obj.get("metadata", {}).get("resourceVersion", "")),
            ),
            status=status,
            warnings=warnings,
        )
    if mode == "PartialObjectMetadata":
        return json_response(tables.partial_metadata(obj), status=status, warnings=warnings)
    return json_response(obj, status=status, warnings=warnings)


def _bookmark(rtype: ResourceType, rv: int, *, initial_end: bool = False) -> bytes:
    meta: Obj = {"resourceVersion": str(rv)}
    if initial_end:
        meta["annotations"] = {"k8s.io/initial-events-end": "true"}
    obj = {"kind": rtype.kind, "apiVersion": rtype.api_version, "metadata": meta}
    return dumps({"type": "BOOKMARK", "object": obj}) + b"\n"


class Reads:
    """The read handlers over one twin."""

    def __init__(self, twin: Twin, *, watch_timeout: float, bookmark_interval: float) -> None:
        self.twin = twin
        self.store = twin.store
        self.watch_timeout = watch_timeout
        self.bookmark_interval = bookmark_interval

    def get_one(self, request: Request, target: Target) -> Response:
        assert target.name is not None
        obj = self.store.get(target.rtype, target.namespace, target.name)
        if target.subresource == "scale":
            return json_response(scale_of(target.rtype, obj))
        return render_one(request, target.rtype, obj, now=self.twin.clock.now())

    def list_collection(self, request: Request, target: Target) -> Response:
        rtype = target.rtype
        labels, fields = selectors(request, rtype)
        q = request.query_params
        limit: int | None = None
        if q.get("limit"):
            try:
                limit = int(q["limit"])
            except ValueError:
                raise BadRequest(
                    f"limit: invalid value {q['limit']!r}: must be an integer"
                ) from None
        rv = q.get("resourceVersion")
        if rv and not rv.isdigit():
            raise BadRequest(f"invalid resourceVersion {rv!r}: must be an integer")
        result = self.store.list(
            rtype,
            target.namespace,
            label_selector=labels,
            field_selector=fields,
            limit=limit or None,
            continue_token=q.get("continue") or None,
        )
        mode = accept(request)
        meta: Obj = {"resourceVersion": str(result.resource_version)}
        if result.continue_token:
            meta["continue"] = result.continue_token
        if result.remaining is not None:
            meta["remainingItemCount"] = result.remaining
        if mode == "Table":
            objects = [orjson.loads(raw) for raw in result.items]
            table = tables.table_for(
                rtype,
                objects,
                now=self.twin.clock.now(),
                include=include(request),
                resource_version=str(result.resource_version),
                continue_token=result.continue_token,
                remaining=result.remaining,
            )
            return json_response(table)
        if mode == "PartialObjectMetadata":
            items = [tables.partial_metadata(orjson.loads(raw)) for raw in result.items]
            return json_response(
                {
                    "kind": "PartialObjectMetadataList",
                    "apiVersion": "meta.k8s.io/v1",
                    "metadata": meta,
                    "items": items,
                }
            )
        head = dumps({"kind": rtype.list_kind, "apiVersion": rtype.api_version, "metadata": meta})
        body = head[:-1] + b',"items":[' + b",".join(result.items) + b"]}"
        return Response(body, media_type=JSON)

    # ------------------------------------------------------------------ watch

    def watch(self, request: Request, target: Target) -> Response:
        rtype = target.rtype
        q = request.query_params
        labels, fields = selectors(request, rtype)
        if target.name is not None:
            by_name = FieldSelector.parse(f"metadata.name={target.name}")
            fields = (
                by_name
                if fields is None
                else FieldSelector(fields.requirements + by_name.requirements)
            )
        timeout = self.watch_timeout
        if q.get("timeoutSeconds"):
            try:
                timeout = min(float(q["timeoutSeconds"]), timeout)
            except ValueError:
                raise BadRequest(f"timeoutSeconds: invalid value {q['timeoutSeconds']!r}") from None
        table = accept(request) == "Table"
        what = include(request)
        bookmarks = truthy(q.get("allowWatchBookmarks"))
        initial_events = truthy(q.get("sendInitialEvents"))
        rv = q.get("resourceVersion") or None
        if initial_events:
            rv = None
        try:
            watcher = self.store.watch(
                rtype,
                target.namespace,
                label_selector=labels,
                field_selector=fields,
                resource_version=rv,
            )
        except ApiError as err:
            if err.code != 410:
                raise
            line = dumps({"type": "ERROR", "object": err.status()}) + b"\n"
            return Response(line, media_type=JSON)
        stream = self._watch_stream(
            watcher,
            rtype=rtype,
            table=table,
            include=what,
            timeout=timeout,
            bookmarks=bookmarks,
            initial_end=initial_events,
        )
        return StreamingResponse(stream, media_type=JSON)

    def _event_line(
        self,
        kind: str,
        raw: bytes,
        rtype: ResourceType,
        *,
        table: bool,
        include: tables.IncludeObject,
        first: bool,
    ) -> bytes:
        if table:
            obj = orjson.loads(raw)
            body = tables.table_for(
                rtype,
                [obj],
                now=self.twin.clock.now(),
                include=include,
                resource_version=str(obj.get("metadata", {}).get("resourceVersion", "")),
                headers=first,
            )
            return dumps({"type": kind, "object": body}) + b"\n"
        return b'{"type":"' + kind.encode() + b'","object":' + raw + b"}\n"

    async def _watch_stream(
        self,
        watcher: Watcher,
        *,
        rtype: ResourceType,
        table: bool,
        include: tables.IncludeObject,
        timeout: float,
        bookmarks: bool,
        initial_end: bool,
    ) -> AsyncIterator[bytes]:
        loop = asyncio.get_running_loop()
        ready = asyncio.Event()
        loop_thread = threading.get_ident()
        signalled = [False]

        def wake() -> None:
            # Called under the store lock for every event: wake the stream once per batch,
            # directly when the write happened on this loop's thread (the common case).
            if signalled[0]:
                return
            signalled[0] = True
            if threading.get_ident() == loop_thread:
                ready.set()
            else:
                loop.call_soon_threadsafe(ready.set)

        store = self.store
        with store.lock:
            watcher.wake = wake
        start = loop.time()
        deadline = start + timeout
        interval = self.bookmark_interval
        next_bookmark = start + interval
        first = True
        try:
            # Send the response headers at once, as the API server does: a client (kubectl
            # get -w, an informer) must not wait for the first change to know the watch is on.
            yield b""
            while True:
                ready.clear()
                with store.lock:
                    signalled[0] = False
                    events = watcher.drain()
                    closed, error = watcher.closed, watcher.error
                    rv = store.resource_version
                if events:
                    yield b"".join(
                        self._event_line(
                            kind, raw, rtype, table=table, include=include, first=first and i == 0
                        )
                        for i, (kind, raw, _) in enumerate(events)
                    )
                    first = False
                if initial_end:
                    yield _bookmark(rtype, rv, initial_end=True)
                    initial_end = False
                if closed:
                    if error is not None:
                        yield dumps({"type": "ERROR", "object": error.status()}) + b"\n"
                    return
                now = loop.time()
                if now >= deadline:
                    return
                if bookmarks and now >= next_bookmark:
                    yield _bookmark(rtype, rv)
                    next_bookmark = now + interval
                wake_at = min(deadline, next_bookmark) if bookmarks else deadline
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), max(0.0, wake_at - now))
        finally:
            store.stop_watch(watcher)

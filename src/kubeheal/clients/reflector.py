"""The reflector: a list+watch cache of one resource type, decoded into slim msgspec Structs.

It keeps `cache` equal to the server's state and calls `handler` for every change, in order:

- lists in pages (`limit`/`continue`), so 150,000 pods never arrive in one response;
- watches from the list's resourceVersion with bookmarks on, so a re-watch after a dropped
  connection resumes where it stopped and misses nothing;
- on 410 Gone (history compacted, or an expired continue token) it lists again and
  synthesises DELETED events for objects that disappeared in between, so consumers never keep
  a ghost;
- on connection errors, 5xx and 429 it backs off exponentially (with jitter, honouring
  Retry-After) and resumes; failures are counted and reported through `status` for health.

Only the fields the item type declares are decoded (msgspec skips the rest), which is what
keeps a 150,000-pod cache small; an optional `transform` (e.g. a `Compactor`) rewrites each
decoded object before it is cached. The first list delivers each page as it arrives (nothing
can have been deleted from an empty cache), so no second copy of the collection is built, and
the cycle collector is paused while a list is decoded (it would otherwise rescan the growing
cache again and again).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

import httpx2
import msgspec

from kubeheal.clients.kube import (
    KubeApiError,
    KubeDecodeError,
    KubeError,
    KubeGone,
    KubeUnavailable,
    error_from_response,
    error_from_status,
    safe_segment,
)
from kubeheal.model.names import NameKind

__all__ = ["Backoff", "CacheEvent", "Reflector", "ReflectorStatus", "resource_path"]

log = logging.getLogger(__name__)

T = TypeVar("T")


def resource_path(group: str, version: str, plural: str, namespace: str | None = None) -> str:
    """The collection URL path of a resource, optionally within one namespace.

    Each segment is checked and escaped (``KubeInvalidName`` for ``..``, ``/?#%``, control
    characters, or a namespace that is no DNS-1123 label).
    """
    parts = ["api"] if not group else ["apis", safe_segment(group, field="group")]
    parts.append(safe_segment(version, field="version"))
    if namespace:
        parts += ["namespaces", safe_segment(namespace, field="namespace", kind=NameKind.LABEL)]
    parts.append(safe_segment(plural, field="resource"))
    return "/" + "/".join(parts)


class _Meta(msgspec.Struct):
    name: str = ""
    namespace: str = ""
    resourceVersion: str = ""


class _ObjectMeta(msgspec.Struct):
    metadata: _Meta = msgspec.field(default_factory=_Meta)


class _ListMeta(msgspec.Struct):
    resourceVersion: str = ""
    continue_: str = msgspec.field(default="", name="continue")


class _RawList(msgspec.Struct):
    metadata: _ListMeta = msgspec.field(default_factory=_ListMeta)
    items: list[msgspec.Raw] = msgspec.field(default_factory=list)


class _RawEvent(msgspec.Struct):
    type: str
    object: msgspec.Raw


_LIST = msgspec.json.Decoder(_RawList)
_EVENT = msgspec.json.Decoder(_RawEvent)
_META = msgspec.json.Decoder(_ObjectMeta)


@dataclass(frozen=True, slots=True)
class CacheEvent(Generic[T]):
    """One change of the cache: ADDED, MODIFIED or DELETED (possibly synthesised)."""

    type: str
    key: str
    new: T | None
    old: T | None
    synthetic: bool = False


@dataclass
class ReflectorStatus:
    """What health checks and metrics report about one reflector."""

    synced: bool = False
    resource_version: str = ""
    lists: int = 0
    relists_after_gone: int = 0
    watches: int = 0
    events: int = 0
    synthetic_deletes: int = 0
    undecodable: int = 0
    consecutive_failures: int = 0
    last_error: str = ""
    last_success_monotonic: float = 0.0


@dataclass(frozen=True)
class Backoff:
    """Exponential back-off with full jitter: base * 2**(n-1), capped, times U(0.5, 1).

    The cap bounds how long a watch stays failed after the API server has recovered (health
    reports a reflector as failing until its next try succeeds, and /readyz needs every watch):
    with 30 s, /readyz stayed 503 for up to 30 s after the faults ended. 5 s bounds that, and
    seven watches retrying at most every 5 s cost an API server well under 2 requests/s.
    """

    base: float = 0.5
    cap: float = 5.0
    rng: random.Random = field(default_factory=lambda: random.Random(0), compare=False)

    def delay(self, failures: int, *, retry_after: float | None = None) -> float:
        raw: float = min(self.cap, self.base * float(2 ** max(0, failures - 1)))
        delay: float = raw * (0.5 + 0.5 * self.rng.random())
        if retry_after is not None:
            delay = max(delay, min(retry_after, self.cap))
        return delay


class Reflector(Generic[T]):
    """List+watch one collection into `cache`, calling `handler` for every change in order."""

    def __init__(
        self,
        *,
        http: httpx2.AsyncClient,
        path: str,
        item_type: type[T],
        handler: Callable[[CacheEvent[T]], None],
        page_size: int = 500,
        watch_timeout: int = 290,
        backoff: Backoff | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        label_selector: str | None = None,
        transform: Callable[[T], T] | None = None,
    ) -> None:
        self.http = http
        self.path = path
        self.item_decoder: msgspec.json.Decoder[T] = msgspec.json.Decoder(item_type)
        self.handler = handler
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.backoff = backoff or Backoff()
        self.sleep = sleep
        self.label_selector = label_selector
        self.transform = transform
        self.cache: dict[str, T] = {}
        self._versions: dict[str, str] = {}
        self.status = ReflectorStatus()
        self.synced = asyncio.Event()

    # ------------------------------------------------------------------ running

    async def run(self) -> None:
        """List, then watch forever; re-list after 410; back off on failures. Cancel to stop."""
        need_list = True
        while True:
            try:
                if need_list:
                    await self.relist()
                    need_list = False
                started, events_before = time.monotonic(), self.status.events
                await self.watch_once()
                self._succeeded()
                if time.monotonic() - started < 1.0 and self.status.events == events_before:
                    # The server ended an empty watch at once: do not spin on it.
                    await self.sleep(self.backoff.base)
            except KubeGone as e:
                log.info("%s: %s; listing again", self.path, e.message)
                self.status.relists_after_gone += 1
                need_list = True
            except KubeError as e:
                self.status.consecutive_failures += 1
                self.status.last_error = str(e)
                retry_after = e.retry_after if isinstance(e, KubeUnavailable) else None
                delay = self.backoff.delay(
                    self.status.consecutive_failures, retry_after=retry_after
                )
                log.warning(
                    "%s: %s (failure %d); retrying in %.1fs",
                    self.path,
                    e,
                    self.status.consecutive_failures,
                    delay,
                )
                if isinstance(e, KubeApiError):
                    need_list = True  # e.g. 403 until RBAC is fixed: start clean
                await self.sleep(delay)

    def _succeeded(self) -> None:
        self.status.consecutive_failures = 0
        self.status.last_error = ""
        self.status.last_success_monotonic = time.monotonic()

    async def _get(self, params: dict[str, str]) -> bytes:
        try:
            response = await self.http.get(self.path, params=params)
            body = await response.aread()
        except httpx2.TimeoutException as e:
            raise KubeUnavailable(f"timed out listing {self.path}: {e!r}") from e
        except httpx2.TransportError as e:
            raise KubeUnavailable(f"cannot reach the API server for {self.path}: {e!r}") from e
        if response.status_code >= 400:
            raise error_from_response(response, body)
        return body

    async def relist(self) -> None:
        """List everything in pages and reconcile the cache (synthesising deletions)."""
        paused = gc.isenabled()
        gc.disable()
        try:
            await self._relist()
        finally:
            if paused:
                gc.enable()

    async def _relist(self) -> None:
        # Into an empty cache every object is simply ADDED, page by page; otherwise the whole
        # collection is gathered first to find what disappeared.
        streaming = not self.cache
        fresh: dict[str, tuple[T, str]] = {}
        token = ""
        list_rv = ""
        while True:
            params = {"limit": str(self.page_size)}
            if token:
                params["continue"] = token
            if self.label_selector:
                params["labelSelector"] = self.label_selector
            body = await self._get(params)
            try:
                page = _LIST.decode(body)
            except msgspec.DecodeError as e:
                raise KubeDecodeError(f"undecodable list of {self.path}: {e}") from e
            items = []
            for raw in page.items:
                try:
                    items.append(self._decode_item(raw))
                except msgspec.DecodeError as e:
                    # One malformed object must not blind the cache to all the others.
                    self._undecodable(e, raw)
            del body
            if streaming:
                self._reconcile_page(items)
            else:
                fresh.update((key, (obj, rv)) for key, obj, rv in items)
            list_rv = list_rv or page.metadata.resourceVersion
            token = page.metadata.continue_
            if not token:
                break
        self.status.lists += 1
        if not streaming:
            self._reconcile(fresh)
        self.status.resource_version = list_rv
        self.status.synced = True
        self.synced.set()
        self._succeeded()

    def _decode_item(self, raw: msgspec.Raw | str | bytes) -> tuple[str, T, str]:
        meta = _META.decode(raw).metadata
        key = f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name
        obj = self.item_decoder.decode(raw)
        if self.transform is not None:
            obj = self.transform(obj)
        return key, obj, meta.resourceVersion

    def _reconcile_page(self, items: list[tuple[str, T, str]]) -> None:
        for key, obj, rv in items:
            previous = self.cache.get(key)
            self.cache[key] = obj
            self._set_version(key, obj, rv)
            if previous is None:
                self._deliver(CacheEvent("ADDED", key, obj, None, synthetic=True))
            else:  # listed twice (a page boundary moved): the later copy wins
                self._deliver(CacheEvent("MODIFIED", key, obj, previous, synthetic=True))

    def _set_version(self, key: str, obj: T, rv: str) -> None:
        # Items that carry their own resourceVersion need no second copy of it.
        meta = getattr(obj, "metadata", None)
        if getattr(meta, "resource_version", None) == rv:
            self._versions.pop(key, None)
        else:
            self._versions[key] = rv

    def _version(self, key: str) -> str | None:
        found = self._versions.get(key)
        if found is not None:
            return found
        meta = getattr(self.cache.get(key), "metadata", None)
        rv = getattr(meta, "resource_version", None)
        return rv if isinstance(rv, str) else None

    def _undecodable(self, error: msgspec.DecodeError, raw: bytes | msgspec.Raw) -> None:
        self.status.undecodable += 1
        try:
            meta = _META.decode(raw).metadata
            name = f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name
        except msgspec.DecodeError:
            name = "?"
        self.status.last_error = f"skipped undecodable object {name} in {self.path}: {error}"
        log.error("%s", self.status.last_error)

    def _reconcile(self, fresh: dict[str, tuple[T, str]]) -> None:
        for key in [k for k in self.cache if k not in fresh]:
            old = self.cache.pop(key)
            self._versions.pop(key, None)
            self.status.synthetic_deletes += 1
            self._deliver(CacheEvent("DELETED", key, None, old, synthetic=True))
        for key, (obj, rv) in fresh.items():
            previous = self.cache.get(key)
            if previous is None:
                self.cache[key] = obj
                self._set_version(key, obj, rv)
                self._deliver(CacheEvent("ADDED", key, obj, None, synthetic=True))
            elif self._version(key) != rv:
                self.cache[key] = obj
                self._set_version(key, obj, rv)
                self._deliver(CacheEvent("MODIFIED", key, obj, previous, synthetic=True))

    def _deliver(self, event: CacheEvent[T]) -> None:
        self.status.events += 1
        try:
            self.handler(event)
        except Exception:
            # A consumer bug must not break the cache; it is logged with the object key.
            log.exception("%s: handler failed on %s %s", self.path, event.type, event.key)

    async def watch_once(self) -> None:
        """One watch connection from the current resourceVersion until the server ends it."""
        params = {
            "watch": "1",
            "resourceVersion": self.status.resource_version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self.watch_timeout),
        }
        if self.label_selector:
            params["labelSelector"] = self.label_selector
        self.status.watches += 1
        timeout = httpx2.Timeout(self.watch_timeout + 30.0, connect=5.0)
        try:
            async with self.http.stream(
                "GET", self.path, params=params, timeout=timeout
            ) as response:
                if response.status_code >= 400:
                    body = await response.aread()
                    raise error_from_response(response, body)
                # Connected: the API server is reachable again, so health recovers now rather
                # than when this watch ends minutes later.
                self._succeeded()
                async for line in response.aiter_lines():
                    if line:
                        self._on_line(line)
        except httpx2.TimeoutException as e:
            raise KubeUnavailable(f"watch of {self.path} timed out: {e!r}") from e
        except httpx2.TransportError as e:
            raise KubeUnavailable(f"watch of {self.path} dropped: {e!r}") from e

    def _on_line(self, line: str) -> None:
        try:
            event = _EVENT.decode(line)
            if event.type == "ERROR":
                status: dict[str, Any] = msgspec.json.decode(event.object)
                code = int(status.get("code", 500))
                raise error_from_status(code, bytes(event.object))
            meta = _META.decode(event.object).metadata
            if event.type == "BOOKMARK":
                self.status.resource_version = meta.resourceVersion
                return
        except msgspec.DecodeError as e:
            raise KubeDecodeError(f"undecodable watch event on {self.path}: {e}") from e
        try:
            obj = self.item_decoder.decode(event.object)
        except msgspec.DecodeError as e:
            # One malformed object must not blind the cache to all the others.
            self._undecodable(e, event.object)
            return
        if self.transform is not None:
            obj = self.transform(obj)
        key = f"{meta.namespace}/{meta.name}" if meta.namespace else meta.name
        self.status.resource_version = meta.resourceVersion
        if event.type == "DELETED":
            old = self.cache.pop(key, None)
            self._versions.pop(key, None)
            self._deliver(CacheEvent("DELETED", key, None, old if old is not None else obj))
        elif event.type in ("ADDED", "MODIFIED"):
            old = self.cache.get(key)
            self.cache[key] = obj
            self._set_version(key, obj, meta.resourceVersion)
            self._deliver(CacheEvent("ADDED" if old is None else "MODIFIED", key, obj, old))
        else:
            raise KubeDecodeError(f"unknown watch event type {event.type!r} on {self.path}")

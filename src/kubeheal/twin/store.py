"""The cluster twin's object store: what etcd plus the generic API registry do in Kubernetes.

Holds every object as its serialized JSON (compact: 150,000 pods fit in a few hundred MB) with
a small index record (labels, selectable fields, owners). Implements the semantics clients rely
on: uid, a global monotonically increasing resourceVersion, generation, optimistic concurrency
(409 on stale updates), `limit`/`continue` paging, watches from a resourceVersion with a bounded
history (410 Gone once compacted), finalizers and deletionTimestamp, owner-reference garbage
collection (background, foreground, orphan) and dry runs.

Thread-safe: one re-entrant lock guards every read and write, so the HTTP server, the
simulation and tests may share a store. Watchers are called synchronously under that lock and
must only buffer (see `Watcher`, with the stored records and change events, in
`kubeheal.twin.watch`).
"""

from __future__ import annotations

import base64
import binascii
import collections
import logging
import random
import sys
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson
from sortedcontainers import SortedList

from kubeheal.twin.clock import Clock, format_time
from kubeheal.twin.errors import (
    AlreadyExists,
    ApiError,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotFound,
)
from kubeheal.twin.resources import ResourceRegistry, ResourceType
from kubeheal.twin.watch import Matcher, Stored, Watcher, WatchEvent

__all__ = [
    "DEFAULT_NAMESPACES",
    "AdmissionPlugin",
    "ListResult",
    "Matcher",
    "ObjectStore",
    "Stored",
    "WatchEvent",
    "Watcher",
]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_NAME_SUFFIX_CHARS = "bcdfghjklmnpqrstvwxz2456789"
_intern = sys.intern


AdmissionPlugin = Callable[[ResourceType, Obj, Obj | None], None]
"""``(rtype, new object, stored object or None on create)``: change it or raise."""


@dataclass(slots=True, frozen=True)
class ListResult:
    """One page of a list."""

    items: list[bytes]
    resource_version: int
    continue_token: str | None
    remaining: int | None


@dataclass(slots=True)
class _Table:
    rtype: ResourceType
    objects: dict[str, Stored] = field(default_factory=dict)
    keys: SortedList = field(default_factory=SortedList)


def _encode_continue(rv: int, last_key: str) -> str:
    payload = orjson.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": last_key})
    return base64.urlsafe_b64encode(payload).decode().rstrip("=")


def _decode_continue(token: str) -> tuple[int, str]:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = orjson.loads(base64.urlsafe_b64decode(padded))
        return int(data["rv"]), str(data["start"])
    except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        raise BadRequest(f"invalid continue token {token!r}: not one this server issued") from None


class ObjectStore:
    """All objects of the twin, with Kubernetes API semantics. See the module docstring."""

    def __init__(
        self,
        *,
        clock: Clock,
        registry: ResourceRegistry | None = None,
        history_size: int = 50_000,
        seed: int = 0,
        create_default_namespaces: bool = True,
    ) -> None:
        self.clock = clock
        # Each store serves its own types: CustomResourceDefinitions add to them.
        self.registry = registry if registry is not None else ResourceRegistry()
        self._lock = threading.RLock()
        self._tables: dict[ResourceType, _Table] = {t: _Table(t) for t in self.registry}
        self._rv = 0
        self._history: collections.deque[WatchEvent] = collections.deque(maxlen=history_size)
        self._compacted_rv = 0
        self._watchers: list[Watcher] = []
        self._by_uid: dict[str, tuple[ResourceType, str]] = {}
        self._dependents: dict[str, set[tuple[ResourceType, str]]] = {}
        self._rng = random.Random(seed)
        self._event_index: dict[tuple[str, str, str], str] = {}
        self.listeners: list[Callable[[WatchEvent], None]] = []
        self.admission: list[AdmissionPlugin] = []
        """Admission plugins run on every create and update, under the lock, before the
        object is stored (also for the controllers' writes: they go through the API in a real
        cluster); each may change the object or raise an `ApiError` to refuse it."""
        if create_default_namespaces:
            for ns in DEFAULT_NAMESPACES:
                self.create(
                    self.rtype("", "v1", "namespaces"),
                    {"metadata": {"name": ns}, "spec": {"finalizers": ["kubernetes"]}},
                )

    # ----------------------------------------------------------------- helpers

    @property
    def lock(self) -> threading.RLock:
        return self._lock

    @property
    def resource_version(self) -> int:
        return self._rv

    @property
    def compacted_rv(self) -> int:
        """Watches and continue tokens older than this answer 410 Gone."""
        return self._compacted_rv

    def rtype(self, group: str, version: str, plural: str) -> ResourceType:
        return self.registry.get(group, version, plural)

    def add_type(self, rtype: ResourceType) -> None:
        """Serve a new type (a CustomResourceDefinition's version), keeping stored objects of
        a type it replaces."""
        with self._lock:
            try:
                old: ResourceType | None = self.registry.get(
                    rtype.group, rtype.version, rtype.plural
                )
            except LookupError:
                old = None
            self.registry.add(rtype)
            table = self._tables.pop(old, None) if old is not None else None
            if table is None:
                self._tables[rtype] = _Table(rtype)
            else:
                table.rtype = rtype
                self._tables[rtype] = table

    def remove_type(self, rtype: ResourceType) -> None:
        """Stop serving a type; its objects are gone (a deleted CustomResourceDefinition)."""
        with self._lock:
            for key in list(self._tables.get(rtype, _Table(rtype)).keys):
                stored = self._tables[rtype].objects[key]
                self.delete(rtype, stored.namespace or None, stored.name)
                leftover = self._tables[rtype].objects.get(key)
                if leftover is not None:  # finalizers: a CRD deletion removes them anyway
                    self._tables[rtype].objects.pop(key)
                    self._tables[rtype].keys.discard(key)
            self._tables.pop(rtype, None)
            self.registry.remove(rtype)

    def _admit(self, rtype: ResourceType, obj: Obj, old: Obj | None) -> None:
        for plugin in self.admission:
            plugin(rtype, obj, old)

    @staticmethod
    def key_of(rtype: ResourceType, namespace: str | None, name: str) -> str:
        return f"{namespace}/{name}" if rtype.namespaced else name

    def _not_found(self, rtype: ResourceType, name: str) -> NotFound:
        what = rtype.plural if not rtype.group else f"{rtype.plural}.{rtype.group}"
        return NotFound(
            f'{what} "{name}" not found',
            details={"name": name, "group": rtype.group, "kind": rtype.plural},
        )

    def _next_rv(self) -> int:
        self._rv += 1
        return self._rv

    def _index(self, rtype: ResourceType, obj: Obj, raw: bytes, rv: int) -> Stored:
        meta = obj["metadata"]
        owners = tuple(
            str(ref.get("uid", "")) for ref in meta.get("ownerReferences") or () if ref.get("uid")
        )
        namespace = _intern(meta.get("namespace", "")) if rtype.namespaced else ""
        # Label keys/values and selectable field values repeat across thousands of objects
        # (app names, node names, phases): interning them keeps 150,000 pods in memory budget.
        return Stored(
            raw=raw,
            rv=rv,
            key=self.key_of(rtype, namespace, meta["name"]),
            namespace=namespace,
            name=meta["name"],
            uid=meta.get("uid", ""),
            labels={
                _intern(str(k)): _intern(str(v)) for k, v in (meta.get("labels") or {}).items()
            },
            fields={k: _intern(v) for k, v in rtype.fields_of(obj).items()},
            owner_uids=tuple(_intern(o) for o in owners),
            finalizers=tuple(meta.get("finalizers") or ()),
            deleting=bool(meta.get("deletionTimestamp")),
        )

    def _emit(self, event: WatchEvent) -> None:
        self._history.append(event)
        if len(self._history) == self._history.maxlen:
            self._compacted_rv = max(self._compacted_rv, self._history[0].rv - 1)
        for watcher in self._watchers:
            watcher.offer(event)
        for listener in self.listeners:
            try:
                listener(event)
            except Exception:
                log.exception("store listener failed on %s %s", event.type, event.new.key)

    def _put(self, table: _Table, stored: Stored, prev: Stored | None, kind: str) -> None:
        if prev is None:
            table.keys.add(stored.key)
        else:
            for owner in prev.owner_uids:
                self._dependents.get(owner, set()).discard((table.rtype, prev.key))
        table.objects[stored.key] = stored
        self._by_uid[stored.uid] = (table.rtype, stored.key)
        for owner in stored.owner_uids:
            self._dependents.setdefault(owner, set()).add((table.rtype, stored.key))
        self._emit(WatchEvent(kind, table.rtype, stored.rv, stored, prev))

    def _serialize(self, rtype: ResourceType, obj: Obj, rv: int) -> tuple[Obj, bytes]:
        obj["metadata"]["resourceVersion"] = str(rv)
        ordered: Obj = {"apiVersion": rtype.api_version, "kind": rtype.kind}
        ordered.update((k, v) for k, v in obj.items() if k not in ("apiVersion", "kind"))
        # orjson returns its growth buffer (often twice the length); an exact-size copy halves
        # the memory of a large store.
        return ordered, bytes(memoryview(orjson.dumps(ordered)))

    # ----------------------------------------------------------------- reads

    def get_stored(self, rtype: ResourceType, namespace: str | None, name: str) -> Stored:
        with self._lock:
            stored = self._tables[rtype].objects.get(self.key_of(rtype, namespace, name))
            if stored is None:
                raise self._not_found(rtype, name)
            return stored

    def get(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj:
        """The object as a fresh dict; NotFound if absent."""
        return self.get_stored(rtype, namespace, name).obj()

    def find(self, rtype: ResourceType, namespace: str | None, name: str) -> Obj | None:
        """The object, or None when absent."""
        with self._lock:
            stored = self._tables[rtype].objects.get(self.key_of(rtype, namespace, name))
            return None if stored is None else stored.obj()

    def get_by_uid(self, uid: str) -> tuple[ResourceType, Obj] | None:
        with self._lock:
            where = self._by_uid.get(uid)
            if where is None:
                return None
            rtype, key = where
            return rtype, self._tables[rtype].objects[key].obj()

    def iter_stored(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: Matcher | None = None,
        field_selector: Matcher | None = None,
        start_after: str | None = None,
    ) -> Iterator[Stored]:
        """Objects in key order (namespace/name), filtered. Not a snapshot: take the lock."""
        table = self._tables[rtype]
        if namespace is not None and rtype.namespaced:
            lo, hi = f"{namespace}/", f"{namespace}0"
        else:
            lo, hi = None, None
        if start_after is not None and (lo is None or start_after >= lo):
            keys = table.keys.irange(start_after, hi, inclusive=(False, False))
        else:
            keys = table.keys.irange(lo, hi, inclusive=(True, False))
        objects = table.objects
        for key in keys:
            stored = objects[key]
            if label_selector is not None and not label_selector.matches(stored.labels):
                continue
            if field_selector is not None and not field_selector.matches(stored.fields):
                continue
            yield stored

    def list_objects(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: Matcher | None = None,
        field_selector: Matcher | None = None,
    ) -> list[Obj]:
        """Every matching object as fresh dicts (for controllers and tests)."""
        with self._lock:
            return [
                s.obj()
                for s in self.iter_stored(
                    rtype, namespace, label_selector=label_selector, field_selector=field_selector
                )
            ]

    def count(self, rtype: ResourceType) -> int:
        return len(self._tables[rtype].objects)

    def list(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: Matcher | None = None,
        field_selector: Matcher | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ListResult:
        """One page of a list, as the API's `limit`/`continue` paging defines it.

        A continue token remembers the resourceVersion of the first page and the last key
        served; it expires (410) once history older than that version is compacted.
        """
        if limit is not None and limit < 0:
            raise BadRequest(f"limit must be a non-negative integer, got {limit}")
        with self._lock:
            start_after: str | None = None
            list_rv = self._rv
            if continue_token:
                list_rv, start_after = _decode_continue(continue_token)
                if list_rv < self._compacted_rv:
                    raise Gone(
                        "The provided continue parameter is too old to display a consistent "
                        "list result. You can start a new list without the continue parameter."
                    )
            items: list[bytes] = []
            last_key = ""
            more = False
            it = self.iter_stored(
                rtype,
                namespace,
                label_selector=label_selector,
                field_selector=field_selector,
                start_after=start_after,
            )
            for stored in it:
                if limit and len(items) >= limit:
                    more = True
                    break
                items.append(stored.raw)
                last_key = stored.key
            token = _encode_continue(list_rv, last_key) if more else None
            remaining: int | None = None
            if more and label_selector is None and field_selector is None:
                keys = self._tables[rtype].keys
                end = len(keys)
                if namespace is not None and rtype.namespaced:
                    end = keys.bisect_left(f"{namespace}0")
                remaining = end - keys.bisect_right(last_key)
            return ListResult(items, list_rv, token, remaining)

    # ----------------------------------------------------------------- watch

    def watch(
        self,
        rtype: ResourceType,
        namespace: str | None = None,
        *,
        label_selector: Matcher | None = None,
        field_selector: Matcher | None = None,
        resource_version: str | None = None,
        max_buffer: int = 200_000,
    ) -> Watcher:
        """Start a watch.

        With no resourceVersion (or "0") the watcher first gets a synthetic ADDED for each
        existing matching object, then every change. With a version it gets every change after
        it from history, or 410 Gone when that history has been compacted.
        """
        watcher = Watcher(
            rtype=rtype,
            namespace=namespace if rtype.namespaced else None,
            label_selector=label_selector,
            field_selector=field_selector,
            max_buffer=max_buffer,
        )
        with self._lock:
            if resource_version in (None, "", "0"):
                for stored in self.iter_stored(
                    rtype,
                    watcher.namespace,
                    label_selector=label_selector,
                    field_selector=field_selector,
                ):
                    watcher.buffer.append(("ADDED", stored.raw, stored.rv))
                watcher.last_rv = self._rv
            else:
                try:
                    since = int(resource_version)
                except ValueError:
                    raise BadRequest(
                        f"invalid resourceVersion {resource_version!r}: must be an integer"
                    ) from None
                if since < self._compacted_rv:
                    raise Gone(
                        f"too old resource version: {since} ({self._compacted_rv + 1})",
                        details={"causes": [{"reason": "ResourceVersionTooLarge"}]}
                        if since > self._rv
                        else None,
                    )
                for event in self._history:
                    if event.rv > since:
                        watcher.offer(event)
                watcher.last_rv = max(since, self._rv)
            self._watchers.append(watcher)
        return watcher

    def stop_watch(self, watcher: Watcher) -> None:
        with self._lock:
            if watcher in self._watchers:
                self._watchers.remove(watcher)
            watcher.close()

    def drop_watches(self) -> int:
        """Close every open watch (fault injection: clients must re-watch). Returns the count."""
        with self._lock:
            watchers, self._watchers = self._watchers, []
        for watcher in watchers:
            watcher.close()
        return len(watchers)

    def compact(self) -> int:
        """Forget all history up to now (fault injection: older watches and continues get 410)."""
        with self._lock:
            self._history.clear()
            self._compacted_rv = self._rv
            return self._rv

    # ----------------------------------------------------------------- writes

    def _check_namespace(self, rtype: ResourceType, namespace: str) -> None:
        if not rtype.namespaced:
            return
        ns_type = self.rtype("", "v1", "namespaces")
        ns = self._tables[ns_type].objects.get(namespace)
        if ns is None:
            raise NotFound(
                f'namespaces "{namespace}" not found',
                details={"name": namespace, "kind": "namespaces"},
            )
        if ns.deleting:
            raise ApiError(
                f"unable to create new content in namespace {namespace} because it is being "
                "terminated",
            )

    def _check_kind(self, rtype: ResourceType, obj: Obj) -> None:
        kind = obj.get("kind")
        if kind is not None and kind != rtype.kind:
            raise BadRequest(
                f"the object's kind {kind!r} does not match the resource "
                f"{rtype.plural!r} ({rtype.kind})"
            )
        api_version = obj.get("apiVersion")
        if api_version is not None and api_version != rtype.api_version:
            raise BadRequest(
                f"the object's apiVersion {api_version!r} does not match the resource "
                f"{rtype.plural!r} served at {rtype.api_version!r}"
            )

    def create(
        self,
        rtype: ResourceType,
        obj: Obj,
        *,
        namespace: str | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Create an object; AlreadyExists (409) if the name is taken."""
        if not isinstance(obj, dict):
            raise BadRequest(f"a {rtype.kind} must be a JSON object")
        self._check_kind(rtype, obj)
        meta = obj.get("metadata")
        if meta is None:
            meta = obj["metadata"] = {}
        if not isinstance(meta, dict):
            raise BadRequest("metadata must be an object")
        with self._lock:
            if rtype.namespaced:
                body_ns = meta.get("namespace")
                if namespace and body_ns and body_ns != namespace:
                    raise BadRequest(
                        "the namespace of the provided object does not match the namespace sent "
                        f"on the request ({body_ns!r} vs {namespace!r})"
                    )
                ns = namespace or body_ns or "default"
                self._check_namespace(rtype, ns)
                meta["namespace"] = ns
            else:
                meta.pop("namespace", None)
            name = meta.get("name")
            if not name:
                prefix = meta.get("generateName")
                if not prefix:
                    raise Invalid(
                        f"{rtype.kind} is invalid: metadata.name: Required value: name or "
                        "generateName is required",
                        details={"kind": rtype.kind, "causes": [{"field": "metadata.name"}]},
                    )
                name = prefix + "".join(self._rng.choice(_NAME_SUFFIX_CHARS) for _ in range(5))
                meta["name"] = name
            if not isinstance(name, str):
                raise Invalid(f"{rtype.kind} is invalid: metadata.name: must be a string")
            table = self._tables[rtype]
            key = self.key_of(rtype, meta.get("namespace"), name)
            if key in table.objects:
                what = rtype.plural if not rtype.group else f"{rtype.plural}.{rtype.group}"
                raise AlreadyExists(
                    f'{what} "{name}" already exists',
                    details={"name": name, "group": rtype.group, "kind": rtype.plural},
                )
            if meta.get("resourceVersion"):
                raise BadRequest("resourceVersion should not be set on objects to be created")
            self._admit(rtype, obj, None)
            meta["uid"] = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
            meta["creationTimestamp"] = format_time(self.clock.now())
            meta["generation"] = 1
            meta.pop("deletionTimestamp", None)
            if rtype.kind == "Namespace":
                obj.setdefault("status", {})["phase"] = "Active"
            if dry_run:
                obj["metadata"]["resourceVersion"] = str(self._rv)
                obj["apiVersion"], obj["kind"] = rtype.api_version, rtype.kind
                return obj
            rv = self._next_rv()
            obj, raw = self._serialize(rtype, obj, rv)
            self._put(table, self._index(rtype, obj, raw, rv), None, "ADDED")
            return obj

    def update(
        self,
        rtype: ResourceType,
        obj: Obj,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        dry_run: bool = False,
        require_rv: bool = False,
    ) -> Obj:
        """Replace an object (PUT), or only its status with `subresource="status"`.

        A resourceVersion in the body must match the stored one (409 Conflict otherwise). The
        main resource keeps the stored status; the status subresource keeps the stored spec
        and metadata. Generation increases when the spec changes.
        """
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict):
            raise BadRequest(f"a {rtype.kind} must be a JSON object with metadata")
        self._check_kind(rtype, obj)
        meta = obj["metadata"]
        name = meta.get("name")
        if not name:
            raise Invalid(f"{rtype.kind} is invalid: metadata.name: Required value")
        with self._lock:
            ns = (namespace or meta.get("namespace") or "default") if rtype.namespaced else None
            if rtype.namespaced and meta.get("namespace") not in (None, ns):
                raise BadRequest(
                    "the namespace of the provided object does not match the namespace sent on "
                    "the request"
                )
            table = self._tables[rtype]
            key = self.key_of(rtype, ns, name)
            old = table.objects.get(key)
            if old is None:
                raise self._not_found(rtype, name)
            sent_rv = meta.get("resourceVersion")
            if require_rv and not sent_rv:
                raise Invalid(
                    f"{rtype.kind} {name!r} is invalid: metadata.resourceVersion: Invalid value: "
                    "0: must be specified for an update"
                )
            if sent_rv and str(sent_rv) != str(old.rv):
                what = rtype.plural if not rtype.group else f"{rtype.plural}.{rtype.group}"
                raise Conflict(
                    f'Operation cannot be fulfilled on {what} "{name}": the object has been '
                    "modified; please apply your changes to the latest version and try again",
                    details={"name": name, "group": rtype.group, "kind": rtype.plural},
                )
            current = old.obj()
            new = self._merge_update(rtype, current, obj, subresource)
            if self.admission and not old.deleting:
                self._admit(rtype, new, old.obj())
            return self._commit(table, rtype, new, old, dry_run=dry_run)

    def _merge_update(
        self, rtype: ResourceType, current: Obj, incoming: Obj, subresource: str | None
    ) -> Obj:
        cur_meta = current["metadata"]
        if subresource == "status":
            new = current
            if "status" in incoming:
                new["status"] = incoming["status"]
            return new
        new = dict(incoming)
        meta = dict(incoming["metadata"])
        for immutable in ("uid", "creationTimestamp", "namespace", "deletionTimestamp"):
            if immutable in cur_meta:
                meta[immutable] = cur_meta[immutable]
            else:
                meta.pop(immutable, None)
        meta["generation"] = cur_meta.get("generation", 1)
        if rtype.has_status:
            if "status" in current:
                new["status"] = current["status"]
            else:
                new.pop("status", None)
        spec_before = {k: v for k, v in current.items() if k not in ("metadata", "status")}
        spec_after = {k: v for k, v in new.items() if k not in ("metadata", "status")}
        spec_before.pop("apiVersion", None)
        spec_before.pop("kind", None)
        spec_after.pop("apiVersion", None)
        spec_after.pop("kind", None)
        if spec_before != spec_after:
            meta["generation"] = int(meta["generation"]) + 1
        new["metadata"] = meta
        return new

    def _commit(
        self, table: _Table, rtype: ResourceType, new: Obj, old: Stored, *, dry_run: bool
    ) -> Obj:
        meta = new["metadata"]
        if old.deleting and not meta.get("finalizers"):
            if dry_run:
                return new
            return self._finalize_delete(table, rtype, old, new, propagation="Background")
        if dry_run:
            meta["resourceVersion"] = str(old.rv)
            new["apiVersion"], new["kind"] = rtype.api_version, rtype.kind
            return new
        rv = self._next_rv()
        new, raw = self._serialize(rtype, new, rv)
        self._put(table, self._index(rtype, new, raw, rv), old, "MODIFIED")
        return new

    def mutate(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        change: Callable[[Obj], Obj | None],
        *,
        subresource: str | None = None,
    ) -> Obj:
        """Read-modify-write under the lock: `change` edits the object (or returns a new one)."""
        with self._lock:
            current = self.get(rtype, namespace, name)
            result = change(current)
            new = current if result is None else result
            new["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            return self.update(rtype, new, namespace=namespace, subresource=subresource)

    def delete(
        self,
        rtype: ResourceType,
        namespace: str | None,
        name: str,
        *,
        propagation: str | None = None,
        preconditions: Mapping[str, str] | None = None,
        dry_run: bool = False,
    ) -> Obj:
        """Delete an object, or mark it for deletion while finalizers remain.

        Returns the deleted object (or the object now carrying a deletionTimestamp).
        Dependents are garbage-collected per `propagation`: Background (default) and
        Foreground delete them (Foreground first), Orphan removes their owner reference.
        """
        if propagation not in (None, "Background", "Foreground", "Orphan"):
            raise BadRequest(
                f"propagationPolicy {propagation!r} is not one of Background, Foreground, Orphan"
            )
        with self._lock:
            table = self._tables[rtype]
            key = self.key_of(rtype, namespace, name)
            old = table.objects.get(key)
            if old is None:
                raise self._not_found(rtype, name)
            if preconditions:
                if preconditions.get("uid") and preconditions["uid"] != old.uid:
                    raise Conflict(
                        f"Precondition failed: UID in precondition: {preconditions['uid']}, "
                        f"UID in object meta: {old.uid}"
                    )
                want_rv = preconditions.get("resourceVersion")
                if want_rv and str(want_rv) != str(old.rv):
                    raise Conflict(
                        f"Precondition failed: ResourceVersion in precondition: {want_rv}, "
                        f"ResourceVersion in object meta: {old.rv}"
                    )
            current = old.obj()
            if dry_run:
                return current
            if old.finalizers:
                if old.deleting:
                    return current
                current["metadata"]["deletionTimestamp"] = format_time(self.clock.now())
                current["metadata"]["deletionGracePeriodSeconds"] = 0
                if propagation == "Orphan":
                    self._orphan_dependents(old.uid)
                rv = self._next_rv()
                current, raw = self._serialize(rtype, current, rv)
                self._put(table, self._index(rtype, current, raw, rv), old, "MODIFIED")
                return current
            return self._finalize_delete(
                table, rtype, old, current, propagation=propagation or "Background"
            )

    def _finalize_delete(
        self, table: _Table, rtype: ResourceType, old: Stored, last: Obj, *, propagation: str
    ) -> Obj:
        if propagation == "Foreground":
            self._collect_dependents(old.uid, propagation="Foreground")
        del table.objects[old.key]
        table.keys.discard(old.key)
        self._by_uid.pop(old.uid, None)
        for owner in old.owner_uids:
            self._dependents.get(owner, set()).discard((rtype, old.key))
        rv = self._next_rv()
        last, raw = self._serialize(rtype, last, rv)
        self._emit(WatchEvent("DELETED", rtype, rv, self._index(rtype, last, raw, rv), old))
        if rtype.kind == "Namespace":
            self._delete_namespace_contents(old.name)
        if propagation == "Orphan":
            self._orphan_dependents(old.uid)
        else:
            self._collect_dependents(old.uid, propagation="Background")
        return last

    def _collect_dependents(self, uid: str, *, propagation: str) -> None:
        for dep_type, dep_key in sorted(
            self._dependents.pop(uid, set()), key=lambda d: (d[0].plural, d[1])
        ):
            dep = self._tables[dep_type].objects.get(dep_key)
            if dep is None:
                continue
            alive = [o for o in dep.owner_uids if o != uid and o in self._by_uid]
            if alive:
                continue
            try:
                self.delete(dep_type, dep.namespace or None, dep.name, propagation=propagation)
            except ApiError:
                log.exception("garbage collection of %s %s failed", dep_type.kind, dep_key)

    def _orphan_dependents(self, uid: str) -> None:
        for dep_type, dep_key in sorted(
            self._dependents.pop(uid, set()), key=lambda d: (d[0].plural, d[1])
        ):
            dep = self._tables[dep_type].objects.get(dep_key)
            if dep is None:
                continue
            obj = dep.obj()
            refs = obj["metadata"].get("ownerReferences") or []
            obj["metadata"]["ownerReferences"] = [r for r in refs if r.get("uid") != uid]
            if not obj["metadata"]["ownerReferences"]:
                del obj["metadata"]["ownerReferences"]
            self._commit(self._tables[dep_type], dep_type, obj, dep, dry_run=False)

    def _delete_namespace_contents(self, namespace: str) -> None:
        for rtype, table in self._tables.items():
            if not rtype.namespaced:
                continue
            for stored in list(self.iter_stored(rtype, namespace)):
                if stored.key in table.objects:
                    self._finalize_delete(
                        table, rtype, stored, stored.obj(), propagation="Background"
                    )

    # ----------------------------------------------------------------- events

    def record_event(
        self,
        involved: Mapping[str, Any],
        *,
        reason: str,
        message: str,
        type_: str = "Normal",
        component: str = "kubelet",
    ) -> Obj:
        """Record a core/v1 Event about `involved`, counting repeats as Kubernetes does."""
        meta = involved.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        uid = str(meta.get("uid", ""))
        events = self.rtype("", "v1", "events")
        now = format_time(self.clock.now())
        with self._lock:
            existing_name = self._event_index.get((uid, reason, message))
            if existing_name is not None:
                stored = self._tables[events].objects.get(f"{namespace}/{existing_name}")
                if stored is not None:
                    obj = stored.obj()
                    obj["count"] = int(obj.get("count", 1)) + 1
                    obj["lastTimestamp"] = now
                    return self._commit(self._tables[events], events, obj, stored, dry_run=False)
            name = f"{meta.get('name', 'unknown')}.{self._rng.getrandbits(64):016x}"
            event: Obj = {
                "metadata": {"name": name, "namespace": namespace},
                "involvedObject": {
                    "kind": involved.get("kind", ""),
                    "namespace": meta.get("namespace", ""),
                    "name": meta.get("name", ""),
                    "uid": uid,
                    "apiVersion": involved.get("apiVersion", ""),
                    "resourceVersion": str(meta.get("resourceVersion", "")),
                },
                "reason": reason,
                "message": message,
                "type": type_,
                "count": 1,
                "firstTimestamp": now,
                "lastTimestamp": now,
                "source": {"component": component},
                "reportingComponent": component,
            }
            self._event_index[(uid, reason, message)] = name
            ns_exists = namespace in self._tables[self.rtype("", "v1", "namespaces")].objects
            if not ns_exists:
                return event
            return self.create(events, event)

    # ----------------------------------------------------------------- bulk

    def load(self, objects: Iterable[Obj]) -> int:
        """Create many objects (namespaces first). Returns how many were created."""
        ordered = sorted(objects, key=lambda o: 0 if o.get("kind") == "Namespace" else 1)
        count = 0
        for obj in ordered:
            rtype = self.registry.by_kind(str(obj.get("apiVersion", "v1")), str(obj.get("kind")))
            self.create(rtype, obj)
            count += 1
        return count

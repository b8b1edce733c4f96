"""What a watch on the twin's store sees: the stored records, the changes the store keeps
in its history, and the per-client `Watcher` that filters and buffers them.

The store (`kubeheal.twin.store.ObjectStore`) calls `Watcher.offer` under its lock; a watcher
only buffers, so a slow client never holds the store.
"""

from __future__ import annotations

import collections
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import orjson

from kubeheal.twin.errors import ApiError, Gone
from kubeheal.twin.resources import ResourceType

__all__ = ["Matcher", "Stored", "WatchEvent", "Watcher"]

Obj = dict[str, Any]


class Matcher(Protocol):
    """A parsed label or field selector."""

    def matches(self, values: Mapping[str, str], /) -> bool: ...


@dataclass(slots=True)
class Stored:
    """One object as stored: its JSON and what indexes and selectors need."""

    raw: bytes
    rv: int
    key: str
    namespace: str
    name: str
    uid: str
    labels: dict[str, str]
    fields: dict[str, str]
    owner_uids: tuple[str, ...]
    finalizers: tuple[str, ...]
    deleting: bool

    def obj(self) -> Obj:
        """A fresh, mutable copy of the object."""
        value: Obj = orjson.loads(self.raw)
        return value


@dataclass(slots=True, frozen=True)
class WatchEvent:
    """A change as history keeps it: the new state (or last state for DELETED)."""

    type: str
    rtype: ResourceType
    rv: int
    new: Stored
    prev: Stored | None


class Watcher:
    """A watch on one resource type, filtered by namespace and selectors.

    The store calls `offer` under its lock; the watcher translates the change into what this
    client should see (an object leaving the selector is DELETED for it) and buffers it.
    A consumer sets `wake` to be told when something arrives, drains with `drain`.
    If the buffer exceeds `max_buffer` the watch is closed with `error` set (as Kubernetes
    terminates watchers that cannot keep up).
    """

    def __init__(
        self,
        *,
        rtype: ResourceType,
        namespace: str | None,
        label_selector: Matcher | None,
        field_selector: Matcher | None,
        max_buffer: int = 200_000,
    ) -> None:
        self.rtype = rtype
        self.namespace = namespace
        self.label_selector = label_selector
        self.field_selector = field_selector
        self.max_buffer = max_buffer
        self.buffer: collections.deque[tuple[str, bytes, int]] = collections.deque()
        self.closed = False
        self.error: ApiError | None = None
        self.wake: Callable[[], None] | None = None
        self.last_rv = 0

    def _matches(self, stored: Stored) -> bool:
        if self.namespace is not None and stored.namespace != self.namespace:
            return False
        if self.label_selector is not None and not self.label_selector.matches(stored.labels):
            return False
        return self.field_selector is None or self.field_selector.matches(stored.fields)

    def offer(self, event: WatchEvent) -> None:
        """Take one change (called by the store, under its lock)."""
        if self.closed or event.rtype != self.rtype:
            return
        now_matches = self._matches(event.new)
        if event.type == "MODIFIED" and event.prev is not None:
            before = self._matches(event.prev)
            if before and not now_matches:
                self._push("DELETED", event.new.raw, event.rv)
            elif now_matches and not before:
                self._push("ADDED", event.new.raw, event.rv)
            elif now_matches:
                self._push("MODIFIED", event.new.raw, event.rv)
        elif now_matches:
            self._push(event.type, event.new.raw, event.rv)
        self.last_rv = max(self.last_rv, event.rv)

    def _push(self, kind: str, raw: bytes, rv: int) -> None:
        if len(self.buffer) >= self.max_buffer:
            self.error = Gone("watch closed: the client did not keep up with the event stream")
            self.close()
            return
        self.buffer.append((kind, raw, rv))
        if self.wake is not None:
            self.wake()

    def drain(self) -> list[tuple[str, bytes, int]]:
        """Everything buffered so far, oldest first."""
        out = list(self.buffer)
        self.buffer.clear()
        return out

    def close(self) -> None:
        self.closed = True
        if self.wake is not None:
            self.wake()

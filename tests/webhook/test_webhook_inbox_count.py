"""The inbox's pending figure under concurrency: a recount that runs while another thread's
commit is between the database and the in-memory figure must neither count that commit
twice nor miss it (the flood test saw 10,500-11,000 pending with 10,000 stored).

The interleaving is forced, not hoped for: the writer is held right after its commit (its
transaction wrapped), the recount starts in another thread, and the writer is let go only
once the recount has finished or is waiting for the writer."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any

import pytest

from kubeheal.store.inbox import AlertInbox, InboxAlert

T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
WAIT = 30.0  # a bound on waiting for the other thread's state, never reached when it works


def _alerts(first: int, count: int) -> list[InboxAlert]:
    return [
        InboxAlert(
            fingerprint=f"{i:016x}",
            status="firing",
            starts_at=T0,
            payload={"labels": {"alertname": "HighLatency", "instance": f"10.0.0.{i}"}},
        )
        for i in range(first, first + count)
    ]


class _HoldAfterCommit:
    """Wraps the inbox's transactions: the first write is held after its commit."""

    def __init__(self, inbox: AlertInbox) -> None:
        self._inner = inbox._tx
        self.committed = threading.Event()
        self.release = threading.Event()
        self._armed = True

    @contextlib.contextmanager
    def __call__(self, *, write: bool) -> Iterator[Any]:
        with self._inner(write=write) as session:
            yield session
        if write and self._armed:
            self._armed = False
            self.committed.set()
            assert self.release.wait(WAIT), "the test never let the writer go"


class _Watched:
    """A lock that says when someone has to wait for it."""

    def __init__(self, lock: Any, contended: threading.Event) -> None:
        self._lock = lock
        self._contended = contended

    def __enter__(self) -> None:
        if not self._lock.acquire(blocking=False):
            self._contended.set()
            self._lock.acquire()

    def __exit__(
        self, kind: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._lock.release()


def _in_thread(work: Callable[[], object], done: threading.Event) -> tuple[threading.Thread, list]:
    failures: list[BaseException] = []

    def run() -> None:
        try:
            work()
        except BaseException as e:  # reported by the test
            failures.append(e)
        finally:
            done.set()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, failures


@pytest.mark.parametrize("change", ["add", "mark_processed"])
def test_a_recount_during_a_commit_counts_it_exactly_once(
    inbox: AlertInbox, monkeypatch: pytest.MonkeyPatch, change: str
) -> None:
    inbox.add(_alerts(0, 8), received_at=T0)
    assert inbox.refresh_pending_count() == 8
    hold = _HoldAfterCommit(inbox)
    monkeypatch.setattr(inbox, "_tx", hold)
    progressed = threading.Event()  # the recount finished, or waits for the writer
    # The lock that serialises a change with the update of the figure: waiting for it is the
    # recount doing the right thing (before it existed, the recount finished at once).
    monkeypatch.setattr(inbox, "_change_lock", _Watched(inbox._change_lock, progressed))
    seqs = [r.seq for r in inbox.pending(limit=5)]
    expected = 13 if change == "add" else 3

    def writer() -> object:
        if change == "add":
            return inbox.add(_alerts(100, 5), received_at=T0 + timedelta(seconds=1))
        return inbox.mark_processed(seqs, at=T0 + timedelta(seconds=1))

    writing, writer_failed = _in_thread(writer, threading.Event())
    assert hold.committed.wait(WAIT), "the writer did not commit"

    counting, counter_failed = _in_thread(inbox.refresh_pending_count, progressed)
    assert progressed.wait(WAIT), "the recount neither finished nor waited"
    hold.release.set()
    writing.join(WAIT)
    counting.join(WAIT)
    assert not writing.is_alive() and not counting.is_alive()
    assert writer_failed == counter_failed == []

    stored = len(inbox.pending(limit=1000))
    assert stored == expected
    assert inbox.pending_count == stored, "the in-memory figure drifted from the database"

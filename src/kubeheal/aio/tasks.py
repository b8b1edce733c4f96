"""Guarded tasks: every long-lived task is named, logged when it fails, and reaped on stop.

No bare `asyncio.create_task` elsewhere in kubeheal: a task that dies must say so, and
shutdown must cancel and wait for everything it started. :class:`Tasks` is the set a
component owns; :func:`named_task` is one task whose holder awaits it (a step shielded from
its caller's cancellation, a loop the holder cancels and awaits), named so that it shows in
task dumps and logs.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any, TypeVar

__all__ = ["Tasks", "named_task"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")


def named_task(name: str, coro: Coroutine[Any, Any, _T]) -> asyncio.Task[_T]:
    """Run ``coro`` as the task ``name`` in the running loop; the caller awaits its outcome
    (and cancels it when it must stop early). A task nobody awaits belongs in :class:`Tasks`."""
    if not name:
        coro.close()
        raise ValueError("a task needs a name")
    return asyncio.get_running_loop().create_task(coro, name=name)


class Tasks:
    """A set of named tasks with failure logging and cancel-and-wait shutdown."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()
        self.failures: list[tuple[str, BaseException]] = []

    def spawn(
        self, name: str, coro: Coroutine[Any, Any, _T], *, awaited: bool = False
    ) -> asyncio.Task[_T]:
        """Run ``coro`` as the task ``name``. A task that fails is logged and recorded in
        `failures`, unless it is ``awaited``: then whoever holds it reads its outcome (e.g.
        a probe whose error is its answer); it is still cancelled by `stop`."""
        task = named_task(name, coro)
        self._tasks.add(task)
        task.add_done_callback(self._reap_awaited if awaited else self._reap)
        return task

    def _reap_awaited(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)

    def _reap(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if task.cancelled():
            return
        exc = task.exception()
        if exc is not None:
            self.failures.append((task.get_name(), exc))
            log.error("task %s failed: %r", task.get_name(), exc, exc_info=exc)

    def __len__(self) -> int:
        return len(self._tasks)

    def names(self) -> list[str]:
        """The names of the tasks still running, sorted."""
        return sorted(task.get_name() for task in self._tasks)

    async def stop(self, *, timeout: float = 10.0) -> None:
        """Cancel every task and wait (at most `timeout` seconds) for them to finish."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            _done, pending = await asyncio.wait(tasks, timeout=timeout)
            for task in pending:
                log.error("task %s did not stop within %.0fs", task.get_name(), timeout)

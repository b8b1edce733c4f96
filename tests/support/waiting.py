"""Waiting on a condition with a deadline: the one polling helper of the test suite.

A test that waits for the twin, the operator or a real server polls ``predicate`` until it
returns something truthy (which is returned) and fails with an ``AssertionError`` naming
``what`` when the deadline passes. The predicate is always tried once more after the deadline,
so a slow machine that wakes late still sees the final state. Deadlines are generous (the
machine may be loaded); assert on outcomes, not on how long they took.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Generic, TypeVar

__all__ = ["DEADLINE", "until", "until_sync"]

T = TypeVar("T")

DEADLINE = 30.0
"""Default wall-clock deadline of a wait, in seconds."""


class _Poll(Generic[T]):
    """One wait: tries the predicate and says when it is time to fail."""

    def __init__(
        self,
        predicate: Callable[[], T],
        *,
        what: str,
        timeout: float,
        ignore: tuple[type[BaseException], ...],
        context: Callable[[], str] | None,
    ) -> None:
        self.predicate, self.what, self.timeout = predicate, what, timeout
        self.ignore, self.context = ignore, context
        self.deadline = time.monotonic() + timeout

    def check(self) -> T | None:
        """The predicate's value when truthy, else None; raises once the deadline passed."""
        error: BaseException | None = None
        try:
            value = self.predicate()
        except self.ignore as e:  # "not yet", e.g. a server that is still starting
            value, error = None, e
        if value:
            return value
        if time.monotonic() >= self.deadline:
            message = f"timed out after {self.timeout:g}s waiting for {self.what}"
            if error is not None:
                message += f" (last error: {type(error).__name__}: {error})"
            if self.context is not None:
                message += f"\n{self.context()}"
            raise AssertionError(message)
        return None


async def until(
    predicate: Callable[[], T],
    *,
    what: str,
    timeout: float = DEADLINE,
    every: float = 0.05,
    ignore: tuple[type[BaseException], ...] = (),
    context: Callable[[], str] | None = None,
) -> T:
    """Poll ``predicate`` in the event loop until it is truthy; return its value.

    ``ignore`` lists exception types that mean "not yet" (the last one is named on timeout);
    ``context`` adds a description of the state (e.g. the operator's timeline) to the failure.
    """
    poll = _Poll(predicate, what=what, timeout=timeout, ignore=ignore, context=context)
    while (value := poll.check()) is None:
        await asyncio.sleep(every)
    return value


def until_sync(
    predicate: Callable[[], T],
    *,
    what: str,
    timeout: float = DEADLINE,
    every: float = 0.2,
    ignore: tuple[type[BaseException], ...] = (),
    context: Callable[[], str] | None = None,
) -> T:
    """:func:`until` for tests without an event loop (a subprocess, a server in a thread)."""
    poll = _Poll(predicate, what=what, timeout=timeout, ignore=ignore, context=context)
    while (value := poll.check()) is None:
        time.sleep(every)
    return value

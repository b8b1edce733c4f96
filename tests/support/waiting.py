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
from typing import TypeVar

__all__ = ["DEADLINE", "until", "until_sync"]

T = TypeVar("T")

DEADLINE = 30.0
"""Default wall-clock deadline of a wait, in seconds."""


def _timed_out(
    timeout: float, what: str, error: BaseException | None, context: Callable[[], str] | None
) -> AssertionError:
    message = f"timed out after {timeout:g}s waiting for {what}"
    if error is not None:
        message += f" (last error: {type(error).__name__}: {error})"
    if context is not None:
        message += f"\n{context()}"
    return AssertionError(message)


def _try(
    predicate: Callable[[], T], ignore: tuple[type[BaseException], ...]
) -> tuple[T | None, BaseException | None]:
    try:
        return predicate(), None
    except ignore as e:  # "not yet", e.g. a server that is still starting
        return None, e


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
    deadline = time.monotonic() + timeout
    while True:
        value, error = _try(predicate, ignore)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, what, error, context)
        await asyncio.sleep(every)


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
    deadline = time.monotonic() + timeout
    while True:
        value, error = _try(predicate, ignore)
        if value:
            return value
        if time.monotonic() >= deadline:
            raise _timed_out(timeout, what, error, context)
        time.sleep(every)

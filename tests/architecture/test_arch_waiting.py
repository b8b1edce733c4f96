"""The suite's one polling helper (tests/support/waiting.py) waits, returns and fails clearly."""

from __future__ import annotations

import pytest

from support import until, until_sync


async def test_until_returns_the_first_truthy_value() -> None:
    calls = iter([None, 0, [], "ready"])
    assert await until(lambda: next(calls), what="readiness", every=0) == "ready"


async def test_until_names_what_it_waited_for_the_last_error_and_the_context() -> None:
    def refused() -> bool:
        raise ConnectionError("refused")

    with pytest.raises(AssertionError) as failure:
        await until(
            refused,
            what="the server",
            timeout=0.05,
            every=0.01,
            ignore=(ConnectionError,),
            context=lambda: "timeline: nothing",
        )
    assert str(failure.value) == (
        "timed out after 0.05s waiting for the server "
        "(last error: ConnectionError: refused)\ntimeline: nothing"
    )


async def test_until_lets_other_errors_through() -> None:
    def broken() -> bool:
        raise KeyError("status")

    with pytest.raises(KeyError):
        await until(broken, what="the status", timeout=5, ignore=(ConnectionError,))


def test_until_sync_tries_once_more_at_the_deadline() -> None:
    calls: list[int] = []

    def late() -> bool:
        calls.append(1)
        return len(calls) >= 2

    # the second try comes after the deadline (the wait outslept it) and still counts
    assert until_sync(late, what="a late answer", timeout=0.02, every=0.1) is True
    assert len(calls) == 2
    with pytest.raises(AssertionError, match="waiting for never"):
        until_sync(lambda: False, what="never", timeout=0.05, every=0.01)

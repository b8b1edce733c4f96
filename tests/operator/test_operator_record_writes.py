"""End to end: the Event after an action is retried through API faults rather than dropped,
and one that cannot be written is counted in kubeheal_record_writes_failed_total; the
action's outcome stays what it was."""

from __future__ import annotations

from typing import Any

from kubeheal.store import records as rec

EVENTS = "/api/v1/namespaces/demo/events"


def _failed(r: Any, what: str) -> float | None:
    value: float | None = r.h.operator.metrics.registry.get_sample_value(
        "kubeheal_record_writes_failed_total", {"what": what}
    )
    return value


def _fault_events(r: Any) -> Any:
    faults = r.h.twin.api_faults
    faults.configure(
        error_rate=1.0,
        error_codes=(503,),
        retry_after_seconds=1,
        verbs=("POST",),
        path_prefix=EVENTS,
    )
    return faults


async def test_the_event_after_a_rollback_is_retried_through_a_503(kh: Any) -> None:
    async with kh.run() as r:
        faults = _fault_events(r)
        r.inject(kh.BAD_ROLLOUT)
        # the first try of the Event meets the 503; then the API recovers
        await r.until(lambda: faults.errors_injected >= 1, what="the Event's first try to fail")
        faults.reset()
        events = await r.until(
            lambda: r.events("demo", reason="KubehealAction", name="sample-app"),
            what="the Event, written by a retry",
        )
        assert len(events) == 1 and "rollback_deployment" in events[0]["message"]
        done = await r.until(r.closed, what="the incident to close")
        assert done.state is rec.IncidentState.RESOLVED, r.describe()
        assert [a.state for a in r.actions(done)] == [rec.ActionState.SUCCEEDED]
        assert kh.last_action_note(r.deployment()) is not None
        assert _failed(r, "event") == 0


async def test_an_event_that_cannot_be_written_is_counted_not_a_failure(kh: Any) -> None:
    async with kh.run() as r:
        faults = _fault_events(r)
        r.inject(kh.BAD_ROLLOUT)
        await r.until(lambda: _failed(r, "event") == 1, what="the Event to be given up")
        assert faults.errors_injected >= 2  # it was tried again before being given up
        done = await r.until(r.closed, what="the incident to close")
        faults.reset()
        assert done.state is rec.IncidentState.RESOLVED, r.describe()
        assert [a.state for a in r.actions(done)] == [rec.ActionState.SUCCEEDED]
        assert r.events("demo", reason="KubehealAction") == []
        assert kh.last_action_note(r.deployment()) is not None  # the annotation still landed
        assert _failed(r, "annotation") == 0

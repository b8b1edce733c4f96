"""An incident whose signals clear before anything was done closes as resolved, in the ledger
and in the operator's memory alike, and the operator goes on without errors."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kubeheal.config import Settings
from kubeheal.store import records as rec


async def test_signals_cleared_before_any_action_resolve_the_incident(
    kh: Any, caplog: pytest.LogCaptureFixture
) -> None:
    # The settings' kill switch keeps kubeheal from acting, so the incident stays open with no
    # attempt until the fault is cleared by hand.
    settings = Settings.model_validate({"guards": {"kill_switch": True}})
    caplog.set_level(logging.WARNING)
    async with kh.run(settings=settings) as r:
        fault = r.inject(kh.BAD_ROLLOUT)
        inc = await r.until(
            lambda: (i := r.incident()) and r.blocked_plan(i, "kill_switch") and i,
            what="a plan blocked by the kill switch",
        )
        assert inc.state is rec.IncidentState.OPEN
        faults = r.h.twin.faults
        assert faults is not None
        faults.clear(fault)
        done = await r.until(r.closed, timeout=60, what="the quiet incident to close")
        assert done.id == inc.id
        assert done.state is rec.IncidentState.RESOLVED
        assert r.actions(done) == []
        assert [t.reason for t in r.transitions(done)][-1] == "signals cleared before any action"
        # memory agrees with the ledger: the operator holds no open incident for the target
        await r.until(
            lambda: all(
                s.incident is None or s.incident.state.closed
                for s in r.h.operator.targets.states.values()
            ),
            what="the operator to hold the incident as closed",
        )
    failures = [
        m for m in caplog.messages if "InvalidTransition" in m or "is resolved, not open" in m
    ]
    assert failures == []

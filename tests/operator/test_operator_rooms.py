"""The operator's rooms on their own: the target board's `settled` signal, a retry waiting
for its delay as a guarded task the operator stops, and the assembly handing the operator
its alert consumer, notifications and sources at construction."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubeheal import actions
from kubeheal.clients.kube import KubeConnection
from kubeheal.config import Settings
from kubeheal.engine.incidents import correlate
from kubeheal.engine.params import ScaleOut
from kubeheal.engine.plan import ActionPlan, VerificationPlan
from kubeheal.engine.playbooks import ActionName, load_builtin_playbooks
from kubeheal.model.core import Signal, SignalKind, Target, TargetKind
from kubeheal.runtime import incident_flow
from kubeheal.runtime.assembly import build
from kubeheal.runtime.metrics import OperatorMetrics
from kubeheal.runtime.operator import Operator, OperatorEvent
from kubeheal.runtime.targets import TargetBoard
from kubeheal.runtime.tasks import Tasks
from kubeheal.server.serving import operator_http
from kubeheal.store import Ledger

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")


def _signal(target: Target = WEB) -> Signal:
    subject = f"pod/{target.name}-1/container/app"
    return Signal(
        id=Signal.make_id(SignalKind.CRASH_LOOP_BACK_OFF, target, subject),
        kind=SignalKind.CRASH_LOOP_BACK_OFF,
        target=target,
        observed_at=T0,
        subject=subject,
    )


async def _state(predicate: Any) -> None:
    """Yield to the loop until ``predicate()`` holds (no timer: the work is all in-loop)."""
    for _ in range(10_000):
        if predicate():
            return
        await asyncio.sleep(0)
    raise AssertionError("the state was never reached")


def _board() -> TargetBoard:
    return TargetBoard(
        clock=lambda: T0, metrics=OperatorMetrics(), quiet_period=timedelta(minutes=2),
        max_parallel=4,
    )  # fmt: skip


async def test_settled_waits_for_the_dirty_targets_and_the_steps_in_flight() -> None:
    board, tasks = _board(), Tasks()
    gate = asyncio.Event()
    advanced: list[Target] = []

    async def advance(target: Target) -> None:
        advanced.append(target)
        await gate.wait()

    tasks.spawn("dispatcher", board.dispatch(tasks, advance, lambda: True))
    other = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="cart")
    board.submit([_signal(), _signal(other)])
    settled = tasks.spawn("settled", board.settled(lambda: True), awaited=True)
    await _state(lambda: len(advanced) == 2)
    assert not settled.done() and board.running == {WEB, other}
    gate.set()
    await asyncio.wait_for(settled, timeout=5)
    assert not board.dirty and not board.running
    assert sorted(advanced) == sorted([WEB, other])  # each once: one worker per target
    await tasks.stop()


async def test_settled_does_not_wait_for_work_nobody_may_take() -> None:
    board = _board()
    board.submit([_signal()])  # a standby's board: dirty, but no worker may take it
    await asyncio.wait_for(board.settled(lambda: False), timeout=5)
    assert board.dirty == {WEB}


@pytest.fixture
async def operator(tmp_path: Path) -> AsyncIterator[Operator]:
    ledger = Ledger.open(tmp_path / "ledger.db")
    op = Operator(
        connection=KubeConnection.from_server("http://twin.invalid"),
        ledger=ledger,
        settings=Settings(),
        playbooks=load_builtin_playbooks(),
        clock=lambda: T0,
    )
    yield op
    await op.stop(drain=0)
    ledger.close()


async def test_a_temporary_error_retries_through_a_task_the_operator_stops(
    operator: Operator, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def busy(plan: ActionPlan, **_: Any) -> actions.ActionOutcome:
        raise actions.TemporaryError("the API server is busy", delay=3600)

    monkeypatch.setattr(incident_flow.actions, "execute", busy)
    signals = [_signal()]
    incident = correlate(signals, incidents=(), now=T0, settings=operator.settings.incidents)[0]
    operator.ledger.open_incident(incident_id=incident.id, target=WEB, opened_at=T0, detected_at=T0)
    state = operator.targets.states.setdefault(WEB, incident_flow.TargetState())
    state.incident = incident
    params = ScaleOut(
        namespace="shop", workload_kind="Deployment", workload="web", current_replicas=2,
        replicas=3,
    )  # fmt: skip
    plan = ActionPlan(
        incident_id=incident.id, target=WEB, playbook="test", step=0,
        action=ActionName("scale_out"), params=params,
        verification=VerificationPlan(
            check="workload_ready", timeout_seconds=60, stable_for_seconds=10,
            on_failure="escalate",
        ),
        idempotency_key="retry-key-0123456789",
    )  # fmt: skip
    await operator.flow._act(WEB, state, plan, T0)
    assert operator.tasks.names() == [f"retry/{WEB.key}"]
    assert [a.state.value for a in operator.ledger.actions_for_incident(incident.id)] == ["pending"]
    await operator.stop(drain=0)
    assert operator.tasks.names() == []  # cancelled with the rest, not left to fire later
    assert WEB not in operator.targets.dirty


async def test_the_assembly_hands_the_operator_its_parts_at_construction(
    tmp_path: Path,
) -> None:
    settings = Settings.model_validate(
        {
            "notifications": {
                "channels": {"hook": {"type": "webhook", "url": "http://127.0.0.1:9/hook"}},
                "policies": {"default": {"levels": [{"after": "0s", "channels": ["hook"]}]}},
            }
        }
    )
    seen: list[OperatorEvent] = []
    with Ledger.open(tmp_path / "ledger.db") as ledger:
        async with contextlib.AsyncExitStack() as stack:
            assembly = await build(
                settings, KubeConnection.from_server("http://twin.invalid"), ledger,
                playbooks=load_builtin_playbooks(), stack=stack, clock=lambda: T0,
                on_event=seen.append,
            )  # fmt: skip
            op = assembly.operator
            try:
                consumer, service = assembly.consumer, assembly.notifications
                assert consumer is not None and service is not None
                # the consumer feeds the operator's board and answers its alert question
                assert consumer.sink is op.targets
                assert op.flow.alert_firing == consumer.firing
                assert op.settings_listeners == [service.reloaded]
                assert op.tasks.names() == ["alert-consumer", "notifications"]
                # the HTTP side starts nothing and patches nothing
                operator_http(assembly)
                assert op.tasks.names() == ["alert-consumer", "notifications"]
                # the events reach the caller's observer and the notifications, in order
                op.emit("escalated", WEB, "not recovered", incident_id="inc-1")
                assert [e.kind for e in seen] == ["escalated"]
                assert [e.incident_id for e in service._events] == ["inc-1"]
            finally:
                await op.stop(drain=0)

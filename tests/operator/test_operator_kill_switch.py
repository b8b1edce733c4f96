"""The kill switch fails closed: when its ConfigMap cannot be read (503, timeout, 403, an
undecodable answer, a value that is neither true nor false) nothing is done, which is said
once per change of state, counted, and shown on /readyz; 404 (no ConfigMap) means off."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from kubeheal.clients.kube import (
    KubeConnection,
    KubeDecodeError,
    KubeError,
    KubeForbidden,
    KubeNotFound,
    KubeUnavailable,
)
from kubeheal.clients.writer import Kind
from kubeheal.config import GuardSettings, IncidentSettings, Settings
from kubeheal.engine import guards as g
from kubeheal.engine.incidents import open_incident
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.model.cluster import ClusterView
from kubeheal.model.core import Target, TargetKind
from kubeheal.model.history import History, KillSwitch, KillSwitchState
from kubeheal.runtime.metrics import OperatorMetrics
from kubeheal.runtime.operator import Operator
from kubeheal.store import Ledger

SWITCH_PATH = "/api/v1/namespaces/kubeheal-system/configmaps/kubeheal-kill-switch"
T0 = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
UNKNOWN, ON, OFF = KillSwitchState.UNKNOWN, KillSwitchState.ON, KillSwitchState.OFF


def _switch_configmap(disabled: str = "true") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "kubeheal-kill-switch", "namespace": "kubeheal-system"},
        "data": {"disabled": disabled},
    }


# -- end to end: the reproduction --------------------------------------------------


@pytest.mark.slow
async def test_an_unreadable_kill_switch_stops_the_rollback_until_it_reads_off(
    kh: Any, caplog: pytest.LogCaptureFixture
) -> None:
    async with kh.run() as r:
        op = r.h.operator
        r.create(
            "namespaces",
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubeheal-system"}},
        )
        r.create("configmaps", _switch_configmap("true"))
        await r.until(lambda: op.kill_switch.state is ON, what="the kill switch to be seen on")
        # The API server struggles exactly on the switch (every read answers 503), and a
        # rollout crash-loops: the switch is still pulled, so nothing may be rolled back.
        registry = op.metrics.registry

        def read_failures() -> float:
            value = registry.get_sample_value("kubeheal_kill_switch_read_failures_total")
            return value or 0.0

        r.h.twin.api_faults.configure(error_rate=1.0, error_codes=(503,), path_prefix=SWITCH_PATH)
        with caplog.at_level(logging.WARNING, logger="kubeheal.runtime"):
            await r.until(lambda: op.kill_switch.state is UNKNOWN, what="the switch unknown")
            r.inject(kh.BAD_ROLLOUT)
            inc = await r.until(
                lambda: (i := r.incident()) and r.blocked_plan(i, "kill_switch") and i,
                what="a plan blocked by the unknown kill switch",
            )
            seen = read_failures()
            # Waited on state: 20 more failed reads = 20 sweeps (6 s, 2 minutes of cluster
            # time; the issue saw the rollback 8 s after the switch became unreadable).
            await r.until(lambda: read_failures() >= seen + 20, what="20 more sweeps")
            assert r.actions(inc) == [] and r.all_actions() == [], r.describe()
            assert r.image() == kh.SAMPLE_IMAGE.replace(":1.4.2", ":crash-1.4.2")
            assert r.events("demo", reason="KubehealAction") == []
            assert kh.last_action_note(r.deployment()) is None
            reason = r.blocked_plan(inc, "kill_switch").reason
            assert "kubeheal-system/kubeheal-kill-switch cannot be read" in reason, reason
            assert "503" in reason and "no action while its state is unknown" in reason
            # /readyz: still ready (watch-based work is fine) but degraded, naming the switch
            async with httpx.AsyncClient(
                transport=httpx.ASGITransport(app=r.h.http.app), base_url="http://kubeheal"
            ) as client:
                answer = await client.get("/readyz")
            body = answer.json()
            assert answer.status_code == 200 and body["status"] == "degraded", body
            assert any(x.startswith("kill_switch: state unknown") for x in body["reasons"])
            assert body["checks"]["kill_switch"]["state"] == "unknown"
            assert body["checks"]["kill_switch"]["ok"] is False
            gauge = "kubeheal_kill_switch_state"
            assert registry.get_sample_value(gauge, {"state": "unknown"}) == 1
            assert registry.get_sample_value(gauge, {"state": "on"}) == 0
        # one warning for the change of state, not one per sweep
        warned = [m.getMessage() for m in caplog.records if "cannot be read" in m.getMessage()]
        assert len(warned) == 1, warned
        # the switch reads again, still on: still nothing done
        r.h.twin.api_faults.reset()
        await r.until(lambda: op.kill_switch.state is ON, what="the switch readable, on")
        assert r.all_actions() == []
        # lifted: the same incident proceeds
        r.delete("configmaps", "kubeheal-system", "kubeheal-kill-switch")
        done = await r.until(r.closed, what="the incident to close")
        assert done.id == inc.id
        assert [a.action for a in r.actions(done)] == ["rollback_deployment"]
        assert r.image() == kh.SAMPLE_IMAGE


# -- the read: what counts as unknown ------------------------------------------------------


class SwitchWriter:
    """Answers the operator's ConfigMap reads from a script (an error or a ConfigMap)."""

    def __init__(self) -> None:
        self.answers: list[KubeError | dict[str, Any]] = []
        self.reads: list[tuple[Kind, str | None, str]] = []

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        self.reads.append((kind, namespace, name))
        answer = self.answers.pop(0)
        if isinstance(answer, KubeError):
            raise answer
        return answer

    async def aclose(self) -> None:
        return None


@pytest.fixture
async def operator(tmp_path: Path) -> AsyncIterator[Operator]:
    ledger = Ledger.open(tmp_path / "ledger.db")
    now = [T0]
    op = Operator(
        connection=KubeConnection.from_server("http://twin.invalid"),
        ledger=ledger,
        settings=Settings(),
        playbooks=load_builtin_playbooks(),
        metrics=OperatorMetrics(),
        clock=lambda: now[0],
        writer=SwitchWriter(),  # type: ignore[arg-type]
    )
    op.test_now = now  # type: ignore[attr-defined]
    yield op
    await op._http.aclose()
    ledger.close()


def _metric(op: Operator, name: str, labels: dict[str, str] | None = None) -> float | None:
    value: float | None = op.metrics.registry.get_sample_value(name, labels or {})
    return value


UNREADABLE: list[tuple[str, KubeError | dict[str, Any]]] = [
    ("503", KubeUnavailable("API server answered 503 ServiceUnavailable: overloaded")),
    ("timeout", KubeUnavailable("timed out reading configmap kubeheal-system/kill-switch")),
    ("403", KubeForbidden(code=403, reason="Forbidden", message="configmaps is forbidden")),
    ("undecodable", KubeDecodeError("the answer is not JSON")),
    ("bad-value", _switch_configmap("maybe")),
    ("data-not-a-map", {"metadata": {"name": "x"}, "data": ["disabled"]}),
]


@pytest.mark.parametrize(("case", "answer"), UNREADABLE, ids=[c for c, _ in UNREADABLE])
async def test_anything_but_404_or_a_clear_value_is_unknown(
    operator: Operator, case: str, answer: KubeError | dict[str, Any]
) -> None:
    writer: Any = operator.writer
    writer.answers = [answer]
    await operator._refresh_kill_switch()
    assert writer.reads == [(Kind.CONFIGMAP, "kubeheal-system", "kubeheal-kill-switch")]
    assert operator.kill_switch.state is UNKNOWN, operator.kill_switch
    assert operator.kill_switch.reason
    assert operator.kill_switch.since == T0
    read_failures = _metric(operator, "kubeheal_kill_switch_read_failures_total")
    assert read_failures == (1 if isinstance(answer, KubeError) else 0)


@pytest.mark.parametrize(
    ("answer", "state"),
    [
        (KubeNotFound(code=404, reason="NotFound", message="configmaps not found"), OFF),
        (_switch_configmap("true"), ON),
        (_switch_configmap(" TRUE "), ON),
        (_switch_configmap("false"), OFF),
        ({"metadata": {"name": "kubeheal-kill-switch"}}, OFF),  # no data at all
    ],
    ids=["404", "true", "TRUE", "false", "no-data"],
)
async def test_404_is_off_and_a_clear_value_is_read(
    operator: Operator, answer: KubeError | dict[str, Any], state: KillSwitchState
) -> None:
    writer: Any = operator.writer
    writer.answers = [answer]
    await operator._refresh_kill_switch()
    assert operator.kill_switch.state is state
    assert _metric(operator, "kubeheal_kill_switch_read_failures_total") == 0
    assert _metric(operator, "kubeheal_kill_switch_state", {"state": state.value}) == 1


async def test_a_warning_once_per_change_of_state_not_per_sweep(
    operator: Operator, caplog: pytest.LogCaptureFixture
) -> None:
    writer: Any = operator.writer
    now: list[datetime] = operator.test_now  # type: ignore[attr-defined]
    down = KubeUnavailable("API server answered 503 ServiceUnavailable: overloaded")
    forbidden = KubeForbidden(code=403, reason="Forbidden", message="configmaps is forbidden")
    writer.answers = [_switch_configmap("false"), down, down, down, forbidden, down]
    writer.answers += [_switch_configmap("false"), down]
    with caplog.at_level(logging.INFO, logger="kubeheal.runtime"):
        states = []
        for _ in range(len(writer.answers)):
            now[0] += timedelta(seconds=5)
            await operator._refresh_kill_switch()
            states.append(operator.kill_switch.state)
    assert states == [OFF, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, UNKNOWN, OFF, UNKNOWN]
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2, warnings  # one per change to unknown, none per sweep
    assert all("cannot be read" in w and "no action is taken" in w for w in warnings)
    assert "503" in warnings[0]
    assert _metric(operator, "kubeheal_kill_switch_read_failures_total") == 6
    assert _metric(operator, "kubeheal_kill_switch_state", {"state": "unknown"}) == 1
    assert _metric(operator, "kubeheal_kill_switch_state", {"state": "off"}) == 0
    # "since" is when it became unknown, not the last failed read
    assert operator.kill_switch.since == now[0]


async def test_control_characters_from_the_api_never_reach_the_log(
    operator: Operator, caplog: pytest.LogCaptureFixture
) -> None:
    writer: Any = operator.writer
    writer.answers = [KubeUnavailable("503: busy\r\nkubeheal: forged line")]
    with caplog.at_level(logging.WARNING, logger="kubeheal.runtime"):
        await operator._refresh_kill_switch()
    assert "\n" not in operator.kill_switch.reason and "\r" not in operator.kill_switch.reason
    assert all("\n" not in r.getMessage() for r in caplog.records)


async def test_a_new_operator_knows_nothing_yet(operator: Operator) -> None:
    # Unknown until the first read, so nothing can act on a default of "off" (start() reads
    # the switch before it spawns the dispatcher).
    assert operator.kill_switch.state is UNKNOWN and operator.kill_switch.since is None
    assert _metric(operator, "kubeheal_kill_switch_state", {"state": "unknown"}) == 1


# -- the guard -----------------------------------------------------------------------------


def _ctx(switch: KillSwitch, *, now: datetime, opened: datetime = T0) -> g.GuardContext:
    incident = open_incident(WEB, [], now=opened, settings=IncidentSettings())
    return g.GuardContext(
        incident=incident,
        view=ClusterView(),
        history=History(kill_switch=switch),
        settings=Settings(guards=GuardSettings()),
        now=now,
    )


def test_the_guard_blocks_while_unknown_then_escalates_after_the_bound() -> None:
    bound = GuardSettings().kill_switch_unknown_escalate_after
    unknown = KillSwitch(state=UNKNOWN, reason="KubeUnavailable: 503", since=T0)
    soon = g.kill_switch(_ctx(unknown, now=T0 + timedelta(seconds=8)))
    assert isinstance(soon, g.Block) and not soon.escalate  # not now: decided again later
    assert "cannot be read (KubeUnavailable: 503)" in soon.reason
    late = g.kill_switch(_ctx(unknown, now=T0 + bound))
    assert isinstance(late, g.Block) and late.escalate  # by then a human must look
    assert "for 15 minutes" in late.reason
    # an incident opened long after the switch became unknown waits the bound itself
    fresh = g.kill_switch(_ctx(unknown, now=T0 + bound, opened=T0 + bound - timedelta(minutes=1)))
    assert isinstance(fresh, g.Block) and not fresh.escalate
    # never read yet: unknown, blocked, never escalated on that alone
    unread = g.kill_switch(_ctx(KillSwitch(state=UNKNOWN), now=T0 + 2 * bound))
    assert isinstance(unread, g.Block) and not unread.escalate
    assert "not read yet" in unread.reason


def test_the_guard_on_and_off() -> None:
    on = g.kill_switch(_ctx(KillSwitch(state=ON, since=T0), now=T0))
    assert isinstance(on, g.Block) and on.reason == "the global kill switch is on"
    assert isinstance(g.kill_switch(_ctx(KillSwitch(state=OFF, since=T0), now=T0)), g.Allow)

"""The pure parts: classification and routing, the escalation state machine, the message
context (next step, exact kubectl, links) and the channel renderers' limits."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime, timedelta
from typing import Any

from kubeheal.config.settings import EscalationLevelSettings, NotificationSettings
from kubeheal.notify.context import build_context, fill_link, suggested_commands
from kubeheal.notify.escalation import plan_step
from kubeheal.notify.policy import Classification, classify, select_policy
from kubeheal.notify.render import Notice, render
from kubeheal.store import SignalRecord, TargetRef
from kubeheal.store.outbox import EscalationRecord, NotificationKind

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
TARGET = TargetRef(kind="Deployment", namespace="shop", name="cart")


def _signal(kind: str, **labels: str) -> SignalRecord:
    return SignalRecord(
        id=f"s-{kind}",
        kind=kind,
        target=TARGET,
        subject="pod/cart-1/container/app",
        source="alertmanager" if labels else "detector",
        observed_at=T0,
        details={f"label.{k}": v for k, v in labels.items()},
    )


def test_classification_prefers_alert_labels_then_the_signal_kind() -> None:
    assert classify([_signal("OOMKilled")]) == Classification("capacity", "warning")
    assert classify([_signal("CrashLoopBackOff")]) == Classification("critical", "critical")
    assert classify([_signal("Anomaly")]) == Classification("performance", "warning")
    assert classify([_signal("Alert", severity="page", category="performance")]) == (
        Classification("performance", "critical")
    )
    # The most severe signal decides.
    assert classify([_signal("PDBMissing"), _signal("HPAMaxedOut")]) == (
        Classification("capacity", "warning")
    )
    assert classify([]) == Classification("critical", "critical")


def test_routes_pick_the_first_matching_policy_else_the_default() -> None:
    settings = NotificationSettings.model_validate(
        {
            "channels": {"c": {"type": "slack", "url": "https://hooks.example.org/x"}},
            "policies": {
                "page": {"levels": [{"after": "0s", "channels": ["c"]}]},
                "capacity": {"levels": [{"after": "30m", "channels": ["c"]}]},
                "default": {"levels": [{"after": "5m", "channels": ["c"]}]},
            },
            "routes": [
                {"severities": ["critical"], "policy": "page"},
                {"categories": ["capacity"], "policy": "capacity"},
            ],
        }
    )
    assert select_policy(settings, Classification("performance", "critical")) == "page"
    assert select_policy(settings, Classification("capacity", "warning")) == "capacity"
    assert select_policy(settings, Classification("performance", "warning")) == "default"
    without_default = settings.model_copy(update={"default_policy": "none"})
    assert select_policy(without_default, Classification("hygiene", "info")) is None


LEVELS = (
    EscalationLevelSettings(after=timedelta(minutes=5), channels=("chat",)),
    EscalationLevelSettings(after=timedelta(minutes=15), channels=("oncall", "mail")),
    EscalationLevelSettings(after=timedelta(minutes=30), channels=("pager",)),
    EscalationLevelSettings(after=timedelta(minutes=60), channels=("mgmt",)),
)


def _escalation(**changes: Any) -> EscalationRecord:
    base: dict[str, Any] = {
        "incident_id": "i",
        "policy": "p",
        "reason": "escalated",
        "category": "critical",
        "severity": "critical",
        "started_at": T0,
        "level": 0,
        "acknowledged_at": None,
        "acknowledged_by": None,
        "ack_note": None,
        "ack_announced": False,
        "resolved_at": None,
        "resolve_reason": None,
        "resolve_announced": False,
        "updates": 0,
        "last_update_at": None,
    }
    base.update(changes)
    return EscalationRecord(**base)


def test_the_state_machine_fires_each_level_at_its_wait() -> None:
    minute = timedelta(minutes=1)
    step = plan_step(_escalation(), levels=LEVELS, now=T0 + 5 * minute - timedelta(seconds=1))
    assert step.idle and step.next_at == T0 + 5 * minute
    assert plan_step(_escalation(), levels=LEVELS, now=T0 + 5 * minute).fire == (1,)
    assert plan_step(_escalation(level=1), levels=LEVELS, now=T0 + 14 * minute).idle
    assert plan_step(_escalation(level=1), levels=LEVELS, now=T0 + 61 * minute).fire == (2, 3, 4)
    assert plan_step(_escalation(level=4), levels=LEVELS, now=T0 + 600 * minute).next_at is None


def test_ack_stops_the_climb_and_the_end_is_announced_once() -> None:
    acked = _escalation(level=2, acknowledged_at=T0, acknowledged_by="bob")
    step = plan_step(acked, levels=LEVELS, now=T0 + timedelta(hours=5))
    assert step.fire == () and step.announce_ack
    announced = _escalation(level=2, acknowledged_at=T0, acknowledged_by="bob", ack_announced=True)
    assert plan_step(announced, levels=LEVELS, now=T0 + timedelta(hours=5)).idle
    ended = _escalation(level=2, resolved_at=T0)
    assert plan_step(ended, levels=LEVELS, now=T0).announce_resolution
    assert plan_step(
        _escalation(resolved_at=T0, resolve_announced=True), levels=LEVELS, now=T0
    ).idle


def test_updates_wait_for_the_interval_after_the_last_message() -> None:
    interval = timedelta(minutes=5)
    level1 = _escalation(level=1)  # level 1 went out at T0 + 5m
    early = plan_step(
        level1,
        levels=LEVELS,
        now=T0 + timedelta(minutes=7),
        progress=True,
        min_update_interval=interval,
    )
    assert not early.update and early.next_at == T0 + timedelta(minutes=10)
    due = plan_step(
        level1,
        levels=LEVELS,
        now=T0 + timedelta(minutes=10),
        progress=True,
        min_update_interval=interval,
    )
    assert due.update
    capped = plan_step(
        _escalation(level=1, updates=10),
        levels=LEVELS,
        now=T0 + timedelta(hours=1),
        progress=True,
        max_updates=10,
    )
    assert not capped.update
    assert not plan_step(_escalation(), levels=LEVELS, now=T0, progress=True).update


def test_suggested_commands_are_exact_and_shell_safe() -> None:
    patch = json.dumps(
        {
            "spec": {
                "template": {
                    "spec": {
                        "containers": [{"name": "app", "image": "registry.example.org/app:1.2"}]
                    }
                }
            }
        }
    )
    commands = suggested_commands(
        kind="Deployment",
        namespace="shop",
        name="cart",
        signal_kinds=["CrashLoopBackOff"],
        pod="cart-1",
        patch=patch,
    )
    assert commands[0] == f"kubectl -n shop patch deployment/cart --type strategic -p '{patch}'"
    assert shlex.split(commands[0])[-1] == patch  # the shell hands kubectl the exact patch
    assert "kubectl -n shop rollout undo deployment/cart" in commands
    assert "kubectl -n shop logs cart-1 --all-containers --previous --tail=50" in commands
    hpa = suggested_commands(
        kind="Deployment",
        namespace="shop",
        name="cart",
        signal_kinds=[],
        patch='{"spec":{"maxReplicas":12}}',
    )
    assert hpa[0].startswith("kubectl -n shop patch hpa $(kubectl -n shop get hpa -o jsonpath=")
    assert "--type merge" in hpa[0]
    node = suggested_commands(
        kind="Node", namespace="", name="node-2", signal_kinds=["NodeNotReady"]
    )
    assert "kubectl describe node/node-2" in node
    assert "kubectl drain node-2 --ignore-daemonsets --delete-emptydir-data" in node


def test_links_come_from_alert_annotations_or_templates() -> None:
    assert fill_link(
        "https://g/d?ns={namespace}&w={name}&i={incident_id}",
        kind="Deployment",
        namespace="a b",
        name="c/d",
        incident_id="x",
    ) == ("https://g/d?ns=a%20b&w=c%2Fd&i=x")
    from kubeheal.store import IncidentRecord, IncidentState

    incident = IncidentRecord(
        id="i",
        target=TARGET,
        state=IncidentState.ESCALATED,
        playbook=None,
        opened_at=T0,
        detected_at=T0,
        first_action_at=None,
        resolved_at=None,
        escalated_at=T0,
        attempts=0,
        flapping=False,
        resolution=None,
    )
    alert = SignalRecord(
        id="a",
        kind="Alert",
        target=TARGET,
        subject="",
        source="alertmanager",
        observed_at=T0,
        details={"annotation.runbook_url": "https://runbooks.example.org/x"},
    )
    settings = NotificationSettings(runbook_url="https://wiki.example.org/{name}")
    ctx = build_context(
        incident=incident,
        signals=[alert],
        transitions=[],
        plans=[],
        actions=[],
        verifications={},
        classification=Classification("critical", "critical"),
        settings=settings,
    )
    assert ctx.runbook_url == "https://runbooks.example.org/x"
    assert ctx.dashboard_url == ""
    plain = build_context(
        incident=incident,
        signals=[],
        transitions=[],
        plans=[],
        actions=[],
        verifications={},
        classification=Classification("critical", "critical"),
        settings=settings,
    )
    assert plain.runbook_url == "https://wiki.example.org/cart"


def test_long_contexts_are_cut_to_each_channel_limits() -> None:
    from kubeheal.notify.context import IncidentContext, TimelineEntry

    huge = "x" * 10_000
    ctx = IncidentContext(
        incident_id="i",
        target_kind="Deployment",
        namespace="shop",
        name="cart" * 60,
        state="escalated",
        opened_at=T0,
        category="critical",
        severity="critical",
        cluster="",
        headline="H" * 400,
        what_happened=huge + "<&>",
        timeline=tuple(TimelineEntry(T0, huge) for _ in range(3)),
        omitted=7,
        actions=(),
        next_step=huge,
        commands=(huge,),
        patch=huge,
        logs=huge,
        runbook_url="",
        dashboard_url="",
    )
    notice = Notice(kind=NotificationKind.LEVEL, context=ctx, at=T0, level=1, levels=1)
    slack: Any = render("slack", notice, key="k")
    assert len(slack["blocks"][0]["text"]["text"]) <= 150
    for block in slack["blocks"]:
        if block["type"] == "section" and "text" in block:
            assert len(block["text"]["text"]) <= 3000
        for f in block.get("fields", []):
            assert len(f["text"]) <= 2000
    from dataclasses import replace

    short = Notice(
        kind=NotificationKind.LEVEL,
        at=T0,
        level=1,
        levels=1,
        context=replace(ctx, what_happened="a<b>&c"),
    )
    assert "a&lt;b&gt;&amp;c" in json.dumps(render("slack", short, key="k"))
    pagerduty: Any = render("pagerduty", notice, key="k")
    assert len(pagerduty["payload"]["summary"]) <= 1024
    mail: Any = render("email", notice, key="k")
    assert "<&>" not in mail["html"] and "&lt;&amp;&gt;" in mail["html"]

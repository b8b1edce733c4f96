"""Alert labels -> incident targets, and the consumer's firing state (with a fake operator):
firing alerts become signals, resolutions shrink the firing set and revisit the target, stale
and out-of-order notifications are ignored, alerts naming nothing are counted, and a
restarted consumer re-submits what still fires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import msgspec
import pytest
from prometheus_client import CollectorRegistry

from kubeheal.engine.detect import alert_signal, alert_target
from kubeheal.model.cluster import ClusterView, Deployment, Node, Pod, ReplicaSet
from kubeheal.model.core import SignalKind, SignalSource, Target, TargetKind
from kubeheal.runtime.alerts import AlertConsumer, AlertMetrics
from kubeheal.store.inbox import AlertInbox, InboxAlert

WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
T0 = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)


def _decode(data: dict[str, Any], kind: type[Any]) -> Any:
    return msgspec.json.decode(msgspec.json.encode(data), type=kind)


def _view() -> ClusterView:
    owner = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web-7d9", "controller": True}]
    pod = _decode(
        {"metadata": {"name": "web-7d9-abc", "namespace": "shop", "ownerReferences": owner}},
        Pod,
    )
    rs_owner = [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "controller": True}]
    rs = _decode(
        {"metadata": {"name": "web-7d9", "namespace": "shop", "ownerReferences": rs_owner}},
        ReplicaSet,
    )
    dep = _decode({"metadata": {"name": "web", "namespace": "shop"}}, Deployment)
    api = _decode({"metadata": {"name": "api", "namespace": "shop"}}, Deployment)
    node = _decode({"metadata": {"name": "worker-1"}}, Node)
    return ClusterView(pods=[pod], replica_sets=[rs], deployments=[dep, api], nodes=[node])


@pytest.mark.parametrize(
    ("labels", "expected"),
    [
        ({"namespace": "shop", "deployment": "web"}, WEB),
        (
            {"namespace": "db", "statefulset": "pg"},
            Target(kind=TargetKind.STATEFULSET, namespace="db", name="pg"),
        ),
        (
            {"namespace": "mon", "daemonset": "node-exporter"},
            Target(kind=TargetKind.DAEMONSET, namespace="mon", name="node-exporter"),
        ),
        # A pod label resolves through the owner chain, even with a node label beside it.
        ({"namespace": "shop", "pod": "web-7d9-abc"}, WEB),
        ({"namespace": "shop", "pod": "web-7d9-abc", "node": "worker-1"}, WEB),
        (
            {"namespace": "shop", "pod": "gone-pod"},
            Target(kind=TargetKind.POD, namespace="shop", name="gone-pod"),
        ),
        ({"node": "worker-2"}, Target(kind=TargetKind.NODE, name="worker-2")),
        # instance: its host part, when it names a node (with a port, or as an FQDN).
        ({"instance": "worker-1:9100"}, Target(kind=TargetKind.NODE, name="worker-1")),
        (
            {"instance": "worker-1.cluster.local:9100"},
            Target(kind=TargetKind.NODE, name="worker-1"),
        ),
        (
            {"instance": "http://worker-1:9100/metrics"},
            Target(kind=TargetKind.NODE, name="worker-1"),
        ),
        ({"instance": "10.0.0.7:9100"}, None),
        ({"instance": "[fd00::1]:9100"}, None),
        # job: the Deployment of that name in the alert's namespace (or namespace/name).
        (
            {"namespace": "shop", "job": "api"},
            Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="api"),
        ),
        ({"job": "shop/api"}, Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="api")),
        ({"namespace": "shop", "job": "kubernetes-pods"}, None),
        ({"deployment": "web"}, None),  # no namespace: ambiguous
        ({"pod": "web-7d9-abc"}, None),
        ({"alertname": "Watchdog", "severity": "none"}, None),
        ({"namespace": "shop", "deployment": ""}, None),
    ],
)
def test_alert_labels_map_to_targets(labels: dict[str, str], expected: Target | None) -> None:
    assert alert_target(labels, _view()) == expected


def test_alert_signal_keeps_labels_and_source() -> None:
    labels = {"alertname": "HighLatency", "namespace": "shop", "pod": "web-7d9-abc"}
    signal = alert_signal(alertname="HighLatency", labels=labels, observed_at=T0, view=_view())
    assert signal is not None
    assert signal.target == WEB
    assert signal.kind is SignalKind.ALERT
    assert signal.source is SignalSource.ALERTMANAGER
    assert signal.labels == labels
    assert signal.details["alertname"] == "HighLatency"


def _row(labels: dict[str, str], *, status: str = "firing", minute: float = 0) -> InboxAlert:
    from hashlib import sha256

    fp = sha256(repr(sorted(labels.items())).encode()).hexdigest()[:16]
    return InboxAlert(
        fingerprint=fp,
        status=status,  # type: ignore[arg-type]
        starts_at=T0 + timedelta(minutes=minute),
        payload={"labels": labels},
    )


def _consumer(wk: Any, inbox: AlertInbox) -> tuple[AlertConsumer, Any, CollectorRegistry]:
    sink = wk.FakeSink(view=_view())
    sink.started.set()
    registry = CollectorRegistry()
    consumer = AlertConsumer(inbox=inbox, sink=sink, metrics=AlertMetrics(registry))
    return consumer, sink, registry


def _add(inbox: AlertInbox, *alerts: InboxAlert) -> None:
    inbox.add(list(alerts), received_at=datetime.now(tz=UTC))


LATENCY = {"alertname": "HighLatency", "namespace": "shop", "deployment": "web"}
ERRORS = {"alertname": "HighErrorRate", "namespace": "shop", "pod": "web-7d9-abc"}


async def test_firing_then_resolved_drives_the_firing_state(wk, inbox) -> None:
    consumer, sink, registry = _consumer(wk, inbox)
    assert consumer.firing(WEB) is None  # unknown until the start-up recovery ran
    await consumer.recover()
    assert consumer.firing(WEB) is False

    _add(inbox, _row(LATENCY), _row(ERRORS))
    assert await consumer.drain_once() == 2
    assert {s.subject for s in sink.submitted} == {"alert/HighLatency", "alert/HighErrorRate"}
    assert all(s.target == WEB for s in sink.submitted)
    assert sink.submitted[0].details["fingerprint"]
    assert consumer.firing(WEB) is True
    assert registry.get_sample_value("kubeheal_alerts_firing") == 2

    _add(inbox, _row(LATENCY, status="resolved"))
    await consumer.drain_once()
    assert consumer.firing(WEB) is True  # HighErrorRate still fires
    assert sink.revisited == []
    _add(inbox, _row(ERRORS, status="resolved"))
    await consumer.drain_once()
    assert consumer.firing(WEB) is False
    assert sink.revisited == [WEB]
    assert len(sink.submitted) == 2  # resolutions submit nothing
    assert registry.get_sample_value("kubeheal_alerts_processed_total", {"status": "resolved"}) == 2
    assert inbox.pending_count == 0


async def test_stale_and_out_of_order_notifications(wk, inbox) -> None:
    consumer, sink, _ = _consumer(wk, inbox)
    await consumer.recover()
    # The resolution arrives before the firing notice of the same episode (a retry).
    _add(inbox, _row(LATENCY, status="resolved"))
    _add(inbox, _row(LATENCY))
    await consumer.drain_once()
    assert sink.submitted == []
    assert consumer.firing(WEB) is False
    # A new episode fires; a late resolution of the old episode does not end it.
    _add(inbox, _row(LATENCY, minute=30))
    await consumer.drain_once()
    assert consumer.firing(WEB) is True
    stale = _row(LATENCY, status="resolved", minute=-10)
    _add(inbox, stale)
    await consumer.drain_once()
    assert consumer.firing(WEB) is True
    assert len(sink.submitted) == 1


async def test_untargeted_alerts_are_counted_not_acted_on(wk, inbox) -> None:
    consumer, sink, registry = _consumer(wk, inbox)
    await consumer.recover()
    _add(
        inbox,
        _row({"alertname": "Watchdog"}),
        _row({"alertname": "TargetDown", "job": "blackbox", "namespace": "mon"}),
    )
    assert await consumer.drain_once() == 2
    assert sink.submitted == []
    assert registry.get_sample_value("kubeheal_alerts_untargeted_total") == 2
    assert [r.processed_at is not None for r in inbox.rows()] == [True, True]


async def test_restarted_consumer_resubmits_what_still_fires(wk, inbox) -> None:
    consumer, _sink, _ = _consumer(wk, inbox)
    await consumer.recover()
    node_alert = {"alertname": "NodeDiskPressure", "node": "worker-1"}
    _add(inbox, _row(LATENCY), _row(ERRORS), _row(node_alert))
    await consumer.drain_once()
    _add(inbox, _row(ERRORS, status="resolved"))
    await consumer.drain_once()
    # A new process: nothing in memory, the inbox remembers.
    again, sink2, _ = _consumer(wk, inbox)
    assert again.firing(WEB) is None
    await again.recover()
    assert {s.subject for s in sink2.submitted} == {"alert/HighLatency", "alert/NodeDiskPressure"}
    assert again.firing(WEB) is True
    assert again.firing(Target(kind=TargetKind.NODE, name="worker-1")) is True
    # Pending rows are processed after the recovery, in order.
    _add(inbox, _row(LATENCY, status="resolved"))
    await again.drain_once()
    assert again.firing(WEB) is False
    assert sink2.revisited == [WEB]


def test_inbox_prune_keeps_what_still_fires(inbox) -> None:
    now = datetime.now(tz=UTC)
    old = now - timedelta(days=3)
    ended = {"alertname": "Ended", "namespace": "shop", "deployment": "web"}
    firing = {"alertname": "Firing", "namespace": "shop", "deployment": "web"}
    inbox.add([_row(ended), _row(firing)], received_at=old)
    inbox.add([_row(ended, status="resolved")], received_at=old)
    inbox.mark_processed([r.seq for r in inbox.pending()], at=old)
    pending = _row({"alertname": "New", "namespace": "shop", "deployment": "web"})
    inbox.add([pending], received_at=old)  # not processed yet: never pruned
    assert inbox.prune(before=now - timedelta(days=1)) == 2
    left = inbox.rows()
    assert sorted(r.labels["alertname"] for r in left) == ["Firing", "New"]
    assert [r.labels["alertname"] for r in inbox.still_firing()] == ["Firing"]


async def test_only_the_leader_consumes(wk, inbox) -> None:
    import asyncio

    sink = wk.FakeSink(view=_view(), leader=asyncio.Event())
    sink.started.set()
    consumer = AlertConsumer(inbox=inbox, sink=sink, idle_wait=0.05)
    _add(inbox, _row(LATENCY))
    task = asyncio.get_running_loop().create_task(consumer.run())
    try:
        await asyncio.sleep(0.2)
        assert sink.submitted == [] and not consumer.recovered  # a standby: hands off
        assert inbox.pending_count == 1
        # The leader (another process) processes a row: the standby's backlog follows.
        other = AlertInbox(inbox.ledger)
        other.mark_processed([r.seq for r in other.pending()], at=datetime.now(tz=UTC))
        _add(inbox, _row(ERRORS))
        await asyncio.sleep(0.2)
        assert inbox.pending_count == 1
        sink.leader.set()
        for _ in range(100):
            if sink.submitted and inbox.pending_count == 0:
                break
            await asyncio.sleep(0.02)
        # Recovery re-submits what still fires, then the new row is processed.
        assert sorted(s.subject for s in sink.submitted) == [
            "alert/HighErrorRate",
            "alert/HighLatency",
        ]
        assert inbox.pending_count == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

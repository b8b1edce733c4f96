"""The Warning Event on an escalated target (`kubeheal.actions.events.record_escalation`):
built like the Event after a change, with the uid and apiVersion of the object as read; a
failed write is counted and never raises."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from kubeheal.actions.events import ESCALATED_REASON, record_escalation
from kubeheal.clients.kube import KubeUnavailable
from kubeheal.clients.writer import Kind
from kubeheal.model.core import Target, TargetKind

AT = datetime(2026, 3, 1, 12, 30, 5, tzinfo=UTC)
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")


class EventWriter:
    """Answers reads with ``obj`` (or raises ``fail``) and records what it creates."""

    def __init__(self, obj: dict[str, Any], *, fail: Exception | None = None) -> None:
        self.obj, self.fail = obj, fail
        self.reads: list[tuple[Kind, str | None, str]] = []
        self.created: list[tuple[Kind, str | None, dict[str, Any]]] = []

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        self.reads.append((kind, namespace, name))
        if self.fail is not None:
            raise self.fail
        return self.obj

    async def create(
        self, kind: Kind, namespace: str | None, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        self.created.append((kind, namespace, obj))
        return obj


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"uid": "uid-web"}}


async def test_the_escalation_event_names_the_object_as_read() -> None:
    writer = EventWriter(DEPLOYMENT)
    failed: list[str] = []
    message = "not recovered\n" + "x" * 2000
    written = await record_escalation(
        writer,  # type: ignore[arg-type]  # only get and create are used
        WEB, message, at=AT, record_failed=failed.append,
    )  # fmt: skip
    assert written and failed == []
    assert writer.reads == [(Kind.DEPLOYMENT, "shop", "web")]
    [(kind, namespace, event)] = writer.created
    assert (kind, namespace) == (Kind.EVENT, "shop")
    assert event["metadata"] == {"generateName": "web.kubeheal-"}
    assert event["involvedObject"] == {
        "kind": "Deployment", "name": "web", "namespace": "shop", "uid": "uid-web",
        "apiVersion": "apps/v1",
    }  # fmt: skip
    assert event["reason"] == ESCALATED_REASON == "KubehealEscalated"
    assert event["type"] == "Warning"
    assert event["message"] == message[:1024]
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2026-03-01T12:30:05Z"
    assert event["source"] == {"component": "kubeheal"} and event["count"] == 1


async def test_a_node_event_goes_to_the_default_namespace() -> None:
    writer = EventWriter({"apiVersion": "v1", "kind": "Node", "metadata": {"uid": "uid-n1"}})
    node = Target(kind=TargetKind.NODE, name="n1")
    assert await record_escalation(writer, node, "drain failed", at=AT)  # type: ignore[arg-type]
    [(_, namespace, event)] = writer.created
    assert namespace == "default"
    assert "namespace" not in event["involvedObject"]
    assert event["involvedObject"]["uid"] == "uid-n1"


async def test_a_failed_write_is_counted_and_never_raises() -> None:
    writer = EventWriter(DEPLOYMENT, fail=KubeUnavailable("API server answered 503"))
    failed: list[str] = []
    written = await record_escalation(
        writer,  # type: ignore[arg-type]
        WEB, "not recovered", at=AT, record_failed=failed.append,
    )  # fmt: skip
    assert not written and writer.created == []
    assert failed == ["escalation_event"]


async def test_kinds_without_an_event_are_left_alone() -> None:
    writer = EventWriter(DEPLOYMENT)
    job = Target(kind=TargetKind.STATEFULSET, namespace="shop", name="db")
    assert not await record_escalation(writer, job, "escalated", at=AT)  # type: ignore[arg-type]
    assert writer.reads == [] and writer.created == []

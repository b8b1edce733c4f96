"""The Event and the kubeheal.io/last-action annotation after a change are retried on
temporary failures (5xx, 429, no connection) with the actions' retry intent, bounded, and a
write given up is logged and reported; the action's outcome never turns into a failure."""

from __future__ import annotations

from typing import Any

import pytest

from kubeheal.actions import OutcomeState, execute
from kubeheal.actions._base import RECORD_ATTEMPTS, RECORD_DEADLINE, RECORD_MAX_DELAY
from kubeheal.clients.kube import KubeError, KubeForbidden, KubeUnavailable, error_from_status
from kubeheal.clients.writer import Kind, PatchKind
from kubeheal.engine.params import CordonNode, ScaleOut

SCALE = ScaleOut(
    namespace="shop", workload_kind="Deployment", workload="web", current_replicas=3, replicas=5
)
EVENT = "web.kubeheal-key0123456789abc"
NOTE = "kubeheal.io/last-action"


def _annotation(writer: Any, kind: Kind, namespace: str | None, name: str) -> str | None:
    annotations = writer.obj(kind, namespace, name)["metadata"].get("annotations") or {}
    value: str | None = annotations.get(NOTE)
    return value


def _fail_annotations(writer: Any, errors: list[KubeError]) -> list[int]:
    """Make the next merge patches that set annotations raise ``errors``; count the tries."""
    original = writer.patch
    tries: list[int] = []

    async def patch(kind, namespace, name, body, *, patch_kind=PatchKind.STRATEGIC, dry_run=False):
        if patch_kind is PatchKind.MERGE and NOTE in body.get("metadata", {}).get(
            "annotations", {}
        ):
            tries.append(1)
            if errors:
                raise errors.pop(0)
        return await original(kind, namespace, name, body, patch_kind=patch_kind, dry_run=dry_run)

    writer.patch = patch
    return tries


def _unavailable(code: int, retry_after: float | None = None) -> KubeError:
    error = error_from_status(code, b'{"kind":"Status","code":%d,"reason":"Busy"}' % code)
    assert isinstance(error, KubeUnavailable)
    error.retry_after = retry_after
    return error


async def _run(plan: Any, writer: Any, clock: Any, failed: list[str]) -> Any:
    return await execute(
        plan, writer=writer, clock=clock, sleep=clock.sleep, record_failed=failed.append
    )


@pytest.mark.parametrize(
    ("error", "delay"),
    [
        (_unavailable(503, retry_after=2.0), 2.0),
        (_unavailable(500), 5.0),
        (_unavailable(429, retry_after=1.0), 1.0),
        (KubeUnavailable("cannot reach the API server: connection refused"), 5.0),
    ],
    ids=["503-retry-after", "500", "429", "connection-refused"],
)
async def test_a_temporary_failure_of_the_event_and_annotation_is_retried(
    writer, kit, clock, error: KubeError, delay: float
) -> None:
    writer.failures[("create", EVENT)] = [error, error]
    tries = _fail_annotations(writer, [error])
    failed: list[str] = []
    out = await _run(kit.plan(SCALE), writer, clock, failed)
    assert out.state is OutcomeState.SUCCEEDED and out.changed
    events = writer.of_kind(Kind.EVENT)
    assert [e["metadata"]["name"] for e in events] == [EVENT]
    assert events[0]["reason"] == "KubehealAction"
    assert _annotation(writer, Kind.DEPLOYMENT, "shop", "web") is not None
    assert len(tries) == 2
    assert clock.sleeps == [delay, delay, delay]  # the server's Retry-After, else 5 s
    assert failed == []


async def test_retries_are_bounded_and_what_is_given_up_is_reported(writer, kit, clock, caplog):
    # The API keeps failing the Event and asks for an hour: a few short waits, then given up.
    writer.failures[("create", EVENT)] = [_unavailable(503, retry_after=3600.0)] * 50
    failed: list[str] = []
    with caplog.at_level("WARNING"):
        out = await _run(kit.plan(SCALE), writer, clock, failed)
    assert out.state is OutcomeState.SUCCEEDED and out.changed  # the change itself stands
    assert writer.obj(Kind.DEPLOYMENT, "shop", "web")["spec"]["replicas"] == 5
    creates = [c for c in writer.calls if c.op == "create" and c.kind is Kind.EVENT]
    assert 1 < len(creates) <= RECORD_ATTEMPTS
    assert all(s <= RECORD_MAX_DELAY for s in clock.sleeps)
    assert sum(clock.sleeps) <= RECORD_DEADLINE
    assert failed == ["event"]
    assert writer.of_kind(Kind.EVENT) == []
    given_up = [r for r in caplog.records if "given up" in r.getMessage()]
    assert len(given_up) == 1 and "emit the Event for scale_out" in given_up[0].getMessage()
    # the annotation was still written after the Event was given up
    assert _annotation(writer, Kind.DEPLOYMENT, "shop", "web") is not None


async def test_a_permanent_failure_is_not_retried(writer, kit, clock) -> None:
    forbidden = KubeForbidden(code=403, reason="Forbidden", message="no annotations for you")
    tries = _fail_annotations(writer, [forbidden])
    failed: list[str] = []
    out = await _run(kit.plan(CordonNode(node="n1"), target=kit.NODE), writer, clock, failed)
    assert out.state is OutcomeState.SUCCEEDED and out.changed
    assert len(tries) == 1 and clock.sleeps == []
    assert failed == ["annotation"]
    assert len(writer.of_kind(Kind.EVENT)) == 1


async def test_an_event_that_landed_before_its_503_is_not_emitted_twice(writer, kit, clock):
    create = writer.create

    async def lands_then_fails(kind, namespace, obj, *, dry_run=False):
        created = await create(kind, namespace, obj, dry_run=dry_run)
        if kind is Kind.EVENT and len(writer.of_kind(Kind.EVENT)) == 1 and not clock.sleeps:
            raise _unavailable(503, retry_after=1.0)  # the answer was lost, not the write
        return created

    writer.create = lands_then_fails
    failed: list[str] = []
    out = await _run(kit.plan(SCALE), writer, clock, failed)
    assert out.state is OutcomeState.SUCCEEDED
    assert len(writer.of_kind(Kind.EVENT)) == 1  # the retry met 409 AlreadyExists: done
    assert clock.sleeps == [1.0] and failed == []

"""Retry intent as types: no Kubernetes client error leaves kubeheal.actions, each becomes a
TemporaryError (with its delay) or a PermanentError; and the public surface."""

from __future__ import annotations

import pytest

import kubeheal.actions as actions
from kubeheal.actions import ActionError, PermanentError, TemporaryError, execute
from kubeheal.clients.kube import (
    KubeApiError,
    KubeConflict,
    KubeDecodeError,
    KubeError,
    KubeForbidden,
    KubeGone,
    KubeNotFound,
    KubeUnavailable,
)
from kubeheal.engine.params import CordonNode, ScaleOut

SCALE = ScaleOut(
    namespace="shop", workload_kind="Deployment", workload="web", current_replicas=3, replicas=5
)

CASES = [
    (KubeUnavailable("connection refused"), TemporaryError, 5.0),
    (KubeUnavailable("429", retry_after=7.0), TemporaryError, 7.0),
    (KubeGone(code=410, reason="Gone", message="too old"), TemporaryError, 1.0),
    (KubeNotFound(code=404, reason="NotFound", message="gone"), PermanentError, None),
    (KubeForbidden(code=403, reason="Forbidden", message="rbac"), PermanentError, None),
    (KubeApiError(code=422, reason="Invalid", message="bad"), PermanentError, None),
    (KubeApiError(code=400, reason="BadRequest", message="bad"), PermanentError, None),
    (KubeDecodeError("garbage"), PermanentError, None),
    (KubeError("unknown"), PermanentError, None),
]


@pytest.mark.parametrize(("error", "expected", "delay"), CASES)
async def test_client_errors_become_retry_intent(writer, kit, error, expected, delay) -> None:
    writer.failures[("get", "web")] = [error]
    with pytest.raises(expected) as info:
        await execute(kit.plan(SCALE), writer=writer)
    assert not isinstance(info.value, KubeError)
    assert info.value.__cause__ is error
    if delay is not None:
        assert info.value.delay == delay


@pytest.mark.parametrize(("error", "expected", "delay"), CASES)
async def test_errors_on_the_write_are_translated_too(writer, kit, error, expected, delay) -> None:
    writer.failures[("patch", "n1")] = [error]
    with pytest.raises(expected):
        await execute(kit.plan(CordonNode(node="n1"), target=kit.NODE), writer=writer)


async def test_conflicts_beyond_the_retries_are_temporary(writer, kit) -> None:
    writer.failures[("patch", "web")] = [
        KubeConflict(code=409, reason="Conflict", message="changed") for _ in range(3)
    ]
    with pytest.raises(TemporaryError):
        await execute(kit.plan(SCALE), writer=writer)
    assert len(writer.writes("patch")) == 3


async def test_a_plan_whose_action_does_not_match_its_params_is_refused(writer, kit) -> None:
    import msgspec

    from kubeheal.engine.playbooks.schema import ActionName

    plan = msgspec.structs.replace(kit.plan(SCALE), action=ActionName.CORDON_NODE)
    with pytest.raises(PermanentError, match="does not match"):
        await execute(plan, writer=writer)
    assert writer.calls == []


def test_the_error_tree() -> None:
    assert issubclass(TemporaryError, ActionError) and issubclass(PermanentError, ActionError)
    assert not issubclass(ActionError, KubeError)
    assert TemporaryError("x", delay=2.5).delay == 2.5


def test_public_surface() -> None:
    assert sorted(actions.__all__) == sorted(
        [
            "ANNOTATION_LAST_ACTION",
            "ANNOTATION_ROLLED_BACK_FROM",
            "EVENT_REASON",
            "ActionError",
            "ActionOutcome",
            "EvidenceValue",
            "OutcomeState",
            "PermanentError",
            "TemporaryError",
            "Writer",
            "execute",
        ]
    )
    for name in actions.__all__:
        assert hasattr(actions, name)


def test_every_action_params_type_has_an_executor() -> None:
    import typing

    from kubeheal.actions.execute import EXECUTORS
    from kubeheal.engine.params import ActionParams

    assert set(typing.get_args(ActionParams)) == set(EXECUTORS)


def test_the_outcome_round_trips_as_json() -> None:
    import msgspec

    from kubeheal.actions import ActionOutcome, OutcomeState

    out = ActionOutcome(
        state=OutcomeState.FAILED,
        changed=True,
        detail="partial",
        evidence={"evicted": ["a/b"], "rounds": 3, "node": "n1", "x": None},
    )
    back = msgspec.json.decode(msgspec.json.encode(out), type=ActionOutcome)
    assert back == out and not back.ok

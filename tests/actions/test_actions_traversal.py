"""Hostile names cannot steer a write past the guards (issue 23, defect 1).

Three layers, each tested alone and then together:

- the executors' guarded writer (``kubeheal.actions.preflight``) re-checks every write on the
  objects the API returns: excluded namespaces, ``kubeheal.io/disabled`` on the object and on
  its Namespace, GitOps ownership, the object actually returned, the target's namespace;
- end to end, property-based: webhook alert labels -> ``alert_signal`` -> ``decide`` ->
  ``execute`` with the real KubeWriter over a recording httpx MockTransport that serves a
  small cluster. Whatever the labels, no request leaves the target's namespace and no write
  lands in an excluded or disabled namespace; the same holds when the label checks are
  bypassed (a target built from raw values, as a careless source would).
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx2
import msgspec
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kubeheal.actions import ActionOutcome, PermanentError, execute
from kubeheal.clients.kube import KubeConnection, KubeForbidden
from kubeheal.clients.writer import Kind, KubeWriter
from kubeheal.config import GuardSettings, IncidentSettings, Settings
from kubeheal.engine.detect import alert_signal
from kubeheal.engine.incidents import correlate
from kubeheal.engine.params import RollbackDeployment, ScaleOut
from kubeheal.engine.plan import ActionPlan, decide
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.model.cluster import ClusterView, Deployment, Namespace
from kubeheal.model.core import Signal, SignalKind, SignalSource, Target, TargetKind
from kubeheal.model.history import History
from kubeheal.server.webhook import AlertmanagerPayload

WALL = datetime(2026, 1, 10, 8, 0, tzinfo=UTC)
TRAVERSAL = "./../../kube-system/deployments/coredns"
QUERY = "demo?labelSelector=x#"
DISABLED = {"kubeheal.io/disabled": "true"}

SCALE = ScaleOut(
    namespace="shop", workload_kind="Deployment", workload="web", current_replicas=3, replicas=5
)


async def run(plan: ActionPlan, writer: Any, **kw: Any) -> ActionOutcome:
    return await execute(plan, writer=writer, wall_clock=lambda: WALL, **kw)


def namespace(name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "annotations": annotations or {}},
    }


# -- the guarded writer, on the in-memory fake ---------------------------------------------


async def test_an_excluded_namespace_is_refused_before_any_write(writer, kit) -> None:
    writer.put(Kind.DEPLOYMENT, kit.deployment(name="coredns", ns="kube-system"))
    target = Target(kind=TargetKind.DEPLOYMENT, namespace="kube-system", name="coredns")
    params = msgspec.structs.replace(SCALE, namespace="kube-system", workload="coredns")
    with pytest.raises(PermanentError, match="namespace kube-system is excluded"):
        await run(kit.plan(params, target=target), writer)
    assert writer.writes() == []
    assert writer.obj(Kind.DEPLOYMENT, "kube-system", "coredns")["spec"]["replicas"] == 3


async def test_the_disabled_annotation_on_the_live_object_is_honoured(writer, kit) -> None:
    writer.obj(Kind.DEPLOYMENT, "shop", "web")["metadata"]["annotations"].update(DISABLED)
    with pytest.raises(
        PermanentError, match=r"deployment shop/web is annotated kubeheal\.io/disabled"
    ):
        await run(kit.plan(SCALE), writer)
    assert writer.writes() == []


async def test_the_disabled_annotation_on_the_live_namespace_is_honoured(writer, kit) -> None:
    writer.put(Kind.NAMESPACE, namespace("shop", DISABLED))
    with pytest.raises(PermanentError, match=r"namespace shop is annotated kubeheal\.io/disabled"):
        await run(kit.plan(SCALE), writer)
    assert writer.writes() == []
    # Without the annotation the same plan goes through (the check is not a blanket refusal).
    writer.put(Kind.NAMESPACE, namespace("shop"))
    outcome = await run(kit.plan(SCALE), writer)
    assert outcome.changed
    assert writer.obj(Kind.DEPLOYMENT, "shop", "web")["spec"]["replicas"] == 5


async def test_a_namespace_that_cannot_be_read_fails_closed(writer, kit) -> None:
    writer.failures[("get", "shop")] = [
        KubeForbidden(code=403, reason="Forbidden", message="namespaces is forbidden")
    ]
    with pytest.raises(PermanentError, match="forbidden"):
        await run(kit.plan(SCALE), writer)
    assert writer.writes() == []


async def test_gitops_ownership_is_judged_on_the_live_object(writer, kit) -> None:
    labels = writer.obj(Kind.DEPLOYMENT, "shop", "web")["metadata"].setdefault("labels", {})
    labels["argocd.argoproj.io/instance"] = "shop"
    rollback = RollbackDeployment(
        namespace="shop",
        deployment="web",
        from_revision=3,
        to_revision=2,
        to_replica_set="web-aaa2",
    )
    for params in (rollback, SCALE):  # persistent: they rewrite a spec Argo CD owns
        with pytest.raises(PermanentError, match="managed by Argo CD"):
            await run(kit.plan(params), writer)
    assert writer.writes() == []
    via_hpa = msgspec.structs.replace(SCALE, hpa="web", hpa_min_replicas=4, hpa_max_replicas=8)
    assert (await run(kit.plan(via_hpa), writer)).changed  # least-persistent lets it through
    writer.calls.clear()
    strict = GuardSettings(gitops_policy="escalate")
    again = msgspec.structs.replace(via_hpa, replicas=5, hpa_min_replicas=5)
    with pytest.raises(PermanentError, match="managed by Argo CD"):
        await run(kit.plan(again), writer, guards=strict)
    assert writer.writes() == []


async def test_a_write_outside_the_targets_namespace_is_refused(writer, kit) -> None:
    writer.put(Kind.DEPLOYMENT, kit.deployment(name="coredns", ns="kube-public"))
    params = msgspec.structs.replace(SCALE, namespace="kube-public", workload="coredns")
    with pytest.raises(PermanentError, match="leaves namespace shop"):
        await run(kit.plan(params), writer)  # the target is shop/web
    assert writer.calls == []


async def test_the_object_returned_must_be_the_one_asked_for(writer, kit) -> None:
    other = kit.deployment(name="coredns", ns="kube-system")
    writer.objects[(Kind.DEPLOYMENT, "shop", "web")] = other  # a path resolved elsewhere
    with pytest.raises(PermanentError, match="the API returned"):
        await run(kit.plan(SCALE), writer)
    assert writer.writes() == []


@pytest.mark.parametrize(
    ("namespace_", "name"),
    [("shop", TRAVERSAL), (QUERY, "web"), ("shop", "web\x00"), ("shop", "web\r\nX: y")],
)
async def test_hostile_names_that_bypassed_the_edge_are_refused(
    writer, kit, namespace_: str, name: str
) -> None:
    target = Target(kind=TargetKind.DEPLOYMENT, namespace=namespace_, name=name)
    params = msgspec.structs.replace(SCALE, namespace=namespace_, workload=name)
    with pytest.raises(PermanentError, match="refused") as caught:
        await run(kit.plan(params, target=target), writer)
    assert "\x00" not in str(caught.value) and "\n" not in str(caught.value)
    assert writer.calls == []


async def test_node_actions_stay_on_their_node(writer, kit) -> None:
    from kubeheal.engine.params import CordonNode

    writer.put(Kind.NODE, kit.node("n2"))
    with pytest.raises(PermanentError, match="for node n1"):
        await run(kit.plan(CordonNode(node="n2"), target=kit.NODE), writer)
    assert writer.writes() == []
    writer.obj(Kind.NODE, None, "n1")["metadata"]["annotations"].update(DISABLED)
    with pytest.raises(PermanentError, match="node n1 is annotated"):
        await run(kit.plan(CordonNode(node="n1"), target=kit.NODE), writer)
    assert writer.writes() == []


# -- end to end: webhook labels -> signal -> plan -> execute over HTTP -----------------------


def _deployment(ns: str, name: str, *, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "resourceVersion": "7",
            "labels": labels or {},
            "annotations": {},
        },
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "app:1"}]},
            },
        },
    }


SERVED = {
    "/api/v1/namespaces/demo": namespace("demo"),
    "/api/v1/namespaces/kube-system": namespace("kube-system"),
    "/api/v1/namespaces/quiet": namespace("quiet", DISABLED),
    "/apis/apps/v1/namespaces/demo/deployments/web": _deployment("demo", "web"),
    "/apis/apps/v1/namespaces/kube-system/deployments/coredns": _deployment(
        "kube-system", "coredns"
    ),
    "/apis/apps/v1/namespaces/quiet/deployments/app": _deployment("quiet", "app"),
    "/apis/apps/v1/namespaces/demo/deployments/argo": _deployment(
        "demo", "argo", labels={"argocd.argoproj.io/instance": "demo"}
    ),
}
EXCLUDED = {"kube-system"}
DISABLED_NAMESPACES = {"quiet"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


@dataclass
class Api:
    """A recording API server over httpx's MockTransport: serves SERVED by exact raw path."""

    objects: dict[str, dict[str, Any]] = field(default_factory=lambda: copy.deepcopy(SERVED))
    requests: list[tuple[str, str]] = field(default_factory=list)

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        path = request.url.raw_path.decode().split("?")[0]
        self.requests.append((request.method, path))
        if request.method == "POST":
            return httpx2.Response(201, json=json.loads(request.content))
        obj = self.objects.get(path)
        if obj is None:
            status = {"kind": "Status", "code": 404, "reason": "NotFound", "message": path}
            return httpx2.Response(404, json=status)
        if request.method == "PATCH":
            patch = json.loads(request.content)
            if isinstance(patch, dict) and "replicas" in patch.get("spec", {}):
                obj["spec"]["replicas"] = patch["spec"]["replicas"]
            obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        return httpx2.Response(200, json=obj)


def _view() -> ClusterView:
    """The cluster cache as planning sees it: every namespace plain (the disabled annotation
    and the Argo CD label exist only on the live objects, as after a cache lag)."""
    namespaces = [
        msgspec.convert({"metadata": {"name": n}}, Namespace) for n in ("demo", "kube-system")
    ]
    deployments = [
        msgspec.convert(
            {"metadata": {"name": o["metadata"]["name"], "namespace": o["metadata"]["namespace"]},
             "spec": {"replicas": 2}},
            Deployment,
        )
        for p, o in SERVED.items()
        if "/deployments/" in p
    ]  # fmt: skip
    return ClusterView(namespaces=namespaces, deployments=deployments)


PLAYBOOKS = load_builtin_playbooks()
SETTINGS = Settings()
VIEW = _view()


@pytest.fixture
async def api_writer() -> AsyncIterator[tuple[Api, KubeWriter]]:
    api = Api()
    connection = KubeConnection.from_server("http://kube.test").with_agent("kubeheal-tests")
    writer = KubeWriter(connection, transport=httpx2.MockTransport(api))
    yield api, writer
    await writer.aclose()


def _webhook_labels(labels: dict[str, str]) -> dict[str, str]:
    """The labels as the webhook's v4 payload model accepts them."""
    body = {
        "version": "4",
        "status": "firing",
        "alerts": [{"status": "firing", "labels": labels, "startsAt": "2026-01-10T07:59:00Z"}],
    }
    return AlertmanagerPayload.model_validate_json(json.dumps(body)).alerts[0].labels


async def _through_the_pipeline(
    signal: Signal | None, writer: KubeWriter
) -> tuple[Target | None, str]:
    """Plan and execute what the signal asks for: the target, and how it ended (``no
    signal``, ``not planned``, ``refused: ...`` or the outcome's detail)."""
    if signal is None:
        return None, "no signal"
    (incident,) = correlate([signal], incidents=(), now=WALL, settings=IncidentSettings())
    plan = decide(incident, VIEW, History(), SETTINGS, now=WALL, playbooks=PLAYBOOKS)
    if not isinstance(plan, ActionPlan):
        return signal.target, "not planned"
    try:
        outcome = await execute(
            plan, writer=writer, guards=SETTINGS.guards, wall_clock=lambda: WALL
        )
    except PermanentError as e:
        return signal.target, f"refused: {e}"
    return signal.target, outcome.detail


def _assert_contained(api: Api, target: Target | None) -> None:
    for method, path in api.requests:
        parts = path.strip("/").split("/")
        assert target is not None, f"{method} {path} without a target"
        if "namespaces" in parts:
            ns = parts[parts.index("namespaces") + 1]
            assert ns == target.namespace, f"{method} {path} left namespace {target.namespace}"
            if method in WRITES:
                assert ns not in EXCLUDED | DISABLED_NAMESPACES, f"{method} {path}"
        if method in WRITES and "deployments" in parts:
            name = parts[parts.index("deployments") + 1]
            assert (ns, name) != ("demo", "argo"), f"{method} {path}: GitOps-owned"


def _alert(labels: dict[str, str]) -> Signal | None:
    return alert_signal(
        alertname="HighLatency", labels=_webhook_labels(labels), observed_at=WALL, view=VIEW
    )


async def test_the_issue_reproductions_reach_nothing(api_writer) -> None:
    api, _ = api_writer
    for labels in (
        {"alertname": "HighLatency", "namespace": "demo", "deployment": TRAVERSAL},
        {"alertname": "HighLatency", "namespace": QUERY, "deployment": "web"},
        {"alertname": "HighLatency", "namespace": "demo", "deployment": "web\x00"},
    ):
        assert _alert(labels) is None
    assert api.requests == []
    assert api.objects == SERVED  # CoreDNS was not scaled


async def test_valid_alerts_act_only_where_the_guards_allow(api_writer) -> None:
    api, writer = api_writer
    demo = _alert({"alertname": "HighLatency", "namespace": "demo", "deployment": "web"})
    _, how = await _through_the_pipeline(demo, writer)
    assert how.startswith("scaled Deployment demo/web from 2 to 4")
    assert ("PATCH", "/apis/apps/v1/namespaces/demo/deployments/web") in api.requests
    assert api.objects["/apis/apps/v1/namespaces/demo/deployments/web"]["spec"]["replicas"] == 4
    # Planning sees a stale cache; the guarded writer judges the live objects.
    for ns, name, expected in (
        ("quiet", "app", "refused: scale_out on Deployment/quiet/app: refused before writing: "
         "namespace quiet is annotated kubeheal.io/disabled=true"),
        ("demo", "argo", "refused: scale_out on Deployment/demo/argo: refused before writing: "
         "deployment demo/argo is managed by Argo CD: commit the patch instead"),
        ("kube-system", "coredns", "not planned"),  # the planning guard already stops it
    ):  # fmt: skip
        api.requests.clear()
        signal = _alert({"alertname": "HighLatency", "namespace": ns, "deployment": name})
        target, how = await _through_the_pipeline(signal, writer)
        assert how == expected
        assert [m for m, _ in api.requests if m in WRITES] == [], (ns, name, api.requests)
        _assert_contained(api, target)
    assert api.objects["/apis/apps/v1/namespaces/quiet/deployments/app"]["spec"]["replicas"] == 2


PIECES = st.sampled_from(
    ["..", ".", "/", "?", "#", "%2f", "%2e%2e", "\x00", "\n", "\r", " ", "kube-system", "quiet",
     "demo", "coredns", "deployments", "namespaces", "apis", "apps", "v1", "web", "app", "argo",
     "labelSelector=x", "-", "A"]
)  # fmt: skip
HOSTILE = st.one_of(
    st.sampled_from(["demo", "quiet", "kube-system", "web", "app", "coredns", "argo"]),
    st.lists(PIECES, min_size=1, max_size=8).map("".join),
    st.text(max_size=20),
)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(namespace=HOSTILE, name=HOSTILE, label=st.sampled_from(["deployment", "statefulset"]))
@example(namespace="demo", name=TRAVERSAL, label="deployment")
@example(namespace=QUERY, name="web", label="deployment")
@example(namespace="quiet", name="app", label="deployment")
@example(namespace="demo", name="../quiet/deployments/app", label="deployment")
async def test_hostile_alert_labels_never_write_outside_the_guards(
    api_writer, namespace: str, name: str, label: str
) -> None:
    api, writer = api_writer
    api.requests.clear()
    signal = _alert({"alertname": "HighLatency", "namespace": namespace, label: name})
    target, _ = await _through_the_pipeline(signal, writer)
    _assert_contained(api, target)


@settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(namespace=HOSTILE, name=HOSTILE)
@example(namespace="demo", name=TRAVERSAL)
@example(namespace="demo", name="../../quiet/deployments/app")
async def test_unchecked_targets_are_stopped_by_the_client_and_the_guards(
    api_writer, namespace: str, name: str
) -> None:
    """The same with the edge bypassed: a signal built from raw values, as a source that
    forgot to validate would; the guarded writer and the client still hold."""
    api, writer = api_writer
    api.requests.clear()
    target = Target(kind=TargetKind.DEPLOYMENT, namespace=namespace, name=name)
    signal = Signal(
        id=Signal.make_id(SignalKind.ALERT, target, "alert/HighLatency"),
        kind=SignalKind.ALERT,
        target=target,
        subject="alert/HighLatency",
        observed_at=WALL,
        details={"alertname": "HighLatency"},
        labels={"alertname": "HighLatency"},
        source=SignalSource.ALERTMANAGER,
    )
    await _through_the_pipeline(signal, writer)
    _assert_contained(api, target)

"""Request paths are built from checked, escaped segments only: the real KubeWriter (lightkube
inside) over a recording httpx MockTransport. A name like ``./../../kube-system/deployments/
coredns`` is refused before anything is sent (the HTTP client would resolve the ``..``), and
every name accepted reaches exactly the path it names."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import httpx2
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from kubeheal.clients.kube import KubeConnection, KubeError, KubeInvalidName, safe_segment
from kubeheal.clients.reflector import resource_path
from kubeheal.clients.writer import Kind, KubeWriter
from kubeheal.model.names import NameKind, name_problem

TRAVERSAL = "./../../kube-system/deployments/coredns"
QUERY = "demo?labelSelector=x#"


class Recorder:
    """An API server that answers every request with an object named as the path says."""

    def __init__(self) -> None:
        self.requests: list[httpx2.Request] = []

    def __call__(self, request: httpx2.Request) -> httpx2.Response:
        self.requests.append(request)
        parts = request.url.raw_path.decode().split("?")[0].strip("/").split("/")
        namespace = parts[parts.index("namespaces") + 1] if "namespaces" in parts[:-1] else None
        body: dict[str, Any] = {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": parts[-1], "namespace": namespace, "resourceVersion": "1"},
            "spec": {
                "selector": {"matchLabels": {"app": "x"}},
                "template": {"metadata": {"labels": {"app": "x"}}},
            },
        }
        if request.method == "POST":
            body = json.loads(request.content or b"{}")
        return httpx2.Response(200, json=body)

    @property
    def paths(self) -> list[str]:
        return [r.url.raw_path.decode().split("?")[0] for r in self.requests]


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def writer(recorder: Recorder) -> AsyncIterator[KubeWriter]:
    connection = KubeConnection.from_server("http://kube.test").with_agent("kubeheal-tests")
    w = KubeWriter(connection, transport=httpx2.MockTransport(recorder))
    yield w
    await w.aclose()


async def test_the_traversal_reproduction_sends_nothing(
    writer: KubeWriter, recorder: Recorder
) -> None:
    with pytest.raises(KubeInvalidName) as caught:
        await writer.patch(Kind.DEPLOYMENT, "demo", TRAVERSAL, {"spec": {"replicas": 5}})
    assert caught.value.field == "deployment name"
    with pytest.raises(KubeInvalidName):
        await writer.get(Kind.DEPLOYMENT, "demo", TRAVERSAL)
    with pytest.raises(KubeInvalidName) as caught:
        await writer.get(Kind.DEPLOYMENT, QUERY, "web")
    assert caught.value.field == "namespace"
    assert recorder.requests == []


async def test_a_valid_name_reaches_exactly_its_path(
    writer: KubeWriter, recorder: Recorder
) -> None:
    await writer.patch(Kind.DEPLOYMENT, "demo", "web.v2", {"spec": {"replicas": 5}})
    await writer.get(Kind.NODE, None, "ip-10-0-1-2.internal")
    assert recorder.paths == [
        "/apis/apps/v1/namespaces/demo/deployments/web.v2",
        "/api/v1/nodes/ip-10-0-1-2.internal",
    ]


@pytest.mark.parametrize(
    "call",
    [
        lambda w: w.get(Kind.POD, "demo", ".."),
        lambda w: w.delete(Kind.POD, "demo", "web/../../x"),
        lambda w: w.patch(Kind.NODE, None, "n1\x00", {}),
        lambda w: w.evict("demo", "web%2f..%2fx"),
        lambda w: w.create(Kind.EVENT, "../kube-system", {"metadata": {"name": "e"}}),
        lambda w: w.create(Kind.PDB, None, {"metadata": {"name": "p", "namespace": "a/b"}}),
        lambda w: w.replace(Kind.CONFIGMAP, "demo", {"metadata": {"name": "c?x=1"}}),
        lambda w: w.list(Kind.POD, "demo#"),
        lambda w: w.logs("demo", "web\n"),
        lambda w: w.create_custom(
            group="litmuschaos.io", version="v1alpha1", plural="chaosengines",
            namespace="..", obj={},
        ),
        lambda w: w.delete_custom(
            group="litmuschaos.io", version="v1alpha1", plural="chaosengines",
            namespace="demo", name="../../../../api/v1/namespaces/kube-system",
        ),
    ],
)  # fmt: skip
async def test_every_method_refuses_unsafe_segments(
    writer: KubeWriter, recorder: Recorder, call: Any
) -> None:
    with pytest.raises(KubeInvalidName):
        await call(writer)
    assert recorder.requests == []


async def test_hand_built_paths_are_escaped(writer: KubeWriter, recorder: Recorder) -> None:
    await writer.logs("demo", "web-1", container="app?x=1")
    (request,) = recorder.requests
    assert request.url.raw_path.decode().split("?")[0] == "/api/v1/namespaces/demo/pods/web-1/log"
    assert request.url.params["container"] == "app?x=1"


def test_resource_paths_of_the_reflector() -> None:
    assert resource_path("apps", "v1", "deployments", "demo") == (
        "/apis/apps/v1/namespaces/demo/deployments"
    )
    assert resource_path("", "v1", "pods") == "/api/v1/pods"
    for bad in ("..", QUERY, "a/b", "x\x00"):
        with pytest.raises(KubeInvalidName):
            resource_path("apps", "v1", "deployments", bad)
    assert issubclass(KubeInvalidName, KubeError)
    assert safe_segment("web", field="name", kind=NameKind.SUBDOMAIN) == "web"


NAME_PIECES = st.sampled_from(
    ["..", ".", "/", "?", "#", "%2f", "%2e%2e", "\x00", "\n", " ", "kube-system", "coredns",
     "deployments", "namespaces", "demo", "web", "a", "-", "A"]
)  # fmt: skip
NAMES = st.one_of(st.text(max_size=30), st.lists(NAME_PIECES, min_size=1, max_size=8).map("".join))


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(namespace=NAMES, name=NAMES)
@example(namespace="demo", name=TRAVERSAL)
@example(namespace=QUERY, name="web")
@example(namespace="demo", name="web\x00")
async def test_no_request_reaches_another_object_than_the_one_named(
    writer: KubeWriter, recorder: Recorder, namespace: str, name: str
) -> None:
    recorder.requests.clear()
    valid = (
        name_problem(namespace, NameKind.LABEL) is None
        and name_problem(name, NameKind.SUBDOMAIN) is None
    )
    try:
        await writer.patch(Kind.DEPLOYMENT, namespace, name, {"spec": {"replicas": 2}})
    except KubeInvalidName:
        assert not valid
        assert recorder.requests == []
        return
    assert valid
    assert recorder.paths == [f"/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]

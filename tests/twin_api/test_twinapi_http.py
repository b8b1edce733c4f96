"""The twin's REST API over HTTP: discovery, CRUD, patches, subresources, errors, watches."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest

from kubeheal.twin.sim.state import ContainerRuntime, PodRuntime

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"


@pytest.fixture(scope="module")
def client(served: Any) -> Any:
    with httpx.Client(base_url=served.url, timeout=10) as c:
        yield c


def _cm(name: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "labels": labels},
        "data": {"k": "v"},
    }


def _deploy(name: str, replicas: int = 2) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "nginx:1.25"}]},
            },
        },
    }


def _pod(name: str, *containers: str, **labels: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {"containers": [{"name": c, "image": "busybox"} for c in containers or ("app",)]},
    }


def _status(resp: httpx.Response, code: int) -> dict[str, Any]:
    assert resp.status_code == code, resp.text
    body = resp.json()
    assert body["kind"] == "Status"
    assert body["code"] == code
    return body  # type: ignore[no-any-return]


# ----------------------------------------------------------------------------- discovery


def test_discovery_lists_groups_resources_and_subresources(client: httpx.Client) -> None:
    assert client.get("/api").json()["versions"] == ["v1"]
    groups = {g["name"] for g in client.get("/apis").json()["groups"]}
    assert {"apps", "policy", "autoscaling", "coordination.k8s.io"} <= groups
    core = {r["name"]: r for r in client.get("/api/v1").json()["resources"]}
    assert core["pods"]["shortNames"] == ["po"] and core["pods"]["categories"] == ["all"]
    assert (
        core["pods/eviction"]["group"] == "policy" and core["pods/eviction"]["kind"] == "Eviction"
    )
    assert core["pods/log"]["verbs"] == ["get"]
    assert "pods/status" in core and "pods/binding" in core
    assert core["nodes"]["namespaced"] is False
    apps = {r["name"]: r for r in client.get("/apis/apps/v1").json()["resources"]}
    assert apps["deployments/scale"]["kind"] == "Scale"
    assert apps["deployments"]["singularName"] == "deployment"
    assert "watch" in apps["deployments"]["verbs"]
    assert client.get("/apis/apps").json()["preferredVersion"]["groupVersion"] == "apps/v1"
    assert client.get("/version").json()["major"] == "1"
    for probe in ("/healthz", "/readyz", "/livez"):
        assert client.get(probe).text == "ok"


def test_openapi_v3_has_patch_operations_with_gvk_and_field_validation(
    client: httpx.Client,
) -> None:
    index = client.get("/openapi/v3").json()["paths"]
    assert "apis/apps/v1" in index and "api/v1" in index
    doc = client.get(index["apis/apps/v1"]["serverRelativeURL"]).json()
    patch = doc["paths"]["/apis/apps/v1/namespaces/{namespace}/deployments/{name}"]["patch"]
    assert patch["x-kubernetes-group-version-kind"] == {
        "group": "apps",
        "version": "v1",
        "kind": "Deployment",
    }
    assert "fieldValidation" in {p["name"] for p in patch["parameters"]}
    _status(client.get("/openapi/v3/apis/nope/v1"), 404)


def test_unknown_paths_and_resources_are_404_status(client: httpx.Client) -> None:
    body = _status(client.get("/api/v1/namespaces/default/widgets"), 404)
    assert body["message"] == "the server could not find the requested resource"
    _status(client.get("/apis/nope.example.com/v1"), 404)
    _status(client.get("/api/v1/nodes/n1/log"), 404)
    _status(client.get("/api/v1/namespaces/default/nodes"), 404)


# ----------------------------------------------------------------------------- CRUD


def test_create_get_replace_delete_round_trip(client: httpx.Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    created = client.post(base, json=_cm("crud"))
    assert created.status_code == 201
    meta = created.json()["metadata"]
    assert meta["uid"] and meta["resourceVersion"] and meta["namespace"] == "default"
    _status(client.post(base, json=_cm("crud")), 409)
    got = client.get(f"{base}/crud").json()
    got["data"] = {"k": "v2"}
    replaced = client.put(f"{base}/crud", json=got)
    assert replaced.status_code == 200 and replaced.json()["data"] == {"k": "v2"}
    # the old resourceVersion is stale now: 409 Conflict
    body = _status(client.put(f"{base}/crud", json=got), 409)
    assert body["reason"] == "Conflict" and "has been modified" in body["message"]
    wrong_name = {**got, "metadata": {**got["metadata"], "name": "other"}}
    _status(client.put(f"{base}/crud", json=wrong_name), 400)
    assert client.delete(f"{base}/crud").json()["status"] == "Success"
    _status(client.get(f"{base}/crud"), 404)
    body = _status(client.delete(f"{base}/crud"), 404)
    assert body["message"] == 'configmaps "crud" not found'


def test_create_in_missing_namespace_and_yaml_body(client: httpx.Client) -> None:
    _status(client.post("/api/v1/namespaces/nope/configmaps", json=_cm("x")), 404)
    text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  a: b\n"
    resp = client.post(
        "/api/v1/namespaces/default/configmaps",
        content=text,
        headers={"Content-Type": "application/yaml"},
    )
    assert resp.status_code == 201 and resp.json()["data"] == {"a": "b"}


def test_dry_run_all_writes_nothing(client: httpx.Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    resp = client.post(base, params={"dryRun": "All"}, json=_cm("dry"))
    assert resp.status_code == 201 and resp.json()["metadata"]["name"] == "dry"
    _status(client.get(f"{base}/dry"), 404)
    client.post(base, json=_cm("dry2"))
    patched = client.patch(
        f"{base}/dry2",
        params={"dryRun": "All"},
        json={"data": {"k": "changed"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert patched.json()["data"] == {"k": "changed"}
    assert client.get(f"{base}/dry2").json()["data"] == {"k": "v"}
    client.delete(f"{base}/dry2", params={"dryRun": "All"})
    assert client.get(f"{base}/dry2").status_code == 200
    _status(client.post(base, params={"dryRun": "Some"}, json=_cm("dry3")), 400)


def test_defaults_like_the_real_api_server(client: httpx.Client) -> None:
    resp = client.post("/apis/apps/v1/namespaces/default/deployments", json=_deploy("dflt"))
    spec = resp.json()["spec"]
    assert spec["strategy"]["rollingUpdate"] == {"maxSurge": "25%", "maxUnavailable": "25%"}
    assert spec["revisionHistoryLimit"] == 10 and spec["progressDeadlineSeconds"] == 600
    container = spec["template"]["spec"]["containers"][0]
    assert container["imagePullPolicy"] == "IfNotPresent"
    pod = client.post("/api/v1/namespaces/default/pods", json=_pod("dfltpod")).json()
    assert pod["status"]["phase"] == "Pending" and pod["status"]["qosClass"] == "BestEffort"
    assert pod["spec"]["restartPolicy"] == "Always"
    svc = client.post(
        "/api/v1/namespaces/default/services",
        json={
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "dfltsvc"},
            "spec": {"selector": {"app": "x"}, "ports": [{"port": 80}]},
        },
    ).json()
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["clusterIP"].startswith("10.96.")
    assert svc["spec"]["ports"][0] == {"port": 80, "protocol": "TCP", "targetPort": 80}


# ----------------------------------------------------------------------------- field validation


def test_field_validation_strict_warn_ignore(client: httpx.Client) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    bad = _deploy("fv")
    bad["spec"]["foo"] = 1
    bad["spec"]["template"]["spec"]["containers"][0]["imagee"] = "x"
    body = _status(client.post(base, params={"fieldValidation": "Strict"}, json=bad), 400)
    assert body["message"] == (
        'strict decoding error: unknown field "spec.template.spec.containers[0].imagee", '
        'unknown field "spec.foo"'
    )
    warned = client.post(base, params={"fieldValidation": "Warn"}, json=bad)
    assert warned.status_code == 201
    warnings = warned.headers.get_list("warning")
    assert any('unknown field \\"spec.foo\\"' in w for w in warnings), warnings
    client.delete(f"{base}/fv")
    ignored = client.post(base, params={"fieldValidation": "Ignore"}, json=bad)
    assert ignored.status_code == 201 and "warning" not in ignored.headers
    _status(client.post(base, params={"fieldValidation": "Loose"}, json=bad), 400)
    # labels and annotations are free-form maps: never unknown
    ok = _cm("fv-labels", anything="goes")
    ok["metadata"]["annotations"] = {"x/y": "z"}
    resp = client.post(
        "/api/v1/namespaces/default/configmaps", params={"fieldValidation": "Strict"}, json=ok
    )
    assert resp.status_code == 201


# ----------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("content", "ctype", "code", "needle"),
    [
        (b"{not json", "application/json", 400, "not valid JSON"),
        (b"a: [1, 2\nb: c", "application/yaml", 400, "not valid YAML"),
        (b"[1, 2]", "application/json", 400, "must be a ConfigMap object"),
        (b"", "application/json", 400, "empty"),
        (b"\x0a\x03k8s", "application/vnd.kubernetes.protobuf", 400, "prefix"),
        (b"<xml/>", "application/xml", 415, "unknown format"),
    ],
)
def test_bad_bodies_get_status_and_server_keeps_serving(
    client: httpx.Client, content: bytes, ctype: str, code: int, needle: str
) -> None:
    resp = client.post(
        "/api/v1/namespaces/default/configmaps", content=content, headers={"Content-Type": ctype}
    )
    body = _status(resp, code)
    assert needle in body["message"]
    assert client.get("/api/v1/namespaces").status_code == 200


def test_bad_patches_are_statuses(client: httpx.Client) -> None:
    client.post("/api/v1/namespaces/default/configmaps", json=_cm("badpatch"))
    url = "/api/v1/namespaces/default/configmaps/badpatch"
    _status(client.patch(url, content=b"{}", headers={"Content-Type": "text/plain"}), 415)
    _status(
        client.patch(url, content=b"{", headers={"Content-Type": "application/merge-patch+json"}),
        400,
    )
    _status(
        client.patch(
            url, json={"op": "add"}, headers={"Content-Type": "application/json-patch+json"}
        ),
        400,
    )
    body = _status(
        client.patch(
            url,
            json=[{"op": "remove", "path": "/data/missing"}],
            headers={"Content-Type": "application/json-patch+json"},
        ),
        422,
    )
    assert "missing" in body["message"]
    body = _status(
        client.patch(
            url, content=b"a: b", headers={"Content-Type": "application/apply-patch+yaml"}
        ),
        400,
    )
    assert "fieldManager" in body["message"]
    _status(
        client.patch(
            "/api/v1/namespaces/default/configmaps/absent",
            json={"data": {}},
            headers={"Content-Type": "application/merge-patch+json"},
        ),
        404,
    )


@pytest.mark.parametrize(
    ("params", "needle"),
    [
        ({"labelSelector": "app in (a"}, "unable to parse requirement"),
        ({"labelSelector": "=x"}, "unable to parse requirement"),
        ({"fieldSelector": "spec.foo=bar"}, "field label not supported: spec.foo"),
        ({"fieldSelector": "metadata.name in (a)"}, "invalid field selector"),
        ({"limit": "ten"}, "limit"),
        ({"continue": "garbage!"}, "continue"),
    ],
)
def test_bad_list_parameters(client: httpx.Client, params: dict[str, str], needle: str) -> None:
    body = _status(client.get("/api/v1/namespaces/default/pods", params=params), 400)
    assert needle in body["message"]


def test_internal_errors_become_500_status_and_server_survives(
    client: httpx.Client, served: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("kaboom")

    monkeypatch.setattr(served.twin.store, "list", boom)
    body = _status(client.get("/api/v1/namespaces/default/configmaps"), 500)
    assert "kaboom" in body["message"]
    monkeypatch.undo()
    assert client.get("/api/v1/namespaces/default/configmaps").status_code == 200


# ----------------------------------------------------------------------------- lists


def test_list_selectors_and_paging(client: httpx.Client) -> None:
    client.post("/api/v1/namespaces", json={"metadata": {"name": "paging"}})
    base = "/api/v1/namespaces/paging/configmaps"
    for i in range(7):
        client.post(base, json=_cm(f"cm{i}", tier="a" if i % 2 else "b"))
    everything = client.get(base).json()
    assert everything["kind"] == "ConfigMapList" and len(everything["items"]) == 7
    odd = client.get(base, params={"labelSelector": "tier=a"}).json()["items"]
    assert [i["metadata"]["name"] for i in odd] == ["cm1", "cm3", "cm5"]
    notin = client.get(base, params={"labelSelector": "tier notin (a)"}).json()["items"]
    assert len(notin) == 4
    by_name = client.get(base, params={"fieldSelector": "metadata.name=cm4"}).json()["items"]
    assert [i["metadata"]["name"] for i in by_name] == ["cm4"]
    names: list[str] = []
    page = client.get(base, params={"limit": 3}).json()
    assert page["metadata"]["remainingItemCount"] == 4
    names += [i["metadata"]["name"] for i in page["items"]]
    while page["metadata"].get("continue"):
        page = client.get(
            base, params={"limit": 3, "continue": page["metadata"]["continue"]}
        ).json()
        names += [i["metadata"]["name"] for i in page["items"]]
    assert names == [f"cm{i}" for i in range(7)]
    across = client.get("/api/v1/configmaps", params={"labelSelector": "tier"}).json()["items"]
    assert len(across) == 7


def test_continue_token_expires_with_410_after_compaction(client: httpx.Client) -> None:
    client.post("/api/v1/namespaces", json={"metadata": {"name": "compact"}})
    base = "/api/v1/namespaces/compact/configmaps"
    for i in range(4):
        client.post(base, json=_cm(f"c{i}"))
    token = client.get(base, params={"limit": 2}).json()["metadata"]["continue"]
    client.post(base, json=_cm("later"))
    assert client.post("/twin/faults/api/compact").status_code == 200
    body = _status(client.get(base, params={"limit": 2, "continue": token}), 410)
    assert body["reason"] == "Expired"


# ----------------------------------------------------------------------------- patches


def test_three_patch_types_and_apply(client: httpx.Client) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    dep = _deploy("patchme")
    dep["spec"]["template"]["spec"]["containers"].append({"name": "side", "image": "envoy:1"})
    client.post(base, json=dep)
    url = f"{base}/patchme"
    smp = {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:2"}]}}}}
    out = client.patch(
        url, json=smp, headers={"Content-Type": "application/strategic-merge-patch+json"}
    ).json()
    images = {c["name"]: c["image"] for c in out["spec"]["template"]["spec"]["containers"]}
    assert images == {"app": "nginx:2", "side": "envoy:1"}  # merged by name, not replaced
    assert out["metadata"]["generation"] == 2
    out = client.patch(
        url,
        json={"metadata": {"labels": {"x": "y"}}},
        headers={"Content-Type": "application/merge-patch+json"},
    ).json()
    assert out["metadata"]["labels"] == {"x": "y"} and out["metadata"]["generation"] == 2
    ops = [{"op": "replace", "path": "/spec/replicas", "value": 5}]
    out = client.patch(
        url, json=ops, headers={"Content-Type": "application/json-patch+json"}
    ).json()
    assert out["spec"]["replicas"] == 5
    # a stale resourceVersion in the patch is a conflict
    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 1}}
    _status(
        client.patch(url, json=stale, headers={"Content-Type": "application/merge-patch+json"}), 409
    )
    # server-side apply: creates when absent, merges when present
    applied = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "ssa"},
        "data": {"a": "1"},
    }
    cm_url = "/api/v1/namespaces/default/configmaps/ssa"
    headers = {"Content-Type": "application/apply-patch+yaml"}
    first = client.patch(
        cm_url, params={"fieldManager": "t"}, content=json.dumps(applied), headers=headers
    )
    assert first.status_code == 201
    applied["data"] = {"b": "2"}
    second = client.patch(
        cm_url, params={"fieldManager": "t"}, content=json.dumps(applied), headers=headers
    )
    assert second.status_code == 200 and second.json()["data"] == {"a": "1", "b": "2"}


# ----------------------------------------------------------------------------- subresources


def test_status_subresource_separates_spec_and_status(client: httpx.Client) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    client.post(base, json=_deploy("stat"))
    obj = client.get(f"{base}/stat/status").json()
    obj["status"] = {"replicas": 2, "readyReplicas": 1}
    obj["spec"]["replicas"] = 9  # ignored through /status
    out = client.put(f"{base}/stat/status", json=obj).json()
    assert out["status"]["readyReplicas"] == 1 and out["spec"]["replicas"] == 2
    # the main resource ignores status changes
    out = client.patch(
        f"{base}/stat",
        json={"status": {"readyReplicas": 7}},
        headers={"Content-Type": "application/merge-patch+json"},
    ).json()
    assert out["status"]["readyReplicas"] == 1
    out = client.patch(
        f"{base}/stat/status",
        json={"status": {"readyReplicas": 2}},
        headers={"Content-Type": "application/merge-patch+json"},
    ).json()
    assert out["status"]["readyReplicas"] == 2


def test_scale_subresource(client: httpx.Client) -> None:
    base = "/apis/apps/v1/namespaces/default/deployments"
    client.post(base, json=_deploy("scaly", replicas=3))
    scale = client.get(f"{base}/scaly/scale").json()
    assert scale["kind"] == "Scale" and scale["apiVersion"] == "autoscaling/v1"
    assert scale["spec"]["replicas"] == 3 and scale["status"]["selector"] == "app=scaly"
    scale["spec"]["replicas"] = 4
    assert client.put(f"{base}/scaly/scale", json=scale).json()["spec"]["replicas"] == 4
    _status(client.put(f"{base}/scaly/scale", json=scale), 409)  # stale resourceVersion
    out = client.patch(
        f"{base}/scaly/scale",
        json={"spec": {"replicas": 6}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    assert out.json()["spec"]["replicas"] == 6
    assert client.get(f"{base}/scaly").json()["spec"]["replicas"] == 6
    _status(
        client.patch(
            f"{base}/scaly/scale",
            json={"spec": {"replicas": -1}},
            headers={"Content-Type": "application/merge-patch+json"},
        ),
        422,
    )


def test_binding_sets_node_once(client: httpx.Client) -> None:
    base = "/api/v1/namespaces/default/pods"
    client.post(base, json=_pod("bindme"))
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": "bindme"},
        "target": {"kind": "Node", "name": "n1"},
    }
    assert client.post(f"{base}/bindme/binding", json=binding).status_code == 201
    pod = client.get(f"{base}/bindme").json()
    assert pod["spec"]["nodeName"] == "n1"
    assert pod["status"]["conditions"][0]["type"] == "PodScheduled"
    body = _status(client.post(f"{base}/bindme/binding", json=binding), 409)
    assert "already assigned" in body["message"]


def test_logs_from_runtime_state(client: httpx.Client, served: Any) -> None:
    base = "/api/v1/namespaces/default/pods"
    pod = client.post(base, json=_pod("logger", "app", "side")).json()
    uid = pod["metadata"]["uid"]
    runtime = PodRuntime(uid=uid, namespace="default", name="logger", node="n1")
    runtime.containers["app"] = ContainerRuntime(
        name="app",
        logs=[f"2026-01-01T00:00:0{i}Z line {i}" for i in range(5)],
        previous_logs=["2026-01-01T00:00:00Z crashed"],
        restart_count=1,
    )
    runtime.containers["side"] = ContainerRuntime(
        name="side", logs=["2026-01-01T00:00:00Z side says hi"]
    )
    served.twin.runtime.pods[uid] = runtime
    body = _status(client.get(f"{base}/logger/log"), 400)
    assert (
        body["message"]
        == "a container name must be specified for pod logger, choose one of: [app side]"
    )
    text = client.get(f"{base}/logger/log", params={"container": "app", "tailLines": 2}).text
    assert text.splitlines() == ["line 3", "line 4"]
    prev = client.get(f"{base}/logger/log", params={"container": "app", "previous": "true"}).text
    assert prev == "crashed\n"
    stamped = client.get(f"{base}/logger/log", params={"container": "side", "timestamps": "true"})
    assert stamped.text == "2026-01-01T00:00:00.000000000Z side says hi\n"
    _status(client.get(f"{base}/logger/log", params={"container": "nope"}), 400)
    _status(client.get(f"{base}/ghost/log"), 404)


def test_delete_options_preconditions_and_collection(client: httpx.Client) -> None:
    client.post("/api/v1/namespaces", json={"metadata": {"name": "delns"}})
    base = "/api/v1/namespaces/delns/configmaps"
    for i in range(3):
        client.post(base, json=_cm(f"d{i}", group="x" if i < 2 else "y"))
    body = _status(
        client.request("DELETE", f"{base}/d0", json={"preconditions": {"uid": "not-the-uid"}}),
        409,
    )
    assert "Precondition failed" in body["message"]
    _status(
        client.request(
            "DELETE", f"{base}/d0", content=b"{oops", headers={"Content-Type": "application/json"}
        ),
        400,
    )
    _status(client.delete(f"{base}/d0", params={"propagationPolicy": "Sideways"}), 400)
    out = client.delete(base, params={"labelSelector": "group=x"}).json()
    assert out["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in out["items"]) == ["d0", "d1"]
    assert [i["metadata"]["name"] for i in client.get(base).json()["items"]] == ["d2"]


def test_finalizers_keep_object_with_deletion_timestamp(client: httpx.Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    cm = _cm("fin")
    cm["metadata"]["finalizers"] = ["example.com/hold"]
    client.post(base, json=cm)
    out = client.delete(f"{base}/fin").json()
    assert out["kind"] == "ConfigMap" and out["metadata"]["deletionTimestamp"]
    client.patch(
        f"{base}/fin",
        json={"metadata": {"finalizers": None}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    _status(client.get(f"{base}/fin"), 404)


# ----------------------------------------------------------------------------- tables


def test_table_output_for_lists_and_single_objects(client: httpx.Client) -> None:
    client.post("/api/v1/namespaces/default/pods", json=_pod("tabled"))
    table = client.get("/api/v1/namespaces/default/pods", headers={"Accept": TABLE}).json()
    assert table["kind"] == "Table" and table["apiVersion"] == "meta.k8s.io/v1"
    names = [c["name"] for c in table["columnDefinitions"]]
    assert names[:5] == ["Name", "Ready", "Status", "Restarts", "Age"]
    row = next(r for r in table["rows"] if r["cells"][0] == "tabled")
    assert row["cells"][1:4] == ["0/1", "Pending", "0"]
    assert row["object"]["kind"] == "PartialObjectMetadata"
    full = client.get(
        "/api/v1/namespaces/default/pods/tabled",
        params={"includeObject": "Object"},
        headers={"Accept": TABLE},
    ).json()
    assert full["rows"][0]["object"]["kind"] == "Pod"
    none = client.get(
        "/api/v1/namespaces/default/pods/tabled",
        params={"includeObject": "None"},
        headers={"Accept": TABLE},
    ).json()
    assert "object" not in none["rows"][0]
    nodes = client.get("/api/v1/nodes", headers={"Accept": TABLE}).json()
    assert [c["name"] for c in nodes["columnDefinitions"]][:5] == [
        "Name",
        "Status",
        "Roles",
        "Age",
        "Version",
    ]
    leases = client.get("/apis/coordination.k8s.io/v1/leases", headers={"Accept": TABLE}).json()
    assert [c["name"] for c in leases["columnDefinitions"]] == ["Name", "Holder", "Age"]
    roles = client.get("/apis/rbac.authorization.k8s.io/v1/roles", headers={"Accept": TABLE}).json()
    assert [c["name"] for c in roles["columnDefinitions"]] == ["Name", "Age"]


# ----------------------------------------------------------------------------- watch


def _watch_lines(
    client: httpx.Client,
    url: str,
    params: dict[str, Any],
    out: list[dict[str, Any]],
    headers: dict[str, str] | None = None,
) -> None:
    with client.stream("GET", url, params=params, headers=headers or {}) as resp:
        for line in resp.iter_lines():
            if line:
                out.append(json.loads(line))


def test_watch_streams_changes_bookmarks_and_honours_timeout(
    client: httpx.Client, served: Any
) -> None:
    client.post("/api/v1/namespaces", json={"metadata": {"name": "watched"}})
    base = "/api/v1/namespaces/watched/configmaps"
    rv = client.get(base).json()["metadata"]["resourceVersion"]
    events: list[dict[str, Any]] = []
    params = {
        "watch": "true",
        "resourceVersion": rv,
        "timeoutSeconds": 1,
        "allowWatchBookmarks": "true",
    }
    watcher = threading.Thread(target=_watch_lines, args=(client, base, params, events))
    started = time.monotonic()
    watcher.start()
    time.sleep(0.2)
    client.post(base, json=_cm("w1"))
    client.patch(
        f"{base}/w1",
        json={"data": {"k": "2"}},
        headers={"Content-Type": "application/merge-patch+json"},
    )
    client.delete(f"{base}/w1")
    client.post("/api/v1/namespaces/default/configmaps", json=_cm("elsewhere"))
    watcher.join(5)
    elapsed = time.monotonic() - started
    assert 0.9 < elapsed < 3, elapsed
    kinds = [e["type"] for e in events if e["type"] != "BOOKMARK"]
    assert kinds == ["ADDED", "MODIFIED", "DELETED"]
    bookmarks = [e for e in events if e["type"] == "BOOKMARK"]
    assert bookmarks, events
    assert set(bookmarks[-1]["object"]) == {"kind", "apiVersion", "metadata"}
    assert set(bookmarks[-1]["object"]["metadata"]) == {"resourceVersion"}
    assert int(bookmarks[-1]["object"]["metadata"]["resourceVersion"]) >= int(rv) + 3


def test_watch_from_compacted_version_gets_410_error_event(client: httpx.Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    old_rv = client.get(base).json()["metadata"]["resourceVersion"]
    client.post(base, json=_cm("pre-compact"))
    client.post("/twin/faults/api/compact")
    events: list[dict[str, Any]] = []
    _watch_lines(
        client, base, {"watch": "1", "resourceVersion": old_rv, "timeoutSeconds": 5}, events
    )
    assert len(events) == 1
    assert events[0]["type"] == "ERROR"
    assert events[0]["object"]["code"] == 410 and events[0]["object"]["reason"] == "Expired"


def test_drop_watches_ends_open_streams(client: httpx.Client) -> None:
    events: list[dict[str, Any]] = []
    params = {"watch": "true", "timeoutSeconds": 30, "labelSelector": "never=there"}
    watcher = threading.Thread(target=_watch_lines, args=(client, "/api/v1/pods", params, events))
    started = time.monotonic()
    watcher.start()
    time.sleep(0.3)
    dropped = client.post("/twin/faults/api/drop-watches").json()["dropped"]
    watcher.join(5)
    assert dropped >= 1 and not watcher.is_alive()
    assert time.monotonic() - started < 5


def test_watch_with_table_and_single_object_path(client: httpx.Client) -> None:
    base = "/api/v1/namespaces/default/configmaps"
    client.post(base, json=_cm("tw"))
    events: list[dict[str, Any]] = []
    _watch_lines(
        client,
        "/api/v1/watch/namespaces/default/configmaps/tw",
        {"timeoutSeconds": 0.3},
        events,
        {"Accept": TABLE},
    )
    assert [e["type"] for e in events] == ["ADDED"]
    table = events[0]["object"]
    assert table["kind"] == "Table" and table["rows"][0]["cells"][0] == "tw"


def test_watch_send_initial_events_ends_with_marked_bookmark(client: httpx.Client) -> None:
    events: list[dict[str, Any]] = []
    params = {
        "watch": "1",
        "sendInitialEvents": "true",
        "allowWatchBookmarks": "true",
        "timeoutSeconds": 0.3,
        "resourceVersionMatch": "NotOlderThan",
    }
    _watch_lines(client, "/api/v1/namespaces", params, events)
    added = [e for e in events if e["type"] == "ADDED"]
    assert {e["object"]["metadata"]["name"] for e in added} >= {"default", "kube-system"}
    marker = next(e for e in events if e["type"] == "BOOKMARK")
    assert marker["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}


def test_logs_follow_streams_new_lines(client: httpx.Client, served: Any) -> None:
    base = "/api/v1/namespaces/default/pods"
    uid = client.post(base, json=_pod("follower")).json()["metadata"]["uid"]
    container = ContainerRuntime(name="app", logs=["2026-01-01T00:00:00Z first"])
    runtime = PodRuntime(uid=uid, namespace="default", name="follower", node="n1")
    runtime.containers["app"] = container
    served.twin.runtime.pods[uid] = runtime
    received = ""
    with client.stream("GET", f"{base}/follower/log", params={"follow": "true"}) as resp:
        chunks = resp.iter_text()
        received += next(chunks)
        container.logs.append("2026-01-01T00:00:01Z second")
        while "second" not in received:
            received += next(chunks)
    assert received == "first\nsecond\n"

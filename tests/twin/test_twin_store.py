"""The twin's object store: Kubernetes API semantics without HTTP."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kubeheal.twin.clock import ManualClock
from kubeheal.twin.errors import (
    AlreadyExists,
    BadRequest,
    Conflict,
    Gone,
    Invalid,
    NotFound,
)
from kubeheal.twin.store import ObjectStore


class LabelEquals:
    """A minimal matcher, so these tests do not depend on the selector parser."""

    def __init__(self, **want: str) -> None:
        self.want = want

    def matches(self, values: Mapping[str, str], /) -> bool:
        return all(values.get(k) == v for k, v in self.want.items())


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(start=1_800_000_000.0)


@pytest.fixture
def store(clock: ManualClock) -> ObjectStore:
    return ObjectStore(clock=clock, seed=7)


def pod(name: str, ns: str = "default", **labels: str) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": ns, "labels": dict(labels)},
        "spec": {"containers": [{"name": "app", "image": "nginx:1.27"}]},
    }


def test_create_sets_identity_and_versions(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    created = store.create(pods, pod("a"))
    meta = created["metadata"]
    assert created["apiVersion"] == "v1" and created["kind"] == "Pod"
    assert len(meta["uid"]) == 36
    assert meta["creationTimestamp"] == "2027-01-15T08:00:00Z"
    assert meta["generation"] == 1
    assert int(meta["resourceVersion"]) == store.resource_version
    assert store.get(pods, "default", "a")["metadata"]["uid"] == meta["uid"]


def test_default_namespaces_exist(store: ObjectStore) -> None:
    ns = store.rtype("", "v1", "namespaces")
    names = [o["metadata"]["name"] for o in store.list_objects(ns)]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    assert store.get(ns, None, "default")["status"]["phase"] == "Active"


def test_create_errors(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    store.create(pods, pod("a"))
    with pytest.raises(AlreadyExists, match='pods "a" already exists'):
        store.create(pods, pod("a"))
    with pytest.raises(NotFound, match='namespaces "nope" not found'):
        store.create(pods, pod("b", ns="nope"))
    with pytest.raises(Invalid, match="name or generateName is required"):
        store.create(pods, {"metadata": {}})
    with pytest.raises(BadRequest, match="does not match the namespace"):
        store.create(pods, pod("c", ns="kube-system"), namespace="default")
    with pytest.raises(BadRequest, match="kind 'Service' does not match"):
        store.create(pods, {"kind": "Service", "metadata": {"name": "x"}})


def test_generate_name_is_deterministic_per_seed(clock: ManualClock) -> None:
    names = []
    for _ in range(2):
        s = ObjectStore(clock=clock, seed=3)
        obj = s.create(s.rtype("", "v1", "pods"), {"metadata": {"generateName": "web-"}})
        names.append(obj["metadata"]["name"])
    assert names[0] == names[1]
    assert names[0].startswith("web-") and len(names[0]) == len("web-") + 5


def test_dry_run_create_stores_nothing(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    rv = store.resource_version
    out = store.create(pods, pod("dry"), dry_run=True)
    assert out["metadata"]["name"] == "dry"
    assert store.find(pods, "default", "dry") is None
    assert store.resource_version == rv


def test_update_conflict_on_stale_resource_version(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    first = store.create(pods, pod("a"))
    first["metadata"]["labels"] = {"x": "1"}
    second = store.update(pods, first)
    assert second["metadata"]["labels"] == {"x": "1"}
    first["metadata"]["labels"] = {"x": "2"}
    with pytest.raises(Conflict, match="the object has been modified"):
        store.update(pods, first)  # still carries the old resourceVersion
    # Without a resourceVersion the update is unconditional, as for most resources.
    del first["metadata"]["resourceVersion"]
    assert store.update(pods, first)["metadata"]["labels"] == {"x": "2"}


def test_generation_and_status_split(store: ObjectStore) -> None:
    deploys = store.rtype("apps", "v1", "deployments")
    d = store.create(
        deploys, {"metadata": {"name": "web"}, "spec": {"replicas": 1}, "status": {"replicas": 9}}
    )
    assert d["metadata"]["generation"] == 1
    # metadata-only change: same generation
    d["metadata"]["labels"] = {"a": "b"}
    d = store.update(deploys, d)
    assert d["metadata"]["generation"] == 1
    # spec change bumps generation; status in the main resource is ignored
    d["spec"]["replicas"] = 3
    d["status"] = {"replicas": 42}
    d = store.update(deploys, d)
    assert d["metadata"]["generation"] == 2
    assert d["status"] == {"replicas": 9}
    # the status subresource changes only status
    d["spec"]["replicas"] = 100
    d["status"] = {"replicas": 3}
    d = store.update(deploys, d, subresource="status")
    assert d["spec"]["replicas"] == 3 and d["status"] == {"replicas": 3}
    assert d["metadata"]["generation"] == 2


def test_immutable_metadata_is_kept(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    a = store.create(pods, pod("a"))
    uid = a["metadata"]["uid"]
    a["metadata"]["uid"] = "forged"
    a["metadata"]["creationTimestamp"] = "1999-01-01T00:00:00Z"
    b = store.update(pods, a)
    assert b["metadata"]["uid"] == uid
    assert b["metadata"]["creationTimestamp"] == "2027-01-15T08:00:00Z"


def test_mutate_is_read_modify_write(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    store.create(pods, pod("a"))

    def set_phase(obj: dict[str, Any]) -> None:
        obj["status"] = {"phase": "Running"}

    out = store.mutate(pods, "default", "a", set_phase, subresource="status")
    assert out["status"]["phase"] == "Running"
    assert store.get_stored(pods, "default", "a").fields["status.phase"] == "Running"


def test_list_paging_and_namespace_scope(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    ns = store.rtype("", "v1", "namespaces")
    store.create(ns, {"metadata": {"name": "a"}})
    store.create(ns, {"metadata": {"name": "a-b"}})
    for i in range(7):
        store.create(pods, pod(f"p{i}", ns="a"))
    store.create(pods, pod("other", ns="a-b"))
    seen: list[bytes] = []
    token = None
    pages = 0
    while True:
        page = store.list(pods, "a", limit=3, continue_token=token)
        seen.extend(page.items)
        pages += 1
        token = page.continue_token
        if token is None:
            break
        assert page.remaining == 7 - len(seen)
    assert pages == 3 and len(seen) == 7
    assert all(b'"namespace":"a"' in raw for raw in seen)
    assert len(store.list(pods).items) == 8


def test_list_filters_with_selectors(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    store.create(pods, pod("web-1", app="web"))
    store.create(pods, pod("web-2", app="web"))
    store.create(pods, pod("db-1", app="db"))
    web = store.list(pods, "default", label_selector=LabelEquals(app="web"))
    assert len(web.items) == 2
    by_name = store.list(pods, None, field_selector=LabelEquals(**{"metadata.name": "db-1"}))
    assert len(by_name.items) == 1


def test_continue_token_errors(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    for i in range(3):
        store.create(pods, pod(f"p{i}"))
    with pytest.raises(BadRequest, match="invalid continue token"):
        store.list(pods, limit=1, continue_token="not-a-token!")
    page = store.list(pods, limit=1)
    assert page.continue_token
    store.create(pods, pod("later"))
    store.compact()
    with pytest.raises(Gone, match="too old"):
        store.list(pods, limit=1, continue_token=page.continue_token)


def test_watch_replays_history_and_follows(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    store.create(pods, pod("a"))
    rv = store.resource_version
    store.create(pods, pod("b"))
    watcher = store.watch(pods, "default", resource_version=str(rv))
    woken: list[int] = []
    watcher.wake = lambda: woken.append(1)
    store.delete(pods, "default", "a")
    events = watcher.drain()
    assert [e[0] for e in events] == ["ADDED", "DELETED"]
    assert b'"name":"b"' in events[0][1] and b'"name":"a"' in events[1][1]
    assert events[1][2] == store.resource_version
    assert woken == [1]


def test_watch_without_version_starts_with_synthetic_adds(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    store.create(pods, pod("a"))
    store.create(pods, pod("b"))
    watcher = store.watch(pods, None)
    assert [e[0] for e in watcher.drain()] == ["ADDED", "ADDED"]


def test_watch_label_selector_transitions(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    watcher = store.watch(pods, "default", label_selector=LabelEquals(app="web"))
    p = store.create(pods, pod("a", app="db"))
    p["metadata"]["labels"] = {"app": "web"}
    p = store.update(pods, p)
    p["metadata"]["labels"]["tier"] = "front"
    p = store.update(pods, p)
    p["metadata"]["labels"] = {"app": "db"}
    store.update(pods, p)
    assert [e[0] for e in watcher.drain()] == ["ADDED", "MODIFIED", "DELETED"]


def test_watch_gone_after_compaction(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    store.create(pods, pod("a"))
    old = store.resource_version - 1
    store.compact()
    with pytest.raises(Gone, match="too old resource version"):
        store.watch(pods, None, resource_version=str(old))
    # watching from "now" still works
    store.watch(pods, None, resource_version=str(store.resource_version))


def test_history_overflow_compacts() -> None:
    s = ObjectStore(clock=ManualClock(), history_size=10)
    pods = s.rtype("", "v1", "pods")
    for i in range(30):
        s.create(pods, pod(f"p{i}"))
    assert s.compacted_rv >= s.resource_version - 10
    with pytest.raises(Gone):
        s.watch(pods, None, resource_version="1")


def test_drop_watches_closes_them(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    w = store.watch(pods, None)
    assert store.drop_watches() == 1
    assert w.closed
    store.create(pods, pod("a"))
    assert w.drain() == []


def test_slow_watcher_is_closed_with_error(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    w = store.watch(pods, None, max_buffer=3)
    for i in range(5):
        store.create(pods, pod(f"p{i}"))
    assert w.closed and isinstance(w.error, Gone)


def test_finalizers_delay_deletion(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    p = pod("a")
    p["metadata"]["finalizers"] = ["example.com/hold"]
    store.create(pods, p)
    marked = store.delete(pods, "default", "a")
    assert marked["metadata"]["deletionTimestamp"]
    assert store.find(pods, "default", "a") is not None
    current = store.get(pods, "default", "a")
    current["metadata"]["finalizers"] = []
    store.update(pods, current)
    assert store.find(pods, "default", "a") is None


def test_delete_preconditions(store: ObjectStore) -> None:
    pods = store.rtype("", "v1", "pods")
    store.create(pods, pod("a"))
    with pytest.raises(Conflict, match="Precondition failed: UID"):
        store.delete(pods, "default", "a", preconditions={"uid": "other"})
    with pytest.raises(NotFound):
        store.delete(pods, "default", "zzz")
    with pytest.raises(BadRequest, match="propagationPolicy"):
        store.delete(pods, "default", "a", propagation="Sideways")


def _owned(store: ObjectStore) -> tuple[Any, Any, dict[str, Any]]:
    rs = store.rtype("apps", "v1", "replicasets")
    pods = store.rtype("", "v1", "pods")
    owner = store.create(rs, {"metadata": {"name": "web-1"}, "spec": {"replicas": 2}})
    ref = {
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "name": "web-1",
        "uid": owner["metadata"]["uid"],
        "controller": True,
    }
    for i in range(2):
        p = pod(f"web-1-{i}")
        p["metadata"]["ownerReferences"] = [ref]
        store.create(pods, p)
    return rs, pods, owner


@pytest.mark.parametrize("policy", [None, "Background", "Foreground"])
def test_garbage_collection_deletes_dependents(store: ObjectStore, policy: str | None) -> None:
    rs, pods, _ = _owned(store)
    store.delete(rs, "default", "web-1", propagation=policy)
    assert store.list_objects(pods) == []


def test_orphan_keeps_dependents_without_owner(store: ObjectStore) -> None:
    rs, pods, _ = _owned(store)
    store.delete(rs, "default", "web-1", propagation="Orphan")
    left = store.list_objects(pods)
    assert len(left) == 2
    assert all("ownerReferences" not in p["metadata"] for p in left)


def test_dependent_with_a_living_second_owner_survives(store: ObjectStore) -> None:
    rs, pods, _owner = _owned(store)
    cm = store.create(store.rtype("", "v1", "configmaps"), {"metadata": {"name": "keeper"}})
    p = store.get(pods, "default", "web-1-0")
    p["metadata"]["ownerReferences"].append(
        {"apiVersion": "v1", "kind": "ConfigMap", "name": "keeper", "uid": cm["metadata"]["uid"]}
    )
    store.update(pods, p)
    store.delete(rs, "default", "web-1")
    assert [o["metadata"]["name"] for o in store.list_objects(pods)] == ["web-1-0"]


def test_namespace_deletion_removes_its_objects(store: ObjectStore) -> None:
    ns = store.rtype("", "v1", "namespaces")
    pods = store.rtype("", "v1", "pods")
    store.create(ns, {"metadata": {"name": "team"}})
    store.create(pods, pod("a", ns="team"))
    store.create(pods, pod("b"))
    store.delete(ns, None, "team")
    assert [o["metadata"]["name"] for o in store.list_objects(pods)] == ["b"]


def test_record_event_counts_repeats(store: ObjectStore, clock: ManualClock) -> None:
    pods = store.rtype("", "v1", "pods")
    p = store.create(pods, pod("a"))
    store.record_event(p, reason="BackOff", message="Back-off restarting failed container")
    clock.advance(30)
    ev = store.record_event(p, reason="BackOff", message="Back-off restarting failed container")
    assert ev["count"] == 2
    assert ev["involvedObject"]["uid"] == p["metadata"]["uid"]
    events = store.list_objects(
        store.rtype("", "v1", "events"),
        "default",
        field_selector=LabelEquals(**{"involvedObject.name": "a"}),
    )
    assert len(events) == 1 and events[0]["lastTimestamp"] == "2027-01-15T08:00:30Z"


def test_load_creates_namespaces_first(store: ObjectStore) -> None:
    n = store.load(
        [
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "x", "namespace": "late"}},
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "late"}},
        ]
    )
    assert n == 2
    assert store.find(store.rtype("", "v1", "pods"), "late", "x") is not None


def test_listener_failure_does_not_break_writes(store: ObjectStore) -> None:
    def boom(_: object) -> None:
        raise RuntimeError("listener bug")

    store.listeners.append(boom)
    store.create(store.rtype("", "v1", "pods"), pod("a"))
    assert store.find(store.rtype("", "v1", "pods"), "default", "a") is not None

"""lightkube (the operator's client) against the twin: list, watch, patch, eviction, leases."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from lightkube import ApiError, Client, KubeConfig
from lightkube.models.coordination_v1 import LeaseSpec
from lightkube.models.core_v1 import Container, PodSpec
from lightkube.models.meta_v1 import ObjectMeta
from lightkube.resources.coordination_v1 import Lease
from lightkube.resources.core_v1 import ConfigMap, Pod
from lightkube.types import PatchType


@pytest.fixture(scope="module")
def client(served: Any) -> Iterator[Client]:
    with Client(config=KubeConfig.from_file(served.kubeconfig), field_manager="tests") as c:
        yield c


def _pod(name: str, **labels: str) -> Pod:
    return Pod(
        metadata=ObjectMeta(name=name, namespace="default", labels=labels),
        spec=PodSpec(containers=[Container(name="app", image="busybox")]),
    )


def test_list_with_selectors_and_chunks(client: Client) -> None:
    for i in range(5):
        client.create(_pod(f"lk{i}", group="even" if i % 2 == 0 else "odd"))
    names = [
        p.metadata.name for p in client.list(Pod, namespace="default", labels={"group": "even"})
    ]
    assert names == ["lk0", "lk2", "lk4"]
    chunked = [p.metadata.name for p in client.list(Pod, namespace="*", chunk_size=2)]
    assert [n for n in chunked if n.startswith("lk")] == [f"lk{i}" for i in range(5)]
    by_field = list(client.list(Pod, namespace="default", fields={"metadata.name": "lk3"}))
    assert len(by_field) == 1 and by_field[0].status.phase == "Pending"


def test_watch_sees_changes_after_a_resource_version(client: Client) -> None:
    listing = client.list(ConfigMap, namespace="default")
    list(listing)
    rv = listing.resourceVersion
    seen: list[tuple[str, str]] = []

    def watch() -> None:
        stream = client.watch(ConfigMap, namespace="default", resource_version=rv, server_timeout=5)
        try:
            for event, obj in stream:
                seen.append((event, obj.metadata.name))
                if len(seen) == 3:
                    return
        finally:
            stream.close()

    t = threading.Thread(target=watch)
    t.start()
    time.sleep(0.2)
    client.create(ConfigMap(metadata=ObjectMeta(name="lkw"), data={"a": "1"}), namespace="default")
    client.patch(
        ConfigMap, "lkw", {"data": {"a": "2"}}, namespace="default", patch_type=PatchType.MERGE
    )
    client.delete(ConfigMap, "lkw", namespace="default")
    t.join(10)
    assert seen == [("ADDED", "lkw"), ("MODIFIED", "lkw"), ("DELETED", "lkw")]


def test_patch_types(client: Client) -> None:
    client.create(ConfigMap(metadata=ObjectMeta(name="lkp"), data={"a": "1"}), namespace="default")
    out = client.patch(ConfigMap, "lkp", {"data": {"b": "2"}}, namespace="default")
    assert out.data == {"a": "1", "b": "2"}
    out = client.patch(
        ConfigMap,
        "lkp",
        [{"op": "remove", "path": "/data/a"}],
        namespace="default",
        patch_type=PatchType.JSON,
    )
    assert out.data == {"b": "2"}
    applied = ConfigMap(metadata=ObjectMeta(name="lkp", namespace="default"), data={"c": "3"})
    out = client.apply(applied)
    assert out.data == {"b": "2", "c": "3"}


def test_eviction(client: Client) -> None:
    client.create(_pod("evictme"))
    client.create(
        Pod.Eviction(metadata=ObjectMeta(name="evictme", namespace="default")),
        name="evictme",
        namespace="default",
    )
    with pytest.raises(ApiError) as err:
        client.get(Pod, "evictme", namespace="default")
    assert err.value.status.code == 404


def test_lease_create_update_and_conflict(client: Client) -> None:
    lease = client.create(
        Lease(
            metadata=ObjectMeta(name="leader", namespace="default"),
            spec=LeaseSpec(holderIdentity="a", leaseDurationSeconds=15),
        ),
    )
    stale = client.get(Lease, "leader", namespace="default")
    lease.spec.holderIdentity = "b"
    updated = client.replace(lease)
    assert updated.spec.holderIdentity == "b"
    assert int(updated.metadata.resourceVersion) > int(stale.metadata.resourceVersion)
    stale.spec.holderIdentity = "c"
    with pytest.raises(ApiError) as err:
        client.replace(stale)
    assert err.value.status.code == 409 and err.value.status.reason == "Conflict"
    assert client.get(Lease, "leader", namespace="default").spec.holderIdentity == "b"


def test_api_errors_are_statuses_for_lightkube(client: Client) -> None:
    with pytest.raises(ApiError) as err:
        client.get(ConfigMap, "nothing-here", namespace="default")
    assert err.value.status.code == 404
    assert err.value.status.message == 'configmaps "nothing-here" not found'

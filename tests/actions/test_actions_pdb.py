"""Issue 23, defect 5: create_pdb re-checks the PDBs right before it creates one, and
delete_pdb removes only kubeheal's own PDB, only while another PDB still covers the pods.

Against the cluster twin's HTTP API with the real KubeWriter (lightkube).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from kubeheal.actions import OutcomeState, PermanentError, execute
from kubeheal.clients.kube import KubeConnection, KubeNotFound
from kubeheal.clients.writer import Kind, KubeWriter
from kubeheal.engine.params import CreatePdb, DeletePdb
from kubeheal.twin.clock import ManualClock
from kubeheal.twin.cluster import Twin
from kubeheal.twin.server import serve_in_thread

POD_LABELS = {"app": "web", "tier": "frontend"}
CREATE = CreatePdb(
    namespace="shop",
    name="web-kubeheal",
    match_labels={"app": "web"},
    max_unavailable=1,
    pod_labels=POD_LABELS,
)
DELETE = DeletePdb(
    namespace="shop", name="web-kubeheal", pod_labels=POD_LABELS, covered_by=("web-pdb",)
)


def _pdb(name: str, selector: dict[str, Any], *, namespace: str = "shop") -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": name, "namespace": namespace},
        "spec": {"selector": selector, "minAvailable": 1},
    }


@pytest.fixture
def twin() -> Iterator[tuple[Twin, str]]:
    cluster = Twin.bare(clock=ManualClock())
    cluster.store.load(
        [
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}},
            {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}},
            {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop"},
                "spec": {
                    "replicas": 3,
                    "selector": {"matchLabels": {"app": "web"}},
                    "template": {
                        "metadata": {"labels": POD_LABELS},
                        "spec": {"containers": [{"name": "app", "image": "web:1"}]},
                    },
                },
            },
        ]
    )
    with serve_in_thread(cluster, simulate=False) as url:
        yield cluster, url


@pytest.fixture
async def kube(twin) -> AsyncIterator[KubeWriter]:
    writer = KubeWriter(KubeConnection.from_server(twin[1]))
    try:
        yield writer
    finally:
        await writer.aclose()


def _pdb_names(twin: Twin, namespace: str = "shop") -> list[str]:
    pdbs = twin.store.rtype("policy", "v1", "poddisruptionbudgets")
    return sorted(p["metadata"]["name"] for p in twin.store.list_objects(pdbs, namespace))


def _apply(twin: Twin, obj: dict[str, Any]) -> None:
    twin.store.create(twin.store.rtype("policy", "v1", "poddisruptionbudgets"), obj)


async def test_create_pdb_does_nothing_when_a_pdb_landed_since_the_plan(twin, kube, kit) -> None:
    """The race of the issue: the user's PDB lands between kubeheal's decision and its write.
    It selects the pods by a template label the Deployment's matchLabels lack."""
    cluster, _ = twin
    _apply(cluster, _pdb("web-pdb", {"matchExpressions": [
        {"key": "tier", "operator": "In", "values": ["frontend"]}]}))  # fmt: skip
    out = await execute(kit.plan(CREATE), writer=kube)
    assert out.state is OutcomeState.SUCCEEDED and not out.changed, out.detail
    assert "not creating" in out.detail and "web-pdb" in out.detail
    assert out.evidence["covered_by"] == ["web-pdb"]
    assert _pdb_names(cluster) == ["web-pdb"]
    dry = await execute(kit.plan(CREATE, dry_run=True), writer=kube)
    assert dry.state is OutcomeState.SKIPPED and "not creating" in dry.detail


async def test_create_pdb_still_creates_when_no_pdb_selects_the_pods(twin, kube, kit) -> None:
    cluster, _ = twin
    _apply(cluster, _pdb("api-pdb", {"matchLabels": {"app": "api"}}))
    _apply(cluster, _pdb("web-elsewhere", {"matchLabels": {"app": "web"}}, namespace="other"))
    out = await execute(kit.plan(CREATE), writer=kube)
    assert out.state is OutcomeState.SUCCEEDED and out.changed, out.detail
    assert _pdb_names(cluster) == ["api-pdb", "web-kubeheal"]
    made = await kube.get(Kind.PDB, "shop", "web-kubeheal")
    assert made["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "kubeheal"}
    assert made["metadata"]["annotations"]["kubeheal.io/key"] == kit.plan(CREATE).idempotency_key


async def test_delete_pdb_removes_only_kubeheals_own_next_to_the_users(twin, kube, kit) -> None:
    cluster, _ = twin
    created = await execute(kit.plan(CREATE), writer=kube)
    assert created.changed
    # kubeheal's is the only one: it stays (the workload is never left without a PDB)
    alone = await execute(kit.plan(DELETE), writer=kube)
    assert alone.state is OutcomeState.SUCCEEDED and not alone.changed
    assert "stays" in alone.detail
    assert _pdb_names(cluster) == ["web-kubeheal"]
    # the owner's PDB appears: kubeheal's goes, the owner's is untouched
    _apply(cluster, _pdb("web-pdb", {"matchLabels": {"app": "web"}}))
    dry = await execute(kit.plan(DELETE, dry_run=True), writer=kube)
    assert dry.state is OutcomeState.SKIPPED and _pdb_names(cluster) == ["web-kubeheal", "web-pdb"]
    out = await execute(kit.plan(DELETE), writer=kube)
    assert out.state is OutcomeState.SUCCEEDED and out.changed, out.detail
    assert out.evidence["covered_by"] == ["web-pdb"]
    assert "deleted PodDisruptionBudget shop/web-kubeheal" in out.detail
    assert _pdb_names(cluster) == ["web-pdb"]
    with pytest.raises(KubeNotFound):
        await kube.get(Kind.PDB, "shop", "web-kubeheal")
    again = await execute(kit.plan(DELETE), writer=kube)
    assert not again.changed and "already gone" in again.detail
    assert _pdb_names(cluster) == ["web-pdb"]


async def test_delete_pdb_never_deletes_a_pdb_kubeheal_did_not_create(twin, kube, kit) -> None:
    cluster, _ = twin
    # the user's own PDB happens to carry kubeheal's name, even its managed-by label
    users = _pdb("web-kubeheal", {"matchLabels": {"app": "web"}})
    users["metadata"]["labels"] = {"app.kubernetes.io/managed-by": "kubeheal"}
    _apply(cluster, users)
    _apply(cluster, _pdb("web-pdb", {"matchLabels": {"app": "web"}}))
    with pytest.raises(PermanentError, match="not created by kubeheal"):
        await execute(kit.plan(DELETE), writer=kube)
    assert _pdb_names(cluster) == ["web-kubeheal", "web-pdb"]

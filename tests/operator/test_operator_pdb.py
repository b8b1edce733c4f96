"""Issue 23, defect 5: kubeheal must not race the user's own PodDisruptionBudget.

A Deployment and its PDB applied nearly at once ended with two PDBs (kubeheal's landed 8 ms
before the user's), and a pod two PDBs select cannot be evicted at all. End to end against
the twin: the grace period keeps kubeheal from creating a second PDB, and when the owner's
PDB appears next to one kubeheal created, kubeheal deletes its own (recorded in the ledger)
and leaves the owner's alone.
"""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from kubeheal.config import Settings
from kubeheal.store import records as rec
from kubeheal.twin.sim.disruption import evict

RESOLVED = rec.IncidentState.RESOLVED


def _workload(r: Any, name: str) -> dict[str, Any]:
    """A two-replica Deployment ``name`` in demo, built from sample-app's good template."""
    spec = copy.deepcopy(r.deployment()["spec"])
    spec["replicas"] = 2
    spec["selector"] = {"matchLabels": {"app": name}}
    spec["template"]["metadata"]["labels"] = {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": "demo", "labels": {"app": name}},
        "spec": spec,
    }


def _users_pdb(name: str) -> dict[str, Any]:
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": {"name": f"{name}-pdb", "namespace": "demo"},
        "spec": {"minAvailable": 1, "selector": {"matchLabels": {"app": name}}},
    }


def _pdbs_of(r: Any, app: str) -> list[str]:
    return sorted(
        p["metadata"]["name"]
        for p in r.list("poddisruptionbudgets", "demo")
        if (p["spec"].get("selector") or {}).get("matchLabels") == {"app": app}
    )


async def test_a_pdb_applied_with_its_deployment_gets_no_second_pdb(kh: Any) -> None:
    grace = timedelta(minutes=1)  # 3 wall seconds at the kit's speed
    settings = Settings.model_validate({"detection": {"missing_pdb_grace": "1m"}})
    async with kh.run(settings=settings) as r:
        view = r.h.operator.view
        # `web` comes with its own PDB, a moment after the Deployment (as one kubectl apply
        # of both does); `api` comes without one and shows the detector is live.
        r.create("deployments", _workload(r, "api"))
        r.create("deployments", _workload(r, "web"))
        applied = r.h.now()
        await r.until(lambda: view.deployment("demo", "web"), what="kubeheal to see web")
        await r.until(lambda: r.h.now() - applied >= timedelta(seconds=5), what="5 cluster seconds")
        r.create("poddisruptionbudgets", _users_pdb("web"))
        # after the grace period the unprotected workload gets kubeheal's PDB ...
        await r.until(
            lambda: r.get("poddisruptionbudgets", "demo", "api-kubeheal"),
            what="api's PDB after the grace period",
        )
        assert r.h.now() - applied >= grace
        api = await r.until(lambda: r.closed("api"), what="api's incident to close")
        assert api.state is RESOLVED and [a.action for a in r.actions(api)] == ["create_pdb"]
        # ... and the one that came with its own never gets a second, nor an incident
        await r.until(lambda: r.h.now() - applied >= 2 * grace, what="twice the grace period")
        assert _pdbs_of(r, "web") == ["web-pdb"], r.describe()
        assert r.incidents("web") == [], r.describe()
        assert [a.target.name for a in r.all_actions()] == ["api"]


async def test_users_pdb_next_to_kubeheals_makes_kubeheal_delete_its_own(kh: Any) -> None:
    # no grace period here: this test is about the clean-up; the default cooldown (10 min)
    # must not hold it back
    settings = Settings.model_validate({"detection": {"missing_pdb_grace": "0s"}})
    async with kh.run(settings=settings) as r:
        r.create("deployments", _workload(r, "web"))
        created = await r.until(lambda: r.closed("web"), what="kubeheal's PDB for web")
        assert [a.action for a in r.actions(created)] == ["create_pdb"]
        ours = r.get("poddisruptionbudgets", "demo", "web-kubeheal")
        assert ours is not None
        # the owner applies their own PDB: the pods are now selected by two
        r.create("poddisruptionbudgets", _users_pdb("web"))
        cleaned = await r.until(
            lambda: (i := r.closed("web")) and i.id != created.id and i,
            what="the clean-up incident to close",
        )
        assert cleaned.state is RESOLVED, r.describe()
        assert cleaned.playbook == "pdb-redundant-delete"
        (action,) = r.actions(cleaned)
        assert (action.action, action.state) == ("delete_pdb", rec.ActionState.SUCCEEDED)
        assert action.params["name"] == "web-kubeheal"
        assert _pdbs_of(r, "web") == ["web-pdb"]
        users = r.get("poddisruptionbudgets", "demo", "web-pdb")
        assert users is not None and "labels" not in users["metadata"]
        events = r.events("demo", reason="KubehealAction", name="web")
        assert any("deleted PodDisruptionBudget demo/web-kubeheal" in e["message"] for e in events)
        # one PDB again: a pod of web can be evicted (the owner's budget allows one)
        pod = await r.until(
            lambda: next((p for p in r.pods_of("web") if p["status"].get("phase") == "Running"),
                         None),
            what="a running web pod",
        )  # fmt: skip
        await r.until(
            lambda: (
                (r.get("poddisruptionbudgets", "demo", "web-pdb") or {})
                .get("status", {})
                .get("disruptionsAllowed", 0)
                >= 1
            ),
            what="the owner's PDB to allow a disruption",
        )
        twin = r.h.twin
        evict(twin.store, namespace="demo", name=pod["metadata"]["name"], eviction={},
              now=twin.clock.now())  # fmt: skip
        assert r.get("pods", "demo", pod["metadata"]["name"]) is None or r.get(
            "pods", "demo", pod["metadata"]["name"]
        )["metadata"].get("deletionTimestamp")
        assert len(r.all_actions()) == 2

"""Cooldown per disruption class, end to end on the twin: kubeheal creates a
PodDisruptionBudget for a Deployment, the Deployment's next rollout crash-loops at once, and
the rollback is not held back by the PDB creation (an action that touches no pod); a second
disruptive action on the same Deployment still waits for the cooldown, and is not taken for
flapping (the PDB incident does not count toward it)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from kubeheal.config import Settings
from kubeheal.store import records as rec

RESOLVED = rec.IncidentState.RESOLVED
COOLDOWN = timedelta(hours=1)
"""Far longer than any wait of the test: a PDB creation that started it would block."""


def _workload(r: Any, name: str) -> dict[str, Any]:
    """A two-replica Deployment ``name`` in demo without a PDB, from sample-app's template."""
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


async def test_a_pdb_creation_does_not_delay_the_rollback_that_follows(kh: Any) -> None:
    settings = Settings.model_validate(
        {
            "detection": {"missing_pdb_grace": "0s"},
            "guards": {"cooldown": "1h"},
            # three incidents on web in a few minutes with the default flapping threshold
            # (three): the PDB incident is another problem met with no disruptive action, so
            # it does not count and the third incident is held by the cooldown, not escalated
            # as flapping
        }
    )
    async with kh.run(settings=settings) as r:
        r.create("deployments", _workload(r, "web"))
        pdb = await r.until(lambda: r.closed("web"), what="kubeheal's PDB for web")
        assert [a.action for a in r.actions(pdb)] == ["create_pdb"], r.describe()
        assert r.get("poddisruptionbudgets", "demo", "web-kubeheal") is not None
        # at once: the next rollout of the same Deployment crash-loops
        r.inject({"kind": "crash-on-start", "target": {"namespace": "demo", "deployment": "web"}})
        fixed = await r.until(
            lambda: (i := r.closed("web")) and i.id != pdb.id and i,
            what="the crash-loop incident to close",
        )
        assert fixed.state is RESOLVED, r.describe()
        (rollback,) = r.actions(fixed)
        assert (rollback.action, rollback.state) == (
            "rollback_deployment",
            rec.ActionState.SUCCEEDED,
        )
        # well inside the cooldown of the PDB creation, and never blocked by it
        assert rollback.requested_at - r.actions(pdb)[0].requested_at < COOLDOWN
        assert r.blocked_plan(fixed, "cooldown") is None, r.describe()
        assert r.image(name="web") == kh.SAMPLE_IMAGE
        # a second disruptive action on web within the hour is still held back
        r.inject({"kind": "crash-on-start", "target": {"namespace": "demo", "deployment": "web"}})
        again = await r.until(
            lambda: (
                (i := r.incident("web"))
                and i.id not in (pdb.id, fixed.id)
                and r.blocked_plan(i, "cooldown")
            ),
            what="the next rollback to wait for the cooldown",
        )
        assert again.reason.startswith("cooldown: rollback_deployment on Deployment/demo/web at ")
        assert "more (cooling down until" in again.reason
        third = r.h.ledger.get_incident(again.incident_id)
        assert not third.flapping, r.describe()
        assert r.blocked_plan(third, "flapping") is None, r.describe()

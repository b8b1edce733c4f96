"""Issue 23, defect 5: kubeheal must not race the user's own PodDisruptionBudget.

Pure engine, plain data: the missing-PDB detector waits a grace period from the workload's
creation, and a PDB kubeheal created is planned for deletion (its own only) once the owner's
covers the same pods.
"""

from __future__ import annotations

from datetime import timedelta

import msgspec

from kubeheal.config import DetectionSettings, GuardSettings, IncidentSettings, Settings
from kubeheal.engine.detect import detect
from kubeheal.engine.incidents import correlate
from kubeheal.engine.params import DeletePdb
from kubeheal.engine.plan import ActionPlan, NoAction, Plan, decide
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.model import ClusterView, History, Incident, SignalKind, Target, TargetKind

S = DetectionSettings()
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
PLAYBOOKS = load_builtin_playbooks()


def _view(k8s, *, deployments, pdbs) -> ClusterView:
    return ClusterView(deployments=deployments, pdbs=pdbs)


def _kinds(signals) -> list[SignalKind]:
    return [s.kind for s in signals]


def incident_for(view: ClusterView, k8s) -> Incident:
    signals = detect(view, now=k8s.T0, settings=S)
    (incident,) = correlate(signals, incidents=(), now=k8s.T0, settings=IncidentSettings())
    return incident


def plan(incident: Incident, view: ClusterView, *, k8s, history=None, settings=None) -> Plan:
    return decide(
        incident,
        view,
        history or History(),
        settings or Settings(),
        now=k8s.T0,
        playbooks=PLAYBOOKS,
    )


def test_pdb_missing_waits_for_the_grace_period_from_creation(k8s) -> None:
    """Issue 23, defect 5: a Deployment applied with its PDB must not be reported before the
    PDB had time to land (kubeheal created a second PDB 8 ms before the user's)."""
    assert S.missing_pdb_grace == timedelta(minutes=10)

    def found(dep, *, at_minutes: float, settings=S) -> list[SignalKind]:
        view = _view(k8s, deployments=[dep], pdbs=[])
        return _kinds(detect(view, now=k8s.at(at_minutes), settings=settings))

    fresh = k8s.deployment(replicas=3, created=0)
    assert found(fresh, at_minutes=0) == []  # the moment it appears: the race of the issue
    assert found(fresh, at_minutes=9.99) == []
    assert found(fresh, at_minutes=10) == [SignalKind.PDB_MISSING]
    short = DetectionSettings(missing_pdb_grace=timedelta(minutes=2))
    assert found(fresh, at_minutes=1, settings=short) == []
    assert found(fresh, at_minutes=2, settings=short) == [SignalKind.PDB_MISSING]
    # no creationTimestamp: its age cannot be proven, so it is not reported
    assert found(k8s.deployment(replicas=3), at_minutes=60) == []


def test_pdb_redundant_names_only_kubeheals_own_pdb(k8s) -> None:
    dep = k8s.deployment(replicas=3, created=-60)
    ours = k8s.pdb("web-kubeheal", kubeheal_made=True)
    theirs = k8s.pdb("web-pdb")

    def signals(*pdbs):
        return detect(_view(k8s, deployments=[dep], pdbs=list(pdbs)), now=k8s.T0, settings=S)

    (signal,) = signals(ours, theirs)
    assert signal.kind is SignalKind.PDB_REDUNDANT and signal.target == WEB
    assert signal.details == {"pdb": "web-kubeheal", "covered_by": "web-pdb"}
    assert signals(ours) == []  # kubeheal's alone protects the workload: it stays
    assert signals(theirs) == []
    # two PDBs of the user's: never kubeheal's business to delete either
    assert signals(theirs, k8s.pdb("web-pdb-2")) == []
    # a look-alike without kubeheal's key annotation is not kubeheal's
    fake = k8s.pdb("web-kubeheal")
    fake = msgspec.structs.replace(
        fake,
        metadata=msgspec.structs.replace(
            fake.metadata, labels={"app.kubernetes.io/managed-by": "kubeheal"}
        ),
    )
    assert signals(fake, theirs) == []


def test_redundant_pdb_deletes_kubeheals_own_without_waiting_for_the_cooldown(k8s) -> None:
    """Issue 23, defect 5: once the owner's PDB covers the workload too, kubeheal removes its
    own at once (a pod two PDBs select cannot be evicted); the user's is never touched."""
    ours = k8s.pdb("web-kubeheal", kubeheal_made=True)
    view = ClusterView(
        deployments=[k8s.deployment(replicas=3, created=-60)], pdbs=[ours, k8s.pdb("web-pdb")]
    )
    incident = incident_for(view, k8s)
    assert incident.signal_kinds == {SignalKind.PDB_REDUNDANT}
    # kubeheal created its PDB a minute ago: well within the default cooldown (10 min)
    history = msgspec.convert(
        {
            "actions": [
                {
                    "target": {"kind": "Deployment", "namespace": "shop", "name": "web"},
                    "action": "create_pdb",
                    "at": k8s.at(-1).isoformat(),
                    "outcome": "succeeded",
                }
            ]
        },
        History,
    )
    assert history.actions[0].counts
    result = plan(incident, view, history=history, k8s=k8s)
    assert isinstance(result, ActionPlan), result
    assert result.playbook == "pdb-redundant-delete"
    assert result.params == DeletePdb(
        namespace="shop", name="web-kubeheal", pod_labels={"app": "web"}, covered_by=("web-pdb",)
    )
    # the other guards still apply: an excluded namespace is never touched
    excluded = Settings(guards=GuardSettings(excluded_namespaces=("shop",)))
    assert isinstance(plan(incident, view, settings=excluded, k8s=k8s), NoAction)
    # the user's PDB went away before the decision: kubeheal's own stays
    alone = ClusterView(deployments=view.deployments, pdbs=[ours])
    assert not isinstance(plan(incident, alone, k8s=k8s), ActionPlan)

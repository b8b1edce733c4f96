"""RBAC proof: every API call kubeheal makes is granted by the shipped roles, and the roles grant
nothing kubeheal does not use.

The twin records every resource request (`ApiOptions.audit`) while the operator, with leader
election on, heals a sequence of faults that exercises the playbooks' actions: a missing
PodDisruptionBudget (create one), an HPA at its maximum (raise it), a bad rollout (roll it
back), memory pressure on a node (drain it through evictions under the node-maintenance
Lease). The calls are then checked against deploy/kustomize/base/rbac.yaml both ways:

- each recorded call is allowed by the ClusterRole or by a Role of its namespace, as RBAC
  evaluates it (group, resource/subresource, verb, resourceNames);
- each permission the roles grant was used, or is in `RARELY_EXERCISED`: actions of playbooks
  this run does not trigger, each named with the code that needs it.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from kubeheal.clients.kube import KubeConnection
from kubeheal.config import Settings
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.runtime.leader import LeaderElectionTimings, campaign
from kubeheal.runtime.operator import Operator, OperatorEvent, OperatorOptions
from kubeheal.store import Ledger
from kubeheal.store import records as rec
from kubeheal.twin import rbac
from kubeheal.twin.api import ApiOptions, AuditRecord
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.rbac import Rule, grants
from kubeheal.twin.server import serve_in_thread
from kubeheal.twin.sim.faults import FaultSpec
from support import until

ROOT = Path(__file__).resolve().parents[2]
RBAC = ROOT / "deploy" / "kustomize" / "base" / "rbac.yaml"
NAMESPACE = "kubeheal-system"
SERVICE_ACCOUNT = ("kubeheal", NAMESPACE)
FAST = LeaderElectionTimings(lease_duration=3.0, renew_deadline=2.0, retry_period=0.5)

# (group, resource, verb) granted for code paths this run does not reach, and why.
RARELY_EXERCISED: dict[tuple[str, str, str], str] = {
    ("", "pods", "delete"): "restart_pod (crashloop-restart playbook)",
    ("", "pods/log", "get"): "escalations attach the crashing container's last log lines",
    ("", "configmaps", "patch"): "the web console's kill-switch button (server/console/views.py)",
    ("apps", "replicasets", "patch"): "the last-action annotation on a bare ReplicaSet target",
    ("apps", "statefulsets", "get"): "raise_memory_limit / scale_out on a StatefulSet",
    ("apps", "statefulsets", "patch"): "raise_memory_limit / scale_out on a StatefulSet",
    ("apps", "daemonsets", "get"): "raise_memory_limit on a DaemonSet",
    ("apps", "daemonsets", "patch"): "raise_memory_limit on a DaemonSet",
    ("policy", "poddisruptionbudgets", "delete"): "delete_pdb (pdb-redundant-delete playbook; "
    "tests/operator/test_operator_pdb.py exercises it)",
}


# -- RBAC as the API server evaluates it ----------------------------------------------------


def load_rules(path: Path) -> list[Rule]:
    """The rules bound to kubeheal's service account in the shipped manifests."""
    return rbac.load_rules(path, service_account=SERVICE_ACCOUNT)


# -- the run --------------------------------------------------------------------------------


@dataclass
class Run:
    twin: Twin
    ledger: Ledger
    operator: Operator
    timeline: list[OperatorEvent]

    def now(self) -> datetime:
        return datetime.fromtimestamp(self.twin.clock.now(), tz=UTC)

    def rtype(self, group: str, plural: str) -> Any:
        version = {"": "v1", "apps": "v1", "policy": "v1", "autoscaling": "v2"}[group]
        return self.twin.store.rtype(group, version, plural)

    def inject(self, spec: dict[str, Any]) -> None:
        assert self.twin.faults is not None
        self.twin.faults.inject(FaultSpec.model_validate(spec))

    def acted(self, action: str) -> bool:
        """An action of this name has been recorded as succeeded."""
        return any(
            a.action == action and a.state is rec.ActionState.SUCCEEDED
            for a in self.ledger.actions_since(datetime(2000, 1, 1, tzinfo=UTC))
        )

    def settled(self, name: str) -> bool:
        """Every incident of Deployment demo/``name`` is closed (and there is one)."""
        mine = [i for i in self.ledger.list_incidents(
            since=datetime(2000, 1, 1, tzinfo=UTC), until=datetime(2100, 1, 1, tzinfo=UTC))
            if i.target.name == name]  # fmt: skip
        return bool(mine) and all(i.is_terminal for i in mine)

    def second_workload(self) -> dict[str, Any]:
        """A two-replica copy of sample-app named web, without a PodDisruptionBudget."""
        dep = copy.deepcopy(self.twin.store.find(self.rtype("apps", "deployments"), "demo",
                                                 "sample-app"))  # fmt: skip
        spec = dep["spec"]
        spec["replicas"] = 2
        spec["selector"] = {"matchLabels": {"app": "web"}}
        spec["template"]["metadata"]["labels"] = {"app": "web"}
        return {"apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "demo", "labels": {"app": "web"}},
                "spec": spec}  # fmt: skip

    def clear_faults(self) -> None:
        assert self.twin.faults is not None
        with self.twin.store.lock:
            self.twin.faults.clear_all()

    def story(self) -> str:
        return "\n".join(f"{e.kind} {e.target.key}: {e.message}" for e in self.timeline)

    async def until(self, predicate: Any, what: str, timeout: float = 60.0) -> Any:
        """`support.until`, with the operator's timeline in the failure message."""
        return await until(predicate, what=what, timeout=timeout, context=self.story)


@contextlib.asynccontextmanager
async def operator_with_audit(calls: list[AuditRecord], tmp: Path) -> AsyncIterator[Run]:
    twin = build_twin(scenario="sample-app", clock=WallClock(speed=30.0), seed=0)
    twin.store.create(twin.store.rtype("", "v1", "namespaces"), {
        "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})  # fmt: skip
    # Several incidents on one Deployment within minutes: no cooldown or flapping verdicts;
    # the second workload gets its PDB without the grace period a fresh workload waits.
    settings = Settings.model_validate(
        {
            "guards": {"cooldown": "5s"},
            "incidents": {"flapping_threshold": 10},
            "detection": {"missing_pdb_grace": "0s"},
        }
    )
    with serve_in_thread(twin, tick=0.1, options=ApiOptions(audit=calls.append)) as url:
        connection = KubeConnection.from_server(url)
        ledger = Ledger.open(tmp / "ledger.db")
        timeline: list[OperatorEvent] = []
        async with campaign(
            connection, namespace=NAMESPACE, identity="replica-a", timings=FAST
        ) as elector:
            operator = Operator(
                connection=connection,
                ledger=ledger,
                settings=settings,
                playbooks=load_builtin_playbooks(),
                clock=lambda: datetime.fromtimestamp(twin.clock.now(), tz=UTC),
                options=OperatorOptions(sweep_interval=0.3),
                on_event=timeline.append,
                leader=elector.leading,
            )
            await operator.start()
            try:
                yield Run(twin=twin, ledger=ledger, operator=operator, timeline=timeline)
            finally:
                await operator.stop()
        ledger.close()


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[AuditRecord]]:
    """Every API call of one end-to-end run that heals four faults."""
    calls: list[AuditRecord] = []

    async def scenario() -> None:
        async with operator_with_audit(calls, tmp_path_factory.mktemp("rbac")) as r:
            await r.until(lambda: r.operator.acting, "leadership")
            # 1. memory pressure on a node (drained through evictions under the node lock),
            #    and a second workload without a PodDisruptionBudget (one is created)
            r.twin.store.create(r.rtype("apps", "deployments"), r.second_workload())
            r.inject({"kind": "node-memory-pressure", "target": {"node": "worker-1"},
                      "duration": 30})  # fmt: skip
            await r.until(lambda: r.acted("drain_node"), "the drain")
            await r.until(lambda: r.acted("create_pdb"), "the PDB to be created")
            r.clear_faults()
            await r.until(lambda: r.settled("web"), "the PDB incident to close")

            # 2. an HPA at its maximum under a traffic spike
            def small_max(hpa: dict[str, Any]) -> None:
                hpa["spec"]["maxReplicas"] = 4

            r.twin.store.mutate(r.rtype("autoscaling", "horizontalpodautoscalers"), "demo",
                                "sample-app", small_max)  # fmt: skip
            r.inject({"kind": "traffic-spike", "target": {"namespace": "demo",
                      "service": "sample-app"}, "params": {"multiplier": 10}})  # fmt: skip
            await r.until(lambda: r.acted("raise_hpa_max"), "the HPA maximum to be raised")
            r.clear_faults()
            # 3. a bad rollout of the second workload
            r.inject({"kind": "crash-on-start",
                      "target": {"namespace": "demo", "deployment": "web"}})  # fmt: skip
            await r.until(lambda: r.acted("rollback_deployment"), "the rollback")

    asyncio.run(scenario())
    yield calls


def test_every_call_is_allowed_by_the_shipped_roles(recorded: list[AuditRecord]) -> None:
    rules = load_rules(RBAC)
    assert recorded
    denied = sorted(
        {
            (c.verb, c.group, c.resource, c.subresource, c.namespace, c.name)
            for c in recorded
            if not any(rule.allows(c) for rule in rules)
        }
    )
    assert denied == [], f"calls the roles do not allow: {denied}"


def test_the_roles_grant_nothing_unused(recorded: list[AuditRecord]) -> None:
    used = {
        (c.group, f"{c.resource}/{c.subresource}" if c.subresource else c.resource, c.verb)
        for c in recorded
    }
    granted = grants(load_rules(RBAC))
    unused = granted - used - set(RARELY_EXERCISED)
    assert unused == set(), f"granted but never used: {sorted(unused)}"
    # the allow-list only names permissions that are granted
    assert set(RARELY_EXERCISED) <= granted


def test_the_run_exercised_the_main_permissions(recorded: list[AuditRecord]) -> None:
    used = {(c.group, c.resource, c.subresource, c.verb, c.namespace) for c in recorded}
    for expected in [
        ("", "pods", "", "watch", ""),
        ("apps", "deployments", "", "patch", "demo"),
        ("", "pods", "eviction", "create", "demo"),
        ("coordination.k8s.io", "leases", "", "update", NAMESPACE),
        ("coordination.k8s.io", "leases", "", "update", "kube-node-lease"),
        ("", "configmaps", "", "get", NAMESPACE),
        ("policy", "poddisruptionbudgets", "", "create", "demo"),
        ("", "events", "", "create", "demo"),
    ]:
        assert expected in used, expected


def test_the_evaluator_denies_what_the_roles_do_not_grant() -> None:
    rules = load_rules(RBAC)

    def call(verb: str, group: str, resource: str, namespace: str = "demo", name: str = "x",
             sub: str = "") -> AuditRecord:  # fmt: skip
        return AuditRecord(verb=verb, group=group, resource=resource, subresource=sub,
                           namespace=namespace, name=name, user_agent="")  # fmt: skip

    assert any(r.allows(call("patch", "apps", "deployments")) for r in rules)
    for forbidden in (
        call("delete", "apps", "deployments"),
        call("get", "", "secrets"),
        call("update", "coordination.k8s.io", "leases", namespace="demo"),
        call("update", "coordination.k8s.io", "leases", namespace="kube-node-lease", name="other"),
        call("get", "", "configmaps", namespace=NAMESPACE, name="other"),
        call("create", "", "pods", sub="exec"),
    ):
        assert not any(r.allows(forbidden) for r in rules), forbidden

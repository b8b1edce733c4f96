"""End-to-end kit for the operator tests: the operator against its cluster twin.

Each test starts one harness (twin in a thread at accelerated speed, the operator in the
test's event loop over HTTP), injects faults, and polls with a deadline (`wait_for`) for what
the twin's store and the ledger show. Helpers are handed out through the `kh` fixture (a
conftest cannot be imported in importlib mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from kubeheal.cli.harness import Harness, running_harness
from kubeheal.clients.writer import Kind
from kubeheal.config import Settings
from kubeheal.engine.playbooks import PlaybookSet, load_builtin_playbooks, parse_playbooks
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.store import records as rec
from kubeheal.twin.sim.faults import FaultSpec

SPEED = 20.0
"""Cluster seconds per wall second: fast, and stable on a loaded 2-core machine."""
SWEEP = 0.3
"""Wall seconds between the operator's detection sweeps."""
DEADLINE = 30.0
"""Default wall-clock deadline of a wait."""

SAMPLE_IMAGE = "ghcr.io/kubeheal/sample-app:1.4.2"

_GROUPS = {
    "pods": ("", "v1"),
    "nodes": ("", "v1"),
    "namespaces": ("", "v1"),
    "configmaps": ("", "v1"),
    "events": ("", "v1"),
    "deployments": ("apps", "v1"),
    "replicasets": ("apps", "v1"),
    "poddisruptionbudgets": ("policy", "v1"),
    "horizontalpodautoscalers": ("autoscaling", "v2"),
}


async def wait_for(
    predicate: Callable[[], Any], *, timeout: float = DEADLINE, what: str = "", every: float = 0.05
) -> Any:
    """Poll `predicate` until it returns something truthy (returned) or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what or predicate}")
        await asyncio.sleep(every)


@dataclass
class Spy:
    """Records the pod-level writes the operator's writer makes (evictions, deletions)."""

    evictions: list[str] = field(default_factory=list)
    pod_deletes: list[str] = field(default_factory=list)


@dataclass
class Run:
    """One running harness plus the operator's timeline and helpers over twin and ledger."""

    h: Harness
    timeline: list[OperatorEvent]

    # -- twin ----------------------------------------------------------------------------

    @property
    def store(self) -> Any:
        return self.h.twin.store

    def rtype(self, plural: str) -> Any:
        group, version = _GROUPS[plural]
        return self.store.rtype(group, version, plural)

    def get(self, plural: str, namespace: str | None, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.store.find(self.rtype(plural), namespace, name)
        return found

    def list(self, plural: str, namespace: str | None = None) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.store.list_objects(self.rtype(plural), namespace)
        return items

    def deployment(self, namespace: str = "demo", name: str = "sample-app") -> dict[str, Any]:
        dep = self.get("deployments", namespace, name)
        assert dep is not None, f"deployment {namespace}/{name} is gone"
        return dep

    def image(self, namespace: str = "demo", name: str = "sample-app") -> str:
        containers = self.deployment(namespace, name)["spec"]["template"]["spec"]["containers"]
        return str(containers[0]["image"])

    def mutate(
        self, plural: str, namespace: str | None, name: str, change: Callable[[Any], None]
    ) -> None:
        self.store.mutate(self.rtype(plural), namespace, name, change)

    def create(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        created: dict[str, Any] = self.store.create(self.rtype(plural), obj)
        return created

    def delete(self, plural: str, namespace: str | None, name: str) -> None:
        self.store.delete(self.rtype(plural), namespace, name)

    def inject(self, spec: dict[str, Any]) -> str:
        faults = self.h.twin.faults
        assert faults is not None
        return faults.inject(FaultSpec.model_validate(spec))

    def events(self, namespace: str, *, reason: str, name: str | None = None) -> list[Any]:
        return [
            e
            for e in self.list("events", namespace)
            if e.get("reason") == reason
            and (name is None or (e.get("involvedObject") or {}).get("name") == name)
        ]

    def pods_of(self, app: str = "sample-app", namespace: str = "demo") -> list[dict[str, Any]]:
        return [
            p
            for p in self.list("pods", namespace)
            if (p["metadata"].get("labels") or {}).get("app") == app
            and not p["metadata"].get("deletionTimestamp")
        ]

    # -- ledger ---------------------------------------------------------------------------

    def incidents(
        self, name: str = "sample-app", *, kind: str = "Deployment", namespace: str = "demo"
    ) -> list[rec.IncidentRecord]:
        ledger = self.h.ledger
        since = datetime(2000, 1, 1, tzinfo=UTC)
        until = self.h.now() + timedelta(days=1)
        wanted = rec.TargetRef(kind=kind, namespace=namespace if kind != "Node" else "", name=name)
        return [i for i in ledger.list_incidents(since=since, until=until) if i.target == wanted]

    def incident(self, name: str = "sample-app", **kw: Any) -> rec.IncidentRecord | None:
        found = self.incidents(name, **kw)
        return found[-1] if found else None

    def closed(
        self, name: str = "sample-app", *, state: rec.IncidentState | None = None, **kw: Any
    ) -> rec.IncidentRecord | None:
        """The last incident of the target once it is closed (in `state` if given)."""
        inc = self.incident(name, **kw)
        if inc is None or not inc.is_terminal:
            return None
        if state is not None and inc.state is not state:
            return None
        return inc

    def actions(self, incident: rec.IncidentRecord) -> list[rec.ActionRecord]:
        return self.h.ledger.actions_for_incident(incident.id)

    def plans(self, incident: rec.IncidentRecord) -> list[rec.PlanRecord]:
        return self.h.ledger.plans_for_incident(incident.id)

    def transitions(self, incident: rec.IncidentRecord) -> list[rec.TransitionRecord]:
        return self.h.ledger.transitions_for_incident(incident.id)

    def all_actions(self) -> list[rec.ActionRecord]:
        return self.h.ledger.actions_since(datetime(2000, 1, 1, tzinfo=UTC))

    def blocked_plan(self, incident: rec.IncidentRecord, guard: str) -> rec.PlanRecord | None:
        return next((p for p in self.plans(incident) if p.blocked_by == guard), None)

    # -- operator -------------------------------------------------------------------------

    def spy_pod_writes(self) -> Spy:
        """Wrap the operator's writer so evictions and pod deletions are recorded."""
        spy = Spy()
        writer = self.h.operator.writer
        evict, delete = writer.evict, writer.delete

        async def spy_evict(namespace: str, name: str, **kw: Any) -> None:
            spy.evictions.append(f"{namespace}/{name}")
            await evict(namespace, name, **kw)

        async def spy_delete(kind: Kind, namespace: str | None, name: str, **kw: Any) -> None:
            if kind is Kind.POD:
                spy.pod_deletes.append(f"{namespace}/{name}")
            await delete(kind, namespace, name, **kw)

        writer.evict = spy_evict  # type: ignore[method-assign]
        writer.delete = spy_delete  # type: ignore[method-assign]
        return spy

    async def until(
        self, predicate: Callable[[], Any], *, what: str, timeout: float = DEADLINE
    ) -> Any:
        """`wait_for`, with the operator's timeline in the failure message."""
        try:
            return await wait_for(predicate, timeout=timeout, what=what)
        except AssertionError as e:
            raise AssertionError(f"{e}\ntimeline:\n{self.describe()}") from None

    async def settled(self, *, sweeps: int, timeout: float = DEADLINE) -> None:
        """Wait until ``sweeps`` more sweeps have run and the operator has nothing left to
        do (`Operator.settled`): what "nothing happened" is proved after."""
        try:
            await asyncio.wait_for(self.h.operator.settled(sweeps=sweeps), timeout=timeout)
        except TimeoutError:
            raise AssertionError(
                f"the operator did not settle after {sweeps} sweeps\ntimeline:\n{self.describe()}"
            ) from None

    def kinds(self) -> list[str]:
        return [e.kind for e in self.timeline]

    def describe(self) -> str:
        """The timeline, for assertion messages."""
        return "\n".join(
            f"{e.at:%H:%M:%S} {e.kind} {e.target.key}: {e.message}" for e in self.timeline
        )


def playbooks_with(yaml_text: str, tmp_path: Path) -> PlaybookSet:
    """The built-in playbooks, with those in `yaml_text` added or replacing same-named ones."""
    extra, issues = parse_playbooks(yaml_text, file=tmp_path / "custom.yaml")
    assert not issues, [str(i) for i in issues]
    builtins = load_builtin_playbooks()
    replaced = {p.name for p in extra}
    return PlaybookSet.of([*(p for p in builtins if p.name not in replaced), *extra])


@contextlib.asynccontextmanager
async def run(
    *,
    scenario: str = "sample-app",
    settings: Settings | None = None,
    playbooks: PlaybookSet | None = None,
    ledger_path: Path | None = None,
    speed: float = SPEED,
    sweep_interval: float = SWEEP,
) -> AsyncIterator[Run]:
    """One harness (twin + operator) for one test."""
    timeline: list[OperatorEvent] = []
    async with running_harness(
        scenario=scenario,
        speed=speed,
        settings=settings,
        playbooks=playbooks,
        ledger_path=ledger_path,
        sweep_interval=sweep_interval,
        on_event=timeline.append,
    ) as h:
        yield Run(h=h, timeline=timeline)


def last_action_note(obj: dict[str, Any]) -> dict[str, Any] | None:
    note = (obj["metadata"].get("annotations") or {}).get("kubeheal.io/last-action")
    return json.loads(note) if note else None


class Kit:
    """What the test modules use (see the module docstring)."""

    SPEED = SPEED
    SWEEP = SWEEP
    SAMPLE_IMAGE = SAMPLE_IMAGE
    run = staticmethod(run)
    wait_for = staticmethod(wait_for)
    playbooks_with = staticmethod(playbooks_with)
    last_action_note = staticmethod(last_action_note)
    BAD_ROLLOUT = {
        "kind": "crash-on-start",
        "target": {"namespace": "demo", "deployment": "sample-app"},
    }


@pytest.fixture
def kh() -> type[Kit]:
    return Kit

"""The leak escalation carries the forecast's figures (engine.evidence, on plain data)."""

from __future__ import annotations

from datetime import timedelta

from kubeheal.config import Settings
from kubeheal.engine.evidence import forecast_evidence, with_evidence
from kubeheal.engine.plan import ActionPlan, EscalatePlan, decide
from kubeheal.engine.playbooks import load_builtin_playbooks
from kubeheal.model import ClusterView, History, Incident
from kubeheal.model.core import IncidentId, Signal, SignalKind, SignalSource, Target, TargetKind

MIB = 2**20
WEB = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="web")
PLAYBOOK = "oom-predicted-raise-memory"


def forecast(
    k8s, *, pod: str = "web-2-a", slope: float = 2 * MIB, minutes: float = 0, **extra
) -> Signal:
    subject = f"pod/{pod}/container/app"
    details: dict[str, str | int | float | bool] = {
        "resource": "memory",
        "seconds": 114.0,
        "lower": 90.0,
        "upper": 144.0,
        "limit": 384 * MIB,
        "level": 156 * MIB,
        "slope_per_second": slope,
        "container": "app",
        "summary": "OOM kill predicted in 114 s (90 s..144 s)",
    }
    details.update(extra)
    return Signal(
        id=Signal.make_id(SignalKind.FORECAST, WEB, subject),
        kind=SignalKind.FORECAST,
        target=WEB,
        observed_at=k8s.at(minutes),
        subject=subject,
        details=details,
        source=SignalSource.FORECAST,
    )


def incident(k8s, *signals: Signal, step: int = 0, attempts: int = 0) -> Incident:
    return Incident(
        id=IncidentId("inc-1"),
        target=WEB,
        opened_at=k8s.at(-10),
        updated_at=k8s.at(0),
        signals=signals,
        playbook=PLAYBOOK,
        step=step,
        attempts=attempts,
    )


def test_the_evidence_names_the_container_its_growth_rate_and_the_time_to_its_limit(k8s) -> None:
    text = forecast_evidence(incident(k8s, forecast(k8s)))
    assert text == (
        "memory of container app in pod web-2-a grows 2.00 MiB/s (120.0 MiB/min): "
        "156.0 MiB now, the 384.0 MiB limit is reached in 114 s (90 s..2.4 min)"
    )


def test_the_latest_forecast_of_the_incident_is_the_one_described(k8s) -> None:
    old = forecast(k8s, pod="web-1-a", slope=1 * MIB, minutes=-5, seconds=4000.0)
    new = forecast(k8s, pod="web-2-a", slope=3 * MIB, minutes=0, seconds=300.0, upper=-1.0)
    text = forecast_evidence(incident(k8s, old, new))
    assert text is not None
    assert "pod web-2-a grows 3.00 MiB/s (180.0 MiB/min)" in text
    # minutes above two, and no interval when its upper end is unbounded (-1)
    assert text.endswith("the 384.0 MiB limit is reached in 5.0 min")


def test_without_a_memory_forecast_the_placeholder_says_so_and_other_text_stays(k8s) -> None:
    cpu = forecast(k8s, resource="cpu")
    assert forecast_evidence(incident(k8s, cpu)) is None
    assert with_evidence("leak: {forecast}.", incident(k8s, cpu)) == (
        "leak: no memory forecast in this incident."
    )
    assert with_evidence("no {placeholder} here", incident(k8s)) == "no {placeholder} here"


def test_a_forecast_with_unusable_figures_is_not_described(k8s) -> None:
    bad = forecast(k8s, slope_per_second="fast")
    assert forecast_evidence(incident(k8s, bad)) is None


def test_after_two_raises_the_playbook_escalates_with_the_forecast_figures(k8s) -> None:
    view = ClusterView(
        pods=[k8s.pod("web-2-a", owner=("ReplicaSet", "web-2"), memory_limit="576Mi")],
        deployments=[k8s.deployment(replicas=1, memory_limit="576Mi")],
        replica_sets=[k8s.replica_set("web-2", revision=3, created=-10)],
        nodes=[k8s.node("n1", allocatable_memory="8Gi")],
        pdbs=[k8s.pdb()],
    )
    playbooks = load_builtin_playbooks()
    leaking = forecast(k8s, limit=576 * MIB, level=300 * MIB, seconds=138.0)
    first = decide(
        incident(k8s, leaking),
        view,
        History(),
        Settings(),
        now=k8s.at(0),
        playbooks=playbooks,
    )
    assert isinstance(first, ActionPlan) and first.action.value == "raise_memory_limit"
    result = decide(
        incident(k8s, leaking, step=2, attempts=2),
        view,
        History(),
        Settings(),
        now=k8s.at(0) + timedelta(seconds=1),
        playbooks=playbooks,
    )
    assert isinstance(result, EscalatePlan), result
    assert result.playbook == PLAYBOOK and result.step == 2
    assert result.reason.startswith("Likely a memory leak: memory keeps growing")
    assert "grows 2.00 MiB/s (120.0 MiB/min)" in result.reason
    assert "the 576.0 MiB limit is reached in 2.3 min (90 s..2.4 min)" in result.reason
    assert "{forecast}" not in result.reason

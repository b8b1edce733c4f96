"""The runner against the twin: preflight refusals inject nothing, rollbacks always run."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from kubeheal.chaos.errors import ProbeUnreachable, TargetSelectionError
from kubeheal.chaos.journal import FaultRun, RunStatus
from kubeheal.chaos.measure import LedgerFacts, measure_fault, outages, resilience_score
from kubeheal.chaos.probes import Check
from kubeheal.chaos.runner import BudgetReading, ExperimentRunner
from kubeheal.chaos.spec import Experiment, parse_experiment
from kubeheal.model.core import Target, TargetKind
from kubeheal.model.history import ErrorBudget

READY = {
    "name": "sample-app-ready",
    "tolerance": 1,
    "kubernetes": {"workload": {"namespace": "demo", "name": "sample-app"}},
}
SETTINGS = {"probe_interval": "5s", "stable_for": "10s", "observe_after": "20s"}


def _exp(
    *faults: dict[str, Any], probes: list[dict[str, Any]] | None = None, **extra: Any
) -> Experiment:
    return parse_experiment(
        {
            "name": "t",
            "steady_state": probes or [READY],
            "method": list(faults),
            "settings": SETTINGS,
            **extra,
        }
    )


SCALE_ZERO = {
    "name": "zero",
    "fault": "scale-to-zero",
    "target": {"namespace": "demo", "name": "sample-app"},
    "duration": "600s",
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_empty_target_selection_is_refused_before_any_fault(chaos_twin: Any) -> None:
    async with chaos_twin("sample-app") as kit:
        before = kit.pod_names("demo")
        exp = _exp(
            {
                "name": "kill",
                "fault": "pod-delete",
                "target": {"namespace": "demo", "labels": {"app": "nothing-has-this"}},
            },
            SCALE_ZERO,
        )
        runner = ExperimentRunner(exp, kit.env)
        with pytest.raises(TargetSelectionError, match="no running pod matches labels"):
            await runner.preflight()
        journal = await ExperimentRunner(exp, kit.env).run()
        assert journal.status is RunStatus.REFUSED
        assert "'kill'" in (journal.error or "")
        assert journal.faults == [] and journal.rollbacks == []
        assert kit.deployment("demo", "sample-app")["spec"]["replicas"] == 3
        assert kit.pod_names("demo") == before
        assert kit.twin.faults is not None and kit.twin.faults.history == []


async def test_unreachable_probe_url_is_refused_before_any_fault(chaos_twin: Any) -> None:
    async with chaos_twin("sample-app") as kit:
        url = f"http://127.0.0.1:{_closed_port()}/healthz"
        exp = _exp(SCALE_ZERO, probes=[READY, {"name": "web", "http": {"url": url}}])
        with pytest.raises(ProbeUnreachable, match=r"probe 'web': cannot reach http://127"):
            await ExperimentRunner(exp, kit.env).preflight()
        journal = await ExperimentRunner(exp, kit.env).run()
        assert journal.status is RunStatus.REFUSED and "cannot reach" in (journal.error or "")
        assert kit.deployment("demo", "sample-app")["spec"]["replicas"] == 3
        missing = _exp(
            SCALE_ZERO,
            probes=[
                {
                    "name": "gone",
                    "kubernetes": {"workload": {"namespace": "demo", "name": "no-such-app"}},
                }
            ],
        )
        journal = await ExperimentRunner(missing, kit.env).run()
        assert journal.status is RunStatus.REFUSED and "not found" in (journal.error or "")


class _Budgets:
    def __init__(self, remaining: float, now: datetime) -> None:
        target = Target(kind=TargetKind.DEPLOYMENT, namespace="demo", name="sample-app")
        self.reading = BudgetReading(
            budgets=(
                ErrorBudget(
                    target=target, slo="sample-avail", remaining=remaining, observed_at=now
                ),
            )
        )

    async def read(self) -> BudgetReading:
        return self.reading


async def test_a_spent_error_budget_refuses_the_experiment(chaos_twin: Any) -> None:
    async with chaos_twin("sample-app") as kit:
        kit.env.budgets = _Budgets(0.04, kit.env.clock())
        journal = await ExperimentRunner(_exp(SCALE_ZERO), kit.env).run()
        assert journal.status is RunStatus.REFUSED
        assert "4.0% of the error budget of SLO sample-avail" in (journal.error or "")
        assert "below the policy's 10%" in (journal.error or "")
        assert kit.deployment("demo", "sample-app")["spec"]["replicas"] == 3
        kit.env.budgets = _Budgets(0.5, kit.env.clock())
        await ExperimentRunner(_exp(SCALE_ZERO), kit.env).preflight()  # allowed now


class _Broken:
    """A simulator whose injections fail."""

    def inject(self, spec: Mapping[str, Any]) -> str:
        raise ValueError("the simulator is broken")

    def clear(self, fault_id: str) -> None:
        raise LookupError(fault_id)


async def test_rollbacks_run_when_the_method_fails(chaos_twin: Any) -> None:
    async with chaos_twin("sample-app") as kit:
        kit.env.simulator = _Broken()
        exp = _exp(
            {**SCALE_ZERO, "duration": "10s"},
            {
                "name": "slow",
                "fault": "pod-network-latency",
                "latency": "500ms",
                "target": {"namespace": "demo", "labels": {"app": "sample-app"}},
            },
            rollbacks=[
                {
                    "action": "scale",
                    "replicas": 3,
                    "workload": {"namespace": "demo", "name": "sample-app"},
                }
            ],
        )
        journal = await ExperimentRunner(exp, kit.env).run()
        assert journal.status is RunStatus.ERROR
        assert "the simulator is broken" in (journal.error or "")
        whats = [r.what for r in journal.rollbacks]
        assert any(w.startswith("undo zero") for w in whats), whats
        assert whats[-1] == "rollback: scale Deployment demo/sample-app to 3"
        assert all(r.ok for r in journal.rollbacks)
        assert kit.deployment("demo", "sample-app")["spec"]["replicas"] == 3
        assert journal.faults[1].error and "broken" in journal.faults[1].error


async def test_rollbacks_run_when_the_run_is_interrupted(chaos_twin: Any) -> None:
    async with chaos_twin("sample-app") as kit:
        runner = ExperimentRunner(_exp(SCALE_ZERO), kit.env)
        task = asyncio.ensure_future(runner.run())
        for _ in range(200):
            await asyncio.sleep(0.02)
            if kit.deployment("demo", "sample-app")["spec"]["replicas"] == 0:
                break
        assert kit.deployment("demo", "sample-app")["spec"]["replicas"] == 0
        task.cancel()  # what Ctrl-C does to asyncio.run's main task
        with pytest.raises(asyncio.CancelledError):
            await task
        assert runner.journal.status is RunStatus.INTERRUPTED
        assert kit.deployment("demo", "sample-app")["spec"]["replicas"] == 3
        assert [r.ok for r in runner.journal.rollbacks] == [True]
        assert any(e.kind == "interrupted" for e in runner.journal.events)


async def test_a_probe_failing_beyond_tolerance_aborts_and_rolls_back(chaos_twin: Any) -> None:
    async with chaos_twin("sample-app") as kit:
        # min_ready 3: with a share, zero desired replicas would count as "all ready"
        three = {**READY, "kubernetes": {**READY["kubernetes"], "min_ready": 3}}
        exp = _exp(
            SCALE_ZERO,
            probes=[three],
            abort={"probes": ["sample-app-ready"], "max_probe_outage": "10s"},
        )
        journal = await ExperimentRunner(exp, kit.env).run()
        assert journal.status is RunStatus.ABORTED
        assert "probe 'sample-app-ready' failed beyond its tolerance" in (
            journal.abort_reason or ""
        )
        assert kit.deployment("demo", "sample-app")["spec"]["replicas"] == 3
        # the abort came long before the fault's 600 s
        assert journal.cluster_seconds < 300


T0 = datetime(2030, 1, 1, tzinfo=UTC)


def _check(s: float, ok: bool, probe: str = "p") -> Check:
    return Check(probe, T0 + timedelta(seconds=s), ok=ok, detail="")


def test_outages_respect_tolerance_and_measure_recovery() -> None:
    checks = [
        _check(s, ok)
        for s, ok in [
            (0, True),
            (5, False),
            (10, True),
            (15, False),
            (20, False),
            (25, False),
            (30, True),
            (35, True),
        ]
    ]
    found = outages(checks, probes=["p"], tolerances={"p": 1})
    assert [(o.start - T0).total_seconds() for o in found] == [15]
    assert found[0].end == T0 + timedelta(seconds=30)
    spec = _exp(
        {
            "name": "k",
            "fault": "pod-delete",
            "weight": 10,
            "target": {"namespace": "d", "deployment": "x"},
            "expect": {"max_recover": "20s", "kubeheal_acts": True},
        }
    ).method[0]
    run = FaultRun(
        "k",
        "pod-delete",
        started_at=T0 + timedelta(seconds=12),
        window_end=T0 + timedelta(seconds=35),
    )
    result = measure_fault(
        run,
        spec,
        checks=checks,
        probes=["p"],
        tolerances={"p": 1},
        ledger=LedgerFacts(incidents=(), actions={}),
    )
    assert result.recover_s == 18 and result.mttr_s == 15 and result.outages == 1
    assert result.probe_success_pct == 0.0
    assert [(e.name, e.ok) for e in result.expectations] == [
        ("time to recover", True),
        ("kubeheal acted", False),
    ]
    assert resilience_score([result]) == 0.0


async def test_a_round_cancelled_while_it_is_injected_is_still_undone(chaos_twin: Any) -> None:
    """Ctrl-C after the cluster took the fault but before the runner heard back: the round is
    registered and rolled back anyway (it used to be lost, leaving the Deployment at 0)."""
    async with chaos_twin("sample-app") as kit:
        runner = ExperimentRunner(_exp(SCALE_ZERO), kit.env)
        inject = runner.driver.inject
        reached, release = asyncio.Event(), asyncio.Event()

        async def slow_inject(fault: Any) -> Any:
            injection = await inject(fault)  # the Deployment is at zero now
            reached.set()
            await release.wait()  # the answer is still on its way when Ctrl-C comes
            return injection

        runner.driver.inject = slow_inject  # type: ignore[method-assign]
        task = asyncio.ensure_future(runner.run())
        await asyncio.wait_for(reached.wait(), timeout=30)
        assert kit.deployment("demo", "sample-app")["spec"]["replicas"] == 0
        task.cancel()
        await asyncio.sleep(0)
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert runner.journal.status is RunStatus.INTERRUPTED
        assert kit.deployment("demo", "sample-app")["spec"]["replicas"] == 3
        assert [r.ok for r in runner.journal.rollbacks] == [True]

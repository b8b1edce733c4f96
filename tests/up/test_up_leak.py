"""Leaks handled before the kill, through the full stack of `kubeheal up`.

The twin's memory-leak fault on sample-app, scraped by Debian's Prometheus; kubeheal's
exhaustion forecast over that Prometheus (the anomaly source, on in the full stack) makes the
predictive playbook raise the limit before the first OOM kill; the forecast comes back on the
new pods, so after two raises the incident is escalated as a leak with the forecast's growth
rate and time to the limit in the escalation's text.

The built-in playbook waits 10 minutes between raises (its verification, and the default
cooldown); here both are 30 s of cluster time (the cluster runs at wall speed, so the
forecast's rates are the fault's), the steps and the escalation text are the built-in ones.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from kubeheal.cli.harness import running_harness
from kubeheal.config import Settings
from kubeheal.engine.playbooks import builtin_directory, load_playbooks
from kubeheal.model.core import SignalKind
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.store import records as rec
from kubeheal.twin.sim.faults import FaultSpec

pytestmark = pytest.mark.slow

MIB = 2**20
LEAK = 1.5 * MIB  # bytes/s: sample-app's 96Mi reach its 256Mi limit after ~107 s of uptime
SAMPLE_APP = "Deployment/demo/sample-app"
PLAYBOOK = "oom-predicted-raise-memory"


def quick_playbooks(tmp: Path) -> Any:
    """The built-in playbooks, the predictive one verified over 30 s instead of 10 min."""
    directory = tmp / "playbooks"
    shutil.copytree(builtin_directory(), directory, ignore=shutil.ignore_patterns("*.py"))
    path = directory / f"{PLAYBOOK}.yaml"
    text = path.read_text()
    assert "  stable_for: 10m\n  timeout: 10m\n" in text
    path.write_text(
        text.replace("  stable_for: 10m\n  timeout: 10m\n", "  stable_for: 30s\n  timeout: 30s\n")
    )
    return load_playbooks(directory)


def oom_kills(h: Any) -> int:
    store = h.twin.store
    kills = 0
    for pod in store.list_objects(store.rtype("", "v1", "pods"), "demo"):
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            for state in ((cs.get("lastState") or {}), (cs.get("state") or {})):
                if (state.get("terminated") or {}).get("reason") == "OOMKilled":
                    kills += 1
    return kills


async def test_a_leak_is_raised_before_the_kill_and_escalated_with_its_rate_after_two_raises(
    tmp_path: Path,
) -> None:
    events: list[tuple[float, int, OperatorEvent]] = []
    holder: dict[str, Any] = {}

    def on_event(event: OperatorEvent) -> None:
        h = holder.get("h")
        events.append((time.monotonic(), oom_kills(h) if h is not None else 0, event))
        if event.kind == "escalated" and h is not None:
            # the incident as the engine saw it when it wrote the escalation
            state = h.operator.targets.states.get(event.target)
            if state is not None and state.incident is not None:
                holder["forecasts"] = [
                    sig
                    for sig in state.incident.signals
                    if sig.kind is SignalKind.FORECAST and sig.details.get("resource") == "memory"
                ]

    settings = Settings()
    settings = settings.model_copy(
        update={"guards": settings.guards.model_copy(update={"cooldown": timedelta(seconds=30)})}
    )
    async with running_harness(
        scenario="sample-app",
        speed=1.0,
        settings=settings,
        playbooks=quick_playbooks(tmp_path),
        stack="full",
        workdir=tmp_path / "up",
        sweep_interval=0.5,
        on_event=on_event,
    ) as h:
        holder["h"] = h
        assert h.twin.faults is not None
        h.twin.faults.inject(
            FaultSpec.model_validate(
                {
                    "kind": "memory-leak",
                    "target": {"namespace": "demo", "deployment": "sample-app"},
                    "params": {"bytes_per_second": LEAK},
                }
            )
        )

        def story() -> str:
            t0 = events[0][0] if events else 0.0
            return "\n".join(
                f"{t - t0:6.1f}s ooms={k} {e.kind} {e.target.key}: {e.message[:300]}"
                for t, k, e in events
            )

        deadline = time.monotonic() + 300
        while not any(e.kind == "escalated" and e.target.key == SAMPLE_APP for _, _, e in events):
            assert time.monotonic() < deadline, f"no escalation in 300 s\n{story()}"
            await asyncio.sleep(0.5)

        mine = [(k, e) for _, k, e in events if e.target.key == SAMPLE_APP]
        raises = [
            (k, e) for k, e in mine if e.kind == "action" and "raise_memory_limit" in e.message
        ]
        assert len(raises) >= 2, story()
        assert raises[0][0] == 0, f"the first raise came after an OOM kill\n{story()}"

        actions = [
            a
            for a in h.ledger.actions_since(h.now() - timedelta(days=1))
            if a.target.name == "sample-app" and a.action == "raise_memory_limit"
        ]
        assert [a.state for a in actions] == [rec.ActionState.SUCCEEDED] * 2, story()
        dep = h.twin.store.get(
            h.twin.store.rtype("apps", "v1", "deployments"), "demo", "sample-app"
        )
        limits = dep["spec"]["template"]["spec"]["containers"][0]["resources"]["limits"]
        assert limits["memory"] == "576Mi", story()  # 256Mi x1.5 x1.5

        escalated = next(e for _, e in mine if e.kind == "escalated")
        text = escalated.message
        assert text.startswith("Likely a memory leak"), story()
        # the figures are the forecast's: the incident's latest memory forecast
        forecasts = holder.get("forecasts")
        assert forecasts, story()
        latest = max(forecasts, key=lambda sig: (sig.observed_at, sig.subject)).details
        slope = float(latest["slope_per_second"])
        assert f"grows {slope / MIB:.2f} MiB/s ({slope * 60 / MIB:.1f} MiB/min)" in text, text
        # ... and they describe this leak: at least the fault's rate (the working set also
        # grows with the traffic the new pods take on), at most twice it
        assert 0.8 * LEAK <= slope <= 2 * LEAK, text
        left = re.search(r"the 576\.0 MiB limit is reached in (\d+(?:\.\d)?) (s|min)", text)
        assert left is not None, text
        seconds = float(left.group(1)) * (60 if left.group(2) == "min" else 1)
        assert abs(seconds - float(latest["seconds"])) <= max(1.0, 0.05 * seconds), text
        # the new pods started from 96Mi less than a minute ago: (576-96)/1.5 s at most
        assert 0 < seconds <= (576 - 96) * MIB / LEAK, text
        incidents = h.ledger.list_incidents(since=h.now() - timedelta(days=1), until=h.now())
        leak = [i for i in incidents if i.playbook == PLAYBOOK]
        assert leak and leak[-1].state is rec.IncidentState.ESCALATED, story()
        print(story())

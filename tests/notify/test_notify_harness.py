"""End to end: the operator against its cluster twin, wired as `kubeheal run` wires it.

A crash loop kubeheal cannot fix (a restart does not help) is escalated; the notification
loop started with the operator's tasks tells the generic webhook and Slack with the logs and
the exact kubectl; the incidents API lists it; once the fault is gone and the problem is no
longer observed, the resolution is announced to both.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import httpx

from kubeheal.cli.harness import running_harness
from kubeheal.config import Settings
from kubeheal.model.core import Target, TargetKind
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.server.auth import Authenticator
from kubeheal.twin.sim.faults import FaultSpec

SPEED = 20.0
SAMPLE_APP = Target(kind=TargetKind.DEPLOYMENT, namespace="demo", name="sample-app")


async def _until(predicate: Callable[[], Any], *, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def test_kubeheal_run_wiring_escalates_notifies_and_announces_the_end(
    receiver: Any,
) -> None:
    settings = Settings.model_validate(
        {
            # The crash loop is what this story is about: the restart-rate detector, which
            # keeps reporting a recovered pod for detection.restart_rate_recent_within after
            # its last restart (tests/engine/test_engine_detect.py), is left out so that the
            # end comes after resolve_quiet_after alone, however many restarts the machine's
            # load let happen before the fault was cleared.
            "detection": {"restart_rate_min_restarts": 1000},
            "notifications": {
                "channels": {
                    "hook": {
                        "type": "webhook",
                        "url": receiver.url("webhook"),
                        "signing_secret": "whsec-hmac-SECRET-value",
                    },
                    "chat": {"type": "slack", "url": receiver.url("slack", "T0/B0/token")},
                },
                "policies": {
                    "default": {"levels": [{"after": "0s", "channels": ["hook", "chat"]}]}
                },
                "resolve_quiet_after": "90s",
                "poll_interval": "100ms",
                "cluster": "twin",
            },
        }
    )
    timeline: list[OperatorEvent] = []
    async with running_harness(
        scenario="sample-app",
        speed=SPEED,
        settings=settings,
        sweep_interval=0.3,
        on_event=timeline.append,
        listen="127.0.0.1:0",
        auth=Authenticator.off(),
    ) as h:
        faults = h.twin.faults
        assert faults is not None
        target = {"namespace": "demo", "labels": {"app": "sample-app"}}
        crash = faults.inject(
            FaultSpec.model_validate({"kind": "crash-on-start", "target": target})
        )
        faults.inject(FaultSpec.model_validate({"kind": "pod-kill", "target": target}))

        await _until(lambda: receiver.of("webhook"), timeout=40, what="the escalation message")
        level = receiver.of("webhook")[0].json
        assert level["kind"] == "level"
        assert level["incident"]["target"] == {
            "kind": "Deployment",
            "namespace": "demo",
            "name": "sample-app",
        }
        assert "keeps crashing after a restart" in level["what_happened"]
        assert "cannot start without configuration" in (level["logs"] or "")
        assert any(
            c.startswith("kubectl -n demo logs sample-app-") for c in level["next_step"]["commands"]
        )
        assert receiver.of("slack"), "Slack was not told"
        # The observer passed to the harness still sees every event (composed, not replaced).
        assert any(e.kind == "escalated" for e in timeline)

        assert h.http_url is not None
        async with httpx.AsyncClient(base_url=h.http_url) as api:
            listed = (await api.get("/api/v1/incidents")).json()["incidents"]
            assert [i["id"] for i in listed] == [level["incident"]["id"]]

        # The fault is fixed by hand, after the pod crashed several times (as it does on a
        # busy machine); once the problem is no longer observed, the end is announced where
        # kubeheal had spoken.
        await _until(
            lambda: any(
                c.restart_count >= 3
                for pod in h.operator.view.pods_of(SAMPLE_APP)
                for c in pod.status.container_statuses
            ),
            timeout=60,
            what="the crashing pod's third restart",
        )
        faults.clear(crash)
        cleared_at = len(timeline)
        try:
            await _until(
                lambda: [c for c in receiver.of("webhook") if c.json["kind"] == "resolve"],
                timeout=90,
                what="the resolution message",
            )
        except AssertionError as e:
            story = "\n".join(
                f"{ev.at:%H:%M:%S} {ev.kind} {ev.target.key} {ev.message[:100]}"
                for ev in timeline[cleared_at:]
            )
            raise AssertionError(
                f"{e}; operator events since the fault was cleared:\n{story}"
            ) from None
        # Each channel's message is its own outbox item, delivered in no fixed order: the
        # Slack one may land a poll after the webhook's, so it is waited for, not read at once.
        await _until(
            lambda: "Resolved" in receiver.of("slack")[-1].json["text"],
            timeout=10,
            what="the resolution message on Slack",
        )
        resolved = [c for c in receiver.of("webhook") if c.json["kind"] == "resolve"]
        assert len(resolved) == 1
        assert "has not been observed" in (resolved[0].json["note"] or "")
    assert receiver.violations == []
    keys = receiver.keys("webhook")
    assert set(keys.values()) == {1}

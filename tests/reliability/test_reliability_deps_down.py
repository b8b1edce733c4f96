"""Prometheus and Alertmanager unreachable: watch-based healing goes on, health says degraded.

The anomaly source is on and points at a closed port (so is the Alertmanager kubeheal probes);
a bad rollout puts sample-app in a crash loop. The operator must still roll it back and verify
the recovery from its watches, while /readyz answers 200 with ``status: degraded`` naming both
dependencies, and /healthz stays 200 (an outage elsewhere is no reason to restart kubeheal).
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from kubeheal.cli.harness import running_harness
from kubeheal.config import DetectionSettings, Settings, WebhookSettings
from kubeheal.config.settings import AnomalySettings
from kubeheal.server import Authenticator
from kubeheal.store import records as rec
from kubeheal.twin.sim.faults import FaultSpec


async def test_crash_loop_healed_from_watches_while_prometheus_is_down(rk: Any) -> None:
    prometheus = f"http://127.0.0.1:{rk.closed_port()}"
    alertmanager = f"http://127.0.0.1:{rk.closed_port()}"
    settings = Settings(
        detection=DetectionSettings(missing_pdb=False),
        anomaly=AnomalySettings(enabled=True, prometheus_url=prometheus, interval="1s"),
        webhook=WebhookSettings(alertmanager_url=alertmanager),
    )
    async with (
        running_harness(
            scenario="sample-app", speed=rk.SPEED, settings=settings, sweep_interval=rk.SWEEP,
            listen="127.0.0.1:0", auth=Authenticator.static(token=rk.TOKEN),
        ) as h,
        httpx.AsyncClient(base_url=h.http_url or "", timeout=10) as http,
    ):  # fmt: skip
        started = h.sources  # the harness assembles the sources the settings enable
        assert started and started[0].startswith("anomaly")

        async def readiness() -> dict[str, Any]:
            answer = await http.get("/readyz")
            assert answer.status_code == 200, answer.text  # degraded is still ready
            body: dict[str, Any] = answer.json()
            return body

        body: dict[str, Any] = {}

        async def degraded() -> bool:
            nonlocal body
            body = await readiness()
            return body["status"] == "degraded" and not body["checks"]["alertmanager"]["ok"]

        for _ in range(100):
            if await degraded():
                break
            await asyncio.sleep(0.1)
        assert body["status"] == "degraded", body
        checks = body["checks"]
        assert (
            checks["prometheus"]["ok"] is False and "cannot reach" in checks["prometheus"]["error"]
        )
        assert checks["prometheus"]["url"] == prometheus
        assert checks["alertmanager"]["ok"] is False
        assert checks["ledger"]["ok"] is True
        assert checks["leadership"] == {"ok": True, "role": "single"}
        assert checks["api_server"]["pods"]["synced"] is True
        assert any(r.startswith("prometheus: ") for r in body["reasons"]), body["reasons"]

        assert h.twin.faults is not None
        h.twin.faults.inject(FaultSpec.model_validate(rk.BAD_ROLLOUT))

        def closed() -> rec.IncidentRecord | None:
            found = rk.incidents(h.ledger)
            return found[-1] if found and found[-1].is_terminal else None

        done = await rk.until(closed, what="the crash loop to be healed", timeout=60)
        assert done.state is rec.IncidentState.RESOLVED
        assert done.resolution is rec.Resolution.AUTO
        assert [a.action for a in h.ledger.actions_for_incident(done.id)] == ["rollback_deployment"]
        signals = h.ledger.signals_for_incident(done.id)
        assert signals and all(s.source != "prometheus" for s in signals)
        # The anomaly source kept trying and failing, without stopping anything.
        errors = h.operator.metrics.registry.get_sample_value("kubeheal_anomaly_poll_errors_total")
        assert errors is not None and errors > 0
        assert not h.operator.tasks.failures
        still = await readiness()
        assert still["status"] == "degraded"
        live = await http.get("/healthz")
        assert live.status_code == 200 and live.json()["status"] == "ok"

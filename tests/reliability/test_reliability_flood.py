"""A flood of 10,000 alerts through the webhook: bounded memory, nothing lost, one incident.

The real operator runs against the cluster twin with its HTTP server; 10,000 distinct firing
alerts about sample-app arrive in 40 concurrent notifications of 250. Every alert must land in
the durable inbox (count), all must be turned into signals, they must make one incident and
one remediation, and the Python heap must stay bounded: alerts are stored in the ledger and
consumed in batches, never held all at once. Traced allocations (tracemalloc; the test's
client, the HTTP server, the operator and the twin together) may peak at 96 MiB above the
start (measured: 46 MiB, mostly the 40 request bodies in flight at once) and keep 16 MiB once
the flood is consumed (measured: 6 MiB); docs/benchmarks.md has the figures.
"""

from __future__ import annotations

import asyncio
import gc
import tracemalloc
from pathlib import Path
from typing import Any

import httpx

from kubeheal.cli.harness import running_harness
from kubeheal.config import DetectionSettings, Settings
from kubeheal.server import Authenticator
from kubeheal.store import records as rec

FLOOD = 10_000
PEAK_BOUND_MIB = 96
RETAINED_BOUND_MIB = 16


def _alerts(count: int) -> list[dict[str, Any]]:
    return [
        {
            "status": "firing",
            "labels": {
                "alertname": "HighLatency", "namespace": "demo", "deployment": "sample-app",
                "instance": f"10.2.{i // 250}.{i % 250}:8080", "severity": "warning",
            },
            "annotations": {"summary": "p99 latency above 500 ms"},
            "startsAt": "2026-01-10T08:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z",
            "generatorURL": "http://prometheus.local/graph",
            "fingerprint": f"{i:016x}",
        }
        for i in range(count)
    ]  # fmt: skip


def _notification(alerts: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "receiver": "kubeheal", "status": "firing", "alerts": alerts,
        "groupLabels": {"alertname": "HighLatency"}, "commonLabels": {},
        "commonAnnotations": {}, "externalURL": "http://alertmanager.local", "version": "4",
        "groupKey": '{}:{alertname="HighLatency"}', "truncatedAlerts": 0,
    }  # fmt: skip


async def test_flood_of_10000_alerts_bounded_memory_nothing_lost(rk: Any, tmp_path: Path) -> None:
    settings = Settings(detection=DetectionSettings(missing_pdb=False))
    flood = _alerts(FLOOD)
    bodies = [_notification(flood[i : i + 250]) for i in range(0, FLOOD, 250)]
    async with (
        running_harness(
            scenario="sample-app", speed=rk.SPEED, settings=settings, sweep_interval=rk.SWEEP,
            listen="127.0.0.1:0", auth=Authenticator.static(token=rk.TOKEN),
            ledger_path=tmp_path / "ledger.db",
        ) as h,
        httpx.AsyncClient(
            base_url=h.http_url or "", timeout=60,
            headers={"Authorization": f"Bearer {rk.TOKEN}"},
        ) as http,
    ):  # fmt: skip
        consumer = h.alerts
        assert consumer is not None
        gc.collect()
        tracemalloc.start()
        try:
            base, _ = tracemalloc.get_traced_memory()
            answers = await asyncio.gather(*(http.post("/api/v1/alerts/alertmanager", json=b)
                                             for b in bodies))  # fmt: skip
            assert {a.status_code for a in answers} == {200}, {a.text for a in answers}
            assert sum(a.json()["accepted"] for a in answers) == FLOOD
            await rk.until(lambda: consumer.processed >= FLOOD, what="the flood to be consumed")
            del answers
            gc.collect()
            retained, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        growth, kept = (peak - base) / 2**20, (retained - base) / 2**20
        print(
            f"flood of {FLOOD} alerts: traced heap peak +{growth:.1f} MiB, retained +{kept:.1f} MiB"
        )
        assert growth < PEAK_BOUND_MIB, f"peak {growth:.1f} MiB"
        assert kept < RETAINED_BOUND_MIB, f"retained {kept:.1f} MiB"

        # Nothing lost: every alert is in the inbox and was processed.
        assert h.inbox.count() == FLOOD
        # marking them processed is committed in groups, after the consumer counted them
        await rk.until(lambda: h.inbox.pending_count == 0, what="every alert marked processed")
        incident = await rk.until(
            lambda: [i for i in rk.incidents(h.ledger) if i.state is rec.IncidentState.VERIFYING],
            what="the remediation",
        )
        await asyncio.sleep(6 * rk.SWEEP)  # room for a second incident or action, if any
        assert len(rk.incidents(h.ledger)) == 1, incident
        assert [a.action for a in h.ledger.actions_for_incident(incident[0].id)] == ["scale_out"]
        signals = h.ledger.signals_for_incident(incident[0].id)
        assert signals and {s.source for s in signals} == {"alertmanager"}

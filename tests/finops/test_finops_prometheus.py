"""Right-sizing, waste and cardinality against a real Prometheus 2.42.

`finops_prom` serves two days of backfilled synthetic cAdvisor and kube-state-metrics history
(see conftest.py); the cardinality test uses the session `promstack` scraping itself.
"""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from typer.testing import CliRunner

from kubeheal.cli.main import app
from kubeheal.clients.prometheus import PrometheusClient
from kubeheal.config.settings import FinopsSettings
from kubeheal.finops.model import Status
from kubeheal.finops.service import rightsize
from kubeheal.twin.promstack import PromStack

MI = 2**20
DAY = 86400.0


async def test_recommendations_from_real_prometheus(finops_prom) -> None:  # type: ignore[no-untyped-def]
    facts = finops_prom.history
    async with PrometheusClient(finops_prom.url, timeout=60) as client:
        result = await rightsize(client, settings=FinopsSettings(), end=facts.end, history=2 * DAY)
        krr = await rightsize(
            client, settings=FinopsSettings(), end=facts.end, history=2 * DAY, strategy="krr"
        )
    recs = {r.workload.name: r for r in result.recommendations}
    assert set(recs) == {"web", "api", "batchy", "fresh"}
    # one batch for the whole cluster: 1 count + 6 per batch + 3 per namespace set
    assert result.collection.queries == 10 and len(result.collection.batches) == 1

    web = recs["web"]
    assert web.status is Status.OK and web.workload.kind == "Deployment"
    assert web.recommended.cpu_request is not None
    assert 0.19 <= web.recommended.cpu_request <= 0.25
    assert web.recommended.memory_request is not None
    assert 210 * MI <= web.recommended.memory_request <= 260 * MI
    assert web.recommended.memory_limit == 1024 * MI  # started before the window: kept
    assert web.replicas == 2.0
    histories = {h.workload.name: h for h in result.collection.histories}
    peaks = [float(p.memory_peak.values.max()) for p in histories["web"].pods]
    assert max(peaks) == facts.web_spike_bytes  # the 2-minute spike is in the per-step peaks

    api = recs["api"]
    assert api.recommended.memory_limit is not None
    assert api.recommended.memory_limit >= facts.api_startup_peak_bytes * 1.15
    assert any("OOM kill seen at a limit of 512Mi" in n for n in api.notes)
    assert "HPA api scales on CPU at 50%" in api.reasons["cpu_request"]
    assert api.current is not None and api.current.memory_limit == 768 * MI  # the new pods

    batchy = recs["batchy"]
    assert not batchy.workload.verified
    assert any("no kube_pod_owner series" in n for n in batchy.notes)
    assert any("current requests/limits unknown" in n for n in batchy.notes)

    fresh = recs["fresh"]
    assert fresh.status is Status.NO_RECOMMENDATION
    assert "of usage history; at least 1d is needed" in fresh.notes[0]

    krr_recs = {r.workload.name: r for r in krr.recommendations}
    assert krr_recs["api"].reasons["cpu_request"].startswith("HPA api detected")
    krr_web = krr_recs["web"].recommended
    assert krr_web.memory_request == krr_web.memory_limit
    assert krr_web.memory_limit is not None and krr_web.memory_limit >= 400 * MI * 1.15
    assert krr.collection.queries == 12  # plus the two KRR-style range queries


def test_cli_json_patch_and_waste(finops_prom, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    runner = CliRunner()
    base = ["rightsize", "--prometheus", finops_prom.url, "--at", str(finops_prom.history.end)]
    done = runner.invoke(app, [*base, "--history", "2d", "--format", "json"])
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["queries"] == 10
    names = {r["name"]: r for r in doc["recommendations"]}
    assert names["web"]["recommended"]["memory_limit"] == "1Gi"
    assert names["fresh"]["status"] == "no-recommendation"

    done = runner.invoke(app, [*base, "--history", "2d", "-n", "shop", "-n", "young"])
    assert done.exit_code == 0, done.output
    assert "Deployment/web" in done.stdout and "1 -> 220m" in done.stdout
    assert "2 of 3 containers right-sized; 10 queries in 1 batch(es)" in done.output

    out = tmp_path / "patches"
    done = runner.invoke(
        app, [*base, "--history", "2d", "--format", "patch", "--out", str(out), "-n", "shop"]
    )
    assert done.exit_code == 0, done.output
    assert sorted(p.name for p in out.iterdir()) == [
        "kustomization.yaml",
        "shop-deployment-api.yaml",
        "shop-deployment-web.yaml",
    ]
    web = yaml.safe_load((out / "shop-deployment-web.yaml").read_text())
    resources = web["spec"]["template"]["spec"]["containers"][0]["resources"]
    assert set(resources["requests"]) == {"cpu", "memory"}

    done = runner.invoke(
        app,
        [
            "rightsize",
            "waste",
            "--prometheus",
            finops_prom.url,
            "--at",
            str(finops_prom.history.end),
            "--history",
            "2d",
            "--format",
            "yaml",
        ],
    )
    assert done.exit_code == 0, done.output
    report = yaml.safe_load(done.stdout)
    over = [i for i in report["items"] if i["category"] == "over-provisioned"]
    assert {i["name"] for i in over} >= {"Deployment/web"}
    assert report["monthly_total"] > 0


def test_cli_prometheus_unreachable_is_a_clear_error() -> None:
    done = CliRunner().invoke(app, ["rightsize", "--prometheus", "http://127.0.0.1:9"])
    assert done.exit_code == 2
    assert "cannot read the usage history from Prometheus" in done.output
    assert "cannot reach Prometheus at http://127.0.0.1:9" in done.output
    done = CliRunner().invoke(app, ["rightsize", "--prometheus", "127.0.0.1:9090"])
    assert done.exit_code == 2 and "must be an http(s) URL" in done.output
    done = CliRunner().invoke(app, ["rightsize", "--prometheus", "http://x", "--history", "soon"])
    assert done.exit_code == 2 and "--history" in done.output


def test_cli_cardinality_on_a_live_prometheus(promstack: PromStack) -> None:
    own = promstack.prometheus_url.removeprefix("http://")
    promstack.configure(
        scrape_targets=[own],
        rule_files={
            "finops.yml": "groups:\n  - name: finops\n    rules:\n"
            "      - record: job:prometheus_http_requests:rate5m\n"
            "        expr: sum by (job) (rate(prometheus_http_requests_total[5m]))\n"
        },
        wait_alertmanager=False,
    )
    done = CliRunner().invoke(
        app,
        ["rightsize", "cardinality", "--prometheus", promstack.prometheus_url, "-o", "json"],
    )
    assert done.exit_code == 0, done.output
    doc = json.loads(done.stdout)
    assert doc["total_series"] > 100
    names = {m["name"]: m for m in doc["metrics"]}
    assert names, doc
    for name, metric in names.items():
        if name.startswith("prometheus_http_requests_total"):
            assert not metric["drop"]
    assert isinstance(doc["metric_relabel_configs"], list)

"""The real Prometheus + Alertmanager (session fixture `promstack`) scraping a served twin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from kubeheal.clients.alertmanager import AlertmanagerClient, PostableAlert
from kubeheal.clients.prometheus import PrometheusClient, PrometheusQueryError
from kubeheal.twin.clock import WallClock
from kubeheal.twin.cluster import Twin, build_twin
from kubeheal.twin.promstack import PromStack, PromStackError, backfill
from kubeheal.twin.server import serve_in_thread

ALWAYS_FIRING = """\
groups:
  - name: promstack-test-always
    rules:
      - alert: PromStackTestAlwaysFiring
        expr: vector(1)
        labels:
          severity: test
        annotations:
          summary: always firing
"""

RECORDING = """\
groups:
  - name: promstack-test-recording
    rules:
      - record: promstack_test:pods:count
        expr: count(kube_pod_info)
"""


@dataclass
class ServedTwin:
    twin: Twin
    address: str  # host:port, the scrape target


@pytest.fixture(scope="module")
def served_twin() -> Iterator[ServedTwin]:
    """The sample-app scenario, simulated 20x faster than the wall clock, served over HTTP."""
    twin = build_twin(scenario="sample-app", clock=WallClock(speed=20), seed=11)
    with serve_in_thread(twin, tick=0.05) as url:
        yield ServedTwin(twin=twin, address=url.removeprefix("http://"))


def twin_pods(twin: Twin) -> set[tuple[str, str]]:
    store = twin.store
    return {
        (str(p["metadata"]["namespace"]), str(p["metadata"]["name"]))
        for p in store.list_objects(store.rtype("", "v1", "pods"))
    }


async def test_instant_query_returns_the_twins_pods(
    promstack: PromStack, served_twin: ServedTwin
) -> None:
    promstack.configure(scrape_targets=[served_twin.address], wait_alertmanager=False)
    async with PrometheusClient(promstack.prometheus_url) as client:
        targets = await client.targets()
        assert [(t.job, t.instance, t.health) for t in targets] == [
            ("twin", served_twin.address, "up")
        ]
        deadline = time.monotonic() + 10
        while True:
            samples = await client.query("kube_pod_info")
            scraped = {(s.labels["namespace"], s.labels["pod"]) for s in samples}
            expected = twin_pods(served_twin.twin)
            if (scraped and scraped == expected) or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.2)
        assert scraped == expected
        assert any(ns == "demo" and pod.startswith("sample-app-") for ns, pod in scraped)
        assert all(s.labels["job"] == "twin" and s.value == 1.0 for s in samples)


async def test_query_range_returns_points_of_the_scraped_series(
    promstack: PromStack, served_twin: ServedTwin
) -> None:
    promstack.configure(scrape_targets=[served_twin.address], wait_alertmanager=False)
    async with PrometheusClient(promstack.prometheus_url) as client:
        await asyncio.sleep(1.5)  # at least two scrapes at 1 s
        end = time.time()
        series = await client.query_range('up{job="twin"}', start=end - 3, end=end, step=0.5)
        with pytest.raises(PrometheusQueryError) as info:
            await client.query("sum(up")
    (up,) = series
    assert up.labels["instance"] == served_twin.address
    assert len(up) >= 2
    assert set(up.values.tolist()) == {1.0}
    assert float(up.timestamps[-1]) == pytest.approx(end, abs=0.5)
    assert info.value.error_type == "bad_data"


async def test_always_firing_rule_reaches_alertmanager(
    promstack: PromStack, served_twin: ServedTwin
) -> None:
    started = time.monotonic()
    promstack.configure(
        scrape_targets=[served_twin.address],
        rule_files={"always.yml": ALWAYS_FIRING, "recording.yml": RECORDING},
    )
    configured = time.monotonic() - started
    async with (
        PrometheusClient(promstack.prometheus_url) as prom,
        AlertmanagerClient(promstack.alertmanager_url) as am,
    ):
        groups = {g.name: g for g in await prom.rules()}
        assert set(groups) == {"promstack-test-always", "promstack-test-recording"}
        assert all(g.last_evaluation is not None for g in groups.values())
        (rule,) = groups["promstack-test-always"].rules
        assert (rule.type, rule.state, rule.health) == ("alerting", "firing", "ok")

        deadline = time.monotonic() + 10
        alerts = []
        while not alerts and time.monotonic() < deadline:
            alerts = await am.alerts(filter=['alertname="PromStackTestAlwaysFiring"'])
            if not alerts:
                await asyncio.sleep(0.1)
        assert alerts, f"alert never reached Alertmanager\n{promstack.logs()}"
        (alert,) = alerts
        assert alert.labels["severity"] == "test"
        assert alert.annotations["summary"] == "always firing"
        assert alert.receivers == ("null",)
        assert alert.state == "active"
        assert alert.generator_url.startswith(promstack.prometheus_url)

        firing = await prom.alerts()
        assert "PromStackTestAlwaysFiring" in {a.name for a in firing}
        status = await am.status()
        assert status.version.startswith("0.25")
        assert status.cluster_status == "disabled"
    assert configured < 15


async def test_bad_rule_file_is_refused_and_the_running_config_stays(
    promstack: PromStack, served_twin: ServedTwin
) -> None:
    promstack.configure(
        scrape_targets=[served_twin.address],
        rule_files={"recording.yml": RECORDING},
        wait_alertmanager=False,
    )
    config_before = promstack.prometheus_config_path.read_text()
    broken = RECORDING.replace("count(kube_pod_info)", "count(kube_pod_info")
    with pytest.raises(PromStackError, match="unclosed left parenthesis"):
        promstack.configure(scrape_targets=[served_twin.address], rule_files={"broken.yml": broken})
    with pytest.raises(PromStackError, match="amtool check-config failed"):
        promstack.configure(
            scrape_targets=[served_twin.address],
            rule_files={"recording.yml": RECORDING},
            alertmanager_config="route:\n  receiver: missing\nreceivers: []\n",
        )
    assert promstack.prometheus_config_path.read_text() == config_before
    async with PrometheusClient(promstack.prometheus_url) as client:
        assert [g.name for g in await client.rules()] == ["promstack-test-recording"]
        # The fixture deleted earlier samples: the recording comes back at the next evaluation.
        deadline = time.monotonic() + 10
        samples = await client.query("promstack_test:pods:count")
        while not samples and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
            samples = await client.query("promstack_test:pods:count")
    assert samples and samples[0].value >= 1
    # the same configuration again needs no reload and is ready at once
    started = time.monotonic()
    promstack.configure(
        scrape_targets=[served_twin.address],
        rule_files={"recording.yml": RECORDING},
        wait_alertmanager=False,
    )
    assert time.monotonic() - started < 1.0


async def test_alertmanager_accepts_posted_alerts_and_routes_by_config(
    promstack: PromStack,
) -> None:
    config = """\
route:
  receiver: default
  group_wait: 0s
  group_interval: 1s
  routes:
    - receiver: pager
      matchers: ['severity="page"']
receivers:
  - name: default
  - name: pager
"""
    promstack.configure(alertmanager_config=config, wait_alertmanager=False)
    async with AlertmanagerClient(promstack.alertmanager_url) as am:
        assert await am.ready()
        now = time.time()
        await am.post_alerts(
            [
                PostableAlert(
                    labels={"alertname": "PromStackTestPosted", "severity": "page"},
                    starts_at=now,
                    ends_at=now + 60,
                )
            ]
        )
        (alert,) = await am.alerts(filter=['alertname="PromStackTestPosted"'])
        assert alert.receivers == ("pager",)
        assert alert.starts_at == pytest.approx(now, abs=0.01)
        assert "receiver: pager" in (await am.status()).config
        assert await am.silences() == []


def test_backfilled_history_is_queryable(tmp_path: Path) -> None:
    step = 60
    end = (int(time.time()) // step) * step - 3600
    start = end - 3 * 3600
    lines = [
        "# HELP promstack_test_history A synthetic gauge.",
        "# TYPE promstack_test_history gauge",
    ]
    lines += [
        f'promstack_test_history{{app="demo"}} {i} {t}'
        for i, t in enumerate(range(start, end + 1, step))
    ]
    data_dir = backfill("\n".join(lines), data_dir=tmp_path / "history")
    assert any(p.is_dir() and (p / "meta.json").exists() for p in data_dir.iterdir())

    stack = PromStack(tmp_path / "stack", data_dir=data_dir)
    stack.start(wait_alertmanager=False)
    try:

        async def read() -> list[float]:
            async with PrometheusClient(stack.prometheus_url) as client:
                (series,) = await client.query_range(
                    "promstack_test_history", start=start, end=end, step=step
                )
                assert series.labels == {"__name__": "promstack_test_history", "app": "demo"}
                assert series.timestamps[0] == start
                return series.values.tolist()

        values = asyncio.run(read())
    finally:
        stack.stop()
    assert values == [float(i) for i in range(len(values))]
    assert len(values) == 3 * 60 + 1
    assert not stack.running


def test_backfill_reports_promtool_errors(tmp_path: Path) -> None:
    with pytest.raises(PromStackError, match="create-blocks-from"):
        backfill("not openmetrics at all {{{\n# EOF\n", data_dir=tmp_path / "bad")


def test_start_failure_includes_the_log_tail(tmp_path: Path) -> None:
    stack = PromStack(tmp_path / "bad", retention="not-a-duration")
    with pytest.raises(PromStackError, match="prometheus exited") as info:
        stack.start()
    message = str(info.value)
    assert "errors:" in message
    assert 'not a valid duration string: "not-a-duration"' in message
    assert not stack.running

"""The waste report and the monitoring-cost (cardinality) report, on plain data."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import yaml

from kubeheal.clients.prometheus import TsdbStatus
from kubeheal.finops.cardinality import cardinality_report, metric_names_in, relabel_yaml
from kubeheal.finops.model import (
    Confidence,
    ContainerHistory,
    HpaInfo,
    PodUsage,
    Recommendation,
    Resources,
    Series,
    Status,
    WorkloadRef,
)
from kubeheal.finops.waste import (
    HOURS_PER_MONTH,
    Prices,
    VolumeFact,
    WasteFacts,
    monthly_cost,
    waste_report,
)
from kubeheal.twin.promstack import find_binaries

GI = 2**30
MI = 2**20
PRICES = Prices(core_hour=0.04, gib_hour=0.005, storage_gib_month=0.1)


def _rec(name: str, current: Resources, new: Resources, replicas: float) -> Recommendation:
    return Recommendation(
        workload=WorkloadRef("shop", "Deployment", name),
        container="app",
        strategy="kubeheal",
        status=Status.OK,
        current=current,
        recommended=new,
        confidence=Confidence.HIGH,
        replicas=replicas,
    )


def test_overprovisioned_volumes_and_idle_namespaces_with_monthly_costs() -> None:
    big = _rec(
        "web",
        Resources(cpu_request=1.0, memory_request=2 * GI),
        Resources(cpu_request=0.25, memory_request=0.5 * GI),
        replicas=3,
    )
    fine = _rec(
        "api",
        Resources(cpu_request=0.2, memory_request=0.5 * GI),
        Resources(cpu_request=0.19, memory_request=0.5 * GI),
        replicas=2,
    )
    facts = WasteFacts(
        volumes=(
            VolumeFact("", "pv-old", 100 * GI, "Released"),
            VolumeFact("shop", "data-orphan", 20 * GI, "not mounted by any running pod"),
        ),
        namespace_peak_cores={"shop": 2.0, "sandbox": 0.002},
        namespace_requests={"shop": (5.0, 10 * GI), "sandbox": (0.5, 1 * GI)},
    )
    report = waste_report(
        recommendations=[big, fine],
        histories=[],
        facts=facts,
        prices=PRICES,
        history=14 * 86400,
    )
    by_name = {i.name: i for i in report.items}
    assert set(by_name) == {
        "Deployment/web",
        "PersistentVolume/pv-old",
        "PersistentVolumeClaim/data-orphan",
        "Namespace/sandbox",
    }
    saving = (0.75 * 0.04 + 1.5 * 0.005) * HOURS_PER_MONTH * 3
    assert by_name["Deployment/web"].monthly_cost == pytest.approx(saving)
    assert by_name["PersistentVolume/pv-old"].monthly_cost == pytest.approx(10.0)
    assert by_name["PersistentVolumeClaim/data-orphan"].monthly_cost == pytest.approx(2.0)
    assert by_name["Namespace/sandbox"].monthly_cost == pytest.approx(monthly_cost(0.5, GI, PRICES))
    assert "never above 0.0020 cores in 14d" in by_name["Namespace/sandbox"].detail
    assert report.items[0].name == "Deployment/web"  # most expensive first
    assert report.total == pytest.approx(sum(i.monthly_cost for i in report.items))
    assert set(report.by_category()) == {
        "over-provisioned",
        "unused-volume",
        "unused-claim",
        "idle-namespace",
    }
    excluded = waste_report(
        recommendations=[big],
        histories=[],
        facts=facts,
        prices=PRICES,
        excluded_namespaces=["shop"],
    )
    assert {i.namespace for i in excluded.items} == {"", "sandbox"}


def _hpa_history(peak_cpu: float, *, seen: float) -> ContainerHistory:
    ts = np.arange(1.0, 101.0)
    return ContainerHistory(
        workload=WorkloadRef("shop", "Deployment", "web"),
        container="app",
        window_start=0,
        window_end=100,
        step=1,
        pods=(
            PodUsage(
                pod="web-1",
                cpu=Series(ts, np.full(ts.shape, peak_cpu)),
                memory_peak=Series(ts, np.full(ts.shape, 100.0 * MI)),
            ),
        ),
        current=Resources(cpu_request=1.0, memory_request=256 * MI),
        hpa=HpaInfo(
            name="web",
            min_replicas=6,
            max_replicas=20,
            targets={"cpu": 50.0},
            replicas_max_seen=seen,
            replicas_min_seen=seen,
        ),
    )


def test_hpa_stuck_at_min_costs_the_replicas_it_does_not_need() -> None:
    report = waste_report(
        recommendations=[],
        histories=[_hpa_history(0.2, seen=6)],
        facts=WasteFacts(),
        prices=PRICES,
        hpa_floor=2,
    )
    (item,) = report.items
    assert item.category == "hpa-at-min"
    # pods peak at 20% utilisation, 40% of the 50% target: ceil(6 x 0.4) = 3 would do
    assert "minReplicas 3 would do" in item.detail
    assert item.monthly_cost == pytest.approx(3 * monthly_cost(1.0, 256 * MI, PRICES))
    # an HPA that scaled, or one that is busy, is no waste
    for history in (_hpa_history(0.1, seen=8), _hpa_history(0.45, seen=6)):
        assert (
            waste_report(
                recommendations=[], histories=[history], facts=WasteFacts(), prices=PRICES
            ).items
            == ()
        )


STATUS = TsdbStatus(
    num_series=100_000,
    chunk_count=200_000,
    min_time=None,
    max_time=None,
    series_count_by_metric_name=(
        ("apiserver_request_duration_seconds_bucket", 30_000),
        ("http_request_duration_seconds_bucket", 20_000),
        ("container_memory_working_set_bytes", 9_000),
        ("container_tasks_state", 8_000),
        ("up", 50),
    ),
    label_value_count_by_label_name=(("id", 9_000), ("pod", 3_000), ("le", 20)),
    memory_in_bytes_by_label_name=(("id", 900_000),),
    series_count_by_label_value_pair=(("job=kubelet", 40_000),),
)


def test_cardinality_report_suggests_drops_but_keeps_what_rules_read() -> None:
    used = metric_names_in(
        ["histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[5m])))"]
    )
    report = cardinality_report(STATUS, used=used)
    by_name = {m.name: m for m in report.metrics}
    assert by_name["apiserver_request_duration_seconds_bucket"].drop
    assert by_name["container_tasks_state"].drop
    assert not by_name["http_request_duration_seconds_bucket"].drop
    assert by_name["http_request_duration_seconds_bucket"].used_by_rules
    assert not by_name["container_memory_working_set_bytes"].drop
    assert by_name["up"].suggestion == "ok"
    assert report.droppable_series == 38_000
    labels = {label.name: label for label in report.labels}
    assert labels["id"].drop and not labels["pod"].drop
    text = relabel_yaml(report)
    configs = yaml.safe_load(text)["metric_relabel_configs"]
    assert configs[0] == {
        "source_labels": ["__name__"],
        "regex": "apiserver_request_duration_seconds_bucket|container_tasks_state",
        "action": "drop",
    }
    assert configs[-1] == {"regex": "id", "action": "labeldrop"}
    assert "38000 series" in text


def test_relabel_rules_are_valid_prometheus_configuration(tmp_path: Path) -> None:
    configs = yaml.safe_load(relabel_yaml(cardinality_report(STATUS)))["metric_relabel_configs"]
    config = {
        "scrape_configs": [
            {
                "job_name": "kubelet",
                "static_configs": [{"targets": ["127.0.0.1:10250"]}],
                "metric_relabel_configs": configs,
            }
        ]
    }
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(config))
    checked = subprocess.run(
        [find_binaries().promtool, "check", "config", str(path)],
        check=False,
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr

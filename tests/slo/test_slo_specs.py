"""Reading specs: Sloth prometheus/v1 as is, OpenSLO v1 imported, and every bad input named
by file and field."""

from __future__ import annotations

import textwrap
from decimal import Decimal
from pathlib import Path

import pytest

from kubeheal.slo.errors import SloSpecError
from kubeheal.slo.model import EventsSLI, RatioSLI, SpecFormat, Workload
from kubeheal.slo.specs import histogram_latency_sli, load_specs, parse_specs

DAY = 86_400
ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples" / "slo"
DATA = Path(__file__).parent / "data"

SLOTH = """\
version: prometheus/v1
service: shop
labels:
  namespace: shop
  deployment: web
slos:
  - name: availability
    objective: 99.9
    description: Requests succeed.
    labels:
      tier: "1"
    sli:
      events:
        error_query: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
        total_query: sum(rate(http_requests_total[{{ .window }}]))
    alerting:
      name: ShopAvailability
      labels: {category: availability}
      annotations: {runbook: https://runbooks/shop}
      page_alert:
        labels: {severity: critical}
      ticket_alert:
        labels: {severity: warning}
        annotations: {summary: slow burn}
"""


def parse(text: str, **kwargs: int) -> list:
    return parse_specs(textwrap.dedent(text), source="spec.yaml", **kwargs)


def errors_of(text: str, **kwargs: int) -> SloSpecError:
    with pytest.raises(SloSpecError) as info:
        parse(text, **kwargs)
    return info.value


def test_sloth_spec_is_read_as_is() -> None:
    (slo,) = parse(SLOTH)
    assert slo.id == "shop-availability"
    assert slo.objective == Decimal("99.9")
    assert slo.budget == Decimal("0.001")
    assert slo.period == 30 * DAY
    assert slo.labels == {"namespace": "shop", "deployment": "web", "tier": "1"}
    assert isinstance(slo.sli, EventsSLI)
    assert "{{ .window }}" in slo.sli.total_query
    assert slo.alert_name == "ShopAvailability"
    assert slo.alert_labels == {"category": "availability"}
    assert slo.page.labels == {"severity": "critical"}
    assert slo.ticket.annotations == {"summary": "slow burn"}
    assert slo.workload == Workload(kind="Deployment", namespace="shop", name="web")
    assert slo.spec_format is SpecFormat.SLOTH
    assert slo.source == "spec.yaml"


def test_sloth_default_period_applies_and_must_scale() -> None:
    (slo,) = parse(SLOTH, default_period=28 * DAY)
    assert slo.period == 28 * DAY
    error = errors_of(SLOTH, default_period=30 * DAY + 1)
    assert error.fields == ("(default period)",)
    assert "fraction of a second" in str(error)
    (short,) = parse(SLOTH, default_period=2 * DAY)  # short windows floored at 4 scrapes
    assert short.windows.page[0].short == 240


def test_sloth_raw_sli_and_disabled_alerts() -> None:
    (slo,) = parse(
        """\
        version: prometheus/v1
        service: wifi
        slos:
          - name: dns
            objective: 95
            sli:
              raw:
                error_ratio_query: 1 - avg_over_time(probe_success[{{.window}}])
            alerting:
              page_alert: {disable: true}
              ticket_alert: {disable: true}
        """
    )
    assert isinstance(slo.sli, RatioSLI)
    assert slo.page.disabled and slo.ticket.disabled
    assert slo.workload is None


K8S = """\
apiVersion: sloth.slok.dev/v1
kind: PrometheusServiceLevel
metadata: {name: shop, namespace: monitoring}
spec:
  service: shop
  labels: {namespace: shop, deployment: web, tier: 2}
  slos:
    - name: availability
      objective: 99.9
      sli:
        events:
          errorQuery: sum(rate(http_requests_total{code=~"5.."}[{{.window}}]))
          totalQuery: sum(rate(http_requests_total[{{.window}}]))
      alerting:
        name: shop-availability
        pageAlert: {labels: {severity: critical}}
        ticketAlert: {labels: {severity: warning}, annotations: {summary: slow burn}}
    - name: ratio
      objective: 99
      sli:
        raw:
          errorRatioQuery: 1 - avg_over_time(probe_success[{{.window}}])
      alerting:
        pageAlert: {disable: true}
        ticketAlert: {disable: true}
"""


def test_sloth_kubernetes_resource_is_read_as_its_crd_spells_it() -> None:
    availability, ratio = parse_specs(K8S, source="k8s.yaml")
    assert availability.spec_format is SpecFormat.SLOTH_K8S
    assert availability.id == "shop-availability"
    assert isinstance(availability.sli, EventsSLI)
    assert availability.sli.error_query.startswith("sum(rate(http_requests_total{code")
    assert availability.page.labels == {"severity": "critical"}
    assert availability.ticket.annotations == {"summary": "slow burn"}
    assert availability.labels["tier"] == "2"  # a YAML number reads as its text
    assert availability.alert_name == "shop-availability"  # any string is an alert name
    assert isinstance(ratio.sli, RatioSLI)
    assert ratio.page.disabled and ratio.ticket.disabled


def test_snake_case_in_the_kubernetes_resource_is_refused_with_its_spelling() -> None:
    text = K8S.replace("errorQuery", "error_query").replace("pageAlert", "page_alert")
    with pytest.raises(SloSpecError) as info:
        parse_specs(text, source="k8s.yaml")
    message = str(info.value)
    assert "spec.slos[0].sli.events.error_query: unknown field (this format spells it " in message
    assert "errorQuery)" in message
    assert "spec.slos[0].alerting.page_alert: unknown field (this format spells it pageAlert)" in (
        message
    )
    # and the other way round in Sloth's file format
    error = errors_of(SLOTH.replace("page_alert", "pageAlert"))
    assert error.fields == ("slos[0].alerting.pageAlert",)
    assert "spells it page_alert" in str(error)


def test_sloths_documented_example_is_read() -> None:
    slos = load_specs([DATA / "sloth-kubernetes-apiserver.yml"])
    assert [s.id for s in slos] == [
        "k8s-apiserver-requests-availability",
        "k8s-apiserver-requests-latency",
    ]
    assert slos[1].objective == Decimal(99)


def test_latency_plugin_builds_a_histogram_sli() -> None:
    exact = histogram_latency_sli(
        metric="http_request_duration_seconds", threshold=Decimal("0.25"), selector='job="a"'
    )
    assert exact.total_query == (
        'sum(rate(http_request_duration_seconds_count{job="a"}[{{.window}}]))'
    )
    assert 'le="0.25"' in exact.error_query
    between = histogram_latency_sli(
        metric="m",
        threshold=Decimal("0.2"),
        buckets=[Decimal("0.1"), Decimal("0.25"), Decimal("1")],
    )
    assert 'le="0.1"' in between.error_query and 'le="0.25"' in between.error_query
    assert "* 0.1 / 0.15" in between.error_query
    below = histogram_latency_sli(metric="m", threshold=Decimal("0.05"), buckets=[Decimal("0.1")])
    assert "* 0.05 / 0.1" in below.error_query
    with pytest.raises(ValueError, match="above the largest bucket"):
        histogram_latency_sli(metric="m", threshold=Decimal(5), buckets=[Decimal(1)])


def test_openslo_is_imported_into_the_same_model() -> None:
    slos = load_specs([EXAMPLES / "bookinfo.yaml"])
    by_name = {s.name: s for s in slos}
    assert set(by_name) == {"availability", "error-rate", "latency"}
    for slo in slos:
        assert slo.period == 28 * DAY
        assert slo.spec_format is SpecFormat.OPENSLO
        assert slo.workload == Workload(
            kind="Deployment", namespace="bookinfo", name="productpage-v1"
        )
        assert slo.page.labels == {"severity": "critical"}
    availability = by_name["availability"].sli
    assert isinstance(availability, RatioSLI)
    assert "< bool 1)[{{.window}}:1m])" in availability.error_ratio_query
    errors = by_name["error-rate"].sli
    assert isinstance(errors, EventsSLI)
    assert errors.error_query.startswith("sum(rate(http_requests_total{")
    assert by_name["error-rate"].objective == Decimal("99.9")
    assert by_name["latency"].objective == Decimal(95)
    assert by_name["error-rate"].alert_name == "BookinfoErrorRate"


def test_openslo_target_percent_and_good_total() -> None:
    (slo,) = parse(
        """\
        apiVersion: openslo/v1
        kind: SLO
        metadata: {name: web}
        spec:
          service: web
          budgetingMethod: Occurrences
          timeWindow: [{duration: 4w, isRolling: true}]
          objectives: [{targetPercent: 99.5}]
          indicator:
            metadata: {name: good-ratio}
            spec:
              ratioMetric:
                counter: true
                good: {metricSource: {type: Prometheus, spec: {query: 'ok_total{job="w"}'}}}
                total: {metricSource: {type: Prometheus, spec: {query: all_total}}}
        """
    )
    assert slo.objective == Decimal("99.5")
    assert slo.period == 28 * DAY
    assert isinstance(slo.sli, EventsSLI)
    assert slo.sli.error_query == (
        '((sum(rate(all_total[{{.window}}]))) - (sum(rate(ok_total{job="w"}[{{.window}}]))))'
    )


def test_example_specs_load() -> None:
    slos = load_specs([EXAMPLES])
    assert len(slos) == 6
    assert {s.service for s in slos} == {"sample-app", "bookinfo"}
    assert {s.workload.name for s in slos if s.workload} == {"sample-app", "productpage-v1"}


# -- bad input -----------------------------------------------------------------------------


def _sloth(slo: str) -> str:
    return "version: prometheus/v1\nservice: shop\nslos:\n" + textwrap.indent(
        textwrap.dedent(slo), "  "
    )


@pytest.mark.parametrize("objective", ["0", "-5", "100.5", "abc"])
def test_objectives_outside_0_100_are_refused(objective: str) -> None:
    error = errors_of(
        _sloth(
            f"""\
            - name: a
              objective: {objective}
              sli: {{raw: {{error_ratio_query: "x[{{{{.window}}}}]"}}}}
              alerting: {{name: A}}
            """
        )
    )
    assert error.source == "spec.yaml"
    assert error.fields == ("slos[0].objective",)
    assert str(error).startswith("spec.yaml: slos[0].objective: ")


def test_missing_queries_are_refused() -> None:
    error = errors_of(
        _sloth(
            """\
            - name: a
              objective: 99
              sli: {events: {error_query: "sum(rate(e[{{.window}}]))"}}
              alerting: {name: A}
            """
        )
    )
    assert error.fields == ("slos[0].sli.events.total_query",)
    assert "required field is missing" in str(error)
    error = errors_of(
        _sloth(
            """\
            - name: a
              objective: 99
              sli: {}
              alerting: {name: A}
            """
        )
    )
    assert error.fields == ("slos[0].sli",)
    assert "exactly one of sli.events" in str(error)


def test_queries_without_the_window_placeholder_are_refused() -> None:
    error = errors_of(
        _sloth(
            """\
            - name: a
              objective: 99
              sli: {events: {error_query: "sum(rate(e[5m]))", total_query: "sum(rate(t[5m]))"}}
              alerting: {name: A}
            """
        )
    )
    assert error.fields == ("slos[0].sli.events.error_query", "slos[0].sli.events.total_query")
    assert "{{.window}}" in str(error)


def test_unknown_fields_are_refused_everywhere() -> None:
    error = errors_of(SLOTH.replace("    description:", "    descripton:"))
    assert error.fields == ("slos[0].descripton",)
    assert "unknown field" in str(error)
    error = errors_of(SLOTH.replace("      page_alert:", "      page_alrt:"))
    assert error.fields == ("slos[0].alerting.page_alrt",)
    error = errors_of("version: prometheus/v1\nservice: a\nslos: []\nextra: 1\n")
    assert set(error.fields) == {"slos", "extra"}


def test_unscalable_openslo_windows_are_refused() -> None:
    spec = (EXAMPLES / "bookinfo.yaml").read_text().replace("duration: 28d", "duration: 30d1s", 1)
    with pytest.raises(SloSpecError) as info:
        parse_specs(spec, source="bookinfo.yaml")
    assert info.value.fields == ("spec.timeWindow[0].duration",)
    assert "bookinfo.yaml (document 2)" in str(info.value) or "bookinfo.yaml" in str(info.value)
    assert "fraction of a second" in str(info.value)
    calendar = spec.replace("isRolling: true", "isRolling: false", 1)
    with pytest.raises(SloSpecError, match="calendar-aligned time windows are not supported"):
        parse_specs(calendar, source="bookinfo.yaml")
    months = (EXAMPLES / "bookinfo.yaml").read_text().replace("duration: 28d", "duration: 1M")
    with pytest.raises(SloSpecError, match="calendar units"):
        parse_specs(months, source="bookinfo.yaml")


def test_sloth_plugins_are_refused_clearly() -> None:
    error = errors_of(
        _sloth(
            """\
            - name: a
              objective: 99
              sli: {plugin: {id: sloth-common/kubernetes/kooper/queuecongestion}}
              alerting: {name: A}
            """
        )
    )
    assert error.fields == ("slos[0].sli.plugin.id",)
    assert '"sloth-common/kubernetes/kooper/queuecongestion" is not supported' in str(error)
    assert "sloth-common/kubernetes/apiserver/availability" in str(error)  # the supported list


def test_latency_plugin_options_are_checked() -> None:
    error = errors_of(
        _sloth(
            """\
            - name: a
              objective: 99
              sli:
                plugin:
                  id: kubeheal/histogram-latency/v1
                  options: {metric: "", threshold: "-1", colour: red}
              alerting: {name: A}
            """
        )
    )
    assert set(error.fields) == {
        "slos[0].sli.plugin.options.colour",
        "slos[0].sli.plugin.options.metric",
        "slos[0].sli.plugin.options.threshold",
    }


def test_labels_kubeheal_sets_are_refused() -> None:
    error = errors_of(SLOTH.replace('tier: "1"', "slo_id: mine"))
    assert error.fields == ("slos[0].labels",)
    assert "set by kubeheal" in str(error)
    error = errors_of(SLOTH.replace("namespace: shop", "bad-name: shop"))
    assert error.fields == ("labels",)


def test_other_problems_name_the_file() -> None:
    assert "not valid YAML (line 2, column 1)" in str(errors_of("a: [1, 2"))
    assert "not an SLO spec" in str(errors_of("kind: Pod\n"))
    assert errors_of("version: prometheus/v2\n").fields == ("version",)
    assert "unsupported OpenSLO version" in str(errors_of("apiVersion: openslo/v2\n"))
    assert "unknown OpenSLO v1alpha kind" in str(errors_of("apiVersion: openslo/v1alpha\n"))
    assert "holds no SLO spec" in str(errors_of(""))
    error = errors_of(
        """\
        apiVersion: openslo/v1
        kind: SLO
        metadata: {name: web}
        spec:
          service: web
          budgetingMethod: Occurrences
          timeWindow: [{duration: 28d}]
          objectives: [{target: 0.99}]
          indicatorRef: missing
        """
    )
    assert error.fields == ("spec.indicatorRef",)
    assert "no kind: SLI named 'missing'" in str(error)


def test_duplicate_slos_across_files_are_refused(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text(SLOTH)
    (tmp_path / "b.yaml").write_text(SLOTH)
    with pytest.raises(SloSpecError, match="defined twice"):
        load_specs([tmp_path])
    with pytest.raises(SloSpecError, match="cannot read"):
        load_specs([tmp_path / "missing.yaml"])

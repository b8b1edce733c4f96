"""Sloth's common SLI plugins, rebuilt from their documented queries, and Sloth's SLO plugins.

Sloth's SLI plugins (github.com/slok/sloth-common-sli-plugins) are Go functions that turn
``sli.plugin.options`` into an error-ratio query. kubeheal cannot run Go, so the widely used
ones are written here from the queries they document, as events SLIs (error query and total
query, so the minimum-traffic guard and the "no error series yet reads 0" rule apply):

==============================================  ==============================================
plugin id                                       options (required ones first)
==============================================  ==============================================
``sloth-common/kubernetes/apiserver/availability``  ``filter``
``sloth-common/kubernetes/apiserver/latency``       ``bucket``; ``filter``
``sloth-common/kubernetes/nginx-ingress/availability``  ``filter``
``sloth-common/prometheus/rules/eval-availability``  ``filter``
``sloth-common/prometheus/targets/availability``    ``filter``
``sloth-common/slok-go-http-metrics/availability``  ``filter``
``sloth-common/slok-go-http-metrics/latency``       ``filter``, ``bucket``; ``exclude_errors``
``sloth-common/istio/v1/availability``              ``service``, ``namespace``; ``filter``
``sloth-common/istio/v1/latency``                   ``service``, ``namespace``, ``bucket``;
                                                    ``filter``, ``exclude_errors``
``sloth-common/coredns/availability``               ``filter``, ``custom_rcode_regex``
``sloth-common/coredns/latency``                    ``bucket``; ``filter``
``sloth-common/traefik/v2/availability``            ``service_name_regex``; ``filter``
``sloth-common/traefik/v2/latency``                 ``service_name_regex``, ``bucket``;
                                                    ``filter``, ``exclude_errors``
``kubeheal/grpc/availability/v1``                   ``filter``
``kubeheal/grpc/latency/v1``                        ``bucket``; ``filter``
==============================================  ==============================================

Differences from the Go plugins, all deliberate: ``filter`` is parsed as Prometheus label
matchers (``a="b",c=~"d.*"``; Sloth's own check refuses ``=~``) and re-emitted, so nothing but
matchers reaches a query; regex options are quoted for PromQL; the targets plugin's
``A or vector(0) / B`` (which PromQL reads as ``A or (vector(0) / B)``, a count instead of a
ratio) is written ``(A or vector(0)) / B``; Istio's ``exclude_errors`` filters Istio's own
``response_code`` label (the Go plugin filters ``code``, which Istio does not have); and the
``or on() vector(0)`` of the ingress, Istio and Traefik plugins (no traffic reads as no
errors) is left out, so a service that receives nothing is reported by ``<name>SLIAbsent``.
The two gRPC plugins are kubeheal's own, on go-grpc-prometheus' documented metrics
(``grpc_server_handled_total``, ``grpc_server_handling_seconds``); server-side failures are the
codes ``Unknown``, ``DeadlineExceeded``, ``Unimplemented``, ``Internal``, ``Unavailable`` and
``DataLoss``.

Sloth's SLO plugins (``slo_plugins`` / ``sloPlugins`` and ``plugins`` chains) change the rules
Sloth generates. The declarative ones are read: ``sloth.dev/core/debug/v1`` and
``sloth.dev/core/noop/v1`` (no effect on the rules), the defaults ``sloth.dev/core/*`` that
kubeheal's renderer already is (SLI, metadata and alert rules, validation), and
``sloth.dev/contrib/info_labels/v1`` (labels on the SLO's info series). Any other id is refused
naming the supported ones.

Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from kubeheal.slo.model import EventsSLI, RatioSLI

__all__ = [
    "SLI_PLUGINS",
    "SLO_PLUGINS_NO_EFFECT",
    "SLO_PLUGIN_INFO_LABELS",
    "PluginError",
    "SliPlugin",
    "parse_filter",
    "sli_from_plugin",
]

_W = "{{.window}}"
_MATCHER = re.compile(
    r'\s*(?P<name>[a-zA-Z_][a-zA-Z0-9_]*)\s*(?P<op>=~|!~|!=|=)\s*"(?P<value>(?:[^"\\]|\\.)*)"\s*'
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class PluginError(ValueError):
    """An SLI plugin's options are wrong: ``option`` names the one at fault (or "")."""

    def __init__(self, option: str, message: str) -> None:
        super().__init__(message)
        self.option = option


@dataclass(frozen=True, slots=True)
class SliPlugin:
    """One SLI plugin: the options it takes (``required`` among them) and its builder."""

    id: str
    options: frozenset[str]
    required: frozenset[str]
    build: Callable[[Mapping[str, str]], EventsSLI | RatioSLI]


def parse_filter(text: str) -> str:
    """``text`` (``a="b",c=~"d"``, braces and trailing commas allowed, as Sloth trims them)
    as comma-separated Prometheus label matchers; ``PluginError`` when it is anything else."""
    body = text.strip().strip("{},").strip()
    if not body:
        return ""
    if _CONTROL.search(body):
        raise PluginError("filter", "control characters are not allowed")
    matchers: list[str] = []
    pos = 0
    while pos < len(body):
        match = _MATCHER.match(body, pos)
        if match is None:
            raise PluginError(
                "filter",
                f'{text!r} is not a list of label matchers like a="b",c=~"d.*"',
            )
        matchers.append(f'{match["name"]}{match["op"]}"{match["value"]}"')
        pos = match.end()
        if pos < len(body):
            if body[pos] != ",":
                raise PluginError("filter", f"{text!r}: matchers must be separated by commas")
            pos += 1
    return ",".join(matchers)


def _quote(value: str) -> str:
    """``value`` as the body of a PromQL double-quoted string."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


def _join(*parts: str) -> str:
    return ",".join(p for p in parts if p)


def _bucket(options: Mapping[str, str]) -> str:
    text = options.get("bucket", "").strip()
    try:
        value = Decimal(text)
    except InvalidOperation:
        value = Decimal(-1)
    if not text or not value.is_finite() or value <= 0:
        raise PluginError("bucket", "the bucket's upper bound (le), a positive number, is required")
    return text


def _flag(options: Mapping[str, str], name: str) -> bool:
    text = options.get(name, "").strip().lower()
    if text in ("", "false", "0", "f"):
        return False
    if text in ("true", "1", "t"):
        return True
    raise PluginError(name, f"{options[name]!r} is not true or false")


def _required(options: Mapping[str, str], name: str) -> str:
    value = options.get(name, "").strip()
    if not value:
        raise PluginError(name, "required")
    if _CONTROL.search(value):
        raise PluginError(name, "control characters are not allowed")
    return value


def _regex(options: Mapping[str, str], name: str, default: str = "") -> str:
    value = options.get(name, "").strip() or default
    if not value:
        raise PluginError(name, "required")
    if _CONTROL.search(value):
        raise PluginError(name, "control characters are not allowed")
    try:
        re.compile(value)
    except re.error as e:
        raise PluginError(name, f"not a valid regular expression: {e}") from e
    return _quote(value)


def _rate(metric: str, matchers: str) -> str:
    return f"sum(rate({metric}{{{matchers}}}[{_W}]))"


def _ratio_events(metric: str, base: str, bad: str) -> EventsSLI:
    """Errors are ``metric{base,bad}``, all are ``metric{base}``."""
    return EventsSLI(_rate(metric, _join(base, bad)), _rate(metric, base))


def _latency_events(histogram: str, base: str, bucket: str) -> EventsSLI:
    """Errors are the requests above ``le=bucket``: count minus the bucket."""
    count = _rate(f"{histogram}_count", base)
    good = _rate(f"{histogram}_bucket", _join(base, f'le="{bucket}"'))
    return EventsSLI(f"({count} - {good})", count)


def _filter(options: Mapping[str, str]) -> str:
    return parse_filter(options.get("filter", ""))


def _apiserver_availability(o: Mapping[str, str]) -> EventsSLI:
    return _ratio_events("apiserver_request_total", _filter(o), 'code=~"(5..|429)"')


def _apiserver_latency(o: Mapping[str, str]) -> EventsSLI:
    return _latency_events(
        "apiserver_request_duration_seconds", _join(_filter(o), 'verb!="WATCH"'), _bucket(o)
    )


def _nginx_availability(o: Mapping[str, str]) -> EventsSLI:
    return _ratio_events("nginx_ingress_controller_requests", _filter(o), 'status=~"(5..|429)"')


def _rules_availability(o: Mapping[str, str]) -> EventsSLI:
    base = _filter(o)
    return EventsSLI(
        _rate("prometheus_rule_evaluation_failures_total", base),
        _rate("prometheus_rule_evaluations_total", base),
    )


def _targets_availability(o: Mapping[str, str]) -> RatioSLI:
    base = _filter(o)
    return RatioSLI(
        f"(sum(count_over_time((up{{{base}}} == 0)[{_W}:])) or vector(0))\n"
        f"/\nsum(count_over_time(up{{{base}}}[{_W}:]))"
    )


def _go_http_filter(o: Mapping[str, str]) -> str:
    base = _filter(o)
    if not base:
        raise PluginError("filter", "required (the label matchers of the service's metrics)")
    return base


def _go_http_availability(o: Mapping[str, str]) -> EventsSLI:
    return _ratio_events(
        "http_request_duration_seconds_count", _go_http_filter(o), 'code=~"(5..|429)"'
    )


def _go_http_latency(o: Mapping[str, str]) -> EventsSLI:
    base = _go_http_filter(o)
    if _flag(o, "exclude_errors"):
        base = _join(base, 'code!~"5.."')
    return _latency_events("http_request_duration_seconds", base, _bucket(o))


def _istio_base(o: Mapping[str, str]) -> str:
    service = _quote(_required(o, "service"))
    namespace = _quote(_required(o, "namespace"))
    return _join(
        _filter(o),
        f'destination_service_name="{service}"',
        f'destination_service_namespace="{namespace}"',
    )


def _istio_availability(o: Mapping[str, str]) -> EventsSLI:
    return _ratio_events("istio_requests_total", _istio_base(o), 'response_code=~"(5..|429)"')


def _istio_latency(o: Mapping[str, str]) -> EventsSLI:
    base = _istio_base(o)
    if _flag(o, "exclude_errors"):
        base = _join(base, 'response_code!~"5.."')
    return _latency_events("istio_request_duration_milliseconds", base, _bucket(o))


def _coredns_availability(o: Mapping[str, str]) -> EventsSLI:
    rcode = _regex(o, "custom_rcode_regex", "SERVFAIL")
    return _ratio_events("coredns_dns_responses_total", _filter(o), f'rcode=~"{rcode}"')


def _coredns_latency(o: Mapping[str, str]) -> EventsSLI:
    return _latency_events("coredns_dns_request_duration_seconds", _filter(o), _bucket(o))


def _traefik_base(o: Mapping[str, str]) -> str:
    return _join(_filter(o), f'service=~"{_regex(o, "service_name_regex")}"')


def _traefik_availability(o: Mapping[str, str]) -> EventsSLI:
    return _ratio_events("traefik_service_requests_total", _traefik_base(o), 'code=~"(5..)"')


def _traefik_latency(o: Mapping[str, str]) -> EventsSLI:
    base = _traefik_base(o)
    if _flag(o, "exclude_errors"):
        base = _join(base, 'code!~"5.."')
    return _latency_events("traefik_service_request_duration_seconds", base, _bucket(o))


_GRPC_SERVER_ERRORS = (
    'grpc_code=~"Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss"'
)


def _grpc_availability(o: Mapping[str, str]) -> EventsSLI:
    return _ratio_events("grpc_server_handled_total", _filter(o), _GRPC_SERVER_ERRORS)


def _grpc_latency(o: Mapping[str, str]) -> EventsSLI:
    return _latency_events("grpc_server_handling_seconds", _filter(o), _bucket(o))


def _plugin(
    id: str,
    build: Callable[[Mapping[str, str]], EventsSLI | RatioSLI],
    *options: str,
    required: tuple[str, ...] = (),
) -> SliPlugin:
    return SliPlugin(id, frozenset(options) | frozenset(required), frozenset(required), build)


SLI_PLUGINS: Mapping[str, SliPlugin] = {
    p.id: p
    for p in (
        _plugin("sloth-common/kubernetes/apiserver/availability", _apiserver_availability,
                "filter"),
        _plugin("sloth-common/kubernetes/apiserver/latency", _apiserver_latency, "filter",
                required=("bucket",)),
        _plugin("sloth-common/kubernetes/nginx-ingress/availability", _nginx_availability,
                "filter"),
        _plugin("sloth-common/prometheus/rules/eval-availability", _rules_availability, "filter"),
        _plugin("sloth-common/prometheus/targets/availability", _targets_availability, "filter"),
        _plugin("sloth-common/slok-go-http-metrics/availability", _go_http_availability,
                required=("filter",)),
        _plugin("sloth-common/slok-go-http-metrics/latency", _go_http_latency, "exclude_errors",
                required=("filter", "bucket")),
        _plugin("sloth-common/istio/v1/availability", _istio_availability, "filter",
                required=("service", "namespace")),
        _plugin("sloth-common/istio/v1/latency", _istio_latency, "filter", "exclude_errors",
                required=("service", "namespace", "bucket")),
        _plugin("sloth-common/coredns/availability", _coredns_availability, "filter",
                "custom_rcode_regex"),
        _plugin("sloth-common/coredns/latency", _coredns_latency, "filter", required=("bucket",)),
        _plugin("sloth-common/traefik/v2/availability", _traefik_availability, "filter",
                required=("service_name_regex",)),
        _plugin("sloth-common/traefik/v2/latency", _traefik_latency, "filter", "exclude_errors",
                required=("service_name_regex", "bucket")),
        _plugin("kubeheal/grpc/availability/v1", _grpc_availability, "filter"),
        _plugin("kubeheal/grpc/latency/v1", _grpc_latency, "filter", required=("bucket",)),
    )
}  # fmt: skip
"""The SLI plugins kubeheal implements, by Sloth id."""


def sli_from_plugin(plugin: SliPlugin, options: Mapping[str, str]) -> EventsSLI | RatioSLI:
    """The SLI of ``plugin`` with ``options``; ``PluginError`` naming the first bad option."""
    unknown = sorted(set(options) - plugin.options)
    if unknown:
        known = ", ".join(sorted(plugin.options)) or "none"
        raise PluginError(unknown[0], f"unknown option (this plugin takes: {known})")
    missing = sorted(n for n in plugin.required if not options.get(n, "").strip())
    if missing:
        raise PluginError(missing[0], "required")
    return plugin.build(options)


SLO_PLUGINS_NO_EFFECT = frozenset(
    {
        "sloth.dev/core/debug/v1",
        "sloth.dev/core/noop/v1",
        "sloth.dev/core/validate/v1",
        "sloth.dev/core/sli_rules/v1",
        "sloth.dev/core/metadata_rules/v1",
        "sloth.dev/core/alert_rules/v1",
    }
)
"""SLO plugins that change nothing kubeheal renders (logging, or Sloth's defaults, which
kubeheal's renderer already is)."""

SLO_PLUGIN_INFO_LABELS = "sloth.dev/contrib/info_labels/v1"
"""Adds ``config.labels`` to the SLO's info series (``kubeheal_slo_info``)."""

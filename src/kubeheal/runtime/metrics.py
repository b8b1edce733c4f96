"""The operator's own Prometheus metrics (served on /metrics by kubeheal.server).

Registries are instances passed in, never module globals, so tests and several operators in
one process do not collide.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from kubeheal.engine.playbooks.schema import ActionName

__all__ = ["OperatorMetrics"]

_DURATION_BUCKETS = (1, 2, 5, 10, 15, 30, 60, 120, 180, 300, 600, 1800, 3600)


class OperatorMetrics:
    """Counters, gauges and histograms describing what the operator sees and does."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.signals = Counter(
            "kubeheal_signals_total", "Signals detected, by kind.", ["kind"], registry=r
        )
        self.incidents = Counter(
            "kubeheal_incidents_total",
            "Incidents opened, by target kind.",
            ["target_kind"],
            registry=r,
        )
        self.incidents_closed = Counter(
            "kubeheal_incidents_closed_total",
            "Incidents closed, by resolution (auto, escalated, false_positive, manual).",
            ["resolution"],
            registry=r,
        )
        self.open_incidents = Gauge(
            "kubeheal_open_incidents", "Incidents not yet resolved or escalated.", registry=r
        )
        self.actions = Counter(
            "kubeheal_actions_total",
            "Actions by action and outcome (succeeded, failed, skipped, dry-run).",
            ["action", "outcome"],
            registry=r,
        )
        self.guard_blocks = Counter(
            "kubeheal_guard_blocks_total",
            "Plans blocked or escalated by a guard, by guard.",
            ["guard"],
            registry=r,
        )
        # Series the generated alerts watch with increase(), present at 0 from the start: a
        # counter that appears with its first increment shows no increase at all.
        for name in ActionName:
            self.actions.labels(action=name.value, outcome="failed")
        for guard in ("budget_global", "budget_namespace"):
            self.guard_blocks.labels(guard=guard)
        self.queue_depth = Gauge(
            "kubeheal_queue_depth", "Targets waiting for their worker.", registry=r
        )
        self.watch_events = Counter(
            "kubeheal_watch_events_total", "Cache events processed, by resource.", ["resource"],
            registry=r,
        )  # fmt: skip
        self.time_to_detect = Histogram(
            "kubeheal_time_to_detect_seconds",
            "From the first signal to the incident being opened.",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.time_to_act = Histogram(
            "kubeheal_time_to_act_seconds",
            "From the incident being opened to its first action.",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.time_to_recover = Histogram(
            "kubeheal_time_to_recover_seconds",
            "From the incident being opened to its verified recovery.",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.api_up = Gauge(
            "kubeheal_api_server_up",
            "1 while every watch of the API server is healthy, else 0.",
            registry=r,
        )
        self.kill_switch_state = Gauge(
            "kubeheal_kill_switch_state",
            "1 for the state the kill switch ConfigMap was last read in (on, off, or unknown: "
            "it could not be read, and no action is taken), 0 for the others.",
            ["state"],
            registry=r,
        )
        self.kill_switch_read_failures = Counter(
            "kubeheal_kill_switch_read_failures_total",
            "Reads of the kill switch ConfigMap that failed (anything but 404 Not Found).",
            registry=r,
        )
        self.record_writes_failed = Counter(
            "kubeheal_record_writes_failed_total",
            "Event or kubeheal.io/last-action annotation writes after an action that were "
            "given up on (what: event, annotation, escalation_event).",
            ["what"],
            registry=r,
        )
        for what in ("event", "annotation", "escalation_event"):
            self.record_writes_failed.labels(what=what)
        self.kill_switch_read_failures.inc(0)

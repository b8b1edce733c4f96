"""Assembly: one place that builds a whole operator, used by `kubeheal run` and the harness.

::

    build(settings, connection, ledger, clock=..., options=...)
      TargetBoard ─────────────┐  (the sink every source feeds, built first)
      AlertConsumer(inbox)  ───┤ .firing          ─┐
      sources (SLO, anomaly, rightsize) ─┤ .budgets, observers ─┤
      NotificationService ─────┘ .on_event, .reloaded ─┤
                                                       └─> Operator(...)   (at construction)
      OperatorHealth(operator, ledger, dependencies)
      loops -> operator.tasks (stopped by Operator.stop)

Nothing is patched onto the operator afterwards: the board exists before the operator and
the sources, so each is handed the other when it is built. The HTTP side (webhook, incidents
API, /metrics, health endpoints) is the server's (`kubeheal.server.serving.operator_http`),
built over the `Assembly`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from kubeheal.actions.cluster import ClusterWriter
from kubeheal.clients.kube import KubeConnection
from kubeheal.config import Settings
from kubeheal.engine.playbooks import PlaybookSet
from kubeheal.runtime.alerts import AlertConsumer, AlertMetrics
from kubeheal.runtime.health import DependencyMonitor, OperatorHealth, dependencies_of
from kubeheal.runtime.metrics import OperatorMetrics
from kubeheal.runtime.notifications import NotificationService, notification_service
from kubeheal.runtime.observers import compose
from kubeheal.runtime.operator import Operator, OperatorEvent, OperatorOptions, wall_clock
from kubeheal.runtime.sources import Sources, build_sources
from kubeheal.runtime.targets import TargetBoard
from kubeheal.runtime.tasks import Tasks
from kubeheal.store import Ledger
from kubeheal.store.inbox import AlertInbox

__all__ = ["Assembly", "build"]

log = logging.getLogger(__name__)


@dataclass
class Assembly:
    """An operator with everything around it (see the module docstring)."""

    operator: Operator
    inbox: AlertInbox
    """The webhook's durable alert inbox."""
    consumer: AlertConsumer | None
    """The alert consumer (None when ``webhook.enabled`` is off)."""
    notifications: NotificationService | None
    """None when no notification channel is configured."""
    health: OperatorHealth
    sources: Sources

    @property
    def settings(self) -> Settings:
        return self.operator.settings

    @property
    def ledger(self) -> Ledger:
        return self.operator.ledger


async def build(
    settings: Settings,
    connection: KubeConnection,
    ledger: Ledger,
    *,
    playbooks: PlaybookSet,
    stack: contextlib.AsyncExitStack,
    clock: Callable[[], datetime] = wall_clock,
    options: OperatorOptions | None = None,
    metrics: OperatorMetrics | None = None,
    leader: asyncio.Event | None = None,
    on_event: Callable[[OperatorEvent], None] | None = None,
    reload_playbooks: Callable[[], PlaybookSet | None] | None = None,
    writer: ClusterWriter | None = None,
) -> Assembly:
    """Build the operator with its alert consumer, notifications, sources and health, and
    start their loops among the operator's tasks (the operator itself is started by the
    caller, `Operator.start`). The sources' Prometheus clients close with ``stack``.
    Call from the event loop. Raises the SLO loader's error for a bad spec."""
    options = options or OperatorOptions()
    metrics = metrics or OperatorMetrics()
    registry = metrics.registry
    tasks = Tasks()
    board = TargetBoard(
        clock=clock,
        metrics=metrics,
        quiet_period=options.quiet_period,
        max_parallel=options.max_parallel_targets,
        leader=leader,
    )
    inbox = AlertInbox(ledger)
    consumer: AlertConsumer | None = None
    if settings.webhook.enabled:
        consumer = AlertConsumer(
            inbox=inbox,
            sink=board,
            metrics=AlertMetrics(registry),
            batch_size=settings.webhook.batch_size,
            retention=settings.webhook.retention,
        )
    sources = await build_sources(settings, sink=board, registry=registry, stack=stack)
    notifications = notification_service(
        settings.notifications,
        ledger,
        observed=board,
        registry=registry,
        ledger_in_thread=options.ledger_in_thread,
    )
    operator = Operator(
        connection=connection,
        ledger=ledger,
        settings=settings,
        playbooks=playbooks,
        metrics=metrics,
        clock=clock,
        options=options,
        writer=writer,
        on_event=compose(
            on_event,
            notifications.on_event if notifications is not None else None,
            *sources.observers,
        ),
        reload_playbooks=reload_playbooks,
        leader=leader,
        alert_firing=consumer.firing if consumer is not None else None,
        error_budgets=sources.error_budgets,
        board=board,
        tasks=tasks,
        settings_listeners=[notifications.reloaded] if notifications is not None else [],
    )
    if consumer is not None:
        tasks.spawn("alert-consumer", consumer.run())
    if notifications is not None:
        tasks.spawn("notifications", notifications.run())
    for name, loop in sources.loops.items():
        tasks.spawn(name, loop())
    for name in sources.names:
        log.info("signal source started: %s", name)
    dependencies = dependencies_of(settings)
    monitor: DependencyMonitor | None = None
    if dependencies:
        monitor = DependencyMonitor(dependencies)
        tasks.spawn("dependency-probes", monitor.run())

    def inbox_check() -> dict[str, Any]:
        if consumer is None:
            return {}
        return {"alert_inbox": {"pending": inbox.pending_count, "recovered": consumer.recovered}}

    health = OperatorHealth(
        operator=operator, ledger=ledger, dependencies=monitor, extra=inbox_check
    )
    return Assembly(
        operator=operator,
        inbox=inbox,
        consumer=consumer,
        notifications=notifications,
        health=health,
        sources=sources,
    )

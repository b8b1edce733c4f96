"""Health of a running operator: the checks behind /readyz and /healthz.

::

    check          fails when                                   effect on /readyz
    api_server     a watch has not synced, or fails right now    not ready (503)
    ledger         a cheap read (``Ledger.ping``) fails or hangs  not ready (503)
    leadership     never: reports leader, standby or single      none (a standby is ready)
    prometheus     unreachable, when the SLO or anomaly source   degraded (200)
                   is configured
    alertmanager   unreachable, when ``webhook.alertmanager_url``  degraded (200)
                   is set
    playbooks,     the last reload was invalid (the last good    degraded (200)
    settings       version is in use)
    tasks          a long-lived task of the operator died        degraded; /healthz fails
    kill_switch    its ConfigMap cannot be read (state unknown:  degraded (200), while acting
                   no action is taken until it can)

*Degraded* means kubeheal still heals what its watches see; only the signals of the
unreachable dependency are missing, so the pod stays in its Service.

Liveness (/healthz) fails only when the operator itself is stuck (its dispatcher, sweeper,
leadership or a watch task died): restarting the process helps then, whereas restarting it
because PostgreSQL or Prometheus is down would not, and would only add churn.

Prometheus and Alertmanager are probed in the background (``DependencyMonitor``, ``GET
/-/ready`` every ``interval``) so a probe of kubeheal never waits on them; the ledger is read
at probe time, in a thread, bounded by ``ledger_timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from kubeheal.clients.httpcheck import HttpChecker, HttpCheckError
from kubeheal.config import Settings
from kubeheal.model.history import KillSwitchState
from kubeheal.runtime.operator import Operator
from kubeheal.runtime.tasks import Tasks
from kubeheal.store import Ledger, LedgerError

__all__ = [
    "CRITICAL_TASKS",
    "DependencyMonitor",
    "DependencyState",
    "OperatorHealth",
    "Prober",
    "dependencies_of",
]

log = logging.getLogger(__name__)

CRITICAL_TASKS = ("dispatcher", "sweeper", "leadership", "alert-consumer", "reflector/")
"""Names (or name prefixes) of the operator's tasks without which it cannot heal."""


class Prober(Protocol):
    """What the monitor needs from `kubeheal.clients.httpcheck.HttpChecker`."""

    async def check(self, url: str, *, timeout: float | None = None) -> Any:
        """Send GET ``url``; the result has a ``status``; raises `HttpCheckError`."""
        ...

    async def aclose(self) -> None: ...


@dataclass
class DependencyState:
    """The last probe of one dependency."""

    name: str
    url: str
    up: bool | None = None
    """None until the first probe has answered (or failed)."""
    detail: str = ""
    checked_at: float | None = None
    """Monotonic time of the last probe."""

    def as_check(self) -> dict[str, Any]:
        check: dict[str, Any] = {"ok": self.up is not False, "url": self.url}
        if self.up is None:
            check["detail"] = "not probed yet"
        elif self.detail:
            check["error" if not self.up else "detail"] = self.detail
        return check


def dependencies_of(settings: Settings) -> dict[str, str]:
    """The optional dependencies the settings turn on: name -> base URL."""
    found: dict[str, str] = {}
    prometheus = {
        source: url
        for source, url, used in (
            ("slo", settings.slo.prometheus_url, bool(settings.slo.specs)),
            ("anomaly", settings.anomaly.prometheus_url, settings.anomaly.enabled),
        )
        if used
    }
    if len(set(prometheus.values())) == 1:
        found["prometheus"] = next(iter(prometheus.values()))
    else:
        found.update({f"prometheus_{source}": url for source, url in prometheus.items()})
    if settings.webhook.alertmanager_url:
        found["alertmanager"] = settings.webhook.alertmanager_url
    return found


class DependencyMonitor:
    """Probes Prometheus and Alertmanager (``GET <url>/-/ready``) in the background."""

    def __init__(
        self,
        dependencies: Mapping[str, str],
        *,
        prober: Prober | None = None,
        interval: float = 10.0,
        timeout: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.states = {
            name: DependencyState(name=name, url=url.rstrip("/"))
            for name, url in sorted(dependencies.items())
        }
        self._prober = prober
        self.interval = interval
        self.timeout = timeout
        self.clock = clock

    async def probe_once(self) -> None:
        """Probe every dependency once (concurrently) and log changes of state."""
        if self._prober is None:
            self._prober = HttpChecker(timeout=self.timeout)
        await asyncio.gather(*(self._probe(state) for state in self.states.values()))

    async def _probe(self, state: DependencyState) -> None:
        assert self._prober is not None
        try:
            result = await self._prober.check(f"{state.url}/-/ready", timeout=self.timeout)
        except HttpCheckError as e:
            up, detail = False, str(e)
        else:
            status = int(result.status)
            up, detail = status == 200, "" if status == 200 else f"/-/ready answered {status}"
        if up is not state.up:
            if up:
                log.info("%s at %s is reachable", state.name, state.url)
            else:
                log.warning(
                    "%s at %s is unreachable (%s): degraded, watch-based healing continues",
                    state.name, state.url, detail,
                )  # fmt: skip
        state.up, state.detail, state.checked_at = up, detail, self.clock()

    async def run(self) -> None:
        """Probe every ``interval`` seconds until cancelled."""
        try:
            while True:
                await self.probe_once()
                await asyncio.sleep(self.interval)
        finally:
            if self._prober is not None:
                with contextlib.suppress(Exception):
                    await self._prober.aclose()


class OperatorHealth:
    """Readiness and liveness of one operator (see the module docstring).

    ``extra`` adds checks that never change readiness (e.g. the alert inbox's backlog).
    """

    def __init__(
        self,
        *,
        operator: Operator,
        ledger: Ledger,
        dependencies: DependencyMonitor | None = None,
        extra: Callable[[], Mapping[str, Any]] | None = None,
        ledger_timeout: float = 2.0,
    ) -> None:
        self.operator = operator
        self.ledger = ledger
        self.dependencies = dependencies
        self.extra = extra
        self.ledger_timeout = ledger_timeout
        self._tasks = Tasks()
        self._ping: asyncio.Task[None] | None = None
        self._ping_started = 0.0

    @property
    def role(self) -> str:
        """``leader`` or ``standby`` with leader election; ``single`` without."""
        leader = self.operator.leader
        if leader is None:
            return "single"
        return "leader" if leader.is_set() else "standby"

    async def _ledger_check(self) -> dict[str, Any]:
        check: dict[str, Any] = {"location": self.ledger.location}
        loop = asyncio.get_running_loop()
        if self._ping is None or self._ping.done():
            # One read at a time: a hung database must not pile up threads.
            read = asyncio.to_thread(self.ledger.ping)
            self._ping = self._tasks.spawn("ledger-ping", read, awaited=True)
            self._ping_started = loop.time()
        ping = self._ping
        remaining = self.ledger_timeout - (loop.time() - self._ping_started)
        done, _ = await asyncio.wait({ping}, timeout=max(0.0, remaining))
        if not done:
            check.update(ok=False, error=f"no answer for {loop.time() - self._ping_started:.1f}s")
            return check
        error = ping.exception()
        if error is None:
            check["ok"] = True
        elif isinstance(error, LedgerError):
            check.update(ok=False, error=str(error))
        else:
            check.update(ok=False, error=f"{type(error).__name__}: {error}")
        return check

    def _failed_tasks(self) -> tuple[list[str], list[str]]:
        """(critical, other) names of the operator's tasks that died."""
        critical: list[str] = []
        other: list[str] = []
        for name, _error in self.operator.tasks.failures:
            is_critical = any(name == c or (c.endswith("/") and name.startswith(c))
                              for c in CRITICAL_TASKS)  # fmt: skip
            (critical if is_critical else other).append(name)
        return critical, other

    async def readiness(self) -> tuple[bool, dict[str, Any]]:
        """(ready?, the /readyz body: status, role, reasons, checks)."""
        op = self.operator
        reasons: list[str] = []
        degraded: list[str] = []
        checks: dict[str, Any] = {"api_server": op.health()}
        if not op.healthy:
            failing = sorted(
                name
                for name, r in op.reflectors.items()
                if not r.status.synced or r.status.consecutive_failures
            )
            reasons.append(
                "api_server: "
                + (f"watches not synced or failing: {', '.join(failing)}" if failing
                   else "watches not started")
            )  # fmt: skip
        ledger = await self._ledger_check()
        checks["ledger"] = ledger
        if not ledger["ok"]:
            reasons.append(f"ledger: {ledger['error']}")
        role = self.role
        leadership: dict[str, Any] = {"ok": True, "role": role}
        checks["leadership"] = leadership
        if self.dependencies is not None:
            for state in self.dependencies.states.values():
                checks[state.name] = state.as_check()
                if state.up is False:
                    degraded.append(f"{state.name}: {state.detail}")
        switch = op.kill_switch
        checks["kill_switch"] = {
            "ok": switch.state is not KillSwitchState.UNKNOWN,
            "state": switch.state.value,
            **({"error": switch.reason} if switch.reason else {}),
            **({"since": switch.since.isoformat()} if switch.since is not None else {}),
        }
        if switch.state is KillSwitchState.UNKNOWN and op.acting:
            # A standby reads the switch once it leads; until then it acts on nothing anyway.
            degraded.append(
                f"kill_switch: state unknown ({switch.reason}); no action is taken until "
                "its ConfigMap can be read"
            )
        if op.playbook_error:
            checks["playbooks"] = op.playbook_error
            degraded.append("playbooks: the last reload was invalid")
        settings_error = getattr(op, "settings_error", "")
        if settings_error:
            checks["settings"] = settings_error
            degraded.append("settings: the last reload was invalid")
        critical, other = self._failed_tasks()
        if critical or other:
            checks["tasks"] = {"failed": critical + other}
            degraded.extend(f"task {name} failed" for name in critical + other)
        if self.extra is not None:
            checks.update(self.extra())
        ready = not reasons
        status = "not ready" if not ready else "degraded" if degraded else "ready"
        body = {"status": status, "role": role, "reasons": reasons + degraded, "checks": checks}
        return ready, body

    def liveness(self) -> tuple[bool, dict[str, Any]]:
        """(alive?, the /healthz body): fails only when a critical task died."""
        critical, _other = self._failed_tasks()
        if critical:
            return False, {"status": "failing", "failed_tasks": critical}
        return True, {"status": "ok", "role": self.role}

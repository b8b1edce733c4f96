"""/readyz and /healthz from `OperatorHealth`, over a stand-in operator: the role (a standby is
ready), the ledger's reachability, dependencies, and liveness failing only for the operator's
own dead tasks. Also the settings reloader on its own (live and restart-only sections)."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry

from kubeheal.clients.httpcheck import HttpUnreachable
from kubeheal.config import Settings, load_settings
from kubeheal.model.history import KillSwitch, KillSwitchState
from kubeheal.runtime.health import DependencyMonitor, OperatorHealth, dependencies_of
from kubeheal.runtime.reload import SettingsReloader
from kubeheal.server import Authenticator, create_app
from kubeheal.store import Ledger


@dataclass
class _Status:
    synced: bool = True
    consecutive_failures: int = 0


@dataclass
class _Reflector:
    status: _Status = field(default_factory=_Status)


@dataclass
class _Tasks:
    failures: list[tuple[str, BaseException]] = field(default_factory=list)


@dataclass
class FakeOperator:
    leader: asyncio.Event | None = None
    reflectors: dict[str, _Reflector] = field(default_factory=lambda: {"pods": _Reflector()})
    tasks: _Tasks = field(default_factory=_Tasks)
    playbook_error: str = ""
    settings_error: str = ""
    settings: Settings = field(default_factory=Settings)
    applied: list[Settings] = field(default_factory=list)
    kill_switch: KillSwitch = field(default_factory=lambda: KillSwitch(state=KillSwitchState.OFF))

    @property
    def acting(self) -> bool:
        return self.leader is None or self.leader.is_set()

    @property
    def healthy(self) -> bool:
        return all(r.status.synced and not r.status.consecutive_failures
                   for r in self.reflectors.values())  # fmt: skip

    def health(self) -> dict[str, Any]:
        return {n: {"synced": r.status.synced} for n, r in self.reflectors.items()}

    def update_settings(self, settings: Settings) -> None:
        self.settings = settings
        self.applied.append(settings)


class Prober:
    def __init__(self, down: set[str]) -> None:
        self.down = down

    async def check(self, url: str, *, timeout: float | None = None) -> Any:
        if any(url.startswith(d) for d in self.down):
            raise HttpUnreachable(f"cannot reach {url}: ConnectError")
        return type("Result", (), {"status": 200})()

    async def aclose(self) -> None:
        pass


async def _get(health: OperatorHealth, path: str) -> httpx.Response:
    app = create_app(registry=CollectorRegistry(), health=health, auth=Authenticator.off())
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://kubeheal.test") as c:
        return await c.get(path)


async def test_standby_is_ready_and_reports_its_role(tmp_path: Path) -> None:
    leading = asyncio.Event()
    operator = FakeOperator(leader=leading)
    with Ledger.open(tmp_path / "l.db") as ledger:
        health = OperatorHealth(operator=operator, ledger=ledger)  # type: ignore[arg-type]
        answer = await _get(health, "/readyz")
        assert answer.status_code == 200
        assert answer.json()["status"] == "ready" and answer.json()["role"] == "standby"
        leading.set()
        assert (await _get(health, "/readyz")).json()["checks"]["leadership"]["role"] == "leader"
        operator.reflectors["pods"].status.consecutive_failures = 2
        answer = await _get(health, "/readyz")
        assert answer.status_code == 503
        assert answer.json()["reasons"] == ["api_server: watches not synced or failing: pods"]


async def test_closed_ledger_is_not_ready(tmp_path: Path) -> None:
    ledger = Ledger.open(tmp_path / "l.db")
    health = OperatorHealth(operator=FakeOperator(), ledger=ledger)  # type: ignore[arg-type]
    ledger.close()
    answer = await _get(health, "/readyz")
    assert answer.status_code == 503
    body = answer.json()
    assert body["checks"]["ledger"]["ok"] is False and body["checks"]["ledger"]["error"]
    assert body["reasons"][0].startswith("ledger: ")
    assert (await _get(health, "/healthz")).status_code == 200  # not a reason to restart


async def test_dependencies_degrade_and_dead_tasks_fail_liveness(tmp_path: Path) -> None:
    settings = Settings.model_validate(
        {"anomaly": {"enabled": True, "prometheus_url": "http://prom:9090"},
         "webhook": {"alertmanager_url": "http://am:9093/"}}
    )  # fmt: skip
    deps = dependencies_of(settings)
    assert deps == {"prometheus": "http://prom:9090", "alertmanager": "http://am:9093/"}
    monitor = DependencyMonitor(deps, prober=Prober({"http://am:9093"}))
    operator = FakeOperator()
    with Ledger.open(tmp_path / "l.db") as ledger:
        health = OperatorHealth(
            operator=operator,  # type: ignore[arg-type]
            ledger=ledger,
            dependencies=monitor,
        )
        body = (await _get(health, "/readyz")).json()
        assert body["checks"]["alertmanager"] == {"ok": True, "url": "http://am:9093",
                                                  "detail": "not probed yet"}  # fmt: skip
        await monitor.probe_once()
        answer = await _get(health, "/readyz")
        assert answer.status_code == 200
        body = answer.json()
        assert body["status"] == "degraded" and body["checks"]["prometheus"]["ok"] is True
        assert body["reasons"] == [
            "alertmanager: cannot reach http://am:9093/-/ready: ConnectError"
        ]
        operator.tasks.failures.append(("anomaly-source", RuntimeError("boom")))
        assert (await _get(health, "/healthz")).status_code == 200
        operator.tasks.failures.append(("reflector/pods", RuntimeError("boom")))
        live = await _get(health, "/healthz")
        assert live.status_code == 503
        assert live.json() == {"status": "failing", "failed_tasks": ["reflector/pods"]}


def test_reloader_applies_live_sections_and_keeps_the_rest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="kubeheal.runtime.reload")
    path = tmp_path / "settings.yaml"
    path.write_text("guards:\n  cooldown: 1m\n")
    operator = FakeOperator(settings=load_settings(path, {}))
    reloader = SettingsReloader(path=path, load=lambda: load_settings(path, {}), target=operator)
    assert reloader.check() is None  # unchanged
    path.write_text(
        "guards:\n  cooldown: 5m\ndetection:\n  restart_rate_per_hour: 2\n"
        "server:\n  listen: 0.0.0.0:9999\nnotifications:\n  cluster: prod\n"
    )
    result = reloader.check(force=True)
    assert result is not None
    assert result.applied == ("detection.restart_rate_per_hour", "guards.cooldown",
                              "notifications.cluster")  # fmt: skip
    assert result.needs_restart == ("server.listen",)
    assert operator.settings.guards.cooldown == timedelta(minutes=5)
    assert operator.settings.notifications.cluster == "prod"
    assert operator.settings.server.listen == "127.0.0.1:8080"  # kept until a restart
    path.write_text("guards:\n  max_attempts_per_incident: 0\n")
    assert reloader.check(force=True) is None
    assert "guards.max_attempts_per_incident" in operator.settings_error
    assert operator.settings.guards.cooldown == timedelta(minutes=5)  # last good kept
    assert len(operator.applied) == 1
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "keeping the last good settings" in errors[0].getMessage()

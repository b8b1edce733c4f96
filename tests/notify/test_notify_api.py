"""Acknowledging through the API and the CLI: list, show, ack; the running loop announces an
acknowledgement made by another process on the same ledger."""

from __future__ import annotations

import json
from typing import Any

import httpx
from prometheus_client import CollectorRegistry
from typer.testing import CliRunner

from kubeheal.cli.main import app as cli
from kubeheal.model.core import Target, TargetKind
from kubeheal.runtime.notifications import NotificationService
from kubeheal.runtime.operator import OperatorEvent
from kubeheal.server.app import create_app
from kubeheal.server.auth import Authenticator
from kubeheal.server.incidents_api import incidents_router
from kubeheal.store.outbox import NotificationStore

CART = Target(kind=TargetKind.DEPLOYMENT, namespace="shop", name="cart")


def _app(ledger: Any, settings: Any, clock: Any, woken: list[int], auth: Any = None) -> Any:
    router = incidents_router(
        ledger=ledger, settings=settings, clock=clock, on_ack=lambda: woken.append(1)
    )
    return create_app(
        registry=CollectorRegistry(),
        ready=lambda: (True, {}),
        routers=[router],
        auth=auth or Authenticator.off(),
    )


async def test_list_show_and_ack_through_the_api(kit: Any, clock: Any, receiver: Any) -> None:
    settings = kit.settings(receiver, unresolved_after="0s")
    woken: list[int] = []
    clock.at(60)
    with kit.open() as ledger:
        kit.incident(ledger, "inc-1")
        kit.incident(ledger, "inc-2", name="web", escalate=False)
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            service.on_event(
                OperatorEvent(
                    at=clock(), kind="escalated", target=CART, message="x", incident_id="inc-1"
                )
            )
            clock.at(60 + 5 * 60)
            await service.tick()  # level 1 to chat
            transport = httpx.ASGITransport(app=_app(ledger, settings, clock, woken))
            async with httpx.AsyncClient(transport=transport, base_url="http://kubeheal") as api:
                listed = (await api.get("/api/v1/incidents")).json()["incidents"]
                assert [i["id"] for i in listed] == ["inc-1", "inc-2"]
                assert listed[0]["escalation"]["level"] == 1
                assert listed[1]["escalation"] is None and listed[1]["state"] == "acting"

                shown = await api.get("/api/v1/incidents/inc-1")
                assert shown.status_code == 200
                detail = shown.json()
                assert detail["headline"] == "CrashLoopBackOff on Deployment shop/cart"
                assert any(
                    c == "kubectl -n shop describe deployment/cart" for c in detail["commands"]
                )
                assert [n["kind"] for n in detail["notifications"]] == ["level"]
                assert detail["notifications"][0]["state"] == "sent"

                assert (await api.get("/api/v1/incidents/nope")).status_code == 404
                assert (await api.get("/api/v1/incidents/bad%20id")).status_code == 422
                bad = await api.post("/api/v1/incidents/inc-1/ack", json={"by": ""})
                assert bad.status_code == 422
                missing = await api.post("/api/v1/incidents/nope/ack", json={"by": "alice"})
                assert missing.status_code == 404

                acked = await api.post(
                    "/api/v1/incidents/inc-1/ack", json={"by": "alice", "reason": "on it"}
                )
                assert acked.status_code == 200
                assert acked.json()["changed"] is True
                assert acked.json()["acknowledged_by"] == "alice"
                again = await api.post("/api/v1/incidents/inc-1/ack", json={"by": "bob"})
                assert again.json() | {"acknowledged_at": None} == {
                    "incident_id": "inc-1",
                    "acknowledged_by": "alice",
                    "acknowledged_at": None,
                    "changed": False,
                }
                assert woken == [1]
                spec = (await api.get("/openapi.json")).json()
                assert "/api/v1/incidents/{incident_id}/ack" in spec["paths"]
            await service.tick()
            clock.at(60 + 60 * 60)
            await service.tick()
    # The ack went to the one channel told; the climb stopped there.
    kinds = [m.json["text"].split(" ")[0] for m in receiver.of("slack")]
    assert kinds == ["Escalated", "Acknowledged"]
    assert receiver.of("teams") == [] and receiver.of("pagerduty") == []


async def test_the_router_is_protected_by_the_apps_authentication(kit: Any, clock: Any) -> None:
    from pydantic import SecretStr

    from kubeheal.config.settings import ServerSettings

    settings = kit.settings()
    with kit.open() as ledger:
        kit.incident(ledger)
        auth = Authenticator.from_settings(ServerSettings(token=SecretStr("api-token-SECRET")))
        transport = httpx.ASGITransport(app=_app(ledger, settings, clock, [], auth=auth))
        async with httpx.AsyncClient(transport=transport, base_url="http://kubeheal") as api:
            assert (await api.get("/api/v1/incidents")).status_code == 401
            denied = await api.post("/api/v1/incidents/inc-1/ack", json={"by": "mallory"})
            assert denied.status_code == 401
            ok = await api.get(
                "/api/v1/incidents", headers={"Authorization": "Bearer api-token-SECRET"}
            )
            assert ok.status_code == 200
        assert NotificationStore(ledger).get_escalation("inc-1") is None


async def test_cli_list_show_ack_and_the_loop_announces_it(
    kit: Any, clock: Any, receiver: Any
) -> None:
    settings = kit.settings(receiver)
    runner = CliRunner()
    clock.at(60)
    with kit.open() as ledger:
        kit.incident(ledger)
    path = str(kit.ledger_path)
    listed = runner.invoke(cli, ["incident", "list", "--ledger", path, "--json", "--since", "1d"])
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.output) == []  # escalated in 2024: outside the window
    listed = runner.invoke(cli, ["incident", "list", "--ledger", path, "--since", "3650d"])
    assert listed.exit_code == 0 and "inc-1" in listed.output
    with kit.open() as ledger:
        async with NotificationService(ledger=ledger, settings=settings, clock=clock) as service:
            service.on_event(
                OperatorEvent(
                    at=clock(), kind="escalated", target=CART, message="x", incident_id="inc-1"
                )
            )
            clock.at(60 + 16 * 60)
            await service.tick()  # chat, then on-call
            assert len(receiver.of("teams")) == 1
            listed = runner.invoke(cli, ["incident", "list", "--ledger", path, "--json"])
            assert listed.exit_code == 0, listed.output
            [row] = json.loads(listed.output)
            assert row["id"] == "inc-1" and row["escalation"]["level"] == 2
            # Someone acknowledges from a terminal, through the ledger file.
            acked = runner.invoke(
                cli,
                [
                    "incident",
                    "ack",
                    "inc-1",
                    "--by",
                    "carol",
                    "--reason",
                    "db failover",
                    "--ledger",
                    path,
                ],
            )
            assert acked.exit_code == 0, acked.output
            assert "acknowledged inc-1 as carol" in acked.output
            again = runner.invoke(
                cli, ["incident", "ack", "inc-1", "--by", "dan", "--ledger", path]
            )
            assert again.exit_code == 0 and "already acknowledged by carol" in again.output
            clock.advance(1)
            await service.tick()
            clock.at(60 + 90 * 60)
            await service.tick()
    titles = [m.json["attachments"][0]["content"]["body"][0]["text"] for m in receiver.of("teams")]
    assert [title.split(" ")[0] for title in titles] == [
        "Escalated",
        "Acknowledged",
    ]
    assert receiver.of("pagerduty") == []
    shown = runner.invoke(cli, ["incident", "show", "inc-1", "--ledger", path])
    assert shown.exit_code == 0, shown.output
    assert "acknowledged by carol" in shown.output
    assert "kubectl -n shop" in shown.output
    unknown = runner.invoke(cli, ["incident", "show", "nope", "--ledger", path])
    assert unknown.exit_code == 1
    nowhere = runner.invoke(cli, ["incident", "list", "--ledger", str(kit.tmp_path / "none.db")])
    assert nowhere.exit_code == 2

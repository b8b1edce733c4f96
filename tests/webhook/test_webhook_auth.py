"""Authentication of the HTTP server: refused without or with wrong credentials, accepted with
a bearer token or basic auth, health always open, secrets from files and env, never logged."""

from __future__ import annotations

import base64
import logging
import os
import time
from pathlib import Path

import httpx
import pytest

from kubeheal.config import ServerSettings, SettingsError, load_settings
from kubeheal.server import Authenticator
from kubeheal.server.auth import AuthConfigError

PROTECTED = ("/openapi.json",)


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


async def test_refused_without_or_with_wrong_credentials(wk, inbox) -> None:
    body = wk.notification(wk.workload_alerts(1))
    async with wk.app_over(inbox) as app:
        wrong = [
            {},
            {"Authorization": "Bearer nope"},
            {"Authorization": f"Bearer {wk.TOKEN}x"},
            {"Authorization": f"Token {wk.TOKEN}"},
            {"Authorization": "Bearer"},
            _basic("kubeheal", "wrong"),
            _basic("someone", wk.PASSWORD),
            {"Authorization": "Basic !!!not-base64"},
            {"Authorization": "Basic " + base64.b64encode(b"no-colon").decode()},
        ]
        for headers in wrong:
            response = await app.post(body, headers=headers)
            assert response.status_code == 401, headers
            assert "Bearer" in response.headers["www-authenticate"]
            assert "Basic" in response.headers["www-authenticate"]
            assert response.json()["detail"]
        for path in PROTECTED:
            assert (await app.client.get(path)).status_code == 401
        assert inbox.count() == 0
        assert app.metric("kubeheal_http_auth_failures_total", reason="missing credentials") == 2


async def test_accepted_with_bearer_and_basic(wk, inbox) -> None:
    async with wk.app_over(inbox) as app:
        first = await app.post(wk.notification(wk.workload_alerts(1)), headers=wk.BEARER)
        assert first.status_code == 200, first.text
        # The scheme name is case-insensitive.
        lower = await app.post(
            wk.notification(wk.workload_alerts(2)),
            headers={"Authorization": f"bearer {wk.TOKEN}"},
        )
        assert lower.status_code == 200
        basic = await app.post(
            wk.notification(wk.workload_alerts(3)), headers=_basic("kubeheal", wk.PASSWORD)
        )
        assert basic.status_code == 200, basic.text
        assert inbox.count() == 3
        spec = await app.client.get("/openapi.json", headers=wk.BEARER)
        assert spec.status_code == 200
        schemes = spec.json()["components"]["securitySchemes"]
        assert schemes["bearerAuth"]["scheme"] == "bearer"


async def test_health_open_metrics_configurable(wk, inbox) -> None:
    async with wk.app_over(inbox) as app:
        for path in ("/healthz", "/livez", "/readyz", "/metrics"):
            assert (await app.client.get(path)).status_code == 200, path
        assert (await app.client.head("/healthz")).status_code == 200
    closed = Authenticator.static(token=wk.TOKEN, metrics_auth=True)
    async with wk.app_over(inbox, auth=closed) as app:
        assert (await app.client.get("/metrics")).status_code == 401
        assert (await app.client.get("/metrics", headers=wk.BEARER)).status_code == 200
        assert (await app.client.get("/healthz")).status_code == 200


async def test_no_secret_configured_refuses_everything(wk, inbox, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="kubeheal.server.auth")
    auth = Authenticator.from_settings(ServerSettings())
    assert "no secret is configured" in caplog.text
    async with wk.app_over(inbox, auth=auth) as app:
        assert (await app.post(wk.notification(wk.workload_alerts(1)))).status_code == 401
        assert (await app.post(wk.notification(wk.workload_alerts(1)), headers={})).status_code == (
            401
        )
        assert (await app.client.get("/healthz")).status_code == 200


async def test_auth_none_is_explicit_and_warned(wk, inbox, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="kubeheal.server.auth")
    auth = Authenticator.from_settings(ServerSettings(auth="none"))
    assert "authentication is OFF" in caplog.text
    async with wk.app_over(inbox, auth=auth) as app:
        response = await app.post(wk.notification(wk.workload_alerts(1)), headers={})
        assert response.status_code == 200
        spec = (await app.client.get("/openapi.json")).json()
        assert "securitySchemes" not in spec.get("components", {})


async def test_secret_files_are_read_and_rotated(wk, inbox, tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.DEBUG)
    token_file = tmp_path / "token"
    token_file.write_text("first-token\n")
    password_file = tmp_path / "password"
    password_file.write_text("pass-from-file")
    settings = ServerSettings(token_file=token_file, password_file=password_file, username="am")
    auth = Authenticator.from_settings(settings)
    async with wk.app_over(inbox, auth=auth) as app:
        body = wk.notification(wk.workload_alerts(1))
        assert (
            await app.post(body, headers={"Authorization": "Bearer first-token"})
        ).status_code == 200
        assert (await app.post(body, headers=_basic("am", "pass-from-file"))).status_code == 200
        # The mounted Secret changes: the new token is accepted, the old one refused.
        token_file.write_text("second-token")
        stamp = time.time() + 5
        os.utime(token_file, (stamp, stamp))
        assert auth.token is not None
        auth.token._checked = 0.0  # skip the once-a-second pacing
        assert (
            await app.post(body, headers={"Authorization": "Bearer second-token"})
        ).status_code == 200
        auth.token._checked = 0.0
        assert (
            await app.post(body, headers={"Authorization": "Bearer first-token"})
        ).status_code == 401
    for secret in ("first-token", "second-token", "pass-from-file"):
        assert secret not in caplog.text


def test_missing_secret_file_is_a_start_error(tmp_path: Path) -> None:
    with pytest.raises(AuthConfigError, match="missing"):
        Authenticator.from_settings(ServerSettings(token_file=tmp_path / "missing"))


def test_settings_from_env_hide_the_secret(tmp_path: Path) -> None:
    settings = load_settings(
        None, {"KUBEHEAL_SERVER__TOKEN": "env-token-123", "KUBEHEAL_SERVER__METRICS_AUTH": "1"}
    )
    assert settings.server.token is not None
    assert settings.server.token.get_secret_value() == "env-token-123"
    assert settings.server.metrics_auth is True
    assert "env-token-123" not in repr(settings)
    assert "env-token-123" not in str(settings.model_dump())
    with pytest.raises(SettingsError, match="token or token_file"):
        load_settings(
            None,
            {"KUBEHEAL_SERVER__TOKEN": "x", "KUBEHEAL_SERVER__TOKEN_FILE": str(tmp_path / "t")},
        )


async def test_real_server_refuses_without_credentials(wk, inbox) -> None:
    app, _registry, _commits = wk.build_app(inbox)
    with wk.server_in_thread(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            body = wk.notification(wk.workload_alerts(1))
            assert (await client.post(wk.PATH, json=body)).status_code == 401
            assert (await client.post(wk.PATH, json=body, headers=wk.BEARER)).status_code == 200
            assert (await client.get("/readyz")).json()["status"] == "ready"

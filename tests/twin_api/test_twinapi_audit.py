"""The API server's audit is passed in: each server hands its requests to its own audit only,
and the suite-wide RBAC proof (tests/conftest.py) still sees every server of the run."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import httpx
import pytest
from starlette.testclient import TestClient

from kubeheal.twin.api import ApiOptions, AuditRecord, create_app
from kubeheal.twin.clock import ManualClock
from kubeheal.twin.cluster import Twin
from kubeheal.twin.server import serve_in_thread

_ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"


def _root_conftest(config: pytest.Config) -> ModuleType:
    for plugin in config.pluginmanager.get_plugins():
        if isinstance(plugin, ModuleType) and Path(plugin.__file__ or "") == _ROOT_CONFTEST:
            return plugin
    raise AssertionError("tests/conftest.py is not loaded")


def test_each_server_audits_to_its_own_audit_only() -> None:
    seen_a: list[AuditRecord] = []
    seen_b: list[AuditRecord] = []
    twin = Twin.bare(clock=ManualClock(), seed=1)
    app_a = create_app(twin, options=ApiOptions(audit=seen_a.append))
    app_b = create_app(twin, options=ApiOptions(audit=seen_b.append))
    with TestClient(app_a) as a, TestClient(app_b) as b:
        assert a.get("/api/v1/namespaces/default/configmaps/x").status_code == 404
        assert b.get("/api/v1/nodes", headers={"user-agent": "probe/1"}).status_code == 200
        assert a.get("/version").status_code == 200  # not a resource request: not audited
    assert seen_a == [
        AuditRecord(
            verb="get",
            group="",
            resource="configmaps",
            subresource="",
            namespace="default",
            name="x",
            user_agent="testclient",
        )
    ]
    assert [(r.verb, r.resource, r.user_agent) for r in seen_b] == [("list", "nodes", "probe/1")]


def test_the_rbac_proof_sees_every_served_twin(request: pytest.FixtureRequest) -> None:
    proof = _root_conftest(request.config)
    own: list[AuditRecord] = []
    twin = Twin.bare(clock=ManualClock(), seed=2)
    agent = "kubeheal/audit-proof-test"
    with serve_in_thread(twin, options=ApiOptions(audit=own.append), simulate=False) as url:
        resp = httpx.get(
            f"{url}/api/v1/namespaces/kube-system/pods/audit-proof",
            headers={"user-agent": agent},
        )
    assert resp.status_code == 404
    expected = AuditRecord(
        verb="get",
        group="",
        resource="pods",
        subresource="",
        namespace="kube-system",
        name="audit-proof",
        user_agent=agent,
    )
    assert own == [expected]  # the test's own audit still gets the call
    with proof._KUBEHEAL_CALLS_LOCK:
        recorded = set(proof._KUBEHEAL_CALLS)
    assert expected in recorded

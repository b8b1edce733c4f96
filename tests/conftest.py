"""Session-wide fixtures shared by every test package, and the suite-wide RBAC proof."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from starlette.applications import Starlette

import kubeheal.twin.server
from kubeheal.twin.api import ApiOptions, AuditRecord, create_app
from kubeheal.twin.cluster import Twin
from kubeheal.twin.promstack import PromStack, PromStackError, find_binaries
from kubeheal.twin.rbac import denied, load_rules


@pytest.fixture
def promstack(promstack_session: PromStack) -> PromStack:
    """The session's Prometheus + Alertmanager with the samples of earlier tests deleted.

    See `promstack_session` for what it runs and how tests configure it."""
    promstack_session.reset_data()
    return promstack_session


@pytest.fixture(scope="session")
def promstack_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PromStack]:
    """A real Prometheus 2.42 + Alertmanager 0.25 on 127.0.0.1, started once per session.

    Scrape and rule evaluation every 1 s; Alertmanager with `group_wait: 0s`. Each test
    calls `promstack.configure(scrape_targets=[...], rule_files={...},
    alertmanager_config=..., extra_scrape_configs=[...])`, which replaces the whole
    configuration, validates it with promtool/amtool, reloads and waits until targets are
    up, rule groups are loaded and evaluated and Alertmanager is discovered (about 5 s,
    set by Prometheus' discovery tick). URLs: `promstack.prometheus_url`,
    `promstack.alertmanager_url`. Alerts of earlier tests may still be in Alertmanager
    for a few seconds: filter by alert name. Logs are in `promstack.workdir`.

    Fails (not skips) when the Debian binaries are missing: run scripts/setup.
    """
    try:
        find_binaries()
    except PromStackError as e:
        pytest.fail(str(e), pytrace=False)
    stack = PromStack(tmp_path_factory.mktemp("promstack"))
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


# -- RBAC proof over the whole run -----------------------------------------------------------
# Every API call kubeheal's own client makes to any twin during the test session (User-Agent
# "kubeheal/<version>"; chaos faults identify as "kubeheal-chaos" and have their own role) is
# recorded and, at the end of the session, checked against the ClusterRole and Roles shipped in
# deploy/kustomize/base/rbac.yaml. A call the roles do not allow fails the run. (That the roles
# grant nothing unused is checked by tests/deploy/test_deploy_rbac.py on a run built for it.)
# The twin keeps no audit of its own: every twin API server of the run is started through
# `kubeheal.twin.server`, whose `create_app` is given, for the session, an `ApiOptions.audit`
# that hands the call to the test's own audit, if any, and records it.

_RBAC = Path(__file__).resolve().parents[1] / "deploy" / "kustomize" / "base" / "rbac.yaml"
_SERVICE_ACCOUNT = ("kubeheal", "kubeheal-system")
_KUBEHEAL_CALLS: set[AuditRecord] = set()
_KUBEHEAL_CALLS_LOCK = threading.Lock()


def _record_kubeheal_call(record: AuditRecord) -> None:
    if record.user_agent.startswith("kubeheal/"):
        with _KUBEHEAL_CALLS_LOCK:
            _KUBEHEAL_CALLS.add(record)


def _create_app_with_rbac_proof(twin: Twin, *, options: ApiOptions | None = None) -> Starlette:
    options = options or ApiOptions()
    own = options.audit

    def audit(record: AuditRecord) -> None:
        if own is not None:
            own(record)
        _record_kubeheal_call(record)

    return create_app(twin, options=dataclasses.replace(options, audit=audit))


_SESSION_PATCH = pytest.MonkeyPatch()


def pytest_configure(config: pytest.Config) -> None:
    _SESSION_PATCH.setattr(kubeheal.twin.server, "create_app", _create_app_with_rbac_proof)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _SESSION_PATCH.undo()
    with _KUBEHEAL_CALLS_LOCK:
        calls = list(_KUBEHEAL_CALLS)
    refused = denied(calls, load_rules(_RBAC, service_account=_SERVICE_ACCOUNT))
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    lines = [
        f"RBAC proof: {len(calls)} distinct API calls by kubeheal during this run, "
        f"{len(refused)} not allowed by {_RBAC.relative_to(_RBAC.parents[3])}"
    ]
    lines += [
        f"  NOT ALLOWED: {c.verb} {c.group or 'core'}/{c.resource}"
        f"{'/' + c.subresource if c.subresource else ''} ns={c.namespace or '-'} "
        f"name={c.name or '-'}"
        for c in refused
    ]
    if reporter is not None:
        reporter.ensure_newline()
        for line in lines:
            reporter.write_line(line)
    if refused and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED

"""Session-wide fixtures shared by every test package (keep this file small)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubeheal.twin.promstack import PromStack, PromStackError, find_binaries


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

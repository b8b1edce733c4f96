"""The OpenAPI of kubeheal's HTTP API, fuzzed with schemathesis against the real server:
no answer is a 5xx, data that fits the schema is stored, and no protected operation answers
anything but 401 without credentials."""

from __future__ import annotations

from collections import Counter

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from kubeheal.config import WebhookSettings
from kubeheal.server.auth import HEALTH_PATHS

EXAMPLES = 60


def test_fuzzed_api_never_answers_5xx_and_requires_credentials(wk, inbox) -> None:
    app, _registry, _commits = wk.build_app(inbox, settings=WebhookSettings(max_pending=10**7))
    spec = app.openapi()
    operations = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}
    assert ("POST", wk.PATH) in operations and ("GET", "/readyz") in operations
    schema = schemathesis.openapi.from_dict(spec)
    answers: Counter[tuple[str, str, int]] = Counter()
    unauthenticated: Counter[int] = Counter()

    with wk.server_in_thread(app) as url:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=schema.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call(base_url=url, headers=wk.BEARER, timeout=10)
                assert response.status_code < 500, (case, response.status_code, response.text)
                answers[(case.method, case.path, response.status_code)] += 1
                if case.path in HEALTH_PATHS or case.path == "/metrics":
                    return
                case.headers = {
                    k: v for k, v in (case.headers or {}).items() if k.lower() != "authorization"
                }
                bare = case.call(base_url=url, timeout=10)
                unauthenticated[bare.status_code] += 1
                assert bare.status_code == 401, (case, bare.status_code, bare.text)

            fuzz()

    webhook = {code: n for (method, path, code), n in answers.items() if path == wk.PATH}
    assert webhook.get(200, 0) >= 5, answers  # schema-conforming notifications are stored
    assert sum(n for code, n in webhook.items() if 400 <= code < 500) >= 5, answers
    assert set(unauthenticated) == {401}
    assert inbox.count() > 0

"""The 422 for a payload version of the wrong type says what is wrong.

``"version": 4`` (a number) used to be answered "unsupported ... version 4: kubeheal reads
version 4", which reads as a contradiction; the answer now names the expected type.
"""

from __future__ import annotations

from typing import Any

import pytest

from kubeheal.server.webhook import AlertmanagerPayload


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        (4, 'version must be the string "4", got the number 4'),
        (4.0, 'version must be the string "4", got the number 4.0'),
        (True, 'version must be the string "4", got true'),
        (None, 'version must be the string "4", got null'),
        ([4], 'version must be the string "4", got an array'),
        ({"v": 4}, 'version must be the string "4", got an object'),
        ("5", "unsupported Alertmanager webhook payload version '5': kubeheal reads version 4"),
    ],
)
async def test_a_wrong_version_gets_a_422_naming_what_is_expected(
    wk: Any, inbox: Any, version: object, expected: str
) -> None:
    body = {**wk.notification(wk.workload_alerts(1)), "version": version}
    async with wk.app_over(inbox) as app:
        response = await app.post(body)
    assert response.status_code == 422, response.text
    (error,) = response.json()["detail"]
    assert error["msg"] == f"Value error, {expected}"
    assert "reads version 4" not in error["msg"] or version == "5"


def test_the_string_four_is_accepted(wk: Any) -> None:
    payload = AlertmanagerPayload.model_validate(wk.notification(wk.workload_alerts(1)))
    assert payload.version == "4"

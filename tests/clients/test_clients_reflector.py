"""The reflector against a scripted API (httpx MockTransport): paging, watch, 410, back-off."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

import httpx2
import msgspec
import pytest

from kubeheal.clients.kube import KubeConnection, KubeGone, KubeUnavailable
from kubeheal.clients.reflector import Backoff, CacheEvent, Reflector, resource_path


class Meta(msgspec.Struct):
    name: str = ""
    namespace: str = ""


class Slim(msgspec.Struct):
    metadata: Meta = msgspec.field(default_factory=Meta)
    phase: str = ""


def obj(name: str, rv: int, phase: str = "Running") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": "ns", "resourceVersion": str(rv), "uid": name},
        "phase": phase,
        "spec": {"ignored": "x" * 100},
    }


def page(items: list[dict[str, Any]], rv: int, cont: str = "") -> httpx2.Response:
    return httpx2.Response(
        200, json={"kind": "List", "metadata": {"resourceVersion": str(rv), "continue": cont},
                   "items": items}
    )  # fmt: skip


def stream(*events: dict[str, Any]) -> httpx2.Response:
    body = b"".join(json.dumps(e).encode() + b"\n" for e in events)
    return httpx2.Response(200, content=body)


Handler = Callable[[httpx2.Request], httpx2.Response]


def make(script: list[Handler]) -> tuple[Reflector[Slim], list[CacheEvent[Slim]], list[str]]:
    seen: list[CacheEvent[Slim]] = []
    requests: list[str] = []
    calls = iter(script)

    def handle(request: httpx2.Request) -> httpx2.Response:
        requests.append(str(request.url.params))
        try:
            return next(calls)(request)
        except StopIteration:
            raise asyncio.CancelledError from None

    conn = KubeConnection.from_server("http://twin.invalid")
    http = conn.http_client(transport=httpx2.MockTransport(handle))
    sleeps: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)

    reflector = Reflector(
        http=http,
        path=resource_path("", "v1", "pods"),
        item_type=Slim,
        handler=seen.append,
        page_size=2,
        sleep=fake_sleep,
        backoff=Backoff(base=1.0, cap=8.0),
    )
    reflector.sleeps = sleeps  # type: ignore[attr-defined]
    return reflector, seen, requests


async def run_until_script_ends(reflector: Reflector[Slim]) -> None:
    with pytest.raises(asyncio.CancelledError):
        await reflector.run()


def test_resource_path() -> None:
    assert resource_path("", "v1", "pods") == "/api/v1/pods"
    assert resource_path("apps", "v1", "deployments", "demo") == (
        "/apis/apps/v1/namespaces/demo/deployments"
    )


async def test_paged_list_then_watch_with_bookmark() -> None:
    reflector, seen, requests = make(
        [
            lambda r: page([obj("a", 1), obj("b", 2)], 5, cont="tok"),
            lambda r: page([obj("c", 3)], 5),
            lambda r: stream(
                {"type": "MODIFIED", "object": obj("a", 6, "Failed")},
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "9"}}},
                {"type": "DELETED", "object": obj("b", 10)},
            ),
        ]
    )
    await run_until_script_ends(reflector)
    assert "limit=2" in requests[0] and "continue=tok" in requests[1]
    assert "resourceVersion=5" in requests[2] and "allowWatchBookmarks=true" in requests[2]
    assert [(e.type, e.key) for e in seen] == [
        ("ADDED", "ns/a"), ("ADDED", "ns/b"), ("ADDED", "ns/c"),
        ("MODIFIED", "ns/a"), ("DELETED", "ns/b"),
    ]  # fmt: skip
    assert seen[3].old is not None and seen[3].old.phase == "Running"
    assert seen[3].new is not None and seen[3].new.phase == "Failed"
    assert sorted(reflector.cache) == ["ns/a", "ns/c"]
    assert reflector.status.resource_version == "10"
    assert reflector.synced.is_set()


async def test_rewatch_resumes_from_last_bookmark() -> None:
    reflector, _, requests = make(
        [
            lambda r: page([obj("a", 1)], 3),
            lambda r: stream(
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "7"}}}
            ),
            lambda r: stream(),
        ]
    )
    await run_until_script_ends(reflector)
    assert "resourceVersion=7" in requests[2]
    assert reflector.status.lists == 1 and reflector.status.watches == 3


async def test_gone_relists_and_synthesises_deletions() -> None:
    gone = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    reflector, seen, _ = make(
        [
            lambda r: page([obj("a", 1), obj("b", 2)], 2),
            lambda r: stream({"type": "ERROR", "object": gone}),
            lambda r: page([obj("a", 1), obj("c", 8)], 9),
        ]
    )
    await run_until_script_ends(reflector)
    tail = [(e.type, e.key, e.synthetic) for e in seen[2:]]
    assert tail == [("DELETED", "ns/b", True), ("ADDED", "ns/c", True)]
    assert reflector.status.relists_after_gone == 1
    assert sorted(reflector.cache) == ["ns/a", "ns/c"]


async def test_watch_410_status_response_relists() -> None:
    reflector, _, _ = make(
        [
            lambda r: page([], 2),
            lambda r: httpx2.Response(410, json={"kind": "Status", "code": 410,
                                                 "reason": "Expired", "message": "gone"}),
            lambda r: page([], 20),
        ]
    )  # fmt: skip
    await run_until_script_ends(reflector)
    assert reflector.status.lists == 2


async def test_unavailable_backs_off_and_honours_retry_after() -> None:
    reflector, seen, _ = make(
        [
            lambda r: httpx2.Response(503, headers={"Retry-After": "5"}, json={"code": 503}),
            lambda r: httpx2.Response(500, text="oops"),
            lambda r: (_ for _ in ()).throw(httpx2.ConnectError("refused")),
            lambda r: page([obj("a", 1)], 1),
        ]
    )
    await run_until_script_ends(reflector)
    sleeps = reflector.sleeps  # type: ignore[attr-defined]
    assert len(sleeps) == 3
    assert sleeps[0] >= 5.0  # Retry-After wins over the smaller back-off
    assert 1.0 <= sleeps[1] <= 2.0 and 2.0 <= sleeps[2] <= 4.0  # doubling with jitter
    assert [e.key for e in seen] == ["ns/a"]
    assert reflector.status.consecutive_failures == 0


async def test_handler_failure_does_not_stop_the_cache() -> None:
    reflector, _, _ = make([lambda r: page([obj("a", 1), obj("b", 2)], 2)])

    def boom(event: CacheEvent[Slim]) -> None:
        raise RuntimeError("consumer bug")

    reflector.handler = boom
    await run_until_script_ends(reflector)
    assert sorted(reflector.cache) == ["ns/a", "ns/b"]


def test_backoff_is_capped() -> None:
    b = Backoff(base=1.0, cap=8.0)
    assert all(b.delay(n) <= 8.0 for n in range(1, 20))


def test_error_translation() -> None:
    from kubeheal.clients.kube import error_from_status

    assert isinstance(error_from_status(410, b'{"code":410,"reason":"Expired"}'), KubeGone)
    assert isinstance(error_from_status(429, b""), KubeUnavailable)
    err = error_from_status(404, b"not json at all")
    assert "not json at all" in str(err)

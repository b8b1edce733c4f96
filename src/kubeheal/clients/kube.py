"""Connection to a Kubernetes API server, and the errors kubeheal sees from it.

Configuration (kubeconfig files, in-cluster service accounts, exec plugins, client certs)
is read with lightkube's config loader, which builds the HTTP client; kubeheal's own hot
paths (the reflector) use that client directly with msgspec decoding, and writes go through
lightkube's typed client on the same configuration.

Exception tree (nothing from the HTTP or Kubernetes libraries leaks past this module)::

    KubeError
    ├── KubeConfigError         the kubeconfig / service account cannot be used
    ├── KubeUnavailable         connection refused or reset, timeout, 5xx, 429 (retry later)
    ├── KubeDecodeError         the server sent something that is not what the API promises
    ├── KubeInvalidName         a namespace or name cannot be a request path segment (refused
    │                           before anything is sent: `..`, `/?#%`, control characters)
    └── KubeApiError            the API answered with a Status (code, reason, message)
        ├── KubeNotFound        404
        ├── KubeConflict        409
        ├── KubeGone            410 (resourceVersion too old: re-list)
        └── KubeForbidden       403 (RBAC)
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx2
import msgspec
from lightkube.config import client_adapter
from lightkube.config.kubeconfig import KubeConfig, SingleConfig
from lightkube.config.models import Cluster, User
from lightkube.core.exceptions import ConfigError

from kubeheal import __version__
from kubeheal.model.names import NameKind, name_problem, segment_problem, shown

__all__ = [
    "KubeApiError",
    "KubeConfigError",
    "KubeConflict",
    "KubeConnection",
    "KubeDecodeError",
    "KubeError",
    "KubeForbidden",
    "KubeGone",
    "KubeInvalidName",
    "KubeNotFound",
    "KubeUnavailable",
    "error_class",
    "error_from_response",
    "error_from_status",
    "retry_after",
    "safe_segment",
]


class KubeError(Exception):
    """Base of every error talking to the Kubernetes API."""


class KubeConfigError(KubeError):
    """The configuration cannot be used to reach an API server."""


class KubeUnavailable(KubeError):
    """The API server cannot be reached right now; retry with back-off."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class KubeDecodeError(KubeError):
    """A response could not be decoded as the API defines it."""


class KubeInvalidName(KubeError):
    """A namespace or name that must not reach a request path; nothing was sent.

    Permanent: the same input is refused again. ``field`` says which part of the request
    (``namespace``, ``name``), ``value`` is the raw value, ``reason`` why.
    """

    def __init__(self, *, field: str, value: str, reason: str) -> None:
        super().__init__(f"refused {field} {shown(value)}: {reason}")
        self.field = field
        self.value = value
        self.reason = reason


def safe_segment(value: str, *, field: str, kind: NameKind | None = None) -> str:
    """``value`` percent-escaped as one request path segment, or ``KubeInvalidName``.

    Refused: what ``kubeheal.model.names.segment_problem`` refuses (empty, ``.``/``..``,
    ``/?#%``, whitespace, control characters) and, with ``kind``, a value that is not a
    valid name of that kind. HTTP clients resolve ``..`` before sending, so a refused
    segment could otherwise reach another object than the one named.
    """
    problem = segment_problem(value)
    if problem is None and kind is not None:
        problem = name_problem(value, kind)
    if problem is not None:
        raise KubeInvalidName(field=field, value=value, reason=problem)
    return quote(value, safe="")


class KubeApiError(KubeError):
    """The API answered with a failure `Status`."""

    def __init__(self, *, code: int, reason: str, message: str) -> None:
        super().__init__(f"{code} {reason}: {message}")
        self.code = code
        self.reason = reason
        self.message = message


class KubeNotFound(KubeApiError):
    pass


class KubeConflict(KubeApiError):
    pass


class KubeGone(KubeApiError):
    pass


class KubeForbidden(KubeApiError):
    pass


class _Status(msgspec.Struct):
    kind: str = ""
    code: int = 0
    reason: str = ""
    message: str = ""


_STATUS = msgspec.json.Decoder(_Status)
_BY_CODE: dict[int, type[KubeApiError]] = {
    403: KubeForbidden,
    404: KubeNotFound,
    409: KubeConflict,
    410: KubeGone,
}


def error_class(code: int) -> type[KubeApiError]:
    """The KubeApiError subclass for an HTTP status code (4xx)."""
    return _BY_CODE.get(code, KubeApiError)


def error_from_status(code: int, body: bytes) -> KubeError:
    """The exception for a failed response with HTTP `code` and `body`."""
    try:
        status = _STATUS.decode(body) if body else _Status()
    except msgspec.DecodeError:
        status = _Status(message=body[:200].decode("utf-8", "replace"))
    reason = status.reason or "Unknown"
    message = status.message or f"HTTP {code}"
    if code == 429 or code >= 500:
        return KubeUnavailable(f"API server answered {code} {reason}: {message}")
    return _BY_CODE.get(code, KubeApiError)(code=code, reason=reason, message=message)


def retry_after(response: httpx2.Response | None) -> float | None:
    """The Retry-After of a response in seconds, when it gives one as a number."""
    value = response.headers.get("Retry-After") if response is not None else None
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def error_from_response(response: httpx2.Response, body: bytes) -> KubeError:
    """Translate a failed HTTP response (with its already-read body) into a KubeError."""
    err = error_from_status(response.status_code, body)
    if isinstance(err, KubeUnavailable):
        err.retry_after = retry_after(response)
    return err


@dataclass(frozen=True)
class KubeConnection:
    """Where the API server is and how to authenticate, from a kubeconfig or in-cluster."""

    config: SingleConfig
    source: str
    agent: str = "kubeheal"
    """Product name in the User-Agent (``kubeheal/<version>``), so audit logs tell kubeheal's
    components apart (e.g. ``kubeheal-chaos`` for chaos experiments)."""

    def with_agent(self, agent: str) -> KubeConnection:
        """The same connection, identifying itself as ``agent``."""
        return dataclasses.replace(self, agent=agent)

    @classmethod
    def from_kubeconfig(cls, path: Path, *, context: str | None = None) -> KubeConnection:
        try:
            config = KubeConfig.from_file(str(path)).get(context_name=context)
        except (ConfigError, OSError, ValueError, KeyError) as e:
            raise KubeConfigError(f"cannot use kubeconfig {path}: {e}") from e
        if config is None:
            raise KubeConfigError(f"kubeconfig {path} has no usable context")
        return cls(config=config, source=str(path))

    @classmethod
    def in_cluster(cls) -> KubeConnection:
        try:
            config = KubeConfig.from_service_account().get()
        except (ConfigError, OSError) as e:
            raise KubeConfigError(f"not running in a cluster with a service account: {e}") from e
        if config is None:
            raise KubeConfigError("the in-cluster service account gave no configuration")
        return cls(config=config, source="in-cluster")

    @classmethod
    def from_server(cls, url: str) -> KubeConnection:
        """An unauthenticated connection to `url` (the cluster twin, tests)."""
        config = KubeConfig.from_one(cluster=Cluster(server=url), user=User()).get()
        assert config is not None
        return cls(config=config, source=url)

    @property
    def user_agent(self) -> str:
        """What kubeheal's requests say in their User-Agent header."""
        return f"{self.agent}/{__version__}"

    def identify(self, client: httpx2.AsyncClient) -> None:
        """Make ``client`` (e.g. the one inside a lightkube client) send `user_agent`."""
        client.headers["User-Agent"] = self.user_agent

    @property
    def server(self) -> str:
        return str(self.config.cluster.server)

    def http_client(
        self,
        *,
        timeout: float = 30.0,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> httpx2.AsyncClient:
        """An async HTTP client for this server (read timeout `timeout`; watches override)."""
        params = client_adapter.ConnectionParams(
            timeout=httpx2.Timeout(timeout, connect=5.0), trust_env=False
        )
        try:
            kwargs: dict[str, Any] = params.httpx_params(self.config)
        except (ConfigError, OSError, AssertionError) as e:
            raise KubeConfigError(f"cannot build a client for {self.server}: {e}") from e
        if transport is not None:
            kwargs["transport"] = transport
        agent = self.user_agent

        async def identify(request: httpx2.Request) -> None:
            # A hook rather than default headers: requests built by hand (watches, patches)
            # are sent without the client's defaults being merged in.
            request.headers["User-Agent"] = agent

        return httpx2.AsyncClient(event_hooks={"request": [identify]}, **kwargs)

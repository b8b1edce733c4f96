"""What the simulated kubelet keeps per pod and per container between ticks: the back-off
(client-go `flowcontrol.Backoff`), probe counters, the container and pod records, and how
probes and image pulls read and report (targets, failure messages, pull policy).

Plain data and pure helpers: the kubelet (`kubeheal.twin.sim.kubelet`) drives them.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "BACKOFF_INITIAL",
    "BACKOFF_MAX",
    "Backoff",
    "ContainerState",
    "PodState",
    "ProbeState",
    "fake_hex",
    "go_duration",
    "probe_failure_message",
    "probe_target",
    "pull_policy",
]

Obj = dict[str, Any]

BACKOFF_INITIAL = 10.0
BACKOFF_MAX = 300.0


def fake_hex(*parts: object) -> str:
    return hashlib.sha256("/".join(str(p) for p in parts).encode()).hexdigest()


def pull_policy(container: Mapping[str, Any]) -> str:
    policy = container.get("imagePullPolicy")
    if policy:
        return str(policy)
    image = str(container.get("image", ""))
    ref = image.split("@", 1)[0]
    tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
    return "Always" if tag == "latest" and "@" not in image else "IfNotPresent"


def go_duration(s: float) -> str:
    if s >= 60 and s % 60 == 0:
        return f"{int(s // 60)}m0s"
    if s >= 60:
        return f"{int(s // 60)}m{s % 60:g}s"
    return f"{s:g}s"


@dataclass
class Backoff:
    """The kubelet's per-container back-off (client-go flowcontrol.Backoff semantics)."""

    delay: float = 0.0
    last_update: float | None = None

    def expired(self, event_time: float) -> bool:
        return self.last_update is None or event_time - self.last_update > 2 * BACKOFF_MAX

    def in_backoff_since(self, event_time: float, now: float) -> bool:
        if self.expired(event_time):
            return False
        return now - event_time < self.delay

    def next(self, event_time: float, now: float) -> None:
        if self.expired(event_time):
            self.delay = BACKOFF_INITIAL
        else:
            self.delay = min(self.delay * 2, BACKOFF_MAX)
        self.last_update = now


@dataclass
class ProbeState:
    kind: str
    spec: Obj
    next_at: float = 0.0
    successes: int = 0
    failures: int = 0

    @property
    def period(self) -> float:
        return float(self.spec.get("periodSeconds") or 10)

    @property
    def failure_threshold(self) -> int:
        return int(self.spec.get("failureThreshold") or 3)

    @property
    def success_threshold(self) -> int:
        return int(self.spec.get("successThreshold") or 1)

    @property
    def initial_delay(self) -> float:
        return float(self.spec.get("initialDelaySeconds") or 0)


@dataclass
class ContainerState:
    name: str
    init: bool
    spec: Obj
    state: str = "waiting"  # waiting | running | terminated
    reason: str = "ContainerCreating"
    message: str | None = None
    pulling_until: float | None = None
    pull_fails: bool = False
    pull_started: float = 0.0
    image_backoff: Backoff = field(default_factory=Backoff)
    image_retry_at: float | None = None
    crash_backoff: Backoff = field(default_factory=Backoff)
    backoff_event_for: float | None = None
    started_at: float | None = None
    finished_at: float | None = None
    restart_count: int = 0
    ran_before: bool = False
    current_term: Obj | None = None
    last_term: Obj | None = None
    ready: bool = False
    started: bool = False
    done: bool = False
    container_id: str = ""
    image_id: str = ""
    crash_at: float | None = None
    exit_at: float | None = None
    probes: dict[str, ProbeState] = field(default_factory=dict)

    @property
    def image(self) -> str:
        return str(self.spec.get("image", ""))


@dataclass
class PodState:
    uid: str
    namespace: str
    name: str
    node: str
    ip: str
    host_ip: str
    start_time: float
    init: list[ContainerState]
    main: list[ContainerState]
    phase: str = "Pending"
    evicted_message: str | None = None
    terminal: bool = False
    stopping: bool = False


def probe_target(probe: Mapping[str, Any], container: Mapping[str, Any], ip: str) -> str:
    def port_of(value: object) -> str:
        if isinstance(value, str) and not value.isdigit():
            for port in container.get("ports") or ():
                if port.get("name") == value:
                    return str(port.get("containerPort"))
        return str(value)

    if "httpGet" in probe:
        http = probe["httpGet"] or {}
        scheme = str(http.get("scheme") or "HTTP").lower()
        host = http.get("host") or ip
        path = http.get("path") or "/"
        return f"{scheme}://{host}:{port_of(http.get('port', 80))}{path}"
    if "tcpSocket" in probe:
        tcp = probe["tcpSocket"] or {}
        return f"{tcp.get('host') or ip}:{port_of(tcp.get('port', 80))}"
    if "grpc" in probe:
        return f"{ip}:{(probe['grpc'] or {}).get('port', 0)}"
    return ""


def probe_failure_message(
    probe: Mapping[str, Any], container: Mapping[str, Any], ip: str, *, timeout: bool
) -> str:
    target = probe_target(probe, container, ip)
    if "httpGet" in probe:
        if timeout:
            return (
                f'Get "{target}": context deadline exceeded '
                "(Client.Timeout exceeded while awaiting headers)"
            )
        hostport = target.split("://", 1)[1].split("/", 1)[0]
        return f'Get "{target}": dial tcp {hostport}: connect: connection refused'
    if "tcpSocket" in probe:
        return f"dial tcp {target}: " + (
            "i/o timeout" if timeout else "connect: connection refused"
        )
    if "grpc" in probe:
        seconds = probe.get("timeoutSeconds") or 1
        return f'timeout: failed to connect service "{target}" within {seconds}s'
    command = ((probe.get("exec") or {}).get("command")) or []
    text = shlex.join(str(c) for c in command)
    if timeout:
        return f'command "{text}" timed out'
    return f'command "{text}" exited with 1'

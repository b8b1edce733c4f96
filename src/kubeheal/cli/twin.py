"""`kubeheal twin ...`: run the cluster twin, and inject faults into a running one.

* `kubeheal twin serve --port P --scenario NAME --kubeconfig-out FILE [--speed N] [--seed S]`
* `kubeheal twin fault --server URL KIND [-n NS] [--deployment D | --pod P | -l k=v] [--container C]
  [--node N] [--service S] [-p k=v ...] [--duration S]` (pod/node/workload faults), and
  `kubeheal twin fault --list` (the kinds; with `--server URL`, the active faults) /
  `kubeheal twin fault --server URL --clear ID|all`
* `kubeheal twin api-fault --server URL [--error-rate R] [--throttle-rate R] [--latency S]
  [--drop-watches] [--compact] [--reset]` (faults of the API itself)

The fault commands talk to the twin's HTTP control endpoints under `/twin/` with the standard
library's HTTP client (the twin is local and plain HTTP).
"""

from __future__ import annotations

import contextlib
import json
import logging
import urllib.error
import urllib.request
from typing import Annotated, Any

import typer

__all__ = ["twin_app"]

twin_app = typer.Typer(
    name="twin",
    help="The cluster twin: a simulated Kubernetes cluster speaking the real API.",
    no_args_is_help=True,
)


class ControlError(Exception):
    """A control endpoint of the twin answered an error or could not be reached."""


def _call(server: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        server.rstrip("/") + path,
        data=data,
        method=method,
        headers={"Content-Type": "application/json", "Accept": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read() or b"null")
    except urllib.error.HTTPError as e:
        detail = e.read().decode(errors="replace")
        with contextlib.suppress(ValueError, AttributeError):
            detail = json.loads(detail).get("message", detail)
        raise ControlError(f"{method} {path}: HTTP {e.code}: {detail}") from e
    except urllib.error.URLError as e:
        raise ControlError(f"cannot reach the twin at {server}: {e.reason}") from e


def _echo_json(value: Any) -> None:
    typer.echo(json.dumps(value, indent=2, sort_keys=True))


def _parse_params(params: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for item in params:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--param expects key=value, got {item!r}")
        try:
            out[key] = json.loads(value)
        except ValueError:
            out[key] = value
    return out


@twin_app.command()
def serve(
    *,
    port: int = typer.Option(6443, help="Port on 127.0.0.1 (0 picks a free one)."),
    scenario: str | None = typer.Option(None, help="Scenario to load (sample-app, bookinfo)."),
    kubeconfig_out: str | None = typer.Option(
        None, "--kubeconfig-out", help="Write a kubeconfig for kubectl/clients here."
    ),
    speed: float = typer.Option(1.0, help="Simulated seconds per wall second."),
    seed: int = typer.Option(0, help="Seed of every random choice (deterministic runs)."),
    tick: float = typer.Option(0.1, help="Wall seconds between simulation steps."),
    bookmark_interval: float = typer.Option(60.0, help="Seconds between watch BOOKMARKs."),
) -> None:
    """Serve the cluster twin's Kubernetes API on 127.0.0.1 until interrupted."""
    from kubeheal.twin.api import ApiOptions
    from kubeheal.twin.clock import WallClock
    from kubeheal.twin.cluster import build_twin
    from kubeheal.twin.server import ServerError, run_server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    try:
        twin = build_twin(scenario=scenario, clock=WallClock(speed=speed), seed=seed)
    except (ValueError, LookupError) as e:
        raise typer.BadParameter(str(e), param_hint="--scenario") from e
    try:
        run_server(
            twin,
            port=port,
            kubeconfig_out=kubeconfig_out,
            options=ApiOptions(bookmark_interval=bookmark_interval),
            tick=tick,
        )
    except ServerError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e
    except KeyboardInterrupt:
        pass


@twin_app.command()
def fault(
    *,
    kind: str | None = typer.Argument(
        None,
        help="Fault kind: crash-on-start, image-pull-error, memory-leak, cpu-hog, latency-spike,"
        " error-burst, hang, pod-kill, node-memory-pressure, node-disk-pressure, node-not-ready,"
        " traffic-spike.",
    ),
    server: str | None = typer.Option(
        None,
        help="Base URL of the twin, e.g. http://127.0.0.1:6443 (needed for all but --list).",
    ),
    namespace: str = typer.Option("default", "--namespace", "-n"),
    deployment: str | None = typer.Option(None, help="Target deployment."),
    pod: str | None = typer.Option(None, help="Target pod."),
    selector: str | None = typer.Option(
        None, "--selector", "-l", help="Target pods by labels: k=v[,k=v...]."
    ),
    container: str | None = typer.Option(None, help="Only this container of the pods."),
    node: str | None = typer.Option(None, help="Target node (node faults)."),
    service: str | None = typer.Option(None, help="Target service (traffic faults)."),
    param: Annotated[
        list[str] | None, typer.Option("--param", "-p", help="Fault parameter key=value.")
    ] = None,
    duration: float | None = typer.Option(None, help="Seconds until the fault clears."),
    list_: bool = typer.Option(
        False, "--list", help="List the fault kinds; with --server, the twin's active faults."
    ),
    clear: str | None = typer.Option(None, help="Clear a fault by id, or 'all'."),
) -> None:
    """Inject a pod/node/workload fault into a running twin (or list / clear faults)."""
    if list_ and server is None:
        # the kinds are the twin's own catalogue: no server to ask
        from kubeheal.twin.sim.faults import FAULT_KINDS

        for known in FAULT_KINDS:
            typer.echo(known)
        return
    if server is None:
        raise typer.BadParameter("--server URL is required (all but --list need a twin)")
    try:
        if list_:
            _echo_json(_call(server, "GET", "/twin/faults"))
            return
        if clear:
            path = "/twin/faults" if clear == "all" else f"/twin/faults/{clear}"
            _echo_json(_call(server, "DELETE", path))
            return
        if not kind:
            raise typer.BadParameter("a fault KIND is required (or --list / --clear)")
        target: dict[str, Any] = {"namespace": namespace}
        for key, value in (
            ("deployment", deployment),
            ("pod", pod),
            ("container", container),
            ("node", node),
            ("service", service),
        ):
            if value:
                target[key] = value
        if selector:
            target["labels"] = _parse_labels(selector)
        spec: dict[str, Any] = {
            "kind": kind,
            "target": target,
            "params": _parse_params(param or []),
        }
        if duration is not None:
            spec["duration"] = duration
        _echo_json(_call(server, "POST", "/twin/faults", spec))
    except ControlError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e


def _parse_labels(text: str) -> dict[str, str]:
    labels: dict[str, str] = {}
    for part in text.split(","):
        key, sep, value = part.strip().partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--selector expects k=v[,k=v...], got {text!r}")
        labels[key] = value
    return labels


@twin_app.command("api-fault")
def api_fault(
    *,
    server: str = typer.Option(..., help="Base URL of the twin, e.g. http://127.0.0.1:6443."),
    error_rate: float | None = typer.Option(None, help="Share of requests answered 500/503."),
    error_code: Annotated[
        list[int] | None, typer.Option(help="5xx codes to use (500, 503).")
    ] = None,
    throttle_rate: float | None = typer.Option(None, help="Share of requests answered 429."),
    latency: float | None = typer.Option(None, help="Seconds added to every request."),
    jitter: float | None = typer.Option(None, help="Uniform random extra latency (seconds)."),
    retry_after: int | None = typer.Option(None, help="Retry-After seconds on 503/429."),
    drop_watches: bool = typer.Option(False, help="Close every open watch now."),
    compact: bool = typer.Option(False, help="Compact the watch history now (410 for older)."),
    reset: bool = typer.Option(False, help="Remove every API fault."),
) -> None:
    """Make the twin's API itself misbehave (errors, throttling, latency, lost watches)."""
    try:
        if reset:
            _echo_json(_call(server, "DELETE", "/twin/faults/api"))
        settings: dict[str, Any] = {}
        if error_rate is not None:
            settings["error_rate"] = error_rate
        if error_code:
            settings["error_codes"] = error_code
        if throttle_rate is not None:
            settings["throttle_rate"] = throttle_rate
        if latency is not None:
            settings["latency_seconds"] = latency
        if jitter is not None:
            settings["latency_jitter_seconds"] = jitter
        if retry_after is not None:
            settings["retry_after_seconds"] = retry_after
        if settings:
            current = _call(server, "GET", "/twin/faults/api")["settings"]
            current.update(settings)
            _echo_json(_call(server, "POST", "/twin/faults/api", current))
        if drop_watches:
            _echo_json(_call(server, "POST", "/twin/faults/api/drop-watches"))
        if compact:
            _echo_json(_call(server, "POST", "/twin/faults/api/compact"))
        if not (settings or drop_watches or compact or reset):
            _echo_json(_call(server, "GET", "/twin/faults/api"))
    except ControlError as e:
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(1) from e

"""The simulated kubelet: runs the pods bound to each node and reports their status.

For every pod with ``spec.nodeName`` on a node whose kubelet runs (`NodeRuntime.ready`):

* admission: pod IP from the node's podCIDR, hostIP, startTime, QoS class;
* init containers one after the other, then the containers: image pull (``Pulling`` /
  ``Pulled``, or ``ErrImagePull`` then ``ImagePullBackOff`` for images no registry has),
  ``Created``/``Started``, running; a crashing image exits with code 1 after its profile's
  ``crash_after_seconds``;
* restarts per ``restartPolicy`` with the kubelet's back-off: the first restart is
  immediate, then 10 s doubling to 300 s (``CrashLoopBackOff``), reset once a container ran
  10 minutes; ``restartCount`` counts the restarts, ``lastState.terminated`` keeps the
  previous instance;
* startup, liveness and readiness probes from the pod spec (initialDelaySeconds,
  periodSeconds, successThreshold, failureThreshold); a probe succeeds iff the simulated app is
  healthy (started after its profile's ``startup_seconds``, not hung by a fault); liveness and
  startup failures kill and restart the container (``Unhealthy``, ``Killing``);
* OOM kills when a container's working set exceeds its memory limit (reason ``OOMKilled``,
  exit code 137, ``SystemOOM`` event on the node);
* the eviction manager: while a node is under memory (or disk) pressure, every 10 s it evicts
  one pod, ranked as the documentation says (usage above requests first, then priority, then
  usage above requests), leaving it ``Failed`` with reason ``Evicted``;
* pod conditions (PodReadyToStartContainers, Initialized, Ready, ContainersReady,
  PodScheduled) with lastTransitionTime, phase (Pending, Running, Succeeded, Failed).

Status is written (status subresource) only when it changed. Pods removed from the store lose
their runtime state. `read_logs` serves `kubectl logs [--previous]`. What the kubelet keeps per
pod and container between ticks (back-off, probe counters) is `kubeheal.twin.sim.kubelet_state`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from kubeheal.twin.clock import format_time
from kubeheal.twin.errors import ApiError, BadRequest, NotFound
from kubeheal.twin.sim.kubelet_state import (
    BACKOFF_INITIAL,
    BACKOFF_MAX,
    ContainerState,
    PodState,
    ProbeState,
    fake_hex,
    go_duration,
    probe_failure_message,
    pull_policy,
)
from kubeheal.twin.sim.nodes import (
    NodeConfig,
    disk_pressure_observed,
    memory_pressure_observed,
    memory_threshold,
    node_ip,
)
from kubeheal.twin.sim.objects import qos_class
from kubeheal.twin.sim.profiles import (
    Profile,
    ProfileRegistry,
    container_limits,
    container_requests,
    image_missing,
)
from kubeheal.twin.sim.state import ContainerRuntime, PodRuntime, RuntimeState
from kubeheal.twin.sim.workloads import ObjectCache, append_log
from kubeheal.twin.store import ObjectStore

__all__ = ["BACKOFF_INITIAL", "BACKOFF_MAX", "Kubelet", "read_logs"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]

_CRITICAL_PRIORITY = 2_000_000_000


# --------------------------------------------------------------------------- the kubelet


class Kubelet:
    """Pod lifecycle, probes, OOM kills and pressure evictions for every node (see module)."""

    name = "kubelet"

    def __init__(
        self,
        *,
        store: ObjectStore,
        runtime: RuntimeState,
        profiles: ProfileRegistry,
        config: NodeConfig | None = None,
        seed: int = 0,
    ) -> None:
        self.store = store
        self.runtime = runtime
        self.profiles = profiles
        self.config = config or NodeConfig()
        self.seed = seed
        self._pods_cache = ObjectCache(store, "", "v1", "pods")
        self._nodes_cache = ObjectCache(store, "", "v1", "nodes")
        self._pod_rt = store.rtype("", "v1", "pods")
        self._pods: dict[str, PodState] = {}
        self._images: dict[str, set[str]] = {}
        self._next_ip: dict[str, int] = {}
        self._last_eviction_check: dict[str, float] = {}

    # ----------------------------------------------------------------- tick

    def step(self, now: float) -> None:
        nodes = {n["metadata"]["name"]: n for n in self._nodes_cache.all()}
        seen: set[str] = set()
        pods_now: dict[str, Obj] = {}
        for pod in self._pods_cache.all():
            uid = pod["metadata"]["uid"]
            pods_now[uid] = pod
            node_name = (pod.get("spec") or {}).get("nodeName")
            if not node_name or node_name not in nodes:
                continue
            nrt = self.runtime.nodes.get(node_name)
            if nrt is None:
                continue
            seen.add(uid)
            if not nrt.ready:
                continue  # the kubelet is stopped: nothing on this node changes
            try:
                self._sync_pod(pod, nodes[node_name], now)
            except ApiError as e:
                log.warning("kubelet: pod %s: %s", pod["metadata"].get("name"), e)
        for uid in [u for u in self._pods if u not in seen]:
            del self._pods[uid]
        for uid in [u for u in self.runtime.pods if u not in pods_now]:
            del self.runtime.pods[uid]
        for node_name, node in nodes.items():
            nrt = self.runtime.nodes.get(node_name)
            if nrt is not None and nrt.ready:
                self._eviction_manager(node, now)

    # ----------------------------------------------------------------- admission

    def _admit(self, pod: Obj, node: Obj, now: float) -> PodState:
        meta = pod["metadata"]
        spec = pod.get("spec") or {}
        node_name = node["metadata"]["name"]
        cidr = str((node.get("spec") or {}).get("podCIDR") or "10.244.0.0/24")
        prefix = ".".join(cidr.split("/", 1)[0].split(".")[:3])
        n = self._next_ip.get(node_name, 1) + 1
        if n > 254:
            n = 2
        self._next_ip[node_name] = n
        status = pod.get("status") or {}
        state = PodState(
            uid=meta["uid"],
            namespace=meta.get("namespace", "default"),
            name=meta["name"],
            node=node_name,
            ip=str(status.get("podIP") or f"{prefix}.{n}"),
            host_ip=node_ip(node),
            start_time=now,
            init=[
                ContainerState(str(c.get("name")), True, c)
                for c in spec.get("initContainers") or ()
            ],
            main=[
                ContainerState(str(c.get("name")), False, c) for c in spec.get("containers") or ()
            ],
        )
        if state.init:
            for c in state.main:
                c.reason = "PodInitializing"
        self._pods[state.uid] = state
        self.runtime.pods[state.uid] = PodRuntime(
            uid=state.uid, namespace=state.namespace, name=state.name, node=node_name
        )
        return state

    # ----------------------------------------------------------------- sync

    def _sync_pod(self, pod: Obj, node: Obj, now: float) -> None:
        uid = pod["metadata"]["uid"]
        st = self._pods.get(uid)
        if st is None:
            phase = (pod.get("status") or {}).get("phase")
            if phase in ("Succeeded", "Failed"):
                return  # finished before this kubelet knew it (e.g. evicted earlier)
            st = self._admit(pod, node, now)
        spec = pod.get("spec") or {}
        specs = {str(c.get("name")): c for c in spec.get("containers") or ()}
        for c in st.main:
            if c.name in specs:
                c.spec = specs[c.name]
        if pod["metadata"].get("deletionTimestamp") and not st.stopping:
            st.stopping = True
            for c in [*st.init, *st.main]:
                if c.state == "running":
                    self._event(pod, "Killing", f"Stopping container {c.name}")
                    self._terminate(st, pod, c, now, exit_code=0, reason="Completed", final=True)
                c.done = True
        if not st.terminal and not st.stopping:
            self._run_containers(st, pod, node, now)
        self._write_status(st, pod, now)

    def _run_containers(self, st: PodState, pod: Obj, node: Obj, now: float) -> None:
        policy = str((pod.get("spec") or {}).get("restartPolicy") or "Always")
        for c in st.init:
            if c.done and c.current_term and c.current_term.get("exitCode") == 0:
                continue
            self._sync_container(
                st, pod, c, node=node, now=now, policy="OnFailure" if policy == "Always" else policy
            )
            if not (c.done and c.current_term and c.current_term.get("exitCode") == 0):
                if c.done:  # an init container failed for good: the pod fails
                    st.terminal = True
                    st.phase = "Failed"
                return
        for c in st.main:
            self._sync_container(st, pod, c, node=node, now=now, policy=policy)
        if all(c.done for c in st.main) and st.main:
            st.terminal = True
            codes = [int((c.current_term or {}).get("exitCode", 1)) for c in st.main]
            st.phase = "Succeeded" if all(code == 0 for code in codes) else "Failed"

    def _sync_container(
        self, st: PodState, pod: Obj, c: ContainerState, *, node: Obj, now: float, policy: str
    ) -> None:
        if c.done:
            return
        profile = self.profiles.for_container(pod, c.name)
        if c.state == "running":
            self._check_running(st, pod, c, profile=profile, now=now, policy=policy)
            return
        if c.state == "terminated" and c.current_term is not None:
            finished = c.finished_at or now
            if c.crash_backoff.in_backoff_since(finished, now):
                message = (
                    f"back-off {go_duration(c.crash_backoff.delay)} restarting failed "
                    f"container={c.name} pod={st.name}_{st.namespace}({st.uid})"
                )
                c.last_term, c.current_term = c.current_term, None
                c.state, c.reason, c.message = "waiting", "CrashLoopBackOff", message
                self._backoff_event(pod, st, c, finished)
                return
            c.crash_backoff.next(finished, now)
            c.last_term, c.current_term = c.current_term, None
            c.state, c.reason, c.message = "waiting", "ContainerCreating", None
        elif c.state == "waiting" and c.reason == "CrashLoopBackOff":
            finished = c.finished_at or now
            if c.crash_backoff.in_backoff_since(finished, now):
                return
            c.crash_backoff.next(finished, now)
            c.reason, c.message = "ContainerCreating", None
        elif c.state == "waiting" and c.reason == "ErrImageNeverPull":
            return
        self._try_start(st, pod, c, profile=profile, now=now)

    def _backoff_event(self, pod: Obj, st: PodState, c: ContainerState, finished: float) -> None:
        if c.backoff_event_for == finished:
            return
        c.backoff_event_for = finished
        self._event(
            pod,
            "BackOff",
            f"Back-off restarting failed container {c.name} in pod "
            f"{st.name}_{st.namespace}({st.uid})",
            type_="Warning",
        )

    # image pull and start

    def _try_start(
        self, st: PodState, pod: Obj, c: ContainerState, *, profile: Profile, now: float
    ) -> None:
        image = c.image
        node_images = self._images.setdefault(st.node, set())
        effects = self.profiles.effects(pod, c.name)
        if c.pulling_until is None:
            if c.image_retry_at is not None and now < c.image_retry_at:
                if c.reason != "ImagePullBackOff":
                    c.reason, c.message = "ImagePullBackOff", f'Back-off pulling image "{image}"'
                    self._event(pod, "BackOff", f'Back-off pulling image "{image}"')
                    self._event(pod, "Failed", "Error: ImagePullBackOff", type_="Warning")
                return
            missing = image_missing(image) or effects.image_missing
            policy = pull_policy(c.spec)
            if not missing and policy != "Always" and image in node_images:
                self._event(pod, "Pulled", f'Container image "{image}" already present on machine')
                self._start(st, pod, c, profile, now)
                return
            if policy == "Never" and image not in node_images:
                c.reason = "ErrImageNeverPull"
                c.message = f'Container image "{image}" is not present with pull policy of Never'
                self._event(pod, "Failed", "Error: ErrImageNeverPull", type_="Warning")
                return
            self._event(pod, "Pulling", f'Pulling image "{image}"')
            c.pulling_until = now + profile.image_pull_seconds
            c.pull_fails = missing
            c.pull_started = now
        if now < c.pulling_until:
            return
        c.pulling_until = None
        if c.pull_fails:
            ref = image.split("@", 1)[0]
            detail = (
                f"rpc error: code = NotFound desc = failed to pull and unpack image "
                f'"{image}": failed to resolve reference "{image}": {ref}: not found'
            )
            self._event(pod, "Failed", f'Failed to pull image "{image}": {detail}', type_="Warning")
            self._event(pod, "Failed", "Error: ErrImagePull", type_="Warning")
            c.reason, c.message = "ErrImagePull", detail
            c.image_backoff.next(now, now)
            c.image_retry_at = now + c.image_backoff.delay
            return
        took = max(0.0, now - c.pull_started)
        size = int(profile.image_size_bytes)
        self._event(
            pod,
            "Pulled",
            f'Successfully pulled image "{image}" in {took:.3g}s ({took:.3g}s including '
            f"waiting). Image size: {size} bytes.",
        )
        node_images.add(image)
        c.image_retry_at = None
        self._start(st, pod, c, profile, now)

    def _start(
        self, st: PodState, pod: Obj, c: ContainerState, profile: Profile, now: float
    ) -> None:
        effects = self.profiles.effects(pod, c.name)
        if c.ran_before:
            c.restart_count += 1
        c.ran_before = True
        c.state, c.reason, c.message = "running", "", None
        c.started_at = now
        c.finished_at = None
        c.container_id = "containerd://" + fake_hex(self.seed, st.uid, c.name, c.restart_count, now)
        repo = c.image.split("@", 1)[0].rsplit(":", 1)[0] if ":" in c.image else c.image
        c.image_id = f"{repo}@sha256:{fake_hex('image', c.image)}"
        c.ready = False
        c.started = "startupProbe" not in c.spec or c.init
        c.crash_at = (
            now + profile.crash_after_seconds
            if profile.crashes_with(c.image) or effects.crash_on_start
            else None
        )
        run = profile.run_seconds
        if run is None and c.init:
            run = 1.0
        c.exit_at = now + run if run is not None else None
        c.probes = {}
        if not c.init:
            for kind in ("startupProbe", "livenessProbe", "readinessProbe"):
                spec = c.spec.get(kind)
                if isinstance(spec, Mapping):
                    probe = ProbeState(kind, dict(spec))
                    probe.next_at = now + probe.initial_delay
                    c.probes[kind] = probe
        self._event(pod, "Created", f"Created container {c.name}")
        self._event(pod, "Started", f"Started container {c.name}")
        prt = self.runtime.pods[st.uid]
        old = prt.containers.get(c.name)
        crt = ContainerRuntime(name=c.name, started_at=now, restart_count=c.restart_count)
        if old is not None:
            crt.previous_logs = old.logs
        prt.containers[c.name] = crt
        if c.crash_at is None:
            append_log(crt, now, profile.logs.start, image=c.image, name=c.name)

    # a running container

    def _check_running(
        self,
        st: PodState,
        pod: Obj,
        c: ContainerState,
        *,
        profile: Profile,
        now: float,
        policy: str,
    ) -> None:
        crt = self.runtime.pods[st.uid].containers.get(c.name)
        if c.crash_at is not None and now >= c.crash_at:
            if crt is not None:
                append_log(crt, now, profile.logs.crash, image=c.image, name=c.name)
            self._terminate(st, pod, c, now, exit_code=1, reason="Error", policy=policy)
            return
        if c.exit_at is not None and now >= c.exit_at:
            code = 0 if c.init else profile.exit_code
            self._terminate(
                st, pod, c, now, exit_code=code, reason="Completed" if code == 0 else "Error",
                policy=policy,
            )  # fmt: skip
            return
        _, mem_limit = container_limits(c.spec)
        if crt is not None and mem_limit and crt.memory_working_set_bytes > mem_limit:
            crt.memory_working_set_bytes = mem_limit
            append_log(crt, now, profile.logs.oom, image=c.image, name=c.name)
            node = {"metadata": {"name": st.node, "uid": ""}, "kind": "Node", "apiVersion": "v1"}
            found = self.store.find(self.store.rtype("", "v1", "nodes"), None, st.node)
            pid = int(fake_hex("pid", st.uid, c.name, c.restart_count)[:4], 16) + 1000
            self.store.record_event(
                found or node,
                reason="SystemOOM",
                message=f"System OOM encountered, victim process: {c.name}, pid: {pid}",
                type_="Warning",
                component="kubelet",
            )
            self._terminate(st, pod, c, now, exit_code=137, reason="OOMKilled", policy=policy)
            return
        if not c.init:
            self._probe(st, pod, c, profile=profile, now=now, policy=policy)

    def _app_health(self, pod: Obj, c: ContainerState, profile: Profile, now: float) -> str:
        """'ok', 'refused' (not listening yet) or 'timeout' (hung)."""
        up = now - (c.started_at or now)
        if up < profile.startup_seconds:
            return "refused"
        effects = self.profiles.effects(pod, c.name)
        if effects.hang_after_seconds is not None and up >= effects.hang_after_seconds:
            return "timeout"
        return "ok"

    def _probe(
        self,
        st: PodState,
        pod: Obj,
        c: ContainerState,
        *,
        profile: Profile,
        now: float,
        policy: str,
    ) -> None:
        order = ["startupProbe"] if not c.started else ["livenessProbe", "readinessProbe"]
        for kind in order:
            probe = c.probes.get(kind)
            if probe is None or now < probe.next_at:
                continue
            probe.next_at = max(probe.next_at + probe.period, now)
            if probe.next_at <= now:
                probe.next_at = now + probe.period
            health = self._app_health(pod, c, profile, now)
            label = {"startupProbe": "Startup", "livenessProbe": "Liveness"}.get(kind, "Readiness")
            if health == "ok":
                probe.failures = 0
                probe.successes += 1
                if kind == "startupProbe" and probe.successes >= probe.success_threshold:
                    c.started = True
                    for other in ("livenessProbe", "readinessProbe"):
                        if other in c.probes:
                            later = c.probes[other]
                            later.next_at = max(later.next_at, now)
                if kind == "readinessProbe" and probe.successes >= probe.success_threshold:
                    c.ready = True
                continue
            probe.successes = 0
            probe.failures += 1
            message = probe_failure_message(
                probe.spec, c.spec, st.ip, timeout=(health == "timeout")
            )
            self._event(pod, "Unhealthy", f"{label} probe failed: {message}", type_="Warning")
            if probe.failures < probe.failure_threshold:
                continue
            if kind == "readinessProbe":
                c.ready = False
                continue
            what = "startup" if kind == "startupProbe" else "liveness"
            self._event(
                pod, "Killing", f"Container {c.name} failed {what} probe, will be restarted"
            )
            code = 137 if health == "timeout" else 143
            crt = self.runtime.pods[st.uid].containers.get(c.name)
            if crt is not None and health != "timeout":
                append_log(crt, now, profile.logs.shutdown, image=c.image, name=c.name)
            self._terminate(st, pod, c, now, exit_code=code, reason="Error", policy=policy)
            return
        if c.started and "readinessProbe" not in c.probes:
            c.ready = True

    def _terminate(
        self,
        st: PodState,
        pod: Obj,
        c: ContainerState,
        now: float,
        *,
        exit_code: int,
        reason: str,
        policy: str = "Always",
        final: bool = False,
    ) -> None:
        c.state = "terminated"
        c.current_term = {
            "exitCode": exit_code,
            "reason": reason,
            "startedAt": format_time(c.started_at or now),
            "finishedAt": format_time(now),
            "containerID": c.container_id,
        }
        c.finished_at = now
        c.ready = c.started = False
        c.crash_at = c.exit_at = None
        c.probes = {}
        crt = self.runtime.pods[st.uid].containers.get(c.name)
        if crt is not None:
            crt.started_at = None
            crt.cpu_cores = 0.0
        restart = policy == "Always" or (policy == "OnFailure" and exit_code != 0)
        if final or not restart:
            c.done = True

    # ----------------------------------------------------------------- eviction manager

    def _eviction_manager(self, node: Obj, now: float) -> None:
        name = node["metadata"]["name"]
        last = self._last_eviction_check.get(name)
        if last is not None and now - last < self.config.eviction_monitoring_seconds:
            return
        self._last_eviction_check[name] = now
        nrt = self.runtime.nodes[name]
        threshold = memory_threshold(node, self.config)
        if memory_pressure_observed(nrt, threshold):
            resource = "memory"
        elif disk_pressure_observed(nrt, self.config):
            resource = "ephemeral-storage"
        else:
            return
        candidates: list[tuple[tuple[int, int, float], PodState, Obj, str]] = []
        for st in self._pods.values():
            if st.node != name or st.terminal or st.stopping:
                continue
            pod = self.store.find(self._pod_rt, st.namespace, st.name)
            if pod is None:
                continue
            priority = int((pod.get("spec") or {}).get("priority") or 0)
            if priority >= _CRITICAL_PRIORITY:
                continue
            prt = self.runtime.pods.get(st.uid)
            usage, request, detail = 0, 0, ""
            worst = -(2**62)
            for cspec in (pod.get("spec") or {}).get("containers") or ():
                cname = str(cspec.get("name"))
                crt = prt.containers.get(cname) if prt else None
                running = crt is not None and crt.started_at is not None
                if resource == "memory":
                    used = crt.memory_working_set_bytes if crt and running else 0
                    req = container_requests(cspec)[1]
                else:
                    used = crt.fs_usage_bytes if crt and running else 0
                    eph = ((cspec.get("resources") or {}).get("requests") or {}).get(
                        "ephemeral-storage"
                    )
                    req = _bytes(eph)
                usage += used
                request += req
                if used - req > worst:
                    worst = used - req
                    detail = (
                        f"Container {cname} was using {used // 1024}Ki, request is "
                        f"{_req_text(req)}, has larger consumption of {resource}. "
                    )
            exceeds = usage > request
            key = (0 if exceeds else 1, priority, -float(usage - request))
            candidates.append((key, st, pod, detail))
        if not candidates:
            return
        candidates.sort(key=lambda item: (item[0], item[1].namespace, item[1].name))
        _, victim, pod, detail = candidates[0]
        if resource == "memory":
            threshold_text = _quantity_text(threshold)
            available = f"{nrt.memory_available_bytes // 1024}Ki"
        else:
            threshold_text = f"{self.config.eviction_hard_nodefs_fraction:.0%}"
            available = f"{nrt.fs_avail_bytes // 1024}Ki"
        message = (
            f"The node was low on resource: {resource}. Threshold quantity: {threshold_text}, "
            f"available: {available}. {detail}"
        )
        self.store.record_event(
            node,
            reason="EvictionThresholdMet",
            message=f"Attempting to reclaim {resource}",
            type_="Warning",
        )
        self._evict(victim, pod, now, message, resource)

    def _evict(self, st: PodState, pod: Obj, now: float, message: str, resource: str) -> None:
        self._event(pod, "Evicted", message, type_="Warning")
        for c in [*st.init, *st.main]:
            if c.state == "running":
                self._event(pod, "Killing", f"Stopping container {c.name}")
                self._terminate(st, pod, c, now, exit_code=137, reason="Error", final=True)
            c.done = True
        st.terminal = True
        st.phase = "Failed"
        st.evicted_message = message
        self._write_status(st, pod, now, disruption=f"The node was low on resource: {resource}.")

    # ----------------------------------------------------------------- status

    def _container_status(self, c: ContainerState) -> Obj:
        if c.state == "running":
            state: Obj = {"running": {"startedAt": format_time(c.started_at or 0)}}
        elif c.state == "terminated" and c.current_term is not None:
            state = {"terminated": dict(c.current_term)}
        else:
            waiting: Obj = {"reason": c.reason or "ContainerCreating"}
            if c.message:
                waiting["message"] = c.message
            state = {"waiting": waiting}
        status: Obj = {
            "name": c.name,
            "image": c.image,
            "imageID": c.image_id,
            "ready": c.ready,
            "restartCount": c.restart_count,
            "started": c.state == "running" and c.started,
            "state": state,
            "lastState": {"terminated": dict(c.last_term)} if c.last_term else {},
        }
        if c.container_id:
            status["containerID"] = c.container_id
        return status

    def _write_status(
        self, st: PodState, pod: Obj, now: float, *, disruption: str | None = None
    ) -> None:
        old = pod.get("status") or {}
        new = dict(old)
        stamp = format_time(now)
        old_conditions = {c.get("type"): c for c in old.get("conditions") or ()}

        def cond(
            type_: str, status: str, reason: str | None = None, message: str | None = None
        ) -> Obj:
            prev = old_conditions.get(type_) or {}
            out: Obj = {"type": type_, "status": status, "lastProbeTime": None}
            same = prev.get("status") == status and prev.get("lastTransitionTime")
            out["lastTransitionTime"] = prev["lastTransitionTime"] if same else stamp
            if reason:
                out["reason"] = reason
            if message:
                out["message"] = message
            return out

        init_done = all(c.done and (c.current_term or {}).get("exitCode") == 0 for c in st.init)
        pending_init = [c.name for c in st.init if not (c.done and c.current_term)]
        unready = [c.name for c in st.main if not c.ready]
        terminal = st.terminal
        if terminal:
            ready_reason = "PodCompleted"
            ready_status, ready_msg = "False", None
        elif unready:
            ready_reason = "ContainersNotReady"
            ready_status = "False"
            ready_msg = f"containers with unready status: [{' '.join(unready)}]"
        else:
            ready_reason, ready_status, ready_msg = "", "True", None
        sandbox = "False" if terminal else "True"
        conditions = [
            cond("PodReadyToStartContainers", sandbox),
            cond(
                "Initialized",
                "True" if init_done else "False",
                None if init_done else "ContainersNotInitialized",
                None
                if init_done
                else f"containers with incomplete status: [{' '.join(pending_init)}]",
            ),
            cond("Ready", ready_status, ready_reason or None, ready_msg),
            cond("ContainersReady", ready_status, ready_reason or None, ready_msg),
        ]
        scheduled = old_conditions.get("PodScheduled")
        conditions.append(dict(scheduled) if scheduled else cond("PodScheduled", "True"))
        mine = {
            "PodReadyToStartContainers",
            "Initialized",
            "Ready",
            "ContainersReady",
            "PodScheduled",
        }
        if disruption:
            conditions.append(cond("DisruptionTarget", "True", "TerminationByKubelet", disruption))
        conditions += [
            dict(c)
            for t, c in old_conditions.items()
            if t not in mine and not (disruption and t == "DisruptionTarget")
        ]
        if not terminal:
            if not init_done:
                phase = "Pending"
            elif any(c.state == "running" for c in st.main) or all(c.ran_before for c in st.main):
                phase = "Running"
            else:
                phase = "Pending"
            st.phase = phase
        new["phase"] = st.phase
        new["conditions"] = conditions
        new["hostIP"] = st.host_ip
        new["hostIPs"] = [{"ip": st.host_ip}] if st.host_ip else []
        new["podIP"] = st.ip
        new["podIPs"] = [{"ip": st.ip}]
        new["startTime"] = format_time(st.start_time)
        new["qosClass"] = old.get("qosClass") or qos_class(pod)
        new["containerStatuses"] = [self._container_status(c) for c in st.main]
        if st.init:
            new["initContainerStatuses"] = [self._container_status(c) for c in st.init]
        if st.evicted_message:
            new["reason"] = "Evicted"
            new["message"] = st.evicted_message
        if new == old:
            return

        def apply(obj: Obj) -> None:
            obj["status"] = new

        try:
            self.store.mutate(self._pod_rt, st.namespace, st.name, apply, subresource="status")
        except NotFound:
            return

    # ----------------------------------------------------------------- events

    def _event(self, pod: Obj, reason: str, message: str, *, type_: str = "Normal") -> None:
        self.store.record_event(pod, reason=reason, message=message, type_=type_)


def _bytes(value: object) -> int:
    if value is None:
        return 0
    from kubeheal.twin.sim.workloads import ProfileError, memory_quantity

    try:
        return memory_quantity(value)
    except ProfileError:
        return 0


def _quantity_text(n: int) -> str:
    for suffix, unit in (("Gi", 2**30), ("Mi", 2**20), ("Ki", 2**10)):
        if n and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


def _req_text(n: int) -> str:
    return "0" if n == 0 else _quantity_text(n)


# --------------------------------------------------------------------------- logs


def read_logs(
    runtime: RuntimeState,
    *,
    pod_uid: str,
    container: str,
    previous: bool,
    timestamps: bool = False,
    tail_lines: int | None = None,
) -> str:
    """The log of a container (or of its previous instance), as `kubectl logs` prints it.

    Raises `BadRequest` with the API server's wording when there is nothing to show: the
    container has not started yet, or there is no previous terminated instance.
    """
    prt = runtime.pods.get(pod_uid)
    pod_name = prt.name if prt is not None else pod_uid
    crt = prt.containers.get(container) if prt is not None else None
    if previous:
        if crt is None or (crt.restart_count == 0 and not crt.previous_logs):
            raise BadRequest(
                f'previous terminated container "{container}" in pod "{pod_name}" not found'
            )
        lines = crt.previous_logs
    else:
        if crt is None:
            raise BadRequest(
                f'container "{container}" in pod "{pod_name}" is waiting to start: '
                "ContainerCreating"
            )
        lines = crt.logs
    if tail_lines is not None:
        lines = lines[-tail_lines:] if tail_lines > 0 else []
    out: list[str] = []
    for line in lines:
        stamp, _, text = line.partition(" ")
        out.append(f"{stamp.replace('Z', '.000000000Z')} {text}" if timestamps else text)
    return "".join(f"{line}\n" for line in out)

"""LitmusChaos and Chaos Mesh resources for the faults kubeheal does not make itself.

Network latency, CPU and memory stress and container kills need an agent on the node (tc
netem, stress-ng, the container runtime). On a real cluster kubeheal hands them to a chaos
tool that is already installed, as that tool's custom resource:

=====================  ===========================================  ==========================
fault                  LitmusChaos ChaosEngine experiment (env)     Chaos Mesh
=====================  ===========================================  ==========================
pod-network-latency    pod-network-latency (NETWORK_LATENCY, ms;    NetworkChaos action delay
                       JITTER)                                      (delay.latency, jitter)
pod-cpu-hog            pod-cpu-hog (CPU_CORES, CPU_LOAD)            StressChaos stressors.cpu
pod-memory-hog         pod-memory-hog (MEMORY_CONSUMPTION, MB)      StressChaos stressors.memory
container-kill         container-kill (TARGET_CONTAINER)            PodChaos container-kill
node-memory-pressure   node-memory-hog (TARGET_NODES,               (none: Litmus only)
                       MEMORY_CONSUMPTION_PERCENTAGE)
=====================  ===========================================  ==========================

Every resource carries its own duration (``TOTAL_CHAOS_DURATION``, ``spec.duration``), so
the fault ends by itself even if kubeheal can no longer reach the API server, and the label
``kubeheal.io/experiment`` so that leftovers can be found and deleted.

Pure: no I/O, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from kubeheal.chaos.errors import UnsupportedFault
from kubeheal.chaos.spec import (
    ContainerKill,
    FaultSpec,
    NodeMemoryPressure,
    PodCpuHog,
    PodMemoryHog,
    PodNetworkLatency,
    PodTarget,
)

__all__ = [
    "EXPERIMENT_LABEL",
    "GeneratedResource",
    "chaos_mesh_resource",
    "litmus_engine",
    "resource_name",
]

EXPERIMENT_LABEL = "kubeheal.io/experiment"
Obj = dict[str, Any]


@dataclass(frozen=True, slots=True)
class GeneratedResource:
    """A custom resource to create, and where (group/version/plural for the API path)."""

    group: str
    version: str
    plural: str
    namespace: str
    body: Obj

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])

    @property
    def kind(self) -> str:
        return str(self.body["kind"])


def resource_name(experiment: str, fault: str) -> str:
    """A DNS-1123 name for the resource of ``fault`` in ``experiment`` (at most 63 chars)."""
    text = f"kubeheal-{experiment}-{fault}".lower()
    clean = "".join(c if c.isalnum() or c == "-" else "-" for c in text).strip("-")
    return clean[:63].rstrip("-")


def _seconds(value: timedelta) -> int:
    return max(1, math.ceil(value.total_seconds()))


def _ms(value: timedelta) -> int:
    return round(value.total_seconds() * 1000)


def _metadata(name: str, namespace: str, experiment: str) -> Obj:
    return {
        "name": name,
        "namespace": namespace,
        "labels": {"app.kubernetes.io/managed-by": "kubeheal", EXPERIMENT_LABEL: experiment},
    }


def _applabel(target: PodTarget, labels: dict[str, str]) -> str:
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def _percent(target: PodTarget) -> int:
    return 100 if target.share is None else max(1, round(target.share * 100))


def litmus_engine(
    fault: FaultSpec,
    *,
    experiment: str,
    labels: dict[str, str] | None = None,
    node: str | None = None,
    service_account: str = "litmus-admin",
    namespace: str | None = None,
) -> GeneratedResource:
    """A ChaosEngine (litmuschaos.io/v1alpha1) running ``fault`` against the pods ``labels``
    select (pod faults) or ``node`` (node-memory-pressure)."""
    env: list[tuple[str, str]] = [("TOTAL_CHAOS_DURATION", str(_seconds(fault.duration)))]
    spec: Obj = {
        "engineState": "active",
        "chaosServiceAccount": service_account,
        "jobCleanUpPolicy": "delete",
    }
    if isinstance(fault, NodeMemoryPressure):
        if not node:
            raise UnsupportedFault(f"fault {fault.name!r}: node-memory-hog needs a node name")
        name = "node-memory-hog"
        ns = namespace or "litmus"
        env += [
            ("TARGET_NODES", node),
            ("MEMORY_CONSUMPTION_PERCENTAGE", str(fault.percent)),
        ]
    elif isinstance(fault, PodNetworkLatency | PodCpuHog | PodMemoryHog | ContainerKill):
        target = fault.target
        ns = namespace or target.namespace
        if not labels:
            raise UnsupportedFault(f"fault {fault.name!r}: a Litmus target needs pod labels")
        spec["appinfo"] = {
            "appns": target.namespace,
            "applabel": _applabel(target, labels),
            "appkind": "deployment" if target.deployment else "",
        }
        env.append(("PODS_AFFECTED_PERC", str(_percent(target))))
        if target.container:
            env.append(("TARGET_CONTAINER", target.container))
        if isinstance(fault, PodNetworkLatency):
            name = "pod-network-latency"
            env += [
                ("NETWORK_LATENCY", str(_ms(fault.latency))),
                ("JITTER", str(_ms(fault.jitter))),
            ]
        elif isinstance(fault, PodCpuHog):
            name = "pod-cpu-hog"
            env += [("CPU_CORES", str(math.ceil(fault.cores))), ("CPU_LOAD", str(fault.load))]
        elif isinstance(fault, PodMemoryHog):
            name = "pod-memory-hog"
            env.append(("MEMORY_CONSUMPTION", str(fault.megabytes)))
        else:
            name = "container-kill"
            if fault.interval is not None:
                env.append(("CHAOS_INTERVAL", str(_seconds(fault.interval))))
    else:
        raise UnsupportedFault(f"fault {fault.name!r} ({fault.fault}) has no Litmus experiment")
    spec["experiments"] = [
        {
            "name": name,
            "spec": {"components": {"env": [{"name": k, "value": v} for k, v in env]}},
        }
    ]
    body: Obj = {
        "apiVersion": "litmuschaos.io/v1alpha1",
        "kind": "ChaosEngine",
        "metadata": _metadata(resource_name(experiment, fault.name), ns, experiment),
        "spec": spec,
    }
    return GeneratedResource("litmuschaos.io", "v1alpha1", "chaosengines", ns, body)


def chaos_mesh_resource(
    fault: FaultSpec, *, experiment: str, labels: dict[str, str], namespace: str | None = None
) -> GeneratedResource:
    """A Chaos Mesh resource (chaos-mesh.org/v1alpha1) running ``fault`` against the pods
    ``labels`` select."""
    if not isinstance(fault, PodNetworkLatency | PodCpuHog | PodMemoryHog | ContainerKill):
        raise UnsupportedFault(
            f"fault {fault.name!r} ({fault.fault}) has no Chaos Mesh resource here"
        )
    target = fault.target
    ns = namespace or target.namespace
    spec: Obj = {"selector": {"namespaces": [target.namespace], "labelSelectors": dict(labels)}}
    if target.count is not None:
        spec["mode"], spec["value"] = "fixed", str(target.count)
    elif target.share is not None and target.share < 1:
        spec["mode"], spec["value"] = "fixed-percent", str(_percent(target))
    else:
        spec["mode"] = "all"
    if not isinstance(fault, ContainerKill):
        spec["duration"] = f"{_seconds(fault.duration)}s"
    if isinstance(fault, PodNetworkLatency):
        kind, plural = "NetworkChaos", "networkchaos"
        spec["action"] = "delay"
        spec["direction"] = "to"
        spec["delay"] = {
            "latency": f"{_ms(fault.latency)}ms",
            "jitter": f"{_ms(fault.jitter)}ms",
            "correlation": "100",
        }
    elif isinstance(fault, PodCpuHog):
        kind, plural = "StressChaos", "stresschaos"
        spec["stressors"] = {"cpu": {"workers": math.ceil(fault.cores), "load": fault.load}}
    elif isinstance(fault, PodMemoryHog):
        kind, plural = "StressChaos", "stresschaos"
        spec["stressors"] = {"memory": {"workers": 1, "size": f"{fault.megabytes}MB"}}
    else:
        kind, plural = "PodChaos", "podchaos"
        if not target.container:
            raise UnsupportedFault(f"fault {fault.name!r}: container-kill needs target.container")
        spec["action"] = "container-kill"
    if target.container and kind != "NetworkChaos":  # a pod's network is shared
        spec["containerNames"] = [target.container]
    body: Obj = {
        "apiVersion": "chaos-mesh.org/v1alpha1",
        "kind": kind,
        "metadata": _metadata(resource_name(experiment, fault.name), ns, experiment),
        "spec": spec,
    }
    return GeneratedResource("chaos-mesh.org", "v1alpha1", plural, ns, body)

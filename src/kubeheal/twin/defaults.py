"""Defaults the API server fills into pod specs, shared by the HTTP API and scenario loading.

Objects a scenario loads straight into the store must look as if they had been created
through the API; otherwise the first PATCH of a Deployment (even of an annotation) would
default its pod template, change the template hash and start a rollout nobody asked for.

Pure: no I/O, no clock.
"""

from __future__ import annotations

from typing import Any

__all__ = ["WORKLOAD_KINDS", "canonical_quantity", "pod_spec_defaults", "template_defaults"]

Obj = dict[str, Any]

WORKLOAD_KINDS = frozenset({"Deployment", "ReplicaSet", "StatefulSet", "DaemonSet", "Job"})
"""Kinds whose spec.template.spec is a pod spec."""


def pod_spec_defaults(spec: Obj) -> None:
    """Fill in the pod spec defaults (in place) that the simulation relies on."""
    spec.setdefault("restartPolicy", "Always")
    spec.setdefault("terminationGracePeriodSeconds", 30)
    spec.setdefault("dnsPolicy", "ClusterFirst")
    spec.setdefault("schedulerName", "default-scheduler")
    spec.setdefault("securityContext", {})
    for key in ("containers", "initContainers"):
        for container in spec.get(key) or ():
            if not isinstance(container, dict):
                continue
            image = str(container.get("image") or "")
            tagless = ":" not in image.rsplit("/", 1)[-1] and "@" not in image
            default_pull = "Always" if tagless or image.endswith(":latest") else "IfNotPresent"
            container.setdefault("imagePullPolicy", default_pull)
            container.setdefault("terminationMessagePath", "/dev/termination-log")
            container.setdefault("terminationMessagePolicy", "File")
            resources = container.setdefault("resources", {})
            if isinstance(resources, dict):
                for section in ("requests", "limits"):
                    values = resources.get(section)
                    if isinstance(values, dict):
                        for name, value in values.items():
                            values[name] = canonical_quantity(value)
            for port in container.get("ports") or ():
                if isinstance(port, dict):
                    port.setdefault("protocol", "TCP")


def canonical_quantity(value: Any) -> Any:
    """A quantity as the API server returns it: always a string (``cpu: 1`` -> ``"1"``,
    ``0.5`` -> ``"500m"``); strings are kept as they are."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    if isinstance(value, int) or float(value).is_integer():
        return str(int(value))
    milli = value * 1000
    if float(milli).is_integer():
        return f"{int(milli)}m"
    return repr(value)


def template_defaults(obj: Obj) -> None:
    """Default the pod spec of a Pod or of a workload's pod template (in place)."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    kind = obj.get("kind")
    if kind == "Pod":
        pod_spec_defaults(spec)
    elif kind in WORKLOAD_KINDS:
        template_spec = (spec.get("template") or {}).get("spec")
        if isinstance(template_spec, dict):
            pod_spec_defaults(template_spec)

"""PromQL building blocks shared by the generated rules and dashboards.

Metric and label names are those of kube-state-metrics v2, cAdvisor (the kubelet's
/metrics/cadvisor), the kubelet's volume statistics, node-exporter, the applications'
``http_requests_total`` / ``http_request_duration_seconds`` (labels namespace, pod, status,
...) and kubeheal's own /metrics: what a real cluster serves, and what the cluster twin
serves under the same names.

Pure: no I/O.
"""

from __future__ import annotations

from kubeheal.monitoring.config import format_duration
from kubeheal.monitoring.model import WORKLOAD_LABELS

__all__ = [
    "HPA_TARGET",
    "WORKLOAD",
    "WORKLOAD_MAPPING_RECORD",
    "indent",
    "join_workload",
    "request_rate_record",
    "workload_mapping_expr",
    "workload_request_rate_expr",
    "workload_sum",
]

# namespace + pod -> the Deployment / StatefulSet / DaemonSet owning the pod (value 1).
WORKLOAD_MAPPING_RECORD = "namespace_workload_pod:kubeheal_pod_owner:relabel"
WORKLOAD = ", ".join(WORKLOAD_LABELS)


def indent(text: str, spaces: int = 2) -> str:
    """Indent every line of `text`."""
    pad = " " * spaces
    return "\n".join(pad + line if line else line for line in text.splitlines())


def join_workload(expr: str) -> str:
    """`expr` (with namespace and pod labels) with the workload labels of its pod added.

    Pods owned by nothing kubeheal can act on (bare pods, Jobs) drop out. A multi-line
    `expr` is parenthesised, since `*` binds tighter than `and`/`or`/`unless`.
    """
    if "\n" in expr:
        expr = f"(\n{indent(expr)}\n)"
    return f"{expr}\n* on (namespace, pod) group_left ({WORKLOAD})\n  {WORKLOAD_MAPPING_RECORD}"


def workload_sum(expr: str, *extra: str) -> str:
    """``sum by (namespace, <workload labels>, extra...)`` of `expr` joined to its workload."""
    labels = ", ".join(("namespace", *WORKLOAD_LABELS, *extra))
    return f"sum by ({labels}) (\n{indent(join_workload(expr))}\n)"


def _owned_by(kind: str, label: str) -> str:
    return (
        f'label_replace(kube_pod_owner{{owner_kind="{kind}"}}, '
        f'"{label}", "$1", "owner_name", "(.+)")'
    )


def workload_mapping_expr() -> str:
    """The recording rule behind `WORKLOAD_MAPPING_RECORD`.

    A ReplicaSet's pods belong to the ReplicaSet's Deployment (via kube_replicaset_owner);
    StatefulSet and DaemonSet pods to their owner directly.
    """
    replicaset_owner = (
        'label_replace(kube_replicaset_owner{owner_kind="Deployment"}, '
        '"deployment", "$1", "owner_name", "(.+)")'
    )
    return "\n".join(
        [
            "max by (namespace, pod, deployment) (",
            "  " + _owned_by("ReplicaSet", "replicaset"),
            "  * on (namespace, replicaset) group_left (deployment)",
            "    max by (namespace, replicaset, deployment) (",
            "      " + replicaset_owner,
            "    )",
            ")",
            "or",
            "max by (namespace, pod, statefulset) (",
            "  " + _owned_by("StatefulSet", "statefulset"),
            ")",
            "or",
            "max by (namespace, pod, daemonset) (",
            "  " + _owned_by("DaemonSet", "daemonset"),
            ")",
        ]
    )


def request_rate_record(rate_window: int) -> str:
    """Name of the recording rule of each workload's request rate."""
    return f"namespace_workload:http_requests:rate{format_duration(rate_window)}"


def workload_request_rate_expr(rate_window: int) -> str:
    return workload_sum(f"rate(http_requests_total[{format_duration(rate_window)}])")


# HPA (namespace, horizontalpodautoscaler) -> deployment / statefulset label of its target.
HPA_TARGET = "\n".join(
    [
        "max by (namespace, horizontalpodautoscaler, deployment, statefulset) (",
        "  label_replace(",
        "    label_replace(",
        "      label_join(",
        "        kube_horizontalpodautoscaler_info, "
        '"scaletarget", ";", "scaletargetref_kind", "scaletargetref_name"',
        "      ),",
        '      "deployment", "$1", "scaletarget", "Deployment;(.+)"',
        "    ),",
        '    "statefulset", "$1", "scaletarget", "StatefulSet;(.+)"',
        "  )",
        ")",
    ]
)

"""kube-state-metrics v2 series from the API objects in the store: namespaces, nodes, pods and
their containers, deployments, replica sets, HPAs, PDBs, persistent volumes and claims.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from kubeheal.twin.metrics.exposition import (
    CONDITION_STATUSES,
    NAMESPACE_PHASES,
    POD_PHASES,
    POD_STATUS_REASONS,
    PV_PHASES,
    PVC_PHASES,
    Obj,
    condition_series,
    escape,
    map_labels,
    parse_stamp,
    quantity_value,
    resource_amounts,
    series_labels,
)
from kubeheal.twin.metrics.scrape import PodInfo, Scrape

__all__ = ["KubeStateMetrics"]


def namespaced(meta: Mapping[str, Any], label: str) -> str:
    """The labels naming a namespaced object: ``namespace="ns",<label>="name"``."""
    return (
        f'namespace="{escape(str(meta.get("namespace", "")))}",'
        f'{label}="{escape(str(meta["name"]))}"'
    )


class KubeStateMetrics(Scrape):
    """The kube-state-metrics exporters of one scrape."""

    def _info(self, family: str, base: str, pairs: Iterable[tuple[str, str]]) -> None:
        """An info-style series: ``base`` and ``pairs`` as labels, value 1."""
        self.expo.add(family, base + "," + series_labels(pairs), 1)

    def _one_hot(
        self, family: str, base: str, label: str, candidates: Iterable[str], actual: object
    ) -> None:
        """One series per candidate of ``label``: 1 for ``actual``, 0 for the others."""
        for candidate in candidates:
            self.expo.add(family, f'{base},{label}="{candidate}"', 1 if actual == candidate else 0)

    def _ints(self, base: str, rows: Iterable[tuple[str, Mapping[str, Any], str, int]]) -> None:
        """``(family, source, key, default)``: the integer ``source[key]`` as a series."""
        for family, source, key, default in rows:
            self.expo.add(family, base, int(source.get(key, default)))

    def namespaces(self) -> None:
        for ns in self._objects("", "v1", "namespaces"):
            name = str(ns["metadata"]["name"])
            phase = (ns.get("status") or {}).get("phase") or (
                "Terminating" if ns["metadata"].get("deletionTimestamp") else "Active"
            )
            self._one_hot(
                "kube_namespace_status_phase",
                f'namespace="{escape(name)}"',
                "phase",
                NAMESPACE_PHASES,
                phase,
            )

    def nodes(self) -> None:
        expo = self.expo
        for node in self._objects("", "v1", "nodes"):
            meta, spec = node["metadata"], node.get("spec") or {}
            status = node.get("status") or {}
            name = str(meta["name"])
            base = f'node="{escape(name)}"'
            info = status.get("nodeInfo") or {}
            internal_ip = next(
                (
                    str(a.get("address", ""))
                    for a in status.get("addresses") or []
                    if a.get("type") == "InternalIP"
                ),
                "",
            )
            self.node_kernel[name] = str(info.get("kernelVersion", ""))
            self._info(
                "kube_node_info",
                base,
                (
                    ("kernel_version", str(info.get("kernelVersion", ""))),
                    ("os_image", str(info.get("osImage", ""))),
                    (
                        "container_runtime_version",
                        str(info.get("containerRuntimeVersion", "")),
                    ),
                    ("kubelet_version", str(info.get("kubeletVersion", ""))),
                    ("kubeproxy_version", str(info.get("kubeProxyVersion", ""))),
                    ("provider_id", str(spec.get("providerID", ""))),
                    ("pod_cidr", str(spec.get("podCIDR", ""))),
                    ("system_uuid", str(info.get("systemUUID", ""))),
                    ("internal_ip", internal_ip),
                ),
            )
            for key in sorted(meta.get("labels") or {}):
                if key.startswith("node-role.kubernetes.io/"):
                    role = key.removeprefix("node-role.kubernetes.io/")
                    expo.add("kube_node_role", f'{base},role="{escape(role)}"', 1)
            created = parse_stamp(meta.get("creationTimestamp"))
            if created is not None:
                expo.add("kube_node_created", base, created)
            expo.add("kube_node_spec_unschedulable", base, 1 if spec.get("unschedulable") else 0)
            for taint in spec.get("taints") or []:
                self._info(
                    "kube_node_spec_taint",
                    base,
                    (
                        ("key", str(taint.get("key", ""))),
                        ("value", str(taint.get("value", ""))),
                        ("effect", str(taint.get("effect", ""))),
                    ),
                )
            for cond in status.get("conditions") or []:
                condition_series(expo, "kube_node_status_condition", base, cond)
            for family, key in (
                ("kube_node_status_capacity", "capacity"),
                ("kube_node_status_allocatable", "allocatable"),
            ):
                for resource, unit, value in resource_amounts(status.get(key) or {}):
                    expo.add(family, f'{base},resource="{resource}",unit="{unit}"', value)
            cpu = quantity_value((status.get("capacity") or {}).get("cpu", "1"))
            self.node_cpus[name] = max(1, math.ceil(cpu or 1))

    def pods(self) -> None:
        expo = self.expo
        for pod in self._objects("", "v1", "pods"):
            meta = pod["metadata"]
            spec = pod.get("spec") or {}
            status = pod.get("status") or {}
            ns, name, uid = str(meta.get("namespace", "")), str(meta["name"]), str(meta["uid"])
            labels = {str(k): str(v) for k, v in (meta.get("labels") or {}).items()}
            self.pods_by_uid[uid] = PodInfo(pod, labels)
            base = f'namespace="{escape(ns)}",pod="{escape(name)}",uid="{escape(uid)}"'
            node = str(spec.get("nodeName", ""))
            owners = meta.get("ownerReferences") or []
            controller = next((o for o in owners if o.get("controller")), None)
            self._info(
                "kube_pod_info",
                base,
                (
                    ("host_ip", str(status.get("hostIP", ""))),
                    ("pod_ip", str(status.get("podIP", ""))),
                    ("node", node),
                    (
                        "created_by_kind",
                        str(controller.get("kind", "")) if controller else "<none>",
                    ),
                    (
                        "created_by_name",
                        str(controller.get("name", "")) if controller else "<none>",
                    ),
                    ("priority_class", str(spec.get("priorityClassName", ""))),
                    ("host_network", "true" if spec.get("hostNetwork") else "false"),
                ),
            )
            self._owner_series("kube_pod_owner", base, owners)
            label_pairs = map_labels("label_", labels)
            expo.add(
                "kube_pod_labels",
                base + ("," + series_labels(label_pairs) if label_pairs else ""),
                1,
            )
            for ts_family, key in (
                ("kube_pod_created", meta.get("creationTimestamp")),
                ("kube_pod_start_time", status.get("startTime")),
                ("kube_pod_deletion_timestamp", meta.get("deletionTimestamp")),
            ):
                ts = parse_stamp(key)
                if ts is not None:
                    expo.add(ts_family, base, ts)
            phase = status.get("phase")
            if phase:
                self._one_hot("kube_pod_status_phase", base, "phase", POD_PHASES, phase)
            for cond in status.get("conditions") or []:
                cond_family = {
                    "Ready": "kube_pod_status_ready",
                    "PodScheduled": "kube_pod_status_scheduled",
                }.get(str(cond.get("type")))
                if cond_family is None:
                    continue
                cond_status = str(cond.get("status", "Unknown"))
                for label, api_value in CONDITION_STATUSES:
                    expo.add(
                        cond_family,
                        f'{base},condition="{label}"',
                        1 if cond_status == api_value else 0,
                    )
            self._one_hot(
                "kube_pod_status_reason", base, "reason", POD_STATUS_REASONS, status.get("reason")
            )
            self._container_statuses(pod, base)
            self._container_resources(pod, base, node)

    def _owner_series(self, family: str, base: str, owners: list[Obj]) -> None:
        if not owners:
            self.expo.add(
                family,
                f'{base},owner_kind="<none>",owner_name="<none>",owner_is_controller="<none>"',
                1,
            )
            return
        for ref in owners:
            self._info(
                family,
                base,
                (
                    ("owner_kind", str(ref.get("kind", ""))),
                    ("owner_name", str(ref.get("name", ""))),
                    ("owner_is_controller", "true" if ref.get("controller") else "false"),
                ),
            )

    def _container_statuses(self, pod: Obj, base: str) -> None:
        expo = self.expo
        spec_images = {
            str(c.get("name")): str(c.get("image", ""))
            for c in (pod.get("spec") or {}).get("containers") or []
        }
        for cs in (pod.get("status") or {}).get("containerStatuses") or []:
            cname = str(cs.get("name", ""))
            cbase = f'{base},container="{escape(cname)}"'
            state = cs.get("state") or {}
            last = (cs.get("lastState") or {}).get("terminated")
            self._info(
                "kube_pod_container_info",
                cbase,
                (
                    ("image_spec", spec_images.get(cname, "")),
                    ("image", str(cs.get("image", ""))),
                    ("image_id", str(cs.get("imageID", ""))),
                    ("container_id", str(cs.get("containerID", ""))),
                ),
            )
            waiting, running, terminated = (
                state.get("waiting"),
                state.get("running"),
                state.get("terminated"),
            )
            expo.add("kube_pod_container_status_waiting", cbase, 1 if waiting is not None else 0)
            if waiting is not None and waiting.get("reason"):
                expo.add(
                    "kube_pod_container_status_waiting_reason",
                    f'{cbase},reason="{escape(str(waiting["reason"]))}"',
                    1,
                )
            expo.add("kube_pod_container_status_running", cbase, 1 if running is not None else 0)
            expo.add(
                "kube_pod_container_status_terminated", cbase, 1 if terminated is not None else 0
            )
            if terminated is not None and terminated.get("reason"):
                expo.add(
                    "kube_pod_container_status_terminated_reason",
                    f'{cbase},reason="{escape(str(terminated["reason"]))}"',
                    1,
                )
            if last is not None:
                if last.get("reason"):
                    expo.add(
                        "kube_pod_container_status_last_terminated_reason",
                        f'{cbase},reason="{escape(str(last["reason"]))}"',
                        1,
                    )
                expo.add(
                    "kube_pod_container_status_last_terminated_exitcode",
                    cbase,
                    int(last.get("exitCode", 0)),
                )
            expo.add("kube_pod_container_status_ready", cbase, 1 if cs.get("ready") else 0)
            expo.add(
                "kube_pod_container_status_restarts_total", cbase, int(cs.get("restartCount", 0))
            )

    def _container_resources(self, pod: Obj, base: str, node: str) -> None:
        for container in (pod.get("spec") or {}).get("containers") or []:
            res = container.get("resources") or {}
            limits = res.get("limits") or {}
            # the API server defaults each missing request to its limit
            requests = {**limits, **(res.get("requests") or {})}
            cname = escape(str(container.get("name", "")))
            cbase = f'{base},container="{cname}",node="{escape(node)}"'
            for family, values in (
                ("kube_pod_container_resource_requests", requests),
                ("kube_pod_container_resource_limits", limits),
            ):
                for resource, unit, value in resource_amounts(values):
                    self.expo.add(family, f'{cbase},resource="{resource}",unit="{unit}"', value)

    def deployments(self) -> None:
        expo = self.expo
        for dep in self._objects("apps", "v1", "deployments"):
            meta, spec = dep["metadata"], dep.get("spec") or {}
            status = dep.get("status") or {}
            base = namespaced(meta, "deployment")
            expo.add("kube_deployment_spec_replicas", base, int(spec.get("replicas", 1)))
            expo.add("kube_deployment_spec_paused", base, 1 if spec.get("paused") else 0)
            self._ints(
                base,
                (
                    *(
                        (f"kube_deployment_status_{suffix}", status, key, 0)
                        for suffix, key in (
                            ("replicas", "replicas"),
                            ("replicas_ready", "readyReplicas"),
                            ("replicas_available", "availableReplicas"),
                            ("replicas_unavailable", "unavailableReplicas"),
                            ("replicas_updated", "updatedReplicas"),
                            ("observed_generation", "observedGeneration"),
                        )
                    ),
                    ("kube_deployment_metadata_generation", meta, "generation", 0),
                ),
            )
            for cond in status.get("conditions") or []:
                condition_series(
                    expo,
                    "kube_deployment_status_condition",
                    base,
                    cond,
                    extra=f',reason="{escape(str(cond.get("reason", "")))}"',
                )

    def replicasets(self) -> None:
        for rs in self._objects("apps", "v1", "replicasets"):
            meta, spec = rs["metadata"], rs.get("spec") or {}
            status = rs.get("status") or {}
            base = namespaced(meta, "replicaset")
            self._owner_series("kube_replicaset_owner", base, meta.get("ownerReferences") or [])
            self._ints(
                base,
                (
                    ("kube_replicaset_spec_replicas", spec, "replicas", 1),
                    ("kube_replicaset_status_replicas", status, "replicas", 0),
                    ("kube_replicaset_status_ready_replicas", status, "readyReplicas", 0),
                ),
            )

    def hpas(self) -> None:
        expo = self.expo
        for hpa in self._objects("autoscaling", "v2", "horizontalpodautoscalers"):
            meta, spec = hpa["metadata"], hpa.get("spec") or {}
            status = hpa.get("status") or {}
            base = namespaced(meta, "horizontalpodautoscaler")
            ref = spec.get("scaleTargetRef") or {}
            self._info(
                "kube_horizontalpodautoscaler_info",
                base,
                (
                    ("scaletargetref_api_version", str(ref.get("apiVersion", ""))),
                    ("scaletargetref_kind", str(ref.get("kind", ""))),
                    ("scaletargetref_name", str(ref.get("name", ""))),
                ),
            )
            self._ints(
                base,
                (
                    ("kube_horizontalpodautoscaler_metadata_generation", meta, "generation", 0),
                    ("kube_horizontalpodautoscaler_spec_max_replicas", spec, "maxReplicas", 0),
                    ("kube_horizontalpodautoscaler_spec_min_replicas", spec, "minReplicas", 1),
                ),
            )
            for metric in spec.get("metrics") or []:
                self._hpa_metric(
                    "kube_horizontalpodautoscaler_spec_target_metric", base, metric, "target"
                )
            for metric in status.get("currentMetrics") or []:
                self._hpa_metric(
                    "kube_horizontalpodautoscaler_status_target_metric", base, metric, "current"
                )
            self._ints(
                base,
                (
                    ("kube_horizontalpodautoscaler_status_current_replicas", status,
                     "currentReplicas", 0),
                    ("kube_horizontalpodautoscaler_status_desired_replicas", status,
                     "desiredReplicas", 0),
                ),
            )  # fmt: skip
            for cond in status.get("conditions") or []:
                condition_series(expo, "kube_horizontalpodautoscaler_status_condition", base, cond)

    def _hpa_metric(self, family: str, base: str, metric: Mapping[str, Any], which: str) -> None:
        kind = str(metric.get("type", ""))
        key = kind[:1].lower() + kind[1:]  # Resource -> resource, ContainerResource -> ...
        source = metric.get(key) or {}
        if kind in ("Resource", "ContainerResource"):
            metric_name = str(source.get("name", ""))
        else:
            metric_name = str((source.get("metric") or {}).get("name", ""))
        values = source.get(which) or {}
        for field_name, target_type in (
            ("value", "value"),
            ("averageValue", "average"),
            ("averageUtilization", "utilization"),
        ):
            if field_name not in values:
                continue
            raw = values[field_name]
            value = float(raw) if isinstance(raw, int | float) else quantity_value(raw)
            if value is None:
                continue
            self.expo.add(
                family,
                f'{base},metric_name="{escape(metric_name)}",metric_target_type="{target_type}"',
                value,
            )

    def pdbs(self) -> None:
        for pdb in self._objects("policy", "v1", "poddisruptionbudgets"):
            meta, status = pdb["metadata"], pdb.get("status") or {}
            base = namespaced(meta, "poddisruptionbudget")
            self._ints(
                base,
                (
                    (f"kube_poddisruptionbudget_status_{suffix}", status, key, 0)
                    for suffix, key in (
                        ("current_healthy", "currentHealthy"),
                        ("desired_healthy", "desiredHealthy"),
                        ("pod_disruptions_allowed", "disruptionsAllowed"),
                        ("expected_pods", "expectedPods"),
                        ("observed_generation", "observedGeneration"),
                    )
                ),
            )

    def volumes(self) -> None:
        expo = self.expo
        for pv in self._objects("", "v1", "persistentvolumes"):
            meta, spec = pv["metadata"], pv.get("spec") or {}
            base = f'persistentvolume="{escape(str(meta["name"]))}"'
            phase = (pv.get("status") or {}).get("phase")
            if phase:
                self._one_hot("kube_persistentvolume_status_phase", base, "phase", PV_PHASES, phase)
            capacity = quantity_value((spec.get("capacity") or {}).get("storage", "0"))
            expo.add("kube_persistentvolume_capacity_bytes", base, capacity or 0.0)
            claim = spec.get("claimRef")
            if claim:
                self._info(
                    "kube_persistentvolume_claim_ref",
                    base,
                    (
                        ("claim_namespace", str(claim.get("namespace", ""))),
                        ("name", str(claim.get("name", ""))),
                    ),
                )
        for pvc in self._objects("", "v1", "persistentvolumeclaims"):
            meta, spec = pvc["metadata"], pvc.get("spec") or {}
            base = namespaced(meta, "persistentvolumeclaim")
            self._info(
                "kube_persistentvolumeclaim_info",
                base,
                (
                    ("storageclass", str(spec.get("storageClassName") or "")),
                    ("volumename", str(spec.get("volumeName", ""))),
                    ("volumemode", str(spec.get("volumeMode", "Filesystem"))),
                ),
            )
            phase = (pvc.get("status") or {}).get("phase")
            if phase:
                self._one_hot(
                    "kube_persistentvolumeclaim_status_phase", base, "phase", PVC_PHASES, phase
                )
            requested = ((spec.get("resources") or {}).get("requests") or {}).get("storage")
            if requested is not None:
                value = quantity_value(requested)
                if value is not None:
                    expo.add(
                        "kube_persistentvolumeclaim_resource_requests_storage_bytes", base, value
                    )

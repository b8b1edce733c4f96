"""Synthetic cluster objects for benchmarks: realistic nodes and pods (about 4-5 KB of JSON each).

Deterministic for a given count, so runs are comparable.
"""

from __future__ import annotations

from typing import Any

Obj = dict[str, Any]


def node(i: int) -> Obj:
    name = f"node-{i:05d}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "m5.2xlarge",
                "topology.kubernetes.io/zone": f"zone-{i % 3}",
            },
        },
        "spec": {"podCIDR": f"10.{i // 250}.{i % 250}.0/24"},
        "status": {
            "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110"},
            "allocatable": {"cpu": "7910m", "memory": "30Gi", "pods": "110"},
            "conditions": [
                {"type": t, "status": s, "reason": r, "message": m,
                 "lastHeartbeatTime": "2026-11-23T10:00:00Z",
                 "lastTransitionTime": "2026-11-01T00:00:00Z"}
                for t, s, r, m in (
                    ("MemoryPressure", "False", "KubeletHasSufficientMemory", "ok"),
                    ("DiskPressure", "False", "KubeletHasNoDiskPressure", "ok"),
                    ("PIDPressure", "False", "KubeletHasSufficientPID", "ok"),
                    ("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
                )
            ],
            "nodeInfo": {"kubeletVersion": "v1.31.4", "osImage": "Debian GNU/Linux 12",
                         "containerRuntimeVersion": "containerd://1.7.24"},
        },
    }  # fmt: skip


def namespace(name: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}


# Real pods carry managedFields (server-side apply bookkeeping) of 1-3 KB that a slim cache
# must skip; a representative one makes the benchmark's bytes per pod realistic (~4.8 KB).
_MANAGED_FIELDS = [
    {
        "manager": "kube-controller-manager",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2026-11-23T09:00:00Z",
        "fieldsType": "FieldsV1",
        "fieldsV1": {
            "f:metadata": {"f:generateName": {}, "f:labels": {".": {}, "f:app": {},
                           "f:pod-template-hash": {}, "f:tier": {}},
                           "f:ownerReferences": {".": {}, 'k:{"uid":"x"}': {}}},
            "f:spec": {"f:containers": {'k:{"name":"app"}': {
                ".": {}, "f:env": {".": {}, 'k:{"name":"LOG_LEVEL"}': {".": {}, "f:name": {},
                "f:value": {}}}, "f:image": {}, "f:imagePullPolicy": {}, "f:livenessProbe": {
                ".": {}, "f:httpGet": {".": {}, "f:path": {}, "f:port": {}}},
                "f:name": {}, "f:ports": {".": {}, 'k:{"containerPort":8080}': {".": {},
                "f:containerPort": {}, "f:name": {}, "f:protocol": {}}}, "f:resources": {
                ".": {}, "f:limits": {".": {}, "f:cpu": {}, "f:memory": {}}, "f:requests": {
                ".": {}, "f:cpu": {}, "f:memory": {}}}}},
                "f:dnsPolicy": {}, "f:restartPolicy": {}, "f:schedulerName": {},
                "f:terminationGracePeriodSeconds": {}},
        },
    },
    {
        "manager": "kubelet",
        "operation": "Update",
        "apiVersion": "v1",
        "time": "2026-11-23T09:00:05Z",
        "fieldsType": "FieldsV1",
        "subresource": "status",
        "fieldsV1": {"f:status": {"f:conditions": {
            'k:{"type":"ContainersReady"}': {".": {}, "f:lastTransitionTime": {}, "f:status": {},
                                             "f:type": {}},
            'k:{"type":"Initialized"}': {".": {}, "f:lastTransitionTime": {}, "f:status": {},
                                         "f:type": {}},
            'k:{"type":"Ready"}': {".": {}, "f:lastTransitionTime": {}, "f:status": {},
                                   "f:type": {}}},
            "f:containerStatuses": {}, "f:hostIP": {}, "f:phase": {}, "f:podIP": {},
            "f:podIPs": {".": {}, 'k:{"ip":"10.0.0.1"}': {".": {}, "f:ip": {}}},
            "f:startTime": {}}},
    },
]  # fmt: skip


def pod(i: int, *, nodes: int, namespaces: int = 50) -> Obj:
    ns = f"team-{i % namespaces:03d}"
    app = f"app-{(i // 10) % 500:03d}"
    name = f"{app}-7c9f8d{i:08x}"
    container = {
        "name": "app",
        "image": f"registry.example.com/{app}:1.{i % 7}.0",
        "ports": [{"containerPort": 8080, "name": "http", "protocol": "TCP"}],
        "env": [{"name": "LOG_LEVEL", "value": "info"}, {"name": "APP", "value": app}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}, "periodSeconds": 10},
        "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}, "periodSeconds": 5},
        "volumeMounts": [
            {
                "name": "kube-api-access",
                "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                "readOnly": True,
            }
        ],
        "terminationMessagePath": "/dev/termination-log",
        "imagePullPolicy": "IfNotPresent",
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": ns,
            "labels": {"app": app, "pod-template-hash": "7c9f8d", "tier": "backend",
                       "app.kubernetes.io/part-of": "shop"},
            "annotations": {"prometheus.io/scrape": "true", "prometheus.io/port": "8080"},
            "managedFields": _MANAGED_FIELDS,
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet",
                                 "name": f"{app}-7c9f8d",
                                 "uid": f"00000000-0000-4000-8000-{i % 500:012d}",
                                 "controller": True, "blockOwnerDeletion": True}],
        },
        "spec": {
            "containers": [container],
            "nodeName": f"node-{i % nodes:05d}",
            "restartPolicy": "Always",
            "serviceAccountName": "default",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
            "tolerations": [
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists",
                 "effect": "NoExecute", "tolerationSeconds": 300},
            ],
            "volumes": [{"name": "kube-api-access", "projected": {"sources": [
                {"serviceAccountToken": {"expirationSeconds": 3607, "path": "token"}},
                {"configMap": {"name": "kube-root-ca.crt",
                               "items": [{"key": "ca.crt", "path": "ca.crt"}]}},
            ]}}],
        },
        "status": {
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": "2026-11-23T09:00:00Z"}
                for t in ("Initialized", "Ready", "ContainersReady", "PodScheduled")
            ],
            "hostIP": f"10.0.{(i % nodes) // 250}.{(i % nodes) % 250}",
            "podIP": f"10.{(i // 65536) % 250}.{(i // 256) % 256}.{i % 256}",
            "startTime": "2026-11-23T09:00:00Z",
            "qosClass": "Burstable",
            "containerStatuses": [{
                "name": "app", "ready": True, "restartCount": i % 3, "started": True,
                "image": container["image"], "imageID": f"sha256:{i:064x}",
                "containerID": f"containerd://{i:064x}",
                "state": {"running": {"startedAt": "2026-11-23T09:00:05Z"}},
                "lastState": {},
            }],
        },
    }  # fmt: skip

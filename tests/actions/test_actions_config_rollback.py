"""A rollout that changed only the workload's configuration (the ConfigMap or Secret its
template references, a config checksum annotation) is rolled back like an image change."""

from __future__ import annotations

from typing import Any

from kubeheal.actions import OutcomeState, execute
from kubeheal.actions.workloads import config_refs
from kubeheal.clients.writer import Kind
from kubeheal.engine.params import RollbackDeployment

ROLLBACK = RollbackDeployment(
    namespace="shop",
    deployment="web",
    from_revision=3,
    to_revision=2,
    to_replica_set="web-aaa2",
    images={"app": "web:3"},
)


def _configured(kit: Any, template: dict[str, Any], config: str, checksum: str) -> None:
    app = template["spec"]["containers"][0]
    app["envFrom"] = [{"configMapRef": {"name": config}}]
    template["spec"]["volumes"] = [
        {"name": "tls", "secret": {"secretName": "web-tls", "defaultMode": 420}}
    ]
    template["metadata"]["annotations"] = {"checksum/config": checksum}


def _setup(writer: Any, kit: Any) -> None:
    dep = writer.obj(Kind.DEPLOYMENT, "shop", "web")
    _configured(kit, dep["spec"]["template"], "web-config-b", "bbb")
    old = kit.replica_set("web-aaa2", revision=2, image="web:3")  # same image as now
    _configured(kit, old["spec"]["template"], "web-config-a", "aaa")
    del old["spec"]["template"]["spec"]["volumes"][0]["secret"]["defaultMode"]  # not defaulted
    writer.put(Kind.REPLICASET, old)


async def test_a_config_only_rollout_is_rolled_back(writer, kit) -> None:
    _setup(writer, kit)
    out = await execute(kit.plan(ROLLBACK), writer=writer)
    assert out.state is OutcomeState.SUCCEEDED and out.changed, out.detail
    dep = writer.obj(Kind.DEPLOYMENT, "shop", "web")
    template = dep["spec"]["template"]
    assert template["spec"]["containers"][0]["envFrom"] == [
        {"configMapRef": {"name": "web-config-a"}}
    ]
    assert template["metadata"]["annotations"] == {"checksum/config": "aaa"}
    assert out.evidence["previous_config"] == ["configmap/web-config-b"]
    assert out.evidence["config"] == ["configmap/web-config-a"]
    assert out.evidence["template_annotations_changed"] == ["checksum/config"]
    assert "configmap/web-config-a instead of configmap/web-config-b" in out.detail
    # done once: the second run finds the template in place (a defaulted volume mode is no
    # difference)
    again = await execute(kit.plan(ROLLBACK), writer=writer)
    assert again.state is OutcomeState.SUCCEEDED and not again.changed, again.detail


def test_config_refs_reads_every_place_a_template_names_configuration() -> None:
    template = {
        "spec": {
            "volumes": [
                {"name": "a", "configMap": {"name": "cm-vol"}},
                {"name": "b", "secret": {"secretName": "sec-vol"}},
                {
                    "name": "c",
                    "projected": {
                        "sources": [
                            {"configMap": {"name": "cm-proj"}},
                            {"secret": {"name": "sec-proj"}},
                        ]
                    },
                },
            ],
            "initContainers": [{"name": "i", "envFrom": [{"secretRef": {"name": "sec-init"}}]}],
            "containers": [
                {
                    "name": "app",
                    "envFrom": [{"configMapRef": {"name": "cm-from"}}],
                    "env": [
                        {
                            "name": "X",
                            "valueFrom": {"configMapKeyRef": {"name": "cm-key", "key": "x"}},
                        },
                        {
                            "name": "Y",
                            "valueFrom": {"secretKeyRef": {"name": "sec-key", "key": "y"}},
                        },
                        {"name": "Z", "value": "plain"},
                    ],
                }
            ],
        }
    }
    assert config_refs(template) == {
        "configmap/cm-vol",
        "secret/sec-vol",
        "configmap/cm-proj",
        "secret/sec-proj",
        "secret/sec-init",
        "configmap/cm-from",
        "configmap/cm-key",
        "secret/sec-key",
    }
    assert config_refs({"spec": {"volumes": ["junk", {"configMap": "junk"}]}}) == set()

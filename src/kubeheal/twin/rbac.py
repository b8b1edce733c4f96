"""RBAC as the API server evaluates it, for checking recorded calls against shipped roles.

`load_rules` reads the ClusterRoles/Roles bound to one service account in a manifest file;
`Rule.allows` decides one `AuditRecord` (group, resource/subresource, verb, resourceNames,
namespace of a RoleBinding). Used by the test suite's RBAC proof.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import yaml

from kubeheal.twin.api import AuditRecord

__all__ = ["Rule", "denied", "grants", "load_rules"]


@dataclass(frozen=True)
class Rule:
    """One policy rule bound to the subject, with the namespace its binding limits it to."""

    groups: frozenset[str]
    resources: frozenset[str]
    verbs: frozenset[str]
    names: frozenset[str]
    namespace: str | None  # None: cluster-wide (ClusterRole via ClusterRoleBinding)

    def allows(self, call: AuditRecord) -> bool:
        resource = f"{call.resource}/{call.subresource}" if call.subresource else call.resource
        if self.namespace is not None and call.namespace != self.namespace:
            return False
        return (
            (call.group in self.groups or "*" in self.groups)
            and (resource in self.resources or "*" in self.resources)
            and (call.verb in self.verbs or "*" in self.verbs)
            and (not self.names or call.name in self.names)
        )


def load_rules(path: Path, *, service_account: tuple[str, str]) -> list[Rule]:
    """The rules bound to ``service_account`` (name, namespace) in the manifests at ``path``."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    roles = {
        (d["kind"], d["metadata"].get("namespace"), d["metadata"]["name"]): d
        for d in docs
        if d["kind"] in ("ClusterRole", "Role")
    }
    rules: list[Rule] = []
    for binding in (d for d in docs if d["kind"] in ("ClusterRoleBinding", "RoleBinding")):
        subjects = {(s["name"], s.get("namespace")) for s in binding["subjects"]}
        if service_account not in subjects:
            continue
        ref = binding["roleRef"]
        scope = binding["metadata"].get("namespace")  # None for a ClusterRoleBinding
        role = roles[(ref["kind"], scope if ref["kind"] == "Role" else None, ref["name"])]
        rules.extend(
            Rule(
                groups=frozenset(r["apiGroups"]),
                resources=frozenset(r["resources"]),
                verbs=frozenset(r["verbs"]),
                names=frozenset(r.get("resourceNames") or ()),
                namespace=scope,
            )
            for r in role["rules"]
        )
    return rules


def grants(rules: Iterable[Rule]) -> set[tuple[str, str, str]]:
    """Every (group, resource, verb) the rules grant."""
    return {(g, res, v) for r in rules for g in r.groups for res in r.resources for v in r.verbs}


def denied(calls: Iterable[AuditRecord], rules: list[Rule]) -> list[AuditRecord]:
    """The calls no rule allows, without repeats, sorted."""
    found = {c for c in calls if not any(rule.allows(c) for rule in rules)}
    return sorted(found, key=lambda c: (c.group, c.resource, c.subresource, c.verb, c.namespace))

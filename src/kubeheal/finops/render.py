"""Recommendations as documents: rows for a table, JSON/YAML records, kustomize patches.

`patches` turns recommendations into strategic-merge patches, one file per workload, plus a
``kustomization.yaml`` listing them: drop the directory into a GitOps repository as an
overlay (add the base under ``resources:``) and commit. Only verified workloads whose
resources change get a patch; the others are listed in the kustomization's comments.

Pure: no I/O, no clock (the CLI writes the files).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import yaml

from kubeheal.finops.model import Recommendation, Resources, WorkloadRef
from kubeheal.finops.recommend import format_duration
from kubeheal.finops.units import format_bytes, format_cpu

__all__ = [
    "PATCHABLE_KINDS",
    "patch_filename",
    "patches",
    "recommendation_record",
    "resources_record",
    "table_rows",
]

PATCHABLE_KINDS: Mapping[str, tuple[str, tuple[str, ...]]] = {
    "Deployment": ("apps/v1", ("spec", "template", "spec")),
    "StatefulSet": ("apps/v1", ("spec", "template", "spec")),
    "DaemonSet": ("apps/v1", ("spec", "template", "spec")),
    "ReplicaSet": ("apps/v1", ("spec", "template", "spec")),
    "CronJob": ("batch/v1", ("spec", "jobTemplate", "spec", "template", "spec")),
}
_FIELDS = ("cpu_request", "cpu_limit", "memory_request", "memory_limit")


def _fmt(field_name: str, value: float | None) -> str | None:
    if value is None:
        return None
    return format_cpu(value) if field_name.startswith("cpu") else format_bytes(value)


def resources_record(resources: Resources | None) -> dict[str, str | None]:
    """``{"cpu_request": "250m", "memory_limit": "512Mi", ...}`` (None: not set/unknown)."""
    if resources is None:
        return dict.fromkeys(_FIELDS)
    return {f: _fmt(f, getattr(resources, f)) for f in _FIELDS}


def recommendation_record(rec: Recommendation) -> dict[str, Any]:
    """One recommendation as a JSON/YAML-friendly mapping."""
    return {
        "namespace": rec.workload.namespace,
        "kind": rec.workload.kind,
        "name": rec.workload.name,
        "owner_verified": rec.workload.verified,
        "container": rec.container,
        "strategy": rec.strategy,
        "status": rec.status.value,
        "confidence": rec.confidence.value,
        "history": format_duration(rec.history_seconds),
        "replicas": round(rec.replicas, 2),
        "current": resources_record(rec.current),
        "recommended": resources_record(rec.recommended) if rec.ok else None,
        "unset": sorted(rec.unset),
        "reasons": dict(rec.reasons),
        "notes": list(rec.notes),
    }


def _change(current: str | None, new: str | None) -> str:
    cur = current or "-"
    if new is None or new == current:
        return cur
    return f"{cur} -> {new}"


def table_rows(recs: Iterable[Recommendation]) -> list[tuple[str, ...]]:
    """Rows: namespace, workload, container, CPU request, memory request, memory limit,
    confidence, note."""
    rows: list[tuple[str, ...]] = []
    for rec in recs:
        cur = resources_record(rec.current)
        new = resources_record(rec.recommended) if rec.ok else dict.fromkeys(_FIELDS)
        note = rec.notes[0] if rec.notes else ""
        if not rec.ok:
            note = rec.notes[0] if rec.notes else "no recommendation"
        rows.append(
            (
                rec.workload.namespace,
                f"{rec.workload.kind}/{rec.workload.name}"
                + ("" if rec.workload.verified else " (?)"),
                rec.container,
                _change(cur["cpu_request"], new["cpu_request"]),
                _change(cur["memory_request"], new["memory_request"]),
                _change(cur["memory_limit"], new["memory_limit"]),
                rec.confidence.value,
                note,
            )
        )
    return rows


def patch_filename(ref: WorkloadRef) -> str:
    """``shop-deployment-web.yaml``."""
    return f"{ref.namespace}-{ref.kind.lower()}-{ref.name}.yaml"


def _container_patch(rec: Recommendation) -> dict[str, Any] | None:
    cur = rec.current or Resources()
    requests: dict[str, str | None] = {}
    limits: dict[str, str | None] = {}
    for field_name in _FIELDS:
        new = getattr(rec.recommended, field_name)
        old = getattr(cur, field_name)
        target = requests if field_name.endswith("request") else limits
        resource = field_name.split("_", 1)[0]
        if field_name in rec.unset:
            if old is not None:
                target[resource] = None
            continue
        if new is None:
            continue
        text = _fmt(field_name, new)
        if old is None or _fmt(field_name, old) != text:
            target[resource] = text
    if not requests and not limits:
        return None
    resources: dict[str, Any] = {}
    if requests:
        resources["requests"] = requests
    if limits:
        resources["limits"] = limits
    return {"name": rec.container, "resources": resources}


def _comment(lines: Iterable[str]) -> str:
    return "".join(f"# {line}\n" for line in lines)


def patches(recs: Sequence[Recommendation]) -> dict[str, str]:
    """File name -> YAML text: one strategic-merge patch per workload and a kustomization."""
    by_workload: dict[WorkloadRef, list[Recommendation]] = {}
    for rec in recs:
        by_workload.setdefault(rec.workload, []).append(rec)
    files: dict[str, str] = {}
    skipped: list[str] = []
    for ref in sorted(by_workload):
        items = sorted(by_workload[ref], key=lambda r: r.container)
        kind = PATCHABLE_KINDS.get(ref.kind)
        if kind is None or not ref.verified:
            why = "owner unverified" if not ref.verified else f"a {ref.kind} cannot be patched"
            skipped.append(f"{ref.key}: {why}")
            continue
        containers = []
        header = [f"{ref.kind} {ref.namespace}/{ref.name}: right-sized by kubeheal"]
        for rec in items:
            if not rec.ok:
                skipped.append(f"{rec.key}: {rec.notes[0] if rec.notes else 'no recommendation'}")
                continue
            patch = _container_patch(rec)
            if patch is None:
                continue
            containers.append(patch)
            header.append(
                f"{rec.container}: confidence {rec.confidence.value}, "
                f"{format_duration(rec.history_seconds)} of history"
            )
            header.extend(f"  {name}: {why}" for name, why in sorted(rec.reasons.items()))
            header.extend(f"  note: {note}" for note in rec.notes)
        if not containers:
            continue
        api_version, path = kind
        body: dict[str, Any] = {"containers": containers}
        for key in reversed(path):
            body = {key: body}
        doc = {
            "apiVersion": api_version,
            "kind": ref.kind,
            "metadata": {"name": ref.name, "namespace": ref.namespace},
            **body,
        }
        files[patch_filename(ref)] = _comment(header) + yaml.safe_dump(doc, sort_keys=False)
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1",
        "kind": "Kustomization",
        "patches": [{"path": name} for name in sorted(files)],
    }
    head = [
        "Right-sizing patches generated by `kubeheal rightsize --format patch`.",
        "Use as an overlay: list your base under `resources:` and commit.",
    ]
    if skipped:
        head.append("Not patched:")
        head.extend(f"  {line}" for line in skipped)
    files["kustomization.yaml"] = _comment(head) + yaml.safe_dump(kustomization, sort_keys=False)
    return files

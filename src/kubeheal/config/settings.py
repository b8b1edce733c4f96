"""The settings object: one tree of validated values, nested per concern.

Every field has a default and a description, so ``Settings()`` is a working configuration.
Nothing here reads the environment at import time: ``load_settings`` takes the config file
path and the environment mapping as parameters and is called once by the CLI.

Errors: every problem with a config file or an environment override is raised as
``SettingsError`` (a ``ValueError``) naming the file or variable and the field.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, WithJsonSchema

__all__ = [
    "DetectionSettings",
    "Duration",
    "GuardSettings",
    "IncidentSettings",
    "PlaybookSettings",
    "RemediationSettings",
    "Settings",
    "SettingsError",
    "load_settings",
    "parse_duration",
]

logger = logging.getLogger(__name__)

ENV_PREFIX = "KUBEHEAL_"

_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h|d)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


class SettingsError(ValueError):
    """A config file or environment override is invalid."""


def parse_duration(value: object) -> object:
    """Turn ``"90s"``, ``"5m"``, ``"1h30m"``, ``"2d"`` or a number of seconds into a timedelta.

    Other values (already a timedelta, or garbage) are passed through for pydantic to judge.
    """
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"duration must not be negative, got {value}")
        return timedelta(seconds=value)
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise ValueError("empty duration")
        try:
            seconds = float(text)
        except ValueError:
            pass
        else:
            return parse_duration(seconds)
        pos = 0
        total = 0.0
        for match in _DURATION_PART.finditer(text):
            if match.start() != pos:
                break
            total += float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
            pos = match.end()
        if pos != len(text) or pos == 0:
            raise ValueError(
                f"invalid duration {value!r}: use a number of seconds or units like 30s, 5m, 1h30m"
            )
        return timedelta(seconds=total)
    return value


Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^(\d+(\.\d+)?(ms|s|m|h|d))+$"},
                {"type": "number", "minimum": 0},
            ],
            "description": "A duration: seconds, or units like 30s, 5m, 1h30m.",
        }
    ),
]


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class DetectionSettings(_Section):
    """Thresholds of the detectors."""

    restart_rate_min_restarts: int = Field(
        3, ge=1, description="Restarts a container needs before its restart rate is judged."
    )
    restart_rate_per_hour: float = Field(
        6.0, gt=0, description="Restarts per hour of pod life that count as a high restart rate."
    )
    oom_recent_within: Duration = Field(
        timedelta(hours=1),
        description="An OOMKilled termination older than this is no longer reported.",
    )
    readiness_failing_for: Duration = Field(
        timedelta(minutes=3),
        description="A running pod not ready for longer than this is reported.",
    )
    unschedulable_for: Duration = Field(
        timedelta(seconds=30),
        description="A Pending pod the scheduler rejected for longer than this is reported.",
    )
    rollout_recent_within: Duration = Field(
        timedelta(minutes=30),
        description="A ReplicaSet created within this window counts as a recent rollout.",
    )
    new_replicaset_grace: Duration = Field(
        timedelta(seconds=60),
        description="Pods of a new ReplicaSet get this long to become ready before they count.",
    )
    node_not_ready_for: Duration = Field(
        timedelta(seconds=60),
        description="A node whose Ready condition is not True for longer than this is reported.",
    )
    uncordon_after: Duration = Field(
        timedelta(minutes=10),
        description="A node kubeheal cordoned or drained that has been Ready without memory or "
        "disk pressure for this long is reported as recovered (and made schedulable again).",
    )
    missing_pdb: bool = Field(
        True, description="Report workloads with several replicas and no PodDisruptionBudget."
    )
    missing_pdb_min_replicas: int = Field(
        2, ge=2, description="Replicas from which a workload should have a PodDisruptionBudget."
    )


class IncidentSettings(_Section):
    """How signals become incidents."""

    flapping_threshold: int = Field(
        3,
        ge=2,
        description="Openings of incidents for one target within the window that mean flapping.",
    )
    flapping_window: Duration = Field(
        timedelta(hours=1), description="Window in which re-openings are counted."
    )


class GuardSettings(_Section):
    """Safety limits applied to every action."""

    cooldown: Duration = Field(
        timedelta(minutes=10), description="Minimum time between two actions on one target."
    )
    max_attempts_per_incident: int = Field(
        3, ge=1, description="Actions tried for one incident before it is escalated."
    )
    namespace_budget_per_hour: int = Field(
        10, ge=0, description="Actions per namespace per hour; beyond it kubeheal escalates."
    )
    global_budget_per_hour: int = Field(
        30, ge=0, description="Actions per hour cluster-wide; beyond it kubeheal escalates."
    )
    max_disrupted_share: float = Field(
        0.25,
        gt=0,
        le=1,
        description="Largest share of a workload's pods that may be unavailable at once "
        "(at least one pod is always allowed).",
    )
    max_cordoned_share: float = Field(
        0.2, gt=0, le=1, description="Largest share of nodes that may be cordoned at once."
    )
    max_concurrent_drains: int = Field(
        1, ge=1, description="Nodes kubeheal may cordon or drain at the same time cluster-wide."
    )
    node_lock: str = Field(
        "kube-node-lease/kubeheal-node-maintenance",
        description="namespace/name of the Lease held while a node is drained, so that kubeheal "
        "replicas (and tools honouring it) drain one node at a time cluster-wide; empty: none.",
    )
    excluded_namespaces: tuple[str, ...] = Field(
        ("kube-system",), description="Namespaces kubeheal never acts in."
    )
    kill_switch: bool = Field(
        False, description="Stop all actions (the ConfigMap switch is passed in the history)."
    )
    kill_switch_configmap: str = Field(
        "kubeheal-system/kubeheal-kill-switch",
        description="namespace/name of the ConfigMap whose data.disabled='true' stops all actions.",
    )
    dry_run: bool = Field(False, description="Plan everything, change nothing.")
    gitops_policy: Literal["least-persistent", "escalate"] = Field(
        "least-persistent",
        description="For GitOps-owned workloads: take only non-persistent actions "
        "(least-persistent) or never act (escalate); both escalate with the patch to commit.",
    )


class RemediationSettings(_Section):
    """Hard caps that bound the parameters of every playbook."""

    max_memory_limit: str = Field(
        "8Gi", description="No memory limit is ever raised above this quantity."
    )
    max_replicas: int = Field(50, ge=1, description="No workload is ever scaled above this.")
    max_hpa_max_replicas: int = Field(
        100, ge=1, description="No HPA maxReplicas is ever raised above this."
    )


class PlaybookSettings(_Section):
    """Where playbooks come from."""

    builtins: bool = Field(True, description="Load the built-in playbooks.")
    directories: tuple[Path, ...] = Field(
        (), description="Extra directories of playbook YAML files."
    )
    disabled: tuple[str, ...] = Field((), description="Names of playbooks to turn off.")


class Settings(_Section):
    """Every setting of kubeheal, nested per concern."""

    detection: DetectionSettings = Field(default_factory=DetectionSettings)
    incidents: IncidentSettings = Field(default_factory=IncidentSettings)
    guards: GuardSettings = Field(default_factory=GuardSettings)
    remediation: RemediationSettings = Field(default_factory=RemediationSettings)
    playbooks: PlaybookSettings = Field(default_factory=PlaybookSettings)


def _is_sequence_field(model: type[BaseModel], name: str) -> bool:
    field = model.model_fields.get(name)
    if field is None:
        return False
    origin = getattr(field.annotation, "__origin__", None)
    return origin in (tuple, list)


def _env_overrides(env: Mapping[str, str]) -> dict[str, Any]:
    """Turn ``KUBEHEAL_GUARDS__COOLDOWN=5m`` into ``{"guards": {"cooldown": "5m"}}``."""
    tree: dict[str, Any] = {}
    for key in sorted(env):
        if not key.startswith(ENV_PREFIX):
            continue
        path = key[len(ENV_PREFIX) :].lower().split("__")
        if len(path) != 2 or path[0] not in Settings.model_fields:
            raise SettingsError(
                f"{key}: unknown setting; use {ENV_PREFIX}<SECTION>__<FIELD>, "
                f"sections: {', '.join(sorted(Settings.model_fields))}"
            )
        section, name = path
        section_model = Settings.model_fields[section].annotation
        assert isinstance(section_model, type) and issubclass(section_model, BaseModel)
        raw = env[key]
        value: Any
        if _is_sequence_field(section_model, name):
            value = [item.strip() for item in raw.split(",") if item.strip()]
        else:
            value = raw
        tree.setdefault(section, {})[name] = value
    return tree


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = _merge(dict(merged[key]), value)
        else:
            merged[key] = value
    return merged


def _describe(error: ValidationError, source: str) -> str:
    lines = [f"{source}: invalid settings"]
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or "(root)"
        lines.append(f"  {where}: {item['msg']}")
    return "\n".join(lines)


def load_settings(path: Path | None, env: Mapping[str, str]) -> Settings:
    """Build the settings from an optional YAML/JSON file, then ``KUBEHEAL_*`` overrides.

    Environment variables name a section and a field joined by a double underscore, e.g.
    ``KUBEHEAL_GUARDS__DRY_RUN=true``; list fields take comma-separated values.
    """
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as e:
            raise SettingsError(f"{path}: cannot read settings: {e}") from e
        except yaml.YAMLError as e:
            raise SettingsError(f"{path}: not valid YAML: {e}") from e
        if loaded is None:
            loaded = {}
        if not isinstance(loaded, dict):
            raise SettingsError(f"{path}: settings must be a mapping of sections")
        data = loaded
        try:
            Settings.model_validate(data)
        except ValidationError as e:
            raise SettingsError(_describe(e, str(path))) from e
    overrides = _env_overrides(env)
    try:
        settings = Settings.model_validate(_merge(data, overrides))
    except ValidationError as e:
        raise SettingsError(_describe(e, "environment")) from e
    logger.debug("settings loaded from %s with %d overrides", path, len(overrides))
    return settings

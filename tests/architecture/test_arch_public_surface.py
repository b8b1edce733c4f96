"""The public surface is what the docs say: CLI commands and flags, package exports, rooms.

* every ``kubeheal ...`` command line in README.md and docs/*.md names a real command and
  only options it has; every top-level command is documented somewhere;
* every public package's ``__all__`` imports, without duplicates;
* every source path and Python name docs/architecture.md mentions exists;
* the README's layout names every package of src/kubeheal, and no package that is gone.
"""

from __future__ import annotations

import ast
import importlib
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pytest
import typer.main

from kubeheal.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "kubeheal"
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
ARCHITECTURE = ROOT / "docs" / "architecture.md"

_CODE = re.compile(r"```[^\n]*\n(.*?)```|`([^`\n]+)`", re.S)
_COMMAND = re.compile(r"(?:^|(?<=[\s/(]))kubeheal((?:[ \t]+[^\s|;&`]+)*)")
_WORD = re.compile(r"[a-z][a-z0-9-]*")
_FLAG = re.compile(r"^\[?(--?[a-zA-Z][a-zA-Z0-9-]*)")


def _options(command: Any) -> set[str]:
    return {
        opt
        for param in command.params
        if param.param_type_name == "option"
        for opt in (*param.opts, *param.secondary_opts)
    } | {"--help"}


def _command_lines(text: str) -> Iterable[str]:
    """The code of ``text`` (fenced blocks and inline spans), line by line, comments cut."""
    for match in _CODE.finditer(text):
        for line in (match.group(1) or match.group(2)).splitlines():
            yield re.split(r"(?:^|\s)#", line.replace("\\|", "|"), maxsplit=1)[0]


def command_problems(text: str, source: str, root: Any) -> tuple[list[str], set[str]]:
    """(what ``text`` says about the CLI that is not so, the top-level commands it uses)."""
    problems: list[str] = []
    used: set[str] = set()
    for line in _command_lines(text):
        for found in _COMMAND.finditer(line):
            words = found.group(1).split()
            if not words:
                continue
            command, path, i = root, ["kubeheal"], 0
            while i < len(words) and words[i] in getattr(command, "commands", {}):
                command = command.commands[words[i]]
                path.append(words[i])
                i += 1
            rest = words[i:]
            if len(path) == 1:
                if _WORD.fullmatch(words[0]):
                    problems.append(f"{source}: `kubeheal {words[0]}` is not a command")
                continue
            used.add(path[1])
            if hasattr(command, "commands") and rest and _WORD.fullmatch(rest[0]):
                problems.append(f"{source}: `{' '.join(path)} {rest[0]}` is not a command")
                continue
            for word in rest:
                flag = _FLAG.match(word)
                if flag and flag.group(1) not in _options(command):
                    problems.append(f"{source}: `{' '.join(path)}` has no option {flag.group(1)}")
    return problems, used


@pytest.fixture(scope="module")
def cli() -> Any:
    return typer.main.get_command(app)


def test_every_documented_command_and_option_exists(cli: Any) -> None:
    problems: list[str] = []
    for doc in DOCS:
        found, _ = command_problems(doc.read_text(encoding="utf-8"), doc.name, cli)
        problems += found
    assert problems == []


def test_every_top_level_command_is_documented(cli: Any) -> None:
    used: set[str] = set()
    for doc in DOCS:
        used |= command_problems(doc.read_text(encoding="utf-8"), doc.name, cli)[1]
    assert sorted(set(cli.commands) - used) == []


def test_the_command_scan_sees_drift(cli: Any) -> None:
    text = (
        "Run `kubeheal run --kubeconfig K --no-such-flag`, then `kubeheal frobnicate`.\n"
        "```sh\n.venv/bin/kubeheal slo generate SPEC --out D   # fine\n"
        "kubeheal slo nosuch X\nkubeheal twin fault --list\n```\n"
        "`kubeheal incident list|show|ack ID --by NAME` # kubeheal does things\n"
    )
    problems, used = command_problems(text, "x.md", cli)
    assert problems == [
        "x.md: `kubeheal run` has no option --no-such-flag",
        "x.md: `kubeheal frobnicate` is not a command",
        "x.md: `kubeheal slo nosuch` is not a command",
    ]
    assert used == {"run", "slo", "twin", "incident"}


def _packages() -> list[str]:
    return sorted(
        ".".join(init.parent.relative_to(SRC.parent).parts) for init in SRC.rglob("__init__.py")
    )


@pytest.mark.parametrize("name", _packages())
def test_public_exports_import(name: str) -> None:
    package = importlib.import_module(name)
    exported = getattr(package, "__all__", None)
    if exported is None:  # not a public package: nothing is promised
        return
    assert len(set(exported)) == len(exported), f"{name}.__all__ repeats a name"
    assert [n for n in exported if not hasattr(package, n)] == []


def _defined_names() -> set[str]:
    """Every top-level name of src/kubeheal (and tests/support), and the methods and fields
    of every class (as ``Class.name``; methods also bare, as docs call them: ``settled()``)."""
    names: set[str] = set()
    for path in [*SRC.rglob("*.py"), *(ROOT / "tests" / "support").glob("*.py")]:
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                names.add(node.name)
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        names |= {f"{node.name}.{item.name}", item.name}
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        names.add(f"{node.name}.{item.target.id}")
            targets = node.targets if isinstance(node, ast.Assign) else []
            if isinstance(node, ast.AnnAssign):
                targets = [node.target]
            names |= {t.id for t in targets if isinstance(t, ast.Name)}
    return names


KUBERNETES_NAMES = {"GetPodQOS", "Status", "fieldValidation"}
"""Names in docs/architecture.md that are Kubernetes', not kubeheal's."""


def _spans(text: str) -> list[str]:
    return re.findall(r"`([^`\n]+)`", text)


def test_architecture_paths_exist() -> None:
    missing = []
    for span in _spans(ARCHITECTURE.read_text(encoding="utf-8")):
        if not re.fullmatch(r"[a-z_][\w/.-]*(\.py|/)", span) or "/" not in span.rstrip("/"):
            continue
        if span.startswith(("tests/", "scripts/", "deploy/", "docs/")):
            path = ROOT / span
        else:
            path = SRC / span
        if not path.exists():
            missing.append(span)
    assert missing == []


def test_architecture_names_exist() -> None:
    defined = _defined_names()
    unknown = []
    for span in _spans(ARCHITECTURE.read_text(encoding="utf-8")):
        name = re.sub(r"\(.*\)$", "", span)
        if span.startswith("kubeheal.") and re.fullmatch(r"[\w.]+", span):
            try:
                importlib.import_module(span)
            except ImportError:
                unknown.append(span)
            continue
        is_name = re.fullmatch(r"[A-Z][A-Za-z0-9_]*(\.[a-z_]+)?|[A-Z][A-Z0-9_]+", name)
        is_call = span.endswith(")") and re.fullmatch(r"[a-z_][a-z0-9_]*", name)
        if (is_name or is_call) and name not in KUBERNETES_NAMES and name not in defined:
            unknown.append(span)
    assert unknown == []


def test_readme_layout_names_every_package() -> None:
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = text.split("## Layout", 1)[1].split("```", 2)[1]
    named = set(re.findall(r"(?:^|\s)([a-z]+)/", layout.split("src/kubeheal/", 1)[1]))
    named -= {"tests", "bench", "docs"}
    packages = {p.parent.name for p in SRC.glob("*/__init__.py")}
    assert sorted(packages - named) == [], "packages the README's layout does not name"
    assert sorted(named - packages) == [], "the README's layout names packages that are gone"

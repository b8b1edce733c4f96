"""Guarded tasks: one helper at the floor (kubeheal.aio), and no bare task creation elsewhere."""

from __future__ import annotations

import ast
import asyncio
from pathlib import Path

import pytest

import kubeheal.runtime.tasks
from kubeheal.aio import Tasks, named_task

SRC = Path(__file__).resolve().parents[2] / "src" / "kubeheal"
BARE = {"create_task", "ensure_future"}
EXEMPT = ("aio/", "twin/")
"""The helper itself, and the cluster twin (a simulated API server for tests and the demo,
not part of the operator; its serve loop owns and cancels its simulation task)."""


def bare_task_calls(root: Path) -> list[str]:
    """``file:line`` of every ``....create_task(...)`` / ``....ensure_future(...)`` call."""
    found: list[str] = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).as_posix()
        if rel.startswith(EXEMPT):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in BARE
            ):
                found.append(f"{rel}:{node.lineno}")
    return found


def test_no_bare_task_creation_outside_the_helper() -> None:
    assert bare_task_calls(SRC) == []


def test_the_scan_finds_a_bare_task(tmp_path: Path) -> None:
    (tmp_path / "chaos").mkdir()
    (tmp_path / "chaos" / "runner.py").write_text(
        "import asyncio\n\nasync def f(c):\n    t = asyncio.ensure_future(c)\n"
        "    u = asyncio.get_running_loop().create_task(c)\n"
    )
    assert bare_task_calls(tmp_path) == ["chaos/runner.py:4", "chaos/runner.py:5"]


def test_the_runtime_uses_the_floor_helper() -> None:
    assert kubeheal.runtime.tasks.Tasks is Tasks
    assert kubeheal.runtime.tasks.named_task is named_task


async def test_named_task_is_named_and_its_outcome_is_the_holders() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    task = named_task("chaos-probes:demo", fails())
    assert task.get_name() == "chaos-probes:demo"
    with pytest.raises(RuntimeError, match="boom"):
        await task


async def test_named_task_refuses_an_unnamed_task() -> None:
    async def work() -> None:
        await asyncio.sleep(0)

    with pytest.raises(ValueError, match="needs a name"):
        named_task("", work())  # the coroutine is closed: no "never awaited" warning


async def test_tasks_spawn_names_logs_and_reaps(caplog: pytest.LogCaptureFixture) -> None:
    tasks = Tasks()
    started = asyncio.Event()

    async def fails() -> None:
        raise RuntimeError("lost")

    async def forever() -> None:
        started.set()
        await asyncio.Event().wait()

    failing = tasks.spawn("failing", fails())
    tasks.spawn("forever", forever())
    await started.wait()
    await asyncio.wait([failing])
    await asyncio.sleep(0)  # the done callback runs on the next loop iteration
    assert tasks.names() == ["forever"]
    assert [(name, str(e)) for name, e in tasks.failures] == [("failing", "lost")]
    assert "task failing failed" in caplog.text
    await tasks.stop(timeout=5)
    assert len(tasks) == 0

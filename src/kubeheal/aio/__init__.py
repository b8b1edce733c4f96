"""asyncio helpers every layer may use (the floor, beside ``config`` and ``model``).

* :class:`Tasks`: the guarded-task set (named, logged when they fail, reaped, cancelled and
  awaited on stop), re-exported by ``kubeheal.runtime.tasks`` for the operator;
* :func:`named_task`: one named task whose holder awaits it (what ``Tasks.spawn`` builds on).

No bare ``asyncio.create_task`` or ``asyncio.ensure_future`` anywhere else in kubeheal (a test
in tests/architecture checks).
"""

from kubeheal.aio.tasks import Tasks, named_task

__all__ = ["Tasks", "named_task"]

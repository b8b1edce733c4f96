"""Guarded tasks for the operator: every long-lived task runs through :class:`Tasks`.

The set itself lives at the floor (:mod:`kubeheal.aio.tasks`) so that the layers below the
runtime (chaos, notify, ...) use the same helper; this module is where the runtime and the
server import it from. No bare `asyncio.create_task` elsewhere in kubeheal.
"""

from __future__ import annotations

from kubeheal.aio.tasks import Tasks, named_task

__all__ = ["Tasks", "named_task"]

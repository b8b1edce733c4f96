"""Helpers every test area shares, imported as ``support`` (``pythonpath = ["tests"]``).

* :func:`until` / :func:`until_sync`: poll a condition with a deadline (never a fixed sleep);
  a timeout fails with what was awaited, the last error seen and any context given;
* :class:`Kit`: the vocabulary of the tests that run the operator against its cluster twin
  (speed, sweep interval, the sample app, a bad rollout, the ledger's incidents of a target).

This is a regular package (it has an ``__init__.py``) so that it is imported by name, unlike
the test directories, which pytest imports in importlib mode.
"""

from support.harness import Kit
from support.waiting import DEADLINE, until, until_sync

__all__ = ["DEADLINE", "Kit", "until", "until_sync"]

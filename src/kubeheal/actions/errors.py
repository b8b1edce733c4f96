"""Retry intent of a failed action, as types.

Every error an executor raises says what the caller should do next::

    ActionError
    ├── TemporaryError(delay=...)   try again after ``delay`` seconds (API unavailable,
    │                               conflicts that persisted through the executor's own retries)
    └── PermanentError              do not retry: the target is gone, RBAC forbids the write,
                                    or the planned input is invalid

Errors of the Kubernetes clients (``kubeheal.clients.kube.KubeError``) never leave
``kubeheal.actions``: they are translated with ``raise ... from e``.
"""

from __future__ import annotations

__all__ = ["ActionError", "PermanentError", "TemporaryError"]


class ActionError(Exception):
    """Base of the errors an action raises."""


class TemporaryError(ActionError):
    """The action could not run now; retry it after ``delay`` seconds."""

    def __init__(self, message: str, *, delay: float) -> None:
        super().__init__(message)
        self.delay = delay


class PermanentError(ActionError):
    """The action cannot succeed as planned; retrying it is pointless."""

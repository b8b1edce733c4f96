"""Exceptions of kubeheal.anomaly.

::

    AnomalyError                 base of everything this package raises
    ├── AnomalyInputError        bad input: unordered/duplicate timestamps, NaN, wrong shapes
    └── DetectorStateError       a saved detector state that cannot be restored
"""

from __future__ import annotations

__all__ = ["AnomalyError", "AnomalyInputError", "DetectorStateError"]


class AnomalyError(Exception):
    """Base of the anomaly package's exceptions."""


class AnomalyInputError(AnomalyError, ValueError):
    """Input the detectors or forecasters cannot use; ``index`` names the offending point."""

    def __init__(self, message: str, *, index: int | None = None) -> None:
        super().__init__(message)
        self.index = index


class DetectorStateError(AnomalyError, ValueError):
    """A saved state of a different version, configuration or shape."""

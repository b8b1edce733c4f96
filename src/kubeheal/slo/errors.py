"""Errors of the SLO package (one tree for its two boundaries: spec files and Prometheus).

::

    SloError
    ├── SloSpecError (also ValueError)   a spec is invalid: names the file and each field path
    └── SloQueryError                    Prometheus could not evaluate an SLO (wraps the
                                         client's PrometheusError; library errors never leak)
"""

from __future__ import annotations

__all__ = ["SloError", "SloQueryError", "SloSpecError"]


class SloError(Exception):
    """Base of every SLO error."""


class SloSpecError(SloError, ValueError):
    """An SLO spec is invalid.

    ``source`` names the file (and the YAML document when a file holds several), ``problems``
    holds ``(field path, message)`` pairs such as ``("slos[0].objective", "must be ...")``.
    """

    def __init__(self, source: str, problems: list[tuple[str, str]] | tuple[str, str]) -> None:
        items = [problems] if isinstance(problems, tuple) else list(problems)
        self.source = source
        self.problems: tuple[tuple[str, str], ...] = tuple(items)
        if len(items) == 1:
            field, message = items[0]
            text = f"{source}: {field}: {message}" if field else f"{source}: {message}"
        else:
            lines = [f"{source}: invalid SLO spec"]
            lines += [f"  {field or '(root)'}: {message}" for field, message in items]
            text = "\n".join(lines)
        super().__init__(text)

    @property
    def fields(self) -> tuple[str, ...]:
        """The field paths of every problem."""
        return tuple(field for field, _ in self.problems)


class SloQueryError(SloError):
    """Prometheus could not evaluate an SLO (unreachable, or the query was rejected)."""

"""The chaos package's exceptions.

Everything that stops an experiment before its first fault is a `ChaosError`, with a message
that names what is wrong; nothing is injected once one is raised::

    ChaosError
    ├── ExperimentSpecError   the experiment file is invalid (every problem listed)
    ├── TargetSelectionError  a fault's target selects nothing (no pod, no node, no object)
    ├── ProbeUnreachable      a probe cannot be evaluated at all (URL unreachable, bad query)
    ├── SteadyStateNotMet     the probes fail before any fault: nothing to learn
    ├── BudgetRefused         an error budget is below the policy, or an SLO burns fast
    ├── UnsupportedFault      the fault cannot be made on this cluster (no simulator, ...)
    └── FaultFailed           injecting a fault failed (raised inside the method, which
                              then stops; rollbacks still run)
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BudgetRefused",
    "ChaosError",
    "ExperimentSpecError",
    "FaultFailed",
    "ProbeUnreachable",
    "SteadyStateNotMet",
    "TargetSelectionError",
    "UnsupportedFault",
]


class ChaosError(Exception):
    """Base of the chaos package's errors."""


class ExperimentSpecError(ChaosError, ValueError):
    """The experiment file is invalid; ``problems`` lists every problem by field."""

    def __init__(self, source: str, problems: Sequence[str]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"invalid experiment {source}:\n{lines}")


class TargetSelectionError(ChaosError):
    """A fault's target selects nothing."""


class ProbeUnreachable(ChaosError):
    """A probe cannot be evaluated (as opposed to evaluating to a failure)."""


class SteadyStateNotMet(ChaosError):
    """The steady-state hypothesis does not hold before the method."""


class BudgetRefused(ChaosError):
    """The error-budget policy forbids the experiment now."""


class UnsupportedFault(ChaosError):
    """The fault cannot be made against this cluster."""


class FaultFailed(ChaosError):
    """A fault could not be injected."""

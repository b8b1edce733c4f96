"""What one action did: the outcome the runtime records in the ledger.

Pure data.
"""

from __future__ import annotations

import enum

import msgspec

__all__ = ["ActionOutcome", "EvidenceValue", "OutcomeState"]

EvidenceValue = str | int | float | bool | None | list[str]
"""A value kept for audit: previous replicas, the images rolled back from, evicted pods."""


class OutcomeState(enum.StrEnum):
    """How an action ended."""

    SUCCEEDED = "succeeded"
    """The desired state is in place (``changed`` says whether kubeheal put it there)."""
    FAILED = "failed"
    """The action ran but did not reach the desired state (e.g. a drain PDBs kept blocking)."""
    SKIPPED = "skipped"
    """Nothing was changed on purpose (dry run)."""


class ActionOutcome(msgspec.Struct, frozen=True, kw_only=True):
    """The result of ``kubeheal.actions.execute``.

    ``evidence`` holds the values an auditor needs (what was there before, what was
    written); ``detail`` says the same in one sentence for humans.
    """

    state: OutcomeState
    changed: bool
    detail: str
    evidence: dict[str, EvidenceValue] = {}

    @property
    def ok(self) -> bool:
        """Whether the action reached (or, dry run, would reach) its desired state."""
        return self.state is not OutcomeState.FAILED

"""Playbooks: the YAML language (``schema``), loading with precise errors (``loader``),
matching against incidents (``match``), and the built-in playbook files in this directory."""

from kubeheal.engine.playbooks.loader import (
    PlaybookError,
    PlaybookIssue,
    PlaybookSet,
    builtin_directory,
    export_json_schema,
    load_builtin_playbooks,
    load_playbooks,
    parse_playbooks,
    validate_directory,
)
from kubeheal.engine.playbooks.match import conditions_hold, matching_playbooks, triggered_by
from kubeheal.engine.playbooks.schema import (
    ActionName,
    Conditions,
    Mode,
    OnFailure,
    Playbook,
    Step,
    Triggers,
    Verification,
    VerificationCheck,
)

__all__ = [
    "ActionName",
    "Conditions",
    "Mode",
    "OnFailure",
    "Playbook",
    "PlaybookError",
    "PlaybookIssue",
    "PlaybookSet",
    "Step",
    "Triggers",
    "Verification",
    "VerificationCheck",
    "builtin_directory",
    "conditions_hold",
    "export_json_schema",
    "load_builtin_playbooks",
    "load_playbooks",
    "matching_playbooks",
    "parse_playbooks",
    "triggered_by",
    "validate_directory",
]

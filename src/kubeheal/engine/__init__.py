"""The pure decision core: signals, incidents, playbooks, guards, plans. No I/O, no clock.

- ``detect``: snapshot -> signals; ``incidents``: signals -> incidents and their lifecycle;
- ``playbooks``: the playbook language, loader and built-ins; ``guards`` and ``plan``:
  ``decide(incident, view, history, settings, now=..., playbooks=...) -> Plan``.
"""

from kubeheal.engine.detect import detect
from kubeheal.engine.guards import Allow, Block
from kubeheal.engine.incidents import InvalidTransition, correlate, transition
from kubeheal.engine.plan import ActionPlan, EscalatePlan, NoAction, Plan, decide

__all__ = [
    "ActionPlan",
    "Allow",
    "Block",
    "EscalatePlan",
    "InvalidTransition",
    "NoAction",
    "Plan",
    "correlate",
    "decide",
    "detect",
    "transition",
]

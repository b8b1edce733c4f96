"""Escalation and notifications: who is told what about an incident kubeheal could not fix.

The pure parts live here (the runtime loop is `kubeheal.runtime.notifications`, the network
transports `kubeheal.clients.notify_transport`, the records `kubeheal.store.outbox`):

- `policy`: an incident's category and severity, and the escalation policy routed to it;
- `escalation`: the state machine (levels at their waits, acknowledgement, end, updates);
- `context`: what a message says, from the ledger's records (timeline, actions, next step
  with exact kubectl, runbook and dashboard links);
- `render`: Slack Block Kit, Teams Adaptive Card, PagerDuty Events v2, e-mail, webhook JSON;
- `outbox`: notification keys and retry timing;
- `delivery`: sending one recorded notification through injected transports (adds the
  secrets, signs generic webhooks).
"""

from kubeheal.notify.context import IncidentContext, build_context, suggested_commands
from kubeheal.notify.delivery import Dispatcher, HttpPoster, MailSender, sign
from kubeheal.notify.escalation import Step, plan_step
from kubeheal.notify.outbox import notification_key, retry_delay
from kubeheal.notify.policy import Classification, classify, select_policy
from kubeheal.notify.render import Notice, render

__all__ = [
    "Classification",
    "Dispatcher",
    "HttpPoster",
    "IncidentContext",
    "MailSender",
    "Notice",
    "Step",
    "build_context",
    "classify",
    "notification_key",
    "plan_step",
    "render",
    "retry_delay",
    "select_policy",
    "sign",
    "suggested_commands",
]

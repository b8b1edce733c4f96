"""The ConfigMap kill switch: read before the first decision and at every sweep.

Absent (404) is off; any other failure (5xx, timeout, 403, an undecodable answer, a value
that is neither true nor false) is unknown, and unknown stops every action
(`kubeheal.engine.guards.kill_switch`). A change of state is logged once and exported as
``kubeheal_kill_switch_state``; failed reads are counted.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from kubeheal.clients.kube import KubeError, KubeNotFound
from kubeheal.model.history import KillSwitch, KillSwitchState
from kubeheal.runtime.metrics import OperatorMetrics

__all__ = ["KillSwitchReader", "kill_switch_value", "printable"]

log = logging.getLogger(__name__)

_SWITCH_VALUES = {
    "true": KillSwitchState.ON, "yes": KillSwitchState.ON, "on": KillSwitchState.ON,
    "1": KillSwitchState.ON, "false": KillSwitchState.OFF, "no": KillSwitchState.OFF,
    "off": KillSwitchState.OFF, "0": KillSwitchState.OFF, "": KillSwitchState.OFF,
}  # fmt: skip


def kill_switch_value(cm: Any) -> tuple[KillSwitchState, str]:
    """The state a kill switch ConfigMap (as read) says: ``data.disabled`` true or false;
    anything else is unknown (someone meant something: do not guess "off")."""
    data = cm.get("data") if isinstance(cm, dict) else None
    if data is None:
        return KillSwitchState.OFF, ""
    if not isinstance(data, dict):
        return KillSwitchState.UNKNOWN, "its data is not a map"
    value = data.get("disabled", "")
    state = _SWITCH_VALUES.get(value.strip().lower()) if isinstance(value, str) else None
    if state is None:
        return KillSwitchState.UNKNOWN, f"data.disabled is {str(value)[:40]!r}, not true or false"
    return state, ""


def printable(text: str) -> str:
    """``text`` on one line with control characters escaped (it may quote the API server)."""
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)[:300]


class KillSwitchReader:
    """The kill switch as last read (`state`), refreshed by `refresh`."""

    def __init__(
        self,
        *,
        read: Callable[[str, str], Awaitable[dict[str, Any]]],
        metrics: OperatorMetrics,
        clock: Callable[[], datetime],
    ) -> None:
        self._read = read
        """Reads the ConfigMap namespace/name (`kubeheal.actions.cluster.read_config_map`)."""
        self.metrics = metrics
        self.now = clock
        self.state = KillSwitch(state=KillSwitchState.UNKNOWN, reason="not read yet")
        self.metrics.kill_switch_state.labels(state=KillSwitchState.UNKNOWN.value).set(1)

    async def refresh(self, where: str) -> None:
        """Read the ConfigMap ``where`` (``namespace/name``; empty: no switch configured)."""
        namespace, _, name = where.partition("/")
        state, reason = KillSwitchState.OFF, ""
        if not where:
            pass  # no ConfigMap switch configured
        elif not namespace or not name:
            state = KillSwitchState.UNKNOWN
            reason = f"guards.kill_switch_configmap {where!r} is not namespace/name"
        else:
            try:
                cm = await self._read(namespace, name)
            except KubeNotFound:
                pass  # no switch: off
            except KubeError as e:
                state, reason = KillSwitchState.UNKNOWN, f"{type(e).__name__}: {e}"
                self.metrics.kill_switch_read_failures.inc()
            else:
                state, reason = kill_switch_value(cm)
        self._set(state, printable(reason), where or "(none configured)")

    def _set(self, state: KillSwitchState, reason: str, where: str) -> None:
        previous = self.state
        if state is previous.state and previous.since is not None:
            self.state = KillSwitch(state=state, reason=reason, since=previous.since)
            return
        # A change of state (or the first read): said once, not at every sweep.
        self.state = KillSwitch(state=state, reason=reason, since=self.now())
        for each in KillSwitchState:
            self.metrics.kill_switch_state.labels(state=each.value).set(int(each is state))
        if state is KillSwitchState.UNKNOWN:
            log.warning(
                "kill switch %s cannot be read (%s): no action is taken until it can",
                where, reason,
            )  # fmt: skip
        elif state is KillSwitchState.ON:
            log.warning("kill switch %s is on: no action is taken", where)
        elif previous.since is not None:
            log.info("kill switch %s is off: actions may proceed", where)

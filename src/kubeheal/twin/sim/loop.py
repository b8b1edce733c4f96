"""The simulation loop: runs every controller once per tick, in a fixed order.

Deterministic: given the same store, clock and seed, the same steps produce the same cluster.
Tests drive it with a `ManualClock` and `Simulation.run_for`; the server runs `Simulation.run`
as an asyncio task ticking on the wall clock (time possibly accelerated).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Protocol

from kubeheal.twin.clock import Clock, ManualClock
from kubeheal.twin.store import ObjectStore

__all__ = ["Controller", "Simulation"]

log = logging.getLogger(__name__)


class Controller(Protocol):
    """One simulated control loop (deployment controller, scheduler, kubelet, ...)."""

    name: str

    def step(self, now: float) -> None:
        """Observe the store and act once, as of simulated time `now` (epoch seconds)."""
        ...


class Simulation:
    """Runs controllers in order against one store."""

    def __init__(
        self, *, store: ObjectStore, clock: Clock, controllers: Sequence[Controller] = ()
    ) -> None:
        self.store = store
        self.clock = clock
        self.controllers: list[Controller] = list(controllers)
        self.steps = 0
        self.paused = False

    def add(self, controller: Controller) -> None:
        self.controllers.append(controller)

    def step(self) -> None:
        """Run every controller once at the clock's current time."""
        now = self.clock.now()
        for controller in self.controllers:
            try:
                controller.step(now)
            except Exception:
                # A controller bug must not stop the others, nor the API server.
                log.exception("controller %s failed at t=%.1f", controller.name, now)
        self.steps += 1

    def run_for(self, seconds: float, *, tick: float = 1.0) -> None:
        """Advance a ManualClock by `seconds` in `tick` steps, stepping after each (tests)."""
        if not isinstance(self.clock, ManualClock):
            raise TypeError("run_for needs a ManualClock; use run() with a wall clock")
        remaining = seconds
        while remaining > 1e-9:
            dt = min(tick, remaining)
            self.clock.advance(dt)
            self.step()
            remaining -= dt

    async def run(self, *, interval: float = 0.1) -> None:
        """Step every `interval` wall seconds until cancelled (server mode)."""
        while True:
            if not self.paused:
                with self.store.lock:
                    self.step()
            await asyncio.sleep(interval)

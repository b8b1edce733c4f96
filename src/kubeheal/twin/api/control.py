"""The twin's own endpoints beside the Kubernetes API, never faulted: `/twin/faults/api`
(API faults, dropped watches, compaction), `/twin/faults` (pod and node faults),
`/twin/status` and `/metrics`.
"""

from __future__ import annotations

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from kubeheal.twin.api.requests import error_response, json_response
from kubeheal.twin.apifaults import ApiFaultSettings
from kubeheal.twin.clock import WallClock, format_time
from kubeheal.twin.cluster import Twin
from kubeheal.twin.errors import ApiError, BadRequest, NotFound
from kubeheal.twin.metrics import render_metrics
from kubeheal.twin.sim.faults import FaultError, FaultSpec

__all__ = ["Control"]


class Control:
    """The control endpoints over one twin."""

    def __init__(self, twin: Twin) -> None:
        self.twin = twin
        self.store = twin.store

    async def api_faults(self, request: Request) -> Response:
        faults = self.twin.api_faults
        if request.method == "GET":
            return json_response(faults.snapshot())
        if request.method == "DELETE":
            faults.reset()
            return json_response(faults.snapshot())
        raw = await request.body()
        try:
            settings = ApiFaultSettings.model_validate_json(raw or b"{}")
        except ValidationError as e:
            return error_response(BadRequest(f"invalid API fault settings: {e}"))
        faults.configure(settings)
        return json_response(faults.snapshot())

    async def drop_watches(self, request: Request) -> Response:
        return json_response({"dropped": self.store.drop_watches()})

    async def compact(self, request: Request) -> Response:
        return json_response({"compactedResourceVersion": str(self.store.compact())})

    async def faults(self, request: Request) -> Response:
        injector = self.twin.faults
        if injector is None:
            return error_response(
                NotFound("pod/node fault injection is not available in this build of the twin")
            )
        try:
            if request.method == "GET":
                return json_response({"faults": [f.to_dict() for f in injector.active()]})
            if request.method == "DELETE":
                fault_id = request.path_params.get("fault_id")
                with self.store.lock:
                    if not fault_id:
                        return json_response({"cleared": injector.clear_all()})
                    injector.clear(fault_id)
                return json_response({"cleared": fault_id})
            raw = await request.body()
            try:
                spec = FaultSpec.model_validate_json(raw or b"{}")
            except ValidationError as e:
                return error_response(BadRequest(f"invalid fault: {e}"))
            with self.store.lock:
                fault_id = injector.inject(spec)
            return json_response({"id": fault_id}, status=201)
        except ApiError as err:
            return error_response(err)
        except LookupError as e:
            return error_response(NotFound(f"fault request failed: {e}"))
        except FaultError as e:
            return error_response(BadRequest(f"fault request failed: {e}"))

    async def status(self, request: Request) -> Response:
        """The store's versions, the simulated clock and what runs. ``time`` (RFC 3339,
        whole seconds) and ``epochSeconds`` (the same instant, sub-second) are the twin's
        clock; ``speed`` is how many simulated seconds pass per wall second, null for a clock
        that moves only when told (``clock``: ``wall`` or ``manual``). An operator talking
        to the twin follows this clock instead of the wall."""
        sim = self.twin.simulation
        clock = self.twin.clock
        speed = clock.speed if isinstance(clock, WallClock) else None
        with self.store.lock:
            now = clock.now()
            counts = {
                t.plural if not t.group else f"{t.plural}.{t.group}": self.store.count(t)
                for t in self.store.registry
                if self.store.count(t)
            }
            return json_response(
                {
                    "resourceVersion": str(self.store.resource_version),
                    "compactedResourceVersion": str(self.store.compacted_rv),
                    "time": format_time(now),
                    "epochSeconds": now,
                    "speed": speed,
                    "clock": "wall" if isinstance(clock, WallClock) else "manual",
                    "scenario": self.twin.scenario,
                    "simulationSteps": sim.steps,
                    "controllers": [c.name for c in sim.controllers],
                    "objects": counts,
                }
            )

    async def metrics(self, request: Request) -> Response:
        with self.store.lock:
            body = render_metrics(
                store=self.store, runtime=self.twin.runtime, now=self.twin.clock.now()
            )
        return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")

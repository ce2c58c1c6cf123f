"""``POST /v1/sessions``, ``/v1/sessions/{id}/update`` and ``/terminate`` (tenant-scoped).

See :mod:`roamlike.service.sessions` for the grant; used units go through the events writer.
"""

from __future__ import annotations

import datetime as dt

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roamlike.law import Catalog
from roamlike.service.events import EventWriter
from roamlike.service.http import body_bytes, decode_json
from roamlike.service.problems import ProblemError
from roamlike.service.schemas import EventRecord, SessionOpen, SessionUpdate
from roamlike.service.sessions import continue_session, open_session, session_of, stored_answer
from roamlike.service.tenants import PlanVersion
from roamlike.service.tenants_api import TenantsApi
from roamlike.tariffs import FxTable

_open_decoder = msgspec.json.Decoder(SessionOpen)
_update_decoder = msgspec.json.Decoder(SessionUpdate)


class SessionsApi:
    """Credit-control sessions over the tenants' store and the events writer."""

    def __init__(
        self, tenants: TenantsApi, writer: EventWriter, fx: FxTable, catalog: Catalog
    ) -> None:
        self.tenants = tenants
        self.writer = writer
        self.fx = fx
        self.catalog = catalog

    async def open(self, request: Request) -> Response:
        """``POST /v1/sessions``: reserve units (request number 0)."""
        tenant = await self.tenants.tenant(request)
        opened = decode_json(await body_bytes(request), _open_decoder)
        try:
            dt.datetime.fromisoformat(opened.started_at.strip().replace("Z", "+00:00"))
        except ValueError:
            raise ProblemError(
                400, f"started_at: expected ISO 8601, found {opened.started_at!r}", "bad-time"
            ) from None
        versions = await self.tenants.versions(tenant)
        fx = await self.tenants.fx_for(tenant) or self.fx
        body = await self.tenants.runner.run(
            open_session, tenant.tenant_id, versions, opened, fx, self.catalog
        )
        return Response(body, media_type="application/json")

    async def _continue(self, request: Request, terminate: bool) -> Response:
        tenant = await self.tenants.tenant(request)
        sid = str(request.path_params["session_id"])
        req = decode_json(await body_bytes(request), _update_decoder)
        run = self.tenants.runner.run
        repeat = await run(stored_answer, tenant.tenant_id, sid, req.request_number)
        if repeat is not None:
            return Response(repeat, media_type="application/json")
        opened, state, expires = await run(session_of, tenant.tenant_id, sid)
        if state == "terminated":
            raise ProblemError(409, f"session {sid!r} is terminated", "session-closed")
        now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        if expires < now and not terminate:
            raise ProblemError(
                409,
                f"session {sid!r} expired at {expires} and its reservation was released: "
                "terminate it and open a new one",
                "session-expired",
            )
        is_data = opened.event_type == "data"
        record = EventRecord(
            record_id=f"{sid}#{req.request_number:09d}",
            subscriber_id=opened.subscriber_id,
            plan_id=opened.plan_id,
            event_type=opened.event_type,
            started_at=opened.started_at,
            utc_offset_min=opened.utc_offset_min,
            home_country=opened.home_country,
            visited_country=opened.visited_country,
            volume_bytes=req.used_units if is_data else None,
            duration_s=None if is_data else req.used_units,
        )
        versions = await self.tenants.versions(tenant)
        if record.home_country is None:
            record = msgspec.structs.replace(record, home_country=_home(versions, opened))
        fx = await self.tenants.fx_for(tenant) or self.fx
        usage = await self.writer.submit(tenant.tenant_id, versions, [record], fx)
        body = await run(
            continue_session,
            tenant.tenant_id,
            versions,
            sid,
            req.request_number,
            0 if terminate else req.requested_units,
            terminate,
            usage,
            fx,
            self.catalog,
        )
        return Response(body, media_type="application/json")

    async def update(self, request: Request) -> Response:
        """``POST /v1/sessions/{session_id}/update``: report used units, reserve more."""
        return await self._continue(request, terminate=False)

    async def terminate(self, request: Request) -> Response:
        """``POST /v1/sessions/{session_id}/terminate``: report the final units, release."""
        return await self._continue(request, terminate=True)

    def routes(self) -> list[Route]:
        """The routes of credit control."""
        return [
            Route("/v1/sessions", self.open, methods=["POST"]),
            Route("/v1/sessions/{session_id}/update", self.update, methods=["POST"]),
            Route("/v1/sessions/{session_id}/terminate", self.terminate, methods=["POST"]),
        ]


def _home(versions: list[PlanVersion], opened: SessionOpen) -> str | None:
    for version in reversed(versions):
        plan = version.plans.get(opened.plan_id)
        if plan is not None:
            return str(plan.home_country)
    return None

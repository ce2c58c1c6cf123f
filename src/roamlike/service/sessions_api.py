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
from roamlike.rating.reasons import ID_FORBIDDEN
from roamlike.service.http import body_bytes, decode_json
from roamlike.service.problems import ProblemError
from roamlike.service.schemas import SessionOpen, SessionUpdate
from roamlike.service.session_steps import SessionStep
from roamlike.service.sessions import open_session
from roamlike.service.tenants import Tenant
from roamlike.service.tenants_api import TenantsApi
from roamlike.service.writer import EventWriter
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
        body = await self.step(tenant, sid, await body_bytes(request), terminate)
        return Response(body, media_type="application/json")

    async def step(self, tenant: Tenant, sid: str, body: bytes, terminate: bool) -> bytes:
        """The answer of ``/v1/sessions/{sid}/update`` (``/terminate``) for the request body
        ``body`` of ``tenant``, once committed (also :mod:`roamlike.service.hot_routes`).

        Raises
        ------
        ProblemError
            400 malformed body, 404 unknown session, 409 terminated or expired, 422.
        """
        req = decode_json(body, _update_decoder)
        if ID_FORBIDDEN in sid:  # never opened (a 400 at open): not a question for the store
            raise ProblemError(404, f"no session {sid!r} of this tenant", "unknown-session")
        step = SessionStep(
            session_id=sid,
            request_number=req.request_number,
            used_units=req.used_units,
            requested_units=0 if terminate else req.requested_units,
            terminate=terminate,
        )
        versions = await self.tenants.versions(tenant)
        fx = await self.tenants.fx_for(tenant) or self.fx
        return await self.writer.submit_step(tenant.tenant_id, versions, step, fx)

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

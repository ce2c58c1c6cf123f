"""``POST /v1/events`` and ``GET /v1/subscribers/{subscriber_id}`` (tenant-scoped)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roamlike.rating.reasons import ID_FORBIDDEN
from roamlike.service import events_index
from roamlike.service.http import body_bytes, decode_json, json_response
from roamlike.service.problems import ProblemError
from roamlike.service.runtime import reading
from roamlike.service.schemas import EventsRequest
from roamlike.service.tenants import Tenant
from roamlike.service.tenants_api import TenantsApi
from roamlike.service.writer import EventWriter
from roamlike.state import Store
from roamlike.state.show import subscriber_state

_events_decoder = msgspec.json.Decoder(EventsRequest)


def subscriber_document(store: Store, tenant_id: str, subscriber_id: str) -> dict[str, Any] | None:
    """What ``roamlike state show`` prints for the tenant's subscriber (None: none such), plus
    how many events the service stored for it."""
    with reading(store) as tx:
        doc = subscriber_state(tx, subscriber_id, tenant=tenant_id)
        events = events_index.events_stored(tx, tenant_id, subscriber_id)
    if doc is None:
        return None
    return {**doc, "events_stored": events}


class EventsApi:
    """Events and subscribers over the tenants' store."""

    def __init__(self, tenants: TenantsApi, writer: EventWriter) -> None:
        self.tenants = tenants
        self.writer = writer

    async def events(self, request: Request) -> Response:
        """``POST /v1/events``: rate and durably commit records; answered once committed."""
        tenant = await self.tenants.tenant(request)
        body = await self.commit_events(tenant, await body_bytes(request))
        return Response(body, media_type="application/json")

    async def commit_events(self, tenant: Tenant, body: bytes) -> bytes:
        """The answer of ``POST /v1/events`` for the request body ``body`` of ``tenant``,
        once its records are durably committed (also :mod:`roamlike.service.hot_routes`).

        Raises
        ------
        ProblemError
            400 for a malformed body.
        """
        req = decode_json(body, _events_decoder)
        versions = await self.tenants.versions(tenant)
        fx = await self.tenants.fx_for(tenant)
        return await self.writer.submit(tenant.tenant_id, versions, req.records, fx)

    async def subscriber(self, request: Request) -> Response:
        """``GET /v1/subscribers/{subscriber_id}``: 404 for anyone else's subscriber."""
        tenant = await self.tenants.tenant(request)
        sid = str(request.path_params["subscriber_id"])
        # an id holding NUL is never stored (rejected BAD_ID), and PostgreSQL cannot be asked
        doc = (
            None
            if ID_FORBIDDEN in sid
            else await self.tenants.runner.read(subscriber_document, tenant.tenant_id, sid)
        )
        if doc is None:
            raise ProblemError(
                404, f"no subscriber {sid!r} of this tenant has rated events", "unknown-subscriber"
            )
        return json_response(doc)

    def routes(self) -> list[Route]:
        """The routes of events and subscribers."""
        return [
            Route("/v1/events", self.events, methods=["POST"]),
            Route("/v1/subscribers/{subscriber_id}", self.subscriber, methods=["GET"]),
        ]

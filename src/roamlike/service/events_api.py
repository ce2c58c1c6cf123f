"""``POST /v1/events`` and ``GET /v1/subscribers/{subscriber_id}`` (tenant-scoped)."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roamlike.service.events import EventWriter
from roamlike.service.http import body_bytes, decode_json, json_response
from roamlike.service.problems import ProblemError
from roamlike.service.schemas import EventsRequest
from roamlike.service.tenants_api import TenantsApi
from roamlike.state import Store

_events_decoder = msgspec.json.Decoder(EventsRequest)


def subscriber_document(store: Store, tenant_id: str, subscriber_id: str) -> dict[str, Any] | None:
    """The tenant's counters of one subscriber (None when the tenant has no such subscriber).

    Every period's pools, fair-use counter, bill-shock spend and notifications sent, the last
    rated event, and how many events the service stored for the subscriber.
    """
    with store.transaction() as tx:
        last = tx.execute(
            "SELECT last_visited_country, last_started_at, last_record_id "
            "FROM service_counter_subscribers WHERE tenant_id = ? AND subscriber_id = ?",
            (tenant_id, subscriber_id),
        )
        periods = tx.execute(
            "SELECT plan_id, period_start, voice_used_s, sms_used, data_used_bytes, "
            "fup_used_bytes, billshock_spend_micros, has_billshock_80, has_billshock_100, "
            "has_billshock_extra, has_fup_exhausted FROM service_counter_periods "
            "WHERE tenant_id = ? AND subscriber_id = ? ORDER BY period_start, plan_id",
            (tenant_id, subscriber_id),
        )
        events = tx.execute(
            "SELECT count(*) FROM service_events WHERE tenant_id = ? AND subscriber_id = ?",
            (tenant_id, subscriber_id),
        )
    if not last and not periods and not int(events[0][0]):
        return None
    return {
        "subscriber_id": subscriber_id,
        "events_stored": int(events[0][0]),
        "last_event": None
        if not last
        else {
            "visited_country": last[0][0],
            "started_at": last[0][1],
            "record_id": last[0][2],
        },
        "periods": [
            {
                "plan_id": p[0],
                "period_start": p[1],
                "voice_used_s": int(p[2]),
                "sms_used": int(p[3]),
                "data_used_bytes": int(p[4]),
                "fup_used_bytes": int(p[5]),
                "billshock_spend_micros": int(p[6]),
                "notifications_sent": [
                    name
                    for name, flag in zip(
                        ("billshock_80", "billshock_100", "billshock_extra", "fup_exhausted"),
                        p[7:11],
                        strict=True,
                    )
                    if flag
                ],
            }
            for p in periods
        ],
    }


class EventsApi:
    """Events and subscribers over the tenants' store."""

    def __init__(self, tenants: TenantsApi, writer: EventWriter) -> None:
        self.tenants = tenants
        self.writer = writer

    async def events(self, request: Request) -> Response:
        """``POST /v1/events``: rate and durably commit records; answered once committed."""
        tenant = await self.tenants.tenant(request)
        req = decode_json(await body_bytes(request), _events_decoder)
        versions = await self.tenants.versions(tenant)
        fx = await self.tenants.fx_for(tenant)
        body = await self.writer.submit(tenant.tenant_id, versions, req.records, fx)
        return Response(body, media_type="application/json")

    async def subscriber(self, request: Request) -> Response:
        """``GET /v1/subscribers/{subscriber_id}``: 404 for anyone else's subscriber."""
        tenant = await self.tenants.tenant(request)
        sid = str(request.path_params["subscriber_id"])
        doc = await self.tenants.runner.run(subscriber_document, tenant.tenant_id, sid)
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

"""``POST /v1/quote`` and ``POST /v1/audit``: prices and compliance findings for plans.

Quotes on an inline plan and audits need no key; a quote on a stored plan (``plan_id``) or with
a subscriber's counters needs the tenant's key (see :mod:`roamlike.service.tenants_api`).
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from roamlike.audit import audit_plans
from roamlike.law import Catalog
from roamlike.service.http import (
    body_bytes,
    decode_json,
    json_response,
    required_date,
    utc_text,
)
from roamlike.service.problems import PROBLEM_MEDIA_TYPE, ProblemError
from roamlike.service.quotes import QuoteAnswer, QuoteInput, Quoter, rate_quotes
from roamlike.service.schemas import QuoteRequest, RawPlan
from roamlike.tariffs import FxTable, Plan, parse_plans

_quote_decoder = msgspec.json.Decoder(QuoteRequest)
_raw_plan_decoder = msgspec.json.Decoder(RawPlan)

#: Media types of a plans file upload and the format each names.
PLANS_MEDIA_TYPES = {
    "application/yaml": "yaml",
    "application/x-yaml": "yaml",
    "text/yaml": "yaml",
    "application/json": "json",
}

#: Rates a quote as a tenant's subscriber's next event (the request names the subscriber); the
#: first argument is the request's ``Authorization`` header ("" when none).
SubscriberQuote = Callable[[str, str, QuoteInput, Plan], Awaitable[QuoteAnswer]]

#: Resolves a stored plan for a request's ``Authorization`` header at a UTC time: (plan, key of
#: its version, the tenant's own exchange rates or None), or a 401/404 problem.
StoredPlan = Callable[[str, str, str], Awaitable[tuple[Plan, str, FxTable | None]]]


def plans_format(request: Request) -> str:
    """``"yaml"`` or ``"json"`` from the request's Content-Type.

    Raises
    ------
    ProblemError
        415 for any other media type.
    """
    media = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    fmt = PLANS_MEDIA_TYPES.get(media)
    if fmt is None:
        raise ProblemError(
            415,
            f"a plans file is sent as application/yaml or application/json, found {media!r}",
            "unsupported-media-type",
        )
    return fmt


def decode_text(body: bytes) -> str:
    """A body as UTF-8 text (400 problem otherwise)."""
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ProblemError(
            400, f"the body is not UTF-8 text (byte {exc.start})", "not-utf8"
        ) from None


@functools.lru_cache(maxsize=4096)
def _inline_plan(raw: bytes) -> Plan:
    # the same strict loader as a plans file (JSON numbers as Decimal, then refused as prices)
    plans = parse_plans('{"plans": [' + decode_text(raw) + "]}", "json", "inline plan")
    return next(iter(plans.values()))


def _quote_response(status: int, body: bytes) -> Response:
    media = "application/json" if status == 200 else PROBLEM_MEDIA_TYPE
    return Response(body, status_code=status, media_type=media)


class QuoteApi:
    """Quotes and audits over one catalog and FX table."""

    def __init__(
        self,
        catalog: Catalog,
        fx: FxTable,
        stored_plan: StoredPlan,
        subscriber_quote: SubscriberQuote,
    ) -> None:
        self.catalog = catalog
        self.quoter = Quoter(fx, catalog)
        self.stored_plan = stored_plan
        self.subscriber_quote = subscriber_quote

    async def quote(self, request: Request) -> Response:
        """``POST /v1/quote``: the price of one hypothetical event (read-only).

        A quote on an inline plan depends on nothing but its body (and the server's exchange
        rates and catalog): its answer is also kept under the body's exact bytes, so a repeated
        body is answered without decoding it.
        """
        body = await body_bytes(request)
        return _quote_response(*await self.answer(body, request.headers.get("authorization", "")))

    async def answer(self, body: bytes, authorization: str) -> tuple[int, bytes]:
        """(status, JSON body) of ``POST /v1/quote`` for the request body ``body``: 200 and the
        quote, or 422 and a problem document (the engine rejected the event); the request's
        ``Authorization`` header ("" when none) is read only for a stored plan or a subscriber
        (also :mod:`roamlike.service.rsgi`).

        Raises
        ------
        ProblemError
            400 malformed body, 401 no key where one is needed, 404 unknown plan.
        """
        hit = self.quoter.by_body(body)
        if hit is not None:
            return hit
        req = decode_json(body, _quote_decoder)
        if (req.plan is None) == (req.plan_id is None):
            raise ProblemError(
                400, "give exactly one of 'plan' (an inline plan) or 'plan_id'", "plan-required"
            )
        tenant_fx: FxTable | None = None
        if req.plan is not None:
            raw = bytes(_raw_plan_decoder.decode(body).plan)
            plan = _inline_plan(raw)
            plan_key: object = ("inline", raw)
        else:
            assert req.plan_id is not None
            at = utc_text(req.started_at, "started_at")
            plan, version, tenant_fx = await self.stored_plan(authorization, req.plan_id, at)
            plan_key = ("stored", version)
        q = QuoteInput(
            event_type=req.event_type,
            started_at=req.started_at,
            utc_offset_min=req.utc_offset_min,
            home_country=req.home_country or plan.home_country,
            visited_country=req.visited_country,
            destination_country=req.destination_country,
            duration_s=req.duration_s,
            volume_bytes=req.volume_bytes,
            count=req.count,
            is_beyond_fair_use=req.is_beyond_fair_use,
        )
        if req.subscriber_id is not None:
            # the subscriber's own counters: never memoised, needs the tenant's key
            answer = await self.subscriber_quote(authorization, req.subscriber_id, q, plan)
            return self.quoter.render(answer)
        if tenant_fx is not None:
            # the tenant's own exchange rates: rated for this request, not memoised
            answers = await asyncio.to_thread(rate_quotes, [(q, plan)], tenant_fx, self.catalog)
            return self.quoter.render(answers[0])
        rendered = await self.quoter.quote(q, plan, plan_key)
        if req.plan is not None:
            self.quoter.keep_body(body, rendered)
        return rendered

    async def audit(self, request: Request) -> Response:
        """``POST /v1/audit?on=YYYY-MM-DD``: = ``roamlike audit PLANS --on DAY --json``."""
        on = required_date(request, "on")
        fmt = plans_format(request)
        text = decode_text(await body_bytes(request))
        plans = parse_plans(text, fmt, f"upload.{fmt}")
        findings = audit_plans(plans, on, self.quoter.fx)
        return json_response([f.to_json() for f in findings])

    def routes(self) -> list[Route]:
        """The routes of quotes and audits."""
        return [
            Route("/v1/quote", self.quote, methods=["POST"]),
            Route("/v1/audit", self.audit, methods=["POST"]),
        ]

"""The service application: :func:`create_app` assembles the routes of every endpoint group.

Layers: the handlers here are thin; rules live in :mod:`roamlike.law`, the engine in
:mod:`roamlike.rating`, tariffs in :mod:`roamlike.tariffs`, state in :mod:`roamlike.state`.
"""

from __future__ import annotations

import asyncio
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from roamlike.errors import RoamlikeError
from roamlike.query_engine import queries_on
from roamlike.service import hot_routes
from roamlike.service.compaction import CompactionSchedule
from roamlike.service.config import ServiceConfig
from roamlike.service.counters_store import quote_for_subscriber
from roamlike.service.events_api import EventsApi
from roamlike.service.hot_routes import HotRoutes
from roamlike.service.http import json_response
from roamlike.service.law_api import LawApi
from roamlike.service.metrics import CONTENT_TYPE, Metrics, MetricsMiddleware
from roamlike.service.openapi import openapi_document
from roamlike.service.problems import (
    ProblemError,
    on_http_error,
    on_problem,
    on_roamlike_error,
    on_unexpected,
)
from roamlike.service.quote_api import QuoteApi
from roamlike.service.quotes import QuoteAnswer, QuoteInput
from roamlike.service.runtime import StoreRunner
from roamlike.service.sessions_api import SessionsApi
from roamlike.service.tenants_api import TenantsApi
from roamlike.service.warmup import warm_engine
from roamlike.service.writer import EventWriter
from roamlike.tariffs import FxTable, Plan
from roamlike.web import WebConfig
from roamlike.web import routes as web_routes

#: The collector's thresholds in a worker after startup (``gc.set_threshold``; Python's default
#: is 700, 10, 10). A commit group of events of 100 records makes and drops tens of thousands
#: of objects (rows, tuples, answers): with the default, a young-generation pass ran about once
#: per request, walking the group's live rows each time (0.3-0.4 ms of CPU per request of 100
#: records, ``docs/service-speed.md``, "Events of 100 records (round 7)"). Objects are freed by
#: their reference counts; the passes only find cycles, which the service's hot paths do not
#: make.
#: The young generation counts objects made less those freed, so a pass runs only when that
#: many are alive at once: a group of 1,600 records holds more than 20,000 (rounds 7 to 14: a
#: pass of 3-6 ms about once per group) and fewer than 100,000 (no pass in a ``--stages`` run
#: of such groups; round 15).
GC_THRESHOLDS = (100_000, 20, 20)


@dataclass(frozen=True)
class Service:
    """One worker's service: the ASGI app and the parts the RSGI layer answers with itself
    (:mod:`roamlike.service.rsgi`)."""

    app: Starlette
    quotes: QuoteApi
    events: EventsApi
    sessions: SessionsApi
    metrics: Metrics


def create_app(config: ServiceConfig | None = None) -> Starlette:
    """The roamlike HTTP service as an ASGI application (:func:`build_service`)."""
    return build_service(config).app


def build_service(config: ServiceConfig | None = None) -> Service:
    """The roamlike HTTP service: an ASGI application and its busiest handlers.

    Parameters
    ----------
    config : ServiceConfig, optional
        Store, exchange rates and catalog; defaults: no store, no FX table, built-in catalog.

    Returns
    -------
    Service
        The app (Starlette): JSON API under ``/v1`` (OpenAPI 3.1 at ``/v1/openapi.json``),
        ``/healthz``, ``/metrics``, and the web pages at ``/``; and its busiest handlers.
    """
    config = config if config is not None else ServiceConfig()
    catalog = config.law()
    metrics = Metrics()
    openapi = json_response(openapi_document()).body

    runner = StoreRunner(config.state)
    tenants = TenantsApi(runner)
    writer = EventWriter(
        runner,
        config.fx,
        catalog,
        metrics,
        config.group_commit_ms / 1000,
        CompactionSchedule(config.compact_log_rows),
    )

    async def stored_plan(
        authorization: str, plan_id: str, at: str
    ) -> tuple[Plan, str, FxTable | None]:
        return await tenants.plan_at(await tenants.tenant_for(authorization), plan_id, at)

    async def subscriber_quote(
        authorization: str, subscriber_id: str, q: QuoteInput, plan: Plan
    ) -> QuoteAnswer:
        tenant = await tenants.tenant_for(authorization)
        fx = await tenants.fx_for(tenant) or config.fx
        return await runner.read(
            quote_for_subscriber, tenant.tenant_id, subscriber_id, q, plan, fx, catalog
        )

    async def healthz(request: Request) -> Response:
        return json_response({"status": "ok"})

    async def metrics_text(request: Request) -> Response:
        metrics.counters.update(runner.checkpoint_counts())
        return Response(metrics.render(), media_type=CONTENT_TYPE)

    async def openapi_json(request: Request) -> Response:
        return Response(openapi, media_type="application/json")

    events = EventsApi(tenants, writer)
    sessions = SessionsApi(tenants, writer, config.fx, catalog)
    quotes = QuoteApi(catalog, config.fx, stored_plan, subscriber_quote)
    routes: list[BaseRoute] = [
        # the busiest first: the router tries routes in order (events and session steps are
        # answered before it, roamlike.service.hot_routes; their routes stay for the rest)
        *quotes.routes(),
        *events.routes(),
        *sessions.routes(),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics_text, methods=["GET"]),
        Route("/v1/openapi.json", openapi_json, methods=["GET"]),
        *LawApi(catalog).routes(),
        *tenants.routes(),
        # the pages, at /: the service's exchange rates when it has any (else the pages'
        # reference table, for demos), and the same catalog
        *web_routes(
            WebConfig(fx=config.fx if config.fx_path else None, catalog=catalog, store=runner)
        ),
    ]

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        with queries_on():  # Polars' in-memory engine (roamlike.query_engine)
            await runner.start()
            metrics.event_loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
            # what startup built (catalog, plans, the engine's compiled code and the objects of
            # its first call) never becomes garbage: keep it out of the collector's full
            # passes, whose pauses showed in the quotes' p99 (roamlike.service.warmup)
            await asyncio.to_thread(warm_engine, catalog)
            gc.collect()
            gc.freeze()
            gc.set_threshold(*GC_THRESHOLDS)
            try:
                yield
            finally:
                runner.close()

    app = Starlette(
        routes=routes,
        exception_handlers={
            ProblemError: on_problem,
            HTTPException: on_http_error,
            RoamlikeError: on_roamlike_error,
            Exception: on_unexpected,
        },
        lifespan=lifespan,
    )
    app.state.config = config
    app.state.metrics = metrics
    if hot_routes.ENABLED:
        # inside the metrics (the last added is the outer one): its requests counted and timed
        app.add_middleware(
            HotRoutes,
            events=events,
            sessions=sessions,
            on_problem=on_problem,
            on_roamlike_error=on_roamlike_error,
        )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return Service(app, quotes, events, sessions, metrics)

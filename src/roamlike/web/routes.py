"""The web pages as Starlette routes, mounted by the service at ``/``.

Handlers are thin: they read the query, call the lower layers through the page modules (in a
worker thread, since rating and rendering are CPU work), and answer HTML. A user's bad input is
a page with a message and a 4xx status, never a traceback.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles

from roamlike.errors import TariffError
from roamlike.law import Catalog, default_catalog
from roamlike.tariffs import FxTable, Plan
from roamlike.web.audit_page import findings_for, findings_json, render_audit, report_html
from roamlike.web.audit_page import read_query as read_audit_query
from roamlike.web.dashboard_page import dashboard, sign_in, sign_out
from roamlike.web.layout import error_box, page, url
from roamlike.web.plans_input import MAX_PLANS_CHARS, encode_token, parse_plans_text
from roamlike.web.rules_page import render_rules
from roamlike.web.story_page import Story
from roamlike.web.trip_page import render_trip

if TYPE_CHECKING:
    from roamlike.service.runtime import StoreRunner

STATIC_DIR = Path(__file__).parent / "static"


def _sample_plans() -> dict[str, Plan]:
    from roamlike.demo.scenario import demo_plans
    from roamlike.tariffs.schema import parse_plan

    return {d["id"]: parse_plan(d, None, i) for i, d in enumerate(demo_plans())}


def _reference_fx() -> FxTable:
    from roamlike.demo.scenario import FX_SOURCE
    from roamlike.synth.generator import fx_reference_rows

    return FxTable.from_rows(fx_reference_rows(), source=FX_SOURCE)


STORY_RECORDS_ENV = "ROAMLIKE_STORY_RECORDS"
DEFAULT_STORY_RECORDS = 200_000


def story_records_from_env() -> int:
    """Records of the story from :data:`STORY_RECORDS_ENV` (1,000 to 10,000,000), else the default.

    Raises
    ------
    ValueError
        The variable is set but is not a whole number in range.
    """
    text = os.environ.get(STORY_RECORDS_ENV, "").strip()
    if not text:
        return DEFAULT_STORY_RECORDS
    if not text.isdigit() or not 1_000 <= int(text) <= 10_000_000:
        raise ValueError(
            f"{STORY_RECORDS_ENV}: a whole number from 1000 to 10000000, found {text!r}"
        )
    return int(text)


@dataclass
class WebConfig:
    """What the pages need besides the law catalog.

    Attributes
    ----------
    plans : mapping of str to Plan, optional
        The plans the trip calculator offers; default: the illustrative sample plans the demo
        ships (invented prices, see ``roamlike.demo.scenario``).
    fx : FxTable, optional
        Exchange rates for non-euro plans; default: the package's reference table
        (``roamlike/data/fx_reference.csv``, for demos, not for billing).
    story_records : int
        Synthetic records of the Western Balkans story: ``ROAMLIKE_STORY_RECORDS`` when set
        (how ``roamlike serve`` workers receive it), else the demo's default, 200,000.
    catalog : Catalog, optional
        The law catalog; the validated default catalog when omitted.
    store : roamlike.service.runtime.StoreRunner, optional
        The service's state store, for the operator dashboard (without it, the dashboard says
        the server runs without a store).
    """

    plans: Mapping[str, Plan] | None = None
    fx: FxTable | None = None
    story_records: int = field(default_factory=lambda: story_records_from_env())
    catalog: Catalog | None = None
    store: StoreRunner | None = None

    @cached_property
    def law(self) -> Catalog:
        return self.catalog if self.catalog is not None else default_catalog()

    @cached_property
    def sample_plans(self) -> Mapping[str, Plan]:
        return self.plans if self.plans is not None else _sample_plans()

    @cached_property
    def fx_table(self) -> FxTable:
        return self.fx if self.fx is not None else _reference_fx()


def _html(result: tuple[int, str]) -> HTMLResponse:
    status, text = result
    return HTMLResponse(text, status_code=status, headers={"Cache-Control": "no-store"})


class FormTooLargeError(Exception):
    """A posted form is larger than the pages accept."""


async def read_form(request: Request, limit: int = MAX_PLANS_CHARS * 4) -> dict[str, str]:
    """The fields of a posted ``application/x-www-form-urlencoded`` form, read up to ``limit``.

    Raises
    ------
    FormTooLargeError
        The body is longer than ``limit`` bytes.
    """
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise FormTooLargeError(f"the form is larger than {limit} bytes")
        chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8", errors="replace")
    return dict(parse_qsl(text, keep_blank_values=True, max_num_fields=64))


_Render = Callable[
    [Mapping[str, str], Mapping[str, Plan], FxTable, Catalog, str, tuple[str, ...]],
    tuple[int, str],
]


def _too_large(path: str, exc: Exception) -> HTMLResponse:
    title = {
        "/trip": "Trip calculator",
        "/audit": "Plan audit",
        "/dashboard": "Operator dashboard",
    }.get(path, "roamlike")
    return HTMLResponse(page(title, error_box([str(exc)]), path), status_code=413)


def routes(config: WebConfig | None = None) -> list[BaseRoute]:
    """The pages' routes and the ``/static`` mount, for the service to mount at ``/``.

    Parameters
    ----------
    config : WebConfig, optional
        Plans, exchange rates and story size; defaults as documented on :class:`WebConfig`.

    Returns
    -------
    list of starlette.routing.BaseRoute
        ``/`` (redirects to ``/rules``), ``/rules``, ``/trip`` (GET; POST takes pasted plans
        and redirects to a link that carries them), ``/audit`` (likewise; downloads at
        ``/audit/findings.json`` and ``/audit/report.html``), ``/dashboard`` (GET; POST signs in
        with an API key; ``/dashboard/sign-out``), ``/story`` and ``/static``.
    """
    cfg = config or WebConfig()
    story = Story(cfg.story_records)

    async def home(request: Request) -> Response:
        return RedirectResponse("/rules", status_code=302)

    async def rules(request: Request) -> Response:
        params = dict(request.query_params)
        return _html(await run_in_threadpool(render_rules, params, cfg.law))

    async def trip(request: Request) -> Response:
        params = dict(request.query_params)
        result = await run_in_threadpool(
            render_trip, params, cfg.sample_plans, cfg.fx_table, cfg.law
        )
        return _html(result)

    async def audit(request: Request) -> Response:
        params = dict(request.query_params)
        result = await run_in_threadpool(
            render_audit, params, cfg.sample_plans, cfg.fx_table, cfg.law
        )
        return _html(result)

    async def posted_plans(request: Request, path: str, render: _Render) -> Response:
        """Posted plans: check them, then answer with a shareable link that carries them.

        The page's other fields travel along; invalid or oversized plans are shown again with
        the message, and no redirect.
        """
        try:
            form = await read_form(request)
        except FormTooLargeError as exc:
            return _too_large(path, exc)
        text = form.get("plans_text", "")
        kept = {k: v for k, v in form.items() if k not in ("plans_text", "plans", "plan")}
        try:
            plans = await run_in_threadpool(parse_plans_text, text)
            token = encode_token(text)
            if token is None:
                raise TariffError("the plans are too large to carry in a link; paste fewer")
        except TariffError as exc:
            result = await run_in_threadpool(
                render, kept, cfg.sample_plans, cfg.fx_table, cfg.law, text, (str(exc),)
            )
            return _html(result)
        target = url(path, {"plans": token, "plan": next(iter(plans)), **kept})
        return RedirectResponse(target, status_code=303)

    async def trip_plans(request: Request) -> Response:
        return await posted_plans(request, "/trip", render_trip)

    async def audit_plans_posted(request: Request) -> Response:
        return await posted_plans(request, "/audit", render_audit)

    def _download(params: dict[str, str], kind: str) -> tuple[int, str]:
        q = read_audit_query(params, cfg.sample_plans, cfg.law)
        if q.errors:
            return 400, "; ".join(q.errors) + "\n"
        findings = findings_for(q, cfg.fx_table)
        if kind == "json":
            return 200, findings_json(findings)
        return 200, report_html(q, findings, cfg.law)

    async def download(request: Request, kind: str, media: str, filename: str) -> Response:
        status, text = await run_in_threadpool(_download, dict(request.query_params), kind)
        return Response(
            text,
            status_code=status,
            media_type=media if status == 200 else "text/plain",
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    async def audit_json(request: Request) -> Response:
        return await download(request, "json", "application/json", "audit-findings.json")

    async def audit_report(request: Request) -> Response:
        return await download(request, "html", "text/html", "audit-report.html")

    async def story_page(request: Request) -> Response:
        return _html(story.render())

    async def dashboard_get(request: Request) -> Response:
        return await dashboard(request, cfg.store)

    async def dashboard_post(request: Request) -> Response:
        try:
            form = await read_form(request, limit=4096)
        except FormTooLargeError as exc:
            return _too_large("/dashboard", exc)
        return await sign_in(request, form, cfg.store)

    async def dashboard_sign_out(request: Request) -> Response:
        return sign_out(request)

    return [
        Route("/", home, methods=["GET"]),
        Route("/story", story_page, methods=["GET"]),
        Route("/dashboard", dashboard_get, methods=["GET"]),
        Route("/dashboard", dashboard_post, methods=["POST"]),
        Route("/dashboard/sign-out", dashboard_sign_out, methods=["POST"]),
        Route("/audit", audit, methods=["GET"]),
        Route("/audit", audit_plans_posted, methods=["POST"]),
        Route("/audit/findings.json", audit_json, methods=["GET"]),
        Route("/audit/report.html", audit_report, methods=["GET"]),
        Route("/rules", rules, methods=["GET"]),
        Route("/trip", trip, methods=["GET"]),
        Route("/trip", trip_plans, methods=["POST"]),
        Mount("/static", app=StaticFiles(directory=STATIC_DIR), name="static"),
    ]

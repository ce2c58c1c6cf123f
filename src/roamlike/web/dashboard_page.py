"""The operator dashboard (``/dashboard``): a tenant's subscribers' counters and notifications,
recent events and batch runs, read from the state store with the tenant's API key.

The key never travels in a URL: it is posted once by a form and kept in an ``HttpOnly``,
``SameSite=Strict`` cookie scoped to ``/dashboard`` (or sent as ``Authorization: Bearer KEY``
by a script). Every query names the tenant the key belongs to (``roamlike.service.overview``).
The two forms (sign in, sign out) are refused with 403 when the browser says the request comes
from another site (``Sec-Fetch-Site: cross-site`` or an ``Origin`` other than this server's), so a
foreign page can neither sign a visitor in under its own key nor sign them out.

The service mounts these pages, so its modules are imported when a handler first runs, not when
this module is imported (``roamlike.service`` imports ``roamlike.web``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response

from roamlike.errors import RoamlikeError
from roamlike.web.layout import e, error_box, micros_text, page, text_input, url

if TYPE_CHECKING:
    from roamlike.service.overview import CounterPeriod, StoredEvent
    from roamlike.service.runtime import StoreRunner
    from roamlike.service.tenants import Tenant
    from roamlike.state.ledger import LedgerRun

COOKIE = "roamlike_dashboard_key"
PATH = "/dashboard"
TITLE = "Operator dashboard"
MAX_KEY_CHARS = 200
EVENTS_SHOWN = 50
PERIODS_SHOWN = 200
RUNS_SHOWN = 20


@dataclass(frozen=True)
class Overview:
    """What the dashboard shows for one tenant (and optionally one subscriber)."""

    tenant: Tenant
    subscriber: str
    subscribers: int
    periods: list[CounterPeriod]
    events: list[StoredEvent]
    runs: list[LedgerRun]


def request_key(request: Request) -> str:
    """The API key of a request: its ``Authorization: Bearer`` header, else the cookie."""
    scheme, _, key = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and key.strip():
        return key.strip()
    return request.cookies.get(COOKIE, "").strip()


def _login_form(message: str = "") -> str:
    return (
        error_box([message] if message else [])
        + "<p>Operators sign in with the API key printed by <code>roamlike tenants add</code>. "
        "The key is sent once in this form and kept in a cookie only this page reads; it never "
        "appears in a link.</p>"
        f'<form class="query" method="post" action="{PATH}" autocomplete="off">'
        + text_input(
            "api_key",
            "API key",
            "",
            "password",
            f'required maxlength="{MAX_KEY_CHARS}" autocomplete="off" spellcheck="false"',
            hint="rlk_… (the last line printed by roamlike tenants add)",
        )
        + '<div class="field"><button type="submit">Sign in</button></div></form>'
    )


def _html(status: int, body: str, status_text: str = "") -> HTMLResponse:
    return HTMLResponse(
        page(TITLE, body, PATH, status_text),
        status_code=status,
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def _no_store() -> HTMLResponse:
    return _html(
        503,
        error_box(
            ["this server runs without a state store: start it with roamlike serve --state STORE"]
        ),
    )


async def _tenant(runner: StoreRunner, key: str) -> Tenant | None:
    from roamlike.service.tenants import tenant_for_key

    if not key or len(key) > MAX_KEY_CHARS:
        return None
    return await runner.run(tenant_for_key, key)


async def _overview(runner: StoreRunner, tenant: Tenant, subscriber: str) -> Overview:
    from roamlike.service.overview import (
        batch_runs,
        counter_periods,
        recent_events,
        subscriber_count,
    )

    sub = subscriber or None
    tid = tenant.tenant_id
    return Overview(
        tenant=tenant,
        subscriber=subscriber,
        subscribers=await runner.run(subscriber_count, tid),
        periods=await runner.run(counter_periods, tid, sub, PERIODS_SHOWN),
        events=await runner.run(recent_events, tid, sub, EVENTS_SHOWN),
        runs=await runner.run(batch_runs, tid, RUNS_SHOWN),
    )


def _subscriber_link(subscriber: str) -> str:
    return f'<a href="{e(url(PATH, {"subscriber": subscriber}))}">{e(subscriber)}</a>'


def _table(table_id: str, caption: str, columns: tuple[str, ...], rows: str) -> str:
    """A captioned table; a column name starting with ``#`` is numeric (right-aligned)."""
    head = "".join(
        f'<th scope="col" class="num">{e(c[1:])}</th>'
        if c.startswith("#")
        else f'<th scope="col">{e(c)}</th>'
        for c in columns
    )
    return (
        f'<div class="scroll"><table id="{table_id}"><caption>{e(caption)}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
    )


def _periods_table(periods: list[CounterPeriod]) -> str:
    if not periods:
        return '<p id="counters">No counters stored.</p>'
    rows = "".join(
        f'<tr data-subscriber="{e(p.subscriber_id)}"><th scope="row">'
        f"{_subscriber_link(p.subscriber_id)}</th><td>{e(p.plan_id)}</td>"
        f"<td>{e(p.period_start)}</td>"
        f'<td class="num">{p.voice_used_s}</td><td class="num">{p.sms_used}</td>'
        f'<td class="num">{p.data_used_bytes}</td><td class="num">{p.fup_used_bytes}</td>'
        f'<td class="num" data-micros="{p.billshock_spend_micros}">'
        f"{micros_text(p.billshock_spend_micros)}</td>"
        f"<td>{e(', '.join(p.notifications_sent) or '–')}</td></tr>"
        for p in periods
    )
    columns = (
        "subscriber", "plan", "period from", "#voice used [s]", "#SMS used", "#data used [B]",
        "#fair-use counted [B]", "#bill-shock spend", "notifications sent",
    )  # fmt: skip
    return _table("counters", "Counters per billing period, latest first", columns, rows)


def _charge(event: StoredEvent) -> str:
    if event.rated is None:
        return "–"
    micros = int(event.rated.get("charge_incl_vat_micros") or 0)
    return (
        f'<span data-micros="{micros}">{micros_text(micros)}</span> '
        f"{e(event.rated.get('currency') or '')}"
    )


def _outcome(event: StoredEvent) -> str:
    if event.reject is not None:
        return (
            f"rejected: <code>{e(event.reject.get('reason_code'))}</code> "
            f"{e(event.reject.get('message'))}"
        )
    rated = event.rated or {}
    return f"{e(rated.get('event_type'))} in {e(rated.get('visited_country'))}, " + e(
        rated.get("regime")
    )


def _notes(notes: tuple[dict[str, Any], ...]) -> str:
    return "; ".join(f"{n.get('kind')} ({n.get('basis')})" for n in notes) or "–"


def _events_table(events: list[StoredEvent]) -> str:
    if not events:
        return '<p id="events">No events stored.</p>'
    rows = "".join(
        f'<tr data-record="{e(ev.record_id)}"><td>{e(ev.received_at[:19])}</td>'
        f"<td><code>{e(ev.record_id)}</code></td><td>{_subscriber_link(ev.subscriber_id)}</td>"
        f'<td>{_outcome(ev)}</td><td class="num">{_charge(ev)}</td>'
        f'<td class="notes">{e(_notes(ev.notifications))}</td></tr>'
        for ev in events
    )
    columns = (
        "received (UTC)", "record", "subscriber", "outcome", "#charge incl. VAT",
        "notifications raised",
    )  # fmt: skip
    caption = "Recent events, newest first (as POST /v1/events answered)"
    return _table("events", caption, columns, rows)


def _runs_table(runs: list[LedgerRun]) -> str:
    if not runs:
        return (
            '<p id="runs">No batch runs in the ledger for this tenant (runs of '
            "<code>roamlike rate --state</code> without a tenant are not listed).</p>"
        )
    rows = "".join(
        f'<tr data-run="{e(r.run_id)}"><td>{e(r.finished_at[:19])}</td>'
        f"<td>{e(r.input_name)}</td>"
        f'<td class="num">{r.input_rows}</td><td class="num">{r.rated}</td>'
        f'<td class="num">{r.rejected}</td><td class="num">{r.late}</td>'
        f'<td class="num">{r.notifications}</td><td><code>{e(r.input_sha256[:16])}</code></td>'
        "</tr>"
        for r in runs
    )
    columns = (
        "finished (UTC)", "input", "#read", "#rated", "#rejected", "#late", "#notifications",
        "input sha256",
    )  # fmt: skip
    caption = "Batch runs (the state store's ledger), newest first"
    return _table("runs", caption, columns, rows)


def render_overview(o: Overview) -> str:
    """The dashboard's body for one tenant (trusted HTML; every stored value is escaped)."""
    scope = (
        f' — subscriber <strong>{e(o.subscriber)}</strong> (<a href="{PATH}">all subscribers</a>)'
        if o.subscriber
        else ""
    )
    missing = (
        error_box([f"no subscriber {o.subscriber!r} of this tenant has stored counters or events"])
        if o.subscriber and not o.periods and not o.events
        else ""
    )
    return (
        f'<p>Signed in as tenant <strong id="tenant">{e(o.tenant.name)}</strong>{scope}. '
        f'<span id="subscriber-count">{o.subscribers}</span> subscribers with counters.</p>'
        f'<form method="post" action="{PATH}/sign-out"><button type="submit" class="secondary">'
        "Sign out</button></form>"
        f'<form class="query" method="get" action="{PATH}">'
        + text_input("subscriber", "Subscriber", o.subscriber, extra='maxlength="200"')
        + '<div class="field"><button type="submit">Show</button></div></form>'
        + missing
        + '<h2 id="counters-h">Subscribers\' counters and notifications</h2>'
        + _periods_table(o.periods)
        + '<h2 id="events-h">Recent events</h2>'
        + _events_table(o.events)
        + '<h2 id="runs-h">Batch runs</h2>'
        + _runs_table(o.runs)
    )


def _cookie(response: Response, request: Request, key: str | None) -> Response:
    secure = request.url.scheme == "https"
    if key is None:
        response.delete_cookie(COOKIE, path=PATH, httponly=True, samesite="strict", secure=secure)
    else:
        response.set_cookie(COOKIE, key, path=PATH, httponly=True, samesite="strict", secure=secure)
    return response


async def dashboard(request: Request, runner: StoreRunner | None) -> Response:
    """``GET /dashboard[?subscriber=ID]``: the tenant's overview, or the sign-in form."""
    if runner is None or runner.target is None:
        return _no_store()
    key = request_key(request)
    if not key:
        return _html(200, _login_form(), "Sign in with an API key")
    try:
        tenant = await _tenant(runner, key)
        if tenant is None:
            bad = _html(401, _login_form("the API key is unknown or revoked"))
            return _cookie(bad, request, None)
        subscriber = request.query_params.get("subscriber", "").strip()[:200]
        overview = await _overview(runner, tenant, subscriber)
    except RoamlikeError as exc:
        return _html(503, error_box([f"the state store cannot be read: {exc}"]))
    status = 404 if subscriber and not overview.periods and not overview.events else 200
    return _html(status, render_overview(overview), f"tenant {tenant.name}")


def cross_site(request: Request) -> bool:
    """Whether the browser marks ``request`` as sent by a page of another site.

    ``Sec-Fetch-Site`` (sent by current browsers) is trusted when present; otherwise an ``Origin``
    header must name this server (scheme, host and port of the request). A request with neither,
    or with ``Origin: null`` (what a browser sends under ``Referrer-Policy: no-referrer``), is not
    cross-site by this test: a script, or an old browser.
    """
    fetch_site = request.headers.get("sec-fetch-site", "").strip().lower()
    if fetch_site:
        return fetch_site == "cross-site"
    origin = request.headers.get("origin", "").strip()
    if not origin or origin == "null":
        return False
    own = f"{request.url.scheme}://{request.url.netloc}".lower()
    return origin.lower() != own


def _refused_cross_site() -> Response:
    return _html(
        403,
        error_box(["this form was sent by another site: open the dashboard here and sign in"]),
        "Form from another site refused",
    )


async def sign_in(
    request: Request, form: Mapping[str, str], runner: StoreRunner | None
) -> Response:
    """``POST /dashboard`` with ``api_key``: keep a valid key in the cookie, then redirect."""
    if cross_site(request):
        return _refused_cross_site()
    if runner is None or runner.target is None:
        return _no_store()
    key = form.get("api_key", "").strip()
    try:
        tenant = await _tenant(runner, key)
    except RoamlikeError as exc:
        return _html(503, error_box([f"the state store cannot be read: {exc}"]))
    if tenant is None:
        return _html(401, _login_form("the API key is unknown or revoked"))
    return _cookie(RedirectResponse(PATH, status_code=303), request, key)


def sign_out(request: Request) -> Response:
    """``POST /dashboard/sign-out``: forget the key (delete the cookie)."""
    if cross_site(request):
        return _refused_cross_site()
    return _cookie(RedirectResponse(PATH, status_code=303), request, None)

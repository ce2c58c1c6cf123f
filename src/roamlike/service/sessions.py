"""Credit control (RFC 4006 style): sessions that reserve units before use and report them after.

* **initial** (``POST /v1/sessions``): grants at most what the subscriber may use before the
  next threshold — the end of a domestic allowance, the fair-use volume, the bill-shock limit —
  minus what the subscriber's other open sessions hold; ``final_unit_indication`` when the
  bill-shock limit would cut the service (Regulation (EU) 2022/612, Art. 14).
* **update** (``/update``): the used units are rated as a usage record — through the same
  durable group commit as ``POST /v1/events``, so the cut-off falls where the batch engine puts
  it — and a new grant is computed with the counters after it.
* **terminate**: the final used units are rated likewise and the reservation released.

Every answer is stored under (tenant, session, request number): a repeated request is answered
from the store, not applied twice. A session not updated before ``expires_at`` no longer holds
units (its reservation is released).

How the grant is found: one engine call rates 64 candidate amounts (1/64 … 64/64 of the
request) each for a copy of the subscriber's counters; the grant is the largest candidate that
crosses no threshold, so it never exceeds what may be used before one.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import msgspec
import polars as pl

from roamlike.counters import Counters
from roamlike.law import Catalog
from roamlike.rating import rate_usage
from roamlike.service.problems import ProblemError
from roamlike.service.schemas import SessionOpen
from roamlike.service.tenants import PlanVersion
from roamlike.state import Store, Transaction
from roamlike.state.counters import load_counters
from roamlike.tariffs import FxTable

STEPS = 64
_encoder = msgspec.json.Encoder(decimal_format="string")


@dataclass(frozen=True)
class Grant:
    """Units granted, and whether they are the last before the service is cut."""

    granted_units: int
    final_unit_indication: bool
    threshold: str | None  # "allowance", "fair_use", "billshock_limit" or None


def _quantity_column(event_type: str) -> str:
    return "volume_bytes" if event_type == "data" else "duration_s"


def _utc(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def _cloned(counters: Counters, subscriber_id: str, clones: list[str]) -> Counters:
    periods = counters.periods.filter(pl.col("subscriber_id") == subscriber_id)
    subs = counters.subscribers.filter(pl.col("subscriber_id") == subscriber_id)
    return Counters(
        periods=pl.concat([periods.with_columns(subscriber_id=pl.lit(c)) for c in clones]).select(
            counters.periods.columns
        ),
        subscribers=pl.concat([subs.with_columns(subscriber_id=pl.lit(c)) for c in clones]).select(
            counters.subscribers.columns
        ),
    )


def reserved_by_others(tx: Transaction, tenant_id: str, subscriber_id: str, session_id: str) -> int:
    """Units held by the subscriber's other open, unexpired sessions."""
    now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    rows = tx.execute(
        "SELECT coalesce(sum(granted_units), 0) FROM service_sessions WHERE tenant_id = ? "
        "AND subscriber_id = ? AND session_id <> ? AND state = 'open' AND expires_at > ?",
        (tenant_id, subscriber_id, session_id, now),
    )
    return int(rows[0][0])


def compute_grant(
    tx: Transaction,
    tenant_id: str,
    versions: list[PlanVersion],
    opened: SessionOpen,
    requested: int,
    fx: FxTable,
    catalog: Catalog,
) -> Grant:
    """The grant for ``requested`` units of the session's service, from the stored counters.

    Raises
    ------
    ProblemError
        404 when the plan is not the tenant's at the session's time; 422 when the engine
        rejects the event (its reason code in the problem).
    """
    at = _utc(opened.started_at).isoformat(timespec="microseconds")
    chosen = None
    for version in versions:
        if version.valid_from <= at:
            chosen = version
    if chosen is None or opened.plan_id not in chosen.plans:
        raise ProblemError(
            404, f"no plan {opened.plan_id!r} of this tenant in force at {at}", "unknown-plan"
        )
    plan = chosen.plans[opened.plan_id]
    available = requested - reserved_by_others(
        tx, tenant_id, opened.subscriber_id, opened.session_id
    )
    if available <= 0:
        return Grant(0, False, "reserved")
    amounts = sorted({max(1, available * k // STEPS) for k in range(1, STEPS + 1)})
    clones = [f"~grant{k}" for k in range(len(amounts))]
    sid = opened.subscriber_id.strip()
    counters = _cloned(load_counters(tx, pl.Series([sid]), tenant_id), sid, clones)
    quantity = _quantity_column(opened.event_type)
    rows = [
        {
            "record_id": f"~grant{k}",
            "subscriber_id": clones[k],
            "plan_id": opened.plan_id,
            "event_type": opened.event_type,
            "started_at": opened.started_at,
            "utc_offset_min": opened.utc_offset_min,
            "home_country": opened.home_country or plan.home_country,
            "visited_country": opened.visited_country,
            quantity: amount,
        }
        for k, amount in enumerate(amounts)
    ]
    result = rate_usage(pl.DataFrame(rows), {plan.id: plan}, fx, catalog=catalog, counters=counters)
    if result.rejects.height:
        first = result.rejects.row(0, named=True)
        raise ProblemError(
            422,
            f"the session's service cannot be rated: {first['message']}",
            "session-rejected",
            reason_code=first["reason_code"],
        )
    rated = {r["record_id"]: r for r in result.rated.to_dicts()}
    cut = set(result.notifications.filter(pl.col("kind") == "billshock_100")["record_id"].to_list())
    pool_unit = (1024 if plan.binary_units else 1000) if opened.event_type == "data" else 1
    smallest = rated["~grant0"]
    granted, threshold, final = 0, None, False
    for k, amount in enumerate(amounts):
        row = rated[f"~grant{k}"]
        crossed = None
        if row["is_blocked_by_cutoff"] or row["record_id"] in cut:
            crossed = "billshock_limit"
        elif 0 < row["in_bundle_units"] < row["billed_units"] * pool_unit:
            crossed = "allowance"  # the domestic allowance ends inside this amount
        elif row["is_over_fup"] and not smallest["is_over_fup"]:
            crossed = "fair_use"  # over the fair-use volume with this amount, not before
        if crossed is not None:
            threshold = crossed
            final = crossed == "billshock_limit"
            break
        granted = amount
    return Grant(granted, final, threshold)


def session_answer(
    session_id: str, request_number: int, grant: Grant | None, usage: bytes | None
) -> bytes:
    """The JSON answer of a session request (stored under its request number)."""
    doc: dict[str, Any] = {"session_id": session_id, "request_number": request_number}
    if grant is not None:
        doc.update(
            granted_units=grant.granted_units,
            final_unit_indication=grant.final_unit_indication,
            threshold=grant.threshold,
        )
    if usage is not None:
        doc["usage"] = msgspec.Raw(usage)
    return _encoder.encode(doc)


def stored_answer(
    store: Store, tenant_id: str, session_id: str, request_number: int
) -> bytes | None:
    """A request's stored answer (a repeat), or None."""
    with store.transaction() as tx:
        rows = tx.execute(
            "SELECT answer_json FROM service_session_requests WHERE tenant_id = ? AND "
            "session_id = ? AND request_number = ?",
            (tenant_id, session_id, request_number),
        )
    return str(rows[0][0]).encode("utf-8") if rows else None


def session_of(store: Store, tenant_id: str, session_id: str) -> tuple[SessionOpen, str, str]:
    """(opening request, state, expires_at) of the tenant's session.

    Raises
    ------
    ProblemError
        404 when the tenant has no such session.
    """
    with store.transaction() as tx:
        rows = tx.execute(
            "SELECT request_json, state, expires_at FROM service_sessions "
            "WHERE tenant_id = ? AND session_id = ?",
            (tenant_id, session_id),
        )
    if not rows:
        raise ProblemError(404, f"no session {session_id!r} of this tenant", "unknown-session")
    opened = msgspec.json.decode(str(rows[0][0]).encode("utf-8"), type=SessionOpen)
    return opened, str(rows[0][1]), str(rows[0][2])


def open_session(
    store: Store,
    tenant_id: str,
    versions: list[PlanVersion],
    opened: SessionOpen,
    fx: FxTable,
    catalog: Catalog,
) -> bytes:
    """Open a session and reserve its grant, in one transaction; a repeat gets the first answer.

    Raises
    ------
    ProblemError
        409 when the session id exists with a different opening request.
    """
    raw = msgspec.json.encode(opened)
    with store.transaction() as tx:
        rows = tx.execute(
            "SELECT request_json FROM service_sessions WHERE tenant_id = ? AND session_id = ?",
            (tenant_id, opened.session_id),
        )
        if rows:
            if str(rows[0][0]).encode("utf-8") != raw:
                raise ProblemError(
                    409, f"session {opened.session_id!r} exists with another request", "conflict"
                )
            answer = tx.execute(
                "SELECT answer_json FROM service_session_requests WHERE tenant_id = ? "
                "AND session_id = ? AND request_number = 0",
                (tenant_id, opened.session_id),
            )
            return str(answer[0][0]).encode("utf-8")
        grant = compute_grant(tx, tenant_id, versions, opened, opened.requested_units, fx, catalog)
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(seconds=opened.validity_s)
        tx.execute(
            "INSERT INTO service_sessions (tenant_id, session_id, subscriber_id, opened_at, "
            "expires_at, state, request_json, granted_units, used_units) "
            "VALUES (?, ?, ?, ?, ?, 'open', ?, ?, 0)",
            (
                tenant_id,
                opened.session_id,
                opened.subscriber_id,
                now.isoformat(timespec="microseconds"),
                expires.isoformat(timespec="microseconds"),
                raw.decode("utf-8"),
                grant.granted_units,
            ),
        )
        answer_bytes = session_answer(opened.session_id, 0, grant, None)
        tx.execute(
            "INSERT INTO service_session_requests (tenant_id, session_id, request_number, "
            "answer_json) VALUES (?, ?, 0, ?)",
            (tenant_id, opened.session_id, answer_bytes.decode("utf-8")),
        )
    return answer_bytes


def continue_session(
    store: Store,
    tenant_id: str,
    versions: list[PlanVersion],
    session_id: str,
    request_number: int,
    requested: int,
    terminate: bool,
    usage: bytes,
    fx: FxTable,
    catalog: Catalog,
) -> bytes:
    """After the used units were committed as an event: new grant (or close), stored answer."""
    opened, _, _ = session_of(store, tenant_id, session_id)
    with store.transaction() as tx:
        rows = tx.execute(
            "SELECT answer_json FROM service_session_requests WHERE tenant_id = ? AND "
            "session_id = ? AND request_number = ?",
            (tenant_id, session_id, request_number),
        )
        if rows:
            return str(rows[0][0]).encode("utf-8")
        grant = None
        if not terminate:
            grant = compute_grant(tx, tenant_id, versions, opened, requested, fx, catalog)
        now = dt.datetime.now(dt.UTC)
        expires = now + dt.timedelta(seconds=opened.validity_s)
        tx.execute(
            "UPDATE service_sessions SET state = ?, granted_units = ?, expires_at = ? "
            "WHERE tenant_id = ? AND session_id = ?",
            (
                "terminated" if terminate else "open",
                0 if grant is None else grant.granted_units,
                expires.isoformat(timespec="microseconds"),
                tenant_id,
                session_id,
            ),
        )
        answer = session_answer(session_id, request_number, grant, usage)
        tx.execute(
            "INSERT INTO service_session_requests (tenant_id, session_id, request_number, "
            "answer_json) VALUES (?, ?, ?, ?)",
            (tenant_id, session_id, request_number, answer.decode("utf-8")),
        )
    return answer

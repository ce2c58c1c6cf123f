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

How the grant is found: :mod:`roamlike.service.grants` (a binary search over 64 candidate
amounts, each rated as the subscriber's next event). Updates and terminations run inside the
events writer's group commit: :mod:`roamlike.service.session_steps`.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import msgspec
import polars as pl

from roamlike.law import Catalog
from roamlike.service import prune_day
from roamlike.service.grants import Grant, GrantQuestion, find_grants
from roamlike.service.group_rating import ParameterCache
from roamlike.service.problems import ProblemError
from roamlike.service.schemas import SessionOpen
from roamlike.service.tenants import PlanVersion
from roamlike.state import Store, Transaction
from roamlike.state.counters import load_counters
from roamlike.tariffs import FxTable, Plan

_encoder = msgspec.json.Encoder(decimal_format="string")


def _utc(text: str) -> dt.datetime:
    t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)


def reserved_by_others(tx: Transaction, tenant_id: str, subscriber_id: str, session_id: str) -> int:
    """Units held by the subscriber's other open, unexpired sessions."""
    return reserved_by_others_of(tx, tenant_id, [(subscriber_id, session_id)])[0]


def reserved_by_others_of(
    tx: Transaction, tenant_id: str, sessions: list[tuple[str, str]]
) -> list[int]:
    """:func:`reserved_by_others` of each (subscriber, session), in one statement."""
    if not sessions:
        return []
    now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    subscribers = sorted({sub for sub, _ in sessions})
    marks = ", ".join("?" for _ in subscribers)
    rows = tx.execute(
        "SELECT subscriber_id, session_id, granted_units FROM service_sessions "
        f"WHERE tenant_id = ? AND subscriber_id IN ({marks}) AND state = 'open' "
        "AND expires_at > ? ORDER BY subscriber_id, session_id",
        (tenant_id, *subscribers, now),
    )
    held: dict[str, list[tuple[str, int]]] = {}
    for sub, sid, granted in rows:
        held.setdefault(str(sub), []).append((str(sid), int(granted)))
    return [
        sum(granted for other, granted in held.get(sub, []) if other != sid)
        for sub, sid in sessions
    ]


def plan_of_session(versions: list[PlanVersion], opened: SessionOpen) -> Plan:
    """The session's plan in the version in force at its start.

    Raises
    ------
    ProblemError
        404 when the plan is not the tenant's at the session's time.
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
    return chosen.plans[opened.plan_id]


def compute_grant(
    tx: Transaction,
    tenant_id: str,
    versions: list[PlanVersion],
    opened: SessionOpen,
    requested: int,
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache | None = None,
) -> Grant:
    """The grant for ``requested`` units of the session's service, from the stored counters.

    Raises
    ------
    ProblemError
        404 when the plan is not the tenant's at the session's time; 422 when the engine
        rejects the event (its reason code in the problem).
    """
    plan = plan_of_session(versions, opened)
    available = requested - reserved_by_others(
        tx, tenant_id, opened.subscriber_id, opened.session_id
    )
    sid = opened.subscriber_id.strip()
    counters = load_counters(tx, pl.Series([sid]), tenant_id)
    found = find_grants([GrantQuestion(opened, plan, available)], counters, fx, catalog, cache)[0]
    if isinstance(found, ProblemError):
        raise found
    return found


def _opened_after_the_prune_day(tx: Transaction, tenant_id: str, opened: SessionOpen) -> None:
    """Checked after the grant (every other reason first), as for events
    (:mod:`roamlike.service.prune_day`); a session's later steps carry its start.

    Raises
    ------
    ProblemError
        422 (``BEFORE_PRUNE_DAY``) when the session starts before the day the store was
        pruned before.
    """
    before = prune_day.event_before(tx, tenant_id, opened)
    if before is not None:
        raise ProblemError(
            422,
            f"the session's service cannot be rated: {before}",
            "session-rejected",
            reason_code=prune_day.REASON_CODE,
        )


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
        _opened_after_the_prune_day(tx, tenant_id, opened)
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

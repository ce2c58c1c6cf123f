"""Session updates and terminations inside the events writer's group commit.

A step (``/update`` or ``/terminate``) is applied in the same transaction as the events of its
commit group, in three parts:

1. :func:`prepare_steps`, before the group is rated: a step already answered (same session and
   request number) gets its stored answer; an unknown session is a 404, a terminated or
   expired one a 409; otherwise the step's used units become a usage record
   ``<session>#<request number>`` of the session's subscriber, rated with the group's events.
   A step whose subscriber already has a step in the group waits for the next group, so the
   grants of one group never depend on each other.
2. the group's records are rated and stored (:mod:`roamlike.service.events`);
3. :func:`finish_steps`: each update's grant is found from the counters after the group
   (:mod:`roamlike.service.grants`), the session row updated and the answer stored under
   (tenant, session, request number).

One commit covers the usage, the grant and the answer: a step is applied once or not at all.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import msgspec

from roamlike.law import Catalog
from roamlike.service.grants import Grant, GrantQuestion, find_grants
from roamlike.service.group_rating import Carried, ParameterCache
from roamlike.service.problems import ProblemError
from roamlike.service.schemas import EventRecord, SessionOpen
from roamlike.service.sessions import plan_of_session, session_answer
from roamlike.service.tenants import PlanVersion
from roamlike.state import Transaction
from roamlike.tariffs import FxTable, Plan

#: What a prepared step resolves to: its answer, a problem, or None (wait for the next group).
Outcome = bytes | ProblemError | None

#: Most entries kept by :class:`_Kept` before it is emptied.
KEPT_MAX = 4096


class _Kept:
    """What the steps of a process find again and again, kept between groups: a session's
    opening request decoded, by its stored text (a session's text never changes once stored,
    and equal texts decode alike), and a session's plan, by its plan id and start, for one
    list of plan versions (held, compared by identity: the tenants' cache hands out the same
    list until a version is added). Nothing is mutated after it is kept; the preparer's thread
    and the loop's may both use it."""

    def __init__(self) -> None:
        self.opened: dict[str, SessionOpen] = {}
        # the versions and the plans found in them, replaced together (one assignment): a
        # thread still filling the plans of older versions fills a dict no one reads
        self.plans: tuple[list[PlanVersion] | None, dict[tuple[str, str], Plan]] = (None, {})

    def decoded(self, text: str) -> SessionOpen:
        """The opening request stored as ``text``."""
        found = self.opened.get(text)
        if found is None:
            if len(self.opened) >= KEPT_MAX:
                self.opened.clear()
            found = self.opened[text] = msgspec.json.decode(text.encode("utf-8"), type=SessionOpen)
        return found

    def plan(self, versions: list[PlanVersion], opened: SessionOpen) -> Plan:
        """:func:`roamlike.service.sessions.plan_of_session` (its problems are not kept).

        Raises
        ------
        ProblemError
            404 when the plan is not the tenant's at the session's time.
        """
        kept, plans = self.plans
        if kept is not versions or len(plans) >= KEPT_MAX:
            plans = {}
            self.plans = (versions, plans)
        key = (opened.plan_id, opened.started_at)
        found = plans.get(key)
        if found is None:
            found = plans[key] = plan_of_session(versions, opened)
        return found


_KEPT = _Kept()


@dataclass(frozen=True)
class SessionStep:
    """One ``/update`` or ``/terminate`` request of a session."""

    session_id: str
    request_number: int
    used_units: int
    requested_units: int
    terminate: bool


@dataclass(frozen=True)
class PendingStep:
    """A step whose usage is rated with the group; its grant comes after."""

    key: int  # the submission's index in the group
    step: SessionStep
    opened: SessionOpen
    record: EventRecord
    held: int  # units the subscriber's other open sessions hold


def _home(versions: list[PlanVersion], opened: SessionOpen) -> str | None:
    for version in reversed(versions):
        plan = version.plans.get(opened.plan_id)
        if plan is not None:
            return str(plan.home_country)
    return None


def usage_record(
    step: SessionStep, opened: SessionOpen, versions: list[PlanVersion]
) -> EventRecord:
    """The step's used units as a usage record of the session's subscriber, at its start."""
    is_data = opened.event_type == "data"
    return EventRecord(
        record_id=f"{step.session_id}#{step.request_number:09d}",
        subscriber_id=opened.subscriber_id,
        plan_id=opened.plan_id,
        event_type=opened.event_type,
        started_at=opened.started_at,
        utc_offset_min=opened.utc_offset_min,
        home_country=opened.home_country or _home(versions, opened),
        visited_country=opened.visited_country,
        volume_bytes=step.used_units if is_data else None,
        duration_s=None if is_data else step.used_units,
    )


def prepare_steps(
    tx: Transaction,
    tenant_id: str,
    versions: list[PlanVersion],
    steps: list[tuple[int, SessionStep]],
) -> tuple[dict[int, Outcome], list[PendingStep]]:
    """Part 1 (module docstring): outcomes decided now, and the steps to rate.

    Returns
    -------
    (dict, list)
        Outcome by submission index (an answer, a problem, or None: next group), and the
        pending steps in order.
    """
    decided: dict[int, Outcome] = {}
    pending: list[PendingStep] = []
    subscribers: set[str] = set()
    now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
    stored, sessions = _stored_and_sessions(tx, tenant_id, [step for _, step in steps], now)
    for key, step in steps:
        sid = step.session_id
        answer = stored.get((sid, step.request_number))
        if answer is not None:
            decided[key] = answer
            continue
        row = sessions.get(sid)
        if row is None:
            decided[key] = ProblemError(
                404, f"no session {sid!r} of this tenant", "unknown-session"
            )
            continue
        opened = _KEPT.decoded(row[0])
        state, expires = row[1], row[2]
        if state == "terminated":
            decided[key] = ProblemError(409, f"session {sid!r} is terminated", "session-closed")
            continue
        if expires < now and not step.terminate:
            decided[key] = ProblemError(
                409,
                f"session {sid!r} expired at {expires} and its reservation was released: "
                "terminate it and open a new one",
                "session-expired",
            )
            continue
        subscriber = opened.subscriber_id.strip()
        if subscriber in subscribers:
            decided[key] = None  # one step per subscriber and group: the next group
            continue
        subscribers.add(subscriber)
        pending.append(PendingStep(key, step, opened, usage_record(step, opened, versions), row[3]))
    return decided, pending


def _stored_and_sessions(
    tx: Transaction, tenant_id: str, steps: list[SessionStep], now: str
) -> tuple[dict[tuple[str, int], bytes], dict[str, tuple[str, str, str, int]]]:
    """The stored answers of the steps by (session, request number), and their sessions' rows
    (opening request, state, expiry, units the subscriber's other sessions open at ``now``
    hold) by session id: one statement."""
    if not steps:
        return {}, {}
    asked = {(s.session_id, s.request_number) for s in steps}
    ids = sorted({s.session_id for s in steps})
    numbers = sorted({s.request_number for s in steps})
    marks = ", ".join("?" for _ in ids)
    # the stored answers by two IN lists, each a column of the primary key (tenant, session,
    # request number): an index probe per combination, filtered to the pairs asked here. A
    # row-value IN (VALUES ...) list is searched by the tenant alone in SQLite: a scan of every
    # stored request. The other sessions' holds: the subscriber's index
    rows = tx.execute(
        "SELECT s.session_id, s.request_json, s.state, s.expires_at, "
        "(SELECT coalesce(sum(o.granted_units), 0) FROM service_sessions o "
        "WHERE o.tenant_id = s.tenant_id AND o.subscriber_id = s.subscriber_id "
        "AND o.state = 'open' AND o.expires_at > ? AND o.session_id <> s.session_id), "
        "r.request_number, r.answer_json "
        "FROM service_sessions s LEFT JOIN service_session_requests r "
        "ON r.tenant_id = s.tenant_id AND r.session_id = s.session_id "
        f"AND r.request_number IN ({', '.join('?' for _ in numbers)}) "
        f"WHERE s.tenant_id = ? AND s.session_id IN ({marks}) "
        "ORDER BY s.session_id, r.request_number",
        (now, *numbers, tenant_id, *ids),
    )
    stored: dict[tuple[str, int], bytes] = {}
    sessions: dict[str, tuple[str, str, str, int]] = {}
    for sid, request, state, expires, held, number, answer in rows:
        sessions[str(sid)] = (str(request), str(state), str(expires), int(held))
        if answer is not None and (pair := (str(sid), int(number))) in asked:
            stored[pair] = str(answer).encode("utf-8")
    return stored, sessions


def finish_steps(
    tx: Transaction,
    tenant_id: str,
    versions: list[PlanVersion],
    pending: list[PendingStep],
    usage: dict[int, bytes],
    counters: Carried,
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache,
) -> dict[int, Outcome]:
    """Part 3 (module docstring): grants from ``counters`` (after the group), rows, answers.

    ``usage`` is each pending step's usage answer by submission index.
    """
    out: dict[int, Outcome] = {}
    asking: list[tuple[PendingStep, Plan]] = []
    for p in pending:
        if p.step.terminate:
            continue
        try:
            asking.append((p, _KEPT.plan(versions, p.opened)))
        except ProblemError as problem:
            out[p.key] = problem
    questions = [
        GrantQuestion(p.opened, plan, p.step.requested_units - p.held) for p, plan in asking
    ]
    found = find_grants(questions, counters, fx, catalog, cache) if questions else []
    grants: dict[int, Grant | ProblemError] = {
        p.key: g for (p, _), g in zip(asking, found, strict=True)
    }
    now = dt.datetime.now(dt.UTC)
    updates: list[tuple[object, ...]] = []
    closed: list[tuple[object, ...]] = []
    answers: list[tuple[object, ...]] = []
    for p in pending:
        if p.key in out:
            continue
        grant = grants.get(p.key)
        if isinstance(grant, ProblemError):
            out[p.key] = grant  # the usage is stored (an event); the request is not answered
            continue
        expires = (now + dt.timedelta(seconds=p.opened.validity_s)).isoformat(
            timespec="microseconds"
        )
        if grant is None:  # a termination (only those are not asked for a grant)
            closed.append((expires, tenant_id, p.step.session_id))
        else:
            updates.append((grant.granted_units, expires, tenant_id, p.step.session_id))
        answer = session_answer(p.step.session_id, p.step.request_number, grant, usage[p.key])
        answers.append(
            (tenant_id, p.step.session_id, p.step.request_number, answer.decode("utf-8"))
        )
        out[p.key] = answer
    # an update's session is open (a terminated one was answered 409) and stays so: its
    # state is not set again, which would rewrite its entry in the subscriber's index
    # (state is one of its columns) for the same value
    if updates:
        tx.executemany(
            "UPDATE service_sessions SET granted_units = ?, expires_at = ? "
            "WHERE tenant_id = ? AND session_id = ?",
            updates,
        )
    if closed:
        tx.executemany(
            "UPDATE service_sessions SET state = 'terminated', granted_units = 0, "
            "expires_at = ? WHERE tenant_id = ? AND session_id = ?",
            closed,
        )
    if answers:
        tx.executemany(
            "INSERT INTO service_session_requests (tenant_id, session_id, request_number, "
            "answer_json) VALUES (?, ?, ?, ?)",
            answers,
        )
    return out

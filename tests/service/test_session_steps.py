"""Session steps gathered in one commit group answer as the same steps committed one by one.

The group's stored answers, sessions and other sessions' holds are read by one statement
(``session_steps``): the holds equal what the opening path reads (``sessions.reserved_by_others``);
a second step of a subscriber waits for the next group, a repeat is answered from the store, an
unknown session is a 404.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from pathlib import Path

import msgspec
import pytest

from roamlike.law import default_catalog
from roamlike.service.events import Outcome, Submission, commit_group
from roamlike.service.problems import ProblemError
from roamlike.service.schemas import SessionOpen
from roamlike.service.session_steps import SessionStep, _Kept, _stored_and_sessions
from roamlike.service.sessions import open_session, plan_of_session, reserved_by_others
from roamlike.service.tenants import add_tenant, plan_versions, put_plans
from roamlike.state import Store, migrate, open_store
from roamlike.tariffs import FxTable
from service.test_sessions_api import MB, PLANS

CATALOG = default_catalog()
FX = FxTable()
_LOOP = asyncio.new_event_loop()


def _store(path: Path) -> tuple[Store, str]:
    store = open_store(str(path))
    migrate(store)
    tenant, _ = add_tenant(store, "acme")
    put_plans(store, tenant.tenant_id, PLANS, "yaml", "2020-01-01T00:00:00.000000+00:00")
    versions = plan_versions(store, tenant.tenant_id)
    for session, subscriber in (("a1", "alice"), ("a2", "alice"), ("b1", "bob")):
        opened = msgspec.convert(
            {
                "session_id": session,
                "subscriber_id": subscriber,
                "plan_id": "de-meter",
                "event_type": "data",
                "visited_country": "FR",
                "started_at": "2026-03-02T09:00:00Z",
                "requested_units": 4 * MB,
                "validity_s": 3600,
            },
            SessionOpen,
        )
        open_session(store, tenant.tenant_id, versions, opened, FX, CATALOG)
    return store, tenant.tenant_id


def _steps(store: Store, tenant: str, steps: list[SessionStep]) -> list[Outcome]:
    versions = plan_versions(store, tenant)
    group = [Submission(tenant, versions, [], _LOOP.create_future(), None, step) for step in steps]
    return commit_group(store, group, FX, CATALOG)[0]


def _step(session: str, number: int) -> SessionStep:
    return SessionStep(session, number, MB, 3 * MB, False)


def test_steps_of_one_group_answer_as_the_same_steps_one_by_one(tmp_path: Path) -> None:
    grouped, tenant = _store(tmp_path / "grouped.db")
    alone, tenant_alone = _store(tmp_path / "alone.db")
    with grouped, alone:
        first = _steps(
            grouped,
            tenant,
            [_step("a1", 1), _step("b1", 1), _step("a2", 1), _step("a1", 1), _step("zz", 1)],
        )
        assert [type(o) for o in first] == [bytes, bytes, type(None), type(None), ProblemError]
        # first[2], first[3]: alice has a step in the group already, they wait for the next one
        assert isinstance(first[4], ProblemError)
        assert first[4].status == 404
        second = _steps(grouped, tenant, [_step("a2", 1), _step("a1", 1)])
        assert second[1] == first[0]  # a repeat: the stored answer
        one_by_one = [
            _steps(alone, tenant_alone, [step])[0]
            for step in (_step("a1", 1), _step("b1", 1), _step("a2", 1))
        ]
        assert [first[0], first[1], second[0]] == one_by_one
        a2 = msgspec.json.decode(second[0] if isinstance(second[0], bytes) else b"{}")
        a1 = msgspec.json.decode(first[0] if isinstance(first[0], bytes) else b"{}")
        assert a2["granted_units"] < a1["granted_units"]  # a1's new hold is subtracted


def test_a_repeat_is_found_by_its_own_session_and_number_only(tmp_path: Path) -> None:
    """The stored answers are looked up by two lists (sessions, numbers): when a1 #3 and b1 #2
    are asked, b1 #2 is a repeat, while the stored a1 #2 (a session and a number both asked,
    not as a pair) answers nothing: a1 #3 is applied."""
    store, tenant = _store(tmp_path / "cross.db")
    with store:
        a1_first, b1_first = _steps(store, tenant, [_step("a1", 1), _step("b1", 1)])
        a1_second, b1_second = _steps(store, tenant, [_step("a1", 2), _step("b1", 2)])
        crossed = _steps(store, tenant, [_step("a1", 3), _step("b1", 2)])
        assert crossed[1] == b1_second  # a repeat: the stored answer
        assert isinstance(crossed[0], bytes)
        new = msgspec.json.decode(crossed[0])
        assert new["request_number"] == 3
        assert new["session_id"] == "a1"
        assert crossed[0] not in (a1_first, a1_second)
        assert b1_first != b1_second


def test_the_holds_read_with_the_sessions_are_those_the_opening_path_reads(tmp_path: Path) -> None:
    """Open, expired and terminated sessions of one subscriber, and another subscriber's: each
    session's hold by the others, read with the sessions, equals ``reserved_by_others``."""
    store, tenant = _store(tmp_path / "holds.db")
    with store:
        _steps(store, tenant, [_step("a2", 1), _step("b1", 1)])  # a2 and b1 hold new grants
        versions = plan_versions(store, tenant)
        for session in ("a3", "a4"):
            opened = msgspec.convert(
                {"session_id": session, "subscriber_id": "alice", "plan_id": "de-meter",
                 "event_type": "data", "visited_country": "FR",
                 "started_at": "2026-03-02T09:00:00Z", "requested_units": MB},
                SessionOpen,
            )  # fmt: skip
            open_session(store, tenant, versions, opened, FX, CATALOG)
        with store.transaction() as tx:
            tx.execute("UPDATE service_sessions SET granted_units = 777 WHERE session_id > 'a2'")
            tx.execute(
                "UPDATE service_sessions SET expires_at = '2000-01-01' WHERE session_id = 'a3'"
            )
            tx.execute("UPDATE service_sessions SET state = 'terminated' WHERE session_id = 'a4'")
        now = dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")
        owners = {"a1": "alice", "a2": "alice", "a3": "alice", "a4": "alice", "b1": "bob"}
        with store.transaction() as tx:
            _, sessions = _stored_and_sessions(
                tx, tenant, [_step(s, 9) for s in sorted(owners)], now
            )
            held = {sid: row[3] for sid, row in sessions.items()}
            assert held == {
                sid: reserved_by_others(tx, tenant, sub, sid) for sid, sub in owners.items()
            }
            granted = dict(tx.execute("SELECT session_id, granted_units FROM service_sessions"))
        assert held["a1"] == granted["a2"]  # a3 expired, a4 terminated: they hold nothing
        assert held["a2"] == granted["a1"] > 0
        assert held["a3"] == held["a4"] == granted["a1"] + granted["a2"]
        assert granted["a3"] == granted["a4"] == 777
        assert held["b1"] == 0  # b1 is bob's only session


def test_a_group_updating_one_session_and_terminating_another_writes_both_rows(
    tmp_path: Path,
) -> None:
    """An update leaves its session open with the new grant and expiry; a termination in the
    same group closes its own (granted 0); a later update of the closed session is a 409."""
    store, tenant = _store(tmp_path / "rows.db")
    with store:
        with store.transaction() as tx:
            before = dict(
                tx.execute("SELECT session_id, expires_at FROM service_sessions ORDER BY 1")
            )
        closing = SessionStep("b1", 1, MB, 0, True)
        updated, closed = _steps(store, tenant, [_step("a1", 1), closing])
        assert isinstance(updated, bytes)
        assert isinstance(closed, bytes)
        with store.transaction() as tx:
            rows = {
                str(r[0]): r[1:]
                for r in tx.execute(
                    "SELECT session_id, state, granted_units, expires_at FROM service_sessions"
                )
            }
        granted = msgspec.json.decode(updated)["granted_units"]
        assert rows["a1"][:2] == ("open", granted)
        assert rows["a1"][2] > before["a1"]
        assert rows["b1"][:2] == ("terminated", 0)
        assert rows["b1"][2] > before["b1"]
        assert rows["a2"][2] == before["a2"]  # not in the group: unchanged
        again = _steps(store, tenant, [_step("b1", 2)])[0]
        assert isinstance(again, ProblemError)
        assert again.status == 409


def test_kept_openings_and_plans_are_those_found_anew(tmp_path: Path) -> None:
    """A session's opening request is decoded once per text; its plan is kept for one list of
    versions and found again in another list (a version added); a plan not in force is a 404
    every time, never kept."""
    store, tenant = _store(tmp_path / "kept.db")
    with store:
        versions = plan_versions(store, tenant)
        kept = _Kept()
        with store.transaction() as tx:
            rows = tx.execute("SELECT request_json FROM service_sessions WHERE session_id = 'a1'")
        text = str(rows[0][0])
        opened = kept.decoded(text)
        assert opened == msgspec.json.decode(text, type=SessionOpen)
        assert kept.decoded(text) is opened
        assert kept.plan(versions, opened) == plan_of_session(versions, opened)
        cheaper = PLANS.replace('price: "5.00"', 'price: "4.00"')
        put_plans(store, tenant, cheaper, "yaml", "2026-03-01T00:00:00.000000+00:00")
        later = plan_versions(store, tenant)
        assert kept.plan(later, opened) == plan_of_session(later, opened)
        assert kept.plan(later, opened) != plan_of_session(versions, opened)
        early = msgspec.structs.replace(opened, started_at="2019-01-01T00:00:00Z")
        for _ in range(2):
            with pytest.raises(ProblemError) as problem:
                kept.plan(later, early)
            assert problem.value.status == 404

"""Records from before the day the store was pruned: ``BEFORE_PRUNE_DAY`` rejects, the rest of
their group rated as if they had not been sent (``roamlike.service.prune_day``)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import example, given, settings
from starlette.testclient import TestClient

from roamlike.service.prune_day import REASON_CODE, early_positions
from roamlike.service.schemas import EventRecord
from roamlike.state import open_store
from roamlike.state.prune import prune
from roamlike.synth.generator import generate
from service.conftest import records_of, synthetic_client

SYNTH = generate(1500, seed=23, start=dt.date(2026, 1, 1), months=2)
PRUNED = dt.date(2026, 2, 1)


RECORDS = records_of(SYNTH.usage.sort("started_at", maintain_order=True))
JANUARY = [r for r in RECORDS if r["started_at"] < "2026-01-31"]
FEBRUARY = [r for r in RECORDS if r["started_at"] >= "2026-02-02"]


@pytest.fixture
def state_db(store_url: str) -> str:
    """These tests run on SQLite and on a real PostgreSQL server (the root conftest's store)."""
    return store_url


def _client(state: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    with synthetic_client(state, SYNTH) as (client, headers):
        yield client, headers


def _pruned_client(state: str) -> Iterator[tuple[TestClient, dict[str, str]]]:
    """A client of a store whose tenant was pruned before :data:`PRUNED` (a later day stored
    first, of a subscriber of its own, so that the prune is one the control allows)."""
    for client, headers in _client(state):
        later = {**RECORDS[0], "record_id": "later-1", "subscriber_id": "elsewhere"}
        later["started_at"] = "2026-07-15T10:00:00+00:00"
        response = client.post("/v1/events", json={"records": [later]}, headers=headers)
        assert response.json()["rated"], response.text
        with open_store(state) as store, store.transaction() as tx:
            [(tenant,)] = tx.execute("SELECT tenant_id FROM service_tenants")
            prune(tx, PRUNED, str(tenant))
        yield client, headers


def _post(client: TestClient, headers: dict[str, str], records: list[dict[str, Any]]) -> Any:
    response = client.post("/v1/events", json={"records": records}, headers=headers)
    assert response.status_code == 200, response.text
    doc = response.json()
    assert len(doc["rated"]) + len(doc["rejects"]) == len(records)
    return doc


@pytest.mark.parametrize("size", [7, 400], ids=["small-groups", "large-group"])
def test_records_before_the_prune_day_are_rejected_and_the_rest_rated_without_them(
    state_db: str, store_url: str, tmp_path: Any, size: int
) -> None:
    """Each request mixes January's records (before the prune day) into February's: every
    January record is a ``BEFORE_PRUNE_DAY`` reject, and February's are rated exactly as in a
    store that never saw January's (a request of 400 records: a large group)."""
    mixed = sorted(JANUARY[:40] + FEBRUARY, key=lambda r: (r["started_at"], r["record_id"]))
    for client, headers in _pruned_client(state_db):
        got: list[Any] = []
        for i in range(0, len(mixed), size):
            got.append(_post(client, headers, mixed[i : i + size]))
        rejects = [r for doc in got for r in doc["rejects"]]
        rated = {r["record_id"]: r for doc in got for r in doc["rated"]}
        notes = [n for doc in got for n in doc["notifications"]]
    january = {r["record_id"] for r in JANUARY[:40]}
    assert {r["record_id"] for r in rejects if r["reason_code"] == REASON_CODE} == january
    assert all("before 2026-02-01" in r["message"] for r in rejects)
    assert not january & set(rated)
    assert not january & {n["record_id"] for n in notes}
    fresh = str(tmp_path / "fresh.db") if store_url.endswith(".db") else None
    if fresh is None:
        return  # PostgreSQL: the values are compared on SQLite (the same code after the read)
    for client, headers in _client(fresh):
        alone = [
            _post(client, headers, FEBRUARY[i : i + size]) for i in range(0, len(FEBRUARY), size)
        ]
        expected = {r["record_id"]: r for doc in alone for r in doc["rated"]}
        expected_notes = [n for doc in alone for n in doc["notifications"]]
    assert len(expected) == len(FEBRUARY) > 400
    assert rated == expected
    assert sorted(map(json.dumps, notes)) == sorted(map(json.dumps, expected_notes))


def test_a_record_before_the_prune_day_is_answered_the_same_when_retried(state_db: str) -> None:
    for client, headers in _pruned_client(state_db):
        first = _post(client, headers, JANUARY[:3] + FEBRUARY[:3])
        again = _post(client, headers, JANUARY[:3] + FEBRUARY[:3])
        sub = JANUARY[0]["subscriber_id"]
        shown = client.get(f"/v1/subscribers/{sub}", headers=headers)
    assert again == first
    assert [r["reason_code"] for r in first["rejects"]] == [REASON_CODE] * 3
    # nothing of the held records was rated or stored as counters
    assert sub not in {r["subscriber_id"] for r in FEBRUARY[:3]}
    assert shown.status_code == 404, shown.text


def test_the_local_day_decides_not_the_utc_day(state_db: str) -> None:
    """00:30 UTC on the prune day an hour west of UTC is the day before there; 23:30 UTC the
    day before, an hour east, is the prune day itself."""
    base = FEBRUARY[0]
    west = {**base, "record_id": "w", "started_at": "2026-02-01T00:30:00Z", "utc_offset_min": -60}
    east = {**base, "record_id": "e", "started_at": "2026-01-31T23:30:00Z", "utc_offset_min": 60}
    for client, headers in _pruned_client(state_db):
        doc = _post(client, headers, [west, east])
    assert [r["record_id"] for r in doc["rejects"]] == ["w"]
    assert "local day 2026-01-31" in doc["rejects"][0]["message"]
    assert [r["record_id"] for r in doc["rated"]] == ["e"]


def test_other_reasons_come_first_and_repeats_stay_duplicates(state_db: str) -> None:
    """The check comes after every other: a record before the prune day with an unknown plan
    is ``UNKNOWN_PLAN``; a later repeat of a held record's id is still ``DUPLICATE_RECORD_ID``
    (not rated), and so is an early repeat of a February record's id."""
    jan, feb = JANUARY[0], FEBRUARY[0]
    records = [
        {**jan, "record_id": "no-plan", "plan_id": "no-such-plan"},
        {**jan, "record_id": "held"},
        {**feb, "record_id": "held"},  # a repeat of the held record, from February
        {**feb, "record_id": "feb"},
        {**jan, "record_id": "feb"},  # a repeat of a rated record, from January
    ]
    for client, headers in _pruned_client(state_db):
        doc = _post(client, headers, records)
    codes = [(r["record_id"], r["reason_code"]) for r in doc["rejects"]]
    assert sorted(codes) == sorted(
        [
            ("no-plan", "UNKNOWN_PLAN"),
            ("held", REASON_CODE),
            ("held", "DUPLICATE_RECORD_ID"),
            ("feb", "DUPLICATE_RECORD_ID"),
        ]
    )
    assert [r["record_id"] for r in doc["rated"]] == ["feb"]


def test_a_subscriber_quote_before_the_prune_day_is_the_same_reject(state_db: str) -> None:
    """``POST /v1/quote`` naming a subscriber continues its counters: before the prune day
    they are gone (422, ``BEFORE_PRUNE_DAY``); an inline quote with no subscriber is priced."""
    feb = FEBRUARY[0]
    body = {
        "plan_id": feb["plan_id"],
        "event_type": "sms_mo",
        "count": 1,
        "utc_offset_min": 0,
        "visited_country": feb["visited_country"],
        "subscriber_id": feb["subscriber_id"],
    }
    for client, headers in _pruned_client(state_db):
        before = client.post(
            "/v1/quote", json={**body, "started_at": "2026-01-20T10:00:00Z"}, headers=headers
        )
        after = client.post(
            "/v1/quote", json={**body, "started_at": "2026-02-20T10:00:00Z"}, headers=headers
        )
        unknown_plan = client.post(
            "/v1/quote",
            json={**body, "started_at": "2026-01-20T10:00:00Z", "plan_id": "no-such-plan"},
            headers=headers,
        )
    assert before.status_code == 422, before.text
    assert before.json()["reason_code"] == REASON_CODE
    assert "local day 2026-01-20" in before.json()["detail"]
    assert after.status_code == 200, after.text
    assert unknown_plan.status_code == 404, unknown_plan.text


def test_a_session_opened_before_the_prune_day_is_the_same_reject(state_db: str) -> None:
    """A session's steps are rated at its start: a start before the prune day is refused at
    the opening (422, ``BEFORE_PRUNE_DAY``)."""
    feb = FEBRUARY[0]
    body = {
        "subscriber_id": feb["subscriber_id"],
        "plan_id": feb["plan_id"],
        "event_type": "data",
        "visited_country": feb["visited_country"],
        "requested_units": 10**6,
    }
    for client, headers in _pruned_client(state_db):
        before = client.post(
            "/v1/sessions",
            json={**body, "session_id": "jan", "started_at": "2026-01-20T10:00:00Z"},
            headers=headers,
        )
        after = client.post(
            "/v1/sessions",
            json={**body, "session_id": "feb", "started_at": "2026-02-20T10:00:00Z"},
            headers=headers,
        )
    assert before.status_code == 422, before.text
    assert before.json()["reason_code"] == REASON_CODE
    assert after.status_code == 200, after.text


def test_a_store_never_pruned_rates_old_records(state_db: str) -> None:
    for client, headers in _client(state_db):
        doc = _post(client, headers, JANUARY[:5])
    assert len(doc["rated"]) == 5


_STAMPS = st.tuples(
    st.datetimes(min_value=dt.datetime(2026, 1, 28), max_value=dt.datetime(2026, 2, 5)),
    st.sampled_from(["Z", "+00:00", "+14:00", "-12:00", "+0530", "-0930", "+23:59", "-2359", ""]),
    st.sampled_from(["T", " "]),
    st.integers(-720, 840),
)


def _local_day(stamp: dt.datetime, zone: str, offset: int) -> dt.date:
    text_offset = dt.timedelta(0)
    if zone not in ("", "Z"):
        sign = -1 if zone[0] == "-" else 1
        digits = zone[1:].replace(":", "")
        text_offset = sign * dt.timedelta(hours=int(digits[:2]), minutes=int(digits[2:]))
    return (stamp - text_offset + dt.timedelta(minutes=offset)).date()


@settings(max_examples=200, deadline=None)
@given(st.lists(_STAMPS, min_size=1, max_size=20))
@example([(dt.datetime(2026, 2, 2, 0, 0), "+14:00", "T", -720)])  # two days back
@example([(dt.datetime(2026, 2, 2, 23, 59), "+23:59", "T", -720)])
@example([(dt.datetime(2026, 1, 31, 23, 59), "-23:59", " ", 840)])  # two days on
def test_early_positions_are_the_records_whose_local_day_is_before(
    stamps: list[tuple[dt.datetime, str, str, int]],
) -> None:
    """Every parseable time and offset, against the local day worked out by hand; the text
    filter that spares most records their parsing must never leave one out."""
    records = [
        EventRecord(
            record_id=str(i),
            started_at=stamp.strftime(f"%Y-%m-%d{sep}%H:%M:%S.%f") + zone,
            utc_offset_min=offset,
        )
        for i, (stamp, zone, sep, offset) in enumerate(stamps)
    ]
    expected = {
        i: day
        for i, (stamp, zone, _, offset) in enumerate(stamps)
        if (day := _local_day(stamp, zone, offset)) < PRUNED
    }
    assert early_positions(records, PRUNED) == expected


def test_unparseable_times_are_left_to_the_rating() -> None:
    records = [
        EventRecord(record_id="a", started_at="2026-01-01", utc_offset_min=0),
        EventRecord(record_id="b", started_at="2026-01-01T10:00:00", utc_offset_min=None),
        EventRecord(record_id="c", started_at=None, utc_offset_min=0),
        EventRecord(record_id="d", started_at="2026-01-01T10:00:00", utc_offset_min=0),
    ]
    assert early_positions(records, PRUNED) == {3: dt.date(2026, 1, 1)}

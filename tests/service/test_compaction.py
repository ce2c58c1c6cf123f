"""The service folds its tenants' state logs as they grow (``roamlike.service.compaction``):
only past the threshold, only the tenants written to, what readers see unchanged, a failure
leaving the logs and the answers as they were; over HTTP, events in chunks of up to 700
records with compactions between them rate as ``roamlike rate --state`` does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from roamlike.service import ServiceConfig, create_app, writer
from roamlike.service.compaction import (
    CHECK_EVERY_RECORDS,
    COMPACT_LOG_ROWS,
    CompactionSchedule,
    Pass,
    Step,
    compact_due,
    compaction_step,
)
from roamlike.service.tenants import add_tenant, put_plans
from roamlike.state import Store, migrate, open_store
from roamlike.state.log import CompactResult, pending_rows
from roamlike.synth.generator import generate
from service.conftest import commit_records, make_tenant, metric, metric_once_at

SYNTH = generate(10, seed=7)
PLAN = next(p for p in SYNTH.plans if p["home_country"] == "DE")


def test_the_schedule_checks_after_enough_records_the_tenants_written_to() -> None:
    schedule = CompactionSchedule(min_rows=10**9, check_every=100)
    assert schedule.rated({"a"}, 60) == []
    assert schedule.rated({"b"}, 0) == []
    assert schedule.rated({"c"}, 40) == ["a", "c"]
    assert schedule.rated({"a"}, 99) == []
    assert CompactionSchedule(min_rows=0).rated({"a"}, 10**6) == []
    # a low threshold is checked before one writer's rows could pass it twice over
    assert CompactionSchedule(min_rows=600).check_every == 100
    assert CompactionSchedule().check_every == min(CHECK_EVERY_RECORDS, COMPACT_LOG_ROWS // 6)


def _store(path: Path) -> tuple[Store, list[str]]:
    store = open_store(str(path))
    migrate(store)
    tenants = []
    for name in ("acme", "other"):
        tenant, _ = add_tenant(store, name)
        plans = json.dumps({"plans": SYNTH.plans}, default=str)
        put_plans(store, tenant.tenant_id, plans, "json", "2017-01-01T00:00:00.000000+00:00")
        tenants.append(tenant.tenant_id)
    return store, tenants


def _events(store: Store, tenant: str, count: int, tag: str) -> None:
    """One group of ``count`` data records of 300 MB each, over five subscribers."""
    subscribers: list[str | None] = [f"s{i % 5}" for i in range(count)]
    commit_records(store, tenant, PLAN["id"], tag, subscribers, volume_bytes=300_000_000)


def _seen(store: Store) -> list[tuple[object, ...]]:
    with store.transaction() as tx:
        return sorted(
            tx.execute("SELECT * FROM state_periods_now")
            + tx.execute("SELECT * FROM state_subscribers_now")
            + tx.execute("SELECT * FROM state_days_now"),
            key=repr,
        )


def _pending(store: Store, tenant: str) -> int:
    with store.transaction() as tx:
        return pending_rows(tx, tenant)


def test_only_tenants_past_the_threshold_are_compacted_and_readers_see_the_same(
    tmp_path: Path,
) -> None:
    store, (acme, other) = _store(tmp_path / "s.db")
    with store:
        _events(store, acme, 40, "a")
        _events(store, other, 2, "o")
        big, small = _pending(store, acme), _pending(store, other)
        assert big > small > 0
        before = _seen(store)
        assert compact_due(store, [acme, other], min_rows=big) == []
        done = compact_due(store, [acme, other], min_rows=small)
        assert [d.tenant for d in done] == [acme]
        assert sum(done[0].log_rows.values()) == big
        assert (_pending(store, acme), _pending(store, other)) == (0, small)
        assert _seen(store) == before
        # later events continue from the folded counters
        _events(store, acme, 3, "b")
        assert _pending(store, acme) > 0


def test_a_tenant_past_the_threshold_is_folded_a_slice_per_step_in_one_pass(
    tmp_path: Path,
) -> None:
    store, (acme, other) = _store(tmp_path / "s.db")
    with store:
        for i in range(4):  # subscribers s0-s4
            _events(store, acme, 5, f"a{i}-")
        _events(store, other, 2, "o")
        big, small = _pending(store, acme), _pending(store, other)
        schedule = CompactionSchedule(min_rows=big - 1, check_every=1, slice_rows=1)
        assert (schedule.busy, schedule.next_job()) == (False, None)
        # the check finds acme past the threshold and folds the first slice of a pass at once
        step = compaction_step(store, [acme, other], None, schedule.min_rows, 1)
        assert step.sliced is not None
        assert step.next == Pass(acme, step.sliced.through, "s0")
        assert step.pending == {acme: big - sum(step.sliced.log_rows.values()), other: small}
        assert schedule.record(step) == 0
        assert schedule.busy
        _events(store, acme, 1, "late")  # during the pass: above its bound
        before = _seen(store)
        steps, ended = 1, 0
        while schedule.busy:
            job = schedule.next_job()
            assert isinstance(job, Pass)
            step = compaction_step(store, [], job, schedule.min_rows, 1)
            assert list(step.pending) == [acme]
            ended += schedule.record(step)
            steps += 1
            assert _seen(store) == before  # every slice: readers see the same
        assert (steps, ended) == (6, 1)  # a slice per subscriber, then one past the last
        assert _pending(store, acme) == 3  # the late record's period, subscriber and day
        assert _pending(store, other) == small
        # nothing due: a check reads, folds nothing
        assert compaction_step(store, [acme, other], None, big, 1).sliced is None


def _last_seq(store: Store, tenant: str) -> int:
    with store.transaction() as tx:
        return int(tx.execute("SELECT seq FROM state_log_seq WHERE tenant = ?", (tenant,))[0][0])


def _through(step: Step) -> int:
    """The bound of the slice ``step`` folded (it folded one)."""
    assert step.sliced is not None
    return step.sliced.through


def test_a_pass_folds_up_to_the_seq_an_earlier_step_saw_when_above_what_was_folded(
    tmp_path: Path,
) -> None:
    store, (acme, _) = _store(tmp_path / "s.db")
    with store:
        _events(store, acme, 5, "a")
        schedule = CompactionSchedule(min_rows=1, check_every=1, slice_rows=10**6)
        # a check below the threshold records the last seq it saw
        schedule.record(compaction_step(store, [acme], None, 10**9, 10**6))
        seen = _last_seq(store, acme)
        assert schedule.earlier() == {acme: seen}
        _events(store, acme, 5, "b")  # written after that step: kept out of the pass
        before = _seen(store)
        step = compaction_step(store, [acme], None, 1, 10**6, schedule.earlier())
        assert _through(step) == seen
        assert step.seen[acme] == _last_seq(store, acme) > seen
        assert _seen(store) == before
        assert _pending(store, acme) == 3 * 5  # the later group's rows: period, subscriber, days
        # the earlier seq no longer above what was folded: the pass waits, the tenant due
        schedule.record(step)
        assert schedule.earlier() == {acme: seen}  # LAG_STEPS readings before
        step = compaction_step(store, [acme], None, 1, 10**6, schedule.earlier())
        assert (step.sliced, step.pending) == (None, {acme: 3 * 5})
        assert schedule.record(step) == 0
        assert schedule.next_job() == acme
        # LAG_STEPS readings after the fold, the seq read then is the earlier one: folded up to it
        schedule.record(compaction_step(store, [acme], None, 10**9, 10**6))
        assert schedule.earlier() == {acme: _last_seq(store, acme)}
        step = compaction_step(store, [], acme, 1, 10**6, schedule.earlier())
        assert _through(step) == _last_seq(store, acme)
        assert _pending(store, acme) == 0
        # none seen: the last seq, as before
        _events(store, acme, 2, "c")
        assert _through(compaction_step(store, [acme], None, 1, 10**6)) == _last_seq(store, acme)


def test_slices_keep_pace_with_groups_and_a_failed_step_ends_the_compaction() -> None:
    schedule = CompactionSchedule(min_rows=100, slice_rows=10)
    # after a group: at least slice_rows, and twice the rows the group appended to each log
    assert [schedule.slice_after(n) for n in (0, 5, 6, 800)] == [10, 10, 12, 1600]
    assert schedule.record(Step({"a": 101, "b": 100})) == 0
    assert (schedule.busy, schedule.next_job(), schedule.next_job()) == (True, "a", None)
    # a pass under way goes first; a tenant under way is not due twice
    assert schedule.record(Step({"a": 150}, None, Pass("a", 7, "s1"))) == 0
    assert schedule.record(Step({"b": 150})) == 0
    assert schedule.next_job() == Pass("a", 7, "s1")
    assert schedule.record(Step({"a": 99}, None, Pass("a", 7, "s2"))) == 0
    assert schedule.next_job() == Pass("a", 7, "s2")
    done = Step({"a": 150}, CompactResult("a", {}, {}, 7))  # its last slice; still past
    assert schedule.record(done) == 1
    assert [schedule.next_job(), schedule.next_job()] == ["b", "a"]  # then new passes
    schedule.failed()
    assert (schedule.busy, schedule.next_job()) == (False, None)


def _client(state: str, min_rows: int) -> tuple[TestClient, dict[str, str]]:
    client = TestClient(create_app(ServiceConfig(state=state, compact_log_rows=min_rows)))
    return client, {"authorization": f"Bearer {make_tenant(state, 'acme')}"}


def _put_plans(client: TestClient, headers: dict[str, str]) -> None:
    put = client.put(
        "/v1/plans?from=2017-01-01T00:00:00Z",
        content=json.dumps({"plans": SYNTH.plans}, default=str),
        headers={**headers, "content-type": "application/json"},
    )
    assert put.status_code == 201, put.text


def _post(client: TestClient, headers: dict[str, str], records: list[dict[str, Any]]) -> bytes:
    response = client.post("/v1/events", json={"records": records}, headers=headers)
    assert response.status_code == 200, response.text
    return response.content


def _wire(count: int, tag: str) -> list[dict[str, Any]]:
    return [
        {
            "record_id": f"{tag}{i}",
            "subscriber_id": f"s{i % 50}",
            "plan_id": PLAN["id"],
            "event_type": "data",
            "started_at": f"2026-01-05T{10 + i // 3600:02d}:{i // 60 % 60:02d}:{i % 60:02d}Z",
            "utc_offset_min": 60,
            "home_country": "DE",
            "visited_country": "FR",
            "volume_bytes": 40_000_000,
        }
        for i in range(count)
    ]


def test_the_writer_compacts_after_answering_and_answers_stay_the_same(tmp_path: Path) -> None:
    state = str(tmp_path / "s.db")
    client, headers = _client(state, min_rows=600)
    plans = json.dumps({"plans": SYNTH.plans}, default=str)
    with client:
        put = client.put(
            "/v1/plans?from=2017-01-01T00:00:00Z",
            content=plans,
            headers={**headers, "content-type": "application/json"},
        )
        assert put.status_code == 201, put.text
        records = _wire(1_000, "r")
        first = [_post(client, headers, records[i : i + 100]) for i in range(0, 1_000, 100)]
        assert metric(client, "compactions") >= 1
        assert metric(client, "compacted_log_rows") >= 600
        with open_store(state) as store, store.transaction() as tx:
            tenant = str(tx.execute("SELECT tenant_id FROM service_tenants")[0][0])
            assert pending_rows(tx, tenant) <= 600 + 3 * 100
        # retries are answered from the store, byte for byte
        again = [_post(client, headers, records[i : i + 100]) for i in range(0, 1_000, 100)]
        assert again == first


def test_the_writer_folds_slices_between_groups_and_when_idle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roamlike.service import app

    # the logs are checked once, after the last of the 600 records, so that the pass comes
    # after the last answer whatever the machine's speed (checked every 66 records, as by
    # default, the last check came 40 records before the end: when it found the logs below
    # the threshold and no pass was under way, the 120 rows after it could leave them past
    # it with nothing due, and a wait for the idle writer to fold them ran out)
    monkeypatch.setattr(
        app,
        "CompactionSchedule",
        lambda rows: CompactionSchedule(rows, check_every=600, slice_rows=20),
    )
    state = str(tmp_path / "s.db")
    client, headers = _client(state, min_rows=400)
    with client:
        _put_plans(client, headers)
        records = _wire(600, "r")  # in requests of 10: 30 log rows each, 600 in each log
        first = [_post(client, headers, records[i : i + 10]) for i in range(0, 600, 10)]
        # the check after the last group finds 1,800 rows: a pass in slices of 20 rows of each
        # log (about 25 slices), one after each group; retried groups meanwhile are answered
        # the same, and they are too few for the pass to end on their slices alone
        again = [_post(client, headers, records[i : i + 10]) for i in range(0, 100, 10)]
        assert again == first[:10]
        # no request comes: the idle writer goes on, slice after slice, until the pass ended
        assert metric_once_at(client, "compactions", 1) == 1
        with open_store(state) as store, store.transaction() as tx:
            tenant = str(tx.execute("SELECT tenant_id FROM service_tenants")[0][0])
            assert pending_rows(tx, tenant) == 0  # folded up to the last seq: nothing left
        assert metric(client, "compacted_log_rows") == 1_800
        # more slices than the last group and the retried ones were followed by: idle ones
        assert metric(client, "compaction_slices") > 1 + 10
        assert metric(client, "compactions") == 1  # nothing due after it: no other pass
        again = [_post(client, headers, records[i : i + 10]) for i in range(0, 600, 10)]
        assert again == first


def test_a_failed_compaction_is_counted_and_the_service_goes_on(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fails(*_: object) -> list[object]:
        raise OSError("disk full")

    monkeypatch.setattr(writer, "compaction_step", fails)
    state = str(tmp_path / "s.db")
    client, headers = _client(state, min_rows=60)
    with client:
        _put_plans(client, headers)
        for i in range(3):
            doc = json.loads(_post(client, headers, _wire(30, f"r{i}-")))
            assert len(doc["rated"]) == 30
        assert metric(client, "compactions_failed") >= 1
        assert metric(client, "compactions") == 0


def _synchronous(store: Store) -> int:
    return int(store.connection.execute("PRAGMA synchronous").fetchone()[0])


def test_a_slice_commits_without_a_flush_and_the_connection_is_full_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from roamlike.service import compaction
    from roamlike.state import slices

    store, (acme, _) = _store(tmp_path / "s.db")
    seen: list[int] = []
    fold = slices.compact_slice

    def watched(tx: Any, *args: Any) -> Any:
        seen.append(_synchronous(store))
        return fold(tx, *args)

    monkeypatch.setattr(compaction, "compact_slice", watched)
    with store:
        _events(store, acme, 5, "a")
        assert _synchronous(store) == 2  # FULL: the state store's setting
        step = compaction_step(store, [acme], None, 1, 1000)
        assert step.sliced is not None
        assert seen == [1]  # NORMAL inside the slice's transaction: no flush in its COMMIT
        assert _synchronous(store) == 2
        assert _pending(store, acme) == 0

        def failing(tx: Any, *args: Any) -> Any:
            raise OSError("disk full")

        monkeypatch.setattr(compaction, "compact_slice", failing)
        _events(store, acme, 1, "b")
        with pytest.raises(OSError, match="disk full"):
            compaction_step(store, [acme], None, 1, 1000)
        assert _synchronous(store) == 2  # FULL again after a failure too
        assert _pending(store, acme) == 3  # rolled back: the logs as they were


def test_the_services_slices_fold_fewer_rows_than_the_state_stores_default() -> None:
    from roamlike.service.compaction import SERVICE_SLICE_ROWS
    from roamlike.state.slices import SLICE_ROWS

    schedule = CompactionSchedule()
    assert schedule.slice_rows == SERVICE_SLICE_ROWS < SLICE_ROWS
    assert schedule.slice_after(14) == SERVICE_SLICE_ROWS  # a group of events of one record
    assert schedule.slice_after(1600) == 3200  # large groups: twice what they appended

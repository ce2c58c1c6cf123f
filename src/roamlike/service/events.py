"""``POST /v1/events``: rate usage records with the stored counters and commit them durably.

The writer task of a process (:mod:`roamlike.service.writer`) gathers the events (and session
steps) of concurrent requests into a group and commits it in ONE transaction (SQLite ``BEGIN
IMMEDIATE`` with ``synchronous=FULL``; PostgreSQL) doing, for each tenant of the group:

1. prepares the session steps (:mod:`roamlike.service.session_steps`): their used units become
   usage records of the group;
2. looks up the record ids already stored (a retry is answered with the first answer);
3. loads the counters of the group's subscribers;
4. rates the new records against the plan version in force at each record's time, carrying the
   counters (:func:`roamlike.service.group_rating.rate_group`: the reference rater for small
   groups, the batch engine for larger ones, the same answers either way);
5. stores each record's answer under (tenant, record_id), the counters after the run and the
   days' presence and consumption — in the state store's own tables (``roamlike.state``),
   under the tenant, exactly as ``roamlike rate --state`` keeps them; then the steps' grants,
   session rows and answers;

and commits once, before any request of the group is answered. Durable group commit: nothing
is acknowledged that is not on disk, and a record is applied at most once. Every read comes
before every write, so the group is first worked out on a snapshot outside the writers' lock
and committed under it only if its reads are unchanged (:mod:`roamlike.service.snapshot`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import polars as pl

from roamlike.law import Catalog
from roamlike.rating.reasons import ID_FORBIDDEN
from roamlike.reference import CounterStates
from roamlike.service import large_groups, prune_day, state_rows, written_states
from roamlike.service.answers import response_document
from roamlike.service.counters_cache import CountersCache
from roamlike.service.group_rating import (
    MEMOISED_GROUP_MAX,
    Carried,
    GroupRating,
    ParameterCache,
    as_counters,
    rate_group,
)
from roamlike.service.schemas import EventRecord
from roamlike.service.session_steps import PendingStep, SessionStep, finish_steps, prepare_steps
from roamlike.service.snapshot import (
    SnapshotTransaction,
    WorkedOut,
    apply_worked_out,
    commit_worked_out,
    no_lock,
    work_out,
    write_later,
)
from roamlike.service.state_rows import (
    load_counters_rows,
    load_states_rows,
    save_counters_rows,
    save_day_rows,
    save_states_rows,
)
from roamlike.service.tenants import PlanVersion, now_utc
from roamlike.service.written_keys import Mark
from roamlike.state import Store, Transaction
from roamlike.state.control import pruned_before
from roamlike.state.counters import load_counters, save_counters
from roamlike.state.days import save_days
from roamlike.state.log import lock_tenant
from roamlike.tariffs import FxTable

_CHUNK = 500
#: Largest number of subscribers (counters) or rated records (days) moved as plain rows
#: (:mod:`roamlike.service.state_rows`), and of records in a group worked out on a snapshot;
#: more go through the state store's frames, under the lock.
PLAIN_ROWS_MAX = 300
_PLAIN_ROWS = state_rows.usable()


@dataclasses.dataclass
class Submission:
    """One request waiting for the group commit: records (events) or a session step."""

    tenant_id: str
    versions: list[PlanVersion]
    records: list[EventRecord]
    future: asyncio.Future[bytes]
    fx: FxTable | None = None  # the tenant's own rates (PUT /v1/fx); None: the server's
    step: SessionStep | None = None  # a session's /update or /terminate (records empty)


#: A submission's outcome: its response body, its own problem, or None (the next group).
Outcome = bytes | Exception | None


def _utc(text: str | None) -> str | None:
    if text is None:
        return None
    try:
        t = dt.datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    t = t.replace(tzinfo=dt.UTC) if t.tzinfo is None else t.astimezone(dt.UTC)
    return t.isoformat(timespec="microseconds")


def _version_of(versions: Sequence[PlanVersion], started_at: str | None) -> int:
    """Index of the version in force at the record's time (-1: none; unreadable time: latest)."""
    if versions and started_at is not None:
        year = started_at.strip()[:4]
        if year.isdigit() and int(year) > int(versions[-1].valid_from[:4]) + 1:
            # two years after the latest version began, whatever the offset; or unreadable:
            # the latest either way, without parsing the time
            return len(versions) - 1
    at = _utc(started_at)
    if at is None:
        return len(versions) - 1
    chosen = -1
    for i, version in enumerate(versions):
        if version.valid_from <= at:
            chosen = i
    return chosen


def _version_indexes(versions: Sequence[PlanVersion], records: Sequence[EventRecord]) -> list[int]:
    """:func:`_version_of` of every record: the year test that decides most records (a time two
    years after the latest version began) is worked out once per distinct year text."""
    if not versions:
        return [-1] * len(records)
    latest = len(versions) - 1
    after = int(versions[-1].valid_from[:4]) + 1
    late: dict[str, bool] = {}
    out: list[int] = []
    for rec in records:
        text = rec.started_at
        if text is not None:
            year = text.strip()[:4]
            found = late.get(year)
            if found is None:
                found = late[year] = year.isdigit() and int(year) > after
            if found:
                out.append(latest)
                continue
        out.append(_version_of(versions, text))
    return out


def _saved(save: Callable[..., object], *args: Any) -> Callable[[Transaction], object]:
    """``save(tx, *args)`` as a write of the transaction it will be given."""
    return lambda tx: save(tx, *args)


def _stored_subscriber(subscriber_id: str | None) -> str:
    """The subscriber an event is stored under: none (``""``) for an id holding NUL, whose
    records are rejected ``BAD_ID`` and which PostgreSQL's text cannot hold."""
    return "" if subscriber_id is None or ID_FORBIDDEN in subscriber_id else subscriber_id


def _answer_rows(
    tenant_id: str,
    received: str,
    answered: Iterable[tuple[int, EventRecord, bytes]],
    repeats: set[int],
) -> Iterator[tuple[Any, ...]]:
    """The ``service_events`` rows of (position, record, answer): a repeat inside the group
    (its position in ``repeats``) is not stored, its first occurrence is."""
    for p, rec, answer in answered:
        if p not in repeats:
            sid = rec.subscriber_id  # _stored_subscriber, inline (once per record)
            yield (
                tenant_id,
                rec.record_id,
                "" if sid is None or ID_FORBIDDEN in sid else sid,
                received,
                answer.decode("utf-8"),
            )


def _insert_answers(tx: Transaction, rows: list[tuple[Any, ...]]) -> None:
    tx.executemany(
        "INSERT INTO service_events (tenant_id, record_id, subscriber_id, received_at, "
        "answer_json) VALUES (?, ?, ?, ?, ?)",
        rows,
    )


def _load(
    tx: Transaction,
    subscribers: set[str],
    tenant_id: str,
    *,
    states: bool = False,
    cache: CountersCache | None = None,
) -> Carried:
    """The stored counters of ``subscribers``: as plain rows read into the reference rater's
    plain states for a few of them; for many, on a snapshot read once and checked by log
    sequence (:mod:`roamlike.service.large_groups`), under the lock by the state store's load
    (a temporary table of their ids). ``states``: the group is one the reference rater rates
    (:data:`roamlike.service.group_rating.SMALL_GROUP_MAX`): many subscribers' counters are
    read as plain states too (on SQLite), with no frames to convert, those ``cache`` holds
    valid on the snapshot taken from it (:mod:`roamlike.service.counters_cache`)."""
    if _PLAIN_ROWS and len(subscribers) <= PLAIN_ROWS_MAX:
        return load_states_rows(tx, subscribers, tenant_id)
    if isinstance(tx, SnapshotTransaction):
        if large_groups.checkable(tx):
            return large_groups.load_checked(tx, subscribers, tenant_id, states=states, cache=cache)
        return load_counters_rows(tx, subscribers, tenant_id)
    if states and _PLAIN_ROWS and tx.dialect == "sqlite":
        return load_states_rows(tx, subscribers, tenant_id)
    if _PLAIN_ROWS and state_rows.json_readable(tx, tenant_id):
        return state_rows.load_counters_json(tx, subscribers, tenant_id)
    return load_counters(tx, pl.Series(sorted(subscribers), dtype=pl.String), tenant_id)


def _answers_stored(tx: Transaction, tenant_id: str, ids: Sequence[str]) -> dict[str, bytes]:
    out: dict[str, bytes] = {}
    unique = sorted(set(ids))
    for i in range(0, len(unique), _CHUNK):
        chunk = unique[i : i + _CHUNK]
        marks = ", ".join("?" for _ in chunk)
        for rid, answer in tx.execute(
            "SELECT record_id, answer_json FROM service_events "
            f"WHERE tenant_id = ? AND record_id IN ({marks})",
            (tenant_id, *chunk),
        ):
            out[str(rid)] = str(answer).encode("utf-8")
    return out


def _after(counters: Carried, result: GroupRating) -> Carried:
    """The counters after ``result`` in the form of ``counters`` (states or frames)."""
    return result.states if isinstance(counters, CounterStates) else result.counters


def _merged(older: Carried, newer: Carried) -> Carried:
    """``older`` updated with ``newer`` (both states, else as frames)."""
    if isinstance(older, CounterStates) and isinstance(newer, CounterStates):
        return older.merge(newer)
    return as_counters(older).merge(as_counters(newer))


def _rate_tenant(
    tx: Transaction,
    tenant_id: str,
    versions: list[PlanVersion],
    records: list[EventRecord],
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache,
    later: list[Callable[[Transaction], object]],
    kept: tuple[CountersCache, int] | None = None,
) -> tuple[dict[int, bytes], Carried | None, int, int]:
    """Rate ``records`` (new to the store, in arrival order); answers by position. Their
    writes (answers, counters, days) are appended to ``later``, run after every read of the
    group (:mod:`roamlike.service.snapshot`).

    Their writes are framed by a :class:`roamlike.service.written_keys.Mark` (the row naming
    the subscribers whose counters they store). ``kept``: the process's counters cache and
    the group's token, given the counters after the group once its writes ran
    (:meth:`roamlike.service.counters_cache.CountersCache.stage`).

    Returns (answer JSON by position, the counters the records touched as they are after them
    (None: none rated), rated count, rejected count).
    """
    indexes = _version_indexes(versions, records)
    by_version: dict[int, list[int]] = {}
    if indexes and indexes.count(indexes[0]) == len(indexes):  # one version (the usual case)
        by_version[indexes[0]] = list(range(len(records)))
    else:
        for i, index in enumerate(indexes):
            by_version.setdefault(index, []).append(i)
    subscribers = {(r.subscriber_id or "").strip() for r in records}
    pruned = pruned_before(tx, tenant_id)
    counters = _load(
        tx,
        subscribers,
        tenant_id,
        states=len(records) <= MEMOISED_GROUP_MAX,
        cache=None if kept is None else kept[0],
    )
    loaded = counters
    mark = Mark(tenant_id)
    later.append(mark.begin)  # before the first write that takes a seq
    touched: Carried | None = None
    answers: dict[int, bytes] = {}
    rated = rejected = 0
    # a record id repeated in the group is stored once, under its first position, whatever the
    # repeat's answer (DUPLICATE_RECORD_ID, or an earlier reject such as MISSING_FIELD)
    ids = [rec.record_id for rec in records]
    repeats: set[int] = set()
    if len(set(ids)) < len(ids):
        first_at: dict[str, int] = {}
        for i, rid in enumerate(ids):
            first_at.setdefault(rid, i)
        repeats = {i for i, rid in enumerate(ids) if first_at[rid] != i}
    rows: list[tuple[Any, ...]] = []
    received = now_utc()
    # records from before the store's prune day, and the later repeats of their ids: held out
    # of the rating, answered by prune_day
    held: dict[int, bytes] = {}
    if pruned is not None and (early := prune_day.early_positions(records, pruned)):
        held = prune_day.held_answers(
            records,
            early,
            pruned,
            lambda: _answers_alone(records, by_version, versions, fx, catalog, counters, cache),
        )
        by_version = {
            index: kept_
            for index, positions in by_version.items()
            if (kept_ := [p for p in positions if p not in held])
        }
        answers.update(held)
        rejected += len(held)
        rows.extend(
            _answer_rows(
                tenant_id, received, ((p, records[p], a) for p, a in sorted(held.items())), repeats
            )
        )
    chunks = sorted(by_version)
    for n, index in enumerate(chunks):
        positions = by_version[index]
        plans = versions[index].plans if index >= 0 else {}
        part = [records[p] for p in positions]
        result = rate_group(part, plans, fx, catalog, counters, cache)
        after = _after(counters, result)
        if n + 1 < len(chunks):  # a later chunk continues them
            counters = _merged(counters, after)
        touched = after if touched is None else _merged(touched, after)
        if result.rated:
            # presence and consumption per day, for the permanent-roaming control
            if _PLAIN_ROWS and len(result.rated) <= PLAIN_ROWS_MAX:
                later.append(_saved(save_day_rows, result.day_tuples(tenant_id)))
            elif _PLAIN_ROWS and tx.dialect == "sqlite":  # rows built now, outside the lock
                later.append(large_groups.days_writer(result.day_tuples(tenant_id), tenant_id))
            else:  # PostgreSQL: the state store's COPY
                later.append(_saved(save_days, result.days(tenant_id)))
        part_answers = result.answers(part)
        answers.update(zip(positions, part_answers, strict=True))
        rated += len(result.rated)
        rejected += len(result.rejects)
        rows.extend(
            _answer_rows(
                tenant_id, received, zip(positions, part, part_answers, strict=True), repeats
            )
        )
    if isinstance(touched, CounterStates):  # plain rows
        if _PLAIN_ROWS and tx.dialect == "sqlite" and len(touched.periods) > PLAIN_ROWS_MAX:
            later.append(large_groups.counters_writer(touched, tenant_id))  # rows built now
        else:
            later.append(_saved(save_states_rows, touched, tenant_id))
    elif touched is not None:
        if _PLAIN_ROWS and touched.periods.height <= PLAIN_ROWS_MAX:
            later.append(_saved(save_counters_rows, touched, tenant_id))
        elif _PLAIN_ROWS and tx.dialect == "sqlite":  # rows built now, outside the lock
            later.append(large_groups.counters_writer(touched, tenant_id))
        else:  # PostgreSQL: the state store's COPY
            later.append(_saved(save_counters, touched, tenant_id))
    later.append(_saved(_insert_answers, rows))
    if touched is not None:
        mark.wrote(_written(touched))
        if (
            kept is not None
            and tx.dialect == "sqlite"  # the cache is taken on SQLite snapshots only
            # only groups that read through the cache keep their counters there: a small
            # group's write is named by its row (which drops the entries it changed), and
            # staging its counters would cost every small group for entries no small group
            # reads
            and len(subscribers) > PLAIN_ROWS_MAX
            and isinstance(loaded, CounterStates)
            and isinstance(touched, CounterStates)
        ):
            cache_, token = kept
            ids = state_rows.stored_ids(subscribers)
            after = touched
            # the counters the group leaves, built now (outside the writers' lock): encoded
            # for the other process's cache (stored next to the row), and as this one keeps
            # them; not while this process's groups seldom take subscribers from its cache
            built = None
            if cache_.sharing(tenant_id):
                blob, built = written_states.leave(ids, loaded, after)
                mark.share(blob)
            mark.on_written = lambda last: cache_.stage(
                token, tenant_id, last, ids, loaded, after, built
            )
    later.append(mark.end)
    return answers, touched, rated, rejected


def _answers_alone(
    records: list[EventRecord],
    by_version: dict[int, list[int]],
    versions: list[PlanVersion],
    fx: FxTable,
    catalog: Catalog,
    counters: Carried,
    cache: ParameterCache,
) -> list[bytes]:
    """Each record's answer by position, every version's records rated on ``counters`` and
    nothing kept: what :func:`roamlike.service.prune_day.held_answers` reads of a group (which
    records are rated, the rejects), none of which depends on the counters carried between
    the versions."""
    out: list[bytes] = [b""] * len(records)
    for index, positions in by_version.items():
        part = [records[p] for p in positions]
        plans = versions[index].plans if index >= 0 else {}
        result = rate_group(part, plans, fx, catalog, counters, cache)
        for p, answer in zip(positions, result.answers(part), strict=True):
            out[p] = answer
    return out


def _written(counters: Carried) -> set[str]:
    """The subscribers whose rows ``counters`` (what a group writes) hold."""
    if isinstance(counters, CounterStates):
        return {key[0] for key in counters.periods} | set(counters.subscribers)
    return set(counters.periods.get_column("subscriber_id").to_list()) | set(
        counters.subscribers.get_column("subscriber_id").to_list()
    )


def _commit_tenant(
    tx: Transaction,
    tenant_id: str,
    group: list[Submission],
    keys: list[int],
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache,
    later: list[Callable[[Transaction], object]],
    kept: tuple[CountersCache, int] | None = None,
) -> tuple[dict[int, Outcome], int, int]:
    """The submissions ``keys`` of one tenant: steps prepared, records rated, steps finished.

    The records' writes are appended to ``later``; the steps' own are run last, after their
    reads."""
    first = group[keys[0]]
    versions, tenant_fx = first.versions, first.fx or fx
    steps = [(k, s.step) for k in keys if (s := group[k]).step is not None]
    out: dict[int, Outcome] = {}
    decided, pending = prepare_steps(tx, tenant_id, versions, steps)
    out.update(decided)
    # every record of the group in order: the events' own, then the steps' used units
    owners: list[int] = []  # the submission of each record
    records: list[EventRecord] = []
    for k in keys:
        records.extend(group[k].records)
        owners.extend([k] * len(group[k].records))
    for p in pending:
        owners.append(p.key)
        records.append(p.record)
    ids = [r.record_id for r in records]
    stored = _answers_stored(tx, tenant_id, ids)
    answers: list[bytes | None]
    first_of: dict[str, int] = {}
    if not stored and len(set(ids)) == len(ids):  # every record new (the usual case)
        answers = [None] * len(records)
        new = list(range(len(records)))
    else:
        answers = [stored.get(rid) for rid in ids]
        new = []
        for i, rid in enumerate(ids):
            if answers[i] is not None:
                continue
            if rid in first_of and owners[first_of[rid]] != owners[i]:
                continue  # a retry in the same group: answered with the first below
            first_of.setdefault(rid, i)
            new.append(i)
    rated = rejected = 0
    counters: Carried | None = None
    if new:
        by_pos, counters, rated, rejected = _rate_tenant(
            tx,
            tenant_id,
            versions,
            [records[i] for i in new],
            tenant_fx,
            catalog,
            cache,
            later,
            kept,
        )
        for pos, i in enumerate(new):
            answers[i] = by_pos[pos]
    if first_of:
        for i, rid in enumerate(ids):
            if answers[i] is None:
                answers[i] = answers[first_of[rid]]
    per: dict[int, list[bytes]] = {}
    for k, answer in zip(owners, answers, strict=True):
        assert answer is not None
        per.setdefault(k, []).append(answer)
    for k in keys:
        if group[k].step is None:
            out[k] = response_document(per.get(k, []))
    if pending:
        usage = {p.key: response_document(per[p.key]) for p in pending}
        if counters is None:  # every usage was a retry
            counters = _load(tx, {p.opened.subscriber_id.strip() for p in pending}, tenant_id)
        else:
            counters = _with_stored(tx, counters, pending, tenant_id)
        out.update(
            finish_steps(
                tx, tenant_id, versions, pending, usage, counters, tenant_fx, catalog, cache
            )
        )
    return out, rated, rejected


def _with_stored(
    tx: Transaction, counters: Carried, pending: list[PendingStep], tenant_id: str
) -> Carried:
    """``counters`` (touched by the group) plus the stored counters of step subscribers the group
    did not rate. A step's grant is rated in the period and plan of its usage record, whose
    counters and subscriber row the group touched when it rated that record."""
    have = (
        set(counters.subscribers)
        if isinstance(counters, CounterStates)
        else set(counters.subscribers.get_column("subscriber_id").to_list())
    )
    missing = sorted({p.opened.subscriber_id.strip() for p in pending} - have)
    if not missing:
        return counters
    return _merged(_load(tx, set(missing), tenant_id), counters)


def commit_group(
    store: Store,
    group: list[Submission],
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache | None = None,
) -> tuple[list[Outcome], int, int]:
    """Rate and commit a group of submissions in one transaction (module docstring).

    Returns each submission's outcome (its response body, its own problem, or None: it waits
    for the next group) and the rated and rejected counts.
    """
    return commit_group_in_turn(store, no_lock, group, fx, catalog, cache)[:3]


#: What a group's commit returns: outcomes, rated and rejected counts.
GroupResult = tuple[list[Outcome], int, int]


def _group_work(
    group: list[Submission],
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache,
    counters: CountersCache | None = None,
) -> Callable[[Transaction], GroupResult]:
    """The group's commit as one function of a transaction: every read first, then the writes
    (what :mod:`roamlike.service.snapshot` can work out on a snapshot). ``counters``: the
    process's counters kept between groups, whose entries the group stages under the token
    ``id(group)`` (:meth:`~roamlike.service.counters_cache.CountersCache.committed` once it
    committed)."""
    kept = None if counters is None else (counters, id(group))

    def work(tx: Transaction) -> GroupResult:
        outcomes: dict[int, Outcome] = {}
        rated = rejected = 0
        later: list[Callable[[Transaction], object]] = []
        for tenant_id in sorted({s.tenant_id for s in group}):  # locks taken in one order
            lock_tenant(tx, tenant_id)  # PostgreSQL: the writers of its counters take turns
            keys = [k for k, s in enumerate(group) if s.tenant_id == tenant_id]
            done, r, x = _commit_tenant(tx, tenant_id, group, keys, fx, catalog, cache, later, kept)
            outcomes.update(done)
            rated += r
            rejected += x
        for write in later:
            write_later(tx, write)
        return [outcomes.get(k) for k in range(len(group))], rated, rejected

    return work


def prepare_group(
    store: Store,
    group: list[Submission],
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache,
    counters: CountersCache | None = None,
) -> WorkedOut[GroupResult] | None:
    """The group worked out on a snapshot of ``store`` (no lock; nothing written), for
    :func:`commit_prepared` on the writer's connection. A group of more than
    :data:`PLAIN_ROWS_MAX` records reads its many subscribers' counters once and records a
    check of their log sequence numbers instead of their rows
    (:mod:`roamlike.service.large_groups`); None when the store's schema is not the one that
    check reads: the group is then committed under the lock directly (checking the counters
    of its many subscribers again there costs about what the overlap saves)."""
    if not _PLAIN_ROWS and sum(len(s.records) + (s.step is not None) for s in group) > (
        PLAIN_ROWS_MAX
    ):
        return None
    return work_out(store, _group_work(group, fx, catalog, cache, counters))


def commit_prepared(
    store: Store,
    turn: Callable[[], contextlib.AbstractContextManager[None]],
    group: list[Submission],
    worked: WorkedOut[GroupResult] | None,
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache,
    counters: CountersCache | None = None,
) -> tuple[list[Outcome], int, int, str]:
    """Commit the group under the writers' lock ``turn``: the writes ``worked`` out on a
    snapshot when its reads are unchanged, else the group's commit done there
    (:func:`roamlike.service.snapshot.commit_worked_out`).

    Returns the outcomes, the rated and rejected counts, and how the commit ended
    (:data:`roamlike.service.snapshot.Path`).
    """
    work = _group_work(group, fx, catalog, cache, counters)
    (outcomes, rated, rejected), path = commit_worked_out(store, turn, work, worked)
    return outcomes, rated, rejected, path


def group_statements(
    group: list[Submission],
    worked: WorkedOut[GroupResult] | None,
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache,
    counters: CountersCache | None = None,
) -> Callable[[Transaction], tuple[list[Outcome], int, int, str]]:
    """The group's statements in a write transaction the caller opens and commits
    (:mod:`roamlike.service.loop_commit`): the writes ``worked`` out on a snapshot when its
    reads are unchanged, else the group's commit done there
    (:func:`roamlike.service.snapshot.apply_worked_out`); what :func:`commit_prepared`
    returns."""
    work = _group_work(group, fx, catalog, cache, counters)

    def statements(tx: Transaction) -> tuple[list[Outcome], int, int, str]:
        (outcomes, rated, rejected), path = apply_worked_out(tx, work, worked)
        return outcomes, rated, rejected, path

    return statements


def commit_group_in_turn(
    store: Store,
    turn: Callable[[], contextlib.AbstractContextManager[None]],
    group: list[Submission],
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache | None = None,
    counters: CountersCache | None = None,
) -> tuple[list[Outcome], int, int, str]:
    """:func:`commit_group` worked out on a snapshot of the same connection, then committed
    taking the writers' lock ``turn`` only around its write transaction; ``counters``: the
    counters kept between groups (:mod:`roamlike.service.counters_cache`), given what the
    group wrote once it committed."""
    params = cache if cache is not None else {}
    worked = prepare_group(store, group, fx, catalog, params, counters)
    try:
        done = commit_prepared(store, turn, group, worked, fx, catalog, params, counters)
    except BaseException:
        if counters is not None:
            counters.discard(id(group))
        raise
    if counters is not None:
        counters.committed(id(group))
    return done

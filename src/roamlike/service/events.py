"""``POST /v1/events``: rate usage records with the stored counters and commit them durably.

One writer task per process gathers the events of concurrent requests for a few milliseconds,
then, on the store's thread and in ONE transaction (SQLite ``BEGIN IMMEDIATE`` with
``synchronous=FULL``; PostgreSQL), for each tenant of the group:

1. looks up the record ids already stored (a retry is answered with the first answer);
2. loads the counters of the group's subscribers;
3. rates the new records with :func:`roamlike.rating.rate_usage` — the batch engine — against
   the plan version in force at each record's time, carrying the counters;
4. stores each record's answer under (tenant, record_id), the counters after the run and the
   days' presence and consumption — in the state store's own tables (``roamlike.state``),
   under the tenant, exactly as ``roamlike rate --state`` keeps them;

and commits once, before any request of the group is answered. Durable group commit: nothing
is acknowledged that is not on disk, and a record is applied at most once.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

import msgspec
import polars as pl

from roamlike.counters import Counters
from roamlike.law import Catalog
from roamlike.service.group_rating import ParameterCache, rate_group
from roamlike.service.metrics import Metrics
from roamlike.service.runtime import StoreRunner
from roamlike.service.schemas import EventRecord
from roamlike.service.tenants import PlanVersion, now_utc
from roamlike.state import Store, Transaction
from roamlike.state.counters import load_counters, save_counters
from roamlike.state.days import save_days
from roamlike.tariffs import FxTable

_CHUNK = 500


@dataclasses.dataclass
class Submission:
    """The records of one request, waiting for the group commit."""

    tenant_id: str
    versions: list[PlanVersion]
    records: list[EventRecord]
    future: asyncio.Future[dict[str, Any]]
    fx: FxTable | None = None  # the tenant's own rates (PUT /v1/fx); None: the server's


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
    at = _utc(started_at)
    if at is None:
        return len(versions) - 1
    chosen = -1
    for i, version in enumerate(versions):
        if version.valid_from <= at:
            chosen = i
    return chosen


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


def _rate_tenant(
    tx: Transaction,
    tenant_id: str,
    versions: list[PlanVersion],
    records: list[EventRecord],
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache,
) -> tuple[dict[int, bytes], int, int]:
    """Rate and store ``records`` (new to the store, in arrival order); answers by position.

    Returns (answer JSON by position, rated count, rejected count).
    """
    by_version: dict[int, list[int]] = {}
    for i, rec in enumerate(records):
        by_version.setdefault(_version_of(versions, rec.started_at), []).append(i)
    subscribers = pl.Series(
        [(r.subscriber_id or "").strip() for r in records], dtype=pl.String
    ).unique()
    counters = load_counters(tx, subscribers, tenant_id)
    touched: Counters | None = None
    answers: dict[int, bytes] = {}
    rated = rejected = 0
    repeats: set[int] = set()
    rows: list[tuple[Any, ...]] = []
    received = now_utc()
    for index in sorted(by_version):
        positions = by_version[index]
        plans = versions[index].plans if index >= 0 else {}
        part = [records[p] for p in positions]
        result = rate_group(part, plans, fx, catalog, counters, cache)
        counters = counters.merge(result.counters)
        touched = result.counters if touched is None else touched.merge(result.counters)
        if result.rated:
            # presence and consumption per day, for the permanent-roaming control
            save_days(tx, result.days(tenant_id))
        for k, answer in enumerate(result.answers(part)):
            answers[positions[k]] = answer
        rated += len(result.rated)
        rejected += len(result.rejects)
        repeats.update(
            positions[int(r["row_number"])]
            for r in result.rejects
            if r["reason_code"] == "DUPLICATE_RECORD_ID"
        )
        for p in positions:
            if p in repeats:
                continue  # a repeat inside the request: the first occurrence is stored
            rows.append(
                (
                    tenant_id,
                    records[p].record_id,
                    records[p].subscriber_id or "",
                    received,
                    answers[p].decode("utf-8"),
                )
            )
    if touched is not None:
        save_counters(tx, touched, tenant_id)
    tx.executemany(
        "INSERT INTO service_events (tenant_id, record_id, subscriber_id, received_at, "
        "answer_json) VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    return answers, rated, rejected


def commit_group(
    store: Store,
    group: list[Submission],
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache | None = None,
) -> tuple[list[list[bytes]], int, int]:
    """Rate and commit a group of submissions in one transaction (module docstring).

    Returns the answers of each submission's records (JSON, in order) and the rated and
    rejected counts.
    """
    answers: list[list[bytes | None]] = [[None] * len(s.records) for s in group]
    rated = rejected = 0
    with store.transaction() as tx:
        for tenant_id in dict.fromkeys(s.tenant_id for s in group):
            subs = [(k, s) for k, s in enumerate(group) if s.tenant_id == tenant_id]
            stored = _answers_stored(
                tx, tenant_id, [r.record_id for _, s in subs for r in s.records]
            )
            first_of: dict[str, tuple[int, int]] = {}
            new: list[EventRecord] = []
            where: list[tuple[int, int]] = []
            for k, sub in subs:
                for j, rec in enumerate(sub.records):
                    if rec.record_id in stored:
                        answers[k][j] = stored[rec.record_id]
                    elif rec.record_id in first_of and first_of[rec.record_id][0] != k:
                        continue  # a retry in the same group: answered with the first below
                    else:
                        first_of.setdefault(rec.record_id, (k, j))
                        new.append(rec)
                        where.append((k, j))
            if new:
                tenant_fx = subs[0][1].fx or fx
                by_pos, r, x = _rate_tenant(
                    tx, tenant_id, subs[0][1].versions, new, tenant_fx, catalog, cache or {}
                )
                rated += r
                rejected += x
                for pos, (k, j) in enumerate(where):
                    answers[k][j] = by_pos[pos]
            for k, sub in subs:
                for j, rec in enumerate(sub.records):
                    if answers[k][j] is None:
                        fk, fj = first_of[rec.record_id]
                        answers[k][j] = answers[fk][fj]
    return [[a for a in per if a is not None] for per in answers], rated, rejected


def response_document(answers: list[bytes]) -> bytes:
    """``{"rated": [...], "rejects": [...], "notifications": [...]}`` from record answers."""
    rated: list[bytes] = []
    rejects: list[bytes] = []
    notes: list[bytes] = []
    for raw in answers:
        doc = msgspec.json.decode(raw, type=dict[str, msgspec.Raw])
        if "rated" in doc:
            rated.append(bytes(doc["rated"]))
        else:
            rejects.append(bytes(doc["reject"]))
        listed = msgspec.json.decode(doc["notifications"], type=list[msgspec.Raw])
        notes.extend(bytes(n) for n in listed)
    return (
        b'{"rated":['
        + b",".join(rated)
        + b'],"rejects":['
        + b",".join(rejects)
        + b'],"notifications":['
        + b",".join(notes)
        + b"]}"
    )


class EventWriter:
    """The one writer task of a process: gathers submissions, commits them as a group.

    Parameters
    ----------
    runner : StoreRunner
    fx : FxTable
    catalog : Catalog
    metrics : Metrics
    gather_s : float
        How long the writer waits for more submissions after the first [s].
    """

    def __init__(
        self,
        runner: StoreRunner,
        fx: FxTable,
        catalog: Catalog,
        metrics: Metrics,
        gather_s: float = 0.002,
    ) -> None:
        self.runner = runner
        self.fx = fx
        self.catalog = catalog
        self.metrics = metrics
        self.gather_s = gather_s
        self._queue: list[Submission] = []
        self._parameters: ParameterCache = {}
        self._task: asyncio.Task[None] | None = None

    async def submit(
        self,
        tenant_id: str,
        versions: list[PlanVersion],
        records: list[EventRecord],
        fx: FxTable | None = None,
    ) -> bytes:
        """Rate and commit ``records``; return the response body once they are durable."""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._queue.append(Submission(tenant_id, versions, records, future, fx))
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._drain())
        result = await future
        body = result["body"]
        assert isinstance(body, bytes)
        return body

    async def _drain(self) -> None:
        while self._queue:
            await asyncio.sleep(self.gather_s)
            group, self._queue = self._queue, []
            try:
                answers, rated, rejected = await self.runner.run(
                    commit_group, group, self.fx, self.catalog, self._parameters
                )
            except Exception as exc:  # every request of the group gets the error (a 5xx)
                for sub in group:
                    if not sub.future.done():
                        sub.future.set_exception(exc)
                continue
            self.metrics.add("commits")
            self.metrics.add("events_rated", rated)
            self.metrics.add("events_rejected", rejected)
            for sub, per in zip(group, answers, strict=True):
                if not sub.future.done():
                    sub.future.set_result({"body": response_document(per)})

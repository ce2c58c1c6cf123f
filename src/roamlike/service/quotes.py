"""Quotes: the price of one hypothetical event, computed by the rating engine itself.

A quote is one usage record rated like a commit group of events
(:func:`roamlike.service.group_rating.rate_group`: the reference rater for small groups without
rejects, the batch engine otherwise, the same answer either way), so its figures equal a batch
run's to the micro-unit. Two things make it fast without a second formula:

* a memo of engine answers keyed by every input a quote depends on (the plan's exact text,
  event, countries, quantities, time, offset, the fair-use flag): a repeated question is
  answered from memory;
* concurrent misses are gathered for about a millisecond and rated in one call (one row per
  quote, each under its own subscriber and plan id so no counter is shared), in a worker
  thread so the event loop keeps answering.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any

import msgspec

from roamlike.counters import Counters
from roamlike.law import Catalog, value_at
from roamlike.rating import RATED_COLUMNS
from roamlike.reference import CounterStates
from roamlike.service.group_rating import ParameterCache, rate_group
from roamlike.service.http import encode_json
from roamlike.service.problems import encode_problem
from roamlike.service.schemas import EventRecord
from roamlike.tariffs import FxTable, Plan

#: The rated columns a quote answers with, in the engine's order (docs/rating.md §8).
QUOTE_COLUMNS: tuple[str, ...] = tuple(
    c for c in RATED_COLUMNS if c not in ("row_number", "parameters")
)


@dataclasses.dataclass(frozen=True)
class QuoteInput:
    """One quote's event: the canonical usage columns of a single record (no ids)."""

    event_type: str
    started_at: str
    utc_offset_min: int
    home_country: str
    visited_country: str
    destination_country: str | None
    duration_s: int | None
    volume_bytes: int | None
    count: int | None
    is_beyond_fair_use: bool


@dataclasses.dataclass(frozen=True)
class QuoteAnswer:
    """The engine's answer: a rated row (``row``) or a reject (``reason_code``, ``message``)."""

    row: dict[str, Any] | None
    notifications: list[dict[str, Any]]
    reason_code: str | None = None
    message: str | None = None


def rate_quotes(
    items: list[tuple[QuoteInput, Plan]],
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache | None = None,
    *,
    subscriber_id: str | None = None,
    counters: Counters | None = None,
) -> list[QuoteAnswer]:
    """Rate each quote as one record of one engine call.

    Every quote gets its own subscriber (``q<i>``) and its plan a private id (``p<j>`` per
    distinct plan object), so quotes never share a counter or a plan. With ``subscriber_id`` and
    ``counters`` (one quote): the quote is rated as that subscriber's next event on the real plan
    id, continuing the stored counters (nothing is stored).

    Parameters
    ----------
    items : list of (QuoteInput, Plan)
    fx : FxTable
    catalog : Catalog
    cache : dict, optional
        Parameter lists kept between calls (``group_rating.ParameterCache``).

    Returns
    -------
    list of QuoteAnswer
        In the order of ``items``.
    """
    plan_ids: dict[int, str] = {}
    plans: dict[str, Plan] = {}
    rows: list[dict[str, Any]] = []
    for i, (q, plan) in enumerate(items):
        pid = plan_ids.get(id(plan))
        if pid is None:
            pid = plan.id if subscriber_id is not None else f"p{len(plan_ids)}"
            plan_ids[id(plan)] = pid
            plans[pid] = dataclasses.replace(plan, id=pid)
        rows.append(
            {
                "record_id": f"q{i}",
                "subscriber_id": subscriber_id if subscriber_id is not None else f"q{i}",
                "plan_id": pid,
                **dataclasses.asdict(q),
            }
        )
    records = [msgspec.convert(row, EventRecord) for row in rows]
    result = rate_group(records, plans, fx, catalog, counters or CounterStates(), cache)
    answers: dict[str, QuoteAnswer] = {}
    notes: dict[str, list[dict[str, Any]]] = {}
    for note in result.notifications:
        notes.setdefault(str(note["record_id"]), []).append(
            {
                "kind": note["kind"],
                "threshold_micros": note["threshold_micros"],
                "currency": note["currency"],
                "basis": note["basis"],
            }
        )
    for row in result.rated:
        rid = str(row["record_id"])
        answers[rid] = QuoteAnswer(row=row, notifications=notes.get(rid, []))
    for row in result.rejects:
        rid = f"q{row['row_number']}"
        answers[rid] = QuoteAnswer(
            row=None, notifications=[], reason_code=row["reason_code"], message=row["message"]
        )
    return [answers[f"q{i}"] for i in range(len(items))]


def quote_document(answer: QuoteAnswer, catalog: Catalog) -> dict[str, Any]:
    """The JSON of a rated quote: components, regime, kind, and each parameter with its basis.

    Parameters
    ----------
    answer : QuoteAnswer
        A rated answer (``row`` not None).
    catalog : Catalog
        Where the parameter ids of the row are looked up on the row's local date.
    """
    row = answer.row
    assert row is not None
    out: dict[str, Any] = {name: row[name] for name in QUOTE_COLUMNS}
    on: dt.date = row["local_date"]
    parameters = []
    for pid in filter(None, str(row.get("parameters") or "").split(";")):
        pv = value_at(pid, on, catalog)
        parameters.append(
            {
                "id": pid,
                "value": pv.value,
                "unit": pv.unit,
                "basis": {"instrument": pv.basis.instrument, "article": pv.basis.article},
                "grade": pv.grade,
            }
        )
    out["parameters"] = parameters
    out["notifications"] = answer.notifications
    return out


class Quoter:
    """Answers quotes from a bounded memo, rating misses in gathered engine calls.

    The memo holds the final HTTP answer (status and encoded body), so a repeated question
    costs one dictionary look-up.

    Parameters
    ----------
    fx : FxTable
    catalog : Catalog
        Where the parameters of an answer are looked up (basis, grade).
    memo_size : int
        Answers kept (least recently used dropped first).
    gather_s : float
        How long a miss waits for others before the engine call [s].
    """

    def __init__(
        self, fx: FxTable, catalog: Catalog, memo_size: int = 65_536, gather_s: float = 0.001
    ) -> None:
        self.fx = fx
        self.catalog = catalog
        self.memo_size = memo_size
        self.gather_s = gather_s
        self._memo: OrderedDict[Hashable, tuple[int, bytes]] = OrderedDict()
        self._bodies: OrderedDict[bytes, tuple[int, bytes]] = OrderedDict()
        self._pending: list[tuple[QuoteInput, Plan, asyncio.Future[QuoteAnswer]]] = []
        self._flush: asyncio.Task[None] | None = None
        self._cache: ParameterCache = {}

    def set_fx(self, fx: FxTable) -> None:
        """Use new exchange rates (the memo is emptied)."""
        self.fx = fx
        self._memo.clear()
        self._bodies.clear()
        self._cache = {}

    def by_body(self, body: bytes) -> tuple[int, bytes] | None:
        """The answer kept under a request body's exact bytes (:meth:`keep_body`), or None."""
        hit = self._bodies.get(body)
        if hit is not None:
            self._bodies.move_to_end(body)
        return hit

    def keep_body(self, body: bytes, answer: tuple[int, bytes]) -> None:
        """Keep the answer of a body that is the whole question (an inline plan, no subscriber,
        the server's exchange rates); at most ``memo_size // 8`` bodies."""
        self._bodies[body] = answer
        if len(self._bodies) > self.memo_size // 8:
            self._bodies.popitem(last=False)

    def _render(self, answer: QuoteAnswer) -> tuple[int, bytes]:
        if answer.row is None:
            return 422, encode_problem(
                422,
                f"the event cannot be rated: {answer.message}",
                "quote-rejected",
                reason_code=answer.reason_code,
            )
        return 200, encode_json(quote_document(answer, self.catalog))

    def render(self, answer: QuoteAnswer) -> tuple[int, bytes]:
        """(status, JSON body) of an answer computed outside the memo."""
        return self._render(answer)

    async def quote(self, q: QuoteInput, plan: Plan, plan_key: Hashable) -> tuple[int, bytes]:
        """(status, JSON body) for ``q`` on ``plan``; ``plan_key`` identifies the plan's text.

        Status 200 with :func:`quote_document`, or 422 with a problem carrying the engine's
        ``reason_code`` when the engine rejects the event.
        """
        key = (plan_key, q)
        hit = self._memo.get(key)
        if hit is not None:
            self._memo.move_to_end(key)
            return hit
        future: asyncio.Future[QuoteAnswer] = asyncio.get_running_loop().create_future()
        self._pending.append((q, plan, future))
        if self._flush is None or self._flush.done():
            self._flush = asyncio.create_task(self._rate_pending())
        rendered = self._render(await future)
        self._memo[key] = rendered
        if len(self._memo) > self.memo_size:
            self._memo.popitem(last=False)
        return rendered

    async def _rate_pending(self) -> None:
        await asyncio.sleep(self.gather_s)
        batch, self._pending = self._pending, []
        if batch:
            try:
                answers = await asyncio.to_thread(
                    rate_quotes, [(q, p) for q, p, _ in batch], self.fx, self.catalog, self._cache
                )
            except Exception as exc:  # handed to every waiting request, answered as a 500
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for (_, _, future), answer in zip(batch, answers, strict=True):
                    if not future.done():
                        future.set_result(answer)
        if self._pending:
            self._flush = asyncio.create_task(self._rate_pending())

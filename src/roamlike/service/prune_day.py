"""Records from before the day a tenant's store was pruned: rejected, never rated.

``roamlike state prune --before DAY`` drops presence days and closed periods before ``DAY``
and records ``DAY`` (``state_pruned``, :func:`roamlike.state.control.pruned_before`). A record
whose local day is before it would be rated against counters that are gone, so its charge
could differ from the one it had before the prune. ``roamlike rate --state`` refuses such a
run whole (``roamlike.state.hooks.batch_keys_checked``). The service answers each such record
with a reject of its own, :data:`REASON_CODE`, and rates the rest of the group as if it had
not been sent.

The check comes after every check of the rating contract (``docs/rating.md`` §7): a record
that is rejected for any other reason keeps that reason, and only a record that would
otherwise be rated is rejected :data:`REASON_CODE`. So when a group holds such records
(:func:`early_positions`), the whole group is first rated as it came, on its loaded
counters, and that rating is thrown away except for what it says of them
(:func:`held_answers`): which of them it rates, and the answers of the later repeats of their
record ids (rejects: a repeat is never rated). Those are the records held out of the group's
real rating. The others get there the answers they would get beside any reject, because a
reject never depends on counters, and no other record's id is theirs.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

import msgspec
import polars as pl

from roamlike.service.answers import is_rated
from roamlike.service.schemas import EventRecord
from roamlike.state import Transaction
from roamlike.state.control import pruned_before
from roamlike.state.counters import local_dates

#: The reason code of a record whose local day is before the day the store was pruned before.
REASON_CODE = "BEFORE_PRUNE_DAY"

#: A record whose ``started_at`` text begins with a date this many days after the prune day
#: or later has a local day on or after it: the text's own offset (at most 23:59) and
#: ``utc_offset_min`` (at least -720) move the day back by at most two. Such records need no
#: parsing.
_MARGIN = dt.timedelta(days=3)

_encoder = msgspec.json.Encoder()


class Timed(Protocol):
    """What the local day of an event is made of (a usage record, a quote's event)."""

    @property
    def started_at(self) -> str | None: ...

    @property
    def utc_offset_min(self) -> int | None: ...


def early_positions(records: Sequence[Timed], pruned: dt.date) -> dict[int, dt.date]:
    """The local day (``started_at`` plus ``utc_offset_min``, as ``roamlike rate --state``
    computes it) of each record whose day is before ``pruned``, by position; a record whose
    time or offset does not parse is not among them (its reject is the rating's)."""
    sure = (pruned + _MARGIN).isoformat()
    maybe = [
        i
        for i, rec in enumerate(records)
        if rec.started_at is not None and rec.started_at.strip()[:10] < sure
    ]
    if not maybe:
        return {}
    frame = pl.DataFrame(
        {
            "started_at": pl.Series([records[i].started_at for i in maybe], dtype=pl.String),
            "utc_offset_min": pl.Series([records[i].utc_offset_min for i in maybe], dtype=pl.Int64),
        }
    )
    days = frame.select(local_dates(frame).alias("d")).get_column("d").to_list()
    return {i: day for i, day in zip(maybe, days, strict=True) if day is not None and day < pruned}


def event_before(tx: Transaction, tenant: str, event: Timed) -> str | None:
    """The reject's message when ``event``'s local day is before the day the tenant's store
    was pruned before (one read of the store), else None. The callers check it after every
    other reason, as :func:`held_answers` does for a group."""
    pruned = pruned_before(tx, tenant)
    early = early_positions([event], pruned) if pruned is not None else {}
    return message(early[0], pruned) if pruned is not None and early else None


def message(day: dt.date, pruned: dt.date) -> str:
    """The reject's message for an event of local ``day``."""
    return (
        f"local day {day.isoformat()} is before {pruned.isoformat()}, the day the store was "
        "pruned before: the counters this event would be rated with are gone "
        "(`roamlike state prune`)"
    )


def reject_answer(record: EventRecord, day: dt.date, pruned: dt.date) -> bytes:
    """The stored answer of a record of local ``day`` held out (the rejects' own shape)."""
    reject = {
        "record_id": record.record_id,
        "reason_code": REASON_CODE,
        "message": message(day, pruned),
    }
    return _encoder.encode({"reject": reject, "notifications": []})


def held_answers(
    records: Sequence[EventRecord],
    early: Mapping[int, dt.date],
    pruned: dt.date,
    rate_all: Callable[[], list[bytes]],
) -> dict[int, bytes]:
    """The answers of the records held out of a group's rating, by position.

    Parameters
    ----------
    records : sequence of EventRecord
        The group's new records, in order.
    early : mapping of int to datetime.date
        :func:`early_positions` of ``records`` (not empty).
    pruned : datetime.date
        The day the tenant's store was pruned before.
    rate_all : callable
        Rates every record of the group on its loaded counters, as the group would be rated
        without this check, and gives each record's answer by position; nothing it computes
        is stored.

    Returns
    -------
    dict of int to bytes
        The records of ``early`` the rating rated (each rejected :data:`REASON_CODE`) and
        every later record holding one of their ids (the answer that rating gave it).
    """
    answers = rate_all()
    held: dict[int, bytes] = {}
    ids: dict[str, int] = {}
    for i, day in early.items():
        if is_rated(answers[i]):
            held[i] = reject_answer(records[i], day, pruned)
            ids.setdefault(records[i].record_id, i)
    if ids:
        for i, rec in enumerate(records):
            first = ids.get(rec.record_id)
            if first is not None and i > first:
                held[i] = answers[i]
    return held

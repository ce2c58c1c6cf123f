"""The ``state_days`` rows of a small group's rated records, without a Polars query.

:func:`roamlike.state.days.days_of_rated` defines the rows (presence and consumption per
subscriber and local day, for the permanent-roaming control); its lazy group-by costs about a
millisecond of planning per call, more than the aggregation of a commit group of a few records.
:func:`day_rows` computes the same rows in plain Python for the groups the reference rater rates
(``roamlike.service.group_rating``); ``tests/service/test_group_rating.py`` requires them equal
to ``days_of_rated``'s on random groups.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from operator import itemgetter
from typing import Any

import polars as pl

from roamlike.state.days import DAY_COUNTERS

_VOICE = ("voice_mo", "voice_mt")
_SMS = ("sms_mo", "sms_mt")
#: The columns of ``days_of_rated``'s frame, in its order.
SCHEMA: dict[str, pl.DataType] = {
    "tenant": pl.String(),
    "subscriber_id": pl.String(),
    "day": pl.String(),
    "home_country": pl.String(),
    **{c: pl.Int64() for c in DAY_COUNTERS[:4]},
    "rlah_regime": pl.String(),
    **{c: pl.Int64() for c in DAY_COUNTERS[4:]},
}

#: The columns after (tenant, subscriber_id, day), in the frame's order.
_VALUE_COLUMNS = tuple(SCHEMA)[3:]
#: Where a day's events of each side start among those columns (then its data, voice, SMS).
_HOME_AT = _VALUE_COLUMNS.index("home_events")
_RLAH_AT = _VALUE_COLUMNS.index("rlah_events")
_SIDE_AT = {"domestic": _HOME_AT, "rlah": _RLAH_AT}
_REGIME_AT = _VALUE_COLUMNS.index("rlah_regime")
_COUNTRY_AT = _VALUE_COLUMNS.index("home_country")
#: What a day's row reads of each rated record (its columns), in this order.
DAY_FACTS = (
    "subscriber_id", "local_date", "home_country", "rule_kind", "event_type", "volume_bytes",
    "duration_s", "count", "regime",
)  # fmt: skip
_ROW_FACTS = itemgetter(*DAY_FACTS)
#: A day before its first record: no regime yet (``""``), every counter 0.
_NEW_DAY: list[Any] = [
    None if c == "home_country" else "" if c == "rlah_regime" else 0 for c in _VALUE_COLUMNS
]
assert _VALUE_COLUMNS[_HOME_AT : _HOME_AT + 4] == DAY_COUNTERS[:4]
assert _VALUE_COLUMNS[_RLAH_AT : _RLAH_AT + 4] == DAY_COUNTERS[4:]


def day_rows(rated: Sequence[dict[str, Any]], tenant: str) -> pl.DataFrame:
    """:func:`day_tuples` as ``days_of_rated``'s frame."""
    rows = day_tuples(rated, tenant)
    return pl.DataFrame(rows, schema=SCHEMA, orient="row") if rows else pl.DataFrame(schema=SCHEMA)


def day_tuples(rated: Sequence[dict[str, Any]], tenant: str) -> list[tuple[Any, ...]]:
    """Rated rows (the engine's columns, in read order) aggregated per (subscriber, local day).

    A day's *home* columns sum the records rated ``domestic``, its *rlah* columns those rated
    ``rlah`` (with the last such record's regime, ``""`` when none): data in bytes [B], voice in
    seconds [s], SMS in messages (a missing ``count`` is 1); ``home_country`` is the last
    record's. One tuple per day, in the columns of :data:`SCHEMA`, sorted by subscriber and day.
    """
    return day_tuples_of(map(_ROW_FACTS, rated), tenant)


def day_side(kind: str) -> int | None:
    """Where the day's events of a record of rule kind ``kind`` are counted among the columns
    after (tenant, subscriber_id, day) (its *home* or *rlah* columns), or None (neither)."""
    return _SIDE_AT.get(kind)


def day_amount(
    event: str, volume: int | None, duration: int | None, count: int | None
) -> tuple[int, int]:
    """What a record of ``event`` adds to its side's columns: the offset of its column after
    the side's events (1 data [B], 2 voice [s], 3 SMS; 0 none) and the amount (a missing
    ``count`` is 1)."""
    if event == "data":
        return 1, volume or 0
    if event in _VOICE:
        return 2, duration or 0
    if event in _SMS:
        return 3, 1 if count is None else count
    return 0, 0


def day_tuples_of(facts: Iterable[Sequence[Any]], tenant: str) -> list[tuple[Any, ...]]:
    """:func:`day_tuples` of each rated record's values of :data:`DAY_FACTS`, in read order."""
    return summed_days(
        (
            (sub, on, home, _SIDE_AT.get(kind), *day_amount(event, volume, duration, count), regime)
            for sub, on, home, kind, event, volume, duration, count, regime in facts
        ),
        tenant,
    )


#: What :func:`summed_days` reads of a rated record: its subscriber, local date, home country,
#: side (:func:`day_side`), column offset and amount (:func:`day_amount`) and regime.
DayPart = tuple[str, dt.date, Any, int | None, int, int, Any]


def summed_days(parts: Iterable[DayPart], tenant: str) -> list[tuple[Any, ...]]:
    """The day rows (:data:`SCHEMA`'s columns, sorted by subscriber and day) of the rated
    records' :data:`DayPart`, in read order."""
    # a day's values as a list in the columns after (tenant, subscriber_id, day), added to by
    # position: a dict of the columns' names and their names made per record cost twice as much
    days: dict[tuple[str, dt.date], list[Any]] = {}
    for sub, on, home, at, offset, amount, regime in parts:
        key = (sub, on)
        day = days.get(key)
        if day is None:
            day = days[key] = _NEW_DAY.copy()
        day[_COUNTRY_AT] = home
        if at is None:
            continue
        day[at] += 1
        if offset:
            day[at + offset] += amount
        if at == _RLAH_AT:
            day[_REGIME_AT] = regime
    # dates sort as their ISO texts (a four-digit year, zero-padded), so by the date itself;
    # a group's few dates written once each
    texts: dict[dt.date, str] = {}
    out: list[tuple[Any, ...]] = []
    for (sub, on), values in sorted(days.items()):
        text = texts.get(on)
        if text is None:
            text = texts[on] = on.isoformat()
        out.append((tenant, sub, text, *values))
    return out

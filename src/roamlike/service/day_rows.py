"""The ``state_days`` rows of a small group's rated records, without a Polars query.

:func:`roamlike.state.days.days_of_rated` defines the rows (presence and consumption per
subscriber and local day, for the permanent-roaming control); its lazy group-by costs about a
millisecond of planning per call, more than the aggregation of a commit group of a few records.
:func:`day_rows` computes the same rows in plain Python for the groups the reference rater rates
(``roamlike.service.group_rating``); ``tests/service/test_group_rating.py`` requires them equal
to ``days_of_rated``'s on random groups.
"""

from __future__ import annotations

from collections.abc import Sequence
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
    days: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rated:
        key = (row["subscriber_id"], row["local_date"].isoformat())
        day = days.get(key)
        if day is None:
            day = dict.fromkeys(DAY_COUNTERS, 0)
            day["rlah_regime"] = ""
            days[key] = day
        day["home_country"] = row["home_country"]
        kind = row["rule_kind"]
        side = "home" if kind == "domestic" else "rlah" if kind == "rlah" else None
        if side is None:
            continue
        event = row["event_type"]
        day[f"{side}_events"] += 1
        if event == "data":
            day[f"{side}_data_bytes"] += row["volume_bytes"] or 0
        elif event in _VOICE:
            day[f"{side}_voice_s"] += row["duration_s"] or 0
        elif event in _SMS:
            day[f"{side}_sms"] += 1 if row["count"] is None else row["count"]
        if side == "rlah":
            day["rlah_regime"] = row["regime"]
    return [
        (tenant, sub, on, *(values[c] for c in _VALUE_COLUMNS))
        for (sub, on), values in sorted(days.items())
    ]

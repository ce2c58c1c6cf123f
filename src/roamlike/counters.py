"""Counters carried between rating runs: the state of docs/rating.md §9, as plain tables.

A run that continues an earlier one (a daily file after yesterday's) starts its allowance pools,
fair-use counter, bill-shock spend and notification flags where the earlier run left them, and
needs each subscriber's last visited country (welcome rule) and last rated event (late records).
:class:`Counters` holds exactly that, as two Polars frames of integer, text, date, timestamp and
boolean columns, so a store (SQLite, PostgreSQL) persists them as they are. The engine
(``roamlike.rating.rate_usage``) and the reference rater (``roamlike.reference.rate_records``)
both take and return it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import polars as pl

#: One row per (subscriber, plan, billing period): the counters of docs/rating.md §5.1-§5.6.
PERIOD_SCHEMA: Final[dict[str, pl.DataType]] = {
    "subscriber_id": pl.String(),  # normalised: surrounding blanks stripped
    "plan_id": pl.String(),  # normalised likewise
    "period_start": pl.Date(),  # billing_period_start of rating.md §2
    "voice_used_s": pl.Int64(),  # seconds drawn on the voice pool (in and out of bundle)
    "sms_used": pl.Int64(),  # messages drawn on the SMS pool
    "data_used_bytes": pl.Int64(),  # billed bytes drawn on the data pool
    "fup_used_bytes": pl.Int64(),  # rlah data billed bytes (the fair-use counter)
    "billshock_spend_micros": pl.Int64(),  # running sum of rating.md §5.6 (before the cut)
    "has_billshock_80": pl.Boolean(),  # notifications already sent in the period
    "has_billshock_100": pl.Boolean(),  # (100 % is also the cut-off: spend >= limit)
    "has_billshock_extra": pl.Boolean(),
    "has_fup_exhausted": pl.Boolean(),
}
#: One row per subscriber: what the welcome rule and the late-record rule need.
SUBSCRIBER_SCHEMA: Final[dict[str, pl.DataType]] = {
    "subscriber_id": pl.String(),
    "last_visited_country": pl.String(),  # visited country of the last record rated
    "last_started_at": pl.Datetime("us", "UTC"),  # the latest rated event: started_at ...
    "last_record_id": pl.String(),  # ... and record_id (event order of rating.md §2)
}
#: Largest value a counter holds: counters saturate here instead of overflowing Int64.
COUNTER_MAX: Final = 2**62


#: Frames of at most this many rows are checked for duplicate keys in Python: a Polars query
#: costs ~0.1 ms of planning, more than the check of a few rows (a service's commit group).
_SMALL_FRAME = 64


def _has_duplicates(frame: pl.DataFrame, keys: list[str]) -> bool:
    """True when two rows of ``frame`` have the same ``keys`` (nulls equal, as Polars has it).

    Counters usually come sorted by their keys (the engine sorts them, a store reads them in
    key order): in such a frame equal keys are neighbours, so each row is compared with the one
    before it instead of hashing every row (62,587 periods: about 2.8 instead of 5 ms CPU, a
    subscriber per row 1 instead of 4, measured). Other frames are hashed.
    """
    if frame.height <= _SMALL_FRAME:
        rows = list(zip(*(frame.get_column(k).to_list() for k in keys), strict=True))
        return len(set(rows)) < len(rows)
    ordered, repeated = _neighbours(frame, keys)
    if ordered:
        return repeated
    return bool(frame.select(keys).is_duplicated().any())


def _neighbours(frame: pl.DataFrame, keys: list[str]) -> tuple[bool, bool]:
    """Whether the rows of ``frame`` (at least two) are in ascending order of ``keys`` (equal
    neighbours allowed, no null key), and whether two neighbours have equal ``keys``.

    Without nulls, rows in ascending order hold equal keys only side by side: the second
    answer is then whether any key repeats. A null key gives ``(False, False)``.
    """
    after: pl.Expr = pl.lit(False)
    same: pl.Expr = pl.lit(True)
    for name in keys:
        key, before = pl.col(name), pl.col(name).shift(1)
        after = after | (same & (key > before))
        same = same & (key == before)
    nulls = pl.sum_horizontal(*(pl.col(name).null_count() for name in keys))
    ordered, repeated, missing = frame.select(
        (after | same).slice(1).all().alias("ordered"),
        same.slice(1).any().alias("repeated"),
        nulls.alias("nulls"),
    ).row(0)
    if missing:
        return False, False
    return bool(ordered), bool(repeated)


_NO_PERIODS = pl.DataFrame(schema=PERIOD_SCHEMA)
_NO_SUBSCRIBERS = pl.DataFrame(schema=SUBSCRIBER_SCHEMA)


@dataclass(frozen=True)
class Counters:
    """Counters carried from one rating run to the next (docs/rating.md §9).

    Attributes
    ----------
    periods : polars.DataFrame
        Columns :data:`PERIOD_SCHEMA`, one row per (``subscriber_id``, ``plan_id``,
        ``period_start``): ``voice_used_s`` [s], ``sms_used`` [messages], ``data_used_bytes``
        [billed bytes] drawn on the domestic pools; ``fup_used_bytes`` [billed bytes] of rlah
        data; ``billshock_spend_micros`` [10^-6 of the plan currency], the running sum of
        bill-shock charges before the cut; ``has_billshock_80``, ``has_billshock_100``,
        ``has_billshock_extra``, ``has_fup_exhausted``: notifications already sent.
    subscribers : polars.DataFrame
        Columns :data:`SUBSCRIBER_SCHEMA`, one row per ``subscriber_id``:
        ``last_visited_country`` (ISO alpha-2), ``last_started_at`` (UTC) and
        ``last_record_id``, the latest rated event in event order.

    Notes
    -----
    Counters saturate at :data:`COUNTER_MAX` (2^62), far above any bound of a legal limit or
    allowance, so integer arithmetic never wraps.
    """

    periods: pl.DataFrame
    subscribers: pl.DataFrame

    def __post_init__(self) -> None:
        for name, frame, schema in (
            ("periods", self.periods, PERIOD_SCHEMA),
            ("subscribers", self.subscribers, SUBSCRIBER_SCHEMA),
        ):
            found = dict(frame.schema)
            if found != schema:
                raise ValueError(
                    f"Counters.{name}: expected columns {schema}, found {found}; "
                    "build it with Counters.empty() or cast to these types"
                )
            keys = [c for c in schema if c in ("subscriber_id", "plan_id", "period_start")]
            if frame.height > 1 and _has_duplicates(frame, keys):
                raise ValueError(f"Counters.{name}: more than one row for the same {keys}")

    @classmethod
    def empty(cls) -> Counters:
        """No history: every counter starts at zero (what a run without counters does)."""
        # new empty frames cut from templates: building one from the schema costs ~0.1 ms
        return cls(periods=_NO_PERIODS.clear(), subscribers=_NO_SUBSCRIBERS.clear())

    def merge(self, newer: Counters) -> Counters:
        """These counters updated with ``newer`` (rows of ``newer`` replace rows with its keys).

        This is what a store does after a run: ``store = store.merge(result.counters)``.
        """
        periods = (
            pl.concat([self.periods, newer.periods])
            .unique(["subscriber_id", "plan_id", "period_start"], keep="last", maintain_order=True)
            .sort("subscriber_id", "plan_id", "period_start")
        )
        subscribers = (
            pl.concat([self.subscribers, newer.subscribers])
            .unique(["subscriber_id"], keep="last", maintain_order=True)
            .sort("subscriber_id")
        )
        return Counters(periods=periods, subscribers=subscribers)

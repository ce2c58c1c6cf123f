"""Counters of earlier runs for the reference rater (docs/rating.md §9), as plain dicts.

The reference reads :class:`roamlike.counters.Counters` (a data container shared with the
engine, not a formula) into one :class:`PeriodState` per (subscriber, plan, period) and one
:class:`SubscriberState` per subscriber, and writes them back after the run.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import msgspec
import polars as pl

from roamlike.counters import PERIOD_SCHEMA, SUBSCRIBER_SCHEMA, Counters

#: Notification kinds and the counters' flag columns that say they were sent.
FLAG_OF_KIND = {
    "billshock_80": "has_billshock_80",
    "billshock_100": "has_billshock_100",
    "billshock_extra": "has_billshock_extra",
    "fup_exhausted": "has_fup_exhausted",
}
_POOL_COLUMN = {"voice": "voice_used_s", "sms": "sms_used", "data": "data_used_bytes"}
_LIMIT = 2**62  # counters saturate here (roamlike.counters.COUNTER_MAX)


def saturated(value: int) -> int:
    """A counter value, held at 2^62 at most (docs/rating.md §9)."""
    return min(value, _LIMIT)


def _new_pool() -> dict[str, int]:
    return {"voice": 0, "sms": 0, "data": 0}


class PeriodState(msgspec.Struct, array_like=True, gc=False):
    """Counters of one (subscriber, plan, billing period), updated in event order.

    A msgspec struct (fields by position when encoded): the service's commit groups build,
    copy, encode and decode tens of thousands of these per second, which a dataclass's
    Python ``__init__`` and a per-field conversion made cost 3-4 times as much
    (``roamlike.service.written_states``). Not tracked by the garbage collector: its values
    are integers, texts and a dict and a set of them, which never lead back to it.
    """

    pool_used: dict[str, int] = msgspec.field(default_factory=_new_pool)
    fup_used_bytes: int = 0
    billshock_cum_micros: int = 0
    notified: set[str] = msgspec.field(default_factory=set)

    def copy(self) -> PeriodState:
        """A copy sharing nothing mutable with this state."""
        return PeriodState(
            dict(self.pool_used), self.fup_used_bytes, self.billshock_cum_micros, set(self.notified)
        )


class SubscriberState(msgspec.Struct, array_like=True, gc=False):
    """What the welcome and late-record rules remember of a subscriber (a msgspec struct, as
    :class:`PeriodState`)."""

    last_visited: str | None = None
    last_event: tuple[dt.datetime, str] | None = None  # (started_at UTC, record_id)


PeriodKey = tuple[str, str, dt.date]


def read_counters(
    counters: Counters | None,
) -> tuple[dict[PeriodKey, PeriodState], dict[str, SubscriberState]]:
    """The states of the counters (empty without counters)."""
    periods: dict[PeriodKey, PeriodState] = {}
    subscribers: dict[str, SubscriberState] = {}
    if counters is None:
        return periods, subscribers
    for row in counters.periods.iter_rows(named=True):
        state = PeriodState(
            pool_used={pool: row[column] for pool, column in _POOL_COLUMN.items()},
            fup_used_bytes=row["fup_used_bytes"],
            billshock_cum_micros=row["billshock_spend_micros"],
            notified={kind for kind, column in FLAG_OF_KIND.items() if row[column]},
        )
        periods[(row["subscriber_id"], row["plan_id"], row["period_start"])] = state
    for row in counters.subscribers.iter_rows(named=True):
        last = None
        if row["last_started_at"] is not None:
            last = (row["last_started_at"].astimezone(dt.UTC), row["last_record_id"])
        subscribers[row["subscriber_id"]] = SubscriberState(row["last_visited_country"], last)
    return periods, subscribers


def write_counters(
    periods: dict[PeriodKey, PeriodState], subscribers: dict[str, SubscriberState]
) -> Counters:
    """Counters of the given states (those the run touched)."""
    period_rows = [
        {
            "subscriber_id": sub,
            "plan_id": plan,
            "period_start": start,
            **{column: state.pool_used[pool] for pool, column in _POOL_COLUMN.items()},
            "fup_used_bytes": state.fup_used_bytes,
            "billshock_spend_micros": state.billshock_cum_micros,
            **{column: kind in state.notified for kind, column in FLAG_OF_KIND.items()},
        }
        for (sub, plan, start), state in sorted(periods.items())
    ]
    subscriber_rows = [
        {
            "subscriber_id": sub,
            "last_visited_country": state.last_visited,
            "last_started_at": None if state.last_event is None else state.last_event[0],
            "last_record_id": None if state.last_event is None else state.last_event[1],
        }
        for sub, state in sorted(subscribers.items())
    ]
    return Counters(
        periods=pl.DataFrame(period_rows, schema=PERIOD_SCHEMA, orient="row"),
        subscribers=pl.DataFrame(subscriber_rows, schema=SUBSCRIBER_SCHEMA, orient="row"),
    )


@dataclass
class CounterStates:
    """The counters of :class:`roamlike.counters.Counters` as plain Python states, no frames.

    A run of a few records (a service's commit group) spends more on building and reading the
    Polars frames of its counters than on rating; these states carry the same values between
    runs of :func:`roamlike.reference.rate_records_with_states`.

    Attributes
    ----------
    periods : dict
        One :class:`PeriodState` per (subscriber, plan, billing period start).
    subscribers : dict
        One :class:`SubscriberState` per subscriber.
    """

    periods: dict[PeriodKey, PeriodState] = field(default_factory=dict)
    subscribers: dict[str, SubscriberState] = field(default_factory=dict)

    @classmethod
    def from_counters(cls, counters: Counters | None) -> CounterStates:
        """The states of ``counters`` (none: no history)."""
        periods, subscribers = read_counters(counters)
        return cls(periods, subscribers)

    def to_counters(self) -> Counters:
        """These states as :class:`~roamlike.counters.Counters` (rows sorted by key)."""
        return write_counters(self.periods, self.subscribers)

    def copy(self) -> CounterStates:
        """An independent copy (a run updates its states in place)."""
        return CounterStates(
            {key: state.copy() for key, state in self.periods.items()},
            {
                sid: SubscriberState(state.last_visited, state.last_event)
                for sid, state in self.subscribers.items()
            },
        )

    def merge(self, newer: CounterStates) -> CounterStates:
        """These states updated with ``newer``'s (its keys replace these), as
        :meth:`roamlike.counters.Counters.merge`; the result shares no state with either."""
        merged = self.copy()
        fresh = newer.copy()
        merged.periods.update(fresh.periods)
        merged.subscribers.update(fresh.subscribers)
        return merged

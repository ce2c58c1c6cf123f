"""Rate one commit group: small groups by the reference rater, larger ones by the batch engine.

The batch engine (:func:`roamlike.rating.rate_usage`) has a fixed cost of ~10-15 ms per call,
whatever the number of records: the price table, the Polars plan, the compiled pass. A commit
group of the service is often one to a few dozen records, for which that fixed cost is the whole
cost. The reference rater (:func:`roamlike.reference.rate_records`) rates records one at a time
with no such cost and is property-tested to equal the engine on every rated value, reject code,
notification and counter (``tests/rating/test_engine_vs_reference.py``, ``test_counters.py``).

So a group of at most :data:`SMALL_GROUP_MAX` records is rated by the reference rater
(:func:`roamlike.reference.rate_records_with_states`: its counters as plain states, read from
and written to the store as plain rows, never as Polars frames, and each record's pricing taken
from :data:`PRICES`, kept per segment across groups), and its rows are written in the engine's
vocabulary so that an answer does not depend on the path:

* the canonical input columns as the engine normalises them (``started_at`` as a UTC instant,
  ``is_beyond_fair_use`` false when absent);
* ``parameters``: the engine's list for the record's price segment (its own
  :func:`roamlike.rating.prices.segment_rows`, which the reference rater does not use);
* the ``basis`` of each notification: the engine's text for its kind.

A group whose records all fall in memoised price segments and pass every check is rated first
by :func:`roamlike.service.fast_rater.rate_memoised` (the same rows, in integers per record;
path ``"memoised"``, no fixed cost and about a third of the reference rater's cost a record),
which sends anything outside its scope back to the reference rater. It rates groups of up to
:data:`MEMOISED_GROUP_MAX` records, so a large group (e.g. 16 requests of 100 records) is rated
by it too when every record is in its scope; such a group it cannot rate goes to the engine.

Records whose text fields carry surrounding blanks or lower-case country codes (which the two
raters normalise each in their own code), and groups with any reject (whose messages the two
raters word differently), go to the engine; so does any group larger than the thresholds. A
test rates random small groups both ways and requires byte-identical answers
(``tests/service/test_group_rating.py``).

The thresholds were measured (``benchmarks/bench_service.py --crossover``): see
``docs/service.md``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import msgspec
import polars as pl

from roamlike.counters import Counters
from roamlike.errors import RoamlikeError
from roamlike.law import Catalog
from roamlike.rating import RATED_COLUMNS, rate_usage
from roamlike.rating.notifications import BASIS as ENGINE_NOTIFICATION_BASIS
from roamlike.rating.prices import segment_rows
from roamlike.reference import CounterStates, PriceMemo, rate_records_with_states
from roamlike.service.answers import notes_by_record
from roamlike.service.day_rows import day_rows, day_tuples
from roamlike.service.fast_rater import RatedRows, is_clean, rate_memoised
from roamlike.service.frame_answers import FrameRows, engine_answers
from roamlike.service.schemas import EventRecord
from roamlike.state.days import days_of_rated
from roamlike.tariffs import FxTable, Plan

#: Largest group rated by the reference rater [records]; larger groups go to the engine. The
#: crossover (a group's rating, answers, day rows and counters, stored counters of its
#: subscribers) is about 800 records with the reference rater's prices kept (``PRICES``).
SMALL_GROUP_MAX = 600
#: Largest group rated by the memoised integer rater (:func:`roamlike.service.fast_rater.
#: rate_memoised`) [records]: about 11-12 us a record with its answers, day and counter rows up
#: to 4,800 records, against the engine's ~50-60 ms per call and ~10 us a record
#: (``bench_service.py --crossover``, round 18: 36 against 87 ms at 3,200 records, 59 against
#: 99 at 4,800, 102 against 115 at 6,400); 2,000 until round 17, when a group's states were
#: read from the store (the counters cache takes most of them now), and two workers behind 32
#: to 64 connections formed groups of 2,000-3,200 records that fell to the engine
#: (``docs/service.md``).
MEMOISED_GROUP_MAX = 4_800

_INT_COLUMNS = ("utc_offset_min", "duration_s", "volume_bytes", "count")
#: The records' columns as the engine reads them.
RECORD_SCHEMA: dict[str, pl.DataType] = {
    name: (
        pl.Int64()
        if name in _INT_COLUMNS
        else pl.Boolean()
        if name == "is_beyond_fair_use"
        else pl.String()
    )
    for name in EventRecord.__struct_fields__
}
#: The columns of a rated row that come from the rater (after the canonical input columns).
_OUTPUT_COLUMNS = tuple(c for c in RATED_COLUMNS if c != "row_number")
#: Parameters by (plan, visited country, local date, event type): segment_rows is pure Decimal
#: work on the law, the same for every record of a segment.
_DAY_SCHEMA: dict[str, pl.DataType] = {
    "subscriber_id": pl.String(),
    "home_country": pl.String(),
    "event_type": pl.String(),
    "local_date": pl.Date(),
    "rule_kind": pl.String(),
    "regime": pl.String(),
    "volume_bytes": pl.Int64(),
    "duration_s": pl.Int64(),
    "count": pl.Int64(),
}
_VAT_STEP = Decimal("0.000001")
_encoder = msgspec.json.Encoder(decimal_format="string")
ParameterCache = dict[tuple[int, str, dt.date, str, int], str]
_CACHE_MAX = 65_536
#: The reference rater's pricing by segment, kept between groups for the whole process: keyed
#: by the identity of the plan (a plans version's object), exchange rates and catalog, each
#: held by the memo (:class:`roamlike.reference.PriceMemo`).
PRICES = PriceMemo()
#: The counters a group is rated with: frames, or the reference rater's plain states (a small
#: group's, read from the store as plain rows).
Carried = Counters | CounterStates


def as_counters(counters: Carried) -> Counters:
    """``counters`` as frames (converted when they are plain states)."""
    return counters if isinstance(counters, Counters) else counters.to_counters()


def as_states(counters: Carried) -> CounterStates:
    """``counters`` as the reference rater's plain states (converted when they are frames)."""
    return (
        counters if isinstance(counters, CounterStates) else CounterStates.from_counters(counters)
    )


@dataclass(frozen=True)
class GroupRating:
    """What a group's rating produced, in the engine's shapes.

    Attributes
    ----------
    rated : list of dict
        Rated rows as ``rate_usage(...).rated.to_dicts()`` gives them (``row_number`` = the
        record's position in the group).
    rejects : list of dict
        ``row_number``, ``reason_code`` and ``message`` of each rejected record.
    notifications : list of dict
        The engine's notification rows.
    after : Counters or CounterStates
        The counters after the group, of the subscribers and periods it touched (frames from
        the engine, plain states from the reference rater; :attr:`counters` and
        :attr:`states` give either form).
    path : str
        ``"memoised"`` (:func:`roamlike.service.fast_rater.rate_memoised`), ``"reference"``
        or ``"engine"``: which rater rated the group (the same rows either way).
    """

    rated: Sequence[dict[str, Any]]
    rejects: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    after: Carried  # the counters after the group, as the rater gave them
    path: str
    frame: pl.DataFrame | None = None  # the engine's rated frame (engine path)

    @property
    def counters(self) -> Counters:
        """The counters after the group, of the subscribers and periods it touched."""
        return as_counters(self.after)

    @property
    def states(self) -> CounterStates:
        """:attr:`counters` as the reference rater's plain states."""
        return as_states(self.after)

    def days(self, tenant: str) -> pl.DataFrame:
        """The ``state_days`` rows of the rated records (presence and consumption per day)."""
        if self.path != "engine":
            return day_rows(self.rated, tenant)
        if self.frame is not None:
            return days_of_rated(self.frame, tenant)
        frame = pl.DataFrame(
            [{c: row[c] for c in _DAY_SCHEMA} for row in self.rated], schema=_DAY_SCHEMA
        )
        return days_of_rated(frame, tenant)

    def day_tuples(self, tenant: str) -> list[tuple[Any, ...]]:
        """:meth:`days` as tuples (``roamlike.service.day_rows.SCHEMA``'s columns)."""
        if isinstance(self.rated, RatedRows):
            return self.rated.day_tuples(tenant)
        if self.path != "engine":
            return day_tuples(self.rated, tenant)
        return self.days(tenant).rows()

    def answers(self, records: list[EventRecord]) -> list[bytes]:
        """Each record's answer (JSON), by position: ``{"rated": row, "notifications": [...]}``
        or ``{"reject": {record_id, reason_code, message}, "notifications": []}``."""
        if self.frame is not None:  # the engine's rows, encoded as columns
            return engine_answers(
                self.frame, self.rejects, self.notifications, [r.record_id for r in records]
            )
        if isinstance(self.rated, RatedRows):  # the memoised rater's rows, as structs
            return self.rated.answers(self.notifications)
        notes = notes_by_record(self.notifications)
        out: list[bytes] = [b""] * len(records)
        for row in self.rated:
            doc = dict(row)
            pos = int(doc.pop("row_number"))
            out[pos] = _encoder.encode(
                {"rated": doc, "notifications": notes.get(str(doc["record_id"]), [])}
            )
        for row in self.rejects:
            pos = int(row["row_number"])
            reject = {
                "record_id": records[pos].record_id,
                "reason_code": row["reason_code"],
                "message": row["message"],
            }
            out[pos] = _encoder.encode({"reject": reject, "notifications": []})
        return out


def records_frame(records: list[EventRecord]) -> pl.DataFrame:
    """The records as the engine's input frame (:data:`RECORD_SCHEMA`, the records' order):
    each record's fields as one tuple, the tuples turned into columns (no Python attribute
    access per value)."""
    columns = list(zip(*map(msgspec.structs.astuple, records), strict=True))
    if not columns:
        return pl.DataFrame(schema=RECORD_SCHEMA)
    return pl.DataFrame(
        {
            name: pl.Series(name, values, dtype=RECORD_SCHEMA[name])
            for name, values in zip(RECORD_SCHEMA, columns, strict=True)
        }
    )


def _utc(text: str) -> dt.datetime:
    stamp = dt.datetime.fromisoformat(text)
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=dt.UTC)
    return stamp.astimezone(dt.UTC)


def _parameters(
    plan: Plan,
    visited: str,
    on: dt.date,
    event: str,
    fx: FxTable,
    catalog: Catalog,
    cache: ParameterCache,
) -> str:
    key = (id(plan), visited, on, event, id(fx))
    found = cache.get(key)
    if found is None:
        # built aside, then added: the cache is shared by the writer's and preparer's threads
        segment = {
            (id(plan), visited, on, str(row["event_type"]), id(fx)): str(
                row.get("parameters") or ""
            )
            for row in segment_rows(plan, visited, on, fx, catalog)
        }
        if len(cache) > _CACHE_MAX:
            cache.clear()
        cache.update(segment)
        found = segment[key]
    return found


def _by_reference(
    records: list[EventRecord],
    plans: Mapping[str, Plan],
    fx: FxTable,
    catalog: Catalog,
    counters: Carried,
    cache: ParameterCache,
) -> GroupRating | None:
    """The group rated by the reference rater, or None when the engine must rate it."""
    rows = [msgspec.structs.asdict(r) for r in records]
    states = as_states(counters)
    result = rate_records_with_states(rows, plans, fx, catalog=catalog, states=states, memo=PRICES)
    if result.rejects:
        return None  # the engine words reject messages its own way
    rated: list[dict[str, Any]] = []
    try:
        for raw in result.rated:
            row: dict[str, Any] = dict(rows[raw["row_number"]])
            row["started_at"] = _utc(raw["started_at"])
            if row["is_beyond_fair_use"] is None:
                row["is_beyond_fair_use"] = False
            row["row_number"] = raw["row_number"]
            for name in _OUTPUT_COLUMNS:
                row[name] = raw[name]
            row["vat_rate"] = Decimal(raw["vat_rate"]).quantize(_VAT_STEP)  # Decimal(18, 6)
            row["parameters"] = _parameters(
                plans[row["plan_id"]],
                row["visited_country"],
                raw["local_date"],
                row["event_type"],
                fx,
                catalog,
                cache,
            )
            rated.append(row)
    except (RoamlikeError, ValueError, KeyError):
        return None  # the engine raises or answers as it always did
    notes = [{**n, "basis": ENGINE_NOTIFICATION_BASIS[n["kind"]]} for n in result.notifications]
    return GroupRating(rated, [], notes, result.states, "reference")


def rate_group(
    records: list[EventRecord],
    plans: Mapping[str, Plan],
    fx: FxTable,
    catalog: Catalog,
    counters: Carried,
    cache: ParameterCache | None = None,
    *,
    small_group_max: int = SMALL_GROUP_MAX,
    memoised_group_max: int = MEMOISED_GROUP_MAX,
) -> GroupRating:
    """Rate ``records`` (in arrival order) continuing ``counters``, by the cheaper exact path.

    Parameters
    ----------
    records : list of EventRecord
        The group's new records.
    plans : mapping of str to Plan
    fx : FxTable
    catalog : Catalog
    counters : Counters or CounterStates
        The stored counters of the group's subscribers (not modified).
    cache : dict, optional
        Parameter lists kept between groups (see :data:`ParameterCache`).
    small_group_max : int
        Largest group rated by the reference rater [records]; 0: always the engine (no
        per-record rater at all).
    memoised_group_max : int
        Largest group rated by the memoised rater [records] (when ``small_group_max`` > 0
        and ``counters`` are plain states; frames: ``small_group_max``); a group it cannot
        rate goes to the reference rater when small enough, else the engine.

    Returns
    -------
    GroupRating
        The same rows, rejects, notifications and counters whichever rater was used.
    """
    size = len(records)
    per_record = max(small_group_max, memoised_group_max) if small_group_max > 0 else 0
    if not isinstance(counters, CounterStates):
        # counters read as frames (PostgreSQL's large groups): converting many subscribers'
        # to states and back costs what the memoised rater saves
        per_record = min(per_record, small_group_max)
    if 0 < size <= per_record:
        # the memoised rater looks at the records' text itself (is_clean's checks, where it
        # reads each field); the reference rater is given clean groups only
        memoised = rate_memoised(records, plans, fx, catalog, as_states(counters))
        if memoised is not None:
            rated, notes, states = memoised
            return GroupRating(rated, [], notes, states, "memoised")
        if size <= small_group_max and all(is_clean(r) for r in records):
            fast = _by_reference(
                records, plans, fx, catalog, counters, {} if cache is None else cache
            )
            if fast is not None:
                return fast
    frame = records_frame(records)
    result = rate_usage(frame, plans, fx, catalog=catalog, counters=as_counters(counters))
    return GroupRating(
        FrameRows(result.rated),
        result.rejects.select("row_number", "reason_code", "message").to_dicts(),
        result.notifications.to_dicts(),
        result.counters,
        "engine",
        result.rated,
    )

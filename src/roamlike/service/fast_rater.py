"""Rate a small group whose records all fall in memoised price segments, in integers.

A commit group of the service is a few records, again and again of the same plans, event
types, countries and days. The reference rater (:func:`roamlike.reference.rate_records_with_
states`) validates each record field by field on a dict, prices it (kept per segment by
:class:`roamlike.reference.PriceMemo`), computes each charge and the VAT in ``Decimal`` under a
local context, builds each rated row twice (its own, then the service's in the engine's
vocabulary): about 70 µs a record, the largest single part of a group's preparation
(``docs/service-speed.md``, "Round 12", "Round 13").

:func:`rate_memoised` rates such a group with what each segment needs precomputed once — the
reference rater's pricing (its ``_price``), the VAT rate as whole millionths, the bill-shock
alert percentage as an integer ratio and its threshold, the engine's ``parameters`` text of the
segment and the rated row's segment columns — and per record only integer arithmetic:
``round_half_even(units x rate_nanos / (1000 x divisor))`` and ``round_half_even(charge x
vat_millionths / 10^6)`` by ``divmod``, which equal the reference's exact ``Decimal`` quotients
rounded half-even (a quotient of integers whose denominator divides ``60 x 10^9`` is never
within ``10^-20`` of a half without being one). Its validation reads the typed record
(:class:`~roamlike.service.schemas.EventRecord`, already a msgspec ``Struct``) and only decides
whether every record passes every check of ``docs/rating.md`` §7 the way the reference rater
would pass it; anything else — a missing field, a bound crossed, an unknown plan or country, a
repeated id, a segment the reference rater rejects, a VAT rate of more than 6 decimals, text
the two raters would normalise each their own way (:func:`is_clean`) — returns None, and the
caller (:func:`roamlike.service.group_rating.rate_group`) rates the group as
before (the reference rater, then the engine), which words the reject or raises.

The rated rows are kept as msgspec structs (:class:`RatedRows`): a record's answer is encoded
from its struct, byte for byte what msgspec makes of the row's dict, and the dicts are made only
when the rows are read as such.

The walk in event order (allowances, fair use, bill-shock cut-off and alerts, welcome
messages, late records) is the reference rater's (``rating.md`` §5, §9), step for step, on the
same plain states (:class:`roamlike.reference.CounterStates`). Its rows and notifications are
those :func:`roamlike.service.group_rating.rate_group` writes in the engine's vocabulary.
``tests/service/test_fast_rater.py`` requires byte-identical answers, counters and days' rows
to the reference path and to the engine on random groups (Hypothesis), and
``tests/service/test_group_rating.py`` compares whatever path ``rate_group`` takes with the
engine.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator, Mapping, Sequence
from decimal import Decimal
from operator import attrgetter
from typing import Any, cast, overload

import msgspec

from roamlike.columns import ID_FORBIDDEN
from roamlike.law import Catalog
from roamlike.rating import RATED_COLUMNS
from roamlike.rating.notifications import BASIS as ENGINE_NOTIFICATION_BASIS
from roamlike.rating.prices import segment_rows
from roamlike.reference import CounterStates
from roamlike.reference.formulas import micros
from roamlike.reference.history import PeriodKey, PeriodState, SubscriberState
from roamlike.reference.price_memo import MISSING, SegmentEntries
from roamlike.reference.rater import (
    _QUANTITY,
    _TIMESTAMP_RE,
    _UTC_OFFSET_RANGE,
    _billed_units,
    _Parsed,
    _price,
    _Priced,
)
from roamlike.service.answers import notes_by_record
from roamlike.service.day_rows import DAY_FACTS, day_amount, day_side, day_tuples_of, summed_days
from roamlike.service.schemas import EventRecord
from roamlike.tariffs import FxTable, Plan

_LIMIT = 2**62  # counters saturate here (roamlike.counters.COUNTER_MAX)
_VAT_STEP = Decimal("0.000001")
_DOMESTIC = "domestic"
_RLAH = "rlah"
_SURCHARGE_CAP = "surcharge_cap"
_SURCHARGED_BEYOND = ("voice_mo", "voice_mt", "sms_mo")
_LOW, _HIGH = _UTC_OFFSET_RANGE
_DAY = dt.timedelta(days=1)
_MINUTES_A_DAY = 24 * 60
_BILLED_KEPT = 4_096  # quantities whose billed units a segment keeps
#: The reference rater's pattern of a record's time, matched by every line of a group's times
#: joined by newlines (which the pattern itself never matches): one call for the group.
_TIMESTAMP_LINES = re.compile(
    rf"(?:{_TIMESTAMP_RE.pattern})(?:\n(?:{_TIMESTAMP_RE.pattern}))*", _TIMESTAMP_RE.flags
)
_INPUT_COLUMNS: tuple[str, ...] = EventRecord.__struct_fields__
_TEXT_COLUMNS = ("record_id", "subscriber_id", "plan_id", "event_type")
_COUNTRY_COLUMNS = ("home_country", "visited_country")
#: A rated row's columns after ``row_number``, in the engine's order.
_AFTER_NUMBER = tuple(RATED_COLUMNS[1:])
assert RATED_COLUMNS[0] == "row_number"
assert _INPUT_COLUMNS == (
    "record_id", "subscriber_id", "plan_id", "event_type", "started_at", "utc_offset_min",
    "home_country", "visited_country", "destination_country", "duration_s", "volume_bytes",
    "count", "is_beyond_fair_use",
)  # fmt: skip  # the order _rated_row gives them in
#: A rated row without its ``row_number``: the record's canonical input columns, then
#: ``RATED_COLUMNS`` after it. msgspec encodes it as it encodes the row's dict (its fields in
#: this order), at a fraction of the cost of building and encoding a dict of 34 items.
RatedRow = msgspec.defstruct(
    "RatedRow", [(c, Any) for c in (*_INPUT_COLUMNS, *_AFTER_NUMBER)], module=__name__
)
_encoder = msgspec.json.Encoder(decimal_format="string")


class _Answer(msgspec.Struct):
    """A rated record's stored answer (:mod:`roamlike.service.answers`)."""

    rated: Any
    notifications: list[dict[str, Any]]


class RatedRows(Sequence[dict[str, Any]]):
    """The rated rows of :func:`rate_memoised`, one :data:`RatedRow` per record in the group's
    order; read as the engine's row dicts (``row_number`` = position), made when read: a
    group's rows are mostly encoded as answers (:meth:`answers`) and summed into day rows
    (:meth:`day_tuples`), for which no dict is built."""

    __slots__ = ("records", "rows")

    def __init__(self, rows: list[Any], records: list[_Record] | None = None) -> None:
        self.rows = rows
        self.records = records  # the rated records (their day rows summed from them)

    def __len__(self) -> int:
        return len(self.rows)

    @staticmethod
    def _dict(number: int, row: Any) -> dict[str, Any]:
        values = msgspec.structs.astuple(row)
        split = len(_INPUT_COLUMNS)
        return dict(
            zip(
                (*_INPUT_COLUMNS, *RATED_COLUMNS),
                (*values[:split], number, *values[split:]),
                strict=True,
            )
        )

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        if isinstance(index, slice):
            numbers = range(len(self.rows))[index]
            return [self._dict(n, self.rows[n]) for n in numbers]
        return self._dict(range(len(self.rows))[index], self.rows[index])

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return (self._dict(n, row) for n, row in enumerate(self.rows))

    def answers(self, notifications: Sequence[dict[str, Any]]) -> list[bytes]:
        """Each record's answer, ``{"rated": row, "notifications": [...]}`` (its own, in
        ``notifications``' order), by position: the bytes msgspec makes of the row's dict."""
        notes = notes_by_record(notifications)
        encode = _encoder.encode
        if not notes:
            return [encode(_Answer(row, [])) for row in self.rows]
        return [encode(_Answer(row, notes.get(row.record_id, []))) for row in self.rows]

    def day_tuples(self, tenant: str) -> list[tuple[Any, ...]]:
        """:func:`roamlike.service.day_rows.day_tuples` of these rows."""
        if self.records is None:
            return day_tuples_of(map(_DAY_FACTS, self.rows), tenant)
        # what a record adds to its day is its segment's but for its subscriber and quantity
        # (the row's volume, duration or count: a missing count is 1, as its quantity)
        return summed_days(
            ((r.subscriber_id, *r.seg.day_head, r.quantity, r.seg.regime) for r in self.records),
            tenant,
        )


_DAY_FACTS = attrgetter(*DAY_FACTS)


def _half_even(numerator: int, denominator: int) -> int:
    """``numerator / denominator`` (``denominator`` > 0) rounded half-even to an integer.

    >>> [_half_even(n, 2) for n in (-3, -1, 1, 3, 5)]
    [-2, 0, 0, 2, 2]
    """
    q, r = divmod(numerator, denominator)
    twice = 2 * r
    if twice > denominator or (twice == denominator and q & 1):
        return q + 1
    return q


def _local_date(stamp: dt.datetime, offset: int) -> dt.date:
    """``(stamp + offset minutes).date()`` without a ``timedelta`` per record: a whole number
    of minutes (at most a day) crosses midnight by the minute of the day alone.

    Raises
    ------
    OverflowError
        The local date is beyond the calendar (as the sum's).

    >>> _local_date(dt.datetime(2026, 1, 1, 23, 30, 59), 30)
    datetime.date(2026, 1, 2)
    """
    day = stamp.date()
    minute = stamp.hour * 60 + stamp.minute + offset
    if minute < 0:
        return day - _DAY
    if minute >= _MINUTES_A_DAY:
        return day + _DAY
    return day


class _Segment:
    """A price segment's pricing (the reference rater's ``_Priced`` of its first record) and
    what every record of it shares, precomputed."""

    __slots__ = (
        "alert_den",
        "alert_num",
        "billed_of",
        "currency",
        "day_head",
        "divisor",
        "domestic",
        "extra",
        "fup_allowance",
        "head",
        "is_open_bundle",
        "kind",
        "limit",
        "parameters",
        "plan",
        "pool",
        "pool_allowance",
        "priced",
        "regime",
        "roaming",
        "surcharge",
        "threshold_80",
        "total_max",
        "vat_millionths",
        "vat_rate",
    )

    def __init__(self, priced: _Priced, parameters: str) -> None:
        plan = priced.parsed.plan
        rules = priced.rules
        self.priced = priced
        self.plan = plan
        self.kind = rules.kind
        self.pool = priced.pool
        self.pool_allowance = priced.pool_allowance
        self.domestic = priced.domestic_rate_nanos
        self.surcharge = priced.surcharge_rate_nanos
        self.total_max = priced.total_max_rate_nanos
        self.roaming = priced.roaming_rate_nanos
        self.divisor = priced.divisor
        fair_use = priced.fair_use
        self.is_open_bundle = fair_use is not None and fair_use.is_open_data_bundle
        self.fup_allowance = priced.fup_allowance_bytes
        self.limit = priced.billshock_limit_micros
        self.extra = priced.billshock_extra_micros
        self.alert_num = self.alert_den = 0
        self.threshold_80 = 0
        if self.limit is not None:
            pct = priced.billshock_alert_pct
            assert pct is not None
            self.alert_num, self.alert_den = pct.as_integer_ratio()
            self.threshold_80 = micros(Decimal(self.limit) * pct / 100 / 1_000_000)
        self.vat_millionths = int(priced.vat_rate.scaleb(6))
        # the rated row's columns every record of the segment shares (RatedRow's)
        self.head = (priced.local_date, priced.period_start, rules.regime, rules.kind)
        self.currency = plan.currency
        self.vat_rate = Decimal(priced.vat_rate).quantize(_VAT_STEP)  # Decimal(18, 6)
        self.parameters = parameters
        # what a record adds to its day row (roamlike.service.day_rows.DayPart) but for its
        # subscriber, quantity and regime
        self.regime = rules.regime
        self.day_head = (
            priced.local_date,
            plan.home_country,
            day_side(rules.kind),
            day_amount(priced.parsed.event_type, 0, 0, 0)[0],
        )
        #: :func:`roamlike.reference.rater._billed_units` by quantity (the rest of what it
        #: reads is the segment's: event type, plan, rule kind, minimum billed seconds)
        self.billed_of: dict[int, tuple[int, int, int, str]] = {}

    def billed(self, quantity: int) -> tuple[int, int, int, str]:
        """The charge units, divisor, billed units and unit of a record of ``quantity``."""
        found = self.billed_of.get(quantity)
        if found is None:
            priced = self.priced
            found = _billed_units(
                cast(_Parsed, _Quantity(priced.parsed.event_type, quantity)),
                self.plan,
                self.kind,
                priced.initial_s,
            )
            if len(self.billed_of) >= _BILLED_KEPT:
                self.billed_of.clear()  # kept small: quantities of many sizes come and go
            self.billed_of[quantity] = found
        return found


class SegmentMemo(SegmentEntries[_Segment | None]):
    """The segments priced so far (None: outside :func:`rate_memoised`'s scope), kept as
    :class:`roamlike.reference.price_memo.SegmentEntries` says."""

    def segment(
        self, parsed: _Parsed, local_date: dt.date, fx: FxTable, catalog: Catalog
    ) -> _Segment | None:
        """The segment of ``parsed`` (priced at its first record); None when the reference
        rater rejects its records or the segment is outside :func:`rate_memoised`'s scope."""
        plan = parsed.plan
        key = self.key(parsed, local_date, fx, catalog)
        kept = self.kept(key, plan, fx, catalog)
        if kept is not MISSING:
            return cast("_Segment | None", kept)
        found: _Segment | None
        try:
            priced = _price(parsed, fx, catalog)
            vat = priced.vat_rate
            if vat.scaleb(6) != vat.scaleb(6).to_integral_value():
                found = None  # a plan defect the reference rater raises on (TariffError)
            else:
                found = _Segment(priced, _engine_parameters(plan, parsed, local_date, fx, catalog))
        except Exception:  # a reject, or an error: the reference rater's path says which
            found = None
        self.keep(key, plan, fx, catalog, found)
        return found


def _engine_parameters(
    plan: Plan, parsed: _Parsed, on: dt.date, fx: FxTable, catalog: Catalog
) -> str:
    """The engine's ``parameters`` text of the segment (its own
    :func:`roamlike.rating.prices.segment_rows`, which the reference rater does not use)."""
    for row in segment_rows(plan, parsed.visited, on, fx, catalog):
        if str(row["event_type"]) == parsed.event_type:
            return str(row.get("parameters") or "")
    raise KeyError(parsed.event_type)


#: The segments of the service's groups, kept for the whole process.
SEGMENTS = SegmentMemo()


class _Quantity:
    """What :func:`roamlike.reference.rater._billed_units` reads of a record."""

    __slots__ = ("event_type", "quantity")

    def __init__(self, event_type: str, quantity: int) -> None:
        self.event_type = event_type
        self.quantity = quantity


class _Record:
    """A record that passed every check, with its segment."""

    __slots__ = (
        "beyond",
        "billed",
        "divisor",
        "event",
        "late",
        "number",
        "plan_id",
        "quantity",
        "record_id",
        "seg",
        "started_at",
        "subscriber_id",
        "unit",
        "units",
        "visited",
    )

    def __init__(
        self, number: int, rec: EventRecord, started_at: dt.datetime, seg: _Segment, beyond: bool,
        quantity: int,
    ) -> None:  # fmt: skip
        self.number = number
        self.record_id = rec.record_id
        self.subscriber_id = cast(str, rec.subscriber_id)
        self.plan_id = seg.plan.id
        self.visited = cast(str, rec.visited_country)
        self.started_at = started_at
        self.seg = seg
        self.beyond = beyond
        self.quantity = quantity
        self.late = False
        self.event = cast(str, rec.event_type)
        self.units, self.divisor, self.billed, self.unit = seg.billed(quantity)


def is_clean(record: EventRecord) -> bool:
    """True when both raters read the record's text fields alike (no normalisation needed)."""
    for name in _TEXT_COLUMNS:
        value = getattr(record, name)
        if value is not None and value != value.strip():
            return False
    for name in _COUNTRY_COLUMNS:
        value = getattr(record, name)
        if value is not None and not (value.isascii() and value.isupper() and value.isalpha()):
            return False
    started = record.started_at
    return started is None or started == started.strip()


def _own_quantity(rec: EventRecord, event: str) -> int | None:
    """The quantity of ``rec`` (an event of type ``event``) when its ids and quantity pass every
    check of ``docs/rating.md`` §7, else None: the checks of the fields a record's shape leaves
    out (:meth:`NextEvent.of`)."""
    sid = rec.subscriber_id
    if not sid or ID_FORBIDDEN in sid or ID_FORBIDDEN in rec.record_id:
        return None
    column, bound = _QUANTITY[event]
    quantity = getattr(rec, column)
    if quantity is None:
        if column != "count":
            return None  # MISSING_FIELD
        quantity = 1
    return quantity if 0 <= quantity <= bound else None


def _times_match(records: list[EventRecord]) -> bool:
    """Whether every record's ``started_at`` is present and matches the reference rater's
    pattern (``_TIMESTAMP_RE``), in one match over the group's times joined by newlines:
    a time holding a newline itself makes the lines outnumber the records (False)."""
    times = [r.started_at for r in records]
    if None in times:
        return False
    text = "\n".join(cast(list[str], times))
    if text.count("\n") != len(times) - 1:
        return False
    return _TIMESTAMP_LINES.fullmatch(text) is not None


def _parsed(
    records: list[EventRecord],
    plans: Mapping[str, Plan],
    fx: FxTable,
    catalog: Catalog,
    memo: SegmentMemo,
) -> list[_Record] | None:
    """Each record with its segment, or None when any record is not certain to pass every check
    of ``docs/rating.md`` §7 (module docstring) or its text is not clean
    (:func:`is_clean`: the two raters would normalise it each
    their own way). The text is looked at where it is read: the time matched the canonical
    pattern and the event type is a known one (neither holds blanks), ids per record, the plan
    id and the country codes once per segment of the group."""
    if len({r.record_id for r in records}) != len(records):
        return None  # a repeated id: DUPLICATE_RECORD_ID
    if not _times_match(records):
        return None  # a missing time or one outside the reference rater's pattern
    countries = catalog.countries
    # the group's segments by the fields :meth:`SegmentMemo.key` reads of a record (the plan by
    # its id: one plans mapping, rates and catalog per call): a record of a segment seen in the
    # group builds no ``_Parsed`` and no memo key
    seen: dict[tuple[Any, ...], _Segment | None] = {}
    out: list[_Record] = []
    for number, rec in enumerate(records):
        event = rec.event_type
        started = rec.started_at
        offset = rec.utc_offset_min
        sid = rec.subscriber_id
        home = rec.home_country
        visited = rec.visited_country
        plan = plans.get(rec.plan_id or "")
        if (
            not event
            or not started
            or offset is None
            or not home
            or not visited
            or plan is None
            or event not in _QUANTITY
            or not _LOW <= offset <= _HIGH
            or home != plan.home_country
            or home not in countries
            or visited not in countries
        ):
            return None
        rid = rec.record_id
        if rid != rid.strip() or not sid or sid != sid.strip():
            return None  # not clean
        quantity = _own_quantity(rec, event)
        if quantity is None:
            return None
        try:
            stamp = dt.datetime.fromisoformat(started)
            zone = stamp.tzinfo
            if zone is None:
                stamp = stamp.replace(tzinfo=dt.UTC)
            elif zone is not dt.UTC:
                stamp = stamp.astimezone(dt.UTC)
            local_date = _local_date(stamp, offset)
        except (ValueError, OverflowError):
            return None
        beyond = bool(rec.is_beyond_fair_use)
        shape = (rec.plan_id, event, home, visited, local_date, beyond)
        found = seen.get(shape, MISSING)
        if found is not MISSING:
            seg = cast("_Segment | None", found)
        else:
            if not is_clean(rec):
                return None  # its plan id or a country code (the rest is looked at above)
            parsed = object.__new__(_Parsed)
            parsed.__dict__.update(
                row_number=number, row={}, record_id=rec.record_id, subscriber_id=sid,
                plan=plan, event_type=event, started_at=stamp, utc_offset_min=offset, home=home,
                visited=visited, quantity=quantity, is_beyond_fair_use=beyond,
            )  # fmt: skip
            seg = seen[shape] = memo.segment(parsed, local_date, fx, catalog)
        if seg is None:
            return None
        out.append(_Record(number, rec, stamp, seg, beyond, quantity))
    return out


#: What :func:`_rate_one` gives of a record.
_Charged = tuple[int, int, int, int, int, int, int | None, int | None, bool, bool]


def _note(r: _Record, kind: str, threshold: int | None) -> dict[str, Any]:
    """A notification row as the service writes it (the engine's ``basis``)."""
    return {
        "subscriber_id": r.subscriber_id,
        "plan_id": r.plan_id,
        "billing_period_start": r.seg.priced.period_start,
        "record_id": r.record_id,
        "started_at": r.started_at,
        "kind": kind,
        "threshold_micros": threshold,
        "currency": r.seg.plan.currency,
        "basis": ENGINE_NOTIFICATION_BASIS[kind],
    }


def _rate_one(r: _Record, state: PeriodState, notes: list[dict[str, Any]]) -> _Charged:
    """The charges of one record given its period's counters, which it updates (the reference
    rater's ``_rate_one``, ``rating.md`` §5-§6, in integers): in-bundle units, domestic,
    surcharge, roaming, total and VAT [micros], fair-use allowance and use [bytes], over the
    fair use, blocked by the cut-off."""
    seg = r.seg
    kind = seg.kind
    units = r.units
    den = 1000 * r.divisor
    in_bundle = domestic = 0
    if seg.domestic is not None:  # §5.1
        oob = units
        pool = seg.pool
        if pool is not None:
            used = state.pool_used[pool]
            allowance = seg.pool_allowance
            in_bundle = units if allowance is None else min(max(allowance - used, 0), units)
            state.pool_used[pool] = min(used + units, _LIMIT)
            oob = units - in_bundle
        domestic = _half_even(oob * seg.domestic, den)
    surcharge = surcharged = 0
    fup_used: int | None = None
    is_over_fup = False
    if kind == _RLAH:  # §5.2, §5.3
        event = r.event
        if event == "data":
            fup_used = state.fup_used_bytes = min(state.fup_used_bytes + units, _LIMIT)
            over = 0
            if seg.is_open_bundle:
                assert seg.fup_allowance is not None
                over = min(max(fup_used - seg.fup_allowance, 0), units)
            is_over_fup = over > 0
            surcharged = units if r.beyond else over
        elif r.beyond and event in _SURCHARGED_BEYOND:
            surcharged = units
        if surcharged:
            assert seg.surcharge is not None
            surcharge = _half_even(surcharged * seg.surcharge, den)
    elif kind == _SURCHARGE_CAP and seg.surcharge is not None:
        surcharge = _half_even(units * seg.surcharge, den)
    if seg.total_max is not None and (kind != _RLAH or surcharged > 0):
        total_max = _half_even(units * seg.total_max, den)
        if domestic + surcharge > total_max:
            surcharge = max(total_max - domestic, 0)
            domestic = min(domestic, total_max)
    roaming = 0 if seg.roaming is None else _half_even(units * seg.roaming, den)
    blocked = False
    limit = seg.limit
    if limit is not None:  # §5.6
        before = state.billshock_cum_micros
        after = state.billshock_cum_micros = min(before + domestic + surcharge + roaming, _LIMIT)
        if not seg.plan.billshock_continue:
            if before >= limit:
                blocked = True
                domestic = surcharge = roaming = 0
            elif before < limit < after:
                excess = after - limit
                cut = min(excess, roaming)
                roaming -= cut
                excess -= cut
                cut = min(excess, surcharge)
                surcharge -= cut
                domestic -= excess - cut
        notified = state.notified
        if "billshock_80" not in notified and (
            min(after, limit) * 100 * seg.alert_den >= seg.alert_num * limit
        ):
            notified.add("billshock_80")
            notes.append(_note(r, "billshock_80", seg.threshold_80))
        if "billshock_100" not in notified and after >= limit:
            notified.add("billshock_100")
            notes.append(_note(r, "billshock_100", limit))
        extra = seg.extra
        if extra is not None and "billshock_extra" not in notified and after >= extra:
            notified.add("billshock_extra")
            notes.append(_note(r, "billshock_extra", extra))
    if is_over_fup and "fup_exhausted" not in state.notified:
        state.notified.add("fup_exhausted")
        notes.append(_note(r, "fup_exhausted", None))
    total = domestic + surcharge + roaming
    vat = _half_even(total * seg.vat_millionths, 1_000_000)  # §6
    return (
        in_bundle,
        domestic,
        surcharge,
        roaming,
        total,
        vat,
        seg.fup_allowance if fup_used is not None else None,
        fup_used,
        is_over_fup,
        blocked,
    )


def _rated_row(r: _Record, rec: EventRecord, charged: _Charged | None) -> msgspec.Struct:
    """The rated row of ``rec`` without its ``row_number`` (its position): its canonical columns
    as the engine normalises them, then ``RATED_COLUMNS`` in their order."""
    assert charged is not None
    in_bundle, domestic, surcharge, roaming, total, vat, allowance, used, over, blocked = charged
    seg = r.seg
    return RatedRow(
        rec.record_id, rec.subscriber_id, rec.plan_id, rec.event_type, r.started_at,
        rec.utc_offset_min, rec.home_country, rec.visited_country, rec.destination_country,
        rec.duration_s, rec.volume_bytes, rec.count, r.beyond,
        *seg.head, r.billed, r.unit, in_bundle, domestic, surcharge, roaming, total,
        seg.vat_rate, vat, total + vat, seg.currency, allowance, used, over, blocked,
        seg.parameters, r.late,
    )  # fmt: skip


def _order(r: _Record) -> tuple[bool, int, dt.datetime, str]:
    """Per subscriber: on-time records in event order, then late ones in read order (§9)."""
    if r.late:
        return (True, r.number, r.started_at, r.record_id)
    return (False, -1, r.started_at, r.record_id)


def rate_memoised(
    records: list[EventRecord],
    plans: Mapping[str, Plan],
    fx: FxTable,
    catalog: Catalog,
    states: CounterStates,
    memo: SegmentMemo = SEGMENTS,
) -> tuple[RatedRows, list[dict[str, Any]], CounterStates] | None:
    """Rate ``records`` continuing ``states``, or None when any record is outside this rater's
    scope (module docstring) or its text is not clean.

    Parameters
    ----------
    records : list of EventRecord
        The group's records, in arrival order; a record whose text is not clean
        (:func:`is_clean`) sends the group back (None).
    plans : mapping of str to Plan
    fx : FxTable
    catalog : Catalog
    states : CounterStates
        The stored counters of the group's subscribers (not modified).
    memo : SegmentMemo
        Segments kept between calls (default: the process's :data:`SEGMENTS`).

    Returns
    -------
    tuple or None
        The rated rows in the engine's vocabulary (:class:`RatedRows`: as dicts, ``row_number``
        = position; the canonical input columns as the engine normalises them, then
        ``RATED_COLUMNS``), the
        notifications (the engine's ``basis``) in the engine's order, and the states after the
        group of the subscribers and periods it touched: what
        :func:`roamlike.service.group_rating.rate_group`'s reference path gives.
    """
    parsed = _parsed(records, plans, fx, catalog, memo)
    if parsed is None:
        return None
    # ``states`` is not modified: a period or subscriber is copied when the group first
    # touches it (what it returns), not every one read
    periods, subscribers = states.periods, states.subscribers
    # the records of each subscriber, in the group's order: a subscriber's counters depend on
    # its own records only, so the walk goes subscriber by subscriber, and only a subscriber
    # with several records sorts them
    by_subscriber: dict[str, list[_Record]] = {}
    for r in parsed:
        own = by_subscriber.get(r.subscriber_id)
        if own is None:
            by_subscriber[r.subscriber_id] = [r]
        else:
            own.append(r)
    touched: dict[PeriodKey, PeriodState] = {}
    seen: dict[str, SubscriberState] = {}
    notes: list[dict[str, Any]] = []
    charged: list[_Charged | None] = [None] * len(parsed)
    for sid, own in by_subscriber.items():
        known = subscribers.get(sid)
        if known is None:
            sub = seen[sid] = SubscriberState()
        else:
            sub = seen[sid] = SubscriberState(known.last_visited, known.last_event)
            last = known.last_event
            if last is not None:  # late: before its last rated event of an earlier run (§9)
                for r in own:
                    r.late = (r.started_at, r.record_id) < last
        if len(own) > 1:
            own.sort(key=_order)
        # one walk in event order (late records last, in read order) does both: a period's
        # counters see its own records in that order (§5), the welcome rule all of the
        # subscriber's (§5.6); the notifications are sorted at the end
        for r in own:
            key = (sid, r.plan_id, r.seg.priced.period_start)
            state = touched.get(key)
            if state is None:
                stored = periods.get(key)
                state = touched[key] = PeriodState() if stored is None else stored.copy()
            charged[r.number] = _rate_one(r, state, notes)
            before = sub.last_visited
            sub.last_visited = r.visited
            if not r.late:
                sub.last_event = (r.started_at, r.record_id)
            if r.seg.kind != _DOMESTIC and r.visited != before:
                notes.append(_note(r, "welcome", None))
    rated = RatedRows(
        [_rated_row(r, rec, c) for r, rec, c in zip(parsed, records, charged, strict=True)],
        parsed,
    )
    notes.sort(key=lambda n: (n["subscriber_id"], n["started_at"], n["record_id"], n["kind"]))
    return rated, notes, CounterStates(touched, seen)


#: A record rated alone as its subscriber's next event (:class:`NextEvent`): its in-bundle
#: units, its billed units, whether it is over the fair-use volume, and whether the bill-shock
#: limit cuts it (blocked by the cut-off, or reaching the limit: ``billshock_100``).
WhatIf = tuple[int, int, bool, bool]


#: What :func:`_parsed` found of a record passing every check (its instant and segment), by
#: the fields it depends on besides the record's id, subscriber and quantity
#: (:meth:`NextEvent.of`), for the plan, rates and catalog it was found with.
_SHAPES: SegmentEntries[tuple[dt.datetime, _Segment]] = SegmentEntries()


class NextEvent:
    """One record rated alone as its subscriber's next event, for any quantity up to its own.

    What :func:`rate_memoised` gives of the group of that record alone — the same validation,
    segment and :func:`_rate_one` on a copy of its period's counters — without building the
    rated row, copying the other subscribers' states or sorting notifications: a credit-control
    grant (:mod:`roamlike.service.grants`) asks it for several quantities of the same record.
    """

    __slots__ = ("_beyond", "_record", "_seg", "_stamp", "_state")

    def __init__(
        self,
        record: EventRecord,
        stamp: dt.datetime,
        seg: _Segment,
        beyond: bool,
        state: PeriodState | None,
    ) -> None:
        self._record = record
        self._stamp = stamp
        self._seg = seg
        self._beyond = beyond
        self._state = state

    @classmethod
    def of(
        cls,
        record: EventRecord,
        plans: Mapping[str, Plan],
        fx: FxTable,
        catalog: Catalog,
        states: CounterStates,
        memo: SegmentMemo = SEGMENTS,
    ) -> NextEvent | None:
        """The record (clean text, as :func:`rate_memoised` takes it) with the counters of
        ``states`` (not modified), or None when :func:`rate_memoised` would not rate it."""
        plan = plans.get(record.plan_id or "")
        if plan is None:
            return None
        shape = (
            record.plan_id,
            record.event_type,
            record.started_at,
            record.utc_offset_min,
            record.home_country,
            record.visited_country,
            record.is_beyond_fair_use,
        )
        kept = _SHAPES.kept(shape, plan, fx, catalog)
        if kept is not MISSING:
            if _own_quantity(record, cast(str, record.event_type)) is None:
                return None
            sid = cast(str, record.subscriber_id)
            stamp, seg = cast(tuple[dt.datetime, _Segment], kept)
        else:
            parsed = _parsed([record], plans, fx, catalog, memo)
            if parsed is None:
                return None
            r = parsed[0]
            _SHAPES.keep(shape, plan, fx, catalog, (r.started_at, r.seg))
            sid, stamp, seg = r.subscriber_id, r.started_at, r.seg
        state = states.periods.get((sid, seg.plan.id, seg.priced.period_start))
        return cls(record, stamp, seg, bool(record.is_beyond_fair_use), state)

    def rate(self, quantity: int) -> WhatIf:
        """The record with ``quantity`` (0 to the record's own) rated on its period's counters
        as they are (each call on a fresh copy)."""
        r = _Record(0, self._record, self._stamp, self._seg, self._beyond, quantity)
        state = PeriodState() if self._state is None else self._state.copy()
        notes: list[dict[str, Any]] = []
        charged = _rate_one(r, state, notes)
        cut = charged[9] or any(n["kind"] == "billshock_100" for n in notes)
        return charged[0], r.billed, charged[8], cut

    def limits(self) -> tuple[int | None, int | None, int | None, int]:
        """The segment's thresholds: its pool's allowance [units], the fair-use allowance
        [bytes], the bill-shock limit and its alert threshold [micros] (None: none)."""
        seg = self._seg
        return seg.pool_allowance, seg.fup_allowance, seg.limit, seg.threshold_80

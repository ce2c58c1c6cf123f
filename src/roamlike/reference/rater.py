"""The reference rater: ``docs/rating.md`` executed one record at a time.

This module is the oracle of the rating contract. It is written for reading, not for speed:
every rule of ``docs/rating.md`` appears once, in the order the page states it, with the section
it implements. The vectorized engine (``roamlike.rating``) implements the same page and is
compared with this module record by record.

The run has four steps:

1. **Validate** every row in read order (§7, §7b). The checks up to ``DUPLICATE_RECORD_ID`` look
   at the row alone (and at the read order for duplicates).
2. **Price** every surviving row independently of the others (§2-§5, ``_price``): governing date
   and regime, billed units, unit rates, fair-use allowance, bill-shock limit. The state-free
   rejects (``NO_RULE_IN_FORCE``, ``NO_FX_RATE``, ``NO_PRICE``,
   ``NO_PRICE_OUTSIDE_REGULATED_ZONE``) arise here, so a rejected row never touches any counter
   (§7b).
3. **Walk** the priced rows in event order with one state per (subscriber, plan, billing period):
   domestic pools (§5.1), the fair-use counter (§5.2), the bill-shock running sum (§5.6).
4. **Notify**: bill-shock and fair-use notifications come from the walk; ``welcome`` from a
   second walk per subscriber across plans and periods (§5.6, §7b).

Amounts are Decimal until they become integers through ``roamlike.money`` (the only module that
rounds): rates to nanos, charges and limits to micros, VAT to micros.

References
----------
docs/rating.md; docs/law/units-of-volume.md, fair-use.md, exchange-rates.md,
docs/law/governing-date.md; Regulation (EU) 2022/612 Art. 8(1) (per-second and per-kB charging,
30 s initial period for calls made), Art. 14(4), 14(8) (bill-shock).
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from roamlike.columns import CANONICAL_COLUMNS, REQUIRED_COLUMNS
from roamlike.counters import Counters
from roamlike.errors import CatalogError, FxError, NotInForceError, TariffError
from roamlike.law import Cap, Catalog, Rules, default_catalog, resolve, value_at
from roamlike.reference.formulas import (
    FAIR_USE_MULTIPLIER,
    FairUseVolume,
    charge,
    fair_use_cap_of_regime,
    fair_use_volume,
    micros,
    net_of_vat,
    rate_nanos,
    vat_amount,
    vat_rate_of,
)
from roamlike.reference.history import (
    CounterStates,
    PeriodKey,
    PeriodState,
    SubscriberState,
    read_counters,
    saturated,
    write_counters,
)
from roamlike.tariffs import FxTable, Plan

if TYPE_CHECKING:
    from roamlike.reference.price_memo import PriceMemo

# ------------------------------------------------------------------------------------------
# Vocabulary of the contract

#: Reject reason codes, in the order they are checked (rating.md §7).
REASON_CODES: tuple[str, ...] = (
    "MISSING_FIELD",
    "BAD_ID",
    "BAD_TIMESTAMP",
    "BAD_NUMBER",
    "BAD_EVENT_TYPE",
    "NEGATIVE_QUANTITY",
    "QUANTITY_OUT_OF_RANGE",
    "UNKNOWN_COUNTRY",
    "UNKNOWN_PLAN",
    "PLAN_HOME_MISMATCH",
    "DUPLICATE_RECORD_ID",
    "NO_RULE_IN_FORCE",
    "NO_FX_RATE",
    "NO_PRICE",
    "NO_PRICE_OUTSIDE_REGULATED_ZONE",
)

#: Event types of the canonical usage records (rating.md §1.1).
EVENT_TYPES: tuple[str, ...] = ("voice_mo", "voice_mt", "sms_mo", "sms_mt", "data", "mms_mo")

#: Notification kinds (rating.md §5.6).
NOTIFICATION_KINDS: tuple[str, ...] = (
    "billshock_80",
    "billshock_100",
    "billshock_extra",
    "fup_exhausted",
    "welcome",
)

#: Canonical input columns (rating.md §1.1); rated rows and rejects always carry all of them.
INPUT_COLUMNS: tuple[str, ...] = CANONICAL_COLUMNS


#: The quantity column that matters for each event, and its upper bound (rating.md §1.1).
_QUANTITY: dict[str, tuple[str, int]] = {
    "voice_mo": ("duration_s", 86_400),
    "voice_mt": ("duration_s", 86_400),
    "data": ("volume_bytes", 10**12),
    "sms_mo": ("count", 10_000),
    "sms_mt": ("count", 10_000),
    "mms_mo": ("count", 10_000),
}

_UTC_OFFSET_RANGE = (-720, 840)

# Kinds of rule set (law.resolve(...).kind).
_DOMESTIC = "domestic"
_RLAH = "rlah"
_SURCHARGE_CAP = "surcharge_cap"
_RETAIL_CAP = "retail_cap"
_OFFER_CAP = "offer_cap"
_UNREGULATED = "unregulated"
#: Kinds whose records are priced at the domestic price and draw on the pools (§5.1).
_DOMESTIC_PRICED = (_DOMESTIC, _RLAH, _SURCHARGE_CAP)

#: Which pool an event draws on (§5.1); the others have no pool.
_POOL_OF_EVENT: dict[str, str] = {"voice_mo": "voice", "sms_mo": "sms", "data": "data"}


_BILLSHOCK_LIMIT = "eu.billshock.default_limit_eur"
_BILLSHOCK_ALERT_PCT = "eu.billshock.alert_pct"
_BILLSHOCK_EXTRA = "eu.billshock.extra_alert_eur"

#: Field names of the plan's price entries, per service (tariffs.schema).
_SURCHARGE_FIELD = {
    "voice_mo": "voice_mo_per_min",
    "voice_mt": "voice_mt_per_min",
    "sms_mo": "sms_mo",
    "data": "data_per_gb",
}
_ROAMING_PRICE_FIELD = {
    "voice_mo": "voice_mo_per_min",
    "voice_mt": "voice_mt_per_min",
    "sms_mo": "sms_mo",
    "sms_mt": "sms_mt",
    "data": "data_per_mb",
    "mms_mo": "mms",
}

# ISO 8601 date and time with optional fraction and offset (Z, +HH:MM or +HHMM), rating.md §7b.
_TIMESTAMP_RE = re.compile(
    r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:?\d{2})?"
)
_INTEGER_RE = re.compile(r"[+-]?[0-9]+")
_TRUE_TEXT = frozenset({"true", "1", "yes"})
_FALSE_TEXT = frozenset({"false", "0", "no", ""})


# ------------------------------------------------------------------------------------------
# Results


@dataclass
class ReferenceResult:
    """The outcome of a reference run: rated rows, rejects and notifications.

    Attributes
    ----------
    rated : list of dict
        One dict per rated row, sorted by ``row_number``: the input columns, then the output
        columns of rating.md §8.
    rejects : list of dict
        One dict per rejected row, sorted by ``row_number``: the row as read, ``row_number``,
        ``reason_code`` (one of :data:`REASON_CODES`) and ``message``.
    notifications : list of dict
        Sorted by (``subscriber_id``, ``started_at``, ``record_id``, ``kind``), rating.md §8.
    counters : Counters
        The counters after the run, of the subscribers and periods it touched (rating.md §9).
    """

    rated: list[dict[str, Any]] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    notifications: list[dict[str, Any]] = field(default_factory=list)
    counters: Counters = field(default_factory=Counters.empty)


class _RowRejectedError(Exception):
    """A row cannot be rated: a stable reason code and a message for the user."""

    def __init__(self, code: str, message: str) -> None:
        assert code in REASON_CODES, code
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class _Parsed:
    """A row that passed the row-level checks (§7 up to DUPLICATE_RECORD_ID)."""

    row_number: int
    row: dict[str, Any]
    record_id: str
    subscriber_id: str
    plan: Plan
    event_type: str
    started_at: dt.datetime  # aware, UTC
    utc_offset_min: int
    home: str
    visited: str
    quantity: int  # duration_s, volume_bytes or count, by event type
    is_beyond_fair_use: bool


@dataclass(frozen=True)
class _Priced:
    """Everything about a record that does not depend on the other records (§2-§5)."""

    parsed: _Parsed
    local_date: dt.date
    period_start: dt.date
    rules: Rules
    billed_units: int
    billed_unit: str
    units: int  # billed units in the pool/charge unit: seconds, messages or billed bytes
    divisor: int  # charge units per law unit: 60 s/min, bytes per MB, 1 per message
    pool: str | None  # "voice", "sms", "data" or None (no draw on a domestic allowance)
    pool_allowance: int | None  # in ``units``; None = unlimited
    domestic_rate_nanos: int | None  # None: no domestic price (retail_cap, offer_cap, ...)
    surcharge_rate_nanos: int | None
    total_max_rate_nanos: int | None  # §5.3 absolute cap on domestic + surcharge
    roaming_rate_nanos: int | None  # §5.4, §5.5
    fair_use: FairUseVolume | None  # rlah data only
    fup_allowance_bytes: int | None
    billshock_limit_micros: int | None  # None: not in the bill-shock scope
    billshock_alert_pct: Decimal | None
    billshock_extra_micros: int | None  # None: no billshock_extra for this record
    billshock_basis: dict[str, str]
    vat_rate: Decimal
    parameters: frozenset[str]
    initial_s: int = 0  # §3: the initial period of calls made that applied (billed units)


# ------------------------------------------------------------------------------------------
# Entry point


def rate_records(
    records: Sequence[Mapping[str, Any]],
    plans: Mapping[str, Plan],
    fx: FxTable | None = None,
    *,
    catalog: Catalog | None = None,
    counters: Counters | None = None,
    known_record_ids: Collection[str] = (),
) -> ReferenceResult:
    """Rate usage records one at a time, exactly as ``docs/rating.md`` states.

    Parameters
    ----------
    records : sequence of mapping
        Canonical usage rows (rating.md §1.1) in read order. Values may be ``str``, ``int``,
        ``None`` or (``started_at``) a ``datetime``, naive = UTC. ``row_number`` is the 0-based
        index in this sequence.
    plans : mapping of str to Plan
        Tariff plans by id (``roamlike.tariffs.load_plans``).
    fx : FxTable, optional
        Exchange rates (docs/law/exchange-rates.md); without it only EUR plans can roam.
    catalog : Catalog, optional
        The law catalog; default :func:`roamlike.law.default_catalog`.
    counters : Counters, optional
        Counters of earlier runs (rating.md §9); default: every counter at zero.
    known_record_ids : collection of str
        Record ids of earlier runs: rows with one of them are ``DUPLICATE_RECORD_ID``.

    Returns
    -------
    ReferenceResult
        Rated rows and rejects (rated + rejected = read, always) and notifications.

    Raises
    ------
    TariffError
        A plan's VAT rate has more than 6 decimals (a plan defect, not a row defect).

    Examples
    --------
    >>> rate_records([], {}).rated
    []
    """
    periods, subscribers = read_counters(counters)
    run = _run(
        records,
        plans,
        fx or FxTable(),
        catalog or default_catalog(),
        periods,
        subscribers,
        frozenset(known_record_ids),
        None,
    )
    result = ReferenceResult(run.rated, run.rejects, run.notifications)
    result.counters = write_counters(run.states.periods, run.states.subscribers)
    return result


@dataclass
class StatesResult:
    """The outcome of :func:`rate_records_with_states`: :class:`ReferenceResult`'s rows, with
    the counters after the run as plain states.

    Attributes
    ----------
    rated, rejects, notifications : list of dict
        As :class:`ReferenceResult`'s.
    states : CounterStates
        The states after the run of the subscribers and periods it touched.
    """

    rated: list[dict[str, Any]]
    rejects: list[dict[str, Any]]
    notifications: list[dict[str, Any]]
    states: CounterStates


def rate_records_with_states(
    records: Sequence[Mapping[str, Any]],
    plans: Mapping[str, Plan],
    fx: FxTable,
    *,
    catalog: Catalog,
    states: CounterStates,
    memo: PriceMemo | None = None,
    known_record_ids: Collection[str] = (),
) -> StatesResult:
    """:func:`rate_records` on counters held as plain states, for runs of a few records.

    The same rating, step for step; only the counters travel as :class:`CounterStates` instead
    of Polars frames (whose construction costs more than rating a few records), and each
    record's pricing may be taken from ``memo``.

    Parameters
    ----------
    records, plans, fx, catalog, known_record_ids
        As :func:`rate_records`.
    states : CounterStates
        The counters of earlier runs; not modified (the run works on a copy).
    memo : PriceMemo, optional
        The law's and the plan's values of earlier records, by segment (:class:`PriceMemo`).

    Returns
    -------
    StatesResult
        Rated rows, rejects and notifications equal to :func:`rate_records`'s, and the states
        after the run of what it touched (``rate_records``'s ``counters``, as states).
    """
    own = states.copy()
    return _run(
        records, plans, fx, catalog, own.periods, own.subscribers, frozenset(known_record_ids), memo
    )


def _run(
    records: Sequence[Mapping[str, Any]],
    plans: Mapping[str, Plan],
    fx: FxTable,
    cat: Catalog,
    periods: dict[PeriodKey, PeriodState],
    subscribers: dict[str, SubscriberState],
    known: frozenset[str],
    memo: PriceMemo | None,
) -> StatesResult:
    """The four steps (module docstring) on counters held as states, updated in place."""
    rated: list[dict[str, Any]] = []
    rejects: list[dict[str, Any]] = []
    first_row_of_id = _first_occurrences(records)
    priced: list[_Priced] = []
    for row_number, raw in enumerate(records):
        row = _as_read(raw)
        try:
            parsed = _validate(row, row_number, plans, first_row_of_id, known, cat)
            priced.append(_price(parsed, fx, cat) if memo is None else memo.price(parsed, fx, cat))
        except _RowRejectedError as reject:
            rejects.append(
                {
                    **row,
                    "row_number": row_number,
                    "reason_code": reject.code,
                    "message": reject.message,
                }
            )

    late = _late_rows(priced, subscribers)
    touched_periods: dict[PeriodKey, PeriodState] = {}
    rated, notifications = _walk(priced, late, periods, touched_periods)
    touched_subscribers: dict[str, SubscriberState] = {}
    notifications.extend(_welcome_notifications(priced, late, subscribers, touched_subscribers))
    rated.sort(key=lambda r: r["row_number"])
    notifications.sort(
        key=lambda n: (n["subscriber_id"], n["started_at"], n["record_id"], n["kind"])
    )
    assert len(rated) + len(rejects) == len(records)  # §7: nothing is lost
    return StatesResult(
        rated, rejects, notifications, CounterStates(touched_periods, touched_subscribers)
    )


def _as_read(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The row as read, with every canonical column present (absent = None)."""
    row = dict.fromkeys(INPUT_COLUMNS)
    row.update(raw)
    return row


def _first_occurrences(records: Sequence[Mapping[str, Any]]) -> dict[str, int]:
    """Row number of the first occurrence of each non-empty ``record_id`` (§7b, duplicates).

    Interpretation: "over all rows with a non-empty record_id, in read order" counts every row,
    including rows rejected for another reason; so a later valid copy of an id whose first
    occurrence was rejected (say ``BAD_TIMESTAMP``) is still a duplicate.
    """
    first: dict[str, int] = {}
    for row_number, row in enumerate(records):
        value = row.get("record_id")
        if _is_missing(value):
            continue
        first.setdefault(_text(value), row_number)
    return first


# ------------------------------------------------------------------------------------------
# Step 1: row-level validation (rating.md §7, §7b)


def _is_missing(value: Any) -> bool:
    """Null, or text that is empty once surrounding blanks are stripped (§7b)."""
    return value is None or (isinstance(value, str) and value.strip() == "")


def _text(value: Any) -> str:
    """A text field as compared: surrounding blanks stripped."""
    return str(value).strip()


def _as_integer(value: Any) -> int | None:
    """An integer from an ``int`` or a decimal-digit string (sign allowed), else None.

    Text is stripped first. A ``float`` counts when it is finite and whole (typed columns of
    Parquet files). ``bool``, ``Decimal`` and strings such as ``"1.0"``, ``"1_000"`` or ``"1e3"``
    are not integers (§7b "not an integer"); nor is anything of more than 18 digits.
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() and abs(value) < 2.0**62 else None
    if isinstance(value, str):
        text = value.strip()
        if _INTEGER_RE.fullmatch(text) and len(text.lstrip("+-")) <= 18:
            return int(text)
    return None


def _parse_timestamp(value: Any) -> dt.datetime | None:
    """``started_at`` as an aware UTC datetime, or None when it is not a timestamp (§7b).

    A ``datetime`` (naive = UTC; aware converted), or ISO 8601 text with a date **and** a time:
    ``YYYY-MM-DD[T ]HH:MM[:SS[.fraction]]`` plus an optional ``Z`` or ``+HH:MM``/``+HHMM``/``+HH``
    offset. A date alone, a ``date`` object or any other type is not a timestamp.
    """
    if isinstance(value, dt.datetime):
        stamp = value
    elif isinstance(value, str) and _TIMESTAMP_RE.fullmatch(value.strip()):
        try:
            stamp = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            return None
    else:
        return None
    if stamp.tzinfo is None:
        return stamp.replace(tzinfo=dt.UTC)
    try:
        return stamp.astimezone(dt.UTC)
    except OverflowError:
        return None


def _as_flag(value: Any) -> bool | None:
    """``is_beyond_fair_use`` (§7b): null -> false; booleans; text true/false/1/0/yes/no (any
    case); anything else -> None (the row is then rejected ``BAD_NUMBER``)."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        text = value.strip().lower()
        if text in _TRUE_TEXT:
            return True
        if text in _FALSE_TEXT:
            return False
    return None


def _validate(
    row: dict[str, Any],
    row_number: int,
    plans: Mapping[str, Plan],
    first_row_of_id: Mapping[str, int],
    known_record_ids: Collection[str],
    catalog: Catalog,
) -> _Parsed:
    """The row-level checks of §7, in order, up to ``DUPLICATE_RECORD_ID``."""
    # MISSING_FIELD: the required fields, then the quantity of a *known* event type (§7b). An
    # unknown event type needs no quantity: it is rejected later as BAD_EVENT_TYPE.
    missing = [c for c in REQUIRED_COLUMNS if _is_missing(row.get(c))]
    event_type = row.get("event_type")
    if isinstance(event_type, str):
        event_type = event_type.strip()
    quantity_column: str | None = None
    if isinstance(event_type, str) and event_type in _QUANTITY:
        quantity_column, bound = _QUANTITY[event_type]
        if quantity_column != "count" and _is_missing(row.get(quantity_column)):
            missing.append(quantity_column)
    if missing:
        raise _RowRejectedError(
            "MISSING_FIELD",
            f"required field(s) {', '.join(missing)} missing: expected a value, found null or "
            "an empty string",
        )

    # BAD_ID: an id holding U+0000 (NUL), which no store can keep as itself (§7b).
    for column in ("record_id", "subscriber_id"):
        if "\x00" in _text(row[column]):
            raise _RowRejectedError(
                "BAD_ID",
                f"{column} {row[column]!r} contains the character U+0000 (NUL): expected an id "
                "without it",
            )

    # BAD_TIMESTAMP: started_at unparseable, or utc_offset_min not an integer in range.
    started_at = _parse_timestamp(row["started_at"])
    flag = _as_flag(row.get("is_beyond_fair_use"))
    if started_at is None:
        raise _RowRejectedError(
            "BAD_TIMESTAMP",
            f"started_at {row['started_at']!r} is not a timestamp: expected ISO 8601 date and "
            "time such as 2026-03-01T10:00:00Z (naive = UTC) or a datetime",
        )
    offset = _as_integer(row["utc_offset_min"])
    low, high = _UTC_OFFSET_RANGE
    if offset is None or not low <= offset <= high:
        raise _RowRejectedError(
            "BAD_TIMESTAMP",
            f"utc_offset_min {row['utc_offset_min']!r} is invalid: expected a whole number of "
            f"minutes from {low} to {high}",
        )

    # BAD_NUMBER / BAD_EVENT_TYPE / NEGATIVE_QUANTITY / QUANTITY_OUT_OF_RANGE. Only the quantity
    # of the row's own event matters; the quantities of other events are ignored (§7b).
    quantity = 0
    if quantity_column is not None:
        value = row.get(quantity_column)
        if quantity_column == "count" and _is_missing(value):
            quantity = 1  # count: default 1 when absent or null (§1.1)
        else:
            parsed_quantity = _as_integer(value)
            if parsed_quantity is None:
                raise _RowRejectedError(
                    "BAD_NUMBER",
                    f"{quantity_column} {value!r} is not an integer: expected a whole number "
                    f"for a {event_type} record",
                )
            quantity = parsed_quantity
    if flag is None:
        raise _RowRejectedError(
            "BAD_NUMBER",
            f"is_beyond_fair_use {row.get('is_beyond_fair_use')!r}: expected true or false",
        )
    if not isinstance(event_type, str) or event_type not in EVENT_TYPES:
        raise _RowRejectedError(
            "BAD_EVENT_TYPE",
            f"event_type {event_type!r} is unknown: expected one of {', '.join(EVENT_TYPES)}",
        )
    assert quantity_column is not None
    _, bound = _QUANTITY[event_type]
    if quantity < 0:
        raise _RowRejectedError(
            "NEGATIVE_QUANTITY",
            f"{quantity_column} is {quantity}: expected a value >= 0",
        )
    if quantity > bound:
        raise _RowRejectedError(
            "QUANTITY_OUT_OF_RANGE",
            f"{quantity_column} is {quantity}: expected at most {bound} for a {event_type} record",
        )

    # UNKNOWN_COUNTRY: compared upper-case (§7b); destination_country is informational.
    home = _text(row["home_country"]).upper()
    visited = _text(row["visited_country"]).upper()
    countries = catalog.countries
    for column, code in (("home_country", home), ("visited_country", visited)):
        if code not in countries:
            raise _RowRejectedError(
                "UNKNOWN_COUNTRY",
                f"{column} {row[column]!r} is unknown: expected an ISO 3166 alpha-2 code known "
                "to the law catalog (XK for Kosovo)",
            )

    # UNKNOWN_PLAN, PLAN_HOME_MISMATCH.
    plan_id = _text(row["plan_id"])
    plan = plans.get(plan_id)
    if plan is None:
        raise _RowRejectedError(
            "UNKNOWN_PLAN",
            f"plan_id {plan_id!r} is not in the plans file: expected one of "
            f"{', '.join(sorted(plans)) or '(no plans)'}",
        )
    if home != plan.home_country:
        raise _RowRejectedError(
            "PLAN_HOME_MISMATCH",
            f"home_country {home} differs from the home country {plan.home_country} of plan "
            f"{plan_id!r}",
        )

    # DUPLICATE_RECORD_ID: every occurrence after the first in read order.
    record_id = _text(row["record_id"])
    first = first_row_of_id[record_id]
    if record_id in known_record_ids:
        raise _RowRejectedError(
            "DUPLICATE_RECORD_ID",
            f"record_id {record_id!r} was rated or rejected by an earlier run: expected "
            "unique record ids",
        )
    if first != row_number:
        raise _RowRejectedError(
            "DUPLICATE_RECORD_ID",
            f"record_id {record_id!r} already appeared at row {first}: expected unique "
            "record ids (the first occurrence is kept)",
        )

    return _Parsed(
        row_number=row_number,
        row=row,
        record_id=record_id,
        subscriber_id=_text(row["subscriber_id"]),
        plan=plan,
        event_type=event_type,
        started_at=started_at,
        utc_offset_min=offset,
        home=home,
        visited=visited,
        quantity=quantity,
        is_beyond_fair_use=flag,
    )


# ------------------------------------------------------------------------------------------
# Step 2: pricing of one record, independent of the others (rating.md §2-§5)


def _period_start(plan: Plan, local_date: dt.date) -> dt.date:
    """First day of the billing period containing ``local_date`` (§2)."""
    if plan.billing_period == "28d":
        k = (local_date - plan.period_anchor).days // 28  # floor: also before the anchor
        return plan.period_anchor + dt.timedelta(days=28 * k)
    # "month" and "prepaid": the calendar month.
    return local_date.replace(day=1)


def _bytes_per_mb(plan: Plan) -> int:
    """1 MB = 10^6 bytes, binary 2^20 (§3, docs/law/units-of-volume.md)."""
    return 2**20 if plan.binary_units else 10**6


def _bytes_per_gb(plan: Plan) -> int:
    """1 GB = 10^9 bytes, binary 2^30 (§3, docs/law/units-of-volume.md)."""
    return 2**30 if plan.binary_units else 10**9


def _mb_per_gb(plan: Plan) -> int:
    return 1024 if plan.binary_units else 1000


def _plan_rate_nanos(
    plan: Plan, price: Decimal, on: dt.date, catalog: Catalog, per_gb: bool = False
) -> int:
    """A plan price as a rate excl. VAT in nanos (§4): gross / (1 + VAT) if the plan includes VAT.

    A per-GB figure is turned into a per-MB rate of the plan's convention *before* rounding.
    """
    net = net_of_vat(plan, price, on, catalog)
    if per_gb:
        net = net / _mb_per_gb(plan)
    return rate_nanos(net)


def _cap_rate_nanos(cap: Cap, units_per_eur: Decimal, plan: Plan) -> int:
    """A legal cap as a rate in the plan currency in nanos (§4): ``cap_eur x units_per_eur``.

    EUR/GB caps become per-MB rates (÷ 1000, binary ÷ 1024) before rounding. EUR/MB caps (WB) are
    used as written, per MB of the plan's convention (§4 "data rates are always expressed per MB
    of the plan's convention"; the page converts only per-GB figures).
    """
    value = cap.value * units_per_eur
    if cap.unit == "EUR/GB":
        value = value / _mb_per_gb(plan)
    elif cap.unit not in ("EUR/MB", "EUR/min", "EUR/SMS"):
        raise CatalogError(f"cap {cap.parameter} has an unknown unit {cap.unit!r}")
    return rate_nanos(value)


def _needed_caps(kind: str, event_type: str, is_beyond: bool) -> list[tuple[str, str]]:
    """The caps (service, measure) a record needs; one without a value -> NO_RULE_IN_FORCE (§4).

    * ``rlah``: the surcharge cap of the service when surcharges can apply: data always (the
      record may cross the fair-use allowance, which is not known before the walk; the data caps
      have no gaps), voice_mo/voice_mt/sms_mo when ``is_beyond_fair_use`` (§5.2). Hence the
      received-call cap gap of 2017-2018 rejects only permanent-roaming received calls.
    * ``surcharge_cap``: the surcharge cap of voice_mo, sms_mo, data, and the retail maximum for
      voice_mt (its surcharge) (§5.3); the retail maxima bounding the total are handled apart.
    * ``retail_cap``: the retail maximum of voice_mo, voice_mt, sms_mo, data (§5.4).
    * Other kinds need no cap.
    """
    if kind == _RLAH:
        if event_type == "data" or (is_beyond and event_type in ("voice_mo", "voice_mt", "sms_mo")):
            return [(event_type, "retail_surcharge_max")]
        return []
    if kind == _SURCHARGE_CAP:
        if event_type in ("voice_mo", "sms_mo", "data"):
            return [(event_type, "retail_surcharge_max")]
        if event_type == "voice_mt":
            return [("voice_mt", "retail_price_max")]
        return []
    if kind == _RETAIL_CAP and event_type in ("voice_mo", "voice_mt", "sms_mo", "data"):
        return [(event_type, "retail_price_max")]
    return []


def _cap_or_reject(rules: Rules, service: str, measure: str) -> Cap:
    cap = rules.cap(service, measure)
    if cap is not None:
        return cap
    reasons = [g.reason for g in rules.gaps if g.service == service and g.measure == measure]
    detail = reasons[0] if reasons else f"regime {rules.regime} names no such cap"
    raise _RowRejectedError(
        "NO_RULE_IN_FORCE",
        f"no {measure} for {service} in force on {rules.on.isoformat()} ({detail}): the record "
        f"needs it under {rules.regime} ({rules.kind})",
    )


def _value_or_reject(parameter: str, on: dt.date, catalog: Catalog) -> Decimal:
    try:
        return value_at(parameter, on, catalog).value
    except NotInForceError as exc:
        raise _RowRejectedError("NO_RULE_IN_FORCE", str(exc)) from None


def _price(p: _Parsed, fx: FxTable, catalog: Catalog) -> _Priced:
    """Governing date, regime, billed units, rates, allowances and limits of one record."""
    plan = p.plan
    event = p.event_type
    params: set[str] = set()

    # §2 / docs/law/governing-date.md: the whole record is rated under the rules in force on its
    # local start date.
    try:
        local_date = (p.started_at + dt.timedelta(minutes=p.utc_offset_min)).date()
    except OverflowError:
        raise _RowRejectedError(
            "NO_RULE_IN_FORCE",
            f"the local start of {p.started_at.isoformat()} with utc_offset_min "
            f"{p.utc_offset_min} is beyond the calendar, outside the catalog's coverage",
        ) from None
    period_start = _period_start(plan, local_date)

    # ---- NO_RULE_IN_FORCE: regime, caps needed, other catalog parameters needed.
    try:
        rules = resolve(p.home, p.visited, local_date, catalog)
    except NotInForceError as exc:
        raise _RowRejectedError("NO_RULE_IN_FORCE", str(exc)) from None
    kind = rules.kind
    caps = {
        service: _cap_or_reject(rules, service, measure)
        for service, measure in _needed_caps(kind, event, p.is_beyond_fair_use)
    }
    # §5.3: where the catalog has a retail_price_max for the service, it bounds the total. A cap
    # the phase names but without a value in force is a needed cap -> NO_RULE_IN_FORCE.
    total_cap: Cap | None = None
    if kind == _SURCHARGE_CAP and event in ("voice_mo", "voice_mt", "sms_mo", "data"):
        named = rules.cap(event, "retail_price_max") is not None or any(
            g.service == event and g.measure == "retail_price_max" for g in rules.gaps
        )
        if named:
            total_cap = _cap_or_reject(rules, event, "retail_price_max")
    if kind == _RLAH and event in ("voice_mo", "sms_mo", "data"):
        # 531/2012 Art. 6e(1)(b) (2017-06-15..2022-06-30): bounds domestic + surcharge of a
        # surcharged record (docs/law/eu-history-before-recast.md); not needed otherwise.
        total_cap = rules.cap(event, "retail_price_max")
    try:
        vat_rate = vat_rate_of(plan, local_date, catalog)
    except NotInForceError as exc:
        raise _RowRejectedError("NO_RULE_IN_FORCE", str(exc)) from None

    # §3: the legal maximum initial period of calls made; the plan's own value off-regulation.
    initial_s = 0
    if event == "voice_mo" and kind != _DOMESTIC:
        initial_s = plan.charging.voice_mo_initial_s
        # the legal maximum the regime declares (regimes.yaml rules: voice_mo_initial_max)
        regulated = kind in (_RLAH, _SURCHARGE_CAP, _RETAIL_CAP)
        parameter = catalog.regime(rules.regime).rules.voice_mo_initial_max if regulated else ""
        if parameter:
            legal_max = _value_or_reject(parameter, local_date, catalog)
            initial_s = min(initial_s, int(legal_max))
            params.add(parameter)

    # §5.2 / docs/law/fair-use.md: the fair-use formula's own parameters (wholesale data cap,
    # multiplier).
    rlah_data = kind == _RLAH and event == "data"
    if rlah_data:
        for parameter in (fair_use_cap_of_regime(rules.regime, catalog)[0], FAIR_USE_MULTIPLIER):
            _value_or_reject(parameter, local_date, catalog)
            params.add(parameter)

    # §5.6: bill-shock scope and its catalog parameters (default limit, alert percentage).
    # Art. 14 binds the providers of a regime that declares it (regimes.yaml: EU/EEA, UA and MD
    # from 2026): a plan whose home no such regime binds on the day is in scope only if it
    # declares a limit of its own.
    home_bound = any(
        g.rules.billshock and catalog.zones[g.bound_zone].is_member(plan.home_country, local_date)
        for g in catalog.regimes
    )
    in_billshock = (
        event == "data"
        and kind != _DOMESTIC
        and not plan.is_m2m
        and (home_bound or plan.billshock_limit_eur is not None)
    )
    limit_eur: Decimal | None = None
    alert_pct: Decimal | None = None
    extra_eur: Decimal | None = None
    billshock_basis: dict[str, str] = {}
    if in_billshock:
        default_limit = _value_or_reject(_BILLSHOCK_LIMIT, local_date, catalog)
        limit_eur = (
            plan.billshock_limit_eur if plan.billshock_limit_eur is not None else (default_limit)
        )
        alert_pct = _value_or_reject(_BILLSHOCK_ALERT_PCT, local_date, catalog)
        params.update((_BILLSHOCK_LIMIT, _BILLSHOCK_ALERT_PCT))
        billshock_basis["billshock_80"] = value_at(
            _BILLSHOCK_ALERT_PCT, local_date, catalog
        ).basis.cite()
        billshock_basis["billshock_100"] = value_at(
            _BILLSHOCK_LIMIT, local_date, catalog
        ).basis.cite()
        # billshock_extra: only with billshock_continue and the default limit (the plan sets no
        # limit of its own). The extra-alert parameter is in force from 2022-07-01 only; before,
        # there is simply no such notification (it is not a cap, so no reject).
        if plan.billshock_continue and plan.billshock_limit_eur is None:
            try:
                extra = value_at(_BILLSHOCK_EXTRA, local_date, catalog)
            except NotInForceError:
                extra = None
            if extra is not None:
                extra_eur = extra.value
                params.add(_BILLSHOCK_EXTRA)
                billshock_basis["billshock_extra"] = extra.basis.cite()

    # ---- NO_FX_RATE: every non-domestic record of a non-EUR plan needs FX (§4).
    units_per_eur = Decimal(1)
    if kind != _DOMESTIC:
        try:
            units_per_eur = fx.rate(plan.currency, local_date).units_per_eur
        except FxError as exc:
            raise _RowRejectedError("NO_FX_RATE", str(exc)) from None

    # ---- §3: billed units.
    units, divisor, billed_units, billed_unit = _billed_units(p, plan, kind, initial_s)

    # ---- §5.1: domestic price and pools (domestic, rlah, surcharge_cap only).
    pool: str | None = None
    pool_allowance: int | None = None
    domestic_rate: int | None = None
    if kind in _DOMESTIC_PRICED:
        domestic_rate = _domestic_rate_nanos(plan, event, local_date, catalog)  # may raise NO_PRICE
        pool = _POOL_OF_EVENT.get(event)
        pool_allowance = _pool_allowance(plan, pool) if pool is not None else None

    # ---- surcharges (§5.2, §5.3) and the total bound of §5.3.
    surcharge_rate: int | None = None
    total_max_rate: int | None = None
    if kind in (_RLAH, _SURCHARGE_CAP) and event in caps:
        cap = caps[event]
        params.add(cap.parameter)
        cap_rate = _cap_rate_nanos(cap, units_per_eur, plan)
        own = getattr(plan.surcharges, _SURCHARGE_FIELD[event])
        surcharge_rate = cap_rate
        if own is not None:
            # "the plan's roaming.surcharges.<service> if given, but never above the cap"
            own_rate = _plan_rate_nanos(plan, own, local_date, catalog, per_gb=event == "data")
            surcharge_rate = min(own_rate, cap_rate)
    if total_cap is not None:
        params.add(total_cap.parameter)
        total_max_rate = _cap_rate_nanos(total_cap, units_per_eur, plan)

    # ---- §5.2 / docs/law/fair-use.md: fair use of rlah data.
    fair_use: FairUseVolume | None = None
    fup_allowance_bytes: int | None = None
    if rlah_data:
        try:
            fair_use = fair_use_volume(plan, local_date, fx, rules.regime, catalog)
        except NotInForceError as exc:  # pragma: no cover - parameters checked above
            raise _RowRejectedError("NO_RULE_IN_FORCE", str(exc)) from None
        if fair_use.is_open_data_bundle:
            assert fair_use.volume_gb is not None
            fup_allowance_bytes = math.floor(fair_use.volume_gb * _bytes_per_gb(plan))
        elif fair_use.volume_gb is not None:
            # Not an open bundle: the allowance is the domestic data volume (reported only).
            fup_allowance_bytes = math.floor(fair_use.volume_gb * _bytes_per_gb(plan))

    # ---- NO_PRICE / NO_PRICE_OUTSIDE_REGULATED_ZONE: roaming prices (§5.4, §5.5).
    roaming_rate: int | None = None
    if kind == _RETAIL_CAP:
        roaming_rate = _retail_cap_rate_nanos(
            p, caps.get(event), units_per_eur, local_date, catalog
        )
        if event in caps:
            params.add(caps[event].parameter)
    elif kind in (_OFFER_CAP, _UNREGULATED):
        roaming_rate = _offer_rate_nanos(p, rules, local_date, catalog)

    # ---- §5.6: the bill-shock limit, in micros of the plan currency.
    limit_micros = None if limit_eur is None else micros(limit_eur * units_per_eur)
    extra_micros = None if extra_eur is None else micros(extra_eur * units_per_eur)

    return _Priced(
        parsed=p,
        local_date=local_date,
        period_start=period_start,
        rules=rules,
        billed_units=billed_units,
        billed_unit=billed_unit,
        units=units,
        divisor=divisor,
        pool=pool,
        pool_allowance=pool_allowance,
        domestic_rate_nanos=domestic_rate,
        surcharge_rate_nanos=surcharge_rate,
        total_max_rate_nanos=total_max_rate,
        roaming_rate_nanos=roaming_rate,
        fair_use=fair_use,
        fup_allowance_bytes=fup_allowance_bytes,
        billshock_limit_micros=limit_micros,
        billshock_alert_pct=alert_pct,
        billshock_extra_micros=extra_micros,
        billshock_basis=billshock_basis,
        vat_rate=vat_rate,
        parameters=frozenset(params),
        initial_s=initial_s,
    )


def _billed_units(p: _Parsed, plan: Plan, kind: str, initial_s: int) -> tuple[int, int, int, str]:
    """Billed units (§3): (charge units, divisor, billed_units, billed_unit).

    Charge units are seconds, messages or billed bytes; ``billed_units`` is what §8 reports
    (seconds, messages, kB).
    """
    event = p.event_type
    if event == "voice_mo":
        seconds = p.quantity
        if seconds > 0 and kind != _DOMESTIC:
            # Regulation (EU) 2022/612 Art. 8(1) last subparagraph: calls made only
            seconds = max(seconds, initial_s)
        return seconds, 60, seconds, "s"
    if event == "voice_mt":
        return p.quantity, 60, p.quantity, "s"  # per second, no minimum
    if event == "data":
        kb_size = 1024 if plan.binary_units else 1000  # docs/law/units-of-volume.md
        kb = -(-p.quantity // kb_size)  # ceil
        return kb * kb_size, _bytes_per_mb(plan), kb, "kB"
    return p.quantity, 1, p.quantity, "msg"


def _domestic_rate_nanos(plan: Plan, event: str, on: dt.date, catalog: Catalog) -> int:
    """Out-of-bundle (domestic) price per law unit, excl. VAT, in nanos (§5.1)."""
    oob = plan.out_of_bundle
    if event == "voice_mo":
        return _plan_rate_nanos(plan, oob.voice_per_min, on, catalog)
    if event == "voice_mt":
        return _plan_rate_nanos(plan, oob.voice_mt_per_min, on, catalog)
    if event == "sms_mo":
        return _plan_rate_nanos(plan, oob.sms, on, catalog)
    if event == "data":
        return _plan_rate_nanos(plan, oob.data_per_mb, on, catalog)
    if event == "mms_mo":
        if oob.mms is None:
            raise _RowRejectedError(
                "NO_PRICE",
                f"plan {plan.id!r} has no out_of_bundle.mms price: expected one to rate an MMS",
            )
        return _plan_rate_nanos(plan, oob.mms, on, catalog)
    return 0  # sms_mt: free


def _pool_allowance(plan: Plan, pool: str) -> int | None:
    """A domestic allowance in pool units, floored to a whole unit; None = unlimited (§5.1)."""
    if pool == "voice":
        return (
            None if plan.voice_allowance_min is None else math.floor(plan.voice_allowance_min * 60)
        )
    if pool == "sms":
        return plan.sms_allowance
    return (
        None
        if plan.data_allowance_gb is None
        else math.floor(plan.data_allowance_gb * _bytes_per_gb(plan))
    )


def _retail_cap_rate_nanos(
    p: _Parsed, cap: Cap | None, units_per_eur: Decimal, on: dt.date, catalog: Catalog
) -> int:
    """WB phase 1 (§5.4): the plan's roaming price, never above the retail maximum; else the cap."""
    plan = p.plan
    event = p.event_type
    if event == "sms_mt":
        return 0
    entry = plan.roaming_price(p.visited)
    own: Decimal | None = None
    if entry is not None:
        own = getattr(entry, _ROAMING_PRICE_FIELD[event])
    if event == "mms_mo":
        if own is None:
            raise _RowRejectedError(
                "NO_PRICE",
                f"plan {plan.id!r} has no roaming mms price for {p.visited}: expected one in "
                "roaming.prices to rate an MMS under the WB retail caps",
            )
        return _plan_rate_nanos(plan, own, on, catalog)
    assert cap is not None
    cap_rate = _cap_rate_nanos(cap, units_per_eur, plan)
    if own is None:
        return cap_rate
    return min(_plan_rate_nanos(plan, own, on, catalog), cap_rate)


def _offer_rate_nanos(p: _Parsed, rules: Rules, on: dt.date, catalog: Catalog) -> int:
    """EU-WB and unregulated routes (§5.5): the plan's roaming price or a reject.

    A received SMS without an ``sms_mt`` price is free (§5.5).
    """
    plan = p.plan
    entry = plan.roaming_price(p.visited)
    field_name = _ROAMING_PRICE_FIELD[p.event_type]
    own = None if entry is None else getattr(entry, field_name)
    if own is None and p.event_type == "sms_mt":
        return 0
    if own is None:
        what = "no roaming.prices entry" if entry is None else f"no {field_name} price"
        raise _RowRejectedError(
            "NO_PRICE_OUTSIDE_REGULATED_ZONE",
            f"plan {plan.id!r} has {what} for {p.visited} (nor a '*' entry): expected a roaming "
            f"price for {p.event_type} outside the regulated zone ({rules.regime})",
        )
    return _plan_rate_nanos(plan, own, on, catalog)


# ------------------------------------------------------------------------------------------
# Step 3: the walk in event order (rating.md §5.1, §5.2, §5.6)


def _late_rows(priced: list[_Priced], subscribers: Mapping[str, SubscriberState]) -> set[int]:
    """Row numbers of late records: (started_at, record_id) before the subscriber's last rated
    event of an earlier run (§9)."""
    late: set[int] = set()
    for r in priced:
        p = r.parsed
        known = subscribers.get(p.subscriber_id)
        last = None if known is None else known.last_event
        if last is not None and (p.started_at, p.record_id) < last:
            late.add(p.row_number)
    return late


def _processing_key(r: _Priced, late: set[int]) -> tuple[bool, int, dt.datetime, str]:
    """Per subscriber: on-time records in event order, then late ones in read order (§9)."""
    p = r.parsed
    if p.row_number in late:
        return (True, p.row_number, p.started_at, p.record_id)
    return (False, -1, p.started_at, p.record_id)


def _event_key(r: _Priced) -> tuple[str, str, dt.date, dt.datetime, str]:
    """(subscriber, plan, period), then event order: started_at (UTC), then record_id (§2)."""
    p = r.parsed
    return (p.subscriber_id, p.plan.id, r.period_start, p.started_at, p.record_id)


def _walk(
    priced: list[_Priced],
    late: set[int],
    states: dict[PeriodKey, PeriodState],
    touched: dict[PeriodKey, PeriodState],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rated: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []

    def order(r: _Priced) -> tuple[Any, ...]:
        p = r.parsed
        return (p.subscriber_id, p.plan.id, r.period_start, *_processing_key(r, late))

    for r in sorted(priced, key=order):
        p = r.parsed
        key = (p.subscriber_id, p.plan.id, r.period_start)
        state = states.setdefault(key, PeriodState())
        touched[key] = state
        out, notes = _rate_one(r, state)
        out["is_late"] = p.row_number in late
        rated.append(out)
        notifications.extend(notes)
    return rated, notifications


def _rate_one(r: _Priced, state: PeriodState) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Charge one record given the counters of its period, and update them."""
    p = r.parsed
    plan = p.plan
    kind = r.rules.kind
    event = p.event_type
    units = r.units
    notes: list[dict[str, Any]] = []

    # §5.1 domestic price: pooled events use the allowance first; the rest is out of bundle.
    in_bundle = 0
    domestic = 0
    if r.domestic_rate_nanos is not None:
        oob_units = units
        if r.pool is not None:
            used_before = state.pool_used[r.pool]
            if r.pool_allowance is None:
                in_bundle = units  # unlimited never runs out
            else:
                in_bundle = min(max(r.pool_allowance - used_before, 0), units)
            state.pool_used[r.pool] = saturated(used_before + units)
            oob_units = units - in_bundle
        domestic = charge(oob_units, r.domestic_rate_nanos, r.divisor)

    # §5.2 fair use of rlah data; §5.2/§5.3 surcharges.
    surcharge = 0
    fup_used: int | None = None
    is_over_fup = False
    surcharged_units = 0
    if kind == _RLAH:
        if event == "data":
            state.fup_used_bytes = saturated(state.fup_used_bytes + units)
            fup_used = state.fup_used_bytes
            over = 0
            if r.fair_use is not None and r.fair_use.is_open_data_bundle:
                assert r.fup_allowance_bytes is not None
                over = min(max(fup_used - r.fup_allowance_bytes, 0), units)
            is_over_fup = over > 0
            surcharged_units = units if p.is_beyond_fair_use else over
        elif p.is_beyond_fair_use and event in ("voice_mo", "voice_mt", "sms_mo"):
            surcharged_units = units  # permanent-roaming control: every unit (sms_mt never)
        if surcharged_units:
            assert r.surcharge_rate_nanos is not None
            surcharge = charge(surcharged_units, r.surcharge_rate_nanos, r.divisor)
    elif kind == _SURCHARGE_CAP and r.surcharge_rate_nanos is not None:
        surcharge = charge(units, r.surcharge_rate_nanos, r.divisor)
    if r.total_max_rate_nanos is not None and (kind != _RLAH or surcharged_units > 0):
        # §5.3: the WB phase-1 absolute caps bind domestic price + surcharge in phases 2-3
        # (docs/law/western-balkans-phases.md); the EU total price cap binds a surcharged record.
        total_max = charge(units, r.total_max_rate_nanos, r.divisor)
        if domestic + surcharge > total_max:
            surcharge = max(total_max - domestic, 0)
            domestic = min(domestic, total_max)

    # §5.4, §5.5 roaming price.
    roaming = 0
    if r.roaming_rate_nanos is not None:
        roaming = charge(units, r.roaming_rate_nanos, r.divisor)

    # §5.6 bill-shock, over non-domestic data of non-M2M plans, in event order.
    blocked = False
    if r.billshock_limit_micros is not None:
        limit = r.billshock_limit_micros
        # cum_before / cum_after: running sums of the charges *before* the bill-shock step.
        cum_before = state.billshock_cum_micros
        cum_after = saturated(cum_before + domestic + surcharge + roaming)
        state.billshock_cum_micros = cum_after
        if not plan.billshock_continue:
            if cum_before >= limit:
                blocked = True
                domestic = surcharge = roaming = 0
            elif cum_before < limit < cum_after:
                # Cut to limit - cum_before: the excess comes from roaming, surcharge, domestic.
                excess = cum_after - limit
                for_roaming = min(excess, roaming)
                roaming -= for_roaming
                excess -= for_roaming
                for_surcharge = min(excess, surcharge)
                surcharge -= for_surcharge
                excess -= for_surcharge
                domestic -= excess
        notes.extend(_billshock_notifications(r, state, cum_after))

    if is_over_fup and "fup_exhausted" not in state.notified:
        state.notified.add("fup_exhausted")
        assert r.fair_use is not None
        notes.append(_notification(r, "fup_exhausted", None, _fair_use_basis(r.fair_use)))

    # §6 VAT.
    total = domestic + surcharge + roaming
    vat = vat_amount(total, _vat_rate_checked(plan, r.vat_rate))

    out = dict(p.row)
    out.update(
        row_number=p.row_number,
        local_date=r.local_date,
        billing_period_start=r.period_start,
        regime=r.rules.regime,
        rule_kind=kind,
        billed_units=r.billed_units,
        billed_unit=r.billed_unit,
        in_bundle_units=in_bundle,
        domestic_micros=domestic,
        surcharge_micros=surcharge,
        roaming_micros=roaming,
        charge_excl_vat_micros=total,
        vat_rate=r.vat_rate,
        vat_micros=vat,
        charge_incl_vat_micros=total + vat,
        currency=plan.currency,
        fup_allowance_bytes=r.fup_allowance_bytes if fup_used is not None else None,
        fup_used_bytes=fup_used,
        is_over_fup=is_over_fup,
        is_blocked_by_cutoff=blocked,
        parameters=";".join(sorted(r.parameters)),
    )
    return out, notes


def _billshock_notifications(
    r: _Priced, state: PeriodState, cum_after: int
) -> list[dict[str, Any]]:
    """billshock_80, billshock_100 and billshock_extra where each condition first holds (§5.6).

    ``threshold_micros`` is the amount the condition compares with: 80 % of the limit (rounded
    half-even to a micro), the limit, the extra-alert amount.
    """
    limit = r.billshock_limit_micros
    pct = r.billshock_alert_pct
    assert limit is not None
    assert pct is not None
    notes: list[dict[str, Any]] = []
    # min(cum_after, limit) >= pct/100 x limit, compared exactly (no rounding).
    if "billshock_80" not in state.notified and min(cum_after, limit) * 100 >= pct * limit:
        state.notified.add("billshock_80")
        threshold = micros(Decimal(limit) * pct / 100 / 1_000_000)
        notes.append(_notification(r, "billshock_80", threshold, r.billshock_basis["billshock_80"]))
    if "billshock_100" not in state.notified and cum_after >= limit:
        state.notified.add("billshock_100")
        notes.append(_notification(r, "billshock_100", limit, r.billshock_basis["billshock_100"]))
    extra = r.billshock_extra_micros
    if extra is not None and "billshock_extra" not in state.notified and cum_after >= extra:
        state.notified.add("billshock_extra")
        notes.append(
            _notification(r, "billshock_extra", extra, r.billshock_basis["billshock_extra"])
        )
    return notes


def _vat_rate_checked(plan: Plan, vat_rate: Decimal) -> Decimal:
    """The VAT rate, refused when it has more than 6 decimal places (a plan defect, §6)."""
    if vat_rate.scaleb(6) != vat_rate.scaleb(6).to_integral_value():
        raise TariffError(f"VAT rate {vat_rate} has more than 6 decimal places", plan_id=plan.id)
    return vat_rate


def _fair_use_basis(fair_use: FairUseVolume) -> str:
    return (
        "eu_2016_2286 (open data bundles); cap "
        f"{fair_use.cap_parameter}; eu_2022_612 Art. 13(3), 14(3)"
    )


def _notification(r: _Priced, kind: str, threshold: int | None, basis: str) -> dict[str, Any]:
    p = r.parsed
    return {
        "subscriber_id": p.subscriber_id,
        "plan_id": p.plan.id,
        "billing_period_start": r.period_start,
        "record_id": p.record_id,
        "started_at": p.started_at,
        "kind": kind,
        "threshold_micros": threshold,
        "currency": p.plan.currency,
        "basis": basis,
    }


# ------------------------------------------------------------------------------------------
# Step 4: welcome notifications (rating.md §5.6, §7b)


def _welcome_notifications(
    priced: list[_Priced],
    late: set[int],
    subscribers: dict[str, SubscriberState],
    touched: dict[str, SubscriberState],
) -> list[dict[str, Any]]:
    """``welcome`` on a subscriber's first non-domestic record in a new visited country.

    Per subscriber, across plans and periods, ordered by (started_at, record_id) (§7b). A record
    gets it when its regime is not domestic and its visited country differs from that of the
    subscriber's previous rated record, domestic ones included (or it is the first record).
    """
    notes: list[dict[str, Any]] = []
    for r in sorted(priced, key=lambda x: (x.parsed.subscriber_id, *_processing_key(x, late))):
        p = r.parsed
        state = subscribers.setdefault(p.subscriber_id, SubscriberState())
        touched[p.subscriber_id] = state
        before = state.last_visited
        state.last_visited = p.visited
        if p.row_number not in late:
            state.last_event = (p.started_at, p.record_id)
        if r.rules.kind != _DOMESTIC and p.visited != before:
            basis = (
                "eu_2022_612 Art. 13(1), 14(2) (welcome message on entering a visited country)"
                + (
                    ""
                    if r.rules.basis is None
                    else f"; regime {r.rules.regime}: {r.rules.basis.cite()}"
                )
            )
            notes.append(_notification(r, "welcome", None, basis))
    return notes

"""A traveller's trip as usage records, rated by the engine: the itemised bill of a trip.

The trip is spread evenly over its days (``utc_offset_min`` 0, so each record's governing date is
its UTC date): one data session a day at 00:00:30 with the day's share of the volume, calls made
and received in pieces of at most one hour from 00:00 (received ones a minute later), and the
day's SMS at 00:01. Charges, fair use and bill-shock come from :func:`roamlike.rating.rate_usage`
exactly as ``roamlike rate`` computes them; this module only builds the records and adds up.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import polars as pl

from roamlike.errors import FxError, NotInForceError, RoamlikeError
from roamlike.law import Rules, resolve
from roamlike.rating import rate_usage
from roamlike.tariffs import FairUse, FxTable, Plan, fair_use_allowance

MAX_DAYS = 92
MAX_DATA_MB = 1_000_000
MAX_MINUTES = 10_000
MAX_SMS = 10_000
CALL_PIECE_S = 3_600
SUBSCRIBER = "traveller"
#: Bill lines, in order: (event type, label).
EVENT_LABELS: tuple[tuple[str, str], ...] = (
    ("data", "Data"),
    ("voice_mo", "Calls made"),
    ("voice_mt", "Calls received"),
    ("sms_mo", "SMS sent"),
)
AMOUNT_COLUMNS = (
    "domestic_micros",
    "surcharge_micros",
    "roaming_micros",
    "charge_excl_vat_micros",
    "vat_micros",
    "charge_incl_vat_micros",
)


@dataclass(frozen=True)
class Trip:
    """A trip: where, when (inclusive days) and how much is used in total."""

    plan_id: str
    visited: str
    start: dt.date
    end: dt.date
    data_mb: int
    voice_out_min: int
    voice_in_min: int
    sms: int

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    def shifted(self, start: dt.date) -> Trip:
        """The same trip starting on another day (same length and usage)."""
        return Trip(
            self.plan_id,
            self.visited,
            start,
            start + (self.end - self.start),
            self.data_mb,
            self.voice_out_min,
            self.voice_in_min,
            self.sms,
        )

    def problems(self) -> list[str]:
        """What is wrong with the trip's figures (empty when it can be rated)."""
        out: list[str] = []
        if self.end < self.start:
            out.append("the last day is before the first day")
        elif self.days > MAX_DAYS:
            out.append(f"a trip lasts at most {MAX_DAYS} days, this one {self.days}")
        bounds = (
            ("data [MB]", self.data_mb, MAX_DATA_MB),
            ("minutes of calls made", self.voice_out_min, MAX_MINUTES),
            ("minutes of calls received", self.voice_in_min, MAX_MINUTES),
            ("SMS sent", self.sms, MAX_SMS),
        )
        out += [f"{name}: from 0 to {hi}, found {v}" for name, v, hi in bounds if not 0 <= v <= hi]
        return out


def _share(total: int, parts: int, index: int) -> int:
    """Part ``index`` of ``total`` split as evenly as possible (the first parts get the rest)."""
    base, rest = divmod(total, parts)
    return base + (1 if index < rest else 0)


def trip_records(trip: Trip, plan: Plan) -> list[dict[str, Any]]:
    """The canonical usage records of a trip (``docs/rating.md`` section 1.1)."""
    rows: list[dict[str, Any]] = []

    def add(kind: str, day: dt.date, n: int, second: int, **quantity: int) -> None:
        moment = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=second)
        rows.append(
            {
                "record_id": f"{kind}-{day.isoformat()}-{n}",
                "subscriber_id": SUBSCRIBER,
                "plan_id": plan.id,
                "event_type": kind,
                "started_at": moment.isoformat() + "Z",
                "utc_offset_min": 0,
                "home_country": plan.home_country,
                "visited_country": trip.visited,
                "duration_s": quantity.get("duration_s"),
                "volume_bytes": quantity.get("volume_bytes"),
                "count": quantity.get("count"),
            }
        )

    for i in range(trip.days):
        day = trip.start + dt.timedelta(days=i)
        volume = _share(trip.data_mb * 1_000_000, trip.days, i)
        if volume:
            add("data", day, 0, 30, volume_bytes=volume)
        for kind, minutes, offset in (
            ("voice_mo", trip.voice_out_min, 0),
            ("voice_mt", trip.voice_in_min, 60),
        ):
            seconds = _share(minutes * 60, trip.days, i)
            n = 0
            while seconds > 0:
                piece = min(seconds, CALL_PIECE_S)
                add(kind, day, n, offset + n * CALL_PIECE_S, duration_s=piece)
                seconds -= piece
                n += 1
        count = _share(trip.sms, trip.days, i)
        if count:
            add("sms_mo", day, 0, 60, count=count)
    return rows


_SCHEMA = {
    "record_id": pl.String,
    "subscriber_id": pl.String,
    "plan_id": pl.String,
    "event_type": pl.String,
    "started_at": pl.String,
    "utc_offset_min": pl.Int64,
    "home_country": pl.String,
    "visited_country": pl.String,
    "duration_s": pl.Int64,
    "volume_bytes": pl.Int64,
    "count": pl.Int64,
}


@dataclass(frozen=True)
class BillLine:
    """One service of the bill: units and the components, in micro-units of the plan currency."""

    event_type: str
    label: str
    records: int
    billed_units: int
    billed_unit: str
    in_bundle_units: int
    amounts: dict[str, int]


@dataclass(frozen=True)
class TripBill:
    """The rated trip: lines, totals, notifications, rejects, fair use and the rules applied."""

    trip: Trip
    plan: Plan
    rules: Rules
    lines: tuple[BillLine, ...]
    totals: dict[str, int]
    units_per_eur: Decimal | None
    fx_note: str
    fair_use: FairUse | None
    fair_use_note: str
    fup_used_bytes: int | None
    over_fup_bytes: int
    blocked_records: int
    notifications: tuple[dict[str, Any], ...]
    rejects: tuple[dict[str, Any], ...]


def _fair_use(plan: Plan, trip: Trip, rules: Rules, fx: FxTable) -> tuple[FairUse | None, str]:
    if rules.kind != "rlah":
        return None, f"no fair-use allowance: the trip is rated under {rules.kind}, not RLAH"
    try:
        return fair_use_allowance(plan, trip.start, fx, rules.regime), ""
    except RoamlikeError as exc:
        return None, f"no fair-use allowance could be computed: {exc}"


def price_trip(trip: Trip, plans: Mapping[str, Plan], fx: FxTable) -> TripBill:
    """Rate a trip with the engine and itemise the result.

    Parameters
    ----------
    trip : Trip
        Checked with :meth:`Trip.problems` first (it must be empty).
    plans : mapping of str to Plan
        Must hold ``trip.plan_id``.
    fx : FxTable
        Exchange rates (non-euro plans need them to roam, and for the euro column).

    Raises
    ------
    KeyError
        ``trip.plan_id`` is not in ``plans``.
    NotInForceError
        The first day is outside the catalog's coverage.
    """
    plan = plans[trip.plan_id]
    rules = resolve(plan.home_country, trip.visited, trip.start)
    records = trip_records(trip, plan)
    result = rate_usage(pl.DataFrame(records, schema=_SCHEMA), {plan.id: plan}, fx)
    rated = result.rated
    lines: list[BillLine] = []
    for kind, label in EVENT_LABELS:
        part = rated.filter(pl.col("event_type") == kind)
        if part.height == 0:
            continue
        lines.append(
            BillLine(
                kind,
                label,
                part.height,
                int(part["billed_units"].sum()),
                str(part["billed_unit"][0]),
                int(part["in_bundle_units"].sum()),
                {c: int(part[c].sum()) for c in AMOUNT_COLUMNS},
            )
        )
    totals = {c: sum(line.amounts[c] for line in lines) for c in AMOUNT_COLUMNS}
    data = rated.filter(pl.col("event_type") == "data")
    fup_used: int | None = data["fup_used_bytes"].to_list()[-1] if data.height else None
    fup_allowance: int | None = data["fup_allowance_bytes"].to_list()[0] if data.height else None
    fair_use, fair_use_note = _fair_use(plan, trip, rules, fx)
    units_per_eur: Decimal | None = Decimal(1) if plan.currency == "EUR" else None
    fx_note = ""
    if units_per_eur is None:
        try:
            rate = fx.rate(plan.currency, trip.start)
            units_per_eur = rate.units_per_eur
            fx_note = f"{rate.units_per_eur} {plan.currency} per EUR ({rate.method})"
        except (FxError, NotInForceError) as exc:
            fx_note = f"no euro equivalent: {exc}"
    over = 0
    if fup_used is not None and fup_allowance is not None:
        over = max(fup_used - fup_allowance, 0)
    return TripBill(
        trip=trip,
        plan=plan,
        rules=rules,
        lines=tuple(lines),
        totals=totals,
        units_per_eur=units_per_eur,
        fx_note=fx_note,
        fair_use=fair_use,
        fair_use_note=fair_use_note,
        fup_used_bytes=fup_used,
        over_fup_bytes=over,
        blocked_records=int(rated["is_blocked_by_cutoff"].sum()) if rated.height else 0,
        notifications=tuple(result.notifications.to_dicts()),
        rejects=tuple(result.rejects.to_dicts()),
    )

"""Synthetic usage from travel statistics: trips per (home, visited, month) and what a trip uses.

A flows file is a CSV with one row per (home country, visited country, month)::

    home_country,visited_country,month,trips,trip_days,voice_mo_min,voice_mt_min,sms_mo,sms_mt,data_mb
    RS,DE,2027-03,120,5,20,15,6,4,900

``trips`` trips start in the month (uniformly over its days, at a local hour of the diurnal
profile); each lasts ``trip_days`` days and uses, in total, ``voice_mo_min`` minutes of calls
made, ``voice_mt_min`` minutes of calls received, ``sms_mo``/``sms_mt`` messages and
``data_mb`` MB (decimal, 10^6 bytes) of data. Every trip is one traveller (one subscriber) on a
plan of the home country (the ``synth`` plans). The generated usage matches the file exactly:
per row, the records' seconds, messages and bytes sum to ``trips`` times the per-trip figures
(calls of about two minutes, one record per message, four data sessions a day, split at random).
Only roaming is generated; a traveller's use at home is not.

Bounds checked on reading (so the arithmetic stays exact and the output bounded): ``trips`` at
most 10^6 per row, ``trip_days`` 1 to 90, minutes and messages at most 10^4 and MB at most 10^6
per trip, at most :data:`MAX_RECORDS` records in all.
"""

from __future__ import annotations

import csv
import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

import numpy as np
import numpy.typing as npt
import polars as pl

from roamlike.errors import FxError, UsageInputError
from roamlike.law import Catalog, default_catalog
from roamlike.synth.generator import (
    _HOUR_P,
    SynthResult,
    _add_months,
    _plan,
    fx_reference_rows,
    local_offset_min,
)
from roamlike.tariffs.fx import FxTable

#: Columns of a flows file: (name, kind, upper bound).
FLOW_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("trips", "int", 10**6),
    ("trip_days", "int", 90),
    ("voice_mo_min", "dec", 10**4),
    ("voice_mt_min", "dec", 10**4),
    ("sms_mo", "int", 10**4),
    ("sms_mt", "int", 10**4),
    ("data_mb", "dec", 10**6),
)
#: Most records a flows file may produce.
MAX_RECORDS = 100_000_000
_CALL_S = 120
_SESSIONS_PER_DAY = 4
#: (event type, per-trip column, multiplier to the record's unit, unit per event)
_SERVICES: tuple[tuple[str, str, int], ...] = (
    ("voice_mo", "voice_mo_min", 60),
    ("voice_mt", "voice_mt_min", 60),
    ("sms_mo", "sms_mo", 1),
    ("sms_mt", "sms_mt", 1),
    ("data", "data_mb", 10**6),
)


@dataclass(frozen=True)
class Flow:
    """One row of a flows file, in the units of the records (seconds, messages, bytes)."""

    home: str
    visited: str
    month: dt.date
    trips: int
    trip_days: int
    per_trip: dict[str, int]  # event type -> seconds, messages or bytes per trip


def _number(text: str, kind: str, bound: int, where: str, column: str) -> Decimal:
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise UsageInputError(f"{where}: {column} must be a number, found {text!r}") from None
    if not value.is_finite() or value < 0 or value > bound:
        raise UsageInputError(f"{where}: {column} must be between 0 and {bound:,}, found {text!r}")
    if kind == "int" and value != value.to_integral_value():
        raise UsageInputError(f"{where}: {column} must be a whole number, found {text!r}")
    return value


def read_flows(path: Path, catalog: Catalog | None = None) -> list[Flow]:
    """Read and check a flows file.

    Raises
    ------
    UsageInputError
        Unreadable file, missing column, bad number, unknown country, home equal to visited,
        bad month (``YYYY-MM``), a bound exceeded; the message names the line.
    """
    cat = catalog or default_catalog()
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            rows = list(reader)
            header: list[str] = list(reader.fieldnames or [])
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UsageInputError(f"{path}: cannot read the flows file: {exc}") from exc
    needed = ["home_country", "visited_country", "month", *(c for c, _, _ in FLOW_COLUMNS)]
    missing = [c for c in needed if c not in header]
    if not rows or missing:
        raise UsageInputError(
            f"{path}: a flows file needs a header and rows with the columns {', '.join(needed)}"
            + (f"; missing: {', '.join(missing)}" if rows else "; the file has no rows")
        )
    flows: list[Flow] = []
    for line, row in enumerate(rows, start=2):
        where = f"{path}, line {line}"
        if None in row or any(v is None for v in row.values()):
            raise UsageInputError(f"{where}: the row has not as many fields as the header")
        home, visited = row["home_country"].strip().upper(), row["visited_country"].strip().upper()
        for column, code in (("home_country", home), ("visited_country", visited)):
            if code not in cat.countries:
                raise UsageInputError(
                    f"{where}: {column} {code!r} is not a country the catalog knows"
                )
        if home == visited:
            raise UsageInputError(f"{where}: home and visited country are both {home}: not a trip")
        try:
            month = dt.date.fromisoformat(row["month"].strip() + "-01")
        except ValueError:
            raise UsageInputError(
                f"{where}: month must be YYYY-MM, found {row['month']!r}"
            ) from None
        values = {c: _number(row[c], k, b, where, c) for c, k, b in FLOW_COLUMNS}
        if values["trip_days"] < 1:
            raise UsageInputError(f"{where}: trip_days must be at least 1")
        flows.append(
            Flow(
                home,
                visited,
                month,
                int(values["trips"]),
                int(values["trip_days"]),
                {event: int(values[column] * unit) for event, column, unit in _SERVICES},
            )
        )
    total = sum(f.trips * _records_per_trip(f) for f in flows)
    if total > MAX_RECORDS:
        raise UsageInputError(
            f"{path}: the flows make {total:,} records, more than {MAX_RECORDS:,}: split the file"
        )
    return flows


def _events(flow: Flow) -> dict[str, int]:
    """Records per trip per event type."""
    return {
        "voice_mo": math.ceil(flow.per_trip["voice_mo"] / _CALL_S),
        "voice_mt": math.ceil(flow.per_trip["voice_mt"] / _CALL_S),
        "sms_mo": flow.per_trip["sms_mo"],
        "sms_mt": flow.per_trip["sms_mt"],
        "data": _SESSIONS_PER_DAY * flow.trip_days if flow.per_trip["data"] else 0,
    }


def _records_per_trip(flow: Flow) -> int:
    return sum(_events(flow).values())


def _split(
    rng: np.random.Generator, totals: npt.NDArray[np.int64], parts: npt.NDArray[np.int64]
) -> npt.NDArray[np.int64]:
    """Split each ``totals[i]`` into ``parts[i]`` non-negative integers summing to it exactly."""
    owner = np.repeat(np.arange(totals.shape[0]), parts)
    weights = rng.gamma(2.0, 1.0, size=owner.shape[0])
    sums = np.bincount(owner, weights=weights, minlength=totals.shape[0])
    share = np.cumsum(weights) - np.repeat(np.cumsum(sums) - sums, parts)
    bounds = np.floor(share / sums[owner] * totals[owner] + 1e-9).astype(np.int64)
    last = np.cumsum(parts) - 1
    bounds[last[parts > 0]] = totals[parts > 0]
    previous = np.concatenate(([0], bounds[:-1]))
    previous[np.repeat(np.cumsum(parts) - parts, parts) == np.arange(owner.shape[0])] = 0
    out: npt.NDArray[np.int64] = bounds - previous
    return out


def generate_flows(flows: list[Flow], seed: int = 7) -> SynthResult:
    """Usage records matching ``flows`` exactly, with the plans and FX rates to rate them.

    Raises
    ------
    UsageInputError
        A home country's currency has no reference exchange rate for the plans.
    """
    rng = np.random.default_rng(seed)
    catalog = default_catalog()
    fx = FxTable.from_rows(fx_reference_rows(), source="fx_reference.csv")
    first = min(f.month for f in flows)
    homes = sorted({f.home for f in flows})
    plans = []
    for home in homes:
        currency = catalog.country(home).currency_at(first)
        try:
            rate = fx.rate(currency, first).units_per_eur
        except FxError as exc:
            raise UsageInputError(f"no plan can be priced for {home}: {exc}") from exc
        plans.append(_plan(home, currency, rate, "basic"))
    countries = sorted({f.home for f in flows} | {f.visited for f in flows})
    code = {c: i for i, c in enumerate(countries)}
    epoch = dt.datetime(first.year, first.month, 1, tzinfo=dt.UTC)
    frames = []
    for event, _column, _unit in _SERVICES:
        per_flow = np.array([_events(f)[event] for f in flows], dtype=np.int64)
        trips = np.array([f.trips for f in flows], dtype=np.int64)
        trip_flow = np.repeat(np.arange(len(flows)), trips)
        n_events = per_flow[trip_flow]
        if not n_events.sum():
            continue
        totals = np.array([f.per_trip[event] for f in flows], dtype=np.int64)[trip_flow]
        if event.startswith("sms"):  # one record per message
            amount = np.ones(int(n_events.sum()), dtype=np.int64)
        else:
            amount = _split(rng, totals, n_events)
        rec_trip = np.repeat(np.arange(trip_flow.shape[0]), n_events)
        rec_flow = trip_flow[rec_trip]
        frames.append((event, rec_trip, rec_flow, amount))
    if not frames:
        raise UsageInputError("the flows give no usage: every trip uses nothing")
    month_start = np.array([(f.month - first).days for f in flows], dtype=np.int64)
    month_days = np.array([(_add_months(f.month, 1) - f.month).days for f in flows], dtype=np.int64)
    trip_days = np.array([f.trip_days for f in flows], dtype=np.int64)
    total_trips = sum(f.trips for f in flows)
    all_flow = np.repeat(np.arange(len(flows)), [f.trips for f in flows])
    trip_day0 = month_start[all_flow] + rng.integers(0, month_days[all_flow])
    event_names = [e for e, _, _, _ in frames]
    rec_trip = np.concatenate([t for _, t, _, _ in frames])
    rec_flow = all_flow[rec_trip]
    amount = np.concatenate([a for _, _, _, a in frames])
    event_code = np.concatenate(
        [np.full(t.shape[0], i, dtype=np.int64) for i, (_, t, _, _) in enumerate(frames)]
    )
    n = rec_trip.shape[0]
    local_s = (trip_day0[rec_trip] + rng.integers(0, trip_days[rec_flow])) * 86_400
    local_s += rng.choice(24, size=n, p=_HOUR_P).astype(np.int64) * 3600
    local_s += rng.integers(0, 3600, size=n, dtype=np.int64)
    visited = np.array([code[f.visited] for f in flows], dtype=np.int64)[rec_flow]
    last_year = max(f.month.year for f in flows) + 1
    offset = local_offset_min(countries, visited, local_s, epoch, last_year)
    started_us = (
        int(epoch.timestamp()) * 1_000_000
        + (local_s - offset * 60) * 1_000_000
        + rng.integers(0, 1_000_000, size=n)
    )
    order = np.lexsort((rec_trip, started_us))
    names = pl.Series(countries, dtype=pl.String)
    home_codes = np.array([code[f.home] for f in flows], dtype=np.int64)[rec_flow]
    plan_ids = pl.Series([f"{h.lower()}-basic" for h in countries], dtype=pl.String)
    ev = pl.Series(event_names, dtype=pl.String)
    frame = pl.DataFrame(
        {
            "trip": rec_trip[order],
            "started_us": started_us[order],
            "offset": offset[order].astype(np.int32),
            "home": home_codes[order],
            "visited": visited[order],
            "event": event_code[order],
            "amount": amount[order],
        }
    )
    width = max(10, len(str(n)))
    is_voice = pl.col("event_type").str.starts_with("voice")
    is_sms = pl.col("event_type").str.starts_with("sms")
    usage = frame.select(
        record_id=pl.lit("f")
        + pl.int_range(1, n + 1, dtype=pl.Int64).cast(pl.String).str.zfill(width),
        subscriber_id=pl.lit("t") + pl.col("trip").cast(pl.String).str.zfill(len(str(total_trips))),
        plan_id=plan_ids.gather(frame["home"]),
        event_type=ev.gather(frame["event"]),
        started_at=pl.col("started_us").cast(pl.Datetime("us", "UTC")),
        utc_offset_min=pl.col("offset"),
        home_country=names.gather(frame["home"]),
        visited_country=names.gather(frame["visited"]),
        destination_country=pl.lit(None, dtype=pl.String),
        amount=pl.col("amount"),
    ).select(
        pl.exclude("amount"),
        duration_s=pl.when(is_voice).then(pl.col("amount")),
        volume_bytes=pl.when(pl.col("event_type") == "data").then(pl.col("amount")),
        count=pl.when(is_sms).then(pl.col("amount").clip(1)),
        is_beyond_fair_use=pl.lit(False),
    )
    usage = usage.with_columns(
        destination_country=pl.when(pl.col("event_type").is_in(["voice_mo", "sms_mo"])).then(
            pl.col("home_country")
        )
    )
    currencies = {p["currency"] for p in plans} - {"EUR"}
    fx_rows = [row for row in fx_reference_rows() if row[1] in currencies]
    return SynthResult(usage=usage, plans=plans, fx_rows=fx_rows)

"""The price table: every unit rate the engine applies, per (plan, visited country, segment, event).

Rates change only when the law, an exchange rate or a VAT rate changes, so they are computed
once per *segment* (a date range with the same law, FX and VAT) in Decimal, following
docs/rating.md §4-5, and joined to the records as-of their local date. No per-record work here.

Segments start at the catalog's change dates (every ``valid_from`` of the law's effective-dated
table is one of them), the FX change dates of the plan currency and the VAT change dates of the
home country, clipped to the dates present in the usage.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal

import polars as pl

from roamlike import money
from roamlike.errors import FxError, NotInForceError, TariffError
from roamlike.law import Catalog, Rules, default_catalog, resolve, value_at
from roamlike.rating import reasons
from roamlike.tariffs import FxTable, Plan, excl_vat, fair_use_allowance, plan_vat_rate

GB_BYTES = {False: 10**9, True: 2**30}
MB_BYTES = {False: 10**6, True: 2**20}
MB_PER_GB = {False: Decimal(1000), True: Decimal(1024)}
BILLSHOCK_LIMIT = "eu.billshock.default_limit_eur"
BILLSHOCK_ALERT = "eu.billshock.alert_pct"
BILLSHOCK_EXTRA = "eu.billshock.extra_alert_eur"
REGULATED_KINDS = ("rlah", "surcharge_cap", "retail_cap")
POOL_KINDS = ("domestic", "rlah", "surcharge_cap")

#: Columns of the price table and their types.
SCHEMA: dict[str, pl.DataType] = {
    "plan_id": pl.String(),
    "visited_country": pl.String(),
    "event_type": pl.String(),
    "valid_from": pl.Date(),
    "seg_reason": pl.String(),  # a reject code for every record of the segment, or null
    "seg_message": pl.String(),
    "regime": pl.String(),
    "rule_kind": pl.String(),
    "vat_ppm": pl.Int64(),
    "initial_s": pl.Int64(),
    "dom_nanos": pl.Int64(),  # domestic unit rate (out of bundle), per law unit
    "sur_nanos": pl.Int64(),  # surcharge rate; null: no surcharge rate available
    "ret_nanos": pl.Int64(),  # retail roaming rate (retail_cap, offer_cap, unregulated)
    # retail price max bounding domestic + surcharge (WB phases 2-3; EU 2017-2022 when surcharged)
    "max_nanos": pl.Int64(),
    "fup_is_open": pl.Boolean(),
    "fup_allowance_bytes": pl.Int64(),
    "billshock_limit_micros": pl.Int64(),
    "billshock_alert_pct": pl.Int64(),
    "billshock_extra_micros": pl.Int64(),
    "parameters": pl.String(),
}


@dataclass
class _Rates:
    dom: Decimal | None = None
    sur: Decimal | None = None
    ret: Decimal | None = None
    max: Decimal | None = None
    reason: str | None = None
    message: str | None = None


#: Largest unit rate the engine's exact Int64 arithmetic is proven for (money.mul_div_round).
MAX_RATE_NANOS = 10**15
#: Largest bill-shock limit or extra alert, in micros (a running sum of charges stays in Int64).
MAX_LIMIT_MICROS = 10**18


def _nanos(value: Decimal | None) -> int | None:
    if value is None:
        return None
    nanos = money.rate_nanos(value)
    if nanos > MAX_RATE_NANOS:
        raise TariffError(
            f"a unit rate of {value} per minute, message or MB is above the engine's bound of "
            f"{MAX_RATE_NANOS // money.NANOS_PER_UNIT:,} currency units: check the plan prices"
        )
    return nanos


def _capped(plan_value: Decimal | None, cap: Decimal | None) -> Decimal | None:
    """The plan's own price, never above the cap; the cap when the plan names none."""
    if plan_value is None:
        return cap
    if cap is None:
        return plan_value
    return min(plan_value, cap)


#: Rows of segments that differ only in their visited country, by :func:`_shared_key`.
SharedRows = dict[tuple[str, dt.date, str, str, int], list[dict[str, object]]]


def _shared_key(
    plan: Plan, visited: str, start: dt.date, rules: Rules
) -> tuple[str, dt.date, str, str, int]:
    """What a segment's rows depend on besides the visited country's name.

    The rates of §4-5 depend on the visited country only through the rules in force (their
    regime, whose phase on ``start`` fixes the kind and the caps) and, for the kinds priced
    from the plan's roaming price list, through the entry of that list it falls under (its
    position; -1 for none). Pool kinds do not read the list (position -2).
    """
    if rules.kind in POOL_KINDS:
        entry = -2
    else:
        found = plan.roaming_price(visited)
        entry = -1 if found is None else plan.roaming_prices.index(found)
    return plan.id, start, rules.regime, rules.kind, entry


def segment_rows(
    plan: Plan,
    visited: str,
    start: dt.date,
    fx: FxTable,
    catalog: Catalog | None = None,
    *,
    shared: SharedRows | None = None,
) -> list[dict[str, object]]:
    """The price-table rows (one per event type) of one segment starting on ``start``.

    ``shared`` (kept by :func:`price_table` for one build) holds the rows already computed for
    another visited country with the same rules and price entry (:func:`_shared_key`): their
    copies with this ``visited_country`` are the same rows (on the benchmark's 4 million
    records, the first table's 2,444 segments of 880 pairs come from 556 computations). Rows
    carrying a message that names the visited country (no price or cap for it) are never
    shared.
    """
    catalog = catalog or default_catalog()
    try:
        rules = resolve(plan.home_country, visited, start, catalog)
    except NotInForceError as exc:
        return [
            {
                "plan_id": plan.id,
                "visited_country": visited,
                "valid_from": start,
                "event_type": e,
                "seg_reason": reasons.NO_RULE_IN_FORCE,
                "seg_message": str(exc),
            }
            for e in reasons.EVENT_TYPES
        ]
    if shared is None:
        return _rules_rows(plan, visited, start, rules, fx, catalog)
    key = _shared_key(plan, visited, start, rules)
    known = shared.get(key)
    if known is not None:
        return [{**row, "visited_country": visited} for row in known]
    rows = _rules_rows(plan, visited, start, rules, fx, catalog)
    # pool kinds word their messages without the visited country (no domestic MMS price, no
    # FX rate); the price-list kinds name it in theirs
    if rules.kind in POOL_KINDS or all(row.get("seg_message") is None for row in rows):
        shared[key] = rows
    return rows


def _rules_rows(
    plan: Plan, visited: str, start: dt.date, rules: Rules, fx: FxTable, catalog: Catalog
) -> list[dict[str, object]]:
    """:func:`segment_rows` under the rules in force."""
    base: dict[str, object] = {
        "plan_id": plan.id,
        "visited_country": visited,
        "valid_from": start,
    }
    base["regime"] = rules.regime
    base["rule_kind"] = rules.kind
    base["vat_ppm"] = money.vat_ppm(plan_vat_rate(plan, start, catalog))
    kind = rules.kind
    units_per_eur = Decimal(1)
    if kind != "domestic" and plan.currency != "EUR":
        try:
            units_per_eur = fx.rate(plan.currency, start).units_per_eur
        except FxError as exc:
            return [
                {**base, "event_type": e, "seg_reason": reasons.NO_FX_RATE, "seg_message": str(exc)}
                for e in reasons.EVENT_TYPES
            ]
    segment_parameters: list[str] = []
    # Art. 14 binds the providers of a regime that declares it (regimes.yaml: the EU/EEA, UA and
    # MD from 2026); other plans only with their own limit
    home_bound = catalog.binds_billshock(plan.home_country, start)
    if kind != "domestic" and (home_bound or plan.billshock_limit_eur is not None):
        limit_eur = plan.billshock_limit_eur
        if limit_eur is None:
            limit_eur = value_at(BILLSHOCK_LIMIT, start, catalog).value
            segment_parameters.append(BILLSHOCK_LIMIT)
        limit_micros = money.to_micros(limit_eur * units_per_eur)
        if limit_micros > MAX_LIMIT_MICROS:
            raise TariffError(
                f"a bill-shock limit of {limit_eur} EUR x {units_per_eur} {plan.currency}/EUR is "
                f"above the engine's bound of {MAX_LIMIT_MICROS // money.MICROS_PER_UNIT:,} "
                f"{plan.currency}: check billshock_limit_eur and the FX table",
                plan_id=plan.id,
            )
        base["billshock_limit_micros"] = limit_micros
        base["billshock_alert_pct"] = int(value_at(BILLSHOCK_ALERT, start, catalog).value)
        if plan.billshock_limit_eur is None and plan.billshock_continue:
            try:
                extra = value_at(BILLSHOCK_EXTRA, start, catalog).value
                base["billshock_extra_micros"] = money.to_micros(extra * units_per_eur)
            except NotInForceError:
                pass
    if kind == "rlah":
        fair = fair_use_allowance(plan, start, fx, rules.regime, catalog=catalog)
        base["fup_is_open"] = fair.is_open_data_bundle
        if fair.allowance_gb is not None:
            base["fup_allowance_bytes"] = int(fair.allowance_gb * GB_BYTES[plan.binary_units])
        segment_parameters.append(fair.cap_parameter)

    rows = []
    for event in reasons.EVENT_TYPES:
        rates, used = _event_rates(plan, visited, rules, event, start, units_per_eur, catalog)
        row = dict(base)
        row["event_type"] = event
        row["seg_reason"] = rates.reason
        row["seg_message"] = rates.message
        row["dom_nanos"] = _nanos(rates.dom)
        row["sur_nanos"] = _nanos(rates.sur)
        row["ret_nanos"] = _nanos(rates.ret)
        row["max_nanos"] = _nanos(rates.max)
        row["initial_s"] = _initial_s(plan, rules, start, catalog) if event == "voice_mo" else 0
        initial_max = _initial_max_parameter(rules, catalog)
        if event == "voice_mo" and initial_max:
            used.append(initial_max)
        row["parameters"] = ";".join(sorted(set(used + segment_parameters)))
        rows.append(row)
    return rows


def _initial_max_parameter(rules: Rules, catalog: Catalog) -> str:
    """The regime's declared longest initial period of calls made (regulated kinds), or ""."""
    if rules.kind not in REGULATED_KINDS:
        return ""
    return catalog.regime(rules.regime).rules.voice_mo_initial_max


def _initial_s(plan: Plan, rules: Rules, on: dt.date, catalog: Catalog) -> int:
    declared = plan.charging.voice_mo_initial_s
    if rules.kind == "domestic":
        return 0
    initial_max = _initial_max_parameter(rules, catalog)
    if initial_max:
        legal = int(value_at(initial_max, on, catalog).value)
        return min(declared, legal)
    return declared


def _event_rates(
    plan: Plan,
    visited: str,
    rules: Rules,
    event: str,
    on: dt.date,
    units_per_eur: Decimal,
    catalog: Catalog,
) -> tuple[_Rates, list[str]]:
    """Unit rates (plan currency excl. VAT, per law unit) for one event type (rating.md §5)."""
    used: list[str] = []
    binary = plan.binary_units

    def net(value: Decimal | None) -> Decimal | None:
        return None if value is None else excl_vat(plan, value, on, catalog)

    def cap(service: str, measure: str) -> Decimal | None:
        c = rules.cap(service, measure)
        if c is None:
            return None
        used.append(c.parameter)
        value = c.value * units_per_eur
        if c.unit == "EUR/GB":
            value = value / MB_PER_GB[binary]
        return value

    oob = plan.out_of_bundle
    sur_plan = plan.surcharges
    per_mb = (
        (sur_plan.data_per_gb / MB_PER_GB[binary]) if sur_plan.data_per_gb is not None else None
    )
    plan_surcharge = {
        "voice_mo": sur_plan.voice_mo_per_min,
        "voice_mt": sur_plan.voice_mt_per_min,
        "sms_mo": sur_plan.sms_mo,
        "data": per_mb,
    }
    domestic_rate = {
        "voice_mo": oob.voice_per_min,
        "voice_mt": oob.voice_mt_per_min,
        "sms_mo": oob.sms,
        "sms_mt": Decimal(0),
        "data": oob.data_per_mb,
        "mms_mo": oob.mms,
    }
    kind = rules.kind
    r = _Rates()
    if kind in POOL_KINDS:
        r.dom = net(domestic_rate[event])
        if event == "sms_mt":
            r.dom = Decimal(0)
        if r.dom is None:  # only mms without a domestic price
            r.reason = reasons.NO_PRICE
            r.message = f"plan {plan.id!r} has no out_of_bundle.mms price for MMS"
        if kind == "rlah" and event in ("voice_mo", "voice_mt", "sms_mo", "data"):
            r.sur = _capped(net(plan_surcharge[event]), cap(event, "retail_surcharge_max"))
            if event != "voice_mt" and rules.cap(event, "retail_price_max") is not None:
                # 531/2012 Art. 6e(1)(b), 2017-06-15..2022-06-30: domestic + surcharge bounded
                r.max = cap(event, "retail_price_max")
        if kind == "surcharge_cap":
            if event == "voice_mt":
                r.max = cap("voice_mt", "retail_price_max")
                r.sur = _capped(net(plan_surcharge["voice_mt"]), r.max)
            elif event in ("voice_mo", "sms_mo", "data"):
                r.sur = _capped(net(plan_surcharge[event]), cap(event, "retail_surcharge_max"))
                r.max = cap(event, "retail_price_max")
        return r, used
    # retail_cap, offer_cap, unregulated: the plan's roaming price list
    entry = plan.roaming_price(visited)
    price = None
    if entry is not None:
        price = {
            "voice_mo": entry.voice_mo_per_min,
            "voice_mt": entry.voice_mt_per_min,
            "sms_mo": entry.sms_mo,
            "sms_mt": entry.sms_mt,
            "data": entry.data_per_mb,
            "mms_mo": entry.mms,
        }[event]
    if kind == "retail_cap":
        if event == "sms_mt":
            r.ret = Decimal(0)
        elif event == "mms_mo":
            r.ret = net(price)
            if r.ret is None:
                r.reason = reasons.NO_PRICE
                r.message = f"plan {plan.id!r} has no roaming MMS price for {visited}"
        else:
            limit = cap(event, "retail_price_max")
            if limit is None:
                r.reason = reasons.NO_RULE_IN_FORCE
                r.message = f"no retail price cap in force for {event} in {visited} on {on}"
            r.ret = _capped(net(price), limit)
        return r, used
    r.ret = net(price)
    if r.ret is None and event == "sms_mt":
        r.ret = Decimal(0)
    if r.ret is None:
        r.reason = reasons.NO_PRICE_OUTSIDE_REGULATED_ZONE
        r.message = (
            f"{rules.regime} route {plan.home_country}->{visited}: plan {plan.id!r} names no "
            f"roaming price for {event} in {visited} (nor a '*' entry); the engine never invents "
            "a price"
        )
    return r, used


def segment_starts(
    plan: Plan,
    visited: str,
    lo: dt.date,
    hi: dt.date,
    fx: FxTable,
    table_dates: Iterable[dt.date],
    catalog: Catalog | None = None,
) -> list[dt.date]:
    """Segment starts covering [lo, hi]: the last change on or before ``lo``, then every date in
    (lo, hi] on which any input of the pair's rates may change.

    Starting the first segment at a change date rather than at ``lo`` makes segments the same
    whatever the records' first date, so batches of one run share them (``SegmentCache``).
    """
    dates = set(table_dates)
    if plan.currency != "EUR" and plan.home_country != visited:
        dates.update(fx.change_dates(plan.currency))
    if plan.vat_rate is None:
        country = (catalog or default_catalog()).country(plan.home_country)
        dates.update(v.start for v in country.vat_standard)
    before = [d for d in dates if d <= lo]
    first = max(before) if before else lo
    return [first, *sorted(d for d in dates if lo < d <= hi)]


SegmentCache = dict[tuple[str, str, dt.date], list[dict[str, object]]]


def price_table(
    pairs: pl.DataFrame,
    plans: Mapping[str, Plan],
    fx: FxTable,
    cache: SegmentCache | None = None,
    *,
    catalog: Catalog | None = None,
) -> pl.DataFrame:
    """Build the price table for the (plan_id, visited_country, lo, hi) rows of ``pairs``.

    ``lo``/``hi`` are the first and last local dates of the records of that pair. ``cache``
    keeps computed segments across calls with the same plans and FX (batches of one run).
    """
    # every date on which anything in the catalog changes: a superset of the pair's own
    # changes (the law's effective-dated table), without building that table for all pairs
    catalog = catalog or default_catalog()
    law_dates = catalog.change_dates()
    rows: list[dict[str, object]] = []
    shared: SharedRows = {}
    for plan_id, visited, lo, hi in zip(
        *(pairs.get_column(c).to_list() for c in ("plan_id", "visited_country", "lo", "hi")),
        strict=True,
    ):
        plan = plans[plan_id]
        for start in segment_starts(plan, visited, lo, hi, fx, law_dates, catalog):
            if cache is None:
                rows.extend(segment_rows(plan, visited, start, fx, catalog, shared=shared))
                continue
            key = (plan_id, visited, start)
            if key not in cache:
                cache[key] = segment_rows(plan, visited, start, fx, catalog, shared=shared)
            rows.extend(cache[key])
    return pl.DataFrame(rows, schema=SCHEMA, orient="row").sort("valid_from")

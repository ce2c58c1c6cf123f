"""Small frames through the vectorized engine, compared exactly (docs/rating.md).

Every expected figure is an integer worked out in the comment next to it from the plan, the
catalog value in force and the rounding rules of ``roamlike.money`` (half-even: rates to 10^-9,
charges and VAT to 10^-6 of the currency). The figures shared with ``tests/reference/test_rater.py``
are the same: the engine and the reference rater implement one contract.

Input frames are built with every column as ``String`` (what ``read_usage`` gives for CSV and
JSON lines) unless a test says otherwise.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from builders import make_plan, rec, rs_plan
from roamlike.rating import RATED_COLUMNS, RatingResult, rate_usage
from roamlike.tariffs import FxTable, Plan, parse_plan

RSD_FX = FxTable.from_rows([(dt.date(2019, 7, 1), "RSD", Decimal("117.5"))])

CANONICAL = [
    "record_id",
    "subscriber_id",
    "plan_id",
    "event_type",
    "started_at",
    "utc_offset_min",
    "home_country",
    "visited_country",
    "destination_country",
    "duration_s",
    "volume_bytes",
    "count",
    "is_beyond_fair_use",
]


def text_frame(records: list[dict[str, Any]]) -> pl.DataFrame:
    """Records as a CSV-like frame: every column String, absent values null."""
    names = list(CANONICAL)
    for r in records:
        names.extend(k for k in r if k not in names)
    data = {
        n: [None if r.get(n) is None else str(r[n]) for r in records] for n in names
    }  # str(True) = "True": accepted case-insensitively (rating.md §7b)
    return pl.DataFrame(data, schema=dict.fromkeys(names, pl.String))


def rate(
    records: list[dict[str, Any]], plans: dict[str, Plan], fx: FxTable | None = None
) -> RatingResult:
    return rate_usage(text_frame(records), plans, fx)


def by_id(result: RatingResult) -> dict[str, dict[str, Any]]:
    return {r["record_id"]: r for r in result.rated.iter_rows(named=True)}


def reasons(result: RatingResult) -> dict[str, str]:
    return dict(zip(result.rejects["record_id"], result.rejects["reason_code"], strict=True))


def kinds(result: RatingResult) -> list[tuple[str, str]]:
    return list(zip(result.notifications["record_id"], result.notifications["kind"], strict=True))


def charges(row: dict[str, Any]) -> tuple[int, int, int, int, int, int]:
    return (
        row["domestic_micros"],
        row["surcharge_micros"],
        row["roaming_micros"],
        row["charge_excl_vat_micros"],
        row["vat_micros"],
        row["charge_incl_vat_micros"],
    )


# ------------------------------------------------------------------------------------------
# The must-holds


def test_p10_not_open_bundle_domestic_volume_at_home_price_then_out_of_bundle() -> None:
    # EUR 20.00 incl. 19 % VAT = 16.806... excl. for 10 GB = 1.68 EUR/GB > wholesale cap 2026
    # 1.10 EUR/GB: not an open data bundle. 10 GB in AT in bundle; beyond, 0.01 incl. VAT per MB
    # = 0.008403361 EUR/MB: 1 MB -> 8403.361 -> 8403 micros, VAT 1596.57 -> 1597.
    result = rate(
        [
            rec("b", volume_bytes=10**6, started_at="2026-03-03T10:00:00Z"),
            rec("a", volume_bytes=10 * 10**9, started_at="2026-03-02T10:00:00Z"),
        ],
        {"de": make_plan()},
    )
    assert result.rejects.height == 0
    a, b = by_id(result)["a"], by_id(result)["b"]
    assert (a["regime"], a["rule_kind"]) == ("eu_rlah", "rlah")
    assert a["in_bundle_units"] == 10 * 10**9
    assert charges(a) == (0, 0, 0, 0, 0, 0)
    assert a["fup_allowance_bytes"] == 10 * 10**9  # the domestic volume, reported
    assert b["in_bundle_units"] == 0
    assert charges(b) == (8403, 0, 0, 8403, 1597, 10_000)
    assert b["fup_used_bytes"] == 10 * 10**9 + 10**6
    assert (a["is_over_fup"], b["is_over_fup"]) == (False, False)  # never surcharged


def test_p10_open_bundle_fair_use_allowance_then_surcharge_at_cap() -> None:
    # Unlimited data at EUR 30.00 excl. VAT, 2026: 2 x 30 / 1.10 = 54.5454... GB
    # -> floor(x 10^9) = 54 545 454 545 B. The first record uses exactly that (in billed bytes:
    # 54 545 455 kB = 455 B over: 455 x 1 100 000 / 10^9 = 0.5005 -> 1 micro); one further GB in
    # FR at the cap 1.10 EUR/GB: 1 100 000 micros, VAT 19 % 209 000.
    plans = {
        "de": make_plan(price="30.00", price_includes_vat=False, data_allowance_gb="unlimited")
    }
    result = rate(
        [
            rec("a", volume_bytes=54_545_454_545, visited_country="FR"),
            rec("b", volume_bytes=10**9, visited_country="FR", started_at="2026-03-11T10:00:00Z"),
        ],
        plans,
    )
    a, b = by_id(result)["a"], by_id(result)["b"]
    assert a["fup_allowance_bytes"] == 54_545_454_545
    assert charges(a) == (0, 1, 0, 1, 0, 1)
    assert b["fup_allowance_bytes"] == 54_545_454_545
    assert b["in_bundle_units"] == 10**9  # unlimited domestic data
    assert charges(b) == (0, 1_100_000, 0, 1_100_000, 209_000, 1_309_000)
    assert b["is_over_fup"] is True
    assert "eu.retail.surcharge.data_eur_per_gb" in b["parameters"].split(";")
    assert kinds(result) == [("a", "fup_exhausted"), ("a", "welcome")]


def test_wb_rra_phase1_retail_cap_in_rsd_then_rlah_from_2021_07_01() -> None:
    # RS in ME on 2019-08-01 (phase 1): no roaming price, so the cap 0.19 EUR/min x 117.5 RSD
    # = 22.325 RSD/min; 600 s -> 223.25 RSD. VAT RS 20 % -> 44.65 RSD.
    # 2021-08-01 (RLAH): domestic price only, 0 minutes included: 10 RSD/min x 10 = 100 RSD.
    call = {
        "plan_id": "rs",
        "home_country": "RS",
        "visited_country": "ME",
        "event_type": "voice_mo",
        "duration_s": 600,
        "volume_bytes": None,
    }
    result = rate(
        [
            rec("p1", started_at="2019-08-01T10:00:00Z", **call),
            rec("p4", started_at="2021-08-01T10:00:00Z", **call),
        ],
        {"rs": rs_plan(voice_allowance_min="0")},
        RSD_FX,
    )
    p1, p4 = by_id(result)["p1"], by_id(result)["p4"]
    assert (p1["regime"], p1["rule_kind"]) == ("wb_rra", "retail_cap")
    assert p1["roaming_micros"] == 223_250_000
    assert charges(p1) == (0, 0, 223_250_000, 223_250_000, 44_650_000, 267_900_000)
    assert p1["currency"] == "RSD"
    assert "wb.retail.price_max.voice_mo_eur_per_min" in p1["parameters"].split(";")
    assert (p4["regime"], p4["rule_kind"]) == ("wb_rra", "rlah")
    assert charges(p4)[:4] == (100_000_000, 0, 0, 100_000_000)


def test_rating_md_7_three_rejects_and_every_other_record_rated() -> None:
    records = [
        rec("a"),
        rec("b", started_at="2026-13-01T10:00:00Z"),
        rec("a", started_at="2026-03-11T10:00:00Z"),
        rec("c", visited_country="ZZ"),
        rec("d", visited_country="fr"),
        rec("e", event_type="sms_mo", volume_bytes=None),
    ]
    result = rate(records, {"de": make_plan()})
    assert list(zip(result.rejects["row_number"], result.rejects["reason_code"], strict=True)) == [
        (1, "BAD_TIMESTAMP"),
        (2, "DUPLICATE_RECORD_ID"),
        (3, "UNKNOWN_COUNTRY"),
    ]
    assert result.rated["row_number"].to_list() == [0, 4, 5]
    assert result.rated["record_id"].to_list() == ["a", "d", "e"]
    assert result.read == len(records) == result.rated.height + result.rejects.height
    assert all(result.rejects["message"].str.len_chars() > 0)


# ------------------------------------------------------------------------------------------
# §2: governing date (docs/law/governing-date.md) and billing periods


def test_p12_local_date_governs_the_rules_in_force() -> None:
    # 2021-06-30 23:30 UTC + 120 min = 2021-07-01 01:30 local: WB RLAH (phase 4), not phase 3.
    # The same instant at offset 0 is rated on 2021-06-30 under phase 3 (surcharge_cap).
    call = {
        "plan_id": "rs",
        "home_country": "RS",
        "visited_country": "ME",
        "event_type": "voice_mo",
        "duration_s": 600,
        "started_at": "2021-06-30T23:30:00Z",
    }
    result = rate(
        [rec("local", utc_offset_min=120, **call), rec("utc", utc_offset_min=0, **call)],
        {"rs": rs_plan()},
        RSD_FX,
    )
    rows = by_id(result)
    assert rows["local"]["local_date"] == dt.date(2021, 7, 1)
    assert rows["local"]["rule_kind"] == "rlah"
    assert charges(rows["local"])[:4] == (0, 0, 0, 0)  # unlimited minutes, no surcharge
    assert rows["utc"]["local_date"] == dt.date(2021, 6, 30)
    assert rows["utc"]["rule_kind"] == "surcharge_cap"
    # phase 3 surcharge cap 0.05 EUR/min x 117.5 = 5.875 RSD/min; 10 min -> 58.75 RSD.
    assert charges(rows["utc"])[:4] == (0, 58_750_000, 0, 58_750_000)


def test_rating_md_2_catalog_coverage_starts_on_local_2017_06_15() -> None:
    # 2017-06-14 23:30 UTC + 60 min = 2017-06-15 local: in force. 22:30 UTC: 2017-06-14 local.
    result = rate(
        [
            rec("in", started_at="2017-06-14T23:30:00Z"),
            rec("out", started_at="2017-06-14T22:30:00Z"),
        ],
        {"de": make_plan()},
    )
    assert by_id(result)["in"]["local_date"] == dt.date(2017, 6, 15)
    assert by_id(result)["in"]["rule_kind"] == "rlah"
    assert reasons(result) == {"out": "NO_RULE_IN_FORCE"}


def test_rating_md_2_28_day_periods_from_period_anchor() -> None:
    # Anchor 2026-03-05: periods start 2026-02-05, 2026-03-05, 2026-04-02. One SMS included per
    # period: the SMS of 03-05 opens a new period (in bundle), the one of 04-01 shares that
    # period (out of bundle: 0.10 incl. 19 % = 0.084033613 -> 84 034 micros).
    plan = make_plan(billing_period="28d", period_anchor="2026-03-05", sms_allowance=1)
    sms = {"event_type": "sms_mo", "volume_bytes": None, "visited_country": "DE"}
    result = rate(
        [
            rec("feb", started_at="2026-03-04T10:00:00Z", **sms),
            rec("mar", started_at="2026-03-05T10:00:00Z", **sms),
            rec("mar2", started_at="2026-04-01T10:00:00Z", **sms),
            rec("apr", started_at="2026-04-02T10:00:00Z", **sms),
        ],
        {"de": plan},
    )
    rows = by_id(result)
    starts = {k: rows[k]["billing_period_start"] for k in rows}
    assert starts == {
        "feb": dt.date(2026, 2, 5),
        "mar": dt.date(2026, 3, 5),
        "mar2": dt.date(2026, 3, 5),
        "apr": dt.date(2026, 4, 2),
    }
    assert [rows[k]["in_bundle_units"] for k in ("feb", "mar", "mar2", "apr")] == [1, 1, 0, 1]
    assert rows["mar2"]["domestic_micros"] == 84_034


def test_rating_md_2_28_day_default_anchor_and_calendar_month() -> None:
    # Default anchor 2017-01-02 (a Monday): 2026-03-10 lies in the period from
    # 2017-01-02 + 119 x 28 days = 2026-02-16. Monthly and prepaid plans: the 1st of the month.
    plans = {
        "d": make_plan(id="d", billing_period="28d"),
        "m": make_plan(id="m"),
        "p": make_plan(id="p", billing_period="prepaid"),
    }
    result = rate([rec(k, plan_id=k) for k in plans], plans)
    starts = {k: r["billing_period_start"] for k, r in by_id(result).items()}
    assert starts == {"d": dt.date(2026, 2, 16), "m": dt.date(2026, 3, 1), "p": dt.date(2026, 3, 1)}


# ------------------------------------------------------------------------------------------
# §3: billed units


def test_eu_2022_612_art8_initial_30_s_only_for_calls_made_while_roaming() -> None:
    # Roaming call made: at least 30 s; received: per second; domestic call made: per second.
    voice = {"volume_bytes": None, "duration_s": 5}
    result = rate(
        [
            rec("mo", event_type="voice_mo", **voice),
            rec("mt", event_type="voice_mt", **voice),
            rec("home", event_type="voice_mo", visited_country="DE", **voice),
            rec("zero", event_type="voice_mo", volume_bytes=None, duration_s=0),
        ],
        {"de": make_plan()},
    )
    rows = by_id(result)
    units = {k: (r["billed_units"], r["billed_unit"]) for k, r in rows.items()}
    assert units == {"mo": (30, "s"), "mt": (5, "s"), "home": (5, "s"), "zero": (0, "s")}


def test_rating_md_8_parameters_name_the_initial_charging_period() -> None:
    result = rate(
        [rec("mo", event_type="voice_mo", duration_s=5, volume_bytes=None)], {"de": make_plan()}
    )
    row = result.rated.row(0, named=True)
    assert row["billed_units"] == 30
    assert "eu.retail.billing.voice_mo_initial_max_s" in row["parameters"].split(";")


def test_eu_2022_612_art8_data_per_kb_decimal_and_binary() -> None:
    # 1001 B -> ceil(1001 / 1000) = 2 kB; binary plan (docs/law/units-of-volume.md):
    # 1025 B -> ceil(1025 / 1024) = 2 kB.
    # Binary, no data included, 1.00 EUR/MiB excl. VAT: 2048 x 10^9 / (2^20 x 1000)
    # = 1953.125 -> 1953 micros.
    plans = {
        "de": make_plan(),
        "bin": make_plan(
            id="bin",
            binary_units=True,
            price_includes_vat=False,
            data_allowance_gb="0",
            out_of_bundle={"voice_per_min": "0", "sms": "0", "data_per_mb": "1.00"},
        ),
    }
    result = rate(
        [
            rec("dec", volume_bytes=1001),
            rec("bin", plan_id="bin", volume_bytes=1025, visited_country="DE"),
        ],
        plans,
    )
    rows = by_id(result)
    assert (rows["dec"]["billed_units"], rows["dec"]["billed_unit"]) == (2, "kB")
    assert rows["dec"]["fup_used_bytes"] == 2000
    assert (rows["bin"]["billed_units"], rows["bin"]["billed_unit"]) == (2, "kB")
    assert rows["bin"]["domestic_micros"] == 1953
    assert rows["bin"]["fup_used_bytes"] is None  # domestic: not an rlah data record


# ------------------------------------------------------------------------------------------
# §5.1: domestic allowances


def test_rating_md_5_1_domestic_and_rlah_draw_one_pool_in_event_order() -> None:
    # One minute included. Read order: the roaming call first; event order: the domestic call
    # (10:00, 40 s in bundle), then the roaming call (11:00, 60 s: 20 s in bundle, 40 s out:
    # 0.10 incl. 19 % = 0.084033613 EUR/min; 40 x 84 033 613 / 60 000 = 56 022.4 -> 56 022).
    # The GB call between them (unregulated) neither draws on nor counts in the pool.
    plan = make_plan(
        voice_allowance_min="1",
        roaming={"prices": [{"countries": ["GB"], "voice_mo_per_min": "1.19"}]},
    )
    voice = {"event_type": "voice_mo", "volume_bytes": None}
    result = rate(
        [
            rec("roam", duration_s=60, started_at="2026-03-10T11:00:00Z", **voice),
            rec(
                "gb",
                visited_country="GB",
                duration_s=60,
                started_at="2026-03-10T10:30:00Z",
                **voice,
            ),
            rec("home", visited_country="DE", duration_s=40, **voice),
        ],
        {"de": plan},
    )
    rows = by_id(result)
    assert rows["home"]["in_bundle_units"] == 40
    assert rows["home"]["domestic_micros"] == 0
    assert rows["gb"]["rule_kind"] == "unregulated"
    assert rows["gb"]["in_bundle_units"] == 0
    assert charges(rows["gb"])[:4] == (0, 0, 1_000_000, 1_000_000)  # 1.19 incl. = 1.00 / min
    assert rows["roam"]["rule_kind"] == "rlah"
    assert rows["roam"]["in_bundle_units"] == 20
    assert charges(rows["roam"])[:4] == (56_022, 0, 0, 56_022)
    assert result.rated["record_id"].to_list() == ["roam", "gb", "home"]  # read order kept


def test_rating_md_5_1_mms_and_received_calls_do_not_draw_on_pools() -> None:
    # mms 0.357 incl. 19 % = 0.30 excl.; count 2 -> 600 000. voice_mt 0.119 incl. = 0.10/min;
    # 90 s -> 150 000 (no pool, no minimum).
    plan = make_plan(
        out_of_bundle={
            "voice_per_min": "0.10",
            "sms": "0.10",
            "data_per_mb": "0.01",
            "mms": "0.357",
            "voice_mt_per_min": "0.119",
        }
    )
    result = rate(
        [
            rec("m", event_type="mms_mo", count=2, volume_bytes=None),
            rec("v", event_type="voice_mt", duration_s=90, volume_bytes=None),
        ],
        {"de": plan},
    )
    rows = by_id(result)
    assert (rows["m"]["billed_units"], rows["m"]["billed_unit"]) == (2, "msg")
    assert (rows["m"]["in_bundle_units"], rows["m"]["domestic_micros"]) == (0, 600_000)
    assert (rows["v"]["in_bundle_units"], rows["v"]["domestic_micros"]) == (0, 150_000)


# ------------------------------------------------------------------------------------------
# §5.2: RLAH surcharges


def test_rlah_sms_mt_never_charged() -> None:
    # Even for a subscriber beyond fair use (docs/law/fair-use.md permanent-roaming control).
    sms = {"event_type": "sms_mt", "volume_bytes": None}
    result = rate(
        [rec("plain", **sms), rec("beyond", is_beyond_fair_use=True, **sms)],
        {"de": make_plan()},
    )
    rows = by_id(result)
    assert charges(rows["plain"]) == (0, 0, 0, 0, 0, 0)
    assert charges(rows["beyond"]) == (0, 0, 0, 0, 0, 0)


def test_rlah_voice_mt_surcharge_only_beyond_fair_use() -> None:
    # Received-call surcharge cap 2026: 0.002 EUR/min; 60 s -> 2 000 micros, VAT 380.
    call = {"event_type": "voice_mt", "duration_s": 60, "volume_bytes": None}
    result = rate(
        [rec("plain", **call), rec("beyond", is_beyond_fair_use="TRUE", **call)],
        {"de": make_plan()},
    )
    rows = by_id(result)
    assert charges(rows["plain"]) == (0, 0, 0, 0, 0, 0)
    assert charges(rows["beyond"]) == (0, 2_000, 0, 2_000, 380, 2_380)
    assert "eu.retail.surcharge.voice_mt_eur_per_min" in rows["beyond"]["parameters"].split(";")


def test_rlah_beyond_fair_use_surcharges_calls_made_at_cap() -> None:
    # voice_mo surcharge cap 2026: 0.019 EUR/min; 60 s -> 19 000 micros.
    call = {"event_type": "voice_mo", "duration_s": 60, "volume_bytes": None}
    result = rate(
        [rec("plain", **call), rec("beyond", is_beyond_fair_use="yes", **call)],
        {"de": make_plan()},
    )
    rows = by_id(result)
    assert charges(rows["plain"])[:4] == (0, 0, 0, 0)
    assert charges(rows["beyond"])[:4] == (0, 19_000, 0, 19_000)


# ------------------------------------------------------------------------------------------
# §5.3: WB phases 2-3


def test_wb_rra_phase2_retail_price_max_bounds_domestic_plus_surcharge() -> None:
    # ME plan in EUR (Montenegro uses the euro: no FX needed), 0.17 EUR/min excl. VAT, no minutes
    # included; ME subscriber in RS on 2020-03-01 (phase 2). 60 s: domestic 170 000; surcharge
    # cap 0.05 -> 50 000; total 220 000 > 0.19 x 1 min = 190 000: surcharge cut to 20 000.
    # VAT ME 21 %: 190 000 x 0.21 = 39 900.
    plan = parse_plan(
        {
            "id": "me",
            "home_country": "ME",
            "currency": "EUR",
            "price": "10.00",
            "price_includes_vat": False,
            "billing_period": "month",
            "data_allowance_gb": "5",
            "voice_allowance_min": "0",
            "sms_allowance": "unlimited",
            "out_of_bundle": {"voice_per_min": "0.17", "sms": "0.05", "data_per_mb": "0.01"},
        }
    )
    result = rate(
        [
            rec(
                "x",
                plan_id="me",
                home_country="ME",
                visited_country="RS",
                event_type="voice_mo",
                duration_s=60,
                started_at="2020-03-01T10:00:00Z",
            )
        ],
        {"me": plan},
    )  # no FX table
    assert result.rejects.height == 0
    row = result.rated.row(0, named=True)
    assert (row["regime"], row["rule_kind"]) == ("wb_rra", "surcharge_cap")
    assert charges(row) == (170_000, 20_000, 0, 190_000, 39_900, 229_900)
    assert row["vat_rate"] == Decimal("0.21")
    assert "wb.retail.price_max.voice_mo_eur_per_min" in row["parameters"].split(";")


def test_wb_rra_phase3_received_call_at_retail_price_max() -> None:
    # RS in ME on 2020-08-01 (phase 3): received calls at retail_price_max 0.025 EUR/min x 117.5
    # = 2.9375 RSD/min; 600 s -> 29.375 RSD.
    result = rate(
        [
            rec(
                "z",
                plan_id="rs",
                home_country="RS",
                visited_country="ME",
                event_type="voice_mt",
                duration_s=600,
                started_at="2020-08-01T10:00:00Z",
            )
        ],
        {"rs": rs_plan()},
        RSD_FX,
    )
    assert charges(result.rated.row(0, named=True))[:4] == (0, 29_375_000, 0, 29_375_000)


# ------------------------------------------------------------------------------------------
# §5.6: bill-shock


def billshock_plan(**overrides: Any) -> Plan:
    # 1.19 EUR/MB incl. 19 % VAT = 1.00 EUR/MB excl. VAT anywhere outside the regulated zone.
    return make_plan(
        roaming={"prices": [{"countries": ["*"], "data_per_mb": "1.19"}]},
        **overrides,
    )


def mb_in_rs(record_id: str, mb: int, day: str) -> dict[str, Any]:
    return rec(record_id, visited_country="RS", volume_bytes=mb * 10**6, started_at=day)


def test_eu_2022_612_art14_billshock_default_limit_cut_and_block() -> None:
    # Default limit EUR 50 excl. VAT; 80 % = 40 EUR. cum 0 -> 30 -> 45 (alert 80 %) -> 55
    # (crosses: cut to 5 EUR, alert 100 %) -> blocked.
    result = rate(
        [
            mb_in_rs("r3", 10, "2026-03-03T10:00:00Z"),
            mb_in_rs("r1", 30, "2026-03-01T10:00:00Z"),
            mb_in_rs("r4", 1, "2026-03-04T10:00:00Z"),
            mb_in_rs("r2", 15, "2026-03-02T10:00:00Z"),
        ],
        {"de": billshock_plan()},
    )
    rows = by_id(result)
    assert rows["r1"]["roaming_micros"] == 30_000_000
    assert rows["r2"]["roaming_micros"] == 15_000_000
    assert charges(rows["r3"]) == (0, 0, 5_000_000, 5_000_000, 950_000, 5_950_000)
    assert rows["r3"]["is_blocked_by_cutoff"] is False
    assert charges(rows["r4"]) == (0, 0, 0, 0, 0, 0)
    assert rows["r4"]["is_blocked_by_cutoff"] is True
    assert kinds(result) == [("r1", "welcome"), ("r2", "billshock_80"), ("r3", "billshock_100")]
    thresholds = dict(
        zip(result.notifications["kind"], result.notifications["threshold_micros"], strict=True)
    )
    assert thresholds == {"welcome": None, "billshock_80": 40_000_000, "billshock_100": 50_000_000}


def test_eu_2022_612_art14_billshock_continue_no_block_extra_alert_at_100_eur() -> None:
    # billshock_continue with the default limit: no cut, no block; billshock_extra at EUR 100.
    result = rate(
        [
            mb_in_rs("a", 120, "2026-03-01T10:00:00Z"),
            mb_in_rs("b", 5, "2026-03-02T10:00:00Z"),
        ],
        {"de": billshock_plan(billshock_continue=True)},
    )
    rows = by_id(result)
    assert rows["a"]["roaming_micros"] == 120_000_000
    assert rows["b"]["roaming_micros"] == 5_000_000
    assert not any(result.rated["is_blocked_by_cutoff"])
    notes = dict(
        zip(result.notifications["kind"], result.notifications["threshold_micros"], strict=True)
    )
    assert notes == {
        "welcome": None,
        "billshock_80": 40_000_000,
        "billshock_100": 50_000_000,
        "billshock_extra": 100_000_000,
    }


def test_eu_2022_612_art14_extra_alert_not_before_2022_07_01() -> None:
    # eu.billshock.extra_alert_eur has no value before the recast: no billshock_extra in 2022-06.
    result = rate(
        [mb_in_rs("a", 120, "2022-06-01T10:00:00Z")],
        {"de": billshock_plan(billshock_continue=True)},
    )
    assert result.rated["roaming_micros"].to_list() == [120_000_000]
    assert sorted(result.notifications["kind"]) == ["billshock_100", "billshock_80", "welcome"]


# ------------------------------------------------------------------------------------------
# §7: rejects that depend on the rules


def test_rating_md_4_no_fx_rate_for_non_euro_roaming_record() -> None:
    # RSD plan in ME without an FX table: rejected. Domestic records never need FX.
    base = {"plan_id": "rs", "home_country": "RS", "volume_bytes": 1000}
    result = rate(
        [rec("roam", visited_country="ME", **base), rec("home", visited_country="RS", **base)],
        {"rs": rs_plan()},
    )
    assert reasons(result) == {"roam": "NO_FX_RATE"}
    assert "RSD" in result.rejects["message"][0]
    assert result.rated["record_id"].to_list() == ["home"]


def test_rating_md_5_1_no_price_for_mms_without_price() -> None:
    result = rate(
        [rec("mms", event_type="mms_mo", count=1, volume_bytes=None)], {"de": make_plan()}
    )
    assert reasons(result) == {"mms": "NO_PRICE"}
    assert result.rated.height == 0


def test_rating_md_5_5_no_price_outside_regulated_zone() -> None:
    # GB after Brexit is unregulated for a DE plan; the plan prices calls in GB but not SMS.
    # sms_mt without a price is free.
    plan = make_plan(roaming={"prices": [{"countries": ["GB"], "voice_mo_per_min": "1"}]})
    gb = {"visited_country": "GB", "volume_bytes": None}
    result = rate(
        [
            rec("sms", event_type="sms_mo", **gb),
            rec("data", **{**gb, "volume_bytes": 1000}),
            rec("mt", event_type="sms_mt", **gb),
        ],
        {"de": plan},
    )
    assert reasons(result) == {
        "sms": "NO_PRICE_OUTSIDE_REGULATED_ZONE",
        "data": "NO_PRICE_OUTSIDE_REGULATED_ZONE",
    }
    mt = by_id(result)["mt"]
    assert (mt["rule_kind"], mt["charge_incl_vat_micros"]) == ("unregulated", 0)


@pytest.mark.parametrize(
    ("started_at", "utc_offset_min"),
    [("2017-06-14T10:00:00Z", 60), ("2032-07-01T10:00:00Z", 60), ("2032-06-30T23:30:00Z", 60)],
)
def test_rating_md_2_no_rule_in_force_outside_catalog_coverage(
    started_at: str, utc_offset_min: int
) -> None:
    # Coverage 2017-06-15 .. 2032-06-30 by local date (the last case is 2032-07-01 00:30 local).
    result = rate(
        [rec("a", started_at=started_at, utc_offset_min=utc_offset_min)], {"de": make_plan()}
    )
    assert reasons(result) == {"a": "NO_RULE_IN_FORCE"}
    assert result.read == 1


# ------------------------------------------------------------------------------------------
# Reliability: determinism, input types, columns kept


def _mixed_records() -> list[dict[str, Any]]:
    return [
        rec("d1", volume_bytes=3 * 10**9, started_at="2026-03-02T08:00:00Z"),
        rec("v1", event_type="voice_mo", duration_s=75, volume_bytes=None),
        rec("s1", event_type="sms_mo", count=3, volume_bytes=None, visited_country="DE"),
        rec("d2", subscriber_id="s2", volume_bytes=12 * 10**9, visited_country="FR"),
        rec("bad", started_at="soon"),
        rec("t1", event_type="sms_mt", volume_bytes=None, is_beyond_fair_use=True),
    ]


def test_reliability_same_input_same_output() -> None:
    plans = {"de": make_plan(sms_allowance=2)}
    first = rate(_mixed_records(), plans)
    second = rate(_mixed_records(), plans)
    assert_frame_equal(first.rated, second.rated)
    assert_frame_equal(first.rejects, second.rejects)
    assert_frame_equal(first.notifications, second.notifications)
    assert first.read == second.read == 6


def test_text_and_typed_inputs_give_the_same_rated_values() -> None:
    records = [r for r in _mixed_records() if r["record_id"] != "bad"]
    plans = {"de": make_plan(sms_allowance=2)}
    text = rate(records, plans)
    typed_frame = text_frame(records).with_columns(
        pl.col("started_at").str.to_datetime("%Y-%m-%dT%H:%M:%SZ", time_zone="UTC"),
        pl.col("utc_offset_min", "duration_s", "volume_bytes", "count").cast(pl.Int64),
        pl.col("is_beyond_fair_use").str.to_lowercase().eq("true"),
    )
    assert typed_frame.schema["started_at"] == pl.Datetime("us", "UTC")
    typed = rate_usage(typed_frame, plans)
    assert text.rejects.height == typed.rejects.height == 0
    assert_frame_equal(text.rated, typed.rated)
    assert_frame_equal(text.notifications, typed.notifications)


def test_naive_typed_timestamps_are_utc() -> None:
    # rating.md §7b: a naive typed timestamp is taken as UTC.
    frame = text_frame([rec("a", started_at="2026-03-31T23:30:00Z")]).with_columns(
        pl.col("started_at").str.to_datetime("%Y-%m-%dT%H:%M:%SZ")
    )
    row = rate_usage(frame, {"de": make_plan()}).rated.row(0, named=True)
    assert row["started_at"] == dt.datetime(2026, 3, 31, 23, 30, tzinfo=dt.UTC)
    assert row["local_date"] == dt.date(2026, 4, 1)


def test_rating_md_8_extra_input_columns_kept_and_output_columns_in_order() -> None:
    result = rate([rec("a", cell_id="262-01-77", note=None)], {"de": make_plan()})
    columns = result.rated.columns
    assert columns[: len(CANONICAL)] == CANONICAL
    assert columns[len(CANONICAL) : len(CANONICAL) + 2] == ["cell_id", "note"]
    assert columns[len(CANONICAL) + 2 :] == RATED_COLUMNS
    assert result.rated["cell_id"].to_list() == ["262-01-77"]


def test_rating_md_7_rejects_keep_the_row_as_read() -> None:
    row = rec(
        "a",
        started_at="2026-03-10 10:00:00+25:00",
        utc_offset_min="060",
        home_country=" de ",
        volume_bytes="1000",
        cell_id="x",
    )
    result = rate([row], {"de": make_plan()})
    assert result.rated.height == 0
    reject = result.rejects.row(0, named=True)
    assert reject["reason_code"] == "BAD_TIMESTAMP"
    assert reject["started_at"] == "2026-03-10 10:00:00+25:00"
    assert reject["utc_offset_min"] == "060"
    assert reject["home_country"] == " de "
    assert reject["volume_bytes"] == "1000"
    assert reject["cell_id"] == "x"
    assert result.rejects.columns == [
        *text_frame([row]).columns,
        "row_number",
        "reason_code",
        "message",
    ]


def test_rating_md_7b_an_id_holding_nul_is_bad_id_and_meets_no_other_id() -> None:
    # "a\x00b" and "a\x00c" would both be "a" to a store that cuts text at NUL; here they are
    # rejected BAD_ID (before BAD_TIMESTAMP), and "a" itself is rated, not taken for a duplicate.
    records = [
        rec("a\x00b"),
        rec("a\x00c", started_at="yesterday"),
        rec("a"),
        rec("s", subscriber_id="sub\x00"),
        rec("a\x00b"),
    ]
    result = rate(records, {"de": make_plan()})
    assert list(zip(result.rejects["row_number"], result.rejects["reason_code"], strict=True)) == [
        (0, "BAD_ID"),
        (1, "BAD_ID"),
        (3, "BAD_ID"),
        (4, "BAD_ID"),
    ]
    assert result.rated["record_id"].to_list() == ["a"]
    messages = result.rejects["message"].to_list()
    assert messages[0].startswith("record_id contains the character U+0000")
    assert messages[2].startswith("subscriber_id contains the character U+0000")
    assert result.read == result.rated.height + result.rejects.height


# ------------------------------------------------------------------------------------------
# §7b: timestamps that are not real calendar times


def test_rating_md_7b_second_60_is_bad_timestamp() -> None:
    result = rate([rec("a", started_at="2026-03-31T23:59:60Z")], {"de": make_plan()})
    assert reasons(result) == {"a": "BAD_TIMESTAMP"}


@pytest.mark.parametrize(
    ("started_at", "utc_offset_min", "code"),
    [
        ("0000-03-10T10:00:00Z", 60, "BAD_TIMESTAMP"),
        ("9999-12-31T23:00:00Z", 840, "NO_RULE_IN_FORCE"),
    ],
)
def test_rating_md_7_out_of_range_years_are_rejected_not_raised(
    started_at: str, utc_offset_min: int, code: str
) -> None:
    records = [rec("y", started_at=started_at, utc_offset_min=utc_offset_min), rec("ok")]
    result = rate(records, {"de": make_plan()})
    assert reasons(result) == {"y": code}
    assert result.rated["record_id"].to_list() == ["ok"]


def test_art_14_binds_eu_providers_only() -> None:
    # A Serbian plan in FR without a limit of its own is not cut (Art. 14 binds EU/EEA
    # providers); the same plan declaring EUR 50 is cut at 50 x 117.5 = 5875 RSD.
    prices = {"prices": [{"countries": ["*"], "data_per_mb": "100"}]}
    base = {"plan_id": "rs", "home_country": "RS", "visited_country": "FR"}
    records = [
        rec("a", volume_bytes=50 * 10**6, started_at="2020-03-01T10:00:00Z", **base),
        rec("b", volume_bytes=10 * 10**6, started_at="2020-03-02T10:00:00Z", **base),
    ]
    free = by_id(rate(records, {"rs": rs_plan(roaming=prices)}, RSD_FX))
    assert free["b"]["roaming_micros"] == 1_000_000_000
    assert free["b"]["is_blocked_by_cutoff"] is False
    own = by_id(rate(records, {"rs": rs_plan(roaming=prices, billshock_limit_eur="50")}, RSD_FX))
    assert own["b"]["roaming_micros"] == 875_000_000


@pytest.mark.parametrize(
    "started_at",
    [
        "2026-03-10T10:00:00Z",
        "2026-03-10T12:00:00+02:00",
        "2026-03-10T12:00:00+0200",
        "2026-03-10 10:00:00",
        "2026-03-10T10:00:00.000000+0000",
    ],
)
def test_rating_md_7b_timestamp_forms_give_the_same_instant(started_at: str) -> None:
    result = rate([rec("a", started_at=started_at)], {"de": make_plan()})
    assert result.rejects.height == 0
    assert result.rated["started_at"].to_list() == [dt.datetime(2026, 3, 10, 10, 0, tzinfo=dt.UTC)]


def test_rating_md_2_same_start_time_breaks_ties_by_record_id() -> None:
    # Two 60 s calls at the same instant, read as "b" then "a", with one domestic minute: the
    # event order is (started_at, record_id), so "a" uses the minute and "b" pays 0.10 EUR.
    calls = [
        rec(rid, event_type="voice_mo", duration_s=60, volume_bytes=None, visited_country="DE")
        for rid in ("b", "a")
    ]
    rows = by_id(rate(calls, {"de": make_plan(voice_allowance_min="1")}))
    assert rows["a"]["in_bundle_units"] == 60
    assert rows["b"]["in_bundle_units"] == 0
    assert rows["b"]["domestic_micros"] == 84_034  # 0.10 / 1.19 per minute, 1 minute


HOSTILE_COLUMNS = {
    "currency": "XXX",
    "message": "hello",
    "reason_code": "NONE",
    "row_number": "99",
    "regime": "eu_rlah",
    "charge_excl_vat_micros": "1",
    "_rid": "other",
    "_sub": "s9",
    "_plan": "nope",
    "_qty": "123456789",
    "_beyond": "true",
    "__roamlike_dup": "true",
}


def test_rating_md_8_input_columns_named_like_engine_columns_change_nothing() -> None:
    # a vendor CDR with columns named like output or working columns used to crash or
    # silently change the charges; they now pass through (renamed input_<name> when an
    # output column has that name) and no charge, reject or notification changes
    records = [rec("a", volume_bytes=3 * 10**9), rec("b", visited_country="ZZ"), rec("c")]
    plain = rate(records, {"de": make_plan()})
    hostile = rate([{**r, **HOSTILE_COLUMNS} for r in records], {"de": make_plan()})
    assert hostile.rated.select(RATED_COLUMNS).equals(plain.rated.select(RATED_COLUMNS))
    assert hostile.rejects.select("row_number", "reason_code", "message").equals(
        plain.rejects.select("row_number", "reason_code", "message")
    )
    assert hostile.notifications.equals(plain.notifications)
    row = hostile.rated.row(0, named=True)
    assert row["input_currency"] == "XXX"
    assert row["input_message"] == "hello"
    assert row["input_row_number"] == "99"
    assert row["_rid"] == "other"
    assert row["__roamlike_dup"] == "true"
    assert hostile.rejects.row(0, named=True)["input_reason_code"] == "NONE"


def test_rating_md_1_a_csv_scan_rates_like_the_loaded_frame(tmp_path: Path) -> None:
    # a lazy CSV scan of dirty usage once made Polars' streaming engine panic inside rate_usage
    # ("assertion failed: i < self.len()"); the engine now reads a lazy input once
    import importlib.util
    import sys

    from roamlike.io.usage import read_usage

    spec = importlib.util.spec_from_file_location(
        "dirty_support", Path(__file__).parents[1] / "spark" / "spark_support.py"
    )
    assert spec is not None
    assert spec.loader is not None
    support = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, support)
    spec.loader.exec_module(support)
    dirty = support.dirty_usage()
    path = tmp_path / "dirty.csv"
    dirty.frame.write_csv(path)
    scanned = rate_usage(read_usage(path), dirty.plans, dirty.fx)
    loaded = rate_usage(read_usage(path).collect(), dirty.plans, dirty.fx)
    assert scanned.rejects.height > 0
    assert scanned.rated.equals(loaded.rated)
    assert scanned.rejects.equals(loaded.rejects)
    assert scanned.notifications.equals(loaded.notifications)


@pytest.mark.parametrize("repeats", [1, 4])
def test_rating_md_7b_a_subscriber_id_holding_nul_is_bad_id_per_row_or_per_distinct_value(
    repeats: int,
) -> None:
    # subscriber ids all distinct (worked per row) or repeated (worked per distinct value): the
    # check for NUL is made on the rows only when some subscriber id holds it
    subs = [f"s{i}" for i in range(6)] * repeats
    subs[3] = "s\x003"
    records = [rec(f"r{i}", subscriber_id=sub) for i, sub in enumerate(subs)]
    result = rate(records, {"de": make_plan()})
    assert result.rejects["row_number"].to_list() == [3]
    assert result.rejects["reason_code"].to_list() == ["BAD_ID"]
    assert result.rated.height == len(subs) - 1


@pytest.mark.parametrize("column", ["home_country", "visited_country"])
@pytest.mark.parametrize("repeats", [1, 30])
def test_rating_md_7_an_unknown_country_is_rejected_per_row_or_per_distinct_value(
    column: str, repeats: int
) -> None:
    # countries worked per row (nearly all distinct) or per distinct value: the rows are checked
    # against the catalog only when one of the column's values is not known
    records = [rec(f"r{i}", subscriber_id=f"s{i}") for i in range(2 * repeats)]
    records[1][column] = "ZZ"
    if repeats == 1:  # every value distinct: ' de', 'de ', ...
        records[0][column] = " " + str(records[0][column]).lower()
    result = rate(records, {"de": make_plan()})
    assert result.rejects["row_number"].to_list() == [1]
    assert result.rejects["reason_code"].to_list() == ["UNKNOWN_COUNTRY"]

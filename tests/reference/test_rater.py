"""Hand-computed cases for the reference rater (docs/rating.md), exact integers only.

Each expected figure is worked out in the comment next to it from the plan, the catalog value in
force and the rounding rules of ``roamlike.money`` (half-even: rates to 10^-9, charges and VAT to
10^-6 of the currency).
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest

from builders import make_plan, rec, rs_plan
from roamlike.reference import REASON_CODES, ReferenceResult, rate_records
from roamlike.tariffs import FxTable, Plan

RSD_FX = FxTable.from_rows([(dt.date(2019, 7, 1), "RSD", Decimal("117.5"))])


def by_id(result: ReferenceResult) -> dict[str, dict[str, Any]]:
    return {r["record_id"]: r for r in result.rated}


def reasons(result: ReferenceResult) -> dict[str, str]:
    return {str(r["record_id"]): r["reason_code"] for r in result.rejects}


def kinds(result: ReferenceResult) -> list[tuple[str, str]]:
    return [(n["record_id"], n["kind"]) for n in result.notifications]


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
# §5.1-§5.2: RLAH, domestic allowances and fair use


def test_not_open_bundle_uses_domestic_volume_then_out_of_bundle_price() -> None:
    # EUR 20.00 incl. 19 % VAT = 16.806... excl. VAT for 10 GB = 1.68 EUR/GB, above the 2026
    # wholesale cap of 1.10 EUR/GB: not an open data bundle (docs/law/fair-use.md). The whole
    # 10 GB is usable at
    # the domestic price in AT; beyond, out_of_bundle 0.01 incl. VAT per MB.
    plans = {"de": make_plan()}
    result = rate_records(
        [
            rec("a", volume_bytes=10 * 10**9, started_at="2026-03-02T10:00:00Z"),
            rec("b", volume_bytes=10**6, started_at="2026-03-03T10:00:00Z"),
            rec("c", volume_bytes=1, started_at="2026-03-04T10:00:00Z"),
        ],
        plans,
    )
    assert result.rejects == []
    a, b, c = (by_id(result)[k] for k in "abc")
    assert a["rule_kind"] == "rlah"
    assert a["regime"] == "eu_rlah"
    assert a["billed_units"] == 10**7  # kB
    assert a["billed_unit"] == "kB"
    assert a["in_bundle_units"] == 10 * 10**9
    assert charges(a) == (0, 0, 0, 0, 0, 0)
    assert a["fup_allowance_bytes"] == 10 * 10**9  # reported: the domestic volume
    assert a["fup_used_bytes"] == 10 * 10**9
    assert a["is_over_fup"] is False
    # 1 MB beyond: rate 0.01 / 1.19 = 0.008403361 (nanos 8403361); 10^6 B x 8403361 / 10^9
    # = 8403.361 -> 8403 micros; VAT 8403 x 0.19 = 1596.57 -> 1597.
    assert b["in_bundle_units"] == 0
    assert charges(b) == (8403, 0, 0, 8403, 1597, 10000)
    assert b["is_over_fup"] is False
    assert b["fup_used_bytes"] == 10 * 10**9 + 10**6
    # 1 byte is billed as 1 kB = 1000 B: 1000 x 8403361 / 10^9 = 8.403 -> 8 micros.
    assert c["billed_units"] == 1
    assert c["domestic_micros"] == 8
    assert c["vat_rate"] == Decimal("0.19")
    assert kinds(result) == [("a", "welcome")]


def test_open_bundle_fair_use_surcharge_beyond_allowance() -> None:
    # Unlimited data at EUR 30.00 excl. VAT (DE, 2026): open bundle; fair-use allowance
    # 2 x 30 / 1.10 = 54.5454... GB -> floor(54.5454... x 10^9) = 54 545 454 545 bytes.
    plans = {
        "de": make_plan(price="30.00", price_includes_vat=False, data_allowance_gb="unlimited")
    }
    result = rate_records(
        [
            # 54 545 454 545 B -> 54 545 455 kB = 54 545 455 000 billed bytes: 455 B over.
            rec("a", volume_bytes=54_545_454_545, visited_country="FR"),
            rec("b", volume_bytes=10**9, visited_country="FR", started_at="2026-03-11T10:00:00Z"),
        ],
        plans,
    )
    a, b = by_id(result)["a"], by_id(result)["b"]
    assert a["fup_allowance_bytes"] == 54_545_454_545
    assert a["fup_used_bytes"] == 54_545_455_000
    assert a["is_over_fup"] is True
    # Surcharge cap 1.10 EUR/GB -> 0.0011 EUR/MB = 1 100 000 nanos; 455 x 1.1e6 / 1e9 = 0.5005
    # -> 1 micro. VAT 1 x 0.19 = 0.19 -> 0.
    assert charges(a) == (0, 1, 0, 1, 0, 1)
    # One further GB: 10^9 x 1 100 000 / 10^9 = 1 100 000 micros; VAT 19 % = 209 000.
    assert b["in_bundle_units"] == 10**9  # unlimited domestic data: in bundle
    assert charges(b) == (0, 1_100_000, 0, 1_100_000, 209_000, 1_309_000)
    assert b["is_over_fup"] is True
    assert b["fup_used_bytes"] == 55_545_455_000
    assert "eu.retail.surcharge.data_eur_per_gb" in b["parameters"].split(";")
    assert kinds(result) == [("a", "fup_exhausted"), ("a", "welcome")]
    assert result.notifications[0]["threshold_micros"] is None


def test_beyond_fair_use_flag_surcharges_every_roaming_unit() -> None:
    # docs/law/fair-use.md permanent-roaming control: voice_mo surcharge cap 2026 = 0.019 EUR/min;
    # 60 s -> 19 000 micros. voice_mt cap 0.002 EUR/min -> 2 000. sms_mt never.
    plans = {"de": make_plan()}
    common = {"is_beyond_fair_use": True}
    result = rate_records(
        [
            rec("mo", event_type="voice_mo", duration_s=60, **common),
            rec("mt", event_type="voice_mt", duration_s=60, **common),
            rec("smt", event_type="sms_mt", **common),
            rec("plain", event_type="voice_mo", duration_s=60),
        ],
        plans,
    )
    rows = by_id(result)
    assert charges(rows["mo"])[:4] == (0, 19_000, 0, 19_000)
    assert charges(rows["mt"])[:4] == (0, 2_000, 0, 2_000)
    assert charges(rows["smt"])[:4] == (0, 0, 0, 0)
    assert charges(rows["plain"])[:4] == (0, 0, 0, 0)


def test_sms_pool_is_drawn_in_event_order_and_reset_each_period() -> None:
    # sms_allowance 2. Read order differs from event order: b (10:00) comes first in the event
    # order, so it takes the bundle. 0.10 incl. 19 % VAT = 0.084033613 -> 84 034 micros per SMS.
    plans = {"de": make_plan(sms_allowance=2)}
    result = rate_records(
        [
            rec("c", event_type="sms_mo", count=2, started_at="2026-03-10T11:00:00Z"),
            rec("b", event_type="sms_mo", count=None, started_at="2026-03-10T10:00:00Z"),
            rec("d", event_type="sms_mo", count="1", started_at="2026-04-01T10:00:00Z"),
        ],
        plans,
    )
    rows = by_id(result)
    assert rows["b"]["billed_units"] == 1  # count null -> 1
    assert rows["b"]["in_bundle_units"] == 1
    assert rows["b"]["domestic_micros"] == 0
    assert rows["c"]["in_bundle_units"] == 1
    assert rows["c"]["domestic_micros"] == 84_034
    assert rows["d"]["billing_period_start"] == dt.date(2026, 4, 1)
    assert rows["d"]["in_bundle_units"] == 1  # new period, fresh pool
    assert [r["row_number"] for r in result.rated] == [0, 1, 2]


def test_binary_units_bill_per_kib_and_mib() -> None:
    # docs/law/units-of-volume.md binary plan: 1500 B -> ceil(1500 / 1024) = 2 kB = 2048 B;
    # no data allowance;
    # 1.00 EUR/MiB excl. VAT: 2048 x 1e9 / (2^20 x 1000) = 1953.125 -> 1953 micros.
    plans = {
        "de": make_plan(
            binary_units=True,
            price_includes_vat=False,
            data_allowance_gb="0",
            out_of_bundle={"voice_per_min": "0", "sms": "0", "data_per_mb": "1.00"},
        )
    }
    result = rate_records([rec("a", volume_bytes=1500, visited_country="DE")], plans)
    row = result.rated[0]
    assert row["rule_kind"] == "domestic"
    assert row["billed_units"] == 2
    assert row["domestic_micros"] == 1953
    assert row["fup_allowance_bytes"] is None  # not rlah
    assert row["fup_used_bytes"] is None


def test_domestic_mms_and_received_call_prices() -> None:
    # mms 0.357 incl. 19 % = 0.3 excl.; count 2 -> 600 000 micros. voice_mt 0.119 incl. per min
    # = 0.1; 90 s -> 150 000 micros (no pool, no minimum).
    plans = {
        "de": make_plan(
            out_of_bundle={
                "voice_per_min": "0.10",
                "sms": "0.10",
                "data_per_mb": "0.01",
                "mms": "0.357",
                "voice_mt_per_min": "0.119",
            }
        )
    }
    result = rate_records(
        [
            rec("m", event_type="mms_mo", count=2, visited_country="DE"),
            rec("v", event_type="voice_mt", duration_s=90, visited_country="DE"),
        ],
        plans,
    )
    rows = by_id(result)
    assert rows["m"]["domestic_micros"] == 600_000
    assert rows["m"]["billed_unit"] == "msg"
    assert rows["v"]["domestic_micros"] == 150_000
    assert rows["v"]["in_bundle_units"] == 0


# ------------------------------------------------------------------------------------------
# §3: billed units


def test_initial_30_s_only_for_calls_made_while_roaming() -> None:
    # Plan declares 60 s: capped by eu.retail.billing.voice_mo_initial_max_s = 30 under RLAH;
    # on an unregulated route (GB after Brexit) the plan's own 60 s applies.
    plans = {
        "de": make_plan(
            charging={"voice_mo_initial_s": 60},
            roaming={"prices": [{"countries": ["*"], "voice_mo_per_min": "1.19"}]},
        )
    }
    result = rate_records(
        [
            rec("mo", event_type="voice_mo", duration_s=5),
            rec("mt", event_type="voice_mt", duration_s=5),
            rec("home", event_type="voice_mo", duration_s=5, visited_country="DE"),
            rec("zero", event_type="voice_mo", duration_s=0),
            rec("gb", event_type="voice_mo", duration_s=5, visited_country="GB"),
        ],
        plans,
    )
    rows = by_id(result)
    assert rows["mo"]["billed_units"] == 30
    assert rows["mo"]["billed_unit"] == "s"
    assert "eu.retail.billing.voice_mo_initial_max_s" in rows["mo"]["parameters"]
    assert rows["mt"]["billed_units"] == 5
    assert rows["home"]["billed_units"] == 5
    assert rows["zero"]["billed_units"] == 0
    assert rows["gb"]["rule_kind"] == "unregulated"
    assert rows["gb"]["billed_units"] == 60
    # 1.19 incl. VAT = 1.00 EUR/min; 60 s -> 1 000 000 micros.
    assert rows["gb"]["roaming_micros"] == 1_000_000


# ------------------------------------------------------------------------------------------
# §5.3-§5.4: Western Balkans


def test_wb_phase1_retail_cap_then_rlah() -> None:
    # RS subscriber in ME, 2019-08-01 (phase 1, retail_cap): no roaming price -> the cap
    # 0.19 EUR/min x 117.5 RSD/EUR = 22.325 RSD/min; 600 s -> 223.25 RSD = 223 250 000 micros.
    # VAT RS 20 % -> 44 650 000.
    plans = {"rs": rs_plan(voice_allowance_min="0")}
    call = {
        "plan_id": "rs",
        "home_country": "RS",
        "visited_country": "ME",
        "event_type": "voice_mo",
        "duration_s": 600,
        "utc_offset_min": 120,
    }
    result = rate_records(
        [
            rec("p1", started_at="2019-08-01T10:00:00Z", **call),
            # 2021-06-30 22:30 UTC + 2 h = 2021-07-01 local (docs/law/governing-date.md):
            # RLAH already.
            rec("p4", started_at="2021-06-30T22:30:00Z", **call),
        ],
        plans,
        RSD_FX,
    )
    p1, p4 = by_id(result)["p1"], by_id(result)["p4"]
    assert p1["rule_kind"] == "retail_cap"
    assert p1["in_bundle_units"] == 0
    assert charges(p1) == (0, 0, 223_250_000, 223_250_000, 44_650_000, 267_900_000)
    assert p1["currency"] == "RSD"
    assert p4["local_date"] == dt.date(2021, 7, 1)
    assert p4["rule_kind"] == "rlah"
    assert p4["regime"] == "wb_rra"
    # RLAH: domestic price, 0 minutes included: 10 RSD/min x 10 min = 100 RSD.
    assert charges(p4)[:4] == (100_000_000, 0, 0, 100_000_000)


def test_wb_rlah_within_unlimited_minutes_is_free() -> None:
    plans = {"rs": rs_plan()}
    result = rate_records(
        [
            rec(
                "a",
                plan_id="rs",
                home_country="RS",
                visited_country="ME",
                event_type="voice_mo",
                duration_s=600,
                started_at="2021-08-01T10:00:00Z",
            )
        ],
        plans,
        RSD_FX,
    )
    row = result.rated[0]
    assert row["rule_kind"] == "rlah"
    assert row["in_bundle_units"] == 600
    assert charges(row) == (0, 0, 0, 0, 0, 0)


def test_wb_phase1_plan_price_never_above_cap() -> None:
    # Plan roaming price 30 RSD/min > cap 22.325: the cap applies. SMS price 5 RSD < cap
    # 0.06 x 117.5 = 7.05: the plan price applies. sms_mt: 0.
    plans = {
        "rs": rs_plan(
            roaming={"prices": [{"countries": ["ME"], "voice_mo_per_min": "30", "sms_mo": "5"}]}
        )
    }
    base = {"plan_id": "rs", "home_country": "RS", "visited_country": "ME"}
    result = rate_records(
        [
            rec(
                "v", event_type="voice_mo", duration_s=60, started_at="2019-08-01T10:00:00Z", **base
            ),
            rec("s", event_type="sms_mo", count=2, started_at="2019-08-01T10:00:00Z", **base),
            rec("t", event_type="sms_mt", started_at="2019-08-01T10:00:00Z", **base),
        ],
        plans,
        RSD_FX,
    )
    rows = by_id(result)
    assert rows["v"]["roaming_micros"] == 22_325_000
    assert rows["s"]["roaming_micros"] == 10_000_000
    assert rows["t"]["roaming_micros"] == 0


def test_wb_phase2_domestic_plus_surcharge_bounded_by_retail_cap() -> None:
    # RS in ME on 2020-03-01 (phase 2). 600 s, no minutes included.
    # Expensive plan, 20 RSD/min: domestic 200 RSD; surcharge cap 0.05 x 117.5 = 5.875 RSD/min
    # -> 58.75 RSD; total 258.75 > 0.19 x 117.5 x 10 = 223.25 RSD: surcharge cut to 23.25.
    # Cheap plan, 10 RSD/min: 100 + 58.75 = 158.75 <= 223.25: unchanged.
    expensive = rs_plan(
        id="rs20",
        voice_allowance_min="0",
        out_of_bundle={"voice_per_min": "20", "sms": "5", "data_per_mb": "1"},
    )
    cheap = rs_plan(id="rs10", voice_allowance_min="0")
    plans = {"rs20": expensive, "rs10": cheap}
    base = {
        "home_country": "RS",
        "visited_country": "ME",
        "started_at": "2020-03-01T10:00:00Z",
    }
    result = rate_records(
        [
            rec("x", plan_id="rs20", event_type="voice_mo", duration_s=600, **base),
            rec("y", plan_id="rs10", event_type="voice_mo", duration_s=600, **base),
            # Received call: cap retail_price_max 0.04 x 117.5 = 4.7 RSD/min -> 47 RSD.
            rec("z", plan_id="rs10", event_type="voice_mt", duration_s=600, **base),
        ],
        plans,
        RSD_FX,
    )
    rows = by_id(result)
    assert rows["x"]["rule_kind"] == "surcharge_cap"
    assert charges(rows["x"])[:4] == (200_000_000, 23_250_000, 0, 223_250_000)
    assert charges(rows["y"])[:4] == (100_000_000, 58_750_000, 0, 158_750_000)
    assert charges(rows["z"])[:4] == (0, 47_000_000, 0, 47_000_000)
    assert "wb.retail.price_max.voice_mo_eur_per_min" in rows["x"]["parameters"]


def test_wb_phase3_data_surcharge_per_mb() -> None:
    # RS in ME on 2020-08-01 (phase 3), no data included, 1 RSD/MB: 10 MB -> 10 RSD domestic;
    # surcharge cap 0.015 EUR/MB x 117.5 = 1.7625 RSD/MB -> 17.625 RSD; the total stays below
    # 0.18 x 117.5 x 10 = 211.5 RSD. Data draws on the (empty) pool.
    plans = {"rs": rs_plan(data_allowance_gb="0")}
    result = rate_records(
        [
            rec(
                "a",
                plan_id="rs",
                home_country="RS",
                visited_country="ME",
                volume_bytes=10 * 10**6,
                started_at="2020-08-01T10:00:00Z",
            )
        ],
        plans,
        RSD_FX,
    )
    row = result.rated[0]
    assert row["rule_kind"] == "surcharge_cap"
    assert row["in_bundle_units"] == 0
    assert charges(row)[:4] == (10_000_000, 17_625_000, 0, 27_625_000)
    assert row["fup_allowance_bytes"] is None
    assert row["is_blocked_by_cutoff"] is False


# ------------------------------------------------------------------------------------------
# §5.5: outside the regulated zone


def test_eu_to_rs_offer_cap_needs_a_plan_price() -> None:
    # A DE customer in RS in 2026: EU-WB offer caps (offer_cap); without a roaming price the
    # record cannot be rated; with a '*' price of 0.119 incl. VAT (= 0.10 EUR/MB) it is.
    record = rec("a", visited_country="RS")
    bare = rate_records([record], {"de": make_plan()})
    assert reasons(bare) == {"a": "NO_PRICE_OUTSIDE_REGULATED_ZONE"}
    assert bare.rated == []
    priced = make_plan(roaming={"prices": [{"countries": ["*"], "data_per_mb": "0.119"}]})
    rated = rate_records([record], {"de": priced})
    row = rated.rated[0]
    assert row["rule_kind"] == "offer_cap"
    assert row["regime"] == "eu_wb_offer_caps"
    assert row["in_bundle_units"] == 0  # no draw on the domestic pool
    assert charges(row)[:4] == (0, 0, 100_000, 100_000)
    assert row["fup_allowance_bytes"] is None


# ------------------------------------------------------------------------------------------
# §5.6: bill-shock


def billshock_plan(**overrides: Any) -> Plan:
    # 1.19 EUR/MB incl. 19 % VAT = 1.00 EUR/MB excl. VAT in RS; calls 0.119 -> 0.10 EUR/min.
    return make_plan(
        roaming={
            "prices": [{"countries": ["*"], "data_per_mb": "1.19", "voice_mo_per_min": "0.119"}]
        },
        **overrides,
    )


def mb_in_rs(record_id: str, mb: int, day: int) -> dict[str, Any]:
    return rec(
        record_id,
        visited_country="RS",
        volume_bytes=mb * 10**6,
        started_at=f"2026-03-{day:02d}T10:00:00Z",
    )


def test_billshock_alerts_cut_and_block() -> None:
    # Default limit EUR 50 excl. VAT = 50 000 000 micros; 80 % = 40 000 000.
    # Read order shuffled: the event order is by started_at.
    result = rate_records(
        [
            mb_in_rs("r3", 10, 3),  # cum 45 -> 55 EUR: crosses, cut to 5 EUR; billshock_100
            mb_in_rs("r1", 30, 1),  # cum 0 -> 30
            mb_in_rs("r2", 15, 2),  # cum 30 -> 45 >= 40: billshock_80
            mb_in_rs("r4", 1, 4),  # cum_before 55 >= 50: blocked, 0 charges
            rec(
                "call",
                event_type="voice_mo",
                duration_s=60,
                visited_country="RS",
                started_at="2026-03-05T10:00:00Z",
            ),  # not data: outside the bill-shock scope
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
    assert rows["call"]["roaming_micros"] == 100_000
    assert rows["call"]["is_blocked_by_cutoff"] is False
    assert kinds(result) == [
        ("r1", "welcome"),
        ("r2", "billshock_80"),
        ("r3", "billshock_100"),
    ]
    thresholds = {n["kind"]: n["threshold_micros"] for n in result.notifications}
    assert thresholds == {"welcome": None, "billshock_80": 40_000_000, "billshock_100": 50_000_000}
    assert result.notifications[1]["billing_period_start"] == dt.date(2026, 3, 1)
    assert result.notifications[1]["currency"] == "EUR"
    assert result.notifications[1]["started_at"] == dt.datetime(2026, 3, 2, 10, tzinfo=dt.UTC)


def test_billshock_cut_takes_roaming_then_surcharge_then_domestic() -> None:
    # RLAH with the permanent-roaming control: domestic price and surcharge on every byte.
    # Plan limit EUR 1; no data included, 0.01 EUR/MB excl. VAT: 1000 MB -> 10 000 000 micros;
    # surcharge 1.10 EUR/GB = 0.0011 EUR/MB -> 1 100 000. Total 11 100 000 > 1 000 000: the
    # excess 10 100 000 comes from roaming (0), then surcharge (1 100 000 -> 0), then domestic
    # (10 000 000 -> 1 000 000).
    plans = {
        "de": make_plan(
            price_includes_vat=False,
            data_allowance_gb="0",
            billshock_limit_eur="1",
        )
    }
    result = rate_records([rec("a", volume_bytes=10**9, is_beyond_fair_use=True)], plans)
    row = result.rated[0]
    assert charges(row)[:4] == (1_000_000, 0, 0, 1_000_000)
    assert kinds(result) == [("a", "billshock_100"), ("a", "billshock_80"), ("a", "welcome")]


def test_billshock_continue_and_extra_alert() -> None:
    # billshock_continue with the default limit: no cut, no block; billshock_extra at EUR 100.
    plans = {"de": billshock_plan(billshock_continue=True)}
    result = rate_records([mb_in_rs("a", 120, 1), mb_in_rs("b", 5, 2)], plans)
    rows = by_id(result)
    assert rows["a"]["roaming_micros"] == 120_000_000
    assert rows["b"]["roaming_micros"] == 5_000_000
    assert rows["b"]["is_blocked_by_cutoff"] is False
    notes = {n["kind"]: n["threshold_micros"] for n in result.notifications}
    assert notes == {
        "billshock_80": 40_000_000,
        "billshock_100": 50_000_000,
        "billshock_extra": 100_000_000,
        "welcome": None,
    }


def test_m2m_plans_have_no_billshock() -> None:
    result = rate_records(
        [mb_in_rs("a", 60, 1), mb_in_rs("b", 1, 2)], {"de": billshock_plan(is_m2m=True)}
    )
    assert [r["roaming_micros"] for r in result.rated] == [60_000_000, 1_000_000]
    assert kinds(result) == [("a", "welcome")]


def test_billshock_limit_in_plan_currency() -> None:
    # RSD plan with its own EUR 50 limit in FR on 2020-03-01 (unregulated): limit 50 x 117.5 =
    # 5875 RSD; price 100 RSD/MB. 50 MB = 5000 RSD (>= 80 % = 4700); 10 MB more: 6000 > 5875,
    # cut to 875 RSD.
    plans = {
        "rs": rs_plan(
            billshock_limit_eur="50",
            roaming={"prices": [{"countries": ["*"], "data_per_mb": "100"}]},
        )
    }
    base = {"plan_id": "rs", "home_country": "RS", "visited_country": "FR"}
    result = rate_records(
        [
            rec("a", volume_bytes=50 * 10**6, started_at="2020-03-01T10:00:00Z", **base),
            rec("b", volume_bytes=10 * 10**6, started_at="2020-03-02T10:00:00Z", **base),
        ],
        plans,
        RSD_FX,
    )
    rows = by_id(result)
    assert rows["a"]["rule_kind"] == "unregulated"
    assert rows["a"]["roaming_micros"] == 5_000_000_000
    assert rows["b"]["roaming_micros"] == 875_000_000
    thresholds = {n["kind"]: n["threshold_micros"] for n in result.notifications}
    assert thresholds["billshock_80"] == 4_700_000_000
    assert thresholds["billshock_100"] == 5_875_000_000


def test_art_14_binds_eu_providers_only() -> None:
    # A Serbian plan without a limit of its own: Art. 14 binds EU/EEA providers, so nothing is
    # cut and no bill-shock notification is sent, however much is used (6000 RSD > EUR 50).
    plans = {"rs": rs_plan(roaming={"prices": [{"countries": ["*"], "data_per_mb": "100"}]})}
    base = {"plan_id": "rs", "home_country": "RS", "visited_country": "FR"}
    result = rate_records(
        [
            rec("a", volume_bytes=50 * 10**6, started_at="2020-03-01T10:00:00Z", **base),
            rec("b", volume_bytes=10 * 10**6, started_at="2020-03-02T10:00:00Z", **base),
        ],
        plans,
        RSD_FX,
    )
    rows = by_id(result)
    assert rows["b"]["roaming_micros"] == 1_000_000_000
    assert not rows["b"]["is_blocked_by_cutoff"]
    assert {n["kind"] for n in result.notifications} == {"welcome"}


# ------------------------------------------------------------------------------------------
# Notifications: welcome


def test_welcome_on_each_entry_into_a_new_visited_country() -> None:
    # DE (domestic), AT, AT, DE, AT: welcome on the first AT and on the AT after coming home.
    visits = ["DE", "AT", "AT", "DE", "AT"]
    records = [
        rec(f"r{i}", visited_country=v, started_at=f"2026-03-0{i + 1}T10:00:00Z")
        for i, v in enumerate(visits)
    ]
    result = rate_records(records, {"de": make_plan()})
    assert kinds(result) == [("r1", "welcome"), ("r4", "welcome")]


# ------------------------------------------------------------------------------------------
# §2: governing date and billing period


def test_local_date_governs_and_28_day_periods() -> None:
    # 2026-03-31 23:30 UTC + 60 min = 2026-04-01 local. 28-day periods from 2017-01-02:
    # 2026-03-10 lies in the period starting 2017-01-02 + 119 x 28 days = 2026-02-16.
    plans = {"m": make_plan(id="m"), "d": make_plan(id="d", billing_period="28d")}
    result = rate_records(
        [
            rec("a", plan_id="m", started_at="2026-03-31T23:30:00Z"),
            rec("b", plan_id="d", started_at=dt.datetime(2026, 3, 10, 10, 0)),
            rec("c", plan_id="d", started_at="2026-03-16T01:00:00+02:00"),  # 15 Mar 23:00 UTC
        ],
        plans,
    )
    rows = by_id(result)
    assert rows["a"]["local_date"] == dt.date(2026, 4, 1)
    assert rows["a"]["billing_period_start"] == dt.date(2026, 4, 1)
    assert rows["b"]["billing_period_start"] == dt.date(2026, 2, 16)
    # local 2026-03-16 00:00 (+60): a new 28-day period starts on 2026-03-16.
    assert rows["c"]["local_date"] == dt.date(2026, 3, 16)
    assert rows["c"]["billing_period_start"] == dt.date(2026, 3, 16)


# ------------------------------------------------------------------------------------------
# §7: rejects


def test_three_rejects_and_the_rest_rated() -> None:
    records = [
        rec("a"),
        rec("b", started_at="2026-13-01T10:00:00Z"),
        rec("a", started_at="2026-03-11T10:00:00Z"),
        rec("c", visited_country="ZZ"),
        rec("d", visited_country="fr"),
    ]
    result = rate_records(records, {"de": make_plan()})
    assert [(r["row_number"], r["reason_code"]) for r in result.rejects] == [
        (1, "BAD_TIMESTAMP"),
        (2, "DUPLICATE_RECORD_ID"),
        (3, "UNKNOWN_COUNTRY"),
    ]
    assert [r["row_number"] for r in result.rated] == [0, 4]
    assert len(result.rated) + len(result.rejects) == len(records)
    assert "2026-13-01" in result.rejects[0]["message"]
    assert "row 0" in result.rejects[1]["message"]
    assert result.rejects[2]["visited_country"] == "ZZ"  # the row as read


def test_every_reason_code() -> None:
    plans = {
        "de": make_plan(roaming={"prices": [{"countries": ["GB"], "voice_mo_per_min": "1"}]}),
        "rs": rs_plan(),
    }
    records = [
        rec("missing", subscriber_id=""),
        rec("missing-qty", volume_bytes=None),
        rec("bad-ts", started_at="yesterday"),
        rec("bad-offset", utc_offset_min="900"),
        rec("bad-number", event_type="voice_mo", duration_s="12.5"),
        rec("bad-event", event_type="fax", duration_s=None),
        rec("negative", volume_bytes=-1),
        rec("range", event_type="sms_mo", count=10_001),
        rec("country", home_country="QQ"),
        rec("plan", plan_id="nope"),
        rec("home", home_country="FR"),
        rec("dup", started_at="2026-03-10T10:00:00"),
        rec("dup"),
        rec("early", started_at="2016-01-01T10:00:00Z"),
        # 2018: no received-call surcharge cap in force (a gap of resolve); needed only because
        # the permanent-roaming control makes the call pay the surcharge.
        rec(
            "gap",
            event_type="voice_mt",
            duration_s=60,
            started_at="2018-06-01T10:00:00Z",
            is_beyond_fair_use="true",
        ),
        rec("fx", plan_id="rs", home_country="RS", visited_country="ME", volume_bytes=1),
        rec("mms", event_type="mms_mo", count=1),
        rec("outside", event_type="sms_mo", visited_country="GB"),
        rec("bad-id", subscriber_id="s\x001"),
    ]
    result = rate_records(records, plans)  # no FX table
    assert reasons(result) == {
        "missing": "MISSING_FIELD",
        "missing-qty": "MISSING_FIELD",
        "bad-ts": "BAD_TIMESTAMP",
        "bad-offset": "BAD_TIMESTAMP",
        "bad-number": "BAD_NUMBER",
        "bad-event": "BAD_EVENT_TYPE",
        "negative": "NEGATIVE_QUANTITY",
        "range": "QUANTITY_OUT_OF_RANGE",
        "country": "UNKNOWN_COUNTRY",
        "plan": "UNKNOWN_PLAN",
        "home": "PLAN_HOME_MISMATCH",
        "dup": "DUPLICATE_RECORD_ID",
        "early": "NO_RULE_IN_FORCE",
        "gap": "NO_RULE_IN_FORCE",
        "fx": "NO_FX_RATE",
        "mms": "NO_PRICE",
        "outside": "NO_PRICE_OUTSIDE_REGULATED_ZONE",
        "bad-id": "BAD_ID",
    }
    assert {r["reason_code"] for r in result.rejects} == set(REASON_CODES)
    assert [r["record_id"] for r in result.rated] == ["dup"]  # the first occurrence
    assert result.rated[0]["row_number"] == 11
    assert all(reject["message"] for reject in result.rejects)
    assert len(result.rated) + len(result.rejects) == len(records)


def test_received_call_in_2018_without_permanent_roaming_needs_no_cap() -> None:
    result = rate_records(
        [rec("a", event_type="voice_mt", duration_s=60, started_at="2018-06-01T10:00:00Z")],
        {"de": make_plan()},
    )
    assert result.rejects == []
    assert result.rated[0]["vat_rate"] == Decimal("0.19")


def test_first_occurrence_rejected_still_makes_later_copies_duplicates() -> None:
    result = rate_records(
        [rec("x", started_at="not a time"), rec("x")],
        {"de": make_plan()},
    )
    assert [r["reason_code"] for r in result.rejects] == ["BAD_TIMESTAMP", "DUPLICATE_RECORD_ID"]
    assert result.rated == []


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"event_type": "voice_mo", "duration_s": None}, "MISSING_FIELD"),
        ({"utc_offset_min": None}, "MISSING_FIELD"),
        ({"event_type": "voice_mo", "duration_s": True}, "BAD_NUMBER"),
        ({"event_type": "voice_mo", "duration_s": 86_401}, "QUANTITY_OUT_OF_RANGE"),
        ({"volume_bytes": 10**12 + 1}, "QUANTITY_OUT_OF_RANGE"),
        ({"volume_bytes": "1e3"}, "BAD_NUMBER"),
        ({"utc_offset_min": 841}, "BAD_TIMESTAMP"),
        ({"utc_offset_min": "-721"}, "BAD_TIMESTAMP"),
        ({"started_at": "2026-03-10"}, "BAD_TIMESTAMP"),
        ({"started_at": dt.date(2026, 3, 10)}, "BAD_TIMESTAMP"),
        ({"event_type": "fax", "volume_bytes": "oops"}, "BAD_EVENT_TYPE"),
        ({"event_type": "VOICE_MO"}, "BAD_EVENT_TYPE"),
        ({"started_at": "bad", "volume_bytes": "oops"}, "BAD_TIMESTAMP"),
        ({"volume_bytes": "oops", "visited_country": "ZZ"}, "BAD_NUMBER"),
    ],
)
def test_validation_order(overrides: dict[str, Any], code: str) -> None:
    result = rate_records([rec("a", **overrides)], {"de": make_plan()})
    assert reasons(result) == {"a": code}


def test_accepted_inputs() -> None:
    # Offsets in text, naive text = UTC, numbers as strings, lower-case countries; quantities of
    # other events ignored; utc_offset_min bounds inclusive.
    result = rate_records(
        [
            rec("a", started_at="2026-03-10T12:00:00+02:00", utc_offset_min="-720"),
            rec("b", home_country="de", volume_bytes="2000", duration_s="junk", utc_offset_min=840),
        ],
        {"de": make_plan()},
    )
    assert result.rejects == []
    rows = by_id(result)
    assert rows["a"]["local_date"] == dt.date(2026, 3, 9)  # 10:00 UTC - 12 h
    assert rows["b"]["billed_units"] == 2


def test_rated_columns() -> None:
    result = rate_records([rec("a", extra="kept")], {"de": make_plan()})
    row = result.rated[0]
    first = list(row).index("row_number")
    assert list(row)[first:] == [
        "row_number",
        "local_date",
        "billing_period_start",
        "regime",
        "rule_kind",
        "billed_units",
        "billed_unit",
        "in_bundle_units",
        "domestic_micros",
        "surcharge_micros",
        "roaming_micros",
        "charge_excl_vat_micros",
        "vat_rate",
        "vat_micros",
        "charge_incl_vat_micros",
        "currency",
        "fup_allowance_bytes",
        "fup_used_bytes",
        "is_over_fup",
        "is_blocked_by_cutoff",
        "parameters",
        "is_late",
    ]
    assert row["extra"] == "kept"
    assert row["count"] is None
    assert isinstance(row["vat_rate"], Decimal)
    assert row["parameters"].split(";") == sorted(row["parameters"].split(";"))

"""Hypothesis strategies shared by the property tests: plans, FX and usage batches.

Batches of usage span every change date of the catalog and every regime, with plans in euro and
other currencies, VAT-inclusive prices, binary units, 28-day periods, limited and unlimited
allowances, operator surcharges, roaming price lists, M2M and bill-shock options, and a share of
malformed rows.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from hypothesis import strategies as st

from roamlike.law import default_catalog
from roamlike.tariffs import FxTable, Plan, parse_plan

OOB = {"voice_per_min": "0.09", "sms": "0.06", "data_per_mb": "0.012", "mms": "0.30"}


def _plan(**over: Any) -> Plan:
    raw: dict[str, Any] = {
        "home_country": "DE",
        "currency": "EUR",
        "price": "30.00",
        "price_includes_vat": False,
        "billing_period": "month",
        "data_allowance_gb": "unlimited",
        "voice_allowance_min": "unlimited",
        "sms_allowance": "unlimited",
        "out_of_bundle": dict(OOB),
    }
    raw.update(over)
    return parse_plan(raw)


PLANS: dict[str, Plan] = {
    p.id: p
    for p in [
        _plan(id="de-unl", price="0.02"),
        _plan(
            id="de-small",
            price="20.00",
            price_includes_vat=True,
            data_allowance_gb="0.002",
            voice_allowance_min="1",
            sms_allowance=2,
            roaming={"surcharges": {"data_per_gb": "0.80", "voice_mo_per_min": "0.05"}},
        ),
        _plan(
            id="de-28d-bin",
            billing_period="28d",
            binary_units=True,
            data_allowance_gb="0.001",
            price="0.50",
            billshock_limit_eur="0.05",
            roaming={
                "prices": [
                    {
                        "countries": ["*"],
                        "voice_mo_per_min": "0.50",
                        "data_per_mb": "2.00",
                        "sms_mo": "0.20",
                    }
                ]
            },
        ),
        _plan(
            id="rs-basic",
            home_country="RS",
            currency="RSD",
            price="1200",
            data_allowance_gb="0.003",
            voice_allowance_min="2",
            out_of_bundle={"voice_per_min": "6", "sms": "3", "data_per_mb": "2"},
            roaming={
                "surcharges": {"voice_mo_per_min": "2", "data_per_gb": "1000"},
                "prices": [
                    {
                        "countries": ["DE", "AT"],
                        "voice_mo_per_min": "30",
                        "voice_mt_per_min": "10",
                        "sms_mo": "12",
                        "data_per_mb": "60",
                        "mms": "40",
                    },
                    {"countries": ["*"], "voice_mo_per_min": "100", "data_per_mb": "500"},
                ],
            },
        ),
        _plan(
            id="al-prepaid",
            home_country="AL",
            currency="ALL",
            price="500",
            price_includes_vat=True,
            billing_period="prepaid",
            prepaid_credit="300",
            data_allowance_gb="unlimited",
            billshock_continue=True,
        ),
        _plan(
            id="ua-m2m",
            home_country="UA",
            currency="UAH",
            price="150",
            is_m2m=True,
            data_allowance_gb="1",
            roaming={"prices": [{"countries": ["*"], "data_per_mb": "3", "sms_mt": "0.5"}]},
        ),
        _plan(
            id="pl-pln",
            home_country="PL",
            currency="PLN",
            price="40",
            vat_rate="0.23",
            billshock_continue=True,
            data_allowance_gb="0.004",
        ),
        _plan(
            id="gb-gbp",
            home_country="GB",
            currency="GBP",
            price="10",
            roaming={"prices": [{"countries": ["FR"], "data_per_mb": "0.05"}]},
        ),
    ]
}
SUBSCRIBERS = {
    "s-de1": "de-unl",
    "s-de2": "de-small",
    "s-de3": "de-28d-bin",
    "s-rs": "rs-basic",
    "s-al": "al-prepaid",
    "s-ua": "ua-m2m",
    "s-pl": "pl-pln",
    "s-gb": "gb-gbp",
}


def _fx() -> FxTable:
    rows: list[tuple[dt.date, str, Decimal]] = []
    for year in range(2016, 2034):
        for month in range(1, 13):
            day = dt.date(year, month, 1)
            rows.append((day, "RSD", Decimal("117.25") + Decimal(month) / 10))
            rows.append((day, "ALL", Decimal("123.5") - Decimal(year - 2016)))
            rows.append((day, "UAH", Decimal("30.125") + Decimal(year - 2016)))
        for month in (1, 2, 3):
            day = dt.date(year, month, 15)
            rows.append((day, "PLN", Decimal("4.3") + Decimal(month) / 100))
            if year < 2026:
                rows.append((day, "GBP", Decimal("0.85") + Decimal(month) / 1000))
    return FxTable.from_rows(rows, source="test")


FX = _fx()
HOME = {p.id: p.home_country for p in PLANS.values()}
VISITED = ["DE", "AT", "FR", "PL", "RS", "ME", "AL", "BA", "UA", "MD", "GB", "NO", "QQ"]
#: Extra weight on each home's likely destinations, so every regime is drawn often.
NEIGHBOURS = {
    "DE": ["AT", "FR", "RS"],
    "RS": ["ME", "BA", "MK", "DE"],
    "AL": ["XK", "ME", "RS", "IT"],
    "UA": ["PL", "RO", "MD"],
    "PL": ["DE", "CZ", "UA"],
    "GB": ["FR", "ES"],
}


def _change_days() -> list[dt.date]:
    days = set()
    for d in default_catalog().change_dates():
        days.update({d, d - dt.timedelta(days=1)})
    days.update({dt.date(2017, 6, 14), dt.date(2032, 7, 1)})
    return sorted(days)


_COVERAGE = default_catalog().coverage
CHANGE_DAYS = [d for d in _change_days() if _COVERAGE.start <= d <= _COVERAGE.end]
EDGE_DAYS = [d for d in _change_days() if d not in CHANGE_DAYS]


@st.composite
def records(draw: st.DrawFn) -> list[dict[str, Any]]:
    n = draw(st.integers(1, 30))
    subs = draw(st.lists(st.sampled_from(sorted(SUBSCRIBERS)), min_size=1, max_size=3, unique=True))
    if draw(st.integers(0, 9)) == 0:
        base_day = draw(st.sampled_from(EDGE_DAYS))
    else:
        base_day = draw(st.sampled_from(CHANGE_DAYS))
    out = []
    for i in range(n):
        sub = draw(st.sampled_from(subs))
        plan_id = SUBSCRIBERS[sub]
        home = HOME[plan_id]
        event = draw(
            st.sampled_from(["voice_mo", "voice_mt", "sms_mo", "sms_mt", "data", "data", "mms_mo"])
        )
        day = base_day + dt.timedelta(days=draw(st.integers(-3, 3)))
        seconds = draw(st.integers(0, 86399))
        ts = dt.datetime.combine(day, dt.time()) + dt.timedelta(seconds=seconds)
        visited = draw(st.sampled_from([home, home, *VISITED, *NEIGHBOURS[home]]))
        rec: dict[str, Any] = {
            "record_id": f"r{i}",
            "subscriber_id": sub,
            "plan_id": plan_id,
            "event_type": event,
            "started_at": ts.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "utc_offset_min": str(draw(st.sampled_from([0, 60, 120, -300, 840]))),
            "home_country": home,
            "visited_country": visited,
            "destination_country": None,
            "duration_s": str(draw(st.integers(0, 900))),
            "volume_bytes": str(
                draw(
                    st.sampled_from(
                        [0, 1, 999, 1000, 1001, 1024, 500_000, 2_000_000, 3_000_000_000]
                    )
                )
            ),
            "count": draw(st.sampled_from([None, "1", "3"])),
            "is_beyond_fair_use": draw(st.sampled_from([None, "false", "true"])),
        }
        fault = draw(st.integers(0, 30))
        if fault == 1:
            rec["started_at"] = "2026-02-30T10:00:00Z"
        elif fault == 2:
            rec["record_id"] = "r0"
        elif fault == 3:
            rec["visited_country"] = "ZZ"
        elif fault == 4:
            rec["duration_s"] = "-5" if event.startswith("voice") else rec["duration_s"]
            rec["volume_bytes"] = "abc" if event == "data" else rec["volume_bytes"]
        elif fault == 5:
            rec["plan_id"] = "nope"
        elif fault == 6:
            rec["home_country"] = "FR"
        elif fault == 7:
            rec["event_type"] = "fax"
        elif fault == 8:
            rec["subscriber_id"] = ""
        elif fault == 9:
            rec["is_beyond_fair_use"] = "maybe"
        elif fault == 10:
            rec["record_id"] = "r0\x00" + rec["record_id"]  # "r0" to a store that cuts at NUL
        elif fault == 11:
            rec["subscriber_id"] = sub + "\x00"
        out.append(rec)
    return out

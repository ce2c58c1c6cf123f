"""The wholesale cap check: worked examples under Regulation (EU) 2022/612 Art. 9-11, the
Western Balkans agreement, pairs without a wholesale cap, currencies and statuses."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

import polars as pl
import pytest

from roamlike.law import default_catalog
from roamlike.tariffs import FxTable
from roamlike.wholesale import EVENT_SCHEMA
from roamlike.wholesale.check import average_per_unit, check_wholesale

CAT = default_catalog()


def events(*rows: dict[str, Any]) -> pl.DataFrame:
    base = dict.fromkeys(EVENT_SCHEMA) | {
        "file": "f.tap",
        "sender": "ESPTE",
        "recipient": "DEUD1",
        "home_country": "DE",
        "visited_country": "ES",
        "kind": "mobile_originated_call",
        "event_type": "voice_mo",
        "started_at": dt.datetime(2026, 3, 10, 11, tzinfo=dt.UTC),
        "utc_offset_min": 60,
        "currency": "EUR",
        "local_currency": "EUR",
    }
    return pl.DataFrame(
        [base | {"event_index": n} | r for n, r in enumerate(rows)],
        schema=EVENT_SCHEMA,
        orient="row",
    )


def one(**row: Any) -> dict[str, Any]:
    result = check_wholesale(events(row), CAT)
    return result.events.row(0, named=True)


def test_art_9_voice_cap_per_second_2026() -> None:
    # EUR 0.019/min (Art. 9(1), from 2025): 125 s -> 0.019 x 125 / 60 = 0.03958333... -> 39 583 µ
    r = one(duration_s=125, charge_micros=40_000)
    assert (r["status"], r["regime"], r["cap_value"], r["cap_unit"]) == (
        "checked",
        "eu_rlah",
        "0.019",
        "EUR/min",
    )
    assert r["cap_parameter"] == "eu.wholesale.voice_eur_per_min"
    assert r["cap_grade"] == "legal"
    assert r["cap_basis"] == "eu_2022_612 Art. 9(1)"
    assert (r["units"], r["at_cap_eur_micros"], r["is_above_cap"]) == (125, 39_583, True)
    # its price: 0.040 EUR / (125/60) min = EUR 0.0192/min against the cap's 0.019
    assert (r["price_nanos_per_unit"], r["cap_nanos"]) == (19_200_000, 19_000_000)


def test_art_9_3_initial_minimum_charging_period_of_30_s() -> None:
    r = one(duration_s=20, charge_micros=9_500)  # billed as 30 s: 0.019 / 2 = 0.0095
    assert (r["units"], r["at_cap_eur_micros"], r["is_above_cap"]) == (30, 9_500, False)
    assert one(duration_s=0, charge_micros=0)["units"] == 0


def test_art_10_sms_cap() -> None:
    r = one(event_type="sms_mo", charge_micros=4_000)  # EUR 0.003 per SMS in 2026
    assert (r["cap_value"], r["at_cap_eur_micros"], r["is_above_cap"]) == ("0.003", 3_000, True)


def test_art_11_data_cap_per_byte_decimal_units() -> None:
    # EUR 1.10/GB in 2026: 1 200 000 bytes -> 1.10 x 0.0012 = 0.00132 -> 1 320 µ
    r = one(
        kind="gprs_call",
        event_type="data",
        volume_in_bytes=1_000_000,
        volume_out_bytes=200_000,
        charge_micros=1_320,
    )
    assert (r["units"], r["at_cap_eur_micros"], r["is_above_cap"]) == (1_200_000, 1_320, False)


def test_cap_of_the_local_start_date_governs() -> None:
    # 2024-12-31 23:30 local (+0100) is 22:30 UTC: the 2024 voice cap 0.022 applies, not 0.019
    r = one(started_at=dt.datetime(2024, 12, 31, 22, 30, tzinfo=dt.UTC), duration_s=60)
    assert r["cap_value"] == "0.022"
    assert r["on"] == dt.date(2024, 12, 31)
    r = one(started_at=dt.datetime(2024, 12, 31, 23, 30, tzinfo=dt.UTC), duration_s=60)
    assert r["cap_value"] == "0.019"
    assert r["on"] == dt.date(2025, 1, 1)


def test_western_balkans_wholesale_data_cap_per_mb() -> None:
    r = one(
        home_country="RS",
        visited_country="AL",
        kind="gprs_call",
        event_type="data",
        volume_in_bytes=3_000_000,
        volume_out_bytes=0,
        charge_micros=0,
    )
    assert (r["status"], r["regime"], r["cap_parameter"]) == (
        "checked",
        "wb_rra",
        "wb.wholesale.data_eur_per_mb",
    )
    expected = (Decimal(r["cap_value"]) * 3 * 10**6).quantize(Decimal(1), ROUND_HALF_EVEN)
    assert r["at_cap_eur_micros"] == int(expected)


def test_eu_western_balkans_has_no_wholesale_cap_and_says_so() -> None:
    r = one(home_country="DE", visited_country="AL", duration_s=60, charge_micros=500_000)
    assert (r["status"], r["regime"], r["at_cap_eur_micros"]) == (
        "unregulated",
        "eu_wb_offer_caps",
        None,
    )


@pytest.mark.parametrize(
    ("row", "status"),
    [
        ({"event_type": "voice_mt"}, "not_regulated_service"),
        ({"event_type": "sms_mt"}, "not_regulated_service"),
        ({"home_country": "ES"}, "domestic"),
        ({"home_country": None}, "country_unknown"),
        ({"visited_country": "ZZ"}, "country_unknown"),
        ({"started_at": dt.datetime(2033, 1, 1, tzinfo=dt.UTC)}, "not_in_force"),
        ({"currency": "USD", "local_currency": "USD", "charge_micros": 1}, "no_rate_to_eur"),
    ],
)
def test_statuses(row: dict[str, Any], status: str) -> None:
    assert one(**{"duration_s": 60, "charge_micros": 1_000} | row)["status"] == status


def test_file_exchange_rate_to_eur() -> None:
    # SDR charges, local currency EUR, rate 1.0825: 0.020 SDR -> 0.021650 EUR
    r = one(currency="XDR", exchange_rate="1.0825", duration_s=60, charge_micros=20_000)
    assert (r["charge_eur_micros"], r["fx_method"]) == (21_650, "file exchange rate to EUR")


def test_fx_table_by_art_1_4_takes_precedence() -> None:
    fx = FxTable.from_rows(
        [
            (dt.date(2025, 1, 15), "SEK", Decimal("11")),
            (dt.date(2025, 2, 17), "SEK", Decimal("12")),
            (dt.date(2025, 3, 17), "SEK", Decimal("13")),
        ]
    )
    frame = events(
        {"currency": "SEK", "local_currency": "SEK", "duration_s": 60, "charge_micros": 240_000}
    )
    r = check_wholesale(frame, CAT, fx).events.row(0, named=True)
    assert r["charge_eur_micros"] == 20_000  # 0.24 SEK / 12 SEK per EUR
    assert r["fx_method"].startswith("FX table: ECB mean")


def test_partner_average_and_findings() -> None:
    result = check_wholesale(
        events(
            {"duration_s": 60, "charge_micros": 25_000},  # above 0.019/min
            {"duration_s": 60, "charge_micros": 10_000},  # below: the average 0.0175 is under
            {"event_type": "sms_mo", "charge_micros": 5_000},  # SMS average 0.005 > 0.003
        ),
        CAT,
    )
    rows = {r["service"]: r for r in result.partners.iter_rows(named=True)}
    assert rows["voice_mo"]["charge_eur_micros"] == 35_000
    assert rows["voice_mo"]["at_cap_eur_micros"] == 38_000
    assert not rows["voice_mo"]["is_average_above_cap"]
    assert rows["voice_mo"]["events_above_cap"] == 1
    assert rows["sms_mo"]["is_average_above_cap"]
    found = {(f.code, f.path) for f in result.findings}
    assert found == {
        ("WS_EVENTS_ABOVE_CAP", "ESPTE->DEUD1 2026-03 voice_mo"),
        ("WS_AVERAGE_ABOVE_CAP", "ESPTE->DEUD1 2026-03 sms_mo"),
        ("WS_EVENTS_ABOVE_CAP", "ESPTE->DEUD1 2026-03 sms_mo"),
    }


def test_unchecked_events_give_one_finding_per_file_and_reason() -> None:
    result = check_wholesale(
        events(
            {"home_country": None},
            {"home_country": None},
            {"started_at": dt.datetime(2040, 1, 1, tzinfo=dt.UTC)},
        ),
        CAT,
    )
    messages = {f.code: f.message for f in result.findings}
    assert messages["WS_COUNTRY_UNKNOWN"].startswith("2 events not checked")
    assert messages["WS_NOT_IN_FORCE"].startswith("1 events not checked")


def test_average_per_unit() -> None:
    assert average_per_unit(1_320, 1_200_000, 10**6) == Decimal("0.001100000")
    assert average_per_unit(5, 0, 1) is None


@pytest.mark.parametrize(
    ("home", "visited", "year", "status"),
    [
        ("UA", "DE", 2026, "checked"),  # Ukraine in the EU roaming area from 2026-01-01
        ("UA", "DE", 2025, "unregulated"),
        ("MD", "PL", 2026, "checked"),
        ("CH", "DE", 2026, "unregulated"),  # Switzerland: outside every regime
        ("US", "FR", 2026, "unregulated"),
    ],
)
def test_ukraine_moldova_and_countries_outside_every_regime(
    home: str, visited: str, year: int, status: str
) -> None:
    r = one(
        home_country=home,
        visited_country=visited,
        duration_s=60,
        charge_micros=10_000,
        started_at=dt.datetime(year, 3, 10, 11, tzinfo=dt.UTC),
    )
    assert r["status"] == status

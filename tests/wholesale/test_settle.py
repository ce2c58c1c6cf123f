"""A golden settlement worked by hand: two operators charging each other in March 2026."""

from __future__ import annotations

from typing import Any

import polars as pl
from tap_bytes import a, audit, batch_control, c, i, p
from tap_bytes import accounting as accounting_block
from tap_bytes import network as network_block

from roamlike.law import default_catalog
from roamlike.wholesale import decode_bytes
from roamlike.wholesale.check import check_wholesale
from roamlike.wholesale.settle import settle

CAT = default_catalog()


def _event(tag: int, basic: int, imsi: str, seconds: int, charge: int, service: str) -> bytes:
    sub = c(427, c(199, p(129, bytes.fromhex(imsi + "f"))))
    return c(
        tag,
        c(basic, sub, c(44, a(16, "20260310120000"), i(232, 0)), i(223, seconds)),
        c(
            38,
            c(
                39,
                c(36, c(426, a(218, service))),
                c(70, c(69, a(66, "D"), c(64, c(63, a(71, "00"), i(62, charge))))),
            ),
        ),
    )


def _data(imsi: str, volume_in: int, volume_out: int, charge: int) -> bytes:
    sub = c(427, c(199, p(129, bytes.fromhex(imsi + "f"))))
    return c(
        14,
        c(114, c(115, sub), c(44, a(16, "20260310130000"), i(232, 0)), i(223, 60)),
        c(
            121,
            i(250, volume_in),
            i(251, volume_out),
            c(70, c(69, a(66, "X"), c(64, c(63, a(71, "00"), i(62, charge))))),
        ),
    )


def files() -> pl.DataFrame:
    # TapDecimalPlaces 6: raw amounts are micro-euro.
    de = "262011234567890"
    es = "214011234567890"
    spain_to_germany = c(
        1,
        batch_control("ESPTE", "DEUD1"),
        accounting_block(6),
        network_block(),
        c(
            3,
            _event(9, 147, de, 125, 40_000, "11"),
            _event(9, 147, de, 20, 9_000, "11"),
            _data(de, 1_000_000, 200_000, 2_000),
        ),
        audit(51_000, 0, 3),
    )
    germany_to_spain = c(
        1,
        batch_control("DEUD1", "ESPTE"),
        accounting_block(6),
        network_block(),
        c(3, _event(9, 147, es, 60, 19_000, "11"), _event(10, 153, es, 300, 5_000, "11")),
        audit(24_000, 0, 2),
    )
    taps = [
        decode_bytes(b, n, CAT)
        for n, b in (("es.tap", spain_to_germany), ("de.tap", germany_to_spain))
    ]
    assert all(t.findings == [] for t in taps)
    return pl.concat([t.events for t in taps])


def rows(df: pl.DataFrame) -> list[dict[str, Any]]:
    return df.to_dicts()


def test_golden_settlement_march_2026() -> None:
    s = settle(check_wholesale(files(), CAT).events, "2026-03")
    lines = {(r["sender"], r["service"]): r for r in s.lines.iter_rows(named=True)}
    # Spain -> Germany, voice: 125 s + 20 s (billed 30 s, Art. 9(3)) = 155 s at EUR 0.019/min
    # = 0.049083 EUR at the cap; charged 0.040 + 0.009 = 0.049: no excess on the average.
    voice = lines[("ESPTE", "voice_mo")]
    assert (voice["events"], voice["units"]) == (2, 155)
    assert (
        voice["charged_eur_micros"],
        voice["at_cap_eur_micros"],
        voice["excess_eur_micros"],
    ) == (
        49_000,
        39_583 + 9_500,
        0,
    )
    # data: 1.2 MB at EUR 1.10/GB = 0.00132 at the cap; charged 0.002: excess 0.00068
    data = lines[("ESPTE", "data")]
    assert (data["charged_eur_micros"], data["at_cap_eur_micros"], data["excess_eur_micros"]) == (
        2_000,
        1_320,
        680,
    )
    # Germany -> Spain: one call made at the cap, one call received (no wholesale roaming cap)
    assert lines[("DEUD1", "voice_mo")]["excess_eur_micros"] == 0
    mt = lines[("DEUD1", "mobile_terminated_call")]
    assert (mt["charged_eur_micros"], mt["at_cap_eur_micros"], mt["excess_eur_micros"]) == (
        5_000,
        None,
        None,
    )
    # Net: ESPTE charged DEUD1 0.051, DEUD1 charged ESPTE 0.024: DEUD1 owes ESPTE 0.027
    assert rows(s.net) == [
        {
            "operator_a": "DEUD1",
            "operator_b": "ESPTE",
            "a_charged_b_eur_micros": 24_000,
            "b_charged_a_eur_micros": 51_000,
            "net_eur_micros": -27_000,
            "debtor": "DEUD1",
            "creditor": "ESPTE",
            "amount_owed_eur_micros": 27_000,
        }
    ]


def test_another_month_is_empty() -> None:
    s = settle(check_wholesale(files(), CAT).events, "2026-04")
    assert s.lines.height == 0
    assert s.net.height == 0

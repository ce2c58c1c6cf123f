"""Decoding hand-built TAP files: header, events, amounts, time zones, extensions, findings."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from tap_bytes import a, accounting, audit, batch, batch_control, c, ci, gprs, i, moc, network, p

from roamlike.law import default_catalog
from roamlike.wholesale import TapFile, decode_bytes, decode_file

CAT = default_catalog()


def decode(data: bytes) -> TapFile:
    return decode_bytes(data, "t.tap", CAT)


def codes(tap: TapFile) -> list[str]:
    return [f.code for f in tap.findings]


def test_header_items_are_decoded() -> None:
    tap = decode(batch(moc(), gprs(), total=42, tax=5))
    h = tap.header
    assert (h.sender, h.recipient, h.file_sequence_number, h.release) == (
        "ESPTE",
        "DEUD1",
        "00042",
        "3.12",
    )
    assert (h.local_currency, h.tap_currency, h.tap_decimal_places) == ("EUR", "EUR", 3)
    assert h.cut_off is not None
    assert h.cut_off.iso() == "2026-03-01T00:00:00+01:00"
    assert {k: str(v) for k, v in h.exchange_rates.items()} == {1: "1.0825"}
    assert h.utc_offsets == {0: 60, 1: -150}
    assert h.audit.call_event_details_count == 2
    assert h.to_json()["audit"]["total_charge"] == "0.042"
    assert tap.findings == []


def test_events_have_exact_amounts_and_utc_start() -> None:
    tap = decode(batch(moc(), gprs(), total=42, tax=5))
    assert (tap.decoded, tap.failed, tap.events_in_file) == (2, 0, 2)
    call, data = tap.events.iter_rows(named=True)
    assert call["kind"] == "mobile_originated_call"
    assert call["event_type"] == "voice_mo"
    assert call["imsi"] == "262011234567890"
    assert call["msisdn"] == "491701234567"
    assert call["home_country"] == "DE"
    assert call["visited_country"] == "ES"
    assert call["started_at"] == dt.datetime(2026, 3, 1, 11, 0, tzinfo=dt.UTC)  # 12:00 at +0100
    assert call["utc_offset_min"] == 60
    assert call["duration_s"] == 125
    assert (call["charge_micros"], call["tax_micros"]) == (40_000, 5_000)
    assert call["exchange_rate"] == "1.0825"
    assert call["destination"] == "4930123456"
    assert (call["call_type_level1"], call["call_type_level2"], call["call_type_level3"]) == (
        1,
        0,
        2,
    )
    assert call["service_code"] == "11"
    assert call["charged_item"] == "D"
    assert data["kind"] == "gprs_call"
    assert data["event_type"] == "data"
    assert (data["volume_in_bytes"], data["volume_out_bytes"]) == (1_000_000, 200_000)
    assert data["charge_micros"] == 2_000
    assert data["tax_micros"] is None


def test_negative_utc_offset_code() -> None:
    tap = decode(batch(moc(code=1, local="20260301000000"), total=40, tax=5))
    started = tap.events.row(0, named=True)["started_at"]
    assert started == dt.datetime(2026, 3, 1, 2, 30, tzinfo=dt.UTC)


def test_indefinite_lengths_for_batch_list_and_event() -> None:
    event = ci(
        9,
        c(
            147,
            c(427, c(199, p(129, bytes.fromhex("262011234567890f")))),
            c(44, a(16, "20260301120000"), i(232, 0)),
            i(223, 60),
        ),
        ci(38, ci(39, c(70, c(69, c(64, c(63, a(71, "00"), i(62, 7))))))),
    )
    body = batch_control() + accounting() + network() + ci(3, event, moc()) + audit(47, 5, 2)
    tap = decode(bytes.fromhex("6180") + body + b"\x00\x00")
    assert tap.findings == []
    assert tap.events.get_column("charge_micros").to_list() == [7_000, 40_000]


def test_unknown_extension_elements_are_skipped() -> None:
    ext_event = p(999, b"future item") + c(998, p(997, b"x"), c(996))
    tap = decode(batch(moc(extra=ext_event), total=40, tax=5, extra=c(950, a(951, "ext"))))
    assert tap.findings == []
    assert tap.events.row(0, named=True)["charge_micros"] == 40_000


def test_zero_length_operator_spec_list() -> None:
    tap = decode(batch(moc(extra=c(162)), total=40, tax=5))
    assert tap.findings == []
    assert tap.decoded == 1


def test_notification_has_header_and_no_events() -> None:
    data = c(
        2,
        a(196, "ESPTE"),
        a(182, "DEUD1"),
        a(109, "00043"),
        c(107, a(16, "20260301000000"), a(231, "+0100")),
        c(227, a(16, "20260301000000"), a(231, "+0100")),
        i(201, 3),
        i(189, 12),
    )
    tap = decode(data)
    assert tap.header.kind == "notification"
    assert tap.header.file_sequence_number == "00043"
    assert tap.events.height == 0
    assert tap.findings == []


@pytest.mark.parametrize(
    ("places", "raw", "micros"), [(0, 3, 3_000_000), (6, 7, 7), (2, 5, 50_000)]
)
def test_tap_decimal_places_up_to_6_scale_exactly(places: int, raw: int, micros: int) -> None:
    tap = decode(batch(moc(charge=raw, tax=None), places=places, total=raw, tax=0))
    assert tap.events.row(0, named=True)["charge_micros"] == micros


def test_tap_decimal_places_above_6_keep_every_digit_or_fail() -> None:
    exact = decode(batch(moc(charge=12_000, tax=None), places=9, total=12_000, tax=0))
    assert exact.events.row(0, named=True)["charge_micros"] == 12
    lossy = decode(batch(moc(charge=12_345, tax=None), places=9, total=12_345, tax=0))
    assert "TAP_AMOUNT_PRECISION" in codes(lossy)
    assert lossy.decoded == 0
    assert lossy.failed == 1


def test_tap_decimal_places_out_of_range_is_fatal() -> None:
    tap = decode(batch(moc(), places=19, total=40, tax=5))
    assert "TAP_DECIMAL_PLACES_INVALID" in codes(tap)


def test_amount_too_large_for_micro_units() -> None:
    tap = decode(batch(moc(charge=2**61, tax=None), places=0, total=2**61, tax=0))
    assert "TAP_AMOUNT_RANGE" in codes(tap)
    assert tap.decoded == 0


def test_release_3_09_is_decoded_and_3_05_is_flagged() -> None:
    def with_release(release: int) -> bytes:
        return c(
            1, batch_control(release=release), accounting(), network(), c(3, moc()), audit(40, 5, 1)
        )

    assert decode(with_release(9)).findings == []
    assert codes(decode(with_release(5))) == ["TAP_RELEASE_UNSUPPORTED"]


def test_decode_file_reads_from_disk_and_reports_unreadable(
    tmp_path: pytest.TempPathFactory,
) -> None:
    path = tmp_path / "ok.tap"  # type: ignore[operator]
    path.write_bytes(batch(moc(), total=40, tax=5))
    assert decode_file(path, CAT).decoded == 1
    missing = decode_file(tmp_path / "missing.tap", CAT)  # type: ignore[operator]
    assert codes(missing) == ["TAP_UNREADABLE"]
    assert missing.events.schema == decode_file(path, CAT).events.schema


def test_country_of_unknown_tadig_is_a_warning() -> None:
    data = c(
        1, batch_control(sender="ZZZ01"), accounting(), network(), c(3, moc()), audit(40, 5, 1)
    )
    tap = decode(data)
    assert codes(tap) == ["TAP_COUNTRY_UNKNOWN"]
    assert tap.events.row(0, named=True)["visited_country"] is None


def test_events_table_is_one_chunk_with_the_documented_schema() -> None:
    from roamlike.wholesale import EVENT_SCHEMA

    tap = decode(batch(moc(), gprs(), total=42, tax=5))
    assert dict(tap.events.schema) == EVENT_SCHEMA
    assert isinstance(tap.events, pl.DataFrame)


def _charge(raw: int) -> bytes:
    return c(69, a(66, "E"), c(64, c(63, a(71, "00"), i(62, raw))))


def _stamp(number: int) -> bytes:
    return c(number, a(16, "20260301120000"), i(232, 0))


IMSI_BCD = bytes.fromhex("262011234567890f")


def test_every_event_kind_becomes_a_row() -> None:
    scu = c(
        12,
        c(191, c(430, c(286, p(129, IMSI_BCD))), i(67, 0), a(402, "4912")),
        i(184, 0),
        _charge(9),
        c(192, i(144, 0), i(170, 0), i(145, 1), i(141, 1)),
        c(193, _stamp(88), _stamp(76), a(73, "D")),
    )
    ss = c(
        11,
        c(427, c(199, p(129, IMSI_BCD))),
        c(206, a(209, "21"), i(208, 1), _stamp(74), _charge(3)),
    )
    messaging = c(
        433,
        i(439, 1),
        c(436, p(129, IMSI_BCD)),
        a(435, "ref"),
        c(185, i(184, 0)),
        _stamp(447),
        i(105, 1),
        c(258, i(259, 1)),
        i(62, 11),
    )
    session = c(
        434,
        i(440, 1),
        c(436, p(129, IMSI_BCD)),
        a(435, "r"),
        c(185, i(184, 0)),
        _stamp(447),
        i(223, 30),
        c(448, c(449, a(66, "D"), c(258, i(259, 2)), c(64, c(63, a(71, "00"), i(62, 5))))),
    )
    content = c(
        17,
        c(304, i(303, 0)),
        c(324, c(310, c(309, i(305, 1), a(287, "x")))),
        c(335, a(334, "provider")),
        c(285, c(352, i(336, 1), i(337, 1), a(340, "x"), a(341, "id"), c(70, _charge(4)))),
    )
    location = c(297, i(184, 0), c(382, c(383, _stamp(384)), c(70, _charge(2))))
    tap = decode(batch(scu, ss, messaging, session, content, location, total=34, tax=0))
    assert tap.findings == []
    rows = {r["kind"]: r for r in tap.events.iter_rows(named=True)}
    assert set(rows) == {
        "service_centre_usage",
        "suppl_service_event",
        "messaging_event",
        "mobile_session",
        "content_transaction",
        "location_service",
    }
    noon = dt.datetime(2026, 3, 1, 11, tzinfo=dt.UTC)
    for kind in (
        "service_centre_usage",
        "suppl_service_event",
        "messaging_event",
        "mobile_session",
    ):
        assert (rows[kind]["imsi"], rows[kind]["started_at"]) == ("262011234567890", noon), kind
    assert [rows[k]["charge_micros"] for k in sorted(rows)] == [
        4_000,
        2_000,
        11_000,
        5_000,
        9_000,
        3_000,
    ]
    assert rows["mobile_session"]["duration_s"] == 30
    assert rows["messaging_event"]["exchange_rate_code"] == 1
    assert rows["content_transaction"]["imsi"] is None
    assert all(r["event_type"] is None for r in rows.values())


def test_a_charging_timestamp_does_not_override_the_start() -> None:
    late = c(74, a(16, "20260301150000"), i(232, 1))
    call = moc(extra=late)
    tap = decode(batch(call, total=40, tax=5))
    row = tap.events.row(0, named=True)
    assert (row["started_at"], row["utc_offset_min"]) == (
        dt.datetime(2026, 3, 1, 11, tzinfo=dt.UTC),
        60,
    )

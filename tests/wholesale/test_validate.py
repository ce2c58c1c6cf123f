"""Validation as a clearing house does it: every finding code from a hand-built file, audit
reconciliation, and fuzzing (truncation, byte flips) that must never raise."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tap_bytes import a, accounting, audit, batch, batch_control, c, ci, gprs, i, moc, network, p

from roamlike.law import default_catalog
from roamlike.wholesale import CODES, TapFile, decode_bytes, is_blocking

CAT = default_catalog()
GOOD = batch(moc(), gprs(), total=42, tax=5)
#: the same events in an indefinite-length list, the second event itself indefinite
GOOD_INDEFINITE = batch(moc(), ci(14, gprs()[2:]), total=42, tax=5, indefinite_list=True)


def decode(data: bytes) -> TapFile:
    return decode_bytes(data, "t.tap", CAT)


def codes(tap: TapFile) -> set[str]:
    return {f.code for f in tap.findings}


def test_every_code_has_a_known_severity() -> None:
    assert {sev for sev, _ in CODES.values()} == {"fatal", "severe", "warning"}


def _sub(imsi_hex: str = "262011234567890f") -> bytes:
    return c(427, c(199, p(129, bytes.fromhex(imsi_hex))))


def _start() -> bytes:
    return c(44, a(16, "20260301120000"), i(232, 0))


def _call(*basic: bytes, body: bytes = b"") -> bytes:
    return c(9, c(147, _sub(), _start(), *basic), body)


def _charges(*detail: bytes, xr: bytes = b"") -> bytes:
    return c(38, c(39, c(70, c(69, xr, c(64, c(63, *detail))))))


@pytest.mark.parametrize(
    ("event", "code"),
    [
        (moc(imsi=""), "TAP_IMSI_MISSING"),
        (moc(local="20260230120000"), "TAP_TIMESTAMP_INVALID"),
        (moc(local="2026030112000"), "TAP_TIMESTAMP_INVALID"),
        (moc(code=7), "TAP_UTC_OFFSET_CODE_UNKNOWN"),
        (moc(duration=None), "TAP_DURATION_MISSING"),
        (moc(duration=-5), "TAP_DURATION_NEGATIVE"),
        (gprs(vol_in=-1), "TAP_VOLUME_NEGATIVE"),
        (moc(charge=-3), "TAP_AMOUNT_NEGATIVE"),
        (c(9, c(147, _sub("26f2"), _start(), i(223, 1))), "TAP_BCD_INVALID"),
        (
            c(14, c(114, c(115, _sub("262019999999999f")), _start(), i(223, 1)), c(121, i(250, 5))),
            "TAP_VOLUME_MISSING",
        ),
        (_call(i(223, 1), body=_charges(i(62, 5))), "TAP_CHARGE_WITHOUT_TYPE"),
        (_call(i(223, 1), body=_charges(a(71, "0X"), i(62, 5))), "TAP_CHARGE_TYPE_INVALID"),
        (_call(p(223, b"\x01" * 9)), "TAP_INTEGER_TOO_LONG"),
        (
            _call(i(223, 1), body=_charges(a(71, "00"), i(62, 5), xr=i(105, 9))),
            "TAP_EXCHANGE_RATE_CODE_UNKNOWN",
        ),
        (c(500, a(501, "?")), "TAP_EVENT_KIND_UNKNOWN"),
        (c(9, c(147, bytes.fromhex("5f81010a2620"))), "TAP_EVENT_MALFORMED"),
        (c(9, bytes.fromhex("7f81130500")), "TAP_EVENT_MALFORMED"),
    ],
)
def test_event_items_give_severe_findings_and_the_event_fails(event: bytes, code: str) -> None:
    tap = decode(batch(moc(), event, total=None, tax=None))
    found = [f for f in tap.findings if f.code == code]
    assert found, tap.findings
    assert found[0].severity == "severe"
    assert found[0].event_index == 1
    assert found[0].path.startswith("callEventDetails[1]")
    assert (tap.decoded, tap.failed, tap.events_in_file) == (1, 1, 2)
    assert tap.events.get_column("event_index").to_list() == [0]


def test_no_charge_of_type_00_is_a_warning_and_the_event_is_kept() -> None:
    tap = decode(batch(_call(i(223, 1), body=_charges(a(71, "04"), i(62, 5))), total=0, tax=0))
    assert codes(tap) == {"TAP_NO_TOTAL_CHARGE"}
    assert tap.decoded == 1
    assert not is_blocking(tap.findings)


@pytest.mark.parametrize(
    ("kwargs", "code"),
    [
        ({"count": 3}, "TAP_AUDIT_COUNT_MISMATCH"),
        ({"total": 41}, "TAP_AUDIT_TOTAL_CHARGE_MISMATCH"),
        ({"tax": 6}, "TAP_AUDIT_TOTAL_TAX_MISMATCH"),
    ],
)
def test_audit_reconciliation(kwargs: dict[str, int], code: str) -> None:
    args = {"total": 42, "tax": 5} | kwargs
    tap = decode(batch(moc(), gprs(), **args))
    assert codes(tap) == {code}
    assert is_blocking(tap.findings)


def test_audit_earliest_and_latest_timestamps() -> None:
    ok = c(
        1,
        batch_control(),
        accounting(),
        network(),
        c(3, moc(), gprs()),
        audit(42, 5, 2, earliest="20260301120000", latest="20260301130000"),
    )
    assert decode(ok).findings == []
    bad = c(
        1,
        batch_control(),
        accounting(),
        network(),
        c(3, moc(), gprs()),
        audit(42, 5, 2, earliest="20260301110000", latest="20260301140000"),
    )
    assert codes(decode(bad)) == {"TAP_AUDIT_EARLIEST_MISMATCH", "TAP_AUDIT_LATEST_MISMATCH"}


def test_audit_discount_total() -> None:
    bad = c(1, batch_control(), accounting(), network(), c(3, moc()), audit(40, 5, 1, discount=3))
    assert codes(decode(bad)) == {"TAP_AUDIT_TOTAL_DISCOUNT_MISMATCH"}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"", "TAP_MALFORMED"),
        (b"\x30\x00", "TAP_NOT_TAP"),
        (c(7, a(196, "X")), "TAP_NOT_TAP"),
        (GOOD[:-3], "TAP_MALFORMED"),
        (GOOD + b"\x00\x01", "TAP_TRAILING_BYTES"),
        (c(1, accounting(), network(), c(3, moc()), audit(40, 5, 1)), "TAP_MANDATORY_MISSING"),
        (c(1, batch_control(), c(3, moc()), audit(40, 5, 1)), "TAP_MANDATORY_MISSING"),
        (c(1, batch_control(), accounting(), network(), c(3, moc())), "TAP_MANDATORY_MISSING"),
        (
            c(1, c(4, a(196, "ESPTE"), c(227, a(16, "2026"), a(231, "+0100"))), audit(0, 0, 0)),
            "TAP_HEADER_INVALID",
        ),
        (
            c(
                1,
                batch_control(),
                c(5, a(135, "EUR"), c(80, c(106, i(105, 1))), i(244, 3)),
                network(),
                c(3, moc()),
                audit(40, 5, 1),
            ),
            "TAP_MANDATORY_MISSING",
        ),
        (
            c(
                1,
                batch_control(),
                accounting(),
                c(6, c(234, c(233, i(232, 0), a(231, "+9900")))),
                c(3, moc()),
                audit(40, 5, 1),
            ),
            "TAP_HEADER_INVALID",
        ),
    ],
)
def test_batch_level_findings(data: bytes, code: str) -> None:
    tap = decode(data)
    assert code in codes(tap), tap.findings
    assert CODES[code][0] in ("fatal", "warning")


def test_truncated_event_list_reports_lost_events() -> None:
    event = moc()
    full = batch(event, event, event, total=120, tax=15)
    third = full.index(event, full.index(event, full.index(event) + 1) + 1)
    tap = decode(full[: third + 20])
    assert "TAP_EVENT_LIST_TRUNCATED" in codes(tap)
    assert tap.decoded == 2
    assert is_blocking(tap.findings)


@settings(max_examples=150, deadline=None)
@given(st.integers(min_value=0, max_value=len(GOOD)))
def test_any_truncation_gives_findings_never_an_exception(n: int) -> None:
    tap = decode(GOOD[:n])
    assert tap.decoded + tap.failed == tap.events_in_file
    if n < len(GOOD):
        assert is_blocking(tap.findings)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, len(GOOD) - 1), st.integers(0, 255)), min_size=1, max_size=4)
)
def test_byte_flips_never_raise_and_nothing_is_lost(flips: list[tuple[int, int]]) -> None:
    data = bytearray(GOOD)
    for pos, value in flips:
        data[pos] = value
    tap = decode(bytes(data))
    assert tap.decoded + tap.failed == tap.events_in_file
    assert tap.events.height == tap.decoded
    assert all(f.code in CODES for f in tap.findings)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes_never_raise(data: bytes) -> None:
    tap = decode(data)
    assert tap.decoded + tap.failed == tap.events_in_file


def test_the_indefinite_variant_is_valid() -> None:
    tap = decode(GOOD_INDEFINITE)
    assert tap.findings == []
    assert tap.events.get_column("charge_micros").to_list() == [40_000, 2_000]


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, len(GOOD_INDEFINITE) - 1), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
    st.integers(min_value=0, max_value=len(GOOD_INDEFINITE)),
)
def test_indefinite_lengths_survive_flips_and_truncation(
    flips: list[tuple[int, int]], cut: int
) -> None:
    data = bytearray(GOOD_INDEFINITE)
    for pos, value in flips:
        data[pos] = value
    tap = decode(bytes(data[:cut]))
    assert tap.decoded + tap.failed == tap.events_in_file
    assert tap.events.height == tap.decoded

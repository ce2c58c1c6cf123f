"""BER primitives: every construct TAP uses, from hand-written bytes (ITU-T X.690)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from roamlike.wholesale.ber import (
    BerError,
    bcd,
    children,
    decode_ascii,
    decode_integer,
    encode_length,
    encode_tag,
    integer,
    read_element,
    read_header,
)


def test_single_byte_application_tag_definite_short_length() -> None:
    el = read_element(bytes.fromhex("4403414243"), 0, 5)  # [APPLICATION 4] primitive, 3 octets
    assert (el.tag_class, el.constructed, el.number) == (1, False, 4)
    assert (el.content_start, el.content_end, el.end) == (2, 5, 5)


def test_multi_byte_tag_two_octets() -> None:
    # TotalCharge [APPLICATION 415]: 0x5F, then 415 = 3*128 + 31 -> 0x83 0x1F
    el = read_element(bytes.fromhex("5f831f0105"), 0, 5)
    assert el.number == 415
    assert decode_integer(bytes.fromhex("5f831f0105"), el) == 5


def test_multi_byte_tag_one_octet_above_30() -> None:
    el = read_element(bytes.fromhex("5f2b0103"), 0, 4)  # CallEventDetailsCount [APPLICATION 43]
    assert el.number == 43


def test_long_form_lengths_one_and_two_octets() -> None:
    one = bytes.fromhex("4481") + bytes([130]) + b"x" * 130
    assert read_element(one, 0, len(one)).content_end == 3 + 130
    two = bytes.fromhex("448201f4") + b"y" * 500
    assert read_element(two, 0, len(two)).content_end == 4 + 500


def test_non_minimal_long_form_length_is_accepted() -> None:
    data = bytes.fromhex("44810141")  # BER allows 0x81 0x01 for a length of 1
    el = read_element(data, 0, len(data))
    assert data[el.content_start : el.content_end] == b"A"


def test_indefinite_length_with_nested_indefinite_child() -> None:
    data = bytes.fromhex("6180" + "6480" + "440141" + "0000" + "450142" + "0000")
    el = read_element(data, 0, len(data))
    assert el.indefinite
    assert el.end == len(data)
    kids = list(children(data, el))
    assert [k.number for k in kids] == [4, 5]
    assert kids[0].indefinite
    assert [g.number for g in children(data, kids[0])] == [4]


def test_zero_length_elements() -> None:
    data = bytes.fromhex("6100")  # empty constructed
    assert list(children(data, read_element(data, 0, 2))) == []
    prim = bytes.fromhex("5f812300")  # OperatorSpecInformation [APPLICATION 163], empty
    el = read_element(prim, 0, 4)
    assert el.number == 163
    assert el.content_start == el.content_end
    assert decode_ascii(prim, el) == ""


@pytest.mark.parametrize(
    ("hexdata", "message"),
    [
        ("", "an element was expected"),
        ("5f", "multi-byte tag"),
        ("5f83", "multi-byte tag"),
        ("44", "before the length"),
        ("4482", "long-form length"),
        ("440541", "runs past"),
        ("4480", "indefinite length on a primitive"),
        ("6180440141", "an element was expected"),
        ("44ff", "not supported"),
    ],
)
def test_malformed_bytes_raise_ber_error_with_offset(hexdata: str, message: str) -> None:
    data = bytes.fromhex(hexdata)
    with pytest.raises(BerError, match=message):
        read_element(data, 0, len(data))


def test_integer_of_nine_octets_is_refused() -> None:
    data = bytes.fromhex("4409" + "01" * 9)
    with pytest.raises(BerError, match="INTEGER of 9 octets"):
        decode_integer(data, read_element(data, 0, len(data)))


def test_empty_integer_is_refused() -> None:
    data = bytes.fromhex("4400")
    with pytest.raises(BerError, match="INTEGER of 0 octets"):
        decode_integer(data, read_element(data, 0, 2))


def test_non_ascii_text_is_refused() -> None:
    data = bytes.fromhex("4401ff")
    with pytest.raises(BerError, match="printable ASCII"):
        decode_ascii(data, read_element(data, 0, 3))


def test_header_of_indefinite_element_has_no_length() -> None:
    assert read_header(bytes.fromhex("6180"), 0, 2).length is None


def test_bcd_with_filler() -> None:
    assert bcd(129, "262011234567890").hex() == "5f810108262011234567890f"


@given(st.integers(min_value=0, max_value=(1 << 21)), st.booleans())
def test_tag_round_trip(number: int, constructed: bool) -> None:
    data = encode_tag(number, constructed) + b"\x00"
    h = read_header(data, 0, len(data))
    assert (h.tag_class, h.constructed, h.number, h.length) == (1, constructed, number, 0)


@given(st.integers(min_value=0, max_value=100_000))
def test_length_round_trip(n: int) -> None:
    data = b"\x44" + encode_length(n) + b"z" * n
    el = read_element(data, 0, len(data))
    assert el.content_end - el.content_start == n


@given(st.integers(min_value=-(2**63), max_value=2**63 - 1))
def test_integer_round_trip_minimal(value: int) -> None:
    data = integer(62, value)
    el = read_element(data, 0, len(data))
    assert decode_integer(data, el) == value
    content = data[el.content_start : el.content_end]
    if len(content) > 1:  # minimal: the first 9 bits are not all equal
        assert not (content[0] == 0 and content[1] < 0x80)
        assert not (content[0] == 0xFF and content[1] >= 0x80)

"""Encoding: decode(encode(x)) == x (property-tested), the header YAML, and encoder errors."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from roamlike.errors import TapEncodeError
from roamlike.law import default_catalog
from roamlike.wholesale import (
    EVENT_SCHEMA,
    BatchSpec,
    decode_bytes,
    encode_batch,
    load_batch_spec,
)

CAT = default_catalog()
SPEC = BatchSpec(
    "ESPTE",
    "DEUD1",
    "00007",
    tap_decimal_places=5,
    exchange_rates={1: Decimal("1.0825"), 2: Decimal("117.2")},
)
ROUND_TRIP_COLUMNS = [
    "kind",
    "imsi",
    "msisdn",
    "started_at",
    "utc_offset_min",
    "duration_s",
    "volume_in_bytes",
    "volume_out_bytes",
    "service_code",
    "charged_item",
    "charge_micros",
    "tax_micros",
    "discount_micros",
    "exchange_rate_code",
    "call_type_level1",
    "call_type_level2",
    "call_type_level3",
    "destination",
]
SCHEMA = {name: EVENT_SCHEMA[name] for name in ROUND_TRIP_COLUMNS}

digits = st.text("0123456789", min_size=6, max_size=15)
amount = st.integers(0, 10**12).map(lambda v: v * 10)  # multiples of 10 micros: 5 decimals


@st.composite
def event(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["mobile_originated_call", "mobile_terminated_call", "gprs_call"]))
    gprs = kind == "gprs_call"
    start = draw(st.datetimes(dt.datetime(2017, 6, 15), dt.datetime(2032, 6, 1)))
    return {
        "kind": kind,
        "imsi": draw(digits),
        "msisdn": draw(st.none() | digits),
        "started_at": start.replace(microsecond=0, tzinfo=dt.UTC),
        "utc_offset_min": draw(st.sampled_from([-300, -150, 0, 60, 120, 180, 345])),
        "duration_s": draw(st.integers(0, 86_400)),
        "volume_in_bytes": draw(st.integers(0, 10**12)) if gprs else None,
        "volume_out_bytes": draw(st.integers(0, 10**12)) if gprs else None,
        "service_code": None if gprs else draw(st.sampled_from(["11", "12", "21", "22"])),
        "charged_item": draw(st.none() | st.sampled_from(["D", "E", "V", "X"])),
        "charge_micros": draw(amount),
        "tax_micros": draw(st.none() | amount),
        "discount_micros": draw(st.none() | amount),
        "exchange_rate_code": draw(st.none() | st.sampled_from([1, 2])),
        "call_type_level1": draw(st.none() | st.integers(0, 3)),
        "call_type_level2": draw(st.none() | st.integers(0, 3)),
        "call_type_level3": draw(st.none() | st.integers(0, 9999)),
        "destination": None
        if gprs or kind == "mobile_terminated_call"
        else draw(st.none() | digits),
    }


@settings(max_examples=60, deadline=None)
@given(st.lists(event(), min_size=0, max_size=12))
def test_decode_of_encode_is_identity(rows: list[dict[str, Any]]) -> None:
    x = pl.DataFrame(rows, schema=SCHEMA, orient="row")
    tap = decode_bytes(encode_batch(x, SPEC), "rt.tap", CAT)
    assert [f for f in tap.findings if f.code != "TAP_COUNTRY_UNKNOWN"] == []
    assert tap.decoded == x.height
    assert tap.events.select(ROUND_TRIP_COLUMNS).to_dicts() == x.to_dicts()


def _one(**overrides: Any) -> pl.DataFrame:
    row = (
        dict.fromkeys(SCHEMA)
        | {
            "kind": "mobile_originated_call",
            "imsi": "262011234567890",
            "started_at": dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC),
            "utc_offset_min": 60,
            "duration_s": 60,
            "charge_micros": 22_000,
        }
        | overrides
    )
    return pl.DataFrame([row], schema=SCHEMA, orient="row")


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (_one(charge_micros=22_001), "needs more than 5 decimals"),
        (_one(charge_micros=-10), "is negative"),
        (_one(kind="messaging_event"), "cannot be encoded"),
        (_one(imsi="12ab"), "IMSI must be"),
        (_one(imsi=None), "imsi is missing"),
        (_one(kind="gprs_call"), "volume_in_bytes is missing"),
        (_one(exchange_rate_code=5), "exchange-rate code 5"),
        (_one().drop("charge_micros"), "lacks columns"),
    ],
)
def test_encoder_refuses_what_it_cannot_write(frame: pl.DataFrame, message: str) -> None:
    with pytest.raises(TapEncodeError, match=message):
        encode_batch(frame, SPEC)


def test_decimal_places_above_6_scale_up() -> None:
    spec = BatchSpec("ESPTE", "DEUD1", "00001", tap_decimal_places=8)
    tap = decode_bytes(encode_batch(_one(charge_micros=123), spec), "x", CAT)
    assert tap.header.audit.total_charge == 12_300
    assert tap.events.row(0, named=True)["charge_micros"] == 123


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sender": "ESP"}, "sender"),
        ({"file_sequence_number": "0000A"}, "5 digits"),
        ({"tap_decimal_places": 19}, "0 to 18"),
        ({"utc_offset": "0100"}, "utc_offset"),
        ({"exchange_rates": {1: Decimal(0)}}, "rate > 0"),
    ],
)
def test_batch_spec_validation(kwargs: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "sender": "ESPTE",
        "recipient": "DEUD1",
        "file_sequence_number": "00001",
    }
    with pytest.raises(TapEncodeError, match=message):
        BatchSpec(**(base | kwargs))


def test_header_yaml(tmp_path: Path) -> None:
    path = tmp_path / "h.yaml"
    path.write_text(
        "sender: ESPTE\nrecipient: DEUD1\nfile_sequence_number: 12\ntap_decimal_places: 3\n"
        "exchange_rates: {1: '1.0825'}\ncreated: 2026-03-01T00:00:00\nutc_offset: '+0100'\n"
    )
    spec = load_batch_spec(path)
    assert spec.file_sequence_number == "00012"
    assert spec.exchange_rates == {1: Decimal("1.0825")}
    path.write_text("sender: ESPTE\nfoo: 1\n")
    with pytest.raises(TapEncodeError, match="unknown header keys"):
        load_batch_spec(path)
    path.write_text("- a list\n")
    with pytest.raises(TapEncodeError, match="mapping"):
        load_batch_spec(path)
    path.write_text("sender: ESPTE\n")
    with pytest.raises(TapEncodeError, match="invalid header"):
        load_batch_spec(path)
    with pytest.raises(TapEncodeError, match="cannot read"):
        load_batch_spec(tmp_path / "missing.yaml")

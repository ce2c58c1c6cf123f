"""The engine's rows encoded as columns give msgspec's bytes (``service.frame_answers``)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import msgspec
import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from roamlike.service.frame_answers import FrameRows, engine_answers, row_documents

_encoder = msgspec.json.Encoder(decimal_format="string")
_SCHEMA: dict[str, pl.DataType] = {
    "record_id": pl.String(),
    "event_type": pl.Enum(["data", "voice_mo"]),
    "started_at": pl.Datetime("us", "UTC"),
    "volume_bytes": pl.Int64(),
    "is_late": pl.Boolean(),
    "row_number": pl.Int64(),
    "local_date": pl.Date(),
    "vat_rate": pl.Decimal(9, 6),
    "parameters": pl.String(),
}

_rows = st.fixed_dictionaries(
    {
        "record_id": st.text(max_size=12),
        "event_type": st.sampled_from(["data", "voice_mo"]),
        "started_at": st.datetimes(
            min_value=dt.datetime(1000, 1, 1), max_value=dt.datetime(9999, 12, 31)
        ).map(lambda t: t.replace(tzinfo=dt.UTC)),
        "volume_bytes": st.none() | st.integers(-(2**63), 2**63 - 1),
        "is_late": st.none() | st.booleans(),
        "local_date": st.dates(),
        "vat_rate": st.decimals(0, 999, places=6),
        "parameters": st.none() | st.text(alphabet=st.characters(codec="utf-8"), max_size=20),
    }
)


def _frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    data = [{**r, "row_number": i} for i, r in enumerate(rows)]
    return pl.DataFrame(data, schema=_SCHEMA) if data else pl.DataFrame(schema=_SCHEMA)


def _msgspec_rows(frame: pl.DataFrame) -> list[str]:
    out = []
    for row in frame.to_dicts():
        row.pop("row_number")
        out.append(_encoder.encode(row).decode("utf-8"))
    return out


@settings(max_examples=150, deadline=None)
@given(st.lists(_rows, max_size=8))
def test_rows_encode_as_msgspec_encodes_their_dicts(rows: list[dict[str, Any]]) -> None:
    frame = _frame(rows)
    assert row_documents(frame) == _msgspec_rows(frame)


def test_whole_and_fractional_seconds_keep_msgspecs_spelling() -> None:
    base = {
        "record_id": 'a"\\\n\x01é\u2028',
        "event_type": "data",
        "volume_bytes": None,
        "is_late": None,
        "local_date": dt.date(2026, 1, 1),
        "vat_rate": Decimal("0.190000"),
        "parameters": None,
    }
    whole = dt.datetime(2026, 1, 1, 1, 2, 3, tzinfo=dt.UTC)
    frame = _frame(
        [{**base, "started_at": whole}, {**base, "started_at": whole.replace(microsecond=500)}]
    )
    docs = row_documents(frame)
    assert '"started_at":"2026-01-01T01:02:03Z"' in docs[0]
    assert '"started_at":"2026-01-01T01:02:03.000500Z"' in docs[1]
    assert docs == _msgspec_rows(frame)


def test_answers_carry_notifications_and_rejects_by_position() -> None:
    stamp = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    row = {
        "event_type": "data",
        "started_at": stamp,
        "volume_bytes": 1,
        "is_late": False,
        "local_date": dt.date(2026, 1, 1),
        "vat_rate": Decimal("0.190000"),
        "parameters": "p",
    }
    rated = pl.DataFrame(
        [{**row, "record_id": "b", "row_number": 2}, {**row, "record_id": "a", "row_number": 0}],
        schema=_SCHEMA,
    )
    note = {"record_id": "b", "kind": "billshock_80", "at": stamp}
    reject = {"row_number": 1, "reason_code": "UNKNOWN_PLAN", "message": "no plan 'x'"}
    got = engine_answers(rated, [reject], [note], ["a", "bad", "b"])
    docs = row_documents(rated)
    assert got[0] == b'{"rated":' + docs[1].encode() + b',"notifications":[]}'
    assert got[2] == (
        b'{"rated":' + docs[0].encode() + b',"notifications":' + _encoder.encode([note]) + b"}"
    )
    assert msgspec.json.decode(got[1]) == {
        "reject": {"record_id": "bad", "reason_code": "UNKNOWN_PLAN", "message": "no plan 'x'"},
        "notifications": [],
    }


def test_frame_rows_are_made_when_first_read() -> None:
    frame = pl.DataFrame({"a": [1, 2]})
    rows = FrameRows(frame)
    assert len(rows) == 2
    assert rows._rows is None
    assert rows[1] == {"a": 2}
    assert list(rows) == [{"a": 1}, {"a": 2}]
    assert rows[:1] == [{"a": 1}]

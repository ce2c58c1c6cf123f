"""The stored answers of a group the batch engine rated, encoded as columns.

A record's answer is ``{"rated": row, "notifications": [...]}`` (:mod:`roamlike.service.answers`),
with the row encoded as :mod:`msgspec` encodes the engine's ``to_dicts()`` row (the encoding the
reference rater's groups use, ``roamlike.service.group_rating``). For a group of thousands of
records, building those dicts (~7 µs a record: one Python object per value, a ``Decimal`` for the
VAT rate) and encoding them one by one cost more than the engine itself; here the rows are
encoded by Polars in one pass (``struct.json_encode``), the ``started_at`` instant first written
as msgspec writes a UTC datetime (``...Z``, a fraction only when there are microseconds). The
other columns already encode alike (text escaped the same way, dates as ISO days, the VAT rate's
``Decimal(9, 6)`` as a string with six decimals, enums as their text, nulls as ``null``).
``tests/service/test_frame_answers.py`` requires the same bytes as the msgspec encoding on
random frames, and ``tests/service/test_group_rating.py`` the same answers as the reference
rater's.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, overload

import msgspec
import polars as pl

from roamlike.service.answers import notes_by_record

_encoder = msgspec.json.Encoder(decimal_format="string")
_SECOND = "%Y-%m-%dT%H:%M:%SZ"
_MICRO = "%Y-%m-%dT%H:%M:%S%.6fZ"
_NO_NOTES = b',"notifications":[]}'


def _instant_text(name: str) -> pl.Expr:
    """A UTC datetime column as msgspec writes it (``Z``; ``.ffffff`` only when not whole)."""
    col = pl.col(name)
    return (
        pl.when(col.dt.microsecond() == 0)
        .then(col.dt.strftime(_SECOND))
        .otherwise(col.dt.strftime(_MICRO))
        .alias(name)
    )


def row_documents(rated: pl.DataFrame) -> list[str]:
    """Each rated row (without ``row_number``) as its JSON object, in the frame's order.

    Parameters
    ----------
    rated : polars.DataFrame
        The engine's rated frame (``roamlike.rating.RATED_COLUMNS`` plus the canonical input
        columns).

    Returns
    -------
    list of str
        The JSON text of each row, byte for byte what ``msgspec`` makes of the row's dict.
    """
    columns = [c for c in rated.columns if c != "row_number"]
    fields = [
        _instant_text(c) if isinstance(rated.schema[c], pl.Datetime) else pl.col(c) for c in columns
    ]
    encoded = rated.select(pl.struct(fields).struct.json_encode().alias("doc"))
    return encoded.get_column("doc").to_list()


def engine_answers(
    rated: pl.DataFrame,
    rejects: Sequence[dict[str, Any]],
    notifications: Sequence[dict[str, Any]],
    record_ids: Sequence[str | None],
) -> list[bytes]:
    """Each record's answer (JSON) by position in the group, from the engine's frames.

    Parameters
    ----------
    rated : polars.DataFrame
        The engine's rated rows (``row_number`` = the record's position).
    rejects : sequence of dict
        ``row_number``, ``reason_code`` and ``message`` of each rejected record.
    notifications : sequence of dict
        The engine's notification rows (``record_id`` names the record they belong to).
    record_ids : sequence of str or None
        The group's record ids as received, by position (a reject names its record so).

    Returns
    -------
    list of bytes
        ``{"rated": row, "notifications": [...]}`` or ``{"reject": {...}, "notifications":
        []}`` for each record, as :meth:`roamlike.service.group_rating.GroupRating.answers`
        encodes them.
    """
    notes = notes_by_record(notifications)
    out: list[bytes] = [b""] * len(record_ids)
    docs = row_documents(rated)
    positions = rated.get_column("row_number").to_list()
    ids = rated.get_column("record_id").to_list() if notes else [None] * len(positions)
    for pos, rid, doc in zip(positions, ids, docs, strict=True):
        mine = notes.get(str(rid)) if rid is not None else None
        tail = b',"notifications":' + _encoder.encode(mine) + b"}" if mine else _NO_NOTES
        out[pos] = b'{"rated":' + doc.encode("utf-8") + tail
    for row in rejects:
        pos = int(row["row_number"])
        reject = {
            "record_id": record_ids[pos],
            "reason_code": row["reason_code"],
            "message": row["message"],
        }
        out[pos] = _encoder.encode({"reject": reject, "notifications": []})
    return out


class FrameRows(Sequence[dict[str, Any]]):
    """The rows of a frame as dicts (``to_dicts()``), made only when first read: a group's
    rated rows are mostly counted, not read."""

    def __init__(self, frame: pl.DataFrame) -> None:
        self.frame = frame
        self._rows: list[dict[str, Any]] | None = None

    def _all(self) -> list[dict[str, Any]]:
        if self._rows is None:
            self._rows = self.frame.to_dicts()
        return self._rows

    def __len__(self) -> int:
        return self.frame.height

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> Sequence[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | Sequence[dict[str, Any]]:
        return self._all()[index]

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return iter(self._all())

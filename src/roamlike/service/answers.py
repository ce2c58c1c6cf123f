"""The answer document of ``POST /v1/events`` (and a session step's usage) from its records'.

Each record's answer is stored under (tenant, record_id) as ``{"rated": row,
"notifications": [...]}`` or ``{"reject": {...}, "notifications": []}``; a request's answer
gathers its records' parts in order.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import msgspec


class _Answer(msgspec.Struct):
    """A record's stored answer: its rated row or its reject, and its notifications."""

    notifications: msgspec.Raw
    rated: msgspec.Raw = msgspec.Raw()  # empty when absent
    reject: msgspec.Raw = msgspec.Raw()


_answer_decoder = msgspec.json.Decoder(_Answer)
#: How a stored answer of a rated record begins, and ends when it raised no notification.
_RATED = b'{"rated":'
_NO_NOTES = b',"notifications":[]}'
_notes_decoder = msgspec.json.Decoder(list[msgspec.Raw])


def notes_by_record(notifications: Iterable[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """The notifications of each record (by its ``record_id`` as text), in their order: what a
    record's answer carries."""
    notes: dict[str, list[dict[str, Any]]] = {}
    for note in notifications:
        notes.setdefault(str(note["record_id"]), []).append(note)
    return notes


def is_rated(raw: bytes) -> bool:
    """Whether a record's stored answer is a rated row (not a reject)."""
    return raw.startswith(_RATED) or bool(_answer_decoder.decode(raw).rated)


def response_document(answers: list[bytes]) -> bytes:
    """``{"rated": [...], "rejects": [...], "notifications": [...]}`` from record answers."""
    rated: list[bytes] = []
    rejects: list[bytes] = []
    notes: list[bytes] = []
    for raw in answers:
        if raw.startswith(_RATED) and raw.endswith(_NO_NOTES):
            # a rated record without notifications, as both raters' answers are written: its
            # row is the text between (the common case, read without decoding)
            rated.append(raw[len(_RATED) : -len(_NO_NOTES)])
            continue
        doc = _answer_decoder.decode(raw)
        if doc.rated:
            rated.append(bytes(doc.rated))
        else:
            rejects.append(bytes(doc.reject))
        if bytes(doc.notifications) != b"[]":
            notes.extend(bytes(n) for n in _notes_decoder.decode(doc.notifications))
    return (
        b'{"rated":['
        + b",".join(rated)
        + b'],"rejects":['
        + b",".join(rejects)
        + b'],"notifications":['
        + b",".join(notes)
        + b"]}"
    )

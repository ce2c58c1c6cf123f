"""The answer document of a request, gathered from its records' stored answers."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import given, settings
from hypothesis import strategies as st

from roamlike.service.answers import response_document

_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=8)
_rows = st.dictionaries(
    st.sampled_from(["record_id", "charge", "note", "notifications", "rated"]),
    st.one_of(st.none(), st.integers(), _text, st.lists(_text, max_size=2)),
    max_size=4,
)


@st.composite
def _answers(draw: st.DrawFn) -> list[dict[str, Any]]:
    out = []
    for _ in range(draw(st.integers(0, 6))):
        notes = draw(st.lists(_rows, max_size=2))
        if draw(st.booleans()):
            out.append({"rated": draw(_rows), "notifications": notes})
        else:
            reject = {"record_id": draw(_text), "reason_code": "BAD_ID", "message": draw(_text)}
            out.append({"reject": reject, "notifications": []})
    return out


@settings(max_examples=120, deadline=None)
@given(_answers())
def test_response_document_gathers_rows_rejects_and_notifications_in_order(
    answers: list[dict[str, Any]],
) -> None:
    # the records' answers as the service stores them (msgspec, keys in this order)
    raw = [msgspec.json.encode(a) for a in answers]
    got = json.loads(response_document(raw))
    assert got == {
        "rated": [a["rated"] for a in answers if "rated" in a],
        "rejects": [a["reject"] for a in answers if "reject" in a],
        "notifications": [n for a in answers for n in a["notifications"]],
    }

"""Engine versus reference: what the property tests compare, in one place."""

from __future__ import annotations

from typing import Any

import polars as pl

from roamlike.rating import RATED_COLUMNS, RatingResult
from roamlike.reference import ReferenceResult

#: Rated values both raters must agree on (docs/rating.md §8; ``parameters`` is informative).
COMPARED = ["record_id", *(c for c in RATED_COLUMNS if c != "parameters")]


def text_frame(rows: list[dict[str, Any]]) -> pl.DataFrame:
    """Rows as a frame of text columns (the union of their keys, absent = null), as a CSV reads."""
    names = list(dict.fromkeys(k for r in rows for k in r))
    return pl.DataFrame(
        [{k: None if r.get(k) is None else str(r[k]) for k in names} for r in rows],
        schema=dict.fromkeys(names, pl.String),
    )


def notes(found: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    """Notifications as sorted (record_id, kind, threshold_micros) triples."""
    return sorted((n["record_id"], n["kind"], n["threshold_micros"]) for n in found)


def differences(expected: ReferenceResult, got: RatingResult) -> list[str]:
    """Every difference between a reference run and an engine run (empty: they agree)."""
    diffs: list[str] = []
    want_rejects = [(r["row_number"], r["reason_code"]) for r in expected.rejects]
    got_rejects = list(
        zip(got.rejects["row_number"].to_list(), got.rejects["reason_code"].to_list(), strict=True)
    )
    if want_rejects != got_rejects:
        diffs.append(f"rejects {want_rejects} != {got_rejects}")
    want = [{k: r[k] for k in COMPARED} for r in expected.rated]
    have = got.rated.select(COMPARED).to_dicts()
    if len(want) != len(have):
        diffs.append(f"{len(want)} rated rows != {len(have)}")
    diffs.extend(f"{w} != {h}" for w, h in zip(want, have, strict=False) if w != h)
    if notes(expected.notifications) != notes(got.notifications.to_dicts()):
        diffs.append(
            f"notifications {notes(expected.notifications)} != "
            f"{notes(got.notifications.to_dicts())}"
        )
    return diffs

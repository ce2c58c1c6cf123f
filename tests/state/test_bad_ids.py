"""Ids holding U+0000 (NUL) never reach the store, on SQLite and on a real PostgreSQL server.

PostgreSQL's text refuses the character and SQLite's JSON functions cut a text at it, so a
record id ``"a\\x00b"`` stored as itself was impossible: on SQLite it was claimed as ``"a"``
(the later record ``"a"`` became a duplicate: another record's charge changed), on PostgreSQL
the run failed. The engine rejects such ids (``BAD_ID``, docs/rating.md §7b) and the store
leaves them out of every claim and probe.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from builders import rate_into_store, rec
from roamlike.state import open_store
from roamlike.state.packs import readable


def _run(store_url: str, folder: Path, name: str, rows: list[dict[str, Any]]) -> pl.DataFrame:
    usage = folder / f"{name}.parquet"
    pl.DataFrame(rows).write_parquet(usage)
    rate_into_store(
        store_url, usage, folder / f"{name}.rated.parquet", folder / f"{name}.rejects.parquet"
    )
    rated = pl.read_parquet(folder / f"{name}.rated.parquet")
    rejects = pl.read_parquet(folder / f"{name}.rejects.parquet")
    return pl.concat(
        [
            rated.select("record_id", pl.lit(None, dtype=pl.String).alias("reason_code")),
            rejects.select("record_id", pl.col("reason_code").cast(pl.String)),
        ]
    ).sort("record_id")


def test_rating_md_7b_nul_ids_are_rejected_and_claim_nothing(
    store_url: str, tmp_path: Path
) -> None:
    first = _run(
        store_url,
        tmp_path,
        "mon",
        [
            rec("a\x00b", started_at="2026-03-09T10:00:00Z"),
            rec("c", subscriber_id="s1\x00x", started_at="2026-03-09T10:05:00Z"),
            rec("d", started_at="2026-03-09T11:00:00Z"),
        ],
    )
    assert first.rows() == [("a\x00b", "BAD_ID"), ("c", "BAD_ID"), ("d", None)]
    second = _run(
        store_url,
        tmp_path,
        "tue",
        [
            rec("a", started_at="2026-03-10T10:00:00Z"),  # "a\x00b" did not claim "a"
            rec("a\x00b", started_at="2026-03-10T10:01:00Z"),  # still BAD_ID, not a duplicate
            rec("d", started_at="2026-03-10T10:02:00Z"),  # rated yesterday: a duplicate
        ],
    )
    assert second.rows() == [("a", None), ("a\x00b", "BAD_ID"), ("d", "DUPLICATE_RECORD_ID")]
    with open_store(store_url) as store, store.transaction() as tx:
        readable(tx)  # the views then hold the packs' rows too
        ids = sorted(r[0] for r in tx.execute("SELECT record_id FROM state_records"))
        subscribers = sorted(
            r[0] for r in tx.execute("SELECT subscriber_id FROM state_subscribers_now")
        )
    assert ids == ["a", "c", "d"]  # every id read is remembered, rejected ones too, but no NUL
    assert subscribers == ["s1"]

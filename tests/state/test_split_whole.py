"""Split = whole through the store (docs/state.md): a period's records split into chronological
files rated one after the other with ``rate --state`` give exactly the rated values, rejects,
notifications and stored counters of one stateful run over all of them, whether or not the
counter logs are compacted between the files; on SQLite and on a real PostgreSQL server. The
records span month and 28-day period boundaries, bill-shock cuts and fair-use exhaustion (the
shared Hypothesis strategy of the engine tests)."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from typing import Any
from unittest.mock import patch

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from comparison import text_frame
from roamlike.state import Store, migrate, open_store, record_blocks
from roamlike.state.batch import rate_with_state
from roamlike.state.log import COMPACT_LOG_ROWS, log_rows
from roamlike.state.packs import readable
from roamlike.state.record_blocks import stored_record_ids
from strategies import FX, PLANS, records

Rows = list[dict[str, Any]]
TABLES = {
    "state_periods_now": "subscriber_id, plan_id, period_start",
    "state_subscribers_now": "subscriber_id",
    "state_days_now": "subscriber_id, day",
}


def _chronological(rows: Rows) -> Rows:
    return sorted(rows, key=lambda r: (str(r["started_at"]), str(r["record_id"])))


def _chunks(rows: Rows, cuts: list[int]) -> list[Rows]:
    points = sorted({min(c, len(rows)) for c in cuts})
    bounds = [0, *points, len(rows)]
    return [rows[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _run(store: Store, tenant: str, chunks: list[Rows], folder: Path) -> dict[str, Any]:
    """Rate each chunk from its own file, in order; the outputs of all chunks together."""
    rated, rejects, notes = [], [], []
    for i, chunk in enumerate(chunks):
        usage = folder / f"{tenant}-{i}.parquet"
        text_frame(chunk).write_parquet(usage)
        outs = [folder / f"{tenant}-{i}-{n}.parquet" for n in ("rated", "rejects", "notes")]
        # the split runs fold their logs into the base tables after every other chunk
        # (roamlike.state.log): runs and compactions interleaved give the whole run's state
        compact = 0 if tenant.startswith("split") and i % 2 == 1 else COMPACT_LOG_ROWS
        # and write packs (roamlike.state.packs) in two runs of three, log rows in the third:
        # packs, log rows and compactions interleaved give the whole run's state too
        packs = not (tenant.startswith("split") and i % 3 == 2)
        # claims of two ids or more may be stored as blocks (on SQLite, when no stored id
        # lies in their range): blocks, rows and their fallbacks interleaved
        with patch.object(record_blocks, "RECORD_BLOCK_MIN", 2):
            rate_with_state(
                usage, PLANS, FX, *outs, store, tenant=tenant, compact_rows=compact, packs=packs
            )
        if compact == 0:  # compacted after its commit: nothing left in the logs
            with store.transaction() as tx:
                assert set(log_rows(tx, tenant).values()) == {0}
        rated += pl.read_parquet(outs[0]).drop("row_number", "is_late").to_dicts()
        rejects += list(pl.read_parquet(outs[1]).select("record_id", "reason_code").iter_rows())
        notes += pl.read_parquet(outs[2]).to_dicts()
    with store.transaction() as tx:
        readable(tx, tenant)  # the views then hold the packs' rows too
        tables = {
            t: tx.execute(f"SELECT * FROM {t} WHERE tenant = ? ORDER BY {keys}", (tenant,))
            for t, keys in TABLES.items()
        }
        # rows or blocks (roamlike.state.record_blocks), the same ids
        tables["record_ids"] = [(tenant, r) for r in stored_record_ids(tx, tenant)]
    return {
        "rated": {r["record_id"]: r for r in rated},
        "rejects": sorted(rejects, key=repr),
        "notes": sorted(notes, key=repr),
        "tables": {t: [row[1:] for row in rows] for t, rows in tables.items()},
    }


def _split_equals_whole(store: Store, folder: Path, rows: Rows, cuts: list[int]) -> None:
    ordered = _chronological(rows)
    tag = uuid.uuid4().hex[:12]
    whole = _run(store, f"whole-{tag}", [ordered], folder)
    split = _run(store, f"split-{tag}", _chunks(ordered, cuts), folder)
    assert split["rated"] == whole["rated"]
    assert split["rejects"] == whole["rejects"]
    assert split["notes"] == whole["notes"]
    assert split["tables"] == whole["tables"]


SETTINGS = settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@SETTINGS
@given(rows=records(), cuts=st.lists(st.integers(0, 30), max_size=4))
def test_split_equals_whole_through_a_sqlite_store(
    tmp_path: Path, rows: Rows, cuts: list[int]
) -> None:
    with open_store(tmp_path / "state.db") as store:
        migrate(store)
        _split_equals_whole(store, tmp_path, rows, cuts)


@pytest.mark.postgres
@SETTINGS
@given(rows=records(), cuts=st.lists(st.integers(0, 30), max_size=4))
def test_split_equals_whole_through_a_postgresql_store(
    pg_url: str, tmp_path: Path, rows: Rows, cuts: list[int]
) -> None:
    with open_store(pg_url) as store:
        migrate(store)
        _split_equals_whole(store, tmp_path, rows, cuts)

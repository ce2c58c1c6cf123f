"""Record ids in blocks (``roamlike.state.record_blocks``, docs/state.md "Record ids"): a claim
whose range holds no stored id is stored as one block; every claim returns exactly the ids
stored before, whether they sit in rows or in blocks; on SQLite and on a real PostgreSQL server
(which keeps rows only)."""

from __future__ import annotations

import itertools
import uuid
from pathlib import Path
from unittest.mock import patch

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from roamlike.state import Transaction, migrate, open_store, record_blocks
from roamlike.state.counters import claim_record_ids, known_record_ids
from roamlike.state.record_blocks import RECORD_BLOCK_MIN, stored_record_ids


def _ids(prefix: str, start: int, n: int) -> pl.Series:
    return pl.Series([f"{prefix}{i:06d}" for i in range(start, start + n)])


def _blocks(tx: Transaction, tenant: str) -> list[tuple[str, str, int]]:
    return [
        (str(a), str(b), int(n))
        for a, b, n in tx.execute(
            "SELECT first_id, last_id, ids FROM state_record_blocks WHERE tenant = ? "
            "ORDER BY last_id",
            (tenant,),
        )
    ]


def _rows(tx: Transaction, tenant: str) -> int:
    [(n,)] = tx.execute("SELECT count(*) FROM state_records WHERE tenant = ?", (tenant,))
    return int(n)


def test_days_of_growing_ids_are_stored_as_one_block_each(store_url: str) -> None:
    """Files whose ids grow with time: each claim is one block (SQLite), no row; a later file
    repeating some of them gets exactly those back, found in the blocks, and its new ids (in
    the range of blocks) become rows."""
    n = RECORD_BLOCK_MIN + 500
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            for day in range(3):
                assert claim_record_ids(tx, _ids("r", day * n, n).shuffle(seed=day)).len() == 0
            sqlite = tx.dialect == "sqlite"
            expected_blocks = [(f"r{d * n:06d}", f"r{d * n + n - 1:06d}", n) for d in range(3)]
            assert _blocks(tx, "") == (expected_blocks if sqlite else [])
            assert _rows(tx, "") == (0 if sqlite else 3 * n)
            again = pl.concat([_ids("r", n + 10, 3), _ids("r", 2 * n + 7, 2), _ids("q", 0, 4)])
            known = claim_record_ids(tx, again)
            assert sorted(known) == [*_ids("r", n + 10, 3), "r003007", "r003008"]
            assert sorted(known_record_ids(tx, _ids("q", 0, 6))) == _ids("q", 0, 4).to_list()
            assert stored_record_ids(tx).len() == 3 * n + 4
            assert len(_blocks(tx, "")) == (3 if sqlite else 0)


def test_a_small_claim_and_a_claim_over_stored_rows_stay_rows(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            assert claim_record_ids(tx, _ids("r", 500, RECORD_BLOCK_MIN - 1), "t").len() == 0
            assert (_blocks(tx, "t"), _rows(tx, "t")) == ([], RECORD_BLOCK_MIN - 1)
            # its range holds the rows above: rows again, the repeated ids found
            wide = _ids("r", 0, 2 * RECORD_BLOCK_MIN)
            assert (
                claim_record_ids(tx, wide, "t").to_list()
                == _ids("r", 500, RECORD_BLOCK_MIN - 1).to_list()
            )
            assert (_blocks(tx, "t"), _rows(tx, "t")) == ([], 2 * RECORD_BLOCK_MIN)


def test_ids_holding_nul_are_never_stored_in_a_block(store_url: str) -> None:
    ids = pl.concat([_ids("r", 0, RECORD_BLOCK_MIN), pl.Series(["r000001\x00x"])])
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            assert claim_record_ids(tx, ids).len() == 0
            assert stored_record_ids(tx).to_list() == _ids("r", 0, RECORD_BLOCK_MIN).to_list()
            assert claim_record_ids(tx, pl.Series(["r000001\x00x", "r000001"])).to_list() == [
                "r000001"
            ]


_CLAIMS = st.lists(
    st.lists(
        st.builds(lambda c, n: f"{c}{n:02d}", st.sampled_from("abc"), st.integers(0, 30)),
        min_size=0,
        max_size=12,
    ),
    min_size=1,
    max_size=8,
)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(claims=_CLAIMS)
def test_claims_return_exactly_the_ids_stored_before(
    store_url: str, claims: list[list[str]]
) -> None:
    """Any sequence of claims (blocks from two ids, ranges overlapping or not): each returns
    the ids of earlier claims it repeats, sorted; the store then holds every id once; blocks'
    ranges never overlap."""
    tenant = uuid.uuid4().hex
    seen: set[str] = set()
    with (
        patch.object(record_blocks, "RECORD_BLOCK_MIN", 2),
        open_store(store_url) as store,
    ):
        migrate(store)
        for ids in claims:
            with store.transaction() as tx:
                known = claim_record_ids(tx, pl.Series(ids, dtype=pl.String), tenant)
            assert sorted(known.to_list()) == sorted(seen & set(ids))
            seen |= set(ids)
        with store.transaction() as tx:
            assert stored_record_ids(tx, tenant).to_list() == sorted(seen)
            blocks = _blocks(tx, tenant)
    for (_, last, _), (first, _, _) in itertools.pairwise(blocks):
        assert last < first


def test_the_blocks_of_a_tenant_are_its_own(store_url: str) -> None:
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction() as tx:
            assert claim_record_ids(tx, _ids("r", 0, RECORD_BLOCK_MIN), "a").len() == 0
            assert claim_record_ids(tx, _ids("r", 0, RECORD_BLOCK_MIN), "b").len() == 0
            assert known_record_ids(tx, _ids("r", 0, 2), "c").len() == 0


def test_a_block_is_smaller_than_its_rows(tmp_path: Path) -> None:
    """The reason for blocks (SQLite): a day of growing ids takes fewer pages as one block."""
    sizes = {}
    for form, minimum in (("block", RECORD_BLOCK_MIN), ("rows", 10**9)):
        path = str(tmp_path / f"{form}.db")
        with patch.object(record_blocks, "RECORD_BLOCK_MIN", minimum), open_store(path) as store:
            migrate(store)
            with store.transaction() as tx:
                claim_record_ids(tx, _ids("operator-file-20260316-", 0, 50_000))
            with store.transaction() as tx:
                [(pages,)] = tx.execute("PRAGMA page_count")
                sizes[form] = int(pages)
    assert sizes["block"] < sizes["rows"]

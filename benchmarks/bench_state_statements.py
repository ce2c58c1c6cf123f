"""The preload's read of one half of a day's subscribers, statement by statement, in one thread:
what the probes, the JSON arrays and their decoding cost, and the variants measured against
them.

``rate --state`` reads its subscribers' counters in two halves, each through a connection of its
own (``roamlike.state.counters.load_stored``): a temporary table of the half's sorted ids, then
one statement per table returning each column as one ``json_group_array`` text, decoded by
Polars. On a copy of the benchmark's store (in ``--folder``) this script times, with the CPU
time of the calling thread, for the first half of the day's subscribers:

* ``store``: the temporary table, then the ``state_periods`` and ``state_subscribers`` statements
  as the store runs them (the four flags as one integer);
* ``periods``: the store's ``state_periods`` statement alone (no decoding);
* ``periods-bare``: the ``state_periods`` probes alone (a count of the rows found);
* ``periods-one-array``: one ``json_array`` per row in one ``json_group_array``;
* ``periods-concat``: the five counters as ``group_concat`` texts;
* ``decode``: Polars decoding the ``state_periods`` statement's arrays;
* ``rows-ndjson`` / ``rows-tuples``: the ``state_periods`` rows fetched one by one (one JSON
  object per row read by ``read_ndjson``; the driver's tuples), decoding included, against
  ``store-periods`` (the store's statement and its decoding);
* ``json-each``: both statements reading the ids from ``json_each`` instead of the temporary
  table;
* ``by-start``: the ``periods`` statement on a copy of ``state_periods`` keyed (tenant,
  subscriber, period start, plan), which probes from the run's first period start on (the copy
  is made once, first).

::

    python benchmarks/bench_state_statements.py benchmarks/out/state --rounds 3 \\
        [--folder /dev/shm]

(the folder ``bench_state.py`` leaves). Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import io
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import polars as pl

from roamlike.rating import normalise_subscriber_id
from roamlike.sqlite_driver import sqlite3
from roamlike.state.bulk import _decoded, _packed_flags, json_array
from roamlike.state.counters import (
    _FLAGS,
    STORED_PERIOD_TYPES,
    STORED_SUBSCRIBER_TYPES,
    local_dates,
    periods_since,
)

#: The columns the store reads, as ``load_stored`` reads them: ``state_periods``' (its four
#: notification flags sent as the bits of one integer) and ``state_subscribers``'.
_FLAG_NAMES: tuple[str, ...] = tuple(_FLAGS)
_PERIODS: tuple[str, ...] = tuple(c for c in STORED_PERIOD_TYPES if c not in _FLAGS)
_COUNTERS: tuple[str, ...] = _PERIODS[3:]
_SUBSCRIBER: tuple[str, ...] = tuple(STORED_SUBSCRIBER_TYPES)
#: The frame of ``state_periods``' rows fetched one by one (the flags as one integer).
_ROW_TYPES: dict[str, pl.DataType] = {
    **{c: STORED_PERIOD_TYPES[c] for c in _PERIODS},
    "_flags": pl.Int64(),
}


def _arrays(columns: tuple[str, ...], flags: bool) -> str:
    arrays = [f"json_group_array(t.{c})" for c in columns]
    packed = [f"json_group_array({_packed_flags(_FLAG_NAMES)})"] if flags else []
    return ", ".join([*arrays, *packed])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("folder", type=Path, help="the files bench_state.py leaves")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--folder", dest="work", type=Path, help="where the store's copy goes")
    args = parser.parse_args()
    day = pl.read_parquet(args.folder / "day.parquet")
    ids = day.select(normalise_subscriber_id(pl.col("subscriber_id"))).to_series()
    distinct = ids.unique().sort()
    half = distinct.slice(0, -(-distinct.len() // 2))
    since = periods_since(day.select(local_dates(day)).to_series())
    assert since is not None
    keys = json_array(half)
    with tempfile.TemporaryDirectory(dir=args.work) as tmp:
        copy = Path(tmp) / "store.db"
        shutil.copyfile(args.folder / "template.db", copy)
        db = sqlite3.connect(copy, isolation_level=None)
        db.execute("PRAGMA mmap_size=1073741824")
        db.execute("PRAGMA temp_store=MEMORY")
        started = time.perf_counter()
        db.execute(
            "CREATE TABLE by_start (tenant TEXT NOT NULL, subscriber_id TEXT NOT NULL, "
            "plan_id TEXT NOT NULL, period_start TEXT NOT NULL, "
            + ", ".join(f"{c} BIGINT NOT NULL" for c in (*_COUNTERS, *_FLAG_NAMES))
            + ", PRIMARY KEY (tenant, subscriber_id, period_start, plan_id)) WITHOUT ROWID"
        )
        db.execute(
            "INSERT INTO by_start SELECT * FROM state_periods "
            "ORDER BY tenant, subscriber_id, period_start, plan_id"
        )
        print(
            f"{half.len():,} subscribers (the first half of {distinct.len():,}), periods since "
            f"{since}; by_start copied in {time.perf_counter() - started:.1f} s"
        )
        db.execute("CREATE TEMP TABLE k (value TEXT PRIMARY KEY) WITHOUT ROWID")
        periods = (
            f"FROM temp.k k CROSS JOIN state_periods t WHERE t.tenant = '' "
            f"AND t.period_start >= '{since}' AND t.subscriber_id = k.value"
        )
        period_columns = _PERIODS
        flags = _packed_flags(_FLAG_NAMES)

        def one(sql: str, *params: object) -> tuple[str, ...]:
            row: tuple[str, ...] = db.execute(sql, params).fetchone()
            return row

        def store() -> None:
            db.execute("DELETE FROM temp.k")
            db.execute("INSERT INTO temp.k SELECT value FROM json_each(?)", (keys,))
            one(f"SELECT {_arrays(period_columns, True)} {periods}")
            subscribers = "FROM temp.k k CROSS JOIN state_subscribers t WHERE t.tenant = ''"
            one(f"SELECT {_arrays(_SUBSCRIBER, False)} {subscribers} AND t.subscriber_id = k.value")

        def json_each() -> None:
            source = "FROM json_each(?) k CROSS JOIN"
            one(
                f"SELECT {_arrays(period_columns, True)} {source} state_periods t WHERE "
                f"t.tenant = '' AND t.period_start >= '{since}' AND t.subscriber_id = k.value",
                keys,
            )
            one(
                f"SELECT {_arrays(_SUBSCRIBER, False)} {source} state_subscribers t WHERE "
                "t.tenant = '' AND t.subscriber_id = k.value",
                keys,
            )

        each_row = ", ".join(f"t.{c}" for c in period_columns)
        pairs = ", ".join(f"'{c}', t.{c}" for c in period_columns)
        store()  # the temporary table filled for the variants that read it
        texts = one(f"SELECT {_arrays(period_columns, True)} {periods}")
        variants: dict[str, Callable[[], object]] = {
            "store": store,
            "periods": lambda: one(f"SELECT {_arrays(period_columns, True)} {periods}"),
            "periods-bare": lambda: one(f"SELECT count(*), sum(t.voice_used_s) {periods}"),
            "periods-one-array": lambda: one(
                f"SELECT json_group_array(json_array({each_row}, {flags})) {periods}"
            ),
            "periods-concat": lambda: one(
                "SELECT " + ", ".join(f"group_concat(t.{c})" for c in _COUNTERS) + f" {periods}"
            ),
            "decode": lambda: _decoded(_PERIODS, texts, STORED_PERIOD_TYPES, _FLAG_NAMES),
            "store-periods": lambda: _decoded(
                _PERIODS,
                one(f"SELECT {_arrays(period_columns, True)} {periods}"),
                STORED_PERIOD_TYPES,
                _FLAG_NAMES,
            ),
            "rows-ndjson": lambda: pl.read_ndjson(
                io.StringIO(
                    "\n".join(
                        r[0]
                        for r in db.execute(
                            f"SELECT json_object({pairs}, '_flags', {flags}) {periods}"
                        )
                    )
                ),
                schema=_ROW_TYPES,
            ),
            "rows-tuples": lambda: pl.DataFrame(
                db.execute(f"SELECT {each_row}, {flags} {periods}").fetchall(),
                schema=_ROW_TYPES,
                orient="row",
            ),
            "json-each": json_each,
            "by-start": lambda: one(
                f"SELECT {_arrays(period_columns, True)} "
                + periods.replace("state_periods", "by_start")
            ),
        }
        spent: dict[str, list[float]] = {name: [] for name in variants}
        for _ in range(args.rounds):
            for name, variant in variants.items():
                cpu = time.thread_time()
                variant()
                spent[name].append(1000 * (time.thread_time() - cpu))
        for name, times in spent.items():
            print(f"{name:18s} " + " ".join(f"{t:6.1f}" for t in times) + "  ms CPU")
        db.close()


if __name__ == "__main__":
    main()

"""CPU of folding a tenant's counter logs: whole (``roamlike.state.log.compact``) against a pass
of slices (``roamlike.state.slices``) of a few sizes, on copies of one SQLite store.

The store holds ``--groups`` writes of ``--per`` distinct subscribers out of ``--subscribers``
(periods, subscriber and day rows: the logs of the service's events), as a benchmark of events
of 100 records leaves them between two compactions. Each way folds the same copy to the end;
reported: slices, rows folded, CPU per slice (median, max), wall time under the write lock
(max), and CPU per folded row. One process, no HTTP; the least noisy way to see what a slice
costs against a whole compaction.

Usage::

    python benchmarks/bench_compaction.py [--groups 21] [--per 1600] [--subscribers 5000]
        [--slices 300,1000,3200]

Writes ``benchmarks/out/compaction.json``. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from roamlike.state import migrate, open_store
from roamlike.state.log import append_rows, compact, lock_tenant, pending_rows
from roamlike.state.slices import compact_slice, last_seq

OUT = Path(__file__).parent / "out"


def _fill(path: Path, groups: int, per: int, subscribers: int, seed: int = 7) -> int:
    """The store of the module docstring (tenant ``t``, subscribers ``s000000``…; ``seed``
    draws each write's subscribers); how many log rows it holds."""
    rnd = random.Random(seed)
    with open_store(path) as store:
        migrate(store)
        for g in range(groups):
            subs = [f"s{s:06d}" for s in sorted(rnd.sample(range(subscribers), per))]
            day = f"2026-01-{1 + g % 9:02d}"
            with store.transaction() as tx:
                periods = [(s, "p1", "2026-01-01", g, 2, 3, 4, 5, 0, 0, 0, 0) for s in subs]
                append_rows(tx, "state_periods", "t", periods)
                append_rows(tx, "state_subscribers", "t", [(s, "FR", g, f"r{g}") for s in subs])
                days = [(s, day, "DE", 1, 2, 3, 4, "eu_rlah", 1, 2, 3, 4) for s in subs]
                append_rows(tx, "state_days", "t", days)
        with store.transaction() as tx:
            return pending_rows(tx, "t")


def _fold(path: Path, rows: int | None) -> dict[str, Any]:
    """Fold the store at ``path`` to the end: whole (``rows`` None) or slices of ``rows``."""
    cpu: list[float] = []
    wall: list[float] = []
    folded = 0
    with open_store(path) as store:
        after: str | None = ""
        through = 0
        while after is not None:
            c0, w0 = time.process_time(), time.perf_counter()
            with store.transaction() as tx:
                lock_tenant(tx, "t")
                if rows is None:
                    result = compact(tx, "t")
                    after = None
                else:
                    through = through or last_seq(tx, "t")
                    done = compact_slice(tx, "t", through, after, rows)
                    result, after = done.result, done.last
            cpu.append(time.process_time() - c0)
            wall.append(time.perf_counter() - w0)
            folded += sum(result.log_rows.values())
    return {
        "way": "whole" if rows is None else f"slices of {rows}",
        "transactions": len(cpu),
        "rows": folded,
        "cpu_ms_median": round(statistics.median(cpu) * 1e3, 2),
        "cpu_ms_max": round(max(cpu) * 1e3, 2),
        "wall_ms_max": round(max(wall) * 1e3, 2),
        "cpu_us_per_row": round(sum(cpu) / max(folded, 1) * 1e6, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=21)
    parser.add_argument("--per", type=int, default=1600)
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--slices", default="300,1000,3200", help="rows of each log per slice")
    args = parser.parse_args()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="roamlike-compaction-") as tmp:
        source = Path(tmp) / "logs.db"
        rows = _fill(source, args.groups, args.per, args.subscribers)
        print(f"{rows:,} log rows")
        ways: list[int | None] = [None, *(int(n) for n in args.slices.split(",")), None]
        for way in ways:
            copy = Path(tmp) / "copy.db"
            for suffix in ("", "-wal", "-shm"):
                if Path(f"{source}{suffix}").exists():
                    shutil.copy(f"{source}{suffix}", f"{copy}{suffix}")
            found = _fold(copy, way)
            results.append(found)
            print(json.dumps(found))
    OUT.mkdir(exist_ok=True)
    (OUT / "compaction.json").write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()

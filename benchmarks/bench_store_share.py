"""CPU of the state store's share of a large commit group, on copies of one SQLite store.

A group of 16 events of 100 records touches about 1,600 subscribers; the store's share of its
commit (``roamlike.service.large_groups``) is: its counters read on a snapshot with the check
recorded (``load``), the check run again in the write transaction (``check``), the rows of
its counters and days built outside the writers' lock (``rows``) and appended under it
(``append``: three log appends, rolled back after each round). The store holds ``--groups``
writes of ``--per`` distinct subscribers out of ``--subscribers`` (periods, subscriber and day
log rows, the first half folded into the base tables), as a benchmark of events of 100 records
leaves it between two compactions (about ``groups / 2 * per / subscribers`` log rows per key).

With ``--compare-src DIR`` (another checkout's ``src``) each round runs both codes, one
process each, alternated, on the same copy; reported: the median thread CPU of each part over
the rounds. No HTTP, no rater: the least noisy way to see the store's share change.

Usage::

    python benchmarks/bench_store_share.py [--rounds 7] [--repeat 9] [--compare-src MAIN/src]

Writes ``benchmarks/out/store_share.json``. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OUT = Path(__file__).parent / "out"
_TENANT = "t"  # bench_compaction.py's


def _fill(path: Path, groups: int, per: int, subscribers: int) -> None:
    """The store of the module docstring: ``bench_compaction.py``'s writes, the first half
    folded into the base tables."""
    from bench_compaction import _fill as writes

    from roamlike.state import open_store
    from roamlike.state.log import compact

    writes(path, groups // 2, per, subscribers)
    with open_store(path) as store, store.transaction() as tx:
        compact(tx, _TENANT)
    writes(path, groups - groups // 2, per, subscribers, seed=8)


def _measure(path: str, per: int, subscribers: int, repeat: int) -> dict[str, float]:
    """Each part's median thread CPU [ms] over ``repeat`` groups (module docstring)."""
    from roamlike.reference import CounterStates
    from roamlike.service import large_groups
    from roamlike.service.snapshot import work_out
    from roamlike.state import open_store

    rnd = random.Random(11)
    spent: dict[str, list[float]] = {"load": [], "check": [], "rows": [], "append": []}
    with open_store(path, create=False) as store:
        for _ in range(repeat):
            ids = {f"s{s:06d}" for s in rnd.sample(range(subscribers), per)}
            start = time.thread_time()
            worked = work_out(
                store, lambda tx, ids=ids: large_groups.load_checked(tx, ids, _TENANT, states=True)
            )
            spent["load"].append(time.thread_time() - start)
            states = worked.done[0]
            assert isinstance(states, CounterStates)
            day_rows = [
                (_TENANT, s, "2026-01-20", "DE", 0, 0, 0, 0, "eu_rlah", 1, 10**6, 0, 0)
                for s in sorted(ids)
            ]
            start = time.thread_time()
            counters = large_groups.counters_writer(states, _TENANT)
            days = large_groups.days_writer(day_rows, _TENANT)
            spent["rows"].append(time.thread_time() - start)
            tx_manager = store.transaction()
            tx = tx_manager.__enter__()
            try:
                start = time.thread_time()
                assert worked.snapshot.still_valid(tx)
                spent["check"].append(time.thread_time() - start)
                start = time.thread_time()
                counters(tx)
                days(tx)
                spent["append"].append(time.thread_time() - start)
            finally:  # nothing kept: every round reads the same store
                tx_manager.__exit__(RuntimeError, RuntimeError("rolled back"), None)
    return {part: statistics.median(times) * 1e3 for part, times in spent.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--groups", type=int, default=24)
    parser.add_argument("--per", type=int, default=1600)
    parser.add_argument("--subscribers", type=int, default=5000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=9, help="groups measured per round")
    parser.add_argument("--compare-src", default=None, help="another checkout's src to run too")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_measure(args.child, args.per, args.subscribers, args.repeat)))
        return
    sides = {"this": str(Path(__file__).resolve().parents[1] / "src")}
    if args.compare_src:
        sides["other"] = str(Path(args.compare_src).resolve())
    found: dict[str, list[dict[str, float]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="roamlike-share-") as tmp:
        original = Path(tmp) / "store.db"
        _fill(original, args.groups, args.per, args.subscribers)
        for n in range(args.rounds):
            order = list(sides) if n % 2 == 0 else list(reversed(sides))
            for side in order:
                copy = Path(tmp) / f"{side}.db"
                shutil.copy(original, copy)
                env = dict(os.environ, PYTHONPATH=sides[side])
                child = [sys.executable, __file__, "--child", str(copy), "--per", str(args.per)]
                child += ["--subscribers", str(args.subscribers), "--repeat", str(args.repeat)]
                done = subprocess.run(child, env=env, capture_output=True, text=True, check=True)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                found[side].append(row)
                parts = "  ".join(f"{k} {v:6.2f}" for k, v in row.items())
                print(f"round {n + 1} {side:>5}: {parts} ms  load {os.getloadavg()[0]:.1f}")
    summary = {
        side: {part: statistics.median(r[part] for r in rows) for part in rows[0]}
        for side, rows in found.items()
    }
    for side, parts in summary.items():
        total = sum(parts.values())
        text = "  ".join(f"{k} {v:6.2f}" for k, v in parts.items())
        print(f"median {side:>5}: {text}  sum {total:6.2f} ms", flush=True)
    OUT.mkdir(exist_ok=True)
    (OUT / "store_share.json").write_text(
        json.dumps({"args": vars(args), "rounds": found, "median": summary}, indent=2),
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()

"""What a columnar snapshot of the base counters would save the preload's readers: a prototype.

``rate --state`` reads a day's stored counters with B-tree probes (``state_periods`` and
``state_subscribers``, ``roamlike.state.counters.load_stored``: 0.16 CPU-s in one process for 62,587
subscribers of a store of 1 M). This script measures an alternative on a copy of a store: the
tenant's base rows written once (as a compaction could) into two Arrow IPC files,
uncompressed, sorted by a 64-bit hash of the subscriber id, and a day's rows found by binary
search of the hashes in the memory-mapped files (``numpy.searchsorted``), the candidates then
kept only where the id itself is equal (so a shared hash costs a row read, never a wrong one).
Each reader runs in a process of its own (first-touch costs included), alternated with the
store's own ``load_stored`` of the same subscribers, and both results are checked equal::

    python benchmarks/bench_state_snapshot.py benchmarks/out/state/template.db \\
        benchmarks/out/state/day.parquet --since 2026-02-13 --rounds 4

It answers "how much CPU would the readers save", not how such files stay exact (logs and
packs are not read here; the files would have to be rebuilt or refused after every change of
the base tables). Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

#: The child: ``build``, ``snapshot`` or ``store``; prints one JSON line.
_CHILD = r"""
import datetime as dt, json, resource, sys, time
import numpy as np, polars as pl
from roamlike.sqlite_driver import sqlite3
from roamlike.state.bulk import distinct_sorted
from roamlike.state.counters import STORED_PERIOD_TYPES, STORED_SUBSCRIBER_TYPES, load_stored
from roamlike.state.store import open_store

what, store, usage, folder, since = sys.argv[1:6]
since_day = dt.date.fromisoformat(since)
SEED = 20190701
def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime
ids = distinct_sorted(pl.read_parquet(usage, columns=["subscriber_id"]).to_series())
c0, w0 = cpu(), time.perf_counter()
if what == "build":
    con = sqlite3.connect(store)
    for table, types in (("state_periods", STORED_PERIOD_TYPES),
                         ("state_subscribers", STORED_SUBSCRIBER_TYPES)):
        cols = list(types)
        arrays = ", ".join(f"json_group_array({c})" for c in cols)
        [texts] = con.execute(f"SELECT {arrays} FROM {table} WHERE tenant = ''").fetchall()
        frame = pl.DataFrame([pl.Series(c, [t]).str.json_decode(pl.List(types[c])).explode()
                              for c, t in zip(cols, texts)])
        frame = frame.with_columns(_h=pl.col("subscriber_id").hash(SEED)).sort("_h", *cols[:3])
        frame.write_ipc(f"{folder}/{table}.arrow", compression="uncompressed",
                        compat_level=pl.CompatLevel.oldest())  # pyarrow's take: no views
    result = {}
elif what == "snapshot":
    q = ids.hash(SEED).sort()
    order = ids.hash(SEED).arg_sort()
    wanted = ids.gather(order)
    qs = q.to_numpy()
    out = []
    for table in ("state_periods", "state_subscribers"):
        import pyarrow as pa
        arrow = pa.ipc.open_file(pa.memory_map(f"{folder}/{table}.arrow")).read_all()
        hs = arrow.column("_h").combine_chunks().to_numpy()
        lo = np.searchsorted(hs, qs, "left")
        hi = np.searchsorted(hs, qs, "right")
        n = hi - lo
        owner = np.repeat(np.arange(qs.size), n)
        rows = np.arange(int(n.sum())) + np.repeat(lo - np.concatenate(([0], np.cumsum(n)[:-1])), n)
        cand = pl.from_arrow(arrow.drop_columns(["_h"]).take(rows))
        keep = cand.get_column("subscriber_id") == wanted.gather(owner)
        if table == "state_periods":
            keep = keep & (cand.get_column("period_start") >= since)
        out.append(cand.filter(keep))
    result = {"periods": out[0].height, "subs": out[1].height}
    periods, subs = out
else:
    with open_store(store) as st, st.transaction() as tx:
        periods, subs = load_stored(tx, ids, since=since_day)
    result = {"periods": periods.height, "subs": subs.height}
cpu_s, wall_s = cpu() - c0, time.perf_counter() - w0
if what != "build":
    key = ["subscriber_id", "plan_id", "period_start"]
    result["digest"] = [int(periods.sort(key).hash_rows().sum()),
                        int(subs.sort("subscriber_id").hash_rows().sum())]
print(json.dumps({"cpu_s": cpu_s, "wall_s": wall_s, **result}))
"""


def _child(what: str, store: Path, usage: Path, folder: Path, since: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, what, str(store), str(usage), str(folder), since],
        check=False,
        capture_output=True,
        text=True,
    )
    if done.returncode:
        sys.exit(f"{what} failed:\n{done.stderr}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", type=Path, help="a store of bench_state.py (template.db)")
    parser.add_argument("usage", type=Path, help="its day's file (day.parquet)")
    parser.add_argument("--since", default="2026-02-13", help="the run's first period start")
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="snapshot-", dir=args.store.parent) as tmp:
        folder = Path(tmp)
        built = _child("build", args.store, args.usage, folder, args.since)
        size = sum(p.stat().st_size for p in folder.glob("*.arrow")) / 1e6
        print(
            f"snapshot built in {built['wall_s']:.2f} s, {built['cpu_s']:.2f} CPU-s, {size:.0f} MB"
        )
        seen: dict[str, list[float]] = {"store": [], "snapshot": []}
        digests = set()
        for r in range(args.rounds):
            for what in ("store", "snapshot"):
                got = _child(what, args.store, args.usage, folder, args.since)
                seen[what].append(float(got["cpu_s"]))  # type: ignore[arg-type]
                digests.add(json.dumps(got["digest"]))
                print(
                    f"round {r} {what:8s} cpu {got['cpu_s']:.3f} s wall {got['wall_s']:.3f} s"
                    f" periods {got['periods']} subscribers {got['subs']}"
                )
        for what, cpus in seen.items():
            print(f"median {what:8s} cpu {statistics.median(cpus):.3f} s")
        print("same rows" if len(digests) == 1 else f"ROWS DIFFER: {digests}")


if __name__ == "__main__":
    main()

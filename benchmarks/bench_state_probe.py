"""What one probe per subscriber would save the preload's readers: a prototype, not a schema.

``rate --state`` loads a day's counters with two probes per subscriber (``state_periods``,
then ``state_subscribers``: ``roamlike.state.counters.load_stored``). This script measures the
alternative the docs name as the next step, on a copy of a store: a table holding each
subscriber's row *and* its current period (its flags as one integer) in one row, read with one
probe per subscriber, against the store's own two-probe load of the same subscribers, each in a
process of its own (first-touch costs included, as in a run), alternated::

    python benchmarks/bench_state_probe.py benchmarks/out/state/template.db \\
        benchmarks/out/state/day.parquet --period 2026-03-01 --rounds 4 [--folder /dev/shm]

(the files ``bench_state.py`` leaves). The prototype's table is filled from the store's rows of
the period ``--period`` only (one period per subscriber, as the benchmark's store has them): it
answers "how much CPU would the readers save", not how such a table stays exact (several plans
or periods per subscriber, the logs and packs, the service's readers). Timings belong here,
never in tests.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from roamlike.sqlite_driver import sqlite3

#: The prototype's table: the subscriber's row and its current period, keyed by subscriber.
_CREATE = """
CREATE TABLE proto_subscriber_now (
    tenant TEXT NOT NULL, subscriber_id TEXT NOT NULL, last_visited_country TEXT,
    last_started_at_us BIGINT, last_record_id TEXT, plan_id TEXT, period_start TEXT,
    voice_used_s BIGINT, sms_used BIGINT, data_used_bytes BIGINT, fup_used_bytes BIGINT,
    billshock_spend_micros BIGINT, flags INTEGER,
    PRIMARY KEY (tenant, subscriber_id)
) WITHOUT ROWID
"""
_FILL = """
INSERT INTO proto_subscriber_now
SELECT s.tenant, s.subscriber_id, s.last_visited_country, s.last_started_at_us,
    s.last_record_id, p.plan_id, p.period_start, p.voice_used_s, p.sms_used,
    p.data_used_bytes, p.fup_used_bytes, p.billshock_spend_micros,
    (p.has_billshock_80 != 0) | ((p.has_billshock_100 != 0) << 1)
        | ((p.has_billshock_extra != 0) << 2) | ((p.has_fup_exhausted != 0) << 3)
FROM state_subscribers s JOIN state_periods p
    ON p.tenant = s.tenant AND p.subscriber_id = s.subscriber_id AND p.period_start = ?
ORDER BY 1, 2
ON CONFLICT DO NOTHING
"""

#: Run in a process of its own: the batch's subscribers read by the store's load (``two``) or
#: by one probe of the prototype's table (``one``), in the preload's parts; CPU seconds.
_READ = r"""
import json, sys, time
import polars as pl
from roamlike.io import read_usage
from roamlike.state import preload as P
from roamlike.state.bulk import _decoded, distinct_sorted, keys_table
from roamlike.state.counters import load_stored, periods_since
from roamlike.state.store import open_store
variant, db, usage = sys.argv[1:4]
keys = P._frame_keys(read_usage(__import__("pathlib").Path(usage), None).collect(), False)
subscribers = distinct_sorted(keys.get_column("s"))
since = periods_since(keys.get_column("d"))
text = ("subscriber_id", "last_visited_country", "last_record_id", "plan_id", "period_start")
columns = ["subscriber_id", "last_visited_country", "last_started_at_us", "last_record_id",
           "plan_id", "period_start", "voice_used_s", "sms_used", "data_used_bytes",
           "fup_used_bytes", "billshock_spend_micros", "flags"]
types = {c: pl.String() if c in text else pl.Int64() for c in columns}
def read(part):
    with open_store(db, create=False) as store, store.snapshot() as tx:
        if variant == "two":
            periods, subs = load_stored(tx, part, "", since=since)
            return periods.height
        table = keys_table(tx, part)
        arrays = ", ".join(f"json_group_array(t.{c})" for c in columns)
        [texts] = tx.execute(
            f"SELECT {arrays} FROM {table} k CROSS JOIN proto_subscriber_now t "
            "WHERE t.tenant = '' AND t.subscriber_id = k.value")
        return _decoded(columns, texts, types).height
started = time.process_time()
rows = sum(read(part) for part in P._parts(subscribers))
print(json.dumps({"cpu_s": time.process_time() - started, "rows": rows}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("store", type=Path, help="a store of bench_state.py (template.db)")
    parser.add_argument("usage", type=Path, help="its day's file (day.parquet)")
    parser.add_argument("--period", default="2026-03-01", help="the current period's start")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--folder", type=Path, help="where the store's copy goes")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="roamlike-probe-", dir=args.folder) as tmp:
        db = Path(tmp) / "state.db"
        shutil.copy(args.store, db)

        conn = sqlite3.connect(db, isolation_level=None)
        try:
            conn.execute(_CREATE)
            conn.execute(_FILL, (args.period,))
        finally:
            conn.close()
        results: dict[str, list[float]] = {"two": [], "one": []}
        for r in range(args.rounds):
            for variant in results if r % 2 == 0 else reversed(list(results)):
                done = subprocess.run(
                    [sys.executable, "-c", _READ, variant, str(db), str(args.usage)],
                    capture_output=True,
                    text=True,
                    check=True,
                )
                m = json.loads(done.stdout)
                results[variant].append(m["cpu_s"])
                print(f"round {r} {variant}: {m['cpu_s']:.3f} CPU-s, {m['rows']:,} rows")
        for variant, cpu in results.items():
            print(f"median {variant}: {statistics.median(cpu):.3f} CPU-s")


if __name__ == "__main__":
    main()

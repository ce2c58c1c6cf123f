"""Benchmark of ``roamlike rate --state``: a day's file against a store of 1 M subscribers.

Measured in one run, each timing in its own process (wall seconds, CPU seconds = user + system of
that process, peak RSS read with ``wait4``), rounds interleaved so machine noise hits every
variant alike:

* ``plain``: ``roamlike rate day.parquet --plans … --fx … --out … --rejects … --notifications …``
* ``sqlite``: the same with ``--state`` on a copy of a SQLite store holding 1 M subscribers
  (counters per subscriber and period, last events, one day of presence, 1 M record ids);
* ``postgresql``: the same on a copy (``CREATE DATABASE … TEMPLATE``) of a PostgreSQL database with
  the same content, on a throwaway durable cluster (fsync on; ``tests/pg_cluster.py``).

The day's file is ``roamlike synth`` output (one month) whose subscriber ids are made unique per
day of the month, so that it touches tens of thousands of subscribers as a real day's file does.

::

    python benchmarks/bench_state.py                  # 150,000 records, 1,000,000 subscribers
    python benchmarks/bench_state.py --records 50000 --subscribers 100000 --rounds 1

Results go to ``benchmarks/out/state.json`` (ignored by git).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

OUT = Path(__file__).resolve().parent / "out"
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


def _spawn(command: list[str], ok: tuple[int, ...] = (0, 1)) -> dict[str, float]:
    """Run a command: wall and CPU seconds and peak RSS [MB] of that process."""
    started = time.perf_counter()
    with subprocess.Popen(command, stdout=subprocess.DEVNULL) as proc:
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    wall = time.perf_counter() - started
    if proc.returncode not in ok:
        raise SystemExit(f"failed ({proc.returncode}): {' '.join(command)}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_mb": usage.ru_maxrss / 1024,
    }


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "roamlike.cli", *args]


def make_day_file(records: int, folder: Path) -> tuple[Path, Path, Path, list[str]]:
    """A synthetic file of ``records`` records; its distinct subscriber ids."""
    raw, plans, fx = folder / "raw.parquet", folder / "plans.yaml", folder / "fx.csv"
    _spawn(
        _cli(
            "synth",
            "--records",
            str(records),
            "--out",
            str(raw),
            "--plans-out",
            str(plans),
            "--fx-out",
            str(fx),
            "--start",
            "2026-03-01",
            "--months",
            "1",
        ),
        ok=(0,),
    )
    day = folder / "day.parquet"
    frame = pl.read_parquet(raw).with_columns(
        subscriber_id=pl.col("subscriber_id")
        + "-"
        + pl.col("started_at").cast(pl.String).str.slice(8, 2)
    )
    frame.write_parquet(day)
    return day, plans, fx, frame.get_column("subscriber_id").unique().sort().to_list()


def fill_store(url: str, subscribers: list[str], total: int) -> None:
    """A store with ``total`` subscribers (the file's among them), one period each."""
    from roamlike.counters import PERIOD_SCHEMA
    from roamlike.state import migrate, open_store

    fillers = total - len(subscribers)
    ids = subscribers + [f"f{i:07d}" for i in range(max(0, fillers))]
    with open_store(url) as store:
        migrate(store)
        with store.transaction() as tx:
            tx.copy_rows(
                "state_periods",
                ["tenant", *PERIOD_SCHEMA],
                (("", s, "plan-x", "2026-02-01", 60, 1, 1000, 0, 0, 0, 0, 0, 0) for s in ids),
            )
            tx.copy_rows(
                "state_subscribers",
                [
                    "tenant",
                    "subscriber_id",
                    "last_visited_country",
                    "last_started_at_us",
                    "last_record_id",
                ],
                (("", s, "DE", 1_769_900_000_000_000, f"old-{s}") for s in ids),
            )
            tx.copy_rows(
                "state_days",
                [
                    "tenant",
                    "subscriber_id",
                    "day",
                    "home_country",
                    "home_events",
                    "home_data_bytes",
                    "home_voice_s",
                    "home_sms",
                    "rlah_regime",
                    "rlah_events",
                    "rlah_data_bytes",
                    "rlah_voice_s",
                    "rlah_sms",
                ],
                (("", s, "2026-02-28", "DE", 1, 1000, 60, 1, "", 0, 0, 0, 0) for s in ids),
            )
            tx.copy_rows("state_records", ["tenant", "record_id"], (("", f"old-{s}") for s in ids))
        if store.dialect == "sqlite":
            store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=150_000)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    from pg_cluster import PgCluster, find_bin

    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "state"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    day, plans, fx, subs = make_day_file(args.records, work)
    print(f"day file: {args.records:,} records, {len(subs):,} subscribers", flush=True)

    t = time.perf_counter()
    template = work / "template.db"
    fill_store(str(template), subs, args.subscribers)
    print(
        f"SQLite store of {args.subscribers:,} subscribers filled in "
        f"{time.perf_counter() - t:.1f} s ({template.stat().st_size / 1e6:,.0f} MB)",
        flush=True,
    )

    cluster = None
    if not args.no_postgres and find_bin() is not None:
        cluster = PgCluster.start(durable=True)
        t = time.perf_counter()
        fill_store(cluster.create_database("template_state"), subs, args.subscribers)
        print(f"PostgreSQL store filled in {time.perf_counter() - t:.1f} s", flush=True)

    common = ["--plans", str(plans), "--fx", str(fx), "--quiet"]
    results: dict[str, list[dict[str, float]]] = {"plain": [], "sqlite": []}
    if cluster is not None:
        results["postgresql"] = []
    try:
        for r in range(args.rounds):
            for variant in results:
                folder = work / f"{variant}-{r}"
                folder.mkdir()
                outs = [
                    "--out",
                    str(folder / "rated.parquet"),
                    "--rejects",
                    str(folder / "rejects.parquet"),
                    "--notifications",
                    str(folder / "notes.parquet"),
                ]
                extra: list[str] = []
                if variant == "sqlite":
                    shutil.copy(template, folder / "state.db")
                    extra = ["--state", str(folder / "state.db")]
                elif variant == "postgresql":
                    assert cluster is not None
                    import psycopg

                    with psycopg.connect(cluster.url(), autocommit=True) as conn:
                        conn.execute(f'CREATE DATABASE "run{r}" TEMPLATE "template_state"')
                    extra = ["--state", cluster.url(f"run{r}")]
                m = _spawn(_cli("rate", str(day), *common, *outs, *extra))
                results[variant].append(m)
                print(
                    f"round {r} {variant:10s} wall {m['wall_s']:6.2f} s  cpu "
                    f"{m['cpu_s']:6.2f} s  peak {m['peak_mb']:,.0f} MB",
                    flush=True,
                )
    finally:
        if cluster is not None:
            cluster.stop()

    summary: dict[str, Any] = {
        "records": args.records,
        "file_subscribers": len(subs),
        "store_subscribers": args.subscribers,
        "rounds": args.rounds,
        "runs": results,
    }
    med = {v: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for v, ms in results.items()}
    summary["median"] = med
    for variant in med:
        if variant != "plain":
            summary[f"ratio_{variant}_over_plain_wall"] = (
                med[variant]["wall_s"] / med["plain"]["wall_s"]
            )
            summary[f"ratio_{variant}_over_plain_cpu"] = (
                med[variant]["cpu_s"] / med["plain"]["cpu_s"]
            )
    (OUT / "state.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for variant, m in med.items():
        ratio = (
            ""
            if variant == "plain"
            else (
                f"  ratio wall {m['wall_s'] / med['plain']['wall_s']:.2f}, "
                f"cpu {m['cpu_s'] / med['plain']['cpu_s']:.2f}"
            )
        )
        print(
            f"median {variant:10s} wall {m['wall_s']:6.2f} s  cpu {m['cpu_s']:6.2f} s  "
            f"peak {m['peak_mb']:,.0f} MB{ratio}"
        )


if __name__ == "__main__":
    main()

"""Benchmark of ``roamlike rate --state``: a day's file against a store of 1 M subscribers.

Measured in one run, each timing in its own process (wall seconds, CPU seconds = user + system of
that process, peak RSS read with ``wait4`` by a small launcher process, see ``_MEASURE``), rounds
interleaved so machine noise hits every variant alike, after the compiled pass is built ahead of
time (``python -m roamlike.rating.aot``, as ``make install`` does) and untimed warm-up runs
without and with a store (Python bytecode caches written, as for an installed roamlike;
roamlike's per-user caches in a folder of the benchmark's own, see :data:`CACHE`):

* ``plain``: ``roamlike rate day.parquet --plans … --fx … --out … --rejects … --notifications …``
* ``sqlite``: the same with ``--state`` on a copy of a SQLite store holding 1 M subscribers
  (counters per subscriber and period, last events, one day of presence, 1 M record ids);
* ``sqlite-log``: the same on a copy of that store whose logs hold what ``--log-runs`` earlier
  daily files left since the last compaction (``roamlike.state.log``; the worst case before
  ``rate --state`` compacts by itself), followed by an untimed-in-the-ratio
  ``roamlike state compact`` of the result (the amortised cost, reported on its own);
* ``postgresql``: the same on a copy (``CREATE DATABASE … TEMPLATE``) of a PostgreSQL database with
  the same content, on a throwaway durable cluster (fsync on; ``tests/pg_cluster.py``).

The day's file is ``roamlike synth`` output (one month) moved onto one day (2026-03-16, each
record keeping its time of day) with its subscriber ids made unique per original day of the
month, so that it touches tens of thousands of subscribers as a real day's file does. The store
holds, for each of its subscribers, ``--history-months`` billing periods: for the file's
subscribers the current one (what the first half of the month consumed; the run updates it)
and older ones, for the others older ones only.

::

    python benchmarks/bench_state.py                  # 150,000 records, 1,000,000 subscribers
    python benchmarks/bench_state.py --records 50000 --subscribers 100000 --rounds 1

On a machine shared with other work, ``--realtime PRIORITY`` runs each timed command under
``chrt -f PRIORITY`` (``SCHED_FIFO``): the other work cannot take the cores while it runs, so
its wall time is close to an idle machine's (not the PostgreSQL server's processes: their
share of the cores is as without the option).

Each SQLite variant also reports the size of the run's WAL file (an idle connection of the
benchmark keeps it from being deleted at the end) and every variant the bytes its process wrote
(``wchar`` of ``/proc/PID/io``: outputs, WAL and checkpoint). Store copies are flushed to disk
before each timed run.

Results go to ``benchmarks/out/state.json`` (ignored by git).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl

from roamlike.sqlite_driver import sqlite3

OUT = Path(__file__).resolve().parent / "out"
#: The day of the day's file (mid-period: the current periods are already in the store).
DAY = dt.date(2026, 3, 16)
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))


#: roamlike's per-user caches (parsed catalog, compiled kernels) of the benchmark's processes:
#: a folder of their own, filled by the warm-up runs. The shared per-user cache keeps one parsed
#: catalog, that of the checkout that ran last: another checkout run meanwhile on the machine
#: would make a timed run parse the catalog again (0.5-3 CPU-s).
CACHE = OUT / "state" / "cache"


#: Runs a command and prints, as JSON, its wall and CPU seconds, peak RSS [KiB] and bytes written
#: (``wchar`` of ``/proc/PID/io``, read before the exited process is reaped). A small process of
#: its own starts the command: a child's peak RSS counts the memory of the process it was forked
#: from, so the command must not be forked from the benchmark (which holds the store's ids).
_MEASURE = """
import json, os, subprocess, sys, time
command = json.loads(sys.argv[1])
started = time.perf_counter()
proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
os.waitid(os.P_PID, proc.pid, os.WEXITED | os.WNOWAIT)
wall = time.perf_counter() - started
try:
    with open(f"/proc/{proc.pid}/io", encoding="ascii") as io:
        fields = dict(line.split(": ", 1) for line in io.read().splitlines() if ": " in line)
    written = int(fields.get("wchar", "0"))
except OSError:
    written = 0
_, status, usage = os.wait4(proc.pid, 0)
print(json.dumps({"code": os.waitstatus_to_exitcode(status), "wall_s": wall,
    "user_s": usage.ru_utime, "sys_s": usage.ru_stime, "peak_kib": usage.ru_maxrss,
    "written": written}))
"""


#: ``--realtime PRIORITY``: each timed command runs under ``chrt -f PRIORITY`` (Linux
#: ``SCHED_FIFO``; needs the privilege to set it), so that the other work of a shared machine
#: does not take its cores while it runs: its wall time is then close to an idle machine's.
REALTIME: list[str] = []


def _spawn(
    command: list[str],
    ok: tuple[int, ...] = (0, 1),
    src: Path | None = None,
    *,
    timed: bool = True,
) -> dict[str, float]:
    """Run a command: wall and CPU seconds (user + system, and each), peak RSS [MB] and bytes
    written [MB] of that process; ``src``: the ``src`` folder of another roamlike to run
    instead of this one; ``timed`` (a timed run): under :data:`REALTIME` if set."""
    command = [*REALTIME, *command] if timed else command
    # with bytecode caches, as an installed roamlike runs (a warm-up run writes them)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["XDG_CACHE_HOME"] = str(CACHE if src is None else CACHE.with_name("cache-compare"))
    if src is not None:
        env["PYTHONPATH"] = str(src)
    env.pop("ROAMLIKE_STATE_AGENT", None)  # a compared code of round 8: without its agent
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, json.dumps(command)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    m = json.loads(done.stdout)
    if m["code"] not in ok:
        raise SystemExit(f"failed ({m['code']}): {' '.join(command)}")
    return {
        "wall_s": m["wall_s"],
        "cpu_s": m["user_s"] + m["sys_s"],
        "user_s": m["user_s"],
        "sys_s": m["sys_s"],
        "peak_mb": m["peak_kib"] / 1024,
        "written_mb": m["written"] / 1e6,
    }


def _cli(*args: str) -> list[str]:
    return [sys.executable, "-m", "roamlike.cli", *args]


def make_day_file(
    records: int, folder: Path, total: int, clustered: bool
) -> tuple[Path, Path, Path, list[str], list[str]]:
    """A synthetic file of ``records`` records; its distinct subscriber ids and the ids of the
    store's other subscribers (``total`` in all).

    The file's subscribers get ids drawn at random from the store's (``s0000000`` …), as a day's
    active subscribers are spread over the key space; ``clustered`` keeps them together
    instead (ids ``s…``, the others ``f…``: every write of a run then lands in one corner of the
    store, as in the first version of this benchmark).
    """
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
        timed=False,
    )
    day = folder / "day.parquet"
    at = pl.col("started_at")
    frame = pl.read_parquet(raw).with_columns(
        subscriber_id=pl.col("subscriber_id") + "-" + at.cast(pl.String).str.slice(8, 2),
        started_at=at - pl.duration(days=at.dt.day().cast(pl.Int64) - DAY.day),
    )
    active = frame.get_column("subscriber_id").unique().sort().to_list()
    if clustered:
        others = [f"f{i:07d}" for i in range(max(0, total - len(active)))]
    else:
        numbers = random.Random(2026).sample(range(max(total, len(active))), len(active))
        renamed = dict(zip(active, (f"s{n:07d}" for n in numbers), strict=True))
        frame = frame.with_columns(pl.col("subscriber_id").replace_strict(renamed))
        taken = set(numbers)
        others = [f"s{n:07d}" for n in range(total) if n not in taken]
        active = sorted(renamed.values())
    frame.write_parquet(day)
    return day, plans, fx, active, others


def current_periods(day: Path, plans: Path, fx: Path) -> list[tuple[str, str, str]]:
    """(subscriber, plan, period start) of every period the day's file touches."""
    from roamlike.io import read_usage
    from roamlike.rating import rate_usage
    from roamlike.tariffs import FxTable, load_plans

    usage = read_usage(day, None).with_row_index("row_number").collect()
    rated = rate_usage(usage, load_plans(plans), FxTable.from_csv(fx)).rated
    keys = rated.select(
        "subscriber_id", "plan_id", pl.col("billing_period_start").cast(pl.String)
    ).unique()
    return [(str(s), str(p), str(d)) for s, p, d in keys.sort(pl.all()).iter_rows()]


def fill_store(
    url: str,
    subscribers: list[str],
    others: list[str],
    current: list[tuple[str, str, str]],
    history_months: int,
) -> None:
    """A store of the file's ``subscribers`` and ``others``: the file's current periods and
    ``history_months - 1`` older periods of every subscriber (``history_months`` for the
    others)."""
    from roamlike.counters import PERIOD_SCHEMA
    from roamlike.state import migrate, open_store
    from roamlike.state.schema import columns

    ids = subscribers + others
    file_subs = set(subscribers)
    older = [dt.date(2026, 3 - m, 1).isoformat() for m in range(1, history_months)]
    with open_store(url) as store:
        migrate(store)
        with store.transaction() as tx:
            tx.copy_rows(
                "state_periods",
                ["tenant", *PERIOD_SCHEMA],
                [("", s, p, d, 600, 3, 300_000_000, 0, 0, 0, 0, 0, 0) for s, p, d in current]
                + [
                    ("", s, "plan-x", d, 60, 1, 1000, 0, 0, 0, 0, 0, 0)
                    for s in ids
                    for d in older + ([] if s in file_subs else ["2026-03-01"])
                ],
            )
            tx.copy_rows(
                "state_subscribers",
                columns("state_subscribers"),
                (("", s, "DE", 1_773_500_000_000_000, f"old-{s}") for s in ids),
            )
            tx.copy_rows(
                "state_days",
                columns("state_days"),
                (("", s, "2026-03-15", "DE", 1, 1000, 60, 1, "", 0, 0, 0, 0) for s in ids),
            )
            tx.copy_rows("state_records", ["tenant", "record_id"], (("", f"old-{s}") for s in ids))
        if store.dialect == "sqlite":
            store.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")


def fill_log(
    url: str,
    subscribers: list[str],
    others: list[str],
    current: list[tuple[str, str, str]],
    runs: int,
) -> int:
    """Append to the store's logs what ``runs`` earlier daily files left there since the last
    compaction (``roamlike.state.log``): each touched a random 6.3 % of the store's subscribers
    (the share of the day's file): their current period, last event and one day of presence.
    The number of log rows written."""
    from roamlike.counters import PERIOD_SCHEMA
    from roamlike.state import open_store
    from roamlike.state.schema import columns

    ids = subscribers + others
    share = len(subscribers) / len(ids)
    periods_of = {s: (p, d) for s, p, d in current}
    rng = random.Random(7)
    rows = 0
    with open_store(url) as store, store.transaction() as tx:
        for seq in range(1, runs + 1):
            touched = sorted(s for s in ids if rng.random() < share)
            day = (DAY - dt.timedelta(days=runs + 1 - seq)).isoformat()
            tx.copy_rows(
                "state_periods_log",
                ["tenant", "seq", *PERIOD_SCHEMA],
                [
                    ("", seq, s, *periods_of.get(s, ("plan-x", "2026-03-01")), 60, 1, 1000)
                    + (0,) * 6
                    for s in touched
                ],
            )
            tx.copy_rows(
                "state_subscribers_log",
                ["tenant", "seq", *columns("state_subscribers")[1:]],
                [("", seq, s, "DE", 1_773_500_000_000_000, f"old-{s}") for s in touched],
            )
            tx.copy_rows(
                "state_days_log",
                ["tenant", "seq", *columns("state_days")[1:]],
                [("", seq, s, day, "DE", 1, 1000, 60, 1, "", 0, 0, 0, 0) for s in touched],
            )
            rows += 3 * len(touched)
        tx.execute(
            "INSERT INTO state_log_seq (tenant, seq, log_rows) VALUES ('', ?, ?)", (runs, rows)
        )
    if store.dialect == "sqlite":
        with open_store(url) as again:
            again.connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return rows


def _schema_for(template: Path, src: Path | None, work: Path) -> Path:
    """The store ``template`` as the roamlike of ``src`` reads it: a code before state
    migration 8 (no record-id blocks in its schema module) gets a copy at version 7 (no
    ``state_record_blocks``), a code before migration 7 (no packed logs) a copy at version 6
    (the logs' ``(tenant, seq)`` indexes back, no ``state_packs``); the same store otherwise.
    The template's record ids are rows, which every version reads."""
    if src is None:
        return template
    schema = (src / "roamlike/state/schema.py").read_text()
    version = 8 if "state_record_blocks" in schema else 7 if "state_packs" in schema else 6
    if version == 8:
        return template
    older = work / f"template-v{version}.db"
    if not older.exists():
        shutil.copy(template, older)
        conn = sqlite3.connect(older, isolation_level=None)
        try:
            conn.execute("DROP TABLE IF EXISTS state_record_blocks")
            if version == 6:
                conn.execute("DROP TABLE state_packs")
                for table in ("state_periods", "state_subscribers", "state_days"):
                    conn.execute(f"CREATE INDEX {table}_log_seq ON {table}_log (tenant, seq)")
            conn.execute(
                "DELETE FROM roamlike_schema_version WHERE component = 'state' AND version > ?",
                (version,),
            )
        finally:
            conn.close()  # the last connection: its WAL goes into the file, which is copied
    return older


def _fsynced_copy(source: Path, target: Path) -> None:
    """Copy a store file and flush it to disk (a real store is not a file just written: its
    pages must not be flushed by the timed run's checkpoint)."""
    shutil.copy(source, target)
    fd = os.open(target, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=150_000)
    parser.add_argument("--subscribers", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--clustered-ids",
        action="store_true",
        help="the file's subscribers side by side in the store (default: spread at random)",
    )
    parser.add_argument(
        "--history-months", type=int, default=3, help="billing periods stored per subscriber"
    )
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument(
        "--compare-src",
        type=Path,
        help="the src folder of another roamlike (e.g. `git archive main` unpacked): adds the "
        "variant `sqlite-compare`, the `sqlite` run with that code, for before/after in one run",
    )
    parser.add_argument(
        "--realtime",
        type=int,
        metavar="PRIORITY",
        help="run each timed command under `chrt -f PRIORITY` (SCHED_FIFO): on a shared machine "
        "its wall time is then close to an idle machine's (Linux; needs the privilege)",
    )
    parser.add_argument(
        "--log-runs",
        type=int,
        default=6,
        help="earlier daily runs left in the logs of the `sqlite-log` store (0: no such variant)",
    )
    args = parser.parse_args()
    if args.realtime is not None:
        REALTIME[:] = ["chrt", "-f", str(args.realtime)]

    from pg_cluster import PgCluster, find_bin

    OUT.mkdir(parents=True, exist_ok=True)
    work = OUT / "state"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir()
    day, plans, fx, subs, others = make_day_file(
        args.records, work, args.subscribers, args.clustered_ids
    )
    print(f"day file: {args.records:,} records, {len(subs):,} subscribers", flush=True)

    current = current_periods(day, plans, fx)
    t = time.perf_counter()
    template = work / "template.db"
    fill_store(str(template), subs, others, current, args.history_months)
    print(
        f"SQLite store of {args.subscribers:,} subscribers filled in "
        f"{time.perf_counter() - t:.1f} s ({template.stat().st_size / 1e6:,.0f} MB)",
        flush=True,
    )

    logged = work / "template-log.db"
    if args.log_runs:
        shutil.copy(template, logged)
        rows = fill_log(str(logged), subs, others, current, args.log_runs)
        print(f"SQLite store with {rows:,} log rows of {args.log_runs} earlier runs", flush=True)

    cluster = None
    if not args.no_postgres and find_bin() is not None:
        cluster = PgCluster.start(durable=True)
        t = time.perf_counter()
        fill_store(
            cluster.create_database("template_state"),
            subs,
            others,
            current,
            args.history_months,
        )
        print(f"PostgreSQL store filled in {time.perf_counter() - t:.1f} s", flush=True)

    common = ["--plans", str(plans), "--fx", str(fx), "--quiet"]
    results: dict[str, list[dict[str, float]]] = {"plain": [], "sqlite": []}
    if args.log_runs:
        results["sqlite-log"] = []
    if args.compare_src is not None:
        results["sqlite-compare"] = []
    if cluster is not None:
        results["postgresql"] = []
    compactions: list[dict[str, float]] = []
    # the machine is shared: its load average says how much the timings are to be trusted
    load_before = os.getloadavg()[0]
    try:
        # the compiled pass built ahead of time first, as `make install` builds it for a user:
        # otherwise the warm-up run, rating with the JIT pass, starts that build in the
        # background, and the first timed rounds ran beside the C compiler, with the JIT pass
        # (0.2-0.4 s slower and 100 MB larger: `plain`'s first two rounds, `--state`'s first)
        trees = [None] if args.compare_src is None else [None, args.compare_src]
        for src in trees:
            _spawn([sys.executable, "-m", "roamlike.rating.aot"], src=src, timed=False)
        warm = work / "warm-up"
        warm.mkdir()
        _spawn(_cli("rate", str(day), *common, "--out", str(warm / "rated.parquet")))
        # the store's code path too (its modules' bytecode), on a throwaway copy
        for src in trees:
            shutil.copy(_schema_for(template, src, work), warm / "state.db")
            _spawn(
                _cli(
                    "rate",
                    str(day),
                    *common,
                    "--out",
                    str(warm / "rated-state.parquet"),
                    "--state",
                    str(warm / "state.db"),
                ),
                src=src,
            )
            (warm / "rated-state.parquet").unlink()
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
                watcher = None
                if variant.startswith("sqlite"):
                    db = folder / "state.db"
                    compare = args.compare_src if variant == "sqlite-compare" else None
                    _fsynced_copy(
                        logged if variant == "sqlite-log" else _schema_for(template, compare, work),
                        db,
                    )
                    extra = ["--state", str(db)]
                    # an idle connection keeps the run's WAL file (the last one to close
                    # deletes it) so its size can be read afterwards
                    watcher = sqlite3.connect(db)
                    watcher.execute("SELECT count(*) FROM sqlite_schema").fetchall()
                elif variant == "postgresql":
                    assert cluster is not None
                    import psycopg

                    with psycopg.connect(cluster.url(), autocommit=True) as conn:
                        conn.execute(f'CREATE DATABASE "run{r}" TEMPLATE "template_state"')
                    extra = ["--state", cluster.url(f"run{r}")]
                m = _spawn(
                    _cli("rate", str(day), *common, *outs, *extra),
                    src=args.compare_src if variant == "sqlite-compare" else None,
                )
                if watcher is not None:
                    wal = folder / "state.db-wal"
                    m["wal_mb"] = wal.stat().st_size / 1e6 if wal.exists() else 0.0
                    watcher.close()
                results[variant].append(m)
                print(
                    f"round {r} {variant:10s} wall {m['wall_s']:6.2f} s  cpu "
                    f"{m['cpu_s']:6.2f} s (user {m['user_s']:.2f}, sys {m['sys_s']:.2f})  "
                    f"peak {m['peak_mb']:,.0f} MB  written "
                    f"{m['written_mb']:,.0f} MB"
                    + (f"  WAL {m['wal_mb']:,.1f} MB" if "wal_mb" in m else ""),
                    flush=True,
                )
                if variant == "sqlite-log":
                    # the amortised cost: folding the logs (the run's included) into the base
                    c = _spawn(_cli("state", "compact", "--state", str(folder / "state.db")))
                    compactions.append(c)
                    print(
                        f"round {r} compact    wall {c['wall_s']:6.2f} s  cpu "
                        f"{c['cpu_s']:6.2f} s  written {c['written_mb']:,.0f} MB",
                        flush=True,
                    )
    finally:
        if cluster is not None:
            cluster.stop()

    summary: dict[str, Any] = {
        "realtime": args.realtime,
        "records": args.records,
        "file_subscribers": len(subs),
        "store_subscribers": args.subscribers,
        "history_months": args.history_months,
        "clustered_ids": args.clustered_ids,
        "rounds": args.rounds,
        "runs": results,
    }
    med = {v: {k: statistics.median(m[k] for m in ms) for k in ms[0]} for v, ms in results.items()}
    summary["median"] = med
    summary["load_average_1min"] = {"before": load_before, "after": os.getloadavg()[0]}
    if compactions:
        summary["compaction"] = {
            "log_runs": args.log_runs,
            "runs": compactions,
            "median": {k: statistics.median(c[k] for c in compactions) for k in compactions[0]},
        }
    for variant in med:
        if variant != "plain":
            summary[f"ratio_{variant}_over_plain_wall"] = (
                med[variant]["wall_s"] / med["plain"]["wall_s"]
            )
            summary[f"ratio_{variant}_over_plain_cpu"] = (
                med[variant]["cpu_s"] / med["plain"]["cpu_s"]
            )
            # the store's own cost in seconds: a fixed cost weighs more as the engine gets faster
            summary[f"overhead_{variant}_wall_s"] = med[variant]["wall_s"] - med["plain"]["wall_s"]
            summary[f"overhead_{variant}_cpu_s"] = med[variant]["cpu_s"] - med["plain"]["cpu_s"]
    (OUT / "state.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    for variant, m in med.items():
        ratio = (
            ""
            if variant == "plain"
            else (
                f"  ratio wall {m['wall_s'] / med['plain']['wall_s']:.2f}, "
                f"cpu {m['cpu_s'] / med['plain']['cpu_s']:.2f}; store "
                f"+{m['wall_s'] - med['plain']['wall_s']:.2f} s wall, "
                f"+{m['cpu_s'] - med['plain']['cpu_s']:.2f} s cpu"
            )
        )
        wal_text = f"  WAL {m['wal_mb']:,.1f} MB" if "wal_mb" in m else ""
        print(
            f"median {variant:10s} wall {m['wall_s']:6.2f} s  cpu {m['cpu_s']:6.2f} s "
            f"(user {m['user_s']:.2f}, sys {m['sys_s']:.2f})  peak {m['peak_mb']:,.0f} MB  "
            f"written {m['written_mb']:,.0f} MB{wal_text}{ratio}"
        )
    print(
        ("timed under SCHED_FIFO; " if args.realtime is not None else "")
        + f"load average (1 min) before the timed runs {load_before:.1f}, after "
        f"{summary['load_average_1min']['after']:.1f} on {os.cpu_count()} CPUs"
    )
    if compactions:
        c = summary["compaction"]["median"]
        print(
            f"median compact of {args.log_runs + 1} runs' logs: wall {c['wall_s']:.2f} s  "
            f"cpu {c['cpu_s']:.2f} s  written {c['written_mb']:,.0f} MB"
        )


if __name__ == "__main__":
    main()

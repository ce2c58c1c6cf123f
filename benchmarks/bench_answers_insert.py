"""CPU and WAL pages of a commit group's answers on a SQLite store already holding many events.

Each group inserts 1,600 answers of about 700 bytes (the service's statement, record ids in
order, subscribers drawn from ``--subscribers``) into ``service_events`` of a store of the
service's schema that already holds ``--stored`` events, in a transaction of its own; reported:
the medians over ``--groups`` groups of the insert's and the ``COMMIT``'s thread CPU and of the
WAL pages the commit wrote (the WAL truncated after each group), with the answers' subscriber
index of service schema version 5 (``service_events_subscriber``), with the table filled in
slices that replaced it (version 6, :mod:`roamlike.service.events_index`: the group's insert
followed by :func:`~roamlike.service.events_index.fold`, as the service does), and with
neither. Each index entry lands at a random place of an index that grows with the events, so a
group dirties about as many of its leaf pages as it has records once the index has that many,
and every dirty page is written whole into the WAL (``docs/service-speed.md``, "Events of 100
records (round 17: the writer's share)", "Round 18: events of 100 records, CPU per request").

Usage::

    python benchmarks/bench_answers_insert.py [--stored 100000,1000000] [--groups 15]

Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import roamlike.service.schema  # noqa: F401  (registers the service's migrations)
from roamlike.service import events_index
from roamlike.state import Transaction, migrate, open_store

_TENANT = "0123456789abcdef"
_ANSWER = '{"record_id":"r0-0","rated":{"x":' + "1" * 600 + "}}"
_INSERT = (
    "INSERT INTO service_events (tenant_id, record_id, subscriber_id, received_at, "
    "answer_json) VALUES (?, ?, ?, ?, ?)"
)


#: The designs measured: version 5's index, version 6's table folded in slices, neither.
DESIGNS = ("index", "folded", "neither")


def measure(stored: int, groups: int, subscribers: int, design: str) -> dict[str, float]:
    """Medians per group of 1,600 answers (module docstring): insert and commit [ms], WAL
    pages."""
    folder = Path(tempfile.mkdtemp(prefix="bench-answers-"))
    path = folder / "store.sqlite"
    rnd = random.Random(5)
    try:
        with open_store(path) as store:
            migrate(store)
            conn = store.connection
            if design == "index":
                conn.execute(
                    "CREATE INDEX service_events_subscriber "
                    "ON service_events (tenant_id, subscriber_id)"
                )
            conn.execute("BEGIN")
            conn.execute(
                "WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < ?) "
                "INSERT INTO service_events SELECT ?, 'old' || i, 'b' || (abs(random()) % ?), "
                "'2026-12-01T00:00:00.000000+00:00', 'x' FROM n",
                (stored - 1, _TENANT, subscribers),
            )
            if design == "folded":  # the stored events as the migration leaves them: folded
                events_index.fold(Transaction("sqlite", conn), 0)
            conn.execute("COMMIT")
            conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            wal = Path(f"{path}-wal")
            inserts: list[float] = []
            commits: list[float] = []
            pages: list[float] = []
            n = 0
            for _ in range(groups):
                rows = []
                for s in rnd.sample(range(subscribers), 1600):
                    rows.append(
                        (_TENANT, f"r{n}", f"b{s}", "2026-12-03T11:00:00.000000+00:00", _ANSWER)
                    )
                    n += 1
                conn.execute("BEGIN IMMEDIATE")
                t0 = time.thread_time()
                conn.executemany(_INSERT, rows)
                if design == "folded":
                    events_index.fold(Transaction("sqlite", conn))
                t1 = time.thread_time()
                conn.execute("COMMIT")
                t2 = time.thread_time()
                inserts.append(t1 - t0)
                commits.append(t2 - t1)
                pages.append(wal.stat().st_size / conn.execute("PRAGMA page_size").fetchone()[0])
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        shutil.rmtree(folder)
    return {
        "insert_ms": statistics.median(inserts) * 1e3,
        "commit_ms": statistics.median(commits) * 1e3,
        "wal_pages": statistics.median(pages),
        # the means: a fold comes once every few groups, which the medians leave out
        "insert_mean_ms": statistics.mean(inserts) * 1e3,
        "commit_mean_ms": statistics.mean(commits) * 1e3,
        "wal_pages_mean": statistics.mean(pages),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--stored", default="100000,1000000", help="events stored first")
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--subscribers", type=int, default=5000)
    args = parser.parse_args()
    for stored in (int(s) for s in args.stored.split(",")):
        for design in DESIGNS:
            got = measure(stored, args.groups, args.subscribers, design)
            print(
                f"stored {stored:>9,}, {design:>7}: insert (and fold) {got['insert_ms']:6.2f} ms, "
                f"commit {got['commit_ms']:6.2f} ms, WAL pages {got['wal_pages']:6.0f}; means "
                f"{got['insert_mean_ms']:6.2f} ms, {got['commit_mean_ms']:6.2f} ms, "
                f"{got['wal_pages_mean']:6.0f} pages",
                flush=True,
            )


if __name__ == "__main__":
    main()

"""What the slowest requests of a traced run waited on (``roamlike.service.group_trace``).

Run the server with ``ROAMLIKE_GROUP_TRACE=DIR`` (e.g. ``ROAMLIKE_GROUP_TRACE=/tmp/trace
python benchmarks/bench_service.py --seconds 10 --workers 2 --only events_1``: the server
inherits the environment), then::

    python benchmarks/group_trace.py DIR [--slowest 0.01] [--skip 1.0]

Prints, over the requests of every group (their time from the queue to the answer), the
percentiles of the whole and the mean of each step of their group's timeline — for all
requests and for the slowest share (``--slowest``) — where a step is:

* ``queued``: from the request's arrival in the writer's queue to its group being taken
  (the previous group's preparation, the wait for company);
* ``prepare``: the group worked out on its snapshot;
* ``to lock``: from the commit task's creation to the writers' lock taken (the task's start
  on the loop and the wait for the other worker's commit or compaction slice or checkpoint);
* ``statements``, ``COMMIT``: under the lock;
* ``flush queue``: from ``COMMIT`` to the flush starting on the flusher's thread (the
  previous groups' flushes);
* ``fdatasync``: the flush itself; ``to loop``: from its end to the loop resuming the task;
* ``answer``: the futures set.

Then how many of the slowest requests' groups overlapped a checkpoint (``PASSIVE``, the
``RESTART``'s wait and hold), a store call under the lock on a writer's thread (compaction
steps), or the other process's hold of the lock, and the RSGI layer's own latency
percentiles (arrival to the answer handed to granian). ``--skip`` drops the first seconds
(the warm-up requests).
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections import defaultdict
from pathlib import Path
from typing import Any

STEPS = (
    ("queued", "q", "g"),
    ("prepare", "g", "p"),
    ("to lock", "w", "l"),
    ("statements", "l", "s"),
    ("COMMIT", "s", "c"),
    ("flush queue", "c", "f0"),
    ("fdatasync", "f0", "f1"),
    ("to loop", "f1", "f"),
    ("answer", "f", "a"),
)


def load(folder: Path) -> dict[str, list[dict[str, Any]]]:
    """Every row of the trace files in ``folder``, by kind."""
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(folder.glob("trace-*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            rows[row["kind"]].append(row)
    return rows


def percentile(values: list[float], share: float) -> float:
    """The ``share`` percentile of ``values`` (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def overlaps(a0: float, a1: float, b0: float, b1: float) -> bool:
    """Whether the spans [a0, a1] and [b0, b1] share a moment."""
    return a0 < b1 and b0 < a1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--slowest", type=float, default=0.01)
    parser.add_argument("--skip", type=float, default=1.0, help="seconds dropped at the start")
    args = parser.parse_args()
    rows = load(args.folder)
    groups = [g for g in rows["group"] if "f1" in g and "l" in g]
    if not groups:
        raise SystemExit("no traced group of the loop's path")
    start = min(g["g"] for g in groups) + args.skip
    groups = [g for g in groups if g["g"] >= start]
    requests: list[tuple[float, float, dict[str, Any]]] = []  # (latency, arrival, group)
    for g in groups:
        for q in g["q"]:
            requests.append((g["a"] - q, q, g))
    requests.sort(key=lambda r: r[0])
    latencies = [r[0] * 1e3 for r in requests]
    span = max(g["a"] for g in groups) - min(g["g"] for g in groups)
    print(
        f"{len(groups)} groups, {len(requests)} requests in {span:.1f} s "
        f"({len(requests) / span:,.0f}/s), mean group {len(requests) / len(groups):.1f}; "
        f"queue to answer: p50 {percentile(latencies, 0.5):.2f} ms, p90 "
        f"{percentile(latencies, 0.9):.2f}, p99 {percentile(latencies, 0.99):.2f}, p99.9 "
        f"{percentile(latencies, 0.999):.2f}, max {latencies[-1]:.2f}"
    )
    slow = requests[-max(1, int(len(requests) * args.slowest)) :]
    print(f"mean per step [ms]: all requests / the slowest {args.slowest:.0%} ({len(slow)})")
    for name, a, b in STEPS:

        def step(r: tuple[float, float, dict[str, Any]], a: str = a, b: str = b) -> float:
            g = r[2]
            t0 = r[1] if a == "q" else g[a]
            return (g[b] - t0) * 1e3

        every = statistics.fmean(step(r) for r in requests)
        tail = statistics.fmean(step(r) for r in slow)
        worst = max(step(r) for r in slow)
        print(f"  {name:>12}: {every:7.2f}  {tail:7.2f}  (max in the slowest {worst:.2f})")
    slow_groups = {id(r[2]): r[2] for r in slow}.values()
    sizes = [g["n"] for g in slow_groups]
    print(
        f"slowest requests' groups: {len(sizes)}, size mean {statistics.fmean(sizes):.1f} "
        f"(all groups {statistics.fmean(g['n'] for g in groups):.1f})"
    )
    checkpoints = rows["checkpoint"]
    turns = rows["turn"]
    compactions = rows["compaction"]
    holds = [(g["pid"], g["l"], g["c"]) for g in groups]
    for name, hit in (
        ("a PASSIVE checkpoint", lambda g: any(
            overlaps(g["g"], g["a"], c["t0"], c["t1"]) for c in checkpoints)),
        ("a RESTART (wait or hold)", lambda g: any(
            "r" in c and overlaps(g["g"], g["a"], c["t1"], c["r"]) for c in checkpoints)),
        ("a store call under the lock (compaction)", lambda g: any(
            overlaps(g["w"], g["l"], t["l"], t["t1"]) for t in turns)),
        ("the other process's hold, while waiting for the lock", lambda g: any(
            pid != g["pid"] and overlaps(g["w"], g["l"], l0, l1) for pid, l0, l1 in holds)),
    ):  # fmt: skip
        share_slow = sum(1 for g in slow_groups if hit(g)) / max(1, len(sizes))
        share_all = sum(1 for g in groups if hit(g)) / len(groups)
        print(f"  overlapping {name}: slowest {share_slow:.0%}, all groups {share_all:.0%}")
    for kind, found in (("checkpoint", checkpoints), ("turn", turns)):
        if found:
            holds_ms = [(c.get("r", c["t1"]) - c["t0"]) * 1e3 for c in found]
            print(
                f"{kind}s: {len(found)}, span p50 {percentile(holds_ms, 0.5):.2f} ms, "
                f"p99 {percentile(holds_ms, 0.99):.2f}, max {max(holds_ms):.2f}"
            )
    restarts = [c for c in checkpoints if "r" in c]
    if restarts:
        waits = [(c["l"] - c["t1"]) * 1e3 for c in restarts]
        held = [(c["r"] - c["l"]) * 1e3 for c in restarts]
        print(f"RESTARTs: {len(restarts)}, lock wait max {max(waits):.2f} ms, held max "
              f"{max(held):.2f} ms")  # fmt: skip
    if turns:
        waits = [(t["l"] - t["t0"]) * 1e3 for t in turns]
        held = [(t["t1"] - t["l"]) * 1e3 for t in turns]
        cpu = [t.get("cpu", 0.0) * 1e3 for t in turns]
        print(
            f"store calls under the lock on the writer's thread: wait p50 "
            f"{percentile(waits, 0.5):.2f} ms max {max(waits):.2f}; held p50 "
            f"{percentile(held, 0.5):.2f} p90 {percentile(held, 0.9):.2f} max {max(held):.2f}; "
            f"its thread's CPU p50 {percentile(cpu, 0.5):.2f} p90 {percentile(cpu, 0.9):.2f} "
            f"max {max(cpu):.2f}; held {sum(held) / 1e3 / span:.1%} of the run"
        )
    if compactions:
        print(f"compaction steps: {len(compactions)}")
    http = [(r["t1"] - r["t0"]) * 1e3 for r in rows["request"] if r["t0"] >= start]
    if http:
        print(
            f"RSGI layer, arrival to answer: {len(http)} requests, p50 "
            f"{percentile(http, 0.5):.2f} ms, p99 {percentile(http, 0.99):.2f}, p99.9 "
            f"{percentile(http, 0.999):.2f}"
        )


if __name__ == "__main__":
    main()

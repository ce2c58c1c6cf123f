"""Timeline of one ``roamlike rate`` run: CPU of every thread over wall time, and step events.

Usage::

    python benchmarks/timeline_rate.py USAGE PLANS FX OUT.parquet [--bucket 0.25]

Runs ``roamlike rate`` in this process, as ``benchmarks/bench_rating.py``'s ``rate`` stage
does, while a thread reads ``/proc/self/task/*/stat`` every 20 ms. Prints, per bucket of wall
time, the cores in use (all threads' CPU seconds per second) split by thread name, then the
events (each engine step of each batch, reads, splits, hand-overs to the writers) with the
wall time, the thread and the process's CPU seconds so far. A core is idle where the first
column is below the machine's count. Timings belong here, never in tests.
"""

from __future__ import annotations

import argparse
import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

T0 = time.perf_counter()
EVENTS: list[tuple[float, str, str, float]] = []
SAMPLES: list[tuple[float, dict[str, tuple[str, float]]]] = []
_TICK = os.sysconf("SC_CLK_TCK")


def event(name: str) -> None:
    """Note an event of the calling thread."""
    EVENTS.append(
        (time.perf_counter() - T0, threading.current_thread().name, name, time.process_time())
    )


def _sample(stop: threading.Event) -> None:
    while not stop.is_set():
        row: dict[str, tuple[str, float]] = {}
        # Python's threads all show the command's name in /proc: name them as Python does
        named = {str(t.native_id): t.name for t in threading.enumerate()}
        for tid in os.listdir("/proc/self/task"):
            try:
                with open(f"/proc/self/task/{tid}/stat", encoding="ascii") as handle:
                    stat = handle.read()
            except OSError:
                continue
            comm = named.get(tid) or stat[stat.index("(") + 1 : stat.rindex(")")]
            fields = stat[stat.rindex(")") + 2 :].split()
            row[tid] = (comm, (int(fields[11]) + int(fields[12])) / _TICK)
        SAMPLES.append((time.perf_counter() - T0, row))
        time.sleep(0.02)


def _wrap(owner: Any, name: str) -> None:
    real: Callable[..., Any] = getattr(owner, name)

    def timed(*args: Any, **kwargs: Any) -> Any:
        event(f"{name} start")
        try:
            return real(*args, **kwargs)
        finally:
            event(f"{name} end")

    setattr(owner, name, timed)


def _instrument() -> None:
    from roamlike import pipeline
    from roamlike.cli import rate_commands
    from roamlike.io import background
    from roamlike.rating import engine

    engine.STEP_HOOK = lambda step: event(f"step {step}")
    # the split: in roamlike.splits since round 9 (on the reader's thread), in the pipeline
    # before (``_by_subscriber``): a timeline of either revision is comparable
    try:
        from roamlike import splits

        for fname in ("split_in_memory", "_rows_of"):
            if hasattr(splits, fname):
                _wrap(splits, fname)
        if hasattr(splits, "_Gather"):  # a batch by subscriber gathered (round 11 on)
            _wrap(splits._Gather, "rows_of")
    except ImportError:
        pass
    for fname in ("rate_usage", "split_by_subscriber", "_by_subscriber", "_rows_of", "_totals"):
        if hasattr(pipeline, fname):
            _wrap(pipeline, fname)
    _wrap(rate_commands, "load_plans")
    from roamlike.rating.relay import PassRelay

    _wrap(PassRelay, "counters")  # the end of a run in time ranges
    from roamlike.rating.relay import RangeLink

    _wrap(RangeLink, "take")  # waits for the range before
    _wrap(background.BackgroundTableWriter, "commit")
    real_frames = background.BackgroundTableWriter._frames

    def frames(self: background.BackgroundTableWriter, *args: Any) -> Iterator[Any]:
        for frame in real_frames(self, *args):
            event(f"writer takes {self.path.name} ({frame.height} rows)")
            yield frame
            event(f"writer done {self.path.name}")

    background.BackgroundTableWriter._frames = frames  # type: ignore[method-assign]


def _report(bucket: float) -> None:
    last = SAMPLES[-1][0]
    per: list[dict[str, float]] = [{} for _ in range(int(last / bucket) + 1)]
    before: dict[str, float] = {}
    for at, row in SAMPLES:
        for tid, (comm, cpu) in row.items():
            slot = per[int(at / bucket)]
            slot[comm] = slot.get(comm, 0.0) + cpu - before.get(tid, 0.0)
            before[tid] = cpu
    totals: dict[str, float] = {}
    for slot in per:
        for comm, cpu in slot.items():
            totals[comm] = totals.get(comm, 0.0) + cpu
    names = sorted(totals, key=lambda c: -totals[c])[:8]
    print("CPU-s per thread name:", {c: round(v, 2) for c, v in totals.items() if v >= 0.01})
    print("  wall  cores  " + " ".join(f"{c[-12:]:>12s}" for c in names))
    for k, slot in enumerate(per):
        cores = sum(slot.values()) / bucket
        print(
            f"{k * bucket:6.2f}  {cores:5.2f}  "
            + " ".join(f"{slot.get(c, 0.0) / bucket:12.2f}" for c in names)
        )
    print("events (wall s, thread, event, process CPU-s so far):")
    for at, thread, name, cpu in EVENTS:
        print(f"{at:8.3f} {thread[:24]:24s} {name:48s} {cpu:7.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("paths", nargs=4, help="USAGE PLANS FX OUT")
    parser.add_argument("--bucket", type=float, default=0.25, help="seconds per line")
    parser.add_argument("--memory-gb", type=float, default=3.0)
    args = parser.parse_args()
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(stop,), daemon=True)
    sampler.start()
    event("start")
    import roamlike  # noqa: F401  # first, as the command line imports it (allocator options)

    usage, plans, fx, out = args.paths
    argv = ["rate", usage, "--plans", plans, "--fx", fx, "--out", out, "--rejects",
            out.replace(".parquet", ".rejects.parquet"), "--memory-gb", str(args.memory_gb),
            "--quiet"]  # fmt: skip
    from roamlike import input_reader

    _wrap(input_reader, "open_input")
    input_reader.start_early(argv[1:])  # as the command line does before it builds the command
    from roamlike.cli import app

    try:
        # only `rate`'s module, as the command line loads it (roamlike.cli.main)
        with app.only(argv):
            _instrument()
            event("imported")
            app(argv, standalone_mode=False)
    except SystemExit as exc:
        if exc.code not in (0, 1, None):
            raise
    event("end")
    time.sleep(0.05)
    stop.set()
    sampler.join()
    _report(args.bucket)
    sys.stdout.flush()


if __name__ == "__main__":
    main()

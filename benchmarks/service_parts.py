"""Where a commit group's CPU goes, part by part: ``bench_service.py --stages --parts``.

Runs the ``--stages`` driver (``benchmarks/service_stages.py``: the app in one process, no
HTTP) with the parts of the events path timed on the thread that runs them (``time.
thread_time``; the Polars pool's threads are not in these figures, the stages' process CPU
is), and prints, per part, how many calls, the median and the sum:

* the preparer's: ``load`` (the group's counters, with the large groups' check),
  ``check`` (its log marks alone), ``stored_answers`` (record ids already answered),
  ``rate_group`` (either rater) and ``rate_usage`` (the batch engine inside it),
  ``answers``, ``day_rows``, ``counter_rows`` (the rows written later, built outside the lock),
  ``leave`` (the counters a group leaves for the other process and keeps,
  ``roamlike.service.written_states``) and ``response_documents`` (each request's answer);
* the loop's ``cache_committed`` (a committed group's counters kept in the process's cache);
* the writer's: ``check_again`` (the recorded reads run again under the lock), ``apply`` (the
  writes), of which ``insert_answers`` and ``append_rows`` (each log append), and ``commit``
  (the write transaction's end: the WAL write, its fsync, a checkpoint when due; a compaction
  slice's too), and ``compaction_step`` (a slice of the logs folded between groups, its commit
  included);
* ``engine:<step>``: each step of ``rate_usage`` (``roamlike.rating.engine.STEP_HOOK``,
  process CPU: the Polars pool included, and whatever else ran meanwhile);
* ``collector``: the garbage collector's passes after startup, by generation.

The calls of the driver's warm-up (20 requests per client, and groups the reference rater
rates as the clients start) are left out (since round 15: before, their smaller groups pulled
the medians of a part below what a full group costs, e.g. the rating's 14.7 against 23-24 ms
for a group of 1,600 records).

Timings belong here, never in tests.
"""

from __future__ import annotations

import contextlib
import gc
import statistics
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from typing import Any

_Calls = defaultdict[str, list[float]]


def _timed(calls: _Calls, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            calls[name].append(time.thread_time() - start)

    return call


def _patch(calls: _Calls) -> None:
    """Wrap the parts (module docstring) in place, for the rest of the process."""
    import roamlike.service.counters_cache as counters_cache
    import roamlike.service.events as events
    import roamlike.service.group_rating as group_rating
    import roamlike.service.large_groups as large_groups
    import roamlike.service.snapshot as snapshot
    import roamlike.service.writer as writer
    import roamlike.service.written_states as written_states
    import roamlike.state.store as store
    from roamlike.rating import engine

    recorded = snapshot.SnapshotTransaction
    rating = group_rating.GroupRating
    appended = next(a for a in ("append_tenant_rows", "append_rows") if hasattr(large_groups, a))
    parts: list[tuple[Any, str, str]] = [
        (events, "_commit_tenant", "commit_tenant"),
        (events, "_rate_tenant", "rate_tenant"),
        (events, "_load", "load"),
        (events, "_answers_stored", "stored_answers"),
        (events, "rate_group", "rate_group"),
        (events, "_insert_answers", "insert_answers"),
        (group_rating, "rate_usage", "rate_usage"),
        (rating, "answers", "answers"),
        (rating, "day_tuples", "day_rows"),
        (large_groups, "record_check", "check"),
        (large_groups, "counters_writer", "counter_rows"),
        # each log append (``append_rows`` in code before round 15, for --compare runs)
        (large_groups, appended, "append_rows"),
        (recorded, "still_valid", "check_again"),
        (recorded, "apply", "apply"),
        (writer, "compaction_step", "compaction_step"),
        # the counters a group leaves for the other process and keeps, those it keeps once
        # committed, and the response documents
        (written_states, "leave", "leave"),
        (counters_cache.CountersCache, "committed", "cache_committed"),
        (events, "response_document", "response_documents"),
    ]
    for owner, attribute, name in parts:
        setattr(owner, attribute, _timed(calls, name, getattr(owner, attribute)))

    begun = store.Store.transaction

    @contextlib.contextmanager
    def transaction(self: Any, *args: Any, **kwargs: Any) -> Iterator[Any]:
        manager = begun(self, *args, **kwargs)
        tx = manager.__enter__()
        try:
            yield tx
        except BaseException as exc:
            if not manager.__exit__(type(exc), exc, exc.__traceback__):
                raise
        else:
            start = time.thread_time()
            manager.__exit__(None, None, None)
            if threading.current_thread().name.startswith("roamlike-store"):
                calls["commit"].append(time.thread_time() - start)

    store.Store.transaction = transaction  # type: ignore[assignment,method-assign]

    step_start = threading.local()

    def step(name: str) -> None:
        now = time.process_time()
        last = getattr(step_start, "at", None)
        if last is not None:
            calls[f"engine:{name}"].append(now - last)
        step_start.at = now

    def engine_call(*args: Any, **kwargs: Any) -> Any:
        step_start.at = time.process_time()
        try:
            return rate(*args, **kwargs)
        finally:
            step_start.at = None

    rate = group_rating.rate_usage
    group_rating.rate_usage = engine_call  # type: ignore[attr-defined]
    engine.STEP_HOOK = step


def parts(clients: int = 16, requests: int = 3200) -> dict[str, dict[str, float]]:
    """Run ``--stages`` for events of 100 records with the parts timed; print and return them
    (calls, median and sum in ms, per part)."""
    from service_stages import stages

    calls: _Calls = defaultdict(list)
    _patch(calls)
    frozen = [False]
    freeze = gc.freeze

    def freeze_then_count() -> None:
        freeze()
        frozen[0] = True

    gc.freeze = freeze_then_count
    started = [0.0]

    def collector(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            started[0] = time.thread_time()
        elif frozen[0]:
            calls[f"collector:gen{info['generation']}"].append(time.thread_time() - started[0])

    gc.callbacks.append(collector)
    try:
        # the warm-up's calls forgotten: its groups are smaller (the clients start one by
        # one), and their medians were taken for those of full groups before round 15
        stages(
            requests=requests, clients=clients, scenarios=("events_100",), on_measure=calls.clear
        )
    finally:
        gc.callbacks.remove(collector)
        gc.freeze = freeze
    out: dict[str, dict[str, float]] = {}
    for name, spent in sorted(calls.items()):
        out[name] = {
            "calls": len(spent),
            "median_ms": statistics.median(spent) * 1e3,
            "sum_ms": sum(spent) * 1e3,
        }
        print(
            f"{name:>34}: {len(spent):5d} calls, median {out[name]['median_ms']:8.3f} ms, "
            f"sum {out[name]['sum_ms']:9.1f} ms",
            flush=True,
        )
    return out


if __name__ == "__main__":
    parts()

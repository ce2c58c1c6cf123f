"""Where the CPU of one request goes: the service's ASGI app driven in one process, no HTTP.

``python benchmarks/bench_service.py --stages`` (or this file) builds the app on a SQLite store
(WAL, ``synchronous=FULL``), runs its lifespan, and drives it with ``--clients`` concurrent
clients that each send their next request once answered (the closed loop of a load
generator's connections), for events of one record and for session updates (and, asked for,
events of 100 records: a tenth as many requests). For each it
prints the CPU per request, split by thread:

* ``loop``: the event loop's thread: the ASGI app (the layer before Starlette's router,
  ``roamlike.service.hot_routes``, the key check, body, response), the writer's task and
  the hand-offs to its threads;
* ``prepare``: the preparer's thread: a commit group worked out on a snapshot (stored answers,
  counters, the rating, the answers and the rows to write);
* ``commit``: the writer's thread: the group's reads checked again and its writes applied and
  committed, under the writers' lock;

and, for a small group on the loop's path (``roamlike.service.loop_commit``: the default for
a SQLite file), ``prepare`` and ``statements`` (the reads checked again and the writes) run on
the event loop's thread — they are then part of ``loop`` too — and ``commit`` is the
committer's thread's ``COMMIT`` alone — since round 9 the ``COMMIT`` runs on the loop too
(part of ``loop``) and ``flush`` is the flusher's thread's flush of the WAL
(``ROAMLIKE_WAL_FLUSH=commit``: round 8's commit). ``ROAMLIKE_GROUP_PATHS=threads`` measures
the threads' path instead;

plus the groups' mean size and the whole process's CPU per request (what the threads above
do not cover: the driver itself, thread start-up). HTTP parsing (granian) and the load
generator are not in these figures; ``bench_service.py``'s scenarios measure them.
Timings belong here, never in tests.
"""

from __future__ import annotations

import asyncio
import json
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

_Message = dict[str, Any]


def _timed(totals: dict[str, float], name: str, fn: Callable[..., Any]) -> Any:
    """``fn`` counting its calls' CPU seconds on the calling thread into ``totals[name]``."""

    def call(*args: Any, **kwargs: Any) -> Any:
        start = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.thread_time() - start

    return call


def stages(
    requests: int = 4000,
    clients: int = 16,
    scenarios: tuple[str, ...] = ("events_1", "session_update"),
    on_measure: Callable[[], object] | None = None,
) -> list[dict[str, Any]]:
    """Measure both scenarios (module docstring); return and print one row each.

    ``on_measure``: called when each scenario's warm-up is over and its measured requests
    begin (``--parts`` forgets the warm-up's calls then)."""
    import roamlike.service.writer as writer_module
    from roamlike.service.app import create_app
    from roamlike.service.config import ServiceConfig
    from roamlike.service.tenants import add_tenant, put_plans
    from roamlike.state import migrate, open_store
    from roamlike.synth.generator import generate

    totals: dict[str, float] = {}
    writer_module.prepare_group = _timed(totals, "prepare", writer_module.prepare_group)  # type: ignore[attr-defined]
    writer_module.commit_prepared = _timed(totals, "commit", writer_module.commit_prepared)  # type: ignore[attr-defined]
    from roamlike.service import loop_commit
    from roamlike.service.loop_commit import LoopCommitter

    statements_of = writer_module.group_statements  # type: ignore[attr-defined]
    writer_module.group_statements = lambda *a: _timed(totals, "statements", statements_of(*a))  # type: ignore[attr-defined]
    LoopCommitter._commit_and_release = _timed(totals, "commit", LoopCommitter._commit_and_release)  # type: ignore[method-assign]
    loop_commit.flush_wal = _timed(totals, "flush", loop_commit.flush_wal)  # type: ignore[attr-defined]
    synth = generate(10, seed=7)
    plan = next(p for p in synth.plans if p["home_country"] == "DE")
    rows = []
    for scenario in scenarios:
        with tempfile.TemporaryDirectory(prefix="roamlike-stages-") as tmp:
            state = str(Path(tmp) / "state.db")
            with open_store(state) as store:
                migrate(store)
                tenant, key = add_tenant(store, "stages")
                put_plans(store, tenant.tenant_id, json.dumps({"plans": synth.plans}, default=str),
                          "json", "2017-01-01T00:00:00.000000+00:00")  # fmt: skip
            app = create_app(ServiceConfig(state=state))
            count = requests // 10 if scenario == "events_100" else requests  # 100 records each
            row = asyncio.run(_drive(app, scenario, plan, key, count, clients, totals, on_measure))
            rows.append(row)
            print(
                f"{scenario:>14}: {row['cpu_ms_per_request']:.3f} ms CPU per request "
                f"(loop {row['loop_ms']:.3f}, prepare {row['prepare_ms']:.3f}, "
                f"statements {row['statements_ms']:.3f}, commit {row['commit_ms']:.3f}, "
                f"flush {row['flush_ms']:.3f}); "
                f"{row['records_per_group']:.1f} per group; "
                f"{row['requests_per_s']:,.0f}/s wall with {clients} clients; "
                f"load {row['load_average'][0]:.1f}-{row['load_average'][1]:.1f}",
                flush=True,
            )
    return rows


async def _drive(
    app: Any,
    scenario: str,
    plan: dict[str, Any],
    key: str,
    requests: int,
    clients: int,
    totals: dict[str, float],
    on_measure: Callable[[], object] | None = None,
) -> dict[str, Any]:
    auth = f"Bearer {key}".encode()
    counter = iter(range(10**9))

    async def call(path: str, body: bytes) -> int:
        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
            "method": "POST", "scheme": "http", "path": path, "raw_path": path.encode(),
            "query_string": b"", "root_path": "", "client": ("127.0.0.1", 1),
            "server": ("127.0.0.1", 80),
            "headers": [(b"content-type", b"application/json"), (b"authorization", auth),
                        (b"content-length", str(len(body)).encode())],
        }  # fmt: skip
        sent = False
        status = 0

        async def receive() -> _Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            await asyncio.Event().wait()  # the client never disconnects
            return {"type": "http.disconnect"}

        async def send(message: _Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])

        await app(scope, receive, send)
        return status

    def record(n: int) -> dict[str, Any]:
        return {
            "record_id": f"r{n}", "subscriber_id": f"b{n % 5000}", "plan_id": plan["id"],
            "event_type": "data", "utc_offset_min": 60, "home_country": "DE",
            "started_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(1767225600 + n)),
            "visited_country": "FR", "volume_bytes": 1_000_000,
        }  # fmt: skip

    def next_request() -> tuple[str, bytes]:
        if scenario in ("events_1", "events_100"):
            per = 100 if scenario == "events_100" else 1
            records = [record(next(counter)) for _ in range(per)]
            return "/v1/events", json.dumps({"records": records}).encode()
        n = next(counter)
        body = {"request_number": n // 1000 + 1, "used_units": 1000, "requested_units": 10**6}
        return f"/v1/sessions/bench{n % 1000}/update", json.dumps(body).encode()

    async def client(count: int) -> None:
        for _ in range(count):
            status = await call(*next_request())
            assert status == 200, status

    startup: asyncio.Queue[_Message] = asyncio.Queue()
    await startup.put({"type": "lifespan.startup"})
    started = asyncio.Event()

    async def lifespan_send(message: _Message) -> None:
        if message["type"] == "lifespan.startup.complete":
            started.set()

    lifespan = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}},
                                       startup.get, lifespan_send))  # fmt: skip
    await started.wait()
    if scenario == "session_update":
        for i in range(1000):
            opened = {
                "session_id": f"bench{i}", "subscriber_id": f"cc{i}", "plan_id": plan["id"],
                "event_type": "data", "visited_country": "FR", "validity_s": 3600,
                "started_at": "2026-02-01T10:00:00Z", "requested_units": 10**6,
            }  # fmt: skip
            assert await call("/v1/sessions", json.dumps(opened).encode()) == 200
        counter = iter(range(1000, 10**9))  # request numbers from 2 on: 0 is the opening
    await asyncio.gather(*(client(20) for _ in range(clients)))  # warm
    totals.clear()
    if on_measure is not None:
        on_measure()
    metrics = app.state.metrics.counters
    commits_before = metrics["commits"]
    load_before = os.getloadavg()[0]
    start_cpu, start_wall, start_loop = time.process_time(), time.perf_counter(), time.thread_time()
    await asyncio.gather(*(client(requests // clients) for _ in range(clients)))
    loop_cpu = time.thread_time() - start_loop
    cpu, wall = time.process_time() - start_cpu, time.perf_counter() - start_wall
    done = clients * (requests // clients)
    await startup.put({"type": "lifespan.shutdown"})
    await lifespan
    return {
        "scenario": scenario,
        "requests": done,
        "cpu_ms_per_request": cpu * 1e3 / done,
        "loop_ms": loop_cpu * 1e3 / done,
        "prepare_ms": totals.get("prepare", 0.0) * 1e3 / done,
        "statements_ms": totals.get("statements", 0.0) * 1e3 / done,
        "commit_ms": totals.get("commit", 0.0) * 1e3 / done,
        "flush_ms": totals.get("flush", 0.0) * 1e3 / done,
        "records_per_group": (done * (100 if scenario == "events_100" else 1))
        / max(1, metrics["commits"] - commits_before),
        "requests_per_s": done / wall,
        "load_average": (load_before, os.getloadavg()[0]),
    }


if __name__ == "__main__":
    stages()

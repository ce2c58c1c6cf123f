"""The commit groups' timeline for measurements (``roamlike.service.group_trace``): off by
default; on, each group of the loop's path is written with its steps in the order they ran,
and so are the checkpoints, the store calls under the writers' lock and the compactions."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from roamlike.service import ServiceConfig, create_app, group_trace
from roamlike.service.checkpoints import Checkpointer
from roamlike.service.writers_lock import open_writers_lock
from roamlike.sqlite_driver import sqlite3
from roamlike.state import migrate, open_store
from roamlike.synth.generator import generate
from service.conftest import make_tenant

SYNTH = generate(10, seed=7)
PLAN = next(p for p in SYNTH.plans if p["home_country"] == "DE")
#: A group's steps on the loop's path, in the order they happen.
STEPS = ("g", "p", "w", "l", "s", "c", "f0", "f1", "f", "a")


def _rows(folder: Path) -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(folder.glob("trace-*.jsonl"))
        for line in path.read_text(encoding="utf-8").splitlines()
    ]


def _record(i: int) -> dict[str, Any]:
    return {
        "record_id": f"r{i}",
        "subscriber_id": f"s{i % 7}",
        "plan_id": PLAN["id"],
        "event_type": "data",
        "started_at": f"2026-01-05T10:00:{i:02d}Z",
        "utc_offset_min": 60,
        "home_country": "DE",
        "visited_country": "FR",
        "volume_bytes": 1_000_000,
    }


def test_off_by_default_and_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(group_trace.TRACE_ENV, raising=False)
    assert group_trace.from_env() is None
    monkeypatch.setenv(group_trace.TRACE_ENV, str(tmp_path / "trace"))
    trace = group_trace.from_env()
    assert trace is not None
    trace.add({"kind": "probe", "t0": 1.0})
    trace.flush()
    assert _rows(tmp_path / "trace") == [{"pid": os.getpid(), "kind": "probe", "t0": 1.0}]


def test_each_group_is_traced_with_its_steps_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "trace"
    monkeypatch.setattr(group_trace, "TRACE", group_trace.GroupTrace(folder))
    monkeypatch.setattr(group_trace, "WRITE_EVERY", 2)  # batches written while serving too
    state = str(tmp_path / "s.db")
    client = TestClient(create_app(ServiceConfig(state=state, compact_log_rows=30)))
    headers = {"authorization": f"Bearer {make_tenant(state, 'acme')}"}
    with client:
        put = client.put(
            "/v1/plans?from=2017-01-01T00:00:00Z",
            content=json.dumps({"plans": SYNTH.plans}, default=str),
            headers={**headers, "content-type": "application/json"},
        )
        assert put.status_code == 201, put.text
        for i in range(0, 40, 4):
            answer = client.post(
                "/v1/events",
                json={"records": [_record(n) for n in range(i, i + 4)]},
                headers=headers,
            )
            assert answer.status_code == 200, answer.text
    rows = _rows(folder)
    groups = [r for r in rows if r["kind"] == "group"]
    assert len(groups) == 10  # one request at a time: a group each
    for group in groups:
        assert (group["n"], group["records"], group["path"], group["later"]) == (
            1,
            4,
            "snapshot",
            0,
        )
        times = [group["q"][0], *(group[k] for k in STEPS)]
        assert times == sorted(times)
    # the logs passed 30 rows: compaction steps under the lock, on the writer's thread
    turns = [r for r in rows if r["kind"] == "turn"]
    assert any(t["fn"] == "compaction_step" for t in turns)
    assert all(t["t0"] <= t["l"] <= t["t1"] for t in turns)
    assert all(t["cpu"] >= 0 for t in turns)
    compactions = [r for r in rows if r["kind"] == "compaction"]
    assert any(c["sliced"] for c in compactions)


def test_checkpoints_are_traced_with_the_restarts_wait_and_hold(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "trace"
    monkeypatch.setattr(group_trace, "TRACE", group_trace.GroupTrace(folder))
    target = str(tmp_path / "s.db")
    with open_store(target) as store:
        migrate(store)
        store.connection.execute("CREATE TABLE probe (n INTEGER)")
    conn = sqlite3.connect(target, isolation_level=None)
    turns = open_writers_lock(target)
    try:
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("INSERT INTO probe VALUES (1)")
        checkpointer = Checkpointer(target, restart_frames=1)
        checkpointer.checkpoint(conn, turns)
        conn.execute("INSERT INTO probe VALUES (2)")
        Checkpointer(target).checkpoint(conn, turns)  # below its restart bound: PASSIVE only
    finally:
        os.close(turns)
        conn.close()
    group_trace.TRACE.flush()  # type: ignore[union-attr]
    rows = [r for r in _rows(folder) if r["kind"] == "checkpoint"]
    assert len(rows) == 2
    first = rows[0]
    assert first["frames"] >= 1
    assert first["busy"] == 0
    assert first["t0"] <= first["t1"] <= first["l"] <= first["r"]  # the RESTART under the lock
    assert "l" not in rows[1]
    assert rows[1]["t0"] <= rows[1]["t1"]

"""``roamlike.state.start``: a ``rate --state`` run's transaction begun on a thread while the
plans are parsed (``EarlyRun``), with the input's keys read ahead; whatever the command does
not get to (bad plans, an error) is rolled back and the store left as it was."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from builders import DE_PLAN, RS_PLAN, rec
from roamlike.cli import app
from roamlike.errors import StoreError
from roamlike.state import migrate, open_store
from roamlike.state import preload as preload_module
from roamlike.state.preload import read_keys, read_keys_ahead
from roamlike.state.start import EarlyRun

runner = CliRunner()


def _usage(path: Path, n: int = 60) -> Path:
    rows = [
        rec(
            f"r{i:03d}",
            subscriber_id=f"s{i % 7}",
            started_at=f"2026-03-10T{i % 24:02d}:00:00Z",
            visited_country="FR" if i % 3 else "DE",
        )
        for i in range(n)
    ]
    pl.DataFrame(rows).write_parquet(path)
    return path


def _early(store: Path, usage: Path) -> EarlyRun:
    return EarlyRun(
        str(store), usage, None, apply_control_findings=False, batch_rows=10**6, memory_bytes=10**9
    )


def _counts(store: Path) -> tuple[int, int]:
    with open_store(store) as s, s.transaction() as tx:
        [(records,)] = tx.execute("SELECT count(*) FROM state_records")
        [(runs,)] = tx.execute("SELECT count(*) FROM state_runs")
    return int(records), int(runs)


def test_an_early_run_not_handed_over_is_rolled_back_and_its_lock_released(
    tmp_path: Path,
) -> None:
    store = tmp_path / "s.db"
    with open_store(store) as s:
        migrate(s)
    usage = _usage(tmp_path / "day.parquet")
    early = _early(store, usage)
    early.close()  # its preload claims the record ids in the run's transaction: undone
    early.close()  # idempotent
    assert _counts(store) == (0, 0)  # the claim ahead was undone
    with open_store(store) as s, s.transaction() as tx:  # the write lock is free again
        tx.execute("SELECT 1")


def test_an_early_run_reports_its_error_when_handed_over(tmp_path: Path) -> None:
    early = _early(tmp_path / "none.db", _usage(tmp_path / "day.parquet"))
    with pytest.raises(StoreError, match="roamlike state init"):
        early.result()
    early.close()


def test_bad_plans_after_the_early_start_leave_the_store_as_it_was(tmp_path: Path) -> None:
    """The store's transaction begins (and claims the input's record ids) before the plans
    are read: plans that do not parse end the run with exit 3, and nothing is stored."""
    store = tmp_path / "s.db"
    with open_store(store) as s:
        migrate(s)
    usage = _usage(tmp_path / "day.parquet")
    plans = tmp_path / "plans.yaml"
    plans.write_text("plans: [{id: broken")
    args = ["rate", str(usage), "--plans", str(plans), "--out", str(tmp_path / "o.parquet")]
    result = runner.invoke(app, [*args, "--state", str(store), "--quiet"])
    assert result.exit_code == 3, result.output
    assert _counts(store) == (0, 0)
    plans.write_text(yaml.safe_dump({"plans": [DE_PLAN, RS_PLAN]}))
    result = runner.invoke(app, [*args, "--state", str(store), "--quiet"])
    assert result.exit_code in (0, 1), result.output
    assert _counts(store) == (60, 1)


def test_the_keys_read_ahead_are_those_the_preload_reads_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = _usage(tmp_path / "day.parquet")
    ahead = read_keys_ahead(usage, None, batch_rows=10**6, memory_bytes=10**9)
    assert ahead is not None
    keys, own = ahead.result(), read_keys(usage, None, 10**6, 10**9)
    assert keys is not None
    assert own is not None
    assert keys.subscribers.equals(own.subscribers)
    assert keys.record_ids.equals(own.record_ids)
    assert keys.since == own.since
    assert read_keys_ahead(usage.with_suffix(".csv"), None, batch_rows=1, memory_bytes=1) is None
    assert read_keys(usage, None, 10, 10**9) is None  # several calls: nothing read ahead

    # the command reads the keys once, on the keys' own thread, not on the preload's
    threads: list[str] = []
    real = preload_module.read_keys

    def spy(*args: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(preload_module, "read_keys", spy)
    store = tmp_path / "s.db"
    with open_store(store) as s:
        migrate(s)
    plans = tmp_path / "plans.yaml"
    plans.write_text(yaml.safe_dump({"plans": [DE_PLAN, RS_PLAN]}))
    args = ["rate", str(usage), "--plans", str(plans), "--out", str(tmp_path / "o.parquet")]
    result = runner.invoke(app, [*args, "--state", str(store), "--quiet"])
    assert result.exit_code in (0, 1), result.output
    assert [t.split("_")[0] for t in threads] == ["roamlike-preload-keys"]
    assert _counts(store) == (60, 1)

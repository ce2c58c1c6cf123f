"""``roamlike.state.begin``: the head of ``rate --state`` (write lock, ledger, counters' preload)
begun on a thread from the command line's words gives exactly the run that begins it itself;
a head begun for another run is discarded (its write lock released) before the run begins its
own, and a head that failed is left to the run, which reports it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from builders import DE_PLAN, rec
from roamlike import input_reader
from roamlike.cli import app
from roamlike.sqlite_driver import sqlite3
from roamlike.state import batch as batch_module
from roamlike.state import begin as begin_module
from roamlike.state import migrate, open_store
from roamlike.state.packs import readable

runner = CliRunner()


def _files(tmp_path: Path) -> tuple[Path, Path, Path]:
    plans = tmp_path / "plans.yaml"
    plans.write_text(yaml.safe_dump({"plans": [DE_PLAN]}), encoding="utf-8")
    days = []
    for day in (1, 2):
        usage = tmp_path / f"day{day}.parquet"
        pl.DataFrame(
            [
                rec(
                    f"r{day}-{i}",
                    subscriber_id=f"s{i % 4}",
                    started_at=f"2026-03-0{day}T{i:02d}:00:00Z",
                    visited_country="FR" if i % 3 else "DE",
                    volume_bytes=400_000_000 + i,
                )
                for i in range(12)
            ]
        ).write_parquet(usage)
        days.append(usage)
    return plans, days[0], days[1]


def _store(path: Path) -> Path:
    with open_store(path) as store:
        migrate(store)
    return path


def _dump(path: Path) -> list[Any]:
    with open_store(path, create=False) as store, store.transaction() as tx:
        readable(tx)
        return [
            tx.execute(f"SELECT * FROM {t} ORDER BY 1, 2, 3")
            for t in ("state_periods_now", "state_subscribers_now", "state_days_now")
        ] + [tx.execute("SELECT count(*) FROM state_records")]


def _rate(args: list[str], early: bool) -> Any:
    """``roamlike rate ARGS``, with the input's read and the store's head begun first as the
    command line begins them (``roamlike.cli.main``) when ``early``."""
    if early:
        input_reader.start_early(args)
        begin_module.begin_early(args)
    result = runner.invoke(app, ["rate", *args])
    assert input_reader._early is None  # taken by the run, or dropped
    assert begin_module._begun is None
    return result


class _Heads:
    """Counts the heads the run begins itself (``batch.begin_run``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.own = 0
        real = batch_module.begin_run

        def own(*args: Any, **kwargs: Any) -> Any:
            self.own += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(batch_module, "begin_run", own)


def test_a_head_begun_early_gives_the_run_that_begins_it_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans, day1, day2 = _files(tmp_path)
    heads = _Heads(monkeypatch)
    outcomes = []
    for name, early in (("own", False), ("early", True)):
        store = _store(tmp_path / f"{name}.db")
        rated = []
        for day in (day1, day2):
            out = tmp_path / f"{name}-{day.stem}.parquet"
            args = [str(day), "--plans", str(plans), "--out", str(out), "--state", str(store)]
            result = _rate([*args, "--quiet"], early)
            assert result.exit_code == 0, result.output
            rated.append(pl.read_parquet(out))
        outcomes.append((pl.concat(rated), _dump(store)))
        assert heads.own == 2  # the early runs took the heads begun for them
    assert outcomes[1][0].equals(outcomes[0][0])
    assert outcomes[1][1] == outcomes[0][1]
    assert outcomes[0][1][0], "the second day carried the first day's counters"


def test_a_head_begun_for_another_input_is_discarded_before_the_run_begins_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans, day1, day2 = _files(tmp_path)
    store = _store(tmp_path / "s.db")
    heads = _Heads(monkeypatch)
    # begun for day 1 (its record ids claimed, the store's write lock held) …
    other = [str(day1), "--plans", str(plans), "--out", str(tmp_path / "x.parquet")]
    input_reader.start_early([*other, "--state", str(store)])
    begin_module.begin_early([*other, "--state", str(store)])
    # … the run rates day 2: it must not wait for that lock, nor keep that claim
    out = tmp_path / "day2.parquet.out.parquet"
    args = [str(day2), "--plans", str(plans), "--out", str(out), "--state", str(store), "--quiet"]
    result = runner.invoke(app, ["rate", *args])
    assert result.exit_code == 0, result.output
    assert heads.own == 1
    assert begin_module._begun is None
    input_reader._early = None  # the read of day 1 was never taken
    with sqlite3.connect(store) as conn:
        ids = [r for (r,) in conn.execute("SELECT record_id FROM state_records ORDER BY 1")]
    assert ids == sorted(f"r2-{i}" for i in range(12))


def test_an_input_rated_already_is_refused_after_a_head_begun_early(tmp_path: Path) -> None:
    plans, day1, _ = _files(tmp_path)
    store = _store(tmp_path / "s.db")
    args = [str(day1), "--plans", str(plans), "--out", str(tmp_path / "r.parquet")]
    assert _rate([*args, "--state", str(store), "--quiet"], early=True).exit_code == 0
    before = _dump(store)
    again = _rate([*args, "--state", str(store), "--quiet"], early=True)
    assert again.exit_code == 3
    assert "already rated into this store" in again.output
    assert _dump(store) == before


def test_a_head_that_could_not_begin_is_left_to_the_run_which_reports_it(
    tmp_path: Path,
) -> None:
    plans, day1, _ = _files(tmp_path)
    store = tmp_path / "old.db"
    sqlite3.connect(store).close()  # a file, not a store: its schema must be created first
    args = [str(day1), "--plans", str(plans), "--out", str(tmp_path / "r.parquet")]
    result = _rate([*args, "--state", str(store), "--quiet"], early=True)
    assert result.exit_code == 3
    assert "roamlike state init" in result.output
    assert not (tmp_path / "r.parquet").exists()


def test_no_head_is_begun_for_postgresql_a_missing_store_or_no_store(tmp_path: Path) -> None:
    plans, day1, _ = _files(tmp_path)
    args = [str(day1), "--plans", str(plans), "--out", str(tmp_path / "r.parquet")]
    for state in ([], ["--state", "postgresql://u@127.0.0.1:1/db"], ["--state", "none.db"]):
        input_reader.start_early([*args, *state])
        begin_module.begin_early([*args, *state])
        assert begin_module._begun is None
        input_reader._early = None

"""``roamlike.state.preload``: the counters of a one-batch Parquet input loaded on a thread of
their own, through a read-only connection, give exactly the run that loads them itself; an input
the preload cannot serve (several batches, a failure, another batch) is loaded as before."""

from __future__ import annotations

import datetime as dt
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml

from builders import DE_PLAN, RS_PLAN, make_plan, rec
from roamlike import pipeline as pipeline_module
from roamlike.counters import Counters
from roamlike.errors import StoreError
from roamlike.input_reader import DEFAULT_BATCH_ROWS, DEFAULT_MEMORY_BYTES, InputReader
from roamlike.state import begin as begin_module
from roamlike.state import hooks as hooks_module
from roamlike.state import migrate, open_store
from roamlike.state import preload as preload_module
from roamlike.state.batch import rate_with_state
from roamlike.state.packs import readable
from roamlike.state.preload import Keyed, Loaded, Preload, start_preload
from roamlike.tariffs import FxTable

PLANS = {"de": make_plan()}


def _day(day: int, n: int = 120, seed: int = 0) -> pl.DataFrame:
    """A day's records of 10 subscribers (ids unique per day), with data enough to exhaust
    allowances over a few days."""
    rnd = random.Random(seed + day)
    rows = [
        rec(
            f"r{day:02d}-{i:04d}",
            subscriber_id=f"s{rnd.randrange(10)}",
            started_at=f"2026-03-{day:02d}T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:00Z",
            visited_country=rnd.choice(["DE", "DE", "AT", "FR"]),
            volume_bytes=rnd.randrange(1, 900_000_000),
        )
        for i in range(n)
    ]
    return pl.DataFrame(rows)


class _Spy:
    """Counts the run's own loads of counters (``hooks.load_counters``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.loads = 0
        real = hooks_module.load_counters

        def load(*args: Any, **kwargs: Any) -> Counters:
            self.loads += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(hooks_module, "load_counters", load)


def _rate_days(folder: Path, store_path: Path, days: list[int], **kwargs: Any) -> dict[str, Any]:
    """Rate each day's Parquet file in turn; the rated rows of all and the store's counters."""
    folder.mkdir()
    with open_store(store_path) as store:
        migrate(store)
        rated = []
        for day in days:
            usage = folder / f"day{day}.parquet"
            _day(day).write_parquet(usage)
            out = folder / f"rated{day}.parquet"
            rate_with_state(usage, PLANS, FxTable(), out, None, None, store, **kwargs)
            rated.append(pl.read_parquet(out))
        with store.transaction() as tx:
            readable(tx)  # the views then hold the packs' rows too
            periods = tx.execute("SELECT * FROM state_periods_now ORDER BY 1, 2, 3, 4")
            subs = tx.execute("SELECT * FROM state_subscribers_now ORDER BY 1, 2")
            days_rows = tx.execute("SELECT * FROM state_days_now ORDER BY 1, 2, 3")
    return {"rated": pl.concat(rated), "tables": (periods, subs, days_rows)}


def test_preloaded_counters_give_the_run_that_loads_them_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the reference: every batch loads its counters itself
    with monkeypatch.context() as m:
        m.setattr(begin_module, "start_preload", lambda *a, **k: None)
        expected = _rate_days(tmp_path / "own", tmp_path / "own.db", [1, 2, 3])
    spy = _Spy(monkeypatch)
    got = _rate_days(tmp_path / "pre", tmp_path / "pre.db", [1, 2, 3])
    assert spy.loads == 0  # every run's counters came from the preload
    assert got["tables"] == expected["tables"]
    assert got["rated"].equals(expected["rated"])
    assert expected["tables"][0], "the days carried counters from one file to the next"


def test_counters_preloaded_by_several_readers_are_those_one_reader_loads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _rate_days(tmp_path / "one", tmp_path / "one.db", [1, 2, 3])
    parts: list[int] = []
    real = preload_module._parts

    def split(subscribers: pl.Series) -> list[pl.Series]:
        out = real(subscribers)
        parts.append(len(out))
        return out

    monkeypatch.setattr(preload_module, "PRELOAD_READERS", 3)
    monkeypatch.setattr(preload_module, "PRELOAD_MIN_PER_READER", 2)
    monkeypatch.setattr(preload_module, "_parts", split)
    spy = _Spy(monkeypatch)
    got = _rate_days(tmp_path / "three", tmp_path / "three.db", [1, 2, 3])
    assert parts == [3, 3, 3]  # every run's subscribers were read in three slices
    assert spy.loads == 0
    assert got["tables"] == expected["tables"]
    assert got["rated"].equals(expected["rated"])


def test_preload_slices_cover_the_subscribers_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    ids = pl.Series([f"s{i:02d}" for i in range(10)])
    assert [p.to_list() for p in preload_module._parts(ids)] == [ids.to_list()]  # too few
    monkeypatch.setattr(preload_module, "PRELOAD_MIN_PER_READER", 3)
    assert [p.len() for p in preload_module._parts(ids)] == [5, 5]
    monkeypatch.setattr(preload_module, "PRELOAD_READERS", 4)
    sliced = preload_module._parts(ids)
    assert [p.len() for p in sliced] == [4, 4, 2]
    assert pl.concat(sliced).equals(ids)


def _rate_with_repeats(folder: Path, store_path: Path) -> dict[str, Any]:
    """Day 1, then day 2 with ten of day 1's record ids again (rejected as duplicates of an
    earlier run): the rated rows, rejects and the store's record ids."""
    folder.mkdir()
    first = _day(1)
    second = pl.concat([_day(2), first.head(10).with_columns(subscriber_id=pl.lit("s0"))])
    with open_store(store_path) as store:
        migrate(store)
        out: dict[str, Any] = {"rated": [], "rejects": []}
        for n, frame in enumerate([first, second]):
            usage = folder / f"in{n}.parquet"
            frame.write_parquet(usage)
            rated, rejects = folder / f"rated{n}.parquet", folder / f"rejects{n}.parquet"
            rate_with_state(usage, PLANS, FxTable(), rated, rejects, None, store)
            out["rated"].append(pl.read_parquet(rated))
            out["rejects"].append(pl.read_parquet(rejects))
        with store.transaction() as tx:
            readable(tx)  # the views then hold the packs' rows too
            out["records"] = tx.execute("SELECT * FROM state_records ORDER BY 1, 2")
            out["periods"] = tx.execute("SELECT * FROM state_periods_now ORDER BY 1, 2, 3, 4")
    return out


class _Claims:
    """Counts the run's own claims of record ids (``hooks.claim_record_ids``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.claims = 0
        real = hooks_module.claim_record_ids

        def claim(*args: Any, **kwargs: Any) -> pl.Series:
            self.claims += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(hooks_module, "claim_record_ids", claim)


def _same(got: dict[str, Any], expected: dict[str, Any]) -> None:
    for key in ("rated", "rejects"):
        for a, b in zip(got[key], expected[key], strict=True):
            assert a.equals(b)
    assert got["records"] == expected["records"]
    assert got["periods"] == expected["periods"]


def test_record_ids_claimed_beside_the_input_s_read_give_the_batch_s_own_claim(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(begin_module, "start_preload", lambda *a, **k: None)
        expected = _rate_with_repeats(tmp_path / "own", tmp_path / "own.db")
    claims = _Claims(monkeypatch)
    got = _rate_with_repeats(tmp_path / "ahead", tmp_path / "ahead.db")
    assert claims.claims == 0  # both runs' ids were claimed by the preload
    _same(got, expected)
    reasons = got["rejects"][1].get_column("reason_code").cast(pl.String)
    assert (reasons == "DUPLICATE_RECORD_ID").sum() == 10


def test_a_claim_ahead_that_does_not_serve_the_batch_is_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _rate_with_repeats(tmp_path / "own", tmp_path / "own.db")
    claims = _Claims(monkeypatch)
    monkeypatch.setattr(preload_module, "claim_serves", lambda claimed, ids: False)
    got = _rate_with_repeats(tmp_path / "other", tmp_path / "other.db")
    assert claims.claims == 2  # undone, then claimed by each batch itself
    _same(got, expected)


def test_a_claim_ahead_that_fails_is_undone_and_the_batch_claims_its_ids(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _rate_with_repeats(tmp_path / "own", tmp_path / "own.db")
    real = preload_module.claim_record_ids

    def fail_after_insert(*args: Any, **kwargs: Any) -> pl.Series:
        real(*args, **kwargs)  # the ids are in; then the claim fails
        raise StoreError("disk gone")

    monkeypatch.setattr(preload_module, "claim_record_ids", fail_after_insert)
    claims = _Claims(monkeypatch)
    got = _rate_with_repeats(tmp_path / "failed", tmp_path / "failed.db")
    assert claims.claims == 2
    _same(got, expected)


def test_a_failed_preload_leaves_the_run_to_load_its_counters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _rate_days(tmp_path / "own", tmp_path / "own.db", [1, 2])

    def fail(*args: Any) -> Loaded:
        raise OSError("disk gone")

    monkeypatch.setattr(preload_module, "_load", fail)
    spy = _Spy(monkeypatch)
    got = _rate_days(tmp_path / "failed", tmp_path / "failed.db", [1, 2])
    assert spy.loads == 2
    assert got["tables"] == expected["tables"]
    assert got["rated"].equals(expected["rated"])


def test_an_input_of_several_batches_loads_each_batch_s_counters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    expected = _rate_days(tmp_path / "one", tmp_path / "one.db", [1, 2])
    spy = _Spy(monkeypatch)
    read_keys = []
    real = preload_module.local_dates
    monkeypatch.setattr(
        preload_module, "local_dates", lambda frame: read_keys.append(1) or real(frame)
    )
    got = _rate_days(tmp_path / "many", tmp_path / "many.db", [1, 2], batch_rows=40)
    assert spy.loads >= 4  # at least two batches per file, each loaded when it comes
    assert read_keys == []  # counted from the file's metadata; its ids were never read
    assert got["tables"] == expected["tables"]


@pytest.mark.parametrize("suffix", [".parquet", ".csv"])
def test_keys_taken_from_the_rows_the_run_s_reader_read_give_the_run_that_loads_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    """``roamlike rate`` reads its input on a thread from the start (``InputReader``): the
    preload then takes the batch's keys from those rows, for a text input as well, and never
    reads the file for them."""
    with monkeypatch.context() as m:
        m.setattr(begin_module, "start_preload", lambda *a, **k: None)
        expected = _rate_days(tmp_path / "own", tmp_path / "own.db", [1, 2, 3])
    monkeypatch.setattr(
        preload_module, "_file_keys", lambda *a: pytest.fail("the keys were read from the file")
    )
    spy = _Spy(monkeypatch)
    folder, rated = tmp_path / "read", []
    folder.mkdir()
    with open_store(tmp_path / "read.db") as store:
        migrate(store)
        for day in (1, 2, 3):
            usage = folder / f"day{day}{suffix}"
            frame = _day(day)
            frame.write_parquet(usage) if suffix == ".parquet" else frame.write_csv(usage)
            out = folder / f"rated{day}.parquet"
            reader = InputReader(usage, None, DEFAULT_MEMORY_BYTES, DEFAULT_BATCH_ROWS)
            rate_with_state(usage, PLANS, FxTable(), out, None, None, store, reader=reader)
            rated.append(pl.read_parquet(out))
    assert spy.loads == 0  # every run's counters came from the preload
    assert pl.concat(rated).equals(expected["rated"])


@pytest.mark.parametrize("rows", [None, ["b", "a", None, "b"]])
def test_loaded_counters_serve_only_the_batch_they_were_loaded_for(
    rows: list[str | None] | None,
) -> None:
    keyed = Keyed(pl.Series(["a", "b"]), None if rows is None else pl.Series(rows))
    loaded = Loaded(keyed, dt.date(2026, 2, 13), Counters.empty())
    assert loaded.serves(pl.Series(["b", "a", None, "b"]), dt.date(2026, 2, 13))
    assert loaded.serves(pl.Series(["a", "b"]), dt.date(2026, 2, 13))  # other rows, same ids
    assert not loaded.serves(pl.Series(["a"]), dt.date(2026, 2, 13))
    assert not loaded.serves(pl.Series(["a", "b", "c"]), dt.date(2026, 2, 13))
    assert not loaded.serves(pl.Series(["b", "a", None, "c"]), dt.date(2026, 2, 13))
    assert not loaded.serves(pl.Series(["a", "b"]), dt.date(2026, 2, 12))
    assert not loaded.serves(pl.Series(["a", "b"]), None)


def test_ids_taken_ahead_are_recognised_by_their_rows_or_their_distinct_ids() -> None:
    keyed = Keyed(pl.Series(["a", "b"]), pl.Series(["b", None, "a", "b"]))
    assert keyed.of(pl.Series(["b", None, "a", "b"]))  # the very rows
    assert keyed.of(pl.Series(["a", "b", "a"]))  # other rows of the same ids
    assert not keyed.of(pl.Series(["b", None, "a", "c"]))  # as many rows, another id
    assert not keyed.of(pl.Series(["a", None, "a", None]))  # as many rows, an id missing
    assert not keyed.of(pl.Series([None, None, None, None], dtype=pl.String))


def test_no_preload_for_text_inputs_or_postgresql(store_url: str, tmp_path: Path) -> None:
    usage = tmp_path / "day.csv"
    _day(1).write_csv(usage)
    with open_store(store_url) as store:
        migrate(store)
        with store.transaction():
            assert start_preload(store, usage, None, "", batch_rows=10, memory_bytes=10**9) is None
            parquet = usage.with_suffix(".parquet")
            _day(1).write_parquet(parquet)
            started = start_preload(store, parquet, None, "", batch_rows=10**6, memory_bytes=10**9)
            assert (started is None) == (store.dialect == "postgresql")
            if started is not None:
                started.close()


@pytest.mark.parametrize("moment", [0.55, 0.9])
def test_sigkill_during_a_preloaded_run_then_rerun_equals_an_uninterrupted_run(
    tmp_path: Path, moment: float
) -> None:
    """The preload's window (read-only connections open while the run's transaction holds the
    write lock, the record ids claimed through it from a thread of their own, the days
    aggregated beside the counters' writes): a run killed at a moment around ``moment`` of an
    uninterrupted run's duration (early: the preload and the claim; late: the rows made ready
    and written), rerun, gives the store and outputs of a run never interrupted."""
    plans = tmp_path / "plans.yaml"
    plans.write_text(yaml.safe_dump({"plans": [DE_PLAN, RS_PLAN]}))
    usage = tmp_path / "day.parquet"
    pl.concat([_day(d, n=400) for d in (1, 2, 3)]).write_parquet(usage)

    def run(store: Path, folder: Path) -> subprocess.Popen[bytes]:
        folder.mkdir(exist_ok=True)
        command = [sys.executable, "-m", "roamlike.cli", "rate", str(usage), "--plans", str(plans)]
        command += ["--out", str(folder / "rated.parquet"), "--state", str(store), "--quiet"]
        return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def dump(store: Path) -> list[Any]:
        with open_store(store) as s, s.transaction() as tx:
            readable(tx)  # the views then hold the packs' rows too
            return [
                tx.execute(f"SELECT * FROM {t} ORDER BY 1, 2")
                for t in ("state_periods_now", "state_days_now", "state_records")
            ]

    for name in ("reference.db", "killed.db"):
        with open_store(tmp_path / name) as s:
            migrate(s)
    started = time.monotonic()
    assert run(tmp_path / "reference.db", tmp_path / "ref").wait(120) == 0
    duration = time.monotonic() - started
    proc = run(tmp_path / "killed.db", tmp_path / "killed")
    time.sleep(random.Random(10).uniform(moment - 0.05, moment + 0.05) * duration)
    proc.send_signal(signal.SIGKILL)
    proc.wait(60)
    assert run(tmp_path / "killed.db", tmp_path / "killed").wait(120) in (0, 3)
    assert dump(tmp_path / "killed.db") == dump(tmp_path / "reference.db")
    reference = pl.read_parquet(tmp_path / "ref" / "rated.parquet")
    assert pl.read_parquet(tmp_path / "killed" / "rated.parquet").equals(reference)


def test_an_engine_that_fails_after_taking_the_preload_as_functions_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The engine fails after asking for the record ids (the claim ahead kept) and before the
    counters: the run fails with its error, the preload's threads are stopped, and nothing
    is committed."""
    usage = tmp_path / "day1.parquet"
    _day(1).write_parquet(usage)

    def failing(*args: Any, known_record_ids: Any = None, **kwargs: Any) -> Any:
        assert callable(known_record_ids)
        known_record_ids()
        raise StoreError("engine gone")

    monkeypatch.setattr(pipeline_module, "rate_usage", failing)
    with open_store(tmp_path / "s.db") as store:
        migrate(store)
        with pytest.raises(StoreError, match="engine gone"):
            rate_with_state(usage, PLANS, FxTable(), tmp_path / "r.parquet", None, None, store)
        with store.transaction() as tx:
            assert tx.execute("SELECT count(*) FROM state_records") == [(0,)]
            assert tx.execute("SELECT count(*) FROM state_runs") == [(0,)]
    assert not any(t.name.startswith("roamlike-preload") for t in threading.enumerate())
    assert sorted(p.name for p in tmp_path.iterdir()) == ["day1.parquet", "s.db"]


def test_what_the_engine_does_not_ask_for_is_settled_before_the_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An engine that asks for neither the record ids nor the counters (here: rating as if
    none were stored): the run takes both from the preload before its writes (its claim ahead
    settled, its threads ended); both days' record ids and runs are committed."""
    real = pipeline_module.rate_usage
    taken: list[str] = []

    def not_asking(*args: Any, counters: Any, known_record_ids: Any, **kwargs: Any) -> Any:
        assert callable(counters)
        assert callable(known_record_ids)
        return real(*args, counters=None, known_record_ids=None, **kwargs)

    def spy(name: str) -> None:
        method = getattr(Preload, name)

        def spied(self: Preload, *args: Any) -> Any:
            taken.append(name)
            return method(self, *args)

        monkeypatch.setattr(Preload, name, spied)

    monkeypatch.setattr(pipeline_module, "rate_usage", not_asking)
    spy("take_known")
    spy("take_counters")
    with open_store(tmp_path / "s.db") as store:
        migrate(store)
        for day in (1, 2):
            usage = tmp_path / f"day{day}.parquet"
            _day(day).write_parquet(usage)
            rated = tmp_path / f"rated{day}.parquet"
            rate_with_state(usage, PLANS, FxTable(), rated, None, None, store)
            assert not any(t.name.startswith("roamlike-preload") for t in threading.enumerate())
        with store.transaction() as tx:
            assert tx.execute("SELECT count(*) FROM state_records") == [(240,)]
            assert tx.execute("SELECT count(*) FROM state_runs") == [(2,)]
    assert taken == ["take_known", "take_counters"] * 2


def test_the_batch_takes_the_keys_the_preload_made_only_from_its_very_records() -> None:
    """``Preload.keys_for``: the keys ``hooks.batch_keys_checked`` makes of the records the
    preload took them from (the batch may carry more columns), None for other records."""
    records = _day(3).with_columns(utc_offset_min=pl.lit(120))
    made = preload_module._frame_keys(records, claim=True)
    preload = Preload(None, records)
    preload.publish_keys(made)
    batch = records.with_columns(pl.int_range(pl.len()).alias("__batch_row"))
    taken = preload.keys_for(batch)
    _, own = hooks_module.batch_keys_checked(batch, None, None)
    assert taken is not None
    assert taken.equals(own)
    late = records.with_columns(
        started_at=pl.when(pl.int_range(pl.len()) == 5)
        .then(pl.lit("2026-03-04T23:30:00Z"))
        .otherwise(pl.col("started_at"))
    )
    for other in (
        late,  # one record's time (its local day) differs
        records.with_columns(record_id=pl.col("record_id").reverse()),
        records.with_columns(utc_offset_min=pl.lit(-60)),
        records.head(-1),
        records.drop("utc_offset_min"),
    ):
        assert preload.keys_for(other) is None
    unclaimed = Preload(None, records)  # keys made without the record ids: not the batch's
    unclaimed.publish_keys(preload_module._frame_keys(records, claim=False))
    assert unclaimed.keys_for(batch) is None
    assert Preload(None, None).keys_for(batch) is None  # keys read from a file


def test_a_one_batch_run_makes_its_keys_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run's batch takes the keys the preload made of the rows the run's reader read."""
    made = []
    real = preload_module._frame_keys

    def frame_keys(records: pl.DataFrame, claim: bool) -> pl.DataFrame:
        made.append(claim)
        return real(records, claim)

    monkeypatch.setattr(preload_module, "_frame_keys", frame_keys)
    taken = []
    real_checked = hooks_module.batch_keys_checked

    def checked(*args: Any) -> Any:
        taken.append(args[3] is not None)
        return real_checked(*args)

    monkeypatch.setattr(hooks_module, "batch_keys_checked", checked)
    usage = tmp_path / "day1.parquet"
    _day(1).write_parquet(usage)
    with open_store(tmp_path / "s.db") as store:
        migrate(store)
        reader = InputReader(usage, None, DEFAULT_MEMORY_BYTES, DEFAULT_BATCH_ROWS)
        rate_with_state(
            usage, PLANS, FxTable(), tmp_path / "r.parquet", None, None, store, reader=reader
        )
    assert (made, taken) == ([True], [True])

"""``rate --state``: the ledger, idempotency, atomic outputs and crash safety, on SQLite and on a
real PostgreSQL server."""

from __future__ import annotations

import hashlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import yaml
from typer.testing import CliRunner

from builders import DE_PLAN, RS_PLAN, make_plan, rate_args, rec
from roamlike.cli import app
from roamlike.errors import AlreadyRatedError, StoreError
from roamlike.sqlite_driver import sqlite3
from roamlike.state import hooks as hooks_module
from roamlike.state import migrate, open_store
from roamlike.state.batch import rate_with_state
from roamlike.state.ledger import pending_path
from roamlike.state.packs import readable
from roamlike.tariffs import FxTable, load_plans

runner = CliRunner()


def _usage(n: int = 300, seed: int = 1) -> list[dict[str, Any]]:
    rnd = random.Random(seed)
    rows = []
    for i in range(n):
        sub = f"s{rnd.randrange(12)}"
        day = 1 + rnd.randrange(28)
        visited = rnd.choice(["DE", "DE", "AT", "FR", "IT"])
        rows.append(
            rec(
                f"r{i:05d}",
                subscriber_id=sub,
                started_at=f"2026-03-{day:02d}T{rnd.randrange(24):02d}:{rnd.randrange(60):02d}:00Z",
                visited_country=visited,
                volume_bytes=rnd.randrange(1, 300_000_000),
            )
        )
    rows.append(rec("bad", started_at="yesterday"))  # one reject
    return rows


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    usage = tmp_path / "usage.csv"
    pl.DataFrame(_usage()).write_csv(usage)
    plans = tmp_path / "plans.yaml"
    plans.write_text(yaml.safe_dump({"plans": [DE_PLAN, RS_PLAN]}))
    return {"usage": usage, "plans": plans}


def _cli_rate(files: dict[str, Path], store: str, folder: Path, *extra: str) -> Any:
    return runner.invoke(app, [*rate_args(files, store, folder), *extra])


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _store_dump(url: str) -> dict[str, Any]:
    """Everything the store holds except run ids and times (equal runs give equal dumps)."""
    with open_store(url) as store, store.transaction() as tx:
        readable(tx)  # the views then hold the packs' rows too
        days = tx.execute("SELECT * FROM state_days_now ORDER BY tenant, subscriber_id, day")
        runs = tx.execute(
            "SELECT input_sha256, input_bytes, input_rows, rated, rejected, late, notifications, "
            "outputs_json FROM state_runs ORDER BY input_sha256"
        )
    ledger = [(*r[:-1], sorted(v["sha256"] for v in json.loads(r[-1]).values())) for r in runs]
    return {"days": [tuple(d) for d in days], "runs": ledger}


def test_rate_with_state_writes_the_same_outputs_and_a_ledger(
    files: dict[str, Path], store_url: str, tmp_path: Path
) -> None:
    plain, stateful = tmp_path / "plain", tmp_path / "stateful"
    plain.mkdir()
    stateful.mkdir()
    assert runner.invoke(app, ["state", "init", "--state", store_url]).exit_code == 0
    result = _cli_rate(files, store_url, stateful)
    assert result.exit_code == 1, result.output  # one reject
    base = runner.invoke(
        app,
        [
            "rate",
            str(files["usage"]),
            "--plans",
            str(files["plans"]),
            "--out",
            str(plain / "rated.parquet"),
            "--rejects",
            str(plain / "rejects.csv"),
            "--quiet",
        ],
    )
    assert base.exit_code == 1
    assert pl.read_parquet(stateful / "rated.parquet").equals(
        pl.read_parquet(plain / "rated.parquet")
    )
    assert not [p.name for p in stateful.iterdir() if "pending" in p.name]
    dump = _store_dump(store_url)
    [(sha, size, rows, rated, rejected, _late, _notes, outputs)] = dump["runs"]
    assert (sha, size) == (_sha(files["usage"]), files["usage"].stat().st_size)
    assert (rows, rated, rejected) == (301, 300, 1)
    assert outputs == sorted(
        _sha(stateful / n) for n in ("rated.parquet", "rejects.csv", "notes.csv")
    )
    # presence and consumption: one row per subscriber and local day, home + rlah counted
    rated_frame = pl.read_parquet(stateful / "rated.parquet")
    assert len(dump["days"]) == rated_frame.select("subscriber_id", "local_date").n_unique()
    home = sum(d[4] for d in dump["days"])
    assert home == rated_frame.filter(pl.col("rule_kind") == "domestic").height


def test_the_store_file_alone_holds_the_run_when_another_connection_is_open(
    files: dict[str, Path], tmp_path: Path
) -> None:
    """docs/state.md, "Pages": a run's few pages (16 KiB each) would otherwise wait in the WAL
    for the last connection to close; a copy of the store's file taken after the command (the
    way back the contract suggests) holds the run."""
    db = tmp_path / "state.db"
    assert runner.invoke(app, ["state", "init", "--state", str(db)]).exit_code == 0
    other = sqlite3.connect(db)  # an idle connection: the run's close is not the last one
    try:
        other.execute("SELECT count(*) FROM state_runs").fetchall()
        assert _cli_rate(files, str(db), tmp_path).exit_code == 1
        copy = tmp_path / "copy.db"
        copy.write_bytes(db.read_bytes())  # the file alone, without its WAL
    finally:
        other.close()
    alone = sqlite3.connect(copy)
    try:
        [(runs,)] = alone.execute("SELECT count(*) FROM state_runs").fetchall()
        [(packs,)] = alone.execute("SELECT count(*) FROM state_packs").fetchall()
    finally:
        alone.close()
    assert (runs, packs) == (1, 3)


def test_the_same_input_is_refused_and_never_counted_twice(
    files: dict[str, Path], store_url: str, tmp_path: Path
) -> None:
    assert runner.invoke(app, ["state", "init", "--state", store_url]).exit_code == 0
    assert _cli_rate(files, store_url, tmp_path).exit_code == 1
    before = _store_dump(store_url)
    renamed = tmp_path / "again.csv"  # the same bytes under another name
    renamed.write_bytes(files["usage"].read_bytes())
    again = _cli_rate({**files, "usage": renamed}, store_url, tmp_path)
    assert again.exit_code == 3
    assert "already rated" in again.output
    assert "never counted twice" in again.output
    assert _store_dump(store_url) == before


def test_a_store_that_does_not_exist_or_is_not_current_is_refused(
    files: dict[str, Path], tmp_path: Path
) -> None:
    result = _cli_rate(files, str(tmp_path / "none.db"), tmp_path)
    assert result.exit_code == 3
    assert "roamlike state init" in result.output
    with open_store(tmp_path / "empty.db"):
        pass
    result = _cli_rate(files, str(tmp_path / "empty.db"), tmp_path)
    assert result.exit_code == 3
    assert "schema version 0" in result.output
    assert not (tmp_path / "rated.parquet").exists()


@pytest.mark.parametrize("batch_rows", [500_000, 60])
def test_a_run_failing_before_its_commit_stores_nothing_and_leaves_no_output(
    files: dict[str, Path],
    store_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    batch_rows: int,
) -> None:
    """The store's writes of a batch fail (on the writer thread, while the outputs are written;
    with several batches the error surfaces when the next batch starts): the last of them, the
    days, after the counters went in (as log rows, or as packs)."""
    out, notes = tmp_path / "rated.parquet", tmp_path / "notes.csv"

    def breaking(real: Any) -> Any:
        def broken(tx: Any, rows: Any) -> int:
            if rows.table == "state_days":
                raise StoreError("disk full")
            return int(real(tx, rows))

        return broken

    with open_store(store_url) as store:
        migrate(store)
        monkeypatch.setattr(hooks_module, "write_rows", breaking(hooks_module.write_rows))
        monkeypatch.setattr(hooks_module, "write_pack", breaking(hooks_module.write_pack))
        with pytest.raises(StoreError, match="disk full"):
            rate_with_state(
                files["usage"],
                load_plans(files["plans"]),
                FxTable(),
                out,
                None,
                notes,
                store,
                batch_rows=batch_rows,
            )
    assert _store_dump(store_url) == {"days": [], "runs": []}
    left = sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith("state.db"))
    assert left == ["plans.yaml", "usage.csv"]  # neither outputs nor pending outputs


def test_a_run_whose_rows_cannot_be_made_ready_stores_nothing(
    files: dict[str, Path], store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The days' rows (or their pack) fail on their own thread (beside the counters' writes):
    the run fails with its error and stores nothing."""
    out = tmp_path / "rated.parquet"

    def broken(*args: object) -> None:
        raise StoreError("days lost")

    with open_store(store_url) as store:
        migrate(store)
        monkeypatch.setattr(hooks_module, "days_of_rated", broken)
        monkeypatch.setattr(hooks_module, "prepare_days_pack", broken)
        with pytest.raises(StoreError, match="days lost"):
            rate_with_state(
                files["usage"], load_plans(files["plans"]), FxTable(), out, None, None, store
            )
    assert _store_dump(store_url) == {"days": [], "runs": []}
    assert not out.exists()


def test_killed_after_the_commit_the_rerun_moves_the_outputs_into_place(
    files: dict[str, Path], store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "rated.parquet"
    with open_store(store_url) as store:
        migrate(store)
        plans = load_plans(files["plans"])

        def killed(*args: object) -> None:
            raise SystemExit(137)

        monkeypatch.setattr("roamlike.state.batch.move_outputs", killed)
        with pytest.raises(SystemExit):
            rate_with_state(files["usage"], plans, FxTable(), out, None, None, store)
        monkeypatch.undo()
        assert not out.exists()
        pending = pending_path(out.resolve(), _sha(files["usage"]))
        assert pending.exists()
        finished = rate_with_state(files["usage"], plans, FxTable(), out, None, None, store)
        assert finished.finished_interrupted
        assert out.exists()
        assert not pending.exists()
        assert (finished.summary.read, finished.summary.rejected) == (301, 1)
        with pytest.raises(AlreadyRatedError, match="outputs are"):
            rate_with_state(files["usage"], plans, FxTable(), out, None, None, store)
        out.write_bytes(b"changed")
        with pytest.raises(AlreadyRatedError, match="changed or removed"):
            rate_with_state(files["usage"], plans, FxTable(), out, None, None, store)


def test_a_failed_compaction_after_the_run_leaves_the_run_committed(
    files: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The logs are folded after the run's commit, in a transaction of their own: if that
    fails, the run stands (outputs in place, ledger row), the CLI says so, and the logs wait."""
    store = str(tmp_path / "state.db")
    assert runner.invoke(app, ["state", "init", "--state", store]).exit_code == 0

    def broken(*args: object, **kwargs: object) -> list[object]:
        raise StoreError("store error (OperationalError) in 'INSERT': database or disk is full")

    monkeypatch.setattr("roamlike.state.batch.compact_store", broken)
    result = _cli_rate(files, store, tmp_path)
    assert result.exit_code == 1, result.output  # finished with a reject, as without the failure
    text = " ".join(result.output.split())
    assert "rated and committed" in text
    assert "disk is full" in text
    assert "roamlike state compact" in text
    assert (tmp_path / "rated.parquet").exists()
    with open_store(store) as opened, opened.transaction() as tx:
        [(runs,)] = tx.execute("SELECT count(*) FROM state_runs")
        [(logged,)] = tx.execute("SELECT count(*) FROM state_packs")  # the run's packs
    assert (runs, logged > 0) == (1, True)


def _run_subprocess(files: dict[str, Path], store: str, folder: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "roamlike.cli", *rate_args(files, store, folder)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_sigkill_at_random_moments_then_rerun_equals_an_uninterrupted_run(
    files: dict[str, Path], store_url: str, tmp_path: Path
) -> None:
    """A subprocess is killed (SIGKILL) at random moments; after reruns to completion the store
    and the outputs equal those of a run that was never interrupted."""
    is_pg = store_url.startswith("postgresql")
    reference_store = (
        store_url.rsplit("/", 1)[0] + "/" + "postgres" if False else str(tmp_path / "reference.db")
    )
    ref_folder = tmp_path / "ref"
    ref_folder.mkdir()
    assert runner.invoke(app, ["state", "init", "--state", reference_store]).exit_code == 0
    started = time.monotonic()
    assert _run_subprocess(files, reference_store, ref_folder).wait(120) == 1
    duration = time.monotonic() - started
    expected = _store_dump(reference_store)
    rnd = random.Random(20261201)
    for attempt in range(2):
        store = (
            store_url
            if attempt == 0
            else (str(tmp_path / f"kill{attempt}.db") if not is_pg else store_url + f"_{attempt}")
        )
        if is_pg and attempt:
            import psycopg

            base, name = store_url.rsplit("/", 1)
            with psycopg.connect(base + "/postgres", autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{name}_{attempt}"')
        folder = tmp_path / f"kill{attempt}"
        folder.mkdir()
        assert runner.invoke(app, ["state", "init", "--state", store]).exit_code == 0
        proc = _run_subprocess(files, store, folder)
        time.sleep(rnd.uniform(0.3, 1.0) * duration)  # most of a run is interpreter start-up
        proc.send_signal(signal.SIGKILL)
        proc.wait(60)
        assert _run_subprocess(files, store, folder).wait(120) in (1, 3)
        assert _store_dump(store) == expected, f"kill {attempt}"
        for name in ("rated.parquet", "rejects.csv", "notes.csv"):
            assert _sha(folder / name) == _sha(ref_folder / name), (attempt, name)
        assert not [p.name for p in folder.iterdir() if "pending" in p.name]


def test_rating_md_9_late_records_across_files_are_rated_and_flagged(
    store_url: str, tmp_path: Path
) -> None:
    """A record older than its subscriber's last rated event (in an earlier file) is rated, never
    lost, flagged ``is_late``, and counted in the ledger."""
    tuesday = [rec("t1", started_at="2026-03-10T10:00:00Z"), rec("t2", subscriber_id="s2")]
    monday = [
        rec("m1", started_at="2026-03-09T10:00:00Z"),  # before s1's last event: late
        rec("m2", subscriber_id="s3", started_at="2026-03-09T10:00:00Z"),  # new subscriber
    ]
    plans = {"de": make_plan()}
    with open_store(store_url) as store:
        migrate(store)
        for name, rows in (("tue", tuesday), ("mon", monday)):
            pl.DataFrame(rows).write_csv(tmp_path / f"{name}.csv")
            run = rate_with_state(
                tmp_path / f"{name}.csv",
                plans,
                FxTable(),
                tmp_path / f"{name}.parquet",
                None,
                None,
                store,
            )
        assert (run.run.rated, run.run.late) == (2, 1)
    rated = pl.read_parquet(tmp_path / "mon.parquet").sort("record_id")
    assert rated.select("record_id", "is_late").rows() == [("m1", True), ("m2", False)]
    assert rated["charge_incl_vat_micros"].null_count() == 0
    with open_store(store_url) as store, store.transaction() as tx:
        readable(tx)  # the views then hold the packs' rows too
        [(last,)] = tx.execute(
            "SELECT last_record_id FROM state_subscribers_now WHERE subscriber_id = 's1'"
        )
    assert last == "t1"  # the last event stays the latest on-time one


def test_rate_state_takes_the_memory_budget(tmp_path: Path) -> None:
    """``--memory-gb`` reaches a ``--state`` run: a tight budget splits the file on disk, with the
    same rated rows as the default run in memory (one store each, as the input is rated twice)."""
    usage, plans, fx = tmp_path / "usage.parquet", tmp_path / "plans.yaml", tmp_path / "fx.csv"
    made = runner.invoke(app, ["synth", "--records", "4000", "--out", str(usage),
                               "--plans-out", str(plans), "--fx-out", str(fx)])  # fmt: skip
    assert made.exit_code == 0, made.output
    said = {}
    for name, extra in (("roomy", []), ("tight", ["--memory-gb", "0.001"])):
        folder, url = tmp_path / name, str(tmp_path / f"{name}.db")
        folder.mkdir()
        assert runner.invoke(app, ["state", "init", "--state", url]).exit_code == 0
        answer = runner.invoke(app, ["rate", str(usage), "--plans", str(plans), "--fx", str(fx),
                                     "--out", str(folder / "rated.parquet"), "--state", url,
                                     *extra])  # fmt: skip
        assert answer.exit_code in (0, 1), answer.output
        said[name] = " ".join(answer.output.split())
    assert "batch(es) in memory" in said["roomy"]
    assert "batch(es) on disk" in said["tight"]
    rated = [pl.read_parquet(tmp_path / n / "rated.parquet") for n in ("roomy", "tight")]
    assert rated[0].sort("row_number").equals(rated[1].sort("row_number"))

"""The store's agent process of ``roamlike rate --state`` (``roamlike.state.agent``): the same
outputs and store as the run in one process, the same errors, and crash safety when the run or
the agent is killed (SIGKILL) at each point of their conversation, on SQLite and on a real
PostgreSQL server."""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, cast

import polars as pl
import pytest
import yaml

from builders import DE_PLAN, RS_PLAN, rate_args, rec
from roamlike.errors import AlreadyRatedError, StoreError, TariffError
from roamlike.state import migrate, open_store
from roamlike.state.agent import PAUSE_ENV, _batches, portable
from roamlike.state.agent_client import (
    AGENT_ENV,
    LARGE_MESSAGE_BYTES,
    Agent,
    AgentGoneError,
    AgentJob,
    Channel,
    agent_job,
    take_agent,
)
from roamlike.state.agent_client import _started as never_started
from roamlike.state.agent_run import _reply
from roamlike.state.packs import readable


def _usage(n: int = 400) -> list[dict[str, Any]]:
    rnd = random.Random(8)
    rows = [
        rec(
            f"r{i:05d}",
            subscriber_id=f"s{rnd.randrange(15)}",
            started_at=f"2026-03-{1 + rnd.randrange(28):02d}T{rnd.randrange(24):02d}:00:00Z",
            visited_country=rnd.choice(["DE", "AT", "FR", "IT"]),
            volume_bytes=rnd.randrange(1, 300_000_000),
        )
        for i in range(n)
    ]
    return [*rows, rec("bad", started_at="yesterday")]  # one reject: exit 1


def _files(folder: Path, kind: str) -> dict[str, Path]:
    usage = folder / f"usage.{kind}"
    frame = pl.DataFrame(_usage())
    frame.write_parquet(usage) if kind == "parquet" else frame.write_csv(usage)
    plans = folder / "plans.yaml"
    plans.write_text(yaml.safe_dump({"plans": [DE_PLAN, RS_PLAN]}))
    return {"usage": usage, "plans": plans}


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    """A Parquet input: the agent preloads its counters."""
    return _files(tmp_path, "parquet")


def _run(
    files: dict[str, Path], store: str, folder: Path, *, agent: bool = True, pause: str = ""
) -> subprocess.Popen[str]:
    """``roamlike rate … --state STORE`` as a process of its own (the agent starts only from
    the command line's entry point)."""
    folder.mkdir(exist_ok=True)
    env = {**os.environ, AGENT_ENV: "1" if agent else "0", PAUSE_ENV: pause}
    return subprocess.Popen(
        [sys.executable, "-m", "roamlike.cli", *rate_args(files, store, folder)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(proc: subprocess.Popen[str]) -> tuple[int, str]:
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def _dump(url: str) -> dict[str, Any]:
    """What the store holds, run ids and times left out."""
    with open_store(url) as store, store.transaction() as tx:
        readable(tx)  # the views then hold the packs' rows too (a write: not on a snapshot)
        out: dict[str, Any] = {
            table: [tuple(r) for r in tx.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3")]
            for table in ("state_periods_now", "state_subscribers_now", "state_days_now")
        }
        out["records"] = tx.execute("SELECT count(*) FROM state_records")[0][0]
        runs = tx.execute("SELECT input_sha256, rated, rejected, outputs_json FROM state_runs")
    out["runs"] = [(*r[:-1], sorted(v["sha256"] for v in json.loads(r[-1]).values())) for r in runs]
    return out


def _outputs(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _fresh(url: str, tmp_path: Path, name: str) -> str:
    """Another fresh store beside ``url`` (a SQLite file, or a database on the same server)."""
    if not url.startswith("postgresql"):
        target = str(tmp_path / f"{name}.db")
    else:
        import psycopg

        base, db = url.rsplit("/", 1)
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{db}_{name}"')
        target = f"{url}_{name}"
    with open_store(target) as store:
        migrate(store)
    return target


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_the_agent_gives_the_outputs_and_store_of_the_run_in_one_process(
    store_url: str, tmp_path: Path, kind: str
) -> None:
    """A Parquet input (the agent preloads its counters) and a CSV input (it does not)."""
    files = _files(tmp_path, kind)
    alone = _fresh(store_url, tmp_path, "alone")
    together = _fresh(store_url, tmp_path, "together")
    assert _finish(_run(files, alone, tmp_path / "a", agent=False))[0] == 1
    assert _finish(_run(files, together, tmp_path / "b"))[0] == 1
    assert _dump(together) == _dump(alone)
    assert _outputs(tmp_path / "b") == _outputs(tmp_path / "a")
    # the same file again: refused by the agent as by the run itself
    code, err = _finish(_run(files, together, tmp_path / "b"))
    assert code == 3
    assert "was already rated into this store" in " ".join(err.split())


def test_the_agent_reports_a_missing_or_outdated_store_as_the_run_does(
    files: dict[str, Path], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.db"
    open_store(empty).close()
    for store, says in ((tmp_path / "none.db", "no store at"), (empty, "state init")):
        told = [_finish(_run(files, str(store), tmp_path / "x", agent=a)) for a in (True, False)]
        assert told[0] == told[1]
        assert told[0][0] == 3
        assert says in " ".join(told[0][1].split())
    assert not list((tmp_path / "x").iterdir())


#: The store and outputs of a run never interrupted, per kind of store (the input is the same).
_REFERENCE: dict[bool, tuple[dict[str, Any], dict[str, str]]] = {}


def _reference(files: dict[str, Path], store_url: str, tmp_path: Path) -> tuple[Any, Any]:
    kind = store_url.startswith("postgresql")
    if kind not in _REFERENCE:
        reference = _fresh(store_url, tmp_path, "reference")
        assert _finish(_run(files, reference, tmp_path / "ref"))[0] == 1
        _REFERENCE[kind] = (_dump(reference), _outputs(tmp_path / "ref"))
    return _REFERENCE[kind]


def _paused(proc: subprocess.Popen[str], marker: Path) -> int:
    """Wait for the agent to reach its pause point; its process id."""
    deadline = time.monotonic() + 90
    while not (marker.exists() and marker.read_text()):
        assert proc.poll() is None, proc.communicate()
        assert time.monotonic() < deadline, "the agent never reached its pause point"
        time.sleep(0.02)
    return int(marker.read_text())


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.02)
    return False


@pytest.mark.parametrize("point", ["preloaded", "written", "committed"])
def test_a_run_killed_at_each_point_leaves_what_a_rerun_completes(
    files: dict[str, Path], store_url: str, tmp_path: Path, point: str
) -> None:
    """The run is killed (SIGKILL) while its agent preloads, has written, or has committed: the
    agent dies with it; nothing is committed that was not asked for, and a rerun gives the
    store and outputs of a run never interrupted."""
    expected = _reference(files, store_url, tmp_path)
    store = _fresh(store_url, tmp_path, "killed")
    before = _dump(store)
    marker = tmp_path / "paused"
    proc = _run(files, store, tmp_path / "out", pause=f"{point}={marker}")
    agent = _paused(proc, marker)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert _gone(agent), "the agent outlived the run"
    if point != "committed":
        assert _dump(store) == before
    code, _ = _finish(_run(files, store, tmp_path / "out"))
    assert code in (1, 3)  # rated, or (committed before the kill) its outputs moved into place
    assert (_dump(store), _outputs(tmp_path / "out")) == expected


@pytest.mark.parametrize("point", ["preloaded", "written"])
def test_an_agent_killed_fails_the_run_cleanly(
    files: dict[str, Path], store_url: str, tmp_path: Path, point: str
) -> None:
    """The agent is killed before its commit: the run fails with exit 3 and a message, no
    traceback, no output (not even a pending one), nothing stored; a rerun succeeds."""
    store = _fresh(store_url, tmp_path, "store")
    before = _dump(store)
    marker = tmp_path / "paused"
    proc = _run(files, store, tmp_path / "out", pause=f"{point}={marker}")
    os.kill(_paused(proc, marker), signal.SIGKILL)
    code, err = _finish(proc)
    assert code == 3, err
    assert "agent process" in err
    assert "killed by signal 9" in " ".join(err.split())
    assert "Traceback" not in err
    assert not list((tmp_path / "out").iterdir())
    assert _dump(store) == before
    assert _finish(_run(files, store, tmp_path / "out"))[0] == 1


def test_an_agent_killed_after_its_commit_leaves_the_run_completed(
    files: dict[str, Path], store_url: str, tmp_path: Path
) -> None:
    """Killed after committing, before saying so: the run finds its run in the ledger and moves
    its outputs into place."""
    expected = _reference(files, store_url, tmp_path)
    store = _fresh(store_url, tmp_path, "store")
    marker = tmp_path / "paused"
    proc = _run(files, store, tmp_path / "out", pause=f"committed={marker}")
    os.kill(_paused(proc, marker), signal.SIGKILL)
    assert _finish(proc)[0] == 1
    assert (_dump(store), _outputs(tmp_path / "out")) == expected


def test_the_command_line_names_an_agent_job_only_for_a_plain_native_run_with_a_store(
    tmp_path: Path,
) -> None:
    usage = tmp_path / "u.parquet"
    usage.write_bytes(b"")
    base = [str(usage), "--plans", "p.yaml", "--out", "o.parquet"]
    assert agent_job([*base, "--state", "s.db"]) == AgentJob(usage, None, None, None, "s.db", False)
    assert agent_job(
        [
            *base,
            "--state=s.db",
            "--mapping",
            "m.yaml",
            "--memory-gb",
            "0.5",
            "--batch-rows=9",
            "--apply-control",
            "--quiet",
        ]
    ) == AgentJob(usage, Path("m.yaml"), 500_000_000, 9, "s.db", True)
    for words in (
        base,  # no store
        [*base, "--state", "s.db", "--engine", "spark"],
        [*base, "--state", "s.db", "--batch-rows", "0"],
        [*base, "--state", "s.db", "--memory-gb", "nan"],
        [*base, "--state", "s.db", "--memory-gb", "x"],
        [*base, "--state", "s.db", "extra.csv"],
        [*base, "--state", "s.db", "--bogus"],
        [str(tmp_path / "missing.parquet"), "--state", "s.db"],
    ):
        assert agent_job(words) is None, words
    resolved = AgentJob(usage, None, None, None, "s.db", False).resolved()
    assert (resolved.memory_bytes, resolved.batch_rows) == (3 * 10**9, 500_000)


def test_an_agent_started_for_another_job_is_ended_not_used(tmp_path: Path) -> None:
    assert never_started is None  # this test process never forks an agent
    ours, theirs = socket.socketpair()
    # a stand-in agent: exits when its end of the socket reads the end of the stream
    fd = theirs.fileno()
    child = subprocess.Popen(
        [sys.executable, "-c", f"import socket; socket.socket(fileno={fd}).recv(1)"],
        pass_fds=[fd],
    )
    theirs.close()
    job = AgentJob(tmp_path / "u.parquet", None, None, None, "s.db", False)
    import roamlike.state.agent_client as client

    client._started = Agent(child.pid, Channel(ours), job)
    assert take_agent(job.__class__(**{**job.__dict__, "state": "other.db"})) is None
    assert client._started is None
    assert child.wait(10) == 0


def test_messages_small_and_large_cross_the_channel_and_its_end_is_reported() -> None:
    a, b = socket.socketpair()
    left, right = Channel(a), Channel(b)
    big = pl.DataFrame({"x": list(range(LARGE_MESSAGE_BYTES // 4))})
    left.send(("small", 1))
    left.send(("large", big))
    assert right.recv() == ("small", 1)
    kind, frame = right.recv()
    assert kind == "large"
    assert frame.equals(big)
    left.close()
    with pytest.raises(AgentGoneError):
        right.recv()
    with pytest.raises(AgentGoneError):
        right.send(("x", b"y" * 1000))
    right.close()


def test_an_agent_s_error_reaches_the_run_as_a_roamlike_error_or_an_internal_one() -> None:
    assert isinstance(portable(AlreadyRatedError("rated")), AlreadyRatedError)
    unpicklable = TariffError("bad plan", path=Path("p.yaml"), plan_id="de")
    assert str(portable(unpicklable)) == str(unpicklable)
    internal = portable(ValueError("oops"))
    assert isinstance(internal, RuntimeError)
    assert "store's agent failed: ValueError: oops" in str(internal)


def _talking(script: str) -> Agent:
    """An agent stand-in: a child process that sends the pickled messages of ``script`` (a
    Python expression: a list of tuples) on its socket, then waits for the end of the stream."""
    ours, theirs = socket.socketpair()
    fd = theirs.fileno()
    code = (
        "import socket; from roamlike.state.agent_client import Channel; "
        f"c = Channel(socket.socket(fileno={fd})); "
        f"[c.send(m) for m in {script}]; c._sock.recv(1)"
    )
    os.set_inheritable(fd, True)
    pid = os.posix_spawn(sys.executable, [sys.executable, "-c", code], os.environ)
    theirs.close()
    return Agent(pid, Channel(ours), AgentJob(Path("u"), None, 1, 1, "s.db", False))


def test_the_run_reports_an_agent_s_error_its_unexpected_message_and_its_end() -> None:
    agent = _talking("[('error', __import__('roamlike.errors').errors.StoreError('locked'))]")
    with pytest.raises(StoreError, match="locked"):
        _reply(agent, "opened")
    assert agent.status == 0
    agent = _talking("[('committed',)]")
    with pytest.raises(StoreError, match="sent 'committed' instead of 'opened'"):
        _reply(agent, "opened")
    agent = _talking("[]")
    os.kill(agent.pid, signal.SIGKILL)
    with pytest.raises(StoreError, match="was killed by signal 9 before the run was committed"):
        _reply(agent, "opened")


def test_the_agent_refuses_a_message_it_does_not_expect() -> None:
    ours, theirs = socket.socketpair()
    run, agent = Channel(ours), Channel(theirs)
    run.send(("bogus", 1))
    with pytest.raises(StoreError, match="unexpected message 'bogus'"):
        _batches(agent, cast(Any, None))
    run.close()
    agent.close()

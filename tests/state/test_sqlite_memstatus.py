"""``roamlike.state.sqlite_memstatus``: SQLite's memory statistics are off in a process whose
first SQLite connection is a store's, and left as they are when turning them off is not safe.

Each case runs in a fresh interpreter: the setting is process-wide and decided once."""

from __future__ import annotations

import ctypes
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from roamlike.state import sqlite_memstatus
from roamlike.state.sqlite_memstatus import ENV, turn_off

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="turned off on Linux only")

_USED = """
import ctypes, importlib
from roamlike.sqlite_driver import EXTENSION, sqlite3
from roamlike.state import open_store, sqlite_memstatus
lib = ctypes.CDLL(importlib.import_module(EXTENSION).__file__)
lib.sqlite3_memory_used.restype = ctypes.c_int64
"""


def _run(code: str, tmp_path: Path, env: dict[str, str] | None = None) -> str:
    src = Path(sqlite_memstatus.__file__).parents[2]
    environ = {k: v for k, v in os.environ.items() if k != ENV}
    environ.update({"PYTHONPATH": str(src), **(env or {})})
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(_USED) + textwrap.dedent(code)],
        cwd=tmp_path,
        env=environ,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


_STORE_AND_ROWS = """
with open_store("s.db") as store, store.transaction() as tx:
    tx.execute("CREATE TABLE t (k TEXT PRIMARY KEY, n BIGINT NOT NULL)")
    tx.executemany("INSERT INTO t (k, n) VALUES (?, ?)", [(str(i), i) for i in range(500)])
    rows = tx.execute("SELECT count(*), sum(n) FROM t")
    print(sqlite_memstatus.memory_statistics_off(), lib.sqlite3_memory_used() > 0, rows)
"""


def test_a_store_opened_first_turns_the_statistics_off_and_works_as_before(
    tmp_path: Path,
) -> None:
    # the statistics count nothing while the store's connection holds its pages
    assert _run(_STORE_AND_ROWS, tmp_path) == "True False [(500, 124750)]"


def test_the_environment_keeps_them_on(tmp_path: Path) -> None:
    assert _run(_STORE_AND_ROWS, tmp_path, {ENV: "on"}) == "False True [(500, 124750)]"


def test_a_connection_open_before_the_first_store_leaves_them_on_and_working(
    tmp_path: Path,
) -> None:
    code = """
    other = sqlite3.connect("other.db")
    other.execute("CREATE TABLE o (n)")
    other.execute("INSERT INTO o VALUES (7)")
    with open_store("s.db") as store, store.transaction() as tx:
        tx.execute("CREATE TABLE t (n BIGINT)")
        print(sqlite_memstatus.memory_statistics_off(), lib.sqlite3_memory_used() > 0)
    print(other.execute("SELECT n FROM o").fetchall())
    """
    assert _run(code, tmp_path).splitlines() == ["False True", "[(7,)]"]


def test_the_first_call_decides_for_the_process(tmp_path: Path) -> None:
    code = """
    first = sqlite_memstatus.memory_statistics_off()
    other = sqlite3.connect(":memory:")  # alive now: a second try must not shut SQLite down
    print(first, sqlite_memstatus.memory_statistics_off(), other.execute("SELECT 1").fetchall())
    """
    assert _run(code, tmp_path) == "True True [(1,)]"


def test_no_library_is_left_alone() -> None:
    assert turn_off(None) is False


class _Library:
    """A stand-in for the library: records the calls, answers as told."""

    def __init__(
        self, used: int = 0, built_off: int = 0, shutdown: int = 0, initialize: int = 0
    ) -> None:
        self.calls: list[str] = []
        self.used, self.built_off, self.shutdown = used, built_off, shutdown
        self.initialized = initialize

    def sqlite3_compileoption_used(self, option: bytes) -> int:
        self.calls.append(f"option {option.decode()}")
        return self.built_off

    def sqlite3_memory_used(self) -> int:
        self.calls.append("used")
        return self.used

    def sqlite3_shutdown(self) -> int:
        self.calls.append("shutdown")
        return self.shutdown

    def sqlite3_config(self, op: int, value: ctypes.c_int) -> int:
        self.calls.append(f"config {op} {value.value}")
        return 0

    def sqlite3_initialize(self) -> int:
        self.calls.append("initialize")
        return self.initialized


def _turn_off(library: _Library) -> bool:
    return turn_off(library)  # type: ignore[arg-type]


def test_something_alive_means_no_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    alive = _Library(used=4096)
    assert _turn_off(alive) is False
    assert "shutdown" not in alive.calls


def test_a_library_built_without_statistics_is_not_shut_down(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(ENV, raising=False)
    built_off = _Library(built_off=1)
    assert _turn_off(built_off) is False
    assert built_off.calls == ["option DEFAULT_MEMSTATUS=0"]


def test_a_refused_shutdown_configures_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    busy = _Library(shutdown=5)  # SQLITE_BUSY
    assert _turn_off(busy) is False
    assert not any(c.startswith("config") for c in busy.calls)


def test_the_order_of_the_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    idle = _Library()
    assert _turn_off(idle) is True
    assert idle.calls == [
        "option DEFAULT_MEMSTATUS=0",
        "used",
        "shutdown",
        "config 9 0",
        "initialize",
    ]


def test_a_failed_initialisation_is_not_reported_as_done(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    failing = _Library(initialize=7)  # SQLITE_NOMEM
    assert _turn_off(failing) is False
    assert failing.calls[-1] == "initialize"


def test_another_platform_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    monkeypatch.setattr(sys, "platform", "darwin")
    untouched = _Library()
    assert _turn_off(untouched) is False
    assert untouched.calls == []

"""``roamlike.sqlite_driver``: one SQLite library for every store connection of a process."""

from __future__ import annotations

import platform
import re
import sys
from pathlib import Path

import pytest

from roamlike.errors import StoreError
from roamlike.sqlite_driver import EXTENSION, sqlite3
from roamlike.state import open_store

ROOT = Path(__file__).resolve().parents[1]

#: An import of Python's own module (or of its C extension) anywhere but the driver.
_DIRECT = re.compile(r"^\s*(import sqlite3\b|from sqlite3\b|import _sqlite3\b)", re.MULTILINE)


def test_no_module_of_the_project_imports_python_s_sqlite3_itself() -> None:
    # two SQLite libraries in one process do not see each other's locks on a store's file
    offenders = [
        str(path.relative_to(ROOT))
        for folder in ("src", "tests", "benchmarks", "scripts")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path.name != "sqlite_driver.py" and _DIRECT.search(path.read_text(encoding="utf-8"))
    ]
    assert offenders == []


def test_a_store_connects_through_the_driver(tmp_path: Path) -> None:
    with open_store(str(tmp_path / "s.db"), create=True) as store:
        assert isinstance(store.connection, sqlite3.Connection)
        assert store.connection.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.skipif(
    not (sys.platform == "linux" and platform.machine() == "x86_64"),
    reason="the SQLite built into pysqlite3-binary is installed on Linux x86-64 only",
)
def test_on_linux_x86_64_the_stores_use_the_sqlite_built_into_pysqlite3() -> None:
    # requirements.lock pins pysqlite3-binary 0.5.4.post2: SQLite 3.51
    assert sqlite3.__name__ == "pysqlite3.dbapi2"
    assert EXTENSION == "pysqlite3._sqlite3"
    assert sqlite3.sqlite_version_info >= (3, 51)


def test_a_sqlite_older_than_3_35_is_refused_with_a_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite3, "sqlite_version_info", (3, 34, 1))
    monkeypatch.setattr(sqlite3, "sqlite_version", "3.34.1")
    with pytest.raises(
        StoreError, match=r"needs SQLite 3\.35\.0 or newer; this Python's is 3\.34\.1"
    ):
        open_store(str(tmp_path / "s.db"), create=True)
    assert not (tmp_path / "s.db").exists()

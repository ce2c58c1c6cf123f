"""Test-session rules shared by every test module.

Tests that need a real component (a PostgreSQL server, Chromium, Java for Spark) are marked
``postgres``, ``browser`` or ``spark`` and call :func:`require` for what they need. Locally a
missing component skips them with the command that installs it (``scripts/system-packages.sh``);
under CI (``CI=true``) a missing component fails them, so they are never skipped there.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from pg_cluster import PgCluster, find_bin


def in_ci() -> bool:
    """True when the suite runs under CI (``CI=true``), where nothing may be skipped."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(*commands: str) -> None:
    """Skip (locally) or fail (in CI) unless every command is on PATH.

    Parameters
    ----------
    commands : str
        Executables the test needs, e.g. ``"pg_ctl"``, ``"chromium"``, ``"java"``.
    """
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    message = f"needs {', '.join(missing)}: run scripts/system-packages.sh (make test does)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


def require_postgres() -> None:
    """Skip (locally) or fail (in CI) unless PostgreSQL's initdb and pg_ctl can be found
    (on PATH or under ``/usr/lib/postgresql/*/bin``, where Debian puts them)."""
    if find_bin() is not None:
        return
    message = "needs PostgreSQL (initdb, pg_ctl): run scripts/system-packages.sh (make test does)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One throwaway PostgreSQL cluster for the test session (see ``tests/pg_cluster.py``)."""
    require_postgres()
    cluster = PgCluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def pg_url(pg_cluster: PgCluster) -> str:
    """URL of a fresh, empty database on the session's cluster (one per test)."""
    return pg_cluster.create_database()


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty store: a SQLite file, then a PostgreSQL database (tests run on both)."""
    if request.param == "sqlite":
        return str(tmp_path / "state.db")
    return str(request.getfixturevalue("pg_url"))

"""The throwaway PostgreSQL clusters of the tests: a killed test session's cluster is swept."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import require_postgres
from pg_cluster import OWNER_FILE, PREFIX, UNOWNED_AGE_S, PgCluster, sweep_orphans

pytestmark = pytest.mark.postgres

CHILD = """
import sys, time
sys.path.insert(0, {tests!r})
import tempfile
tempfile.tempdir = {temp!r}
from pg_cluster import PgCluster
cluster = PgCluster.start()
print(cluster.folder, cluster.port, flush=True)
time.sleep(600)
"""


def _accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


def _temp_dir(tmp_path: Path) -> Path:
    """A private temporary folder the server's user (``nobody`` under root) can enter."""
    folder = tmp_path / "tmp"
    folder.mkdir()
    for parent in (folder, *folder.parents):
        if parent == Path("/"):
            break
        parent.chmod(parent.stat().st_mode | 0o011)
    return folder


def test_cluster_of_a_killed_session_is_stopped_and_deleted(tmp_path: Path) -> None:
    require_postgres()
    temp = _temp_dir(tmp_path)
    code = CHILD.format(tests=str(Path(__file__).parent), temp=str(temp))
    with subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            folder_text, port_text = child.stdout.readline().split()
            folder, port = Path(folder_text), int(port_text)
            assert (folder / OWNER_FILE).read_text().strip() == str(child.pid)
            assert _accepts(port)
            assert sweep_orphans(temp) == []  # its owner still runs
        finally:
            child.send_signal(signal.SIGKILL)
    assert _accepts(port), "a killed session leaves its server running"

    assert sweep_orphans(temp) == [folder]

    assert not folder.exists()
    deadline = time.monotonic() + 10
    while _accepts(port) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _accepts(port)


def test_folders_without_owner_are_swept_only_when_old(tmp_path: Path) -> None:
    temp = _temp_dir(tmp_path)
    fresh = temp / f"{PREFIX}fresh"
    old = temp / f"{PREFIX}old"
    for folder in (fresh, old):
        folder.mkdir()
    past = time.time() - UNOWNED_AGE_S - 60
    os.utime(old, (past, past))

    assert sweep_orphans(temp) == [old]

    assert fresh.exists()
    assert not old.exists()


def test_unreadable_owner_is_left_alone(tmp_path: Path) -> None:
    temp = _temp_dir(tmp_path)
    folder = temp / f"{PREFIX}garbled"
    folder.mkdir()
    (folder / OWNER_FILE).write_text("not a pid\n")

    assert sweep_orphans(temp) == []

    assert folder.exists()


def test_start_records_its_owner(pg_cluster: PgCluster) -> None:
    assert (pg_cluster.folder / OWNER_FILE).read_text().strip() == str(os.getpid())

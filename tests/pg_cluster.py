"""A throwaway PostgreSQL cluster for tests and benchmarks (Debian's server, no network).

``initdb`` + ``pg_ctl`` from ``/usr/lib/postgresql/*/bin`` (they are not on PATH on Debian) or from
PATH; the cluster lives in a temporary folder, listens on a free loopback port and a Unix socket in
that folder, trusts local connections, and is stopped (``-m immediate``) and deleted at the end.
PostgreSQL refuses to run as root: as root, the server runs as the unprivileged user ``nobody``.

A test session that is killed (SIGKILL, a timeout) cannot stop its cluster, and the server
goes on running. So each cluster's folder records the process that started it (``owner.pid``),
and every :meth:`PgCluster.start` first stops and deletes the clusters whose owner is gone
(:func:`sweep_orphans`).

Used by the session fixture ``pg_cluster`` in ``tests/conftest.py`` (and by ``benchmarks/``)::

    with PgCluster.start() as cluster:
        url = cluster.create_database("t1")   # postgresql://roamlike@127.0.0.1:PORT/t1
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

SUPERUSER = "roamlike"
PREFIX = "roamlike-pg-"
OWNER_FILE = "owner.pid"
#: A folder with no owner file (made before owners were recorded) is swept past this age.
UNOWNED_AGE_S = 6 * 3600


def find_bin() -> Path | None:
    """Folder holding ``initdb`` and ``pg_ctl`` (newest Debian version first), or None."""
    on_path = shutil.which("pg_ctl")
    if on_path and shutil.which("initdb"):
        return Path(on_path).parent
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
    )
    return Path(found[-1]).parent if found else None


def _owner_alive(folder: Path) -> bool:
    """Whether the process that started the cluster in ``folder`` still runs (an unreadable
    owner counts as alive, so a cluster is never swept on a doubt)."""
    try:
        pid = int((folder / OWNER_FILE).read_text().strip())
    except FileNotFoundError:
        try:
            age = time.time() - folder.stat().st_mtime
        except OSError:
            return True
        return age < UNOWNED_AGE_S
    except (OSError, ValueError):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def sweep_orphans(temp_dir: Path | None = None) -> list[Path]:
    """Stop and delete the throwaway clusters whose starting process is gone.

    Returns the folders removed. A cluster whose owner still runs (another test session) is
    left alone.
    """
    bin_dir = find_bin()
    removed: list[Path] = []
    for folder in sorted(Path(temp_dir or tempfile.gettempdir()).glob(f"{PREFIX}*")):
        if not folder.is_dir() or _owner_alive(folder):
            continue
        user = _folder_user(folder)
        if bin_dir is not None:
            PgCluster(bin_dir=bin_dir, folder=folder, port=0, user=user).stop()
        else:
            shutil.rmtree(folder, ignore_errors=True)
        removed.append(folder)
    return removed


def _folder_user(folder: Path) -> str | None:
    """The user the cluster in ``folder`` runs as (its folder's owner) when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwuid(folder.stat().st_uid).pw_name
    except (OSError, KeyError):
        return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    """A running throwaway cluster; :meth:`start` it, :meth:`stop` it (or use ``with``)."""

    bin_dir: Path
    folder: Path
    port: int
    user: str | None = None
    _databases: int = field(default=0, repr=False)

    @property
    def data_dir(self) -> Path:
        return self.folder / "data"

    def url(self, database: str = "postgres") -> str:
        """Connection URL of ``database`` over loopback TCP."""
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(a) for a in args],
            check=True,
            capture_output=True,
            text=True,
            timeout=timeout,
            user=self.user,
            env={**os.environ, "LC_ALL": "C", "LANG": "C"},
            cwd=self.folder,
        )

    @classmethod
    def start(cls, *, durable: bool = False) -> PgCluster:
        """initdb + pg_ctl start; ``durable=False`` turns fsync off (tests kill clients, not
        the server, so server-side durability is not what they check; benchmarks pass True).

        Raises
        ------
        RuntimeError
            No PostgreSQL binaries, or the server does not start (with its log).
        """
        bin_dir = find_bin()
        if bin_dir is None:
            raise RuntimeError("no PostgreSQL server binaries (initdb, pg_ctl)")
        sweep_orphans()
        folder = Path(tempfile.mkdtemp(prefix=PREFIX))
        (folder / OWNER_FILE).write_text(f"{os.getpid()}\n")
        user: str | None = None
        if os.geteuid() == 0:
            user = "nobody"
            entry = pwd.getpwnam(user)
            os.chown(folder, entry.pw_uid, entry.pw_gid)
        cluster = cls(bin_dir=bin_dir, folder=folder, port=_free_port(), user=user)
        try:
            cluster._run(
                str(bin_dir / "initdb"),
                "-D",
                str(cluster.data_dir),
                "-U",
                SUPERUSER,
                "--auth=trust",
                "--encoding=UTF8",
                "--no-instructions",
            )
            options = [
                f"-p {cluster.port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={folder}",
                "-c max_connections=60",
                "-c shared_buffers=128MB",
            ]
            if not durable:
                options += ["-c fsync=off", "-c full_page_writes=off"]
            cluster._run(
                str(bin_dir / "pg_ctl"),
                "-D",
                str(cluster.data_dir),
                "-l",
                str(folder / "server.log"),
                "-w",
                "-t",
                "60",
                "-o",
                " ".join(options),
                "start",
            )
        except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
            log = folder / "server.log"
            detail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            output = getattr(exc, "stderr", "") or ""
            cluster.stop()
            raise RuntimeError(f"PostgreSQL did not start: {output}\n{detail}") from exc
        return cluster

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh database (named, or ``t1``, ``t2``…) and return its URL."""
        import psycopg

        if name is None:
            self._databases += 1
            name = f"t{self._databases}"
        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def stop(self) -> None:
        """Stop the server at once and delete its folder (idempotent)."""
        if (self.data_dir / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run(
                    str(self.bin_dir / "pg_ctl"),
                    "-D",
                    str(self.data_dir),
                    "-m",
                    "immediate",
                    "stop",
                )
        shutil.rmtree(self.folder, ignore_errors=True)

    def __enter__(self) -> PgCluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_cluster(*, durable: bool = False) -> Iterator[PgCluster]:
    """A started cluster for the duration of the block."""
    cluster = PgCluster.start(durable=durable)
    try:
        yield cluster
    finally:
        cluster.stop()

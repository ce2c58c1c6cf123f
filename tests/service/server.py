"""A real ``roamlike serve`` (granian) in a subprocess on a free loopback port, for tests."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def roamlike_exe() -> str:
    """The ``roamlike`` console script of this interpreter's environment."""
    return str(Path(sys.executable).with_name("roamlike"))


@contextmanager
def running_server(folder: Path, *args: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start ``roamlike serve ARGS`` and yield (base URL, process); stop it afterwards.

    The server's output goes to ``folder/server.log`` (read back when it fails to start).
    """
    port = free_port()
    log_path = folder / f"server-{port}.log"
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [roamlike_exe(), "serve", "--port", str(port), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,  # its own process group: the workers go with it
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base}/healthz", timeout=1)
                break
            except httpx.TransportError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "server did not start: " + log_path.read_text(errors="replace")
                    ) from None
                time.sleep(0.1)
        yield base, proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                kill_group(proc)
        kill_group(proc)


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL the server and its workers (its process group), and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()

"""``roamlike.cli.common.exit_now``: the process ends without its teardown, but only after
what a normal exit does that anyone can see (threads, atexit handlers, flushed output)."""

from __future__ import annotations

import os
import subprocess
import sys

_PROGRAM = """
import atexit, sys, threading, time
from concurrent.futures import ThreadPoolExecutor
from roamlike.cli.common import exit_now

atexit.register(lambda: print("atexit ran"))
def late() -> None:
    time.sleep(0.3)
    print("thread finished")
threading.Thread(target=late).start()
pool = ThreadPoolExecutor(2)  # idle workers: stopped by the interpreter's exit callbacks
pool.submit(print, "pool job ran").result()
sys.stdout.write("unflushed text")  # no newline: still in the buffer
exit_now(eval(sys.argv[1]))
"""


def _run(code: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    return subprocess.run(
        [sys.executable, "-c", _PROGRAM, code],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_exit_now_waits_for_threads_runs_atexit_and_flushes() -> None:
    done = _run("3")
    assert done.returncode == 3
    assert done.stdout.splitlines() == [
        "pool job ran",
        "unflushed textthread finished",
        "atexit ran",
    ]


def test_exit_now_treats_none_as_success() -> None:
    assert _run("None").returncode == 0


def test_exit_now_prints_a_message_code_and_exits_1() -> None:
    done = _run("'error: bad input'")
    assert done.returncode == 1
    assert done.stderr.strip() == "error: bad input"

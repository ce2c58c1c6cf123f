"""The garbage collector during the start of ``roamlike rate`` (``roamlike.cli.collector``)."""

from __future__ import annotations

import gc
import subprocess
import sys

from roamlike.cli import collector


def test_release_without_hold_changes_nothing() -> None:
    frozen = gc.get_freeze_count()
    collector.release()
    assert gc.isenabled()
    assert gc.get_freeze_count() == frozen


def test_a_rate_process_holds_the_collector_during_its_start_then_freezes_it() -> None:
    # in a process of its own: freezing the test runner's objects would keep them for good
    code = (
        "import gc\n"
        "from roamlike.cli import collector\n"
        "collector.hold()\n"
        "held = gc.isenabled()\n"
        "objects = [[] for _ in range(1000)]\n"
        "collector.release()\n"
        "print(held, gc.isenabled(), gc.get_freeze_count() >= 1000)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "True", "True"]

"""``roamlike.rating.compiled``: the compiled pass is loaded on demand, or ahead on a thread."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from roamlike.rating import aot, compiled, passes

_PROBE = """
import sys, threading
import roamlike.pipeline
print("numba" in sys.modules)
from roamlike.rating import compiled
compiled.preload()
compiled.preload()  # once per process
loaders = [t for t in threading.enumerate() if t.name == "roamlike-compiled"]
for t in loaders:
    t.join()
print(len(loaders), "roamlike.rating.kernel" in sys.modules)
"""


def test_the_engine_loads_numba_only_when_asked_and_preload_loads_it_on_a_thread() -> None:
    # the JIT pass (without the ahead-of-time module, roamlike.rating.aot: tests/rating/test_aot.py)
    done = subprocess.run(
        [sys.executable, "-c", _PROBE],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
        env={**os.environ, aot.ENV_SWITCH: "0"},
    )
    assert done.stdout.split() == ["False", "1", "True"], done.stderr


def test_a_run_on_the_jit_starts_the_ahead_of_time_build_for_the_next_runs(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[bool] = []
    monkeypatch.setattr(aot, "build_in_background", lambda: started.append(True) or True)
    monkeypatch.setattr(passes, "_chosen", [])
    assert not compiled.build_for_next_runs()  # nothing rated in this process
    monkeypatch.setattr(passes, "_chosen", [passes._jit()])
    assert compiled.build_for_next_runs()
    monkeypatch.setattr(passes, "uses_aot", lambda: True)
    assert not compiled.build_for_next_runs()  # it runs the ahead-of-time module already
    assert started == [True]

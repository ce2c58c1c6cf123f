"""``roamlike.rating.compiled``: the compiled pass is loaded on demand, or ahead on a thread."""

from __future__ import annotations

import subprocess
import sys

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
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], capture_output=True, text=True, check=True, timeout=300
    )
    assert done.stdout.split() == ["False", "1", "True"], done.stderr

"""The package's import-time defaults."""

from __future__ import annotations

import os
import subprocess
import sys

SHOW = "import roamlike, os; print(os.environ.get('_RJEM_MALLOC_CONF'))"


def _conf(env: dict[str, str]) -> str:
    done = subprocess.run(
        [sys.executable, "-c", SHOW], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def test_importing_roamlike_keeps_freed_memory_a_while_unless_told_otherwise() -> None:
    env = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    assert _conf(env) == "dirty_decay_ms:5000,muzzy_decay_ms:5000"
    assert _conf({**env, "_RJEM_MALLOC_CONF": "dirty_decay_ms:0"}) == "dirty_decay_ms:0"

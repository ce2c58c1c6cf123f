"""The package's import-time defaults."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _after_import(name: str, env: dict[str, str]) -> str:
    """The environment variable ``name`` as a fresh process sees it after ``import roamlike``."""
    show = f"import roamlike, os; print(os.environ.get({name!r}))"
    done = subprocess.run(
        [sys.executable, "-c", show], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.strip()


def _without(name: str) -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != name}


def test_importing_roamlike_keeps_freed_memory_a_while_unless_told_otherwise() -> None:
    name = "_RJEM_MALLOC_CONF"
    env = _without(name)
    assert _after_import(name, env) == "dirty_decay_ms:5000,muzzy_decay_ms:5000"
    assert _after_import(name, {**env, name: "dirty_decay_ms:0"}) == "dirty_decay_ms:0"


def test_importing_roamlike_keeps_compiled_code_in_the_users_cache_unless_told_otherwise(
    tmp_path: Path,
) -> None:
    name = "NUMBA_CACHE_DIR"
    env = _without(name)
    expected = str(tmp_path / "roamlike" / "numba")
    assert _after_import(name, {**env, "XDG_CACHE_HOME": str(tmp_path)}) == expected
    assert _after_import(name, {**env, name: "/elsewhere"}) == "/elsewhere"

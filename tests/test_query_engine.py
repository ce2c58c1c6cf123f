"""The ``roamlike`` command runs Polars' queries on the in-memory engine
(``roamlike.query_engine.for_process``), unless told otherwise."""

from __future__ import annotations

import os
import subprocess
import sys

from roamlike.query_engine import ENGINE_ENV, POLARS_ENV, for_process


def test_the_command_sets_the_in_memory_engine_by_default() -> None:
    environ: dict[str, str] = {}
    for_process(environ)
    assert environ[POLARS_ENV] == "in-memory"


def test_roamlike_polars_engine_chooses_another_engine() -> None:
    environ = {ENGINE_ENV: "auto"}
    for_process(environ)
    assert environ[POLARS_ENV] == "auto"


def test_polars_own_setting_is_left_alone() -> None:
    environ = {POLARS_ENV: "streaming", ENGINE_ENV: "auto"}
    for_process(environ)
    assert environ[POLARS_ENV] == "streaming"


def test_the_command_line_applies_it_even_with_polars_imported() -> None:
    env = {k: v for k, v in os.environ.items() if k not in (POLARS_ENV, ENGINE_ENV)}
    probe = (
        "import sys, atexit\n"
        "from polars._plr import get_engine_affinity\n"
        "atexit.register(lambda: print('affinity', get_engine_affinity(), flush=True))\n"
        "sys.argv = ['roamlike', '--help']\n"
        "from roamlike.cli import main\n"
        "main()\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert "affinity in-memory" in done.stdout, done.stdout + done.stderr

"""The CLI imports only the command module it runs; help still lists every command."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

import roamlike.cli
from builders import DE_PLAN, rec
from comparison import text_frame
from roamlike.cli import COMMAND_MODULES, app

# main() ends the process itself (roamlike.cli.common.exit_now), after the atexit handlers
_LOADED = """
import atexit, json, sys
from roamlike.cli import main
sys.argv = ["roamlike", *sys.argv[1:]]
atexit.register(lambda: print(json.dumps({"modules": sorted(sys.modules)})))
main()
"""


def _run(*args: str) -> tuple[int, list[str], str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path), "COLUMNS": "200"}
    done = subprocess.run(
        [sys.executable, "-c", _LOADED, *args], capture_output=True, text=True, env=env
    )
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return done.returncode, result["modules"], done.stdout


def test_rate_imports_neither_the_service_spark_wholesale_web_nor_other_commands() -> None:
    code, modules, _ = _run("rate", "--help")
    assert code == 0
    assert "roamlike.cli.rate_commands" in modules
    assert "roamlike.pipeline" in modules
    for unwanted in (
        "roamlike.service", "roamlike.spark", "roamlike.wholesale", "roamlike.web",
        "roamlike.state", "roamlike.audit", "roamlike.simulate", "roamlike.cli.law_commands",
        "roamlike.cli.serve_command", "roamlike.cli.state_commands",
    ):  # fmt: skip
        assert unwanted not in modules, unwanted


def test_a_quiet_rate_imports_no_progress_bar_nor_table(tmp_path: Path) -> None:
    usage = tmp_path / "usage.csv"
    text_frame([rec("r1")]).write_csv(usage)
    plans = tmp_path / "plans.yaml"
    plans.write_text(yaml.safe_dump({"plans": [DE_PLAN]}), encoding="utf-8")
    args = ["rate", str(usage), "--plans", str(plans), "--out", str(tmp_path / "r.csv")]
    code, quiet, _ = _run(*args, "--quiet")
    assert code == 0
    assert "rich.progress" not in quiet
    assert "rich.table" not in quiet
    code, loud, _ = _run(*args)  # the summary table is printed
    assert code == 0
    assert "rich.table" in loud


def test_help_lists_every_command() -> None:
    code, modules, out = _run("--help")
    assert code == 0
    for name in COMMAND_MODULES:
        assert f" {name} " in out, name
    assert {f"roamlike.cli.{m}" for m in COMMAND_MODULES.values()} <= set(modules)


def test_an_unknown_command_is_suggested_from_every_command() -> None:
    code, _, _ = _run("simulat")
    assert code == 2


def test_the_table_names_the_module_of_every_command() -> None:
    # building the whole app (as Typer's test runner does) imports every command module
    commands = {info.name: info.callback.__module__ for info in app.registered_commands}
    groups = {info.name: info.typer_instance for info in app.registered_groups}
    found = dict(commands)
    for name, sub in groups.items():
        assert sub is not None
        found[name] = sub.registered_commands[0].callback.__module__  # type: ignore[union-attr]
    assert found == {name: f"{roamlike.cli.__name__}.{m}" for name, m in COMMAND_MODULES.items()}

"""Built-in scenarios by name (``roamlike.simulate.builtin``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from roamlike.errors import ScenarioFileError
from roamlike.law import default_catalog
from roamlike.law.catalog import HYPOTHETICAL
from roamlike.law.scenarios import load_scenario
from roamlike.simulate import builtin_names, scenario_path


def test_the_two_built_in_scenarios_are_there_and_hypothetical() -> None:
    names = builtin_names()
    assert names == ["eu-faster-glide-path-2027", "wb6-join-eu-rlah-2027"]
    for name in names:
        scenario = load_scenario(scenario_path(name), default_catalog())
        assert scenario.name == name
        assert all(c.to_json()["grade"] == HYPOTHETICAL for c in scenario.changes)


def test_a_path_is_taken_as_is(tmp_path: Path) -> None:
    path = tmp_path / "mine.yaml"
    path.write_text("x: 1\n", encoding="utf-8")
    assert scenario_path(str(path)) == path


def test_neither_name_nor_file_lists_the_built_in_names(tmp_path: Path) -> None:
    with pytest.raises(ScenarioFileError, match="built-in: eu-faster-glide-path-2027, wb6-join"):
        scenario_path(str(tmp_path / "nope.yaml"))

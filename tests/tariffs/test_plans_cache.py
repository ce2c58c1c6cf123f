"""The per-user cache of parsed plans files: the plans of these very bytes, or parsed again."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from roamlike.errors import TariffError
from roamlike.tariffs import load_plans, plans_cache, schema
from roamlike.tariffs.plans_cache import cached_plans

PLANS_DIR = Path(__file__).parent / "plans"


class Parses:
    """``schema.parse_plans`` that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0
        self.real = schema.parse_plans

    def __call__(self, text: str, fmt: str, source: str = "<plans>") -> dict[str, schema.Plan]:
        self.calls += 1
        return self.real(text, fmt, source)


@pytest.fixture
def parses(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Parses:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    counter = Parses()
    monkeypatch.setattr(plans_cache, "parse_plans", counter)
    return counter


def _files() -> list[Path]:
    return sorted((plans_cache.cache_dir() / "plans").glob("plans-*.pickle"))


@pytest.mark.parametrize("name", ["full.yaml", "full.json"])
def test_a_second_run_reads_the_parsed_plans(parses: Parses, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    shutil.copy(PLANS_DIR / name, path)
    first = cached_plans(path)
    second = cached_plans(str(path))
    assert parses.calls == 1
    assert first == second == load_plans(path)
    assert len(_files()) == 1
    assert oct(_files()[0].stat().st_mode & 0o022) == "0o0"


def test_changed_plans_are_never_served_stale(parses: Parses, tmp_path: Path) -> None:
    path = tmp_path / "plans.yaml"
    text = (PLANS_DIR / "full.yaml").read_text(encoding="utf-8")
    path.write_text(text, encoding="utf-8")
    before = cached_plans(path)
    changed = text.replace('notes: "fixture with every field"', 'notes: "changed"', 1)
    assert changed != text
    path.write_text(changed, encoding="utf-8")
    after = cached_plans(path)
    assert parses.calls == 2
    assert after == load_plans(path) != before
    path.write_text(text, encoding="utf-8")  # the first bytes again: their plans are kept
    assert cached_plans(path) == before
    assert parses.calls == 2


def test_crlf_plans_parse_as_load_plans_reads_them(parses: Parses, tmp_path: Path) -> None:
    path = tmp_path / "plans.yaml"
    path.write_bytes((PLANS_DIR / "full.yaml").read_bytes().replace(b"\n", b"\r\n"))
    assert cached_plans(path) == load_plans(path) == load_plans(PLANS_DIR / "full.yaml")


def test_an_invalid_file_raises_as_load_plans_and_is_not_cached(
    parses: Parses, tmp_path: Path
) -> None:
    bad = tmp_path / "plans.yaml"
    bad.write_text("plans: []\n", encoding="utf-8")
    for path in (bad, tmp_path / "missing.yaml", tmp_path / "plans.txt"):
        with pytest.raises(TariffError) as expected:
            load_plans(path)
        with pytest.raises(TariffError) as got:
            cached_plans(path)
        assert str(got.value) == str(expected.value)
    assert _files() == []


def test_a_cache_file_others_may_write_is_not_read(parses: Parses, tmp_path: Path) -> None:
    path = tmp_path / "plans.yaml"
    shutil.copy(PLANS_DIR / "full.yaml", path)
    cached_plans(path)
    os.chmod(_files()[0], 0o666)
    assert cached_plans(path) == load_plans(path)
    assert parses.calls == 2  # parsed again (and the file written again, safely)
    assert oct(_files()[0].stat().st_mode & 0o022) == "0o0"

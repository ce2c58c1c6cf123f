"""The per-user cache of the parsed catalog: used when it holds this very catalog, else rebuilt."""

from __future__ import annotations

import datetime as dt
import os
import pickle
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from roamlike.law import catalog as catalog_module
from roamlike.law import catalog_cache, value_at
from roamlike.law.catalog import CATALOG_DIR, Catalog, load_catalog
from roamlike.law.catalog_cache import cached_catalog

LIMIT = Path("parameters/eu/billshock/default_limit_eur.yaml")


class Loads:
    """``load_catalog`` that counts its calls."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, root: Path) -> Catalog:
        self.calls += 1
        return load_catalog(root)


@pytest.fixture
def law(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A copy of the shipped catalog, and a fresh cache directory."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    root = tmp_path / "law"
    shutil.copytree(CATALOG_DIR, root, ignore=shutil.ignore_patterns("__pycache__"))
    return root


def _files() -> list[Path]:
    return sorted((catalog_cache.cache_dir() / "catalog").glob("catalog-*.pickle"))


def test_the_second_process_reads_the_parsed_catalog(law: Path) -> None:
    loads = Loads()
    first = cached_catalog(law, loads)
    second = cached_catalog(law, loads)
    assert loads.calls == 1
    assert len(_files()) == 1
    assert repr(second) == repr(first) == repr(load_catalog(law))
    assert oct(_files()[0].stat().st_mode & 0o022) == "0o0"


def test_a_changed_law_file_is_never_served_stale(law: Path) -> None:
    loads = Loads()
    day = dt.date(2026, 1, 1)
    before = cached_catalog(law, loads)
    assert value_at("eu.billshock.default_limit_eur", day, before).value == Decimal("50")
    text = (law / LIMIT).read_text(encoding="utf-8")
    (law / LIMIT).write_text(text.replace('value: "50"', 'value: "60"'), encoding="utf-8")
    after = cached_catalog(law, loads)
    assert loads.calls == 2
    assert value_at("eu.billshock.default_limit_eur", day, after).value == Decimal("60")
    assert len(_files()) == 2  # the old catalog's file is kept (another checkout may use it)


def test_catalogs_used_in_turn_are_kept_up_to_keep_the_least_recently_used_removed(
    law: Path,
) -> None:
    loads = Loads()
    text = (law / LIMIT).read_text(encoding="utf-8")
    limits = [str(50 + k) for k in range(catalog_cache.KEEP + 1)]

    clock = [1_000_000_000.0]  # file times set by the test: one use per step, never a tie

    def use(limit: str) -> None:
        (law / LIMIT).write_text(text.replace('value: "50"', f'value: "{limit}"'), encoding="utf-8")
        cached_catalog(law, loads)
        clock[0] += 10.0
        used = _files()[0].parent / f"catalog-{catalog_cache.catalog_key(law)}.pickle"
        os.utime(used, (clock[0], clock[0]))

    for limit in limits[:-1]:
        use(limit)
    assert loads.calls == catalog_cache.KEEP
    for limit in limits[:-1]:  # in turn, like checkouts run one after the other
        use(limit)
    assert loads.calls == catalog_cache.KEEP  # every one read from the cache
    use(limits[0])  # read again: now the most recently used
    use(limits[-1])  # a new key: the least recently used file (limits[1]) goes
    assert loads.calls == catalog_cache.KEEP + 1
    assert len(_files()) == catalog_cache.KEEP
    use(limits[0])
    assert loads.calls == catalog_cache.KEEP + 1  # still cached
    use(limits[1])
    assert loads.calls == catalog_cache.KEEP + 2  # the least recently used was removed


def test_a_changed_loader_selects_another_cache_file(
    law: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = catalog_cache.catalog_key(law)
    changed = law / "loader-copy.py"
    changed.write_text("# the loader's source, changed\n", encoding="utf-8")
    monkeypatch.setattr(catalog_module, "__file__", str(changed))
    assert catalog_cache.catalog_key(law) != key


@pytest.mark.parametrize("damage", [b"", b"not a pickle", pickle.dumps({"a": 1})])
def test_an_unreadable_cache_file_is_rebuilt(law: Path, damage: bytes) -> None:
    loads = Loads()
    cached_catalog(law, loads)
    _files()[0].write_bytes(damage)
    again = cached_catalog(law, loads)
    assert loads.calls == 2
    assert isinstance(again, Catalog)
    assert isinstance(pickle.loads(_files()[0].read_bytes()), Catalog)


def test_a_cache_file_others_may_write_is_not_read(law: Path) -> None:
    loads = Loads()
    cached_catalog(law, loads)
    os.chmod(_files()[0], 0o666)
    cached_catalog(law, loads)
    assert loads.calls == 2


def test_no_writable_cache_directory_means_no_cache(
    law: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    loads = Loads()
    assert isinstance(cached_catalog(law, loads), Catalog)
    assert isinstance(cached_catalog(law, loads), Catalog)
    assert loads.calls == 2


def test_the_default_catalog_goes_through_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    # the function behind the per-process memo, which the rest of the session keeps
    built = catalog_module.default_catalog.__wrapped__()
    assert len(_files()) == 1
    assert repr(catalog_module.default_catalog.__wrapped__()) == repr(built)

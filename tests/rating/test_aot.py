"""The compiled pass built ahead of time (``roamlike.rating.aot``) and its fallback to the JIT.

One module is built per test session into a private cache (a C compiler is needed: skipped
locally without gcc, a failure under CI). The engine gives the same rated rows, rejects,
notifications and counters with either implementation; a missing, disabled, stale or broken
build, or an argument of another type than the one it was built for, falls back to the JIT.
"""

from __future__ import annotations

import datetime as dt
import importlib.machinery
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest
from polars.testing import assert_frame_equal

from conftest import in_ci, require
from roamlike.rating import aot, passes, rate_usage
from roamlike.synth import generate
from roamlike.tariffs import FxTable
from roamlike.tariffs.schema import parse_plan


@pytest.fixture(scope="module")
def build_and_system_temp(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The folder of a module built for the current sources, and the folder that was Python's
    temporary folder during the build."""
    require("gcc")
    if importlib.util.find_spec("setuptools") is None:  # numba.pycc compiles through it
        message = "needs setuptools (numba.pycc's compiler driver) in the environment"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    system_temp = tmp_path_factory.mktemp("system-temp")
    before = tempfile.tempdir
    tempfile.tempdir = str(system_temp)
    try:
        return aot.build(tmp_path_factory.mktemp("aot") / "module"), system_temp
    finally:
        tempfile.tempdir = before


@pytest.fixture(scope="module")
def built(build_and_system_temp: tuple[Path, Path]) -> Path:
    """The folder of a module built for the current sources."""
    return build_and_system_temp[0]


def test_a_build_leaves_nothing_in_the_temporary_folder(
    build_and_system_temp: tuple[Path, Path],
) -> None:
    # numba.pycc's compiler checks left a folder (temp.cxx, temp.o) per check in /tmp
    folder, system_temp = build_and_system_temp
    assert list(system_temp.iterdir()) == []
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]


def _load(folder: Path) -> ModuleType:
    found = next(folder.glob(f"{aot.MODULE}*{importlib.machinery.EXTENSION_SUFFIXES[0]}"))
    spec = importlib.util.spec_from_file_location(aot.MODULE, found)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def use(monkeypatch: pytest.MonkeyPatch) -> Any:
    """Make this process's pass the given implementation for the test."""

    def chosen(implementation: Any) -> None:
        monkeypatch.setattr(passes, "_chosen", [implementation])

    return chosen


def _rate() -> Any:
    made = generate(4000, seed=5, start=dt.date(2026, 3, 1), months=2)
    plans = {p.id: p for p in (parse_plan(raw) for raw in made.plans)}
    return rate_usage(made.usage, plans, FxTable.from_rows(made.fx_rows))


def test_the_engine_rates_alike_with_the_ahead_of_time_pass_and_the_jit(
    built: Path, use: Any
) -> None:
    module = _load(built)
    use(module)
    assert passes.uses_aot()
    ahead = _rate()
    use(passes._jit())
    assert not passes.uses_aot()
    jit = _rate()
    assert ahead.rated.height > 3000
    for name in ("rated", "rejects", "notifications"):
        assert_frame_equal(getattr(ahead, name), getattr(jit, name))
    assert_frame_equal(ahead.counters.periods, jit.counters.periods)
    assert_frame_equal(ahead.counters.subscribers, jit.counters.subscribers)


def test_the_signatures_are_those_the_jit_compiles_for(built: Path) -> None:
    # the JIT records the types the engine passes; the ahead-of-time module is built for the
    # same ones (element type, dimensions, C layout; some arrays are passed as readonly views)
    from numba.core import sigutils, types

    from roamlike.rating import kernel

    def shape(t: Any) -> tuple[str, int, str] | str:
        return (str(t.dtype), t.ndim, t.layout) if isinstance(t, types.Array) else str(t)

    _rate()
    for name, letters in aot.SIGNATURES.items():
        declared = sigutils._parse_signature_string(aot._numba_signature(letters))
        seen = [[shape(t) for t in sig] for sig in getattr(kernel, f"_{name}").signatures]
        assert [shape(t) for t in declared.args] in seen, name


def test_an_argument_of_another_type_runs_on_the_jit(built: Path, use: Any) -> None:
    # the exported functions would read a strided or int32 array as the declared type: the
    # call is checked and goes to the JIT function instead
    use(_load(built))
    strided = np.array([1, 9, 2, 8, 3, 7], dtype=np.int64)[::2]
    assert passes.ascending(strided)
    assert not passes.ascending(np.array([3, 1], dtype=np.int32))
    assert passes.ascending(np.array([1, 2], dtype=np.int64))
    assert not passes._fits("i>?", (strided,))
    assert not passes._fits("in>i", (np.zeros(1, np.int64), 2**63))
    assert not passes._fits("i>?", ())
    assert passes._fits("in>i", (np.zeros(1, np.int64), np.int64(3)))


def test_load_finds_the_module_only_for_the_current_key(
    built: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    monkeypatch.delenv(aot.ENV_SWITCH, raising=False)
    assert aot.load() is None  # not built
    target = aot.folder()
    target.parent.mkdir(parents=True)
    target.symlink_to(built, target_is_directory=True)
    assert aot.load() is not None
    monkeypatch.setenv(aot.ENV_SWITCH, "0")
    assert aot.load() is None  # disabled
    monkeypatch.setenv(aot.ENV_SWITCH, "1")
    monkeypatch.setenv("NUMBA_DISABLE_JIT", "1")
    assert aot.load() is None  # the pass runs as Python
    monkeypatch.delenv("NUMBA_DISABLE_JIT")
    # another NumPy (or Numba, Python, or source) gives another key: the old build is stale
    monkeypatch.setattr(aot.np, "__version__", aot.np.__version__ + ".other")
    assert aot.folder() != target
    assert aot.load() is None


def test_the_key_follows_numbas_version_without_importing_numba(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from types import SimpleNamespace

    before = aot.key()
    other = tmp_path / "numba"
    other.mkdir()
    (other / "_version.py").write_text('version_json = \'{"version": "9.9"}\'\n')
    fake = SimpleNamespace(submodule_search_locations=[str(other)])
    monkeypatch.setattr(aot.importlib.util, "find_spec", lambda name: fake)
    assert aot.key() != before
    monkeypatch.setattr(aot.importlib.util, "find_spec", lambda name: None)
    assert aot.key() != before


def test_a_broken_module_is_not_loaded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    monkeypatch.delenv(aot.ENV_SWITCH, raising=False)
    target = aot.folder()
    target.mkdir(parents=True)
    (target / f"{aot.MODULE}{importlib.machinery.EXTENSION_SUFFIXES[0]}").write_bytes(b"junk")
    assert aot.load() is None


def test_a_build_removes_the_temporary_folders_of_killed_builds(tmp_path: Path) -> None:
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    killed = tmp_path / f".build-{gone}-x1"
    running = tmp_path / f".build-{os.getpid()}-x2"
    for folder in (killed, running):
        folder.mkdir()
        (folder / "part.o").write_bytes(b"")
    aot._sweep(tmp_path)
    assert not killed.exists()
    assert running.exists()


def _no_compiler(target: Path | None = None) -> Path:
    """A build on a machine without a C compiler."""
    raise RuntimeError("no C compiler")


def _record_background_builds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Builds enabled, the cache in ``tmp_path``; the commands of the background builds that
    :func:`aot.build_in_background` starts are recorded instead of run."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("NUMBA_DISABLE_JIT", raising=False)
    monkeypatch.delenv(aot.ENV_SWITCH, raising=False)
    started: list[list[str]] = []
    monkeypatch.setattr(aot.subprocess, "Popen", lambda args, **kw: started.append(args))
    return started


def test_a_failed_build_says_why_and_removes_its_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(aot, "build", _no_compiler)
    lock = tmp_path / "x.lock"
    lock.touch()
    assert aot.main(["--lock", str(lock)]) == 1
    assert "not built (no C compiler)" in capsys.readouterr().out
    assert not lock.exists()


def test_a_failed_background_build_is_not_started_again_by_the_next_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without a C compiler every run would otherwise start a failing build as it ends."""
    started = _record_background_builds(tmp_path, monkeypatch)
    monkeypatch.setattr(aot, "build", _no_compiler)
    assert aot.build_in_background()
    assert aot.main(started[0][3:]) == 1  # the background build, run here: it fails
    assert aot.failed_marker(aot.folder()).read_text(encoding="utf-8") == "no C compiler\n"
    assert not aot.build_in_background()  # not again for this key
    built = tmp_path / "built"
    monkeypatch.setattr(aot, "build", lambda target=None: built)
    assert aot.main([]) == 0  # an explicit build (make install) tries again and clears it
    assert not aot.failed_marker(aot.folder()).exists()
    assert aot.build_in_background()
    assert len(started) == 2


def test_build_in_background_starts_one_build_at_a_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started = _record_background_builds(tmp_path, monkeypatch)
    assert aot.build_in_background()
    assert started[0][1:3] == ["-m", "roamlike.rating.aot"]
    assert not aot.build_in_background()  # its lock is there: a build is running
    lock = Path(started[0][-1])
    lock.unlink()
    aot.folder().mkdir(parents=True)
    assert not aot.build_in_background()  # built
    monkeypatch.setenv(aot.ENV_SWITCH, "0")
    aot.folder().rmdir()
    assert not aot.build_in_background()  # disabled
    assert len(started) == 1


def test_the_command_runs_without_numba_once_the_module_is_built(
    built: Path, tmp_path: Path
) -> None:
    # a process that finds the module never imports Numba (nor LLVM)
    probe = (
        "import sys, numpy as np\n"
        "from roamlike.rating import passes\n"
        "print(passes.uses_aot(), passes.ascending(np.arange(3)), 'numba' in sys.modules)\n"
    )
    env = {"XDG_CACHE_HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    script = "from roamlike.rating import aot; print(aot.folder())"
    where = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True
    ).stdout.strip()
    Path(where).parent.mkdir(parents=True)
    Path(where).symlink_to(built, target_is_directory=True)
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert done.stdout.split() == ["True", "True", "False"], done.stderr

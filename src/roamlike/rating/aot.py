"""The compiled pass built ahead of time: a plain extension module, loaded without Numba.

Importing Numba and loading the pass's cached JIT code takes about half a CPU-second of Python
byte code at the start of every run (docs/rating.md §7c). The same functions
(``roamlike.rating.kernel``) compiled by Numba's ahead-of-time compiler (``numba.pycc``, C
compiler: gcc) make an extension module that imports in a millisecond and needs neither Numba
nor LLVM. It is built once per user and per version of its sources, into
``roamlike.user_cache.cache_dir() / "aot" / KEY`` (``KEY``: a SHA-256 of the kernel's sources,
this module, and the Python, NumPy and Numba versions, so a build is never stale), by
``python -m roamlike.rating.aot`` (``make install`` runs it; ``roamlike rate`` starts it in the
background after a run that had to use the JIT). It is never required: when it is missing, does
not load, or an argument does not have the exact type it was built for, the JIT pass runs
instead (``roamlike.rating.passes``); both give the same results (tested).

The exported functions do not check their arguments' types (a wrong one would be read as the
declared type), so :data:`SIGNATURES` is checked by ``roamlike.rating.passes`` before each call.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import ModuleType
from typing import Any, Final

import numpy as np

from roamlike.user_cache import cache_dir

#: The extension module's name.
MODULE: Final = "roamlike_kernel_aot"
#: Set to ``0`` to never load (nor build in the background) the ahead-of-time module.
ENV_SWITCH: Final = "ROAMLIKE_AOT"
#: Argument types of each exported function, one letter per argument: ``i`` int64, ``b`` bool,
#: ``w`` int32, ``c`` int8 (C-contiguous 1-D arrays), ``m`` a C-contiguous 2-D int64 array,
#: ``n`` an integer; after ``>`` the result (``-`` none, ``4i`` four int64 arrays, ``?`` bool).
SIGNATURES: Final = {
    "number_groups": "iiiin>4i",
    "sort_runs_by_subscriber": "iibi>-",
    "tie_runs": "iiib>i",
    "ascending": "i>?",
    # inputs (marks.WALK_INPUTS), state (marks.WALK_STATE), outputs (passes.walk)
    "walk": "iiibiibiiiibiibbiiiiiibbbiiiiibmiiiiiwiiiiiiibbc>-",
}
#: A build older than this [s] whose lock is still there was killed: it may be started again.
_STALE_LOCK_S = 600.0
#: The sources the machine code is compiled from (relative to the ``roamlike`` package).
_SOURCES = ("rating/kernel.py", "rating/marks.py", "rating/aot.py", "money.py", "counters.py")


def key() -> str:
    """The build's key: SHA-256 of its sources and of the Python, NumPy and Numba versions."""
    package = Path(__file__).resolve().parent.parent
    digest = hashlib.sha256()
    for name in _SOURCES:
        digest.update(name.encode() + b"\0" + (package / name).read_bytes() + b"\0")
    # Numba's version file, read without importing Numba (nor importlib.metadata: a run that
    # loads the module imports neither)
    numba = importlib.util.find_spec("numba")
    if numba is not None and numba.submodule_search_locations:
        version = Path(next(iter(numba.submodule_search_locations))) / "_version.py"
        digest.update(version.read_bytes() if version.is_file() else b"numba: no version file")
    else:
        digest.update(b"numba: not installed")
    digest.update(f"\0numpy={np.__version__}\0{sys.version}\0".encode())
    digest.update(importlib.machinery.EXTENSION_SUFFIXES[0].encode())
    return digest.hexdigest()[:32]


def folder() -> Path:
    """Where the module of the current sources lives (it may not be built)."""
    return cache_dir() / "aot" / key()


def enabled() -> bool:
    """False when ``ROAMLIKE_AOT=0`` (the JIT pass only) or ``NUMBA_DISABLE_JIT=1`` (the pass
    runs as Python, as Numba's switch asks)."""
    return os.environ.get(ENV_SWITCH, "1") != "0" and os.environ.get("NUMBA_DISABLE_JIT") != "1"


def load() -> ModuleType | None:
    """The ahead-of-time module of the current sources, or None (not built, disabled, or it
    cannot be loaded: the caller then uses the JIT pass)."""
    if not enabled():
        return None
    try:
        found = sorted(folder().glob(f"{MODULE}*{importlib.machinery.EXTENSION_SUFFIXES[0]}"))
        if not found:
            return None
        spec = importlib.util.spec_from_file_location(MODULE, found[0])
        if spec is None or spec.loader is None:
            return None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    except Exception:  # any failure means: use the JIT pass
        return None
    if not all(callable(getattr(module, name, None)) for name in SIGNATURES):
        return None
    return module


def _numba_signature(letters: str) -> str:
    arrays = {"i": "i8[::1]", "b": "b1[::1]", "w": "i4[::1]", "c": "i1[::1]", "m": "i8[:, ::1]"}
    args, result = letters.split(">")
    returns = {"-": "none", "?": "b1", "i": "i8[::1]", "4i": "UniTuple(i8[::1], 4)"}[result]
    types = [arrays.get(a, "i8") for a in args]
    return f"{returns}({', '.join(types)})"


def _sweep(parent: Path) -> None:
    """Remove the temporary folders of builds whose process no longer runs (killed builds)."""
    for entry in parent.glob(".build-*-*"):
        try:
            pid = int(entry.name.split("-")[1])
            os.kill(pid, 0)
        except ProcessLookupError:
            shutil.rmtree(entry, ignore_errors=True)
        except (ValueError, OSError):  # not ours, or a live process of another user
            continue


def build(target: Path | None = None) -> Path:
    """Compile the module into ``target`` (default :func:`folder`), atomically.

    The module is compiled in a temporary folder beside ``target``, which is then renamed: a
    reader sees either no module or a whole one. Needs Numba and a C compiler.

    Returns
    -------
    pathlib.Path
        The folder holding the module.
    """
    import warnings

    from roamlike.rating import kernel

    target = target or folder()
    target.parent.mkdir(parents=True, exist_ok=True)
    _sweep(target.parent)
    work = Path(tempfile.mkdtemp(prefix=f".build-{os.getpid()}-", dir=target.parent))
    # numba.pycc's compiler checks make temporary folders of their own and never remove them:
    # the build points Python's temporary folder at a scratch folder of its own meanwhile (swept
    # like ``work`` if the build is killed)
    scratch = Path(tempfile.mkdtemp(prefix=f".build-{os.getpid()}-scratch-", dir=target.parent))
    system_temp = tempfile.tempdir
    tempfile.tempdir = str(scratch)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # numba.pycc: pending deprecation, still shipped
            pycc: Any = importlib.import_module("numba.pycc")  # untyped

            cc = pycc.CC(MODULE)
        cc.output_dir = str(work)
        cc.verbose = False
        for name, letters in SIGNATURES.items():
            compiled = getattr(kernel, f"_{name}")
            cc.export(name, _numba_signature(letters))(compiled.py_func)
        cc.compile()
        try:
            os.replace(work, target)
        except OSError:
            if not target.is_dir():  # else built meanwhile by another process: keep that one
                raise
    finally:
        tempfile.tempdir = system_temp
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def failed_marker(target: Path) -> Path:
    """The file a failed background build of ``target`` leaves (its reason): later runs start no
    build for the same key; ``python -m roamlike.rating.aot`` (or ``make install``) tries again."""
    return target.with_name(target.name + ".failed")


def build_in_background() -> bool:
    """Start ``python -m roamlike.rating.aot`` detached, unless the module is there, a build is
    running (its lock file), a background build of the same key failed (no C compiler, say:
    :func:`failed_marker`) or the module is disabled. Returns whether a build was started."""
    if not enabled():
        return False
    with contextlib.suppress(OSError):
        target = folder()
        if target.is_dir() or failed_marker(target).exists():
            return False
        lock = target.with_name(target.name + ".lock")
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(OSError):
            if time.time() - lock.stat().st_mtime > _STALE_LOCK_S:
                lock.unlink()
        try:
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            return False
        subprocess.Popen(  # this interpreter, this module
            [sys.executable, "-m", "roamlike.rating.aot", "--lock", str(lock)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
        return True
    return False


def main(argv: list[str] | None = None) -> int:
    """``python -m roamlike.rating.aot [--lock FILE]``: build the module (0), or say why not (1)."""
    args = list(sys.argv[1:] if argv is None else argv)
    lock = Path(args[args.index("--lock") + 1]) if "--lock" in args else None
    marker = failed_marker(folder())
    try:
        where = build()
    except Exception as exc:  # the JIT pass stays in use; say why
        print(f"roamlike: the ahead-of-time pass was not built ({exc}); the JIT pass is used")
        if lock is not None:  # a background build: the next runs do not try again
            with contextlib.suppress(OSError):
                marker.parent.mkdir(parents=True, exist_ok=True)
                marker.write_text(f"{exc}\n", encoding="utf-8")
        return 1
    finally:
        if lock is not None:
            with contextlib.suppress(OSError):
                lock.unlink()
    with contextlib.suppress(OSError):
        marker.unlink(missing_ok=True)
    print(f"roamlike: ahead-of-time pass built in {where}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""The per-user directory of roamlike's caches (compiled code, the parsed law catalog and plans).

Parsed inputs (the law catalog, ``roamlike.law.catalog_cache``; plans files,
``roamlike.tariffs.plans_cache``) are kept as pickles named after a SHA-256 of everything they
were parsed from, so a cache file is never stale. :func:`read_pickle` and :func:`write_pickle`
hold the rules both follow: a file is written atomically (a temporary name, then a rename) and
read only when it belongs to the current user and nobody else may write it; one that cannot be
read is ignored (the input is parsed and the file written again); a directory that cannot be
written just means no cache; the files of the few most recently used keys are kept.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import os
import pickle
import stat
import sys
import uuid
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from types import ModuleType
from typing import TypeVar

T = TypeVar("T")


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/roamlike``, or ``~/.cache/roamlike`` when that variable is unset.

    Read at each call, so a changed environment selects another directory.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "roamlike"


def _roamlike_version() -> str:
    try:
        return metadata.version("roamlike")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def cache_key(parts: Iterable[str | bytes], modules: Iterable[ModuleType] = ()) -> str:
    """The SHA-256 (hex) naming a cache file: of roamlike's and Python's versions, the pickle
    protocol, the source of ``modules`` (the parser's own code) and ``parts`` (what was parsed).
    """
    digest = hashlib.sha256()
    fixed = (_roamlike_version(), sys.version, str(pickle.HIGHEST_PROTOCOL))
    sources = (Path(str(module.__file__)).read_bytes() for module in modules)
    for part in itertools.chain(fixed, sources, parts):
        digest.update((part.encode() if isinstance(part, str) else part) + b"\0")
    return digest.hexdigest()


def read_pickle(path: Path, kind: type[T]) -> T | None:
    """The ``kind`` object pickled in ``path``, or None when the file is missing, not safely
    ours (another owner, or writable by others), unreadable or of another type. A file read
    is marked used (its time), so that it is the last one :func:`write_pickle` removes."""
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
            found = pickle.load(handle)
    except Exception:  # any defect of the cache means: parse the input again
        return None
    if not isinstance(found, kind):
        return None
    with contextlib.suppress(OSError):
        os.utime(path)  # used now: the last to be removed
    return found


def write_pickle(path: Path, value: object, keep: int) -> None:
    """Write ``value`` to ``path`` atomically; of the files in its folder with the same prefix
    (the name up to its last ``-``) and suffix, keep the ``keep`` most recently used."""
    folder = path.parent
    prefix, suffix = path.name.rsplit("-", 1)[0] + "-", path.suffix
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            with tmp.open("xb") as handle:
                pickle.dump(value, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        others = [old for old in folder.glob(f"{prefix}*{suffix}") if old != path]
        for old in sorted(others, key=_used, reverse=True)[keep - 1 :]:
            with contextlib.suppress(OSError):
                old.unlink()
    except OSError:
        return  # no cache this time; the parsed value itself is fine


def _used(path: Path) -> float:
    """When the cache file ``path`` was last written or read (0 when it is gone)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0

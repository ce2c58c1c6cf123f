"""A per-user cache of the parsed built-in catalog, so that a run does not parse the YAML again.

Parsing and validating the catalog's YAML takes about half a second per process; reading the
parsed catalog back takes milliseconds. The cache lives in the per-user directory of roamlike's
caches (``$XDG_CACHE_HOME/roamlike`` or ``~/.cache/roamlike``, beside the compiled-code cache of
``roamlike.rating.kernel``), in ``catalog/``.

It is never stale: the file's name is a SHA-256 over roamlike's version, Python's version, the
catalog directory, the loader's own source and the path and bytes of every file of the catalog,
so any change to a law file or to the loader selects another file. A cache file is written
atomically (a temporary name, then a rename) and only read when it belongs to the current user
and nobody else may write it; one that cannot be read is ignored, and the catalog is parsed and
the file written again. A directory that cannot be written just means no cache.

The files of the :data:`KEEP` most recently used keys are kept (a read marks its file used), so
that several checkouts or installed versions of roamlike on one machine, run in turn, do not
evict each other's catalog; older files are removed when a new one is written.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import pickle
import stat
import sys
import uuid
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from roamlike.law import catalog as catalog_module
from roamlike.law import strict_yaml
from roamlike.law.catalog import CATALOG_DIR, Catalog, load_catalog
from roamlike.user_cache import cache_dir

_PREFIX = "catalog-"
_SUFFIX = ".pickle"

#: How many catalogs (keys) the cache keeps, the most recently used.
KEEP = 4


def _version() -> str:
    try:
        return metadata.version("roamlike")
    except metadata.PackageNotFoundError:  # pragma: no cover - run from a source tree
        return "unknown"


def catalog_key(root: Path = CATALOG_DIR) -> str:
    """The SHA-256 (hex) that names the cache file of the catalog below ``root``."""
    digest = hashlib.sha256()
    for part in (_version(), sys.version, str(root.resolve()), str(pickle.HIGHEST_PROTOCOL)):
        digest.update(part.encode() + b"\0")
    for module in (catalog_module, strict_yaml):
        digest.update(Path(str(module.__file__)).read_bytes() + b"\0")
    for path in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".pyc"):
        digest.update(path.relative_to(root).as_posix().encode() + b"\0")
        digest.update(path.read_bytes() + b"\0")
    return digest.hexdigest()


def _read(path: Path) -> Catalog | None:
    """The catalog in ``path``, or None when it is missing, not safely ours, or unreadable."""
    try:
        with path.open("rb") as handle:
            info = os.fstat(handle.fileno())
            if info.st_uid != os.getuid() or info.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                return None
            found = pickle.load(handle)
    except Exception:  # any defect of the cache means: parse the YAML again
        return None
    return found if isinstance(found, Catalog) else None


def _write(folder: Path, path: Path, catalog: Catalog) -> None:
    """Write ``catalog`` to ``path`` atomically; keep only the :data:`KEEP` latest used files."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = folder / f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp"
        try:
            with tmp.open("xb") as handle:
                pickle.dump(catalog, handle, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        finally:
            with contextlib.suppress(OSError):
                tmp.unlink()
        others = [old for old in folder.glob(f"{_PREFIX}*{_SUFFIX}") if old != path]
        for old in sorted(others, key=_used, reverse=True)[KEEP - 1 :]:
            with contextlib.suppress(OSError):
                old.unlink()
    except OSError:
        return  # no cache this time; the catalog itself is fine


def _used(path: Path) -> float:
    """When the cache file ``path`` was last written or read (0 when it is gone)."""
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def cached_catalog(
    root: Path = CATALOG_DIR, load: Callable[[Path], Catalog] = load_catalog
) -> Catalog:
    """The catalog below ``root``, from the cache when it holds this very catalog.

    Parameters
    ----------
    root : Path
        The catalog directory.
    load : callable
        Parses the catalog when the cache cannot give it (default :func:`load_catalog`).

    Raises
    ------
    ParameterFileError
        A catalog file is invalid (as :func:`load_catalog`; nothing is cached then).
    """
    try:
        key = catalog_key(root)
    except OSError:
        return load(root)
    folder = cache_dir() / "catalog"
    path = folder / f"{_PREFIX}{key}{_SUFFIX}"
    found = _read(path)
    if found is not None:
        with contextlib.suppress(OSError):
            os.utime(path)  # used now: the last to be removed
        return found
    catalog = load(root)
    _write(folder, path, catalog)
    return catalog

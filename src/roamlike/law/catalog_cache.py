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

from collections.abc import Callable
from pathlib import Path

from roamlike.law import catalog as catalog_module
from roamlike.law import strict_yaml
from roamlike.law.catalog import CATALOG_DIR, Catalog, load_catalog
from roamlike.user_cache import cache_dir, cache_key, read_pickle, write_pickle

_PREFIX = "catalog-"
_SUFFIX = ".pickle"

#: How many catalogs (keys) the cache keeps, the most recently used.
KEEP = 4


def catalog_key(root: Path = CATALOG_DIR) -> str:
    """The SHA-256 (hex) that names the cache file of the catalog below ``root``."""
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".pyc")
    parts: list[str | bytes] = [str(root.resolve())]
    for path in files:
        parts += (path.relative_to(root).as_posix(), path.read_bytes())
    return cache_key(parts, (catalog_module, strict_yaml))


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
    found = read_pickle(path, Catalog)
    if found is not None:
        return found
    catalog = load(root)
    write_pickle(path, catalog, KEEP)
    return catalog

"""A per-user cache of parsed plans files, so that a run does not parse the same YAML again.

``roamlike rate`` parses its plans file on the main thread before the first batch can start,
while the input is read on another (docs/rating.md §7c): parsing and validating the benchmark's
56 plans (39 kB of YAML) takes about 0.12 CPU-s of pure Python, reading them back from the cache
a few milliseconds. The cache lives in the per-user directory of roamlike's caches
(``roamlike.user_cache``), in ``plans/``, under the rules of the catalog's cache.

It is never stale: the file's name is a SHA-256 over roamlike's and Python's versions, the
loader's own source (``roamlike.tariffs.schema``, ``roamlike.law.strict_yaml``), the file's
format and its bytes. A file that fails to parse is never cached: its error is raised as by
:func:`~roamlike.tariffs.load_plans`, with the same message, on every run.
"""

from __future__ import annotations

from pathlib import Path

from roamlike.errors import TariffError
from roamlike.law import strict_yaml
from roamlike.tariffs import schema
from roamlike.tariffs.schema import Plan, load_plans, parse_plans
from roamlike.user_cache import cache_dir, cache_key, read_pickle, write_pickle

#: How many plans files (keys) the cache keeps, the most recently used.
KEEP = 8
#: Plans file formats by extension (``load_plans`` refuses any other).
_FORMATS = {".yaml": "yaml", ".yml": "yaml", ".json": "json"}


def plans_key(path: Path, content: bytes) -> str:
    """The SHA-256 (hex) that names the cache file of a plans file's ``content``."""
    return cache_key([path.suffix.lower(), content], (schema, strict_yaml))


def cached_plans(path: Path | str) -> dict[str, Plan]:
    """:func:`~roamlike.tariffs.load_plans` of ``path``, from the cache when it holds the plans
    of these very bytes.

    The bytes read are the ones parsed (as text with universal newlines, as ``load_plans``
    reads it) and hashed; anything that does not parse is left to ``load_plans``, which then
    reads the file again and raises its own error.

    Raises
    ------
    TariffError
        As :func:`~roamlike.tariffs.load_plans` (nothing is cached then).
    """
    path = Path(path)
    fmt = _FORMATS.get(path.suffix.lower())
    if fmt is None:
        return load_plans(path)  # refuses the file type
    try:
        content = path.read_bytes()
        text = content.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return load_plans(path)  # reports the file as it does
    target = cache_dir() / "plans" / f"plans-{plans_key(path, content)}.pickle"
    found = read_pickle(target, dict)
    if found is not None and all(isinstance(p, Plan) for p in found.values()):
        return found
    try:
        plans = parse_plans(text.replace("\r\n", "\n").replace("\r", "\n"), fmt, str(path))
    except TariffError:
        return load_plans(path)  # raises the error a run without the cache raises
    write_pickle(target, plans, KEEP)
    return plans

"""A per-user cache of parsed plans files, so that a run does not parse the same YAML again.

``roamlike rate`` parses its plans file on the main thread before the first batch can start,
while the input is read on another (docs/rating.md §7c): parsing and validating the benchmark's
56 plans (39 kB of YAML) takes about 0.12 CPU-s of pure Python, reading them back from the cache
a few milliseconds. The cache lives in the per-user directory of roamlike's caches
(``roamlike.user_cache``), in ``plans/``, under the rules of the catalog's cache.

It is never stale: the file's name is a SHA-256 over roamlike's and Python's versions, the
loader's own source (``roamlike.tariffs.schema``, ``roamlike.law.strict_yaml``), the file's
format and its text. A file that fails to parse is never cached: its error is raised as by
:func:`~roamlike.tariffs.load_plans`, with the same message, on every run.
"""

from __future__ import annotations

from pathlib import Path

from roamlike.law import strict_yaml
from roamlike.tariffs import schema
from roamlike.tariffs.schema import Plan, parse_plans, read_plans_text
from roamlike.user_cache import cache_dir, cache_key, read_pickle, write_pickle

#: How many plans files (keys) the cache keeps, the most recently used.
KEEP = 8


def plans_key(fmt: str, text: str) -> str:
    """The SHA-256 (hex) that names the cache file of a plans file's ``text`` in ``fmt``."""
    return cache_key([fmt, text], (schema, strict_yaml))


def cached_plans(path: Path | str) -> dict[str, Plan]:
    """:func:`~roamlike.tariffs.load_plans` of ``path``, from the cache when it holds the plans
    of this very text.

    The file is read as ``load_plans`` reads it (:func:`~roamlike.tariffs.schema.
    read_plans_text`), and its text is both hashed and parsed, so a file is read once.

    Raises
    ------
    TariffError
        As :func:`~roamlike.tariffs.load_plans`, with the same messages (nothing is cached then).
    """
    path = Path(path)
    text, fmt = read_plans_text(path)
    target = cache_dir() / "plans" / f"plans-{plans_key(fmt, text)}.pickle"
    found = read_pickle(target, dict)
    if found is not None and all(isinstance(p, Plan) for p in found.values()):
        return found
    plans = parse_plans(text, fmt, str(path))
    write_pickle(target, plans, KEEP)
    return plans

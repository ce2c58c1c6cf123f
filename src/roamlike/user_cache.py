"""The per-user directory of roamlike's caches (compiled code, the parsed law catalog)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """``$XDG_CACHE_HOME/roamlike``, or ``~/.cache/roamlike`` when that variable is unset.

    Read at each call, so a changed environment selects another directory.
    """
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "roamlike"

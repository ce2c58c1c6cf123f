"""Test-session rules shared by every test module.

Tests that need a real component (a PostgreSQL server, Chromium, Java for Spark) are marked
``postgres``, ``browser`` or ``spark`` and call :func:`require` for what they need. Locally a
missing component skips them with the command that installs it (``scripts/system-packages.sh``);
under CI (``CI=true``) a missing component fails them, so they are never skipped there.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    """True when the suite runs under CI (``CI=true``), where nothing may be skipped."""
    return os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require(*commands: str) -> None:
    """Skip (locally) or fail (in CI) unless every command is on PATH.

    Parameters
    ----------
    commands : str
        Executables the test needs, e.g. ``"pg_ctl"``, ``"chromium"``, ``"java"``.
    """
    missing = [c for c in commands if shutil.which(c) is None]
    if not missing:
        return
    message = f"needs {', '.join(missing)}: run scripts/system-packages.sh (make test does)"
    if in_ci():
        pytest.fail(message)
    pytest.skip(message)

"""The suite's ``tests/conftest.py`` loaded by path, for helper modules of test folders.

``from conftest import …`` finds whichever conftest pytest imported last (``tests/service`` has
its own), so helpers import ``require`` and ``in_ci`` from here instead.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType


def _suite_conftest() -> ModuleType:
    path = Path(__file__).parent / "conftest.py"
    spec = importlib.util.spec_from_file_location("roamlike_suite_conftest", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_CONFTEST = _suite_conftest()
require = _CONFTEST.require
in_ci = _CONFTEST.in_ci

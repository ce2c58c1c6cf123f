"""The examples in the docstrings of the simulate modules run and hold."""

from __future__ import annotations

import doctest
import importlib

import pytest

MODULES = ("roamlike.simulate.caps", "roamlike.report.simulate_html", "roamlike.synth.areas")


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name: str) -> None:
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0

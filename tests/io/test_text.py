"""The one atomic text writer (``roamlike.io.text``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from roamlike.errors import OutputError
from roamlike.io.text import write_text_atomic


def test_writes_replaces_and_leaves_no_temporary_file(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    write_text_atomic(target, "first\n")
    write_text_atomic(target, "second, ünïcode\n")
    assert target.read_bytes() == "second, ünïcode\n".encode()
    assert [p.name for p in tmp_path.iterdir()] == ["report.html"]


def test_missing_directory_is_an_output_error(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "report.html"
    with pytest.raises(OutputError, match=r"report\.html: cannot write"):
        write_text_atomic(target, "x")
    assert not (tmp_path / "missing").exists()

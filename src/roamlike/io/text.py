"""The one atomic writer of text files (reports, plans, FX tables, JSON): a temporary name, then a
rename, so a reader or a crash sees the old file or the new one, never half of one."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from roamlike.errors import OutputError


def write_text_atomic(path: Path, text: str) -> None:
    """Write ``text`` (UTF-8, ``\\n`` line ends) to ``path`` via a temporary file and a rename.

    Raises
    ------
    OutputError
        The directory is missing or not writable.
    """
    # A fresh name next to the target, opened exclusively: same file system (atomic rename)
    # and the user's umask for the permissions.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{uuid.uuid4().hex}.tmp")
    try:
        with tmp.open("x", encoding="utf-8", newline="\n") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise OutputError(f"{path}: cannot write: {exc.strerror or exc}") from exc

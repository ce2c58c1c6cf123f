"""The run ledger: which inputs were rated into the store, and the outputs each run wrote.

An input is identified by the sha256 of its bytes: the same file (under any name) is never
counted twice. Outputs are written first under *pending* names beside their destination, their
checksums recorded in the ledger in the same transaction as the counters, and only then moved
into place; so a run killed at any moment either left the store untouched (rerun it) or committed
it with its pending outputs on disk (the rerun finishes the moves, see :func:`finish_outputs`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from roamlike.errors import AlreadyRatedError, UsageInputError
from roamlike.state.store import Transaction

_CHUNK = 1 << 20


@dataclass(frozen=True)
class Fingerprint:
    """An input file's identity: sha256 of its bytes and its size [B]."""

    sha256: str
    size_bytes: int


def file_sha256(path: Path) -> str:
    """sha256 (hex) of a file's bytes, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def fingerprint(path: Path) -> Fingerprint:
    """The sha256 and size of an input file.

    Raises
    ------
    UsageInputError
        The file cannot be read.
    """
    try:
        return Fingerprint(file_sha256(path), path.stat().st_size)
    except OSError as exc:
        raise UsageInputError(f"{path}: cannot read usage records: {exc.strerror or exc}") from exc


def pending_path(final: Path, sha256: str) -> Path:
    """Where an output is written before the store commits (same folder and extension)."""
    return final.with_name(f".{final.stem}.pending-{sha256[:16]}{final.suffix}")


def fsync_file(path: Path) -> None:
    """Flush a written file to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (renames) to disk."""
    fd = os.open(folder if str(folder) else Path("."), os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass(frozen=True)
class LedgerRun:
    """One row of ``state_runs``."""

    run_id: str
    input_name: str
    input_sha256: str
    input_bytes: int
    input_rows: int
    started_at: str
    finished_at: str
    rated: int
    rejected: int
    late: int
    notifications: int
    outputs: dict[str, dict[str, str]]
    options: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        """The row as a JSON-ready mapping."""
        return {
            "run_id": self.run_id,
            "input": {
                "name": self.input_name,
                "sha256": self.input_sha256,
                "bytes": self.input_bytes,
                "rows": self.input_rows,
            },
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "counts": {
                "read": self.input_rows,
                "rated": self.rated,
                "rejected": self.rejected,
                "late": self.late,
                "notifications": self.notifications,
            },
            "outputs": self.outputs,
            "options": self.options,
        }


_COLUMNS = (
    "run_id, input_name, input_sha256, input_bytes, input_rows, started_at, finished_at, "
    "rated, rejected, late, notifications, outputs_json, options_json"
)


def _row(r: tuple[Any, ...]) -> LedgerRun:
    return LedgerRun(
        run_id=str(r[0]),
        input_name=str(r[1]),
        input_sha256=str(r[2]),
        input_bytes=int(r[3]),
        input_rows=int(r[4]),
        started_at=str(r[5]),
        finished_at=str(r[6]),
        rated=int(r[7]),
        rejected=int(r[8]),
        late=int(r[9]),
        notifications=int(r[10]),
        outputs=json.loads(r[11]),
        options=json.loads(r[12]),
    )


def find_run(tx: Transaction, sha256: str, tenant: str = "") -> LedgerRun | None:
    """The run that rated an input with this sha256, if any."""
    rows = tx.execute(
        f"SELECT {_COLUMNS} FROM state_runs WHERE tenant = ? AND input_sha256 = ?",
        (tenant, sha256),
    )
    return _row(rows[0]) if rows else None


def runs(tx: Transaction, tenant: str = "", limit: int = 20) -> list[LedgerRun]:
    """The latest runs, newest first."""
    rows = tx.execute(
        f"SELECT {_COLUMNS} FROM state_runs WHERE tenant = ? ORDER BY finished_at DESC, run_id "
        "LIMIT ?",
        (tenant, limit),
    )
    return [_row(r) for r in rows]


def record_run(tx: Transaction, run: LedgerRun, tenant: str = "") -> None:
    """Insert a run's row (in the transaction that commits its counters)."""
    tx.execute(
        f"INSERT INTO state_runs (tenant, {_COLUMNS}) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            tenant,
            run.run_id,
            run.input_name,
            run.input_sha256,
            run.input_bytes,
            run.input_rows,
            run.started_at,
            run.finished_at,
            run.rated,
            run.rejected,
            run.late,
            run.notifications,
            json.dumps(run.outputs, sort_keys=True),
            json.dumps(run.options, sort_keys=True),
        ),
    )


def now_utc() -> str:
    """The current UTC time as ISO 8601 text (seconds)."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")


def finish_outputs(run: LedgerRun, input_path: Path) -> bool:
    """Move a committed run's pending outputs into place; True if any was moved.

    Raises
    ------
    AlreadyRatedError
        Every output is already in place (the input was rated before), or an output is neither in
        place nor pending with its recorded checksum (it was deleted or changed since).
    """
    moved = False
    missing: list[str] = []
    for final_name, entry in sorted(run.outputs.items()):
        final, pending = Path(final_name), Path(entry["pending"])
        if final.is_file() and file_sha256(final) == entry["sha256"]:
            continue
        if pending.is_file() and file_sha256(pending) == entry["sha256"]:
            os.replace(pending, final)
            fsync_dir(final.parent)
            moved = True
            continue
        missing.append(final_name)
    if moved and not missing:
        return True
    what = (
        f"{input_path} (sha256 {run.input_sha256[:16]}…) was already rated into this store by run "
        f"{run.run_id} ({run.input_name}, finished {run.finished_at}: {run.input_rows:,} read, "
        f"{run.rated:,} rated, {run.rejected:,} rejected); it is never counted twice"
    )
    if missing:
        what += (
            f"; its outputs {', '.join(missing)} were changed or removed since (their checksums "
            "are in the ledger: `roamlike state runs --state STORE`)"
        )
    else:
        what += f"; its outputs are {', '.join(sorted(run.outputs))}"
    raise AlreadyRatedError(what)

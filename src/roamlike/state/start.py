"""The first steps of ``rate --state``, which can start before the caller has parsed its plans.

A run's transaction begins (:func:`begin_run`) with the store's schema checked, the input's
fingerprint taken, the store's write lock (SQLite ``BEGIN IMMEDIATE``; the tenant's advisory
lock on PostgreSQL), the ledger looked up, the control findings and the prune day read and the
counters' preload started (``roamlike.state.preload``). None of it needs the plans, so ``roamlike
rate`` starts it on a thread of its own as soon as it knows the input and the store
(:class:`EarlyRun`), while the plans are parsed and the compiled pass loads: the preload's
readers then work while the main thread would otherwise be parsing.

Nothing here writes but the preload's claim of record ids, inside the run's transaction: a run
killed at any moment of this window leaves the store as it was (``docs/state.md``).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

import polars as pl

from roamlike.state.control import pruned_before, surcharge_periods
from roamlike.state.ledger import Fingerprint, LedgerRun, find_run, fingerprint, now_utc
from roamlike.state.log import lock_tenant
from roamlike.state.migrations import require_current
from roamlike.state.preload import InputKeys, Preload, read_keys_ahead, start_preload
from roamlike.state.store import Store, Transaction, open_store


class _AbortedError(Exception):
    """Ends a begun run's transaction by a rollback when it is dropped unused."""


@dataclass
class BegunRun:
    """A run's transaction, begun (:func:`begin_run`): ended by leaving it as a ``with`` block
    (committed, or rolled back if the block raises) or by :meth:`abort`.

    Attributes
    ----------
    fp : Fingerprint
        The input's sha256 and size.
    started_at : str
        When the run began (UTC, ISO 8601; for the ledger).
    tx : Transaction
        The run's transaction (the write lock held).
    previous : LedgerRun, optional
        The ledger's run of the same input, if any (then nothing else was started).
    control : polars.DataFrame, optional
        The control findings (``--apply-control``).
    pruned : datetime.date, optional
        The day the store was pruned before.
    preload : Preload, optional
        The counters' preload, running (it may use ``tx`` until a batch takes it).
    """

    fp: Fingerprint
    started_at: str
    tx: Transaction
    previous: LedgerRun | None
    control: pl.DataFrame | None
    pruned: dt.date | None
    preload: Preload | None
    _stack: contextlib.ExitStack

    def __enter__(self) -> BegunRun:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is not None and self.preload is not None:
            self.preload.close()  # its claim may be using the connection: wait for it first
        self._stack.__exit__(kind, exc, tb)  # commit, or roll back and let ``exc`` go on

    def abort(self) -> None:
        """Roll the transaction back (the preload stopped first)."""
        error = _AbortedError()
        self.__exit__(_AbortedError, error, None)


def begin_run(
    store: Store,
    usage_path: Path,
    mapping: Path | None,
    *,
    tenant: str = "",
    apply_control_findings: bool = False,
    batch_rows: int,
    memory_bytes: int,
    keys: Future[InputKeys | None] | None = None,
) -> BegunRun:
    """Begin a run of ``usage_path`` on ``store`` (module docstring); ``keys``: the input's keys
    being read already (``preload.read_keys_ahead``).

    Raises
    ------
    StoreError, UsageInputError
        The store is not current or fails, or the input cannot be read; nothing is begun.
    """
    started = now_utc()
    require_current(store)
    fp = fingerprint(usage_path)
    stack = contextlib.ExitStack()
    tx = stack.enter_context(store.transaction())
    try:
        lock_tenant(tx, tenant)
        previous = find_run(tx, fp.sha256, tenant)
        control = pruned = preload = None
        if previous is None:
            control = surcharge_periods(tx, tenant) if apply_control_findings else None
            pruned = pruned_before(tx, tenant)
            # the counters of a one-call input load on threads while the input is read, and its
            # record ids are claimed through ``tx`` (not used here until a batch takes them)
            preload = start_preload(
                store,
                usage_path,
                mapping,
                tenant,
                batch_rows=batch_rows,
                memory_bytes=memory_bytes,
                claim=tx,
                keys=keys,
            )
    except BaseException as exc:
        stack.__exit__(type(exc), exc, exc.__traceback__)
        raise
    return BegunRun(fp, started, tx, previous, control, pruned, preload, stack)


class EarlyRun:
    """:func:`begin_run` on a store opened by name, on a thread started at once.

    ``roamlike rate --state`` creates it before it parses its plans; :meth:`result` hands the
    store and the begun run over (waiting for them), :meth:`close` ends whatever was not
    handed over (rolled back, closed).
    """

    def __init__(
        self,
        target: str,
        usage_path: Path,
        mapping: Path | None,
        *,
        apply_control_findings: bool,
        batch_rows: int,
        memory_bytes: int,
    ) -> None:
        self._args = (target, usage_path, mapping, apply_control_findings, batch_rows, memory_bytes)
        self._store: Store | None = None
        self._begun: BegunRun | None = None
        self._error: BaseException | None = None
        self._taken = False
        # the input's keys are read at once, beside the store's opening (no lock needed)
        self._keys = read_keys_ahead(
            usage_path, mapping, batch_rows=batch_rows, memory_bytes=memory_bytes
        )
        self._thread = threading.Thread(target=self._run, name="roamlike-state-start", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        target, usage_path, mapping, apply_control, batch_rows, memory_bytes = self._args
        try:
            self._store = open_store(target, create=False)
            self._begun = begin_run(
                self._store,
                usage_path,
                mapping,
                apply_control_findings=apply_control,
                batch_rows=batch_rows,
                memory_bytes=memory_bytes,
                keys=self._keys,
            )
        except BaseException as exc:  # raised in the caller by result()
            self._error = exc

    def result(self) -> tuple[Store, BegunRun]:
        """The store and the begun run, handed over to the caller (waits for them).

        Raises
        ------
        StoreError, UsageInputError
            As :func:`open_store` and :func:`begin_run` (the store is closed by :meth:`close`).
        """
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._store is not None
        assert self._begun is not None
        self._taken = True
        return self._store, self._begun

    def close(self) -> None:
        """Roll back a run not handed over, and close the store (idempotent)."""
        self._thread.join()
        if self._begun is not None and not self._taken:
            with contextlib.suppress(Exception):
                self._begun.abort()
        self._begun = None
        if self._store is not None:
            self._store.close()
            self._store = None

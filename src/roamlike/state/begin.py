"""The head of a ``rate --state`` run, begun on a thread from the command's start.

Before it rates, a run with a store takes the store's write lock, looks its input up in the
ledger, reads the control findings and the prune day, and starts loading its subscribers'
counters and claiming its record ids (``roamlike.state.preload``): :func:`begin_run`.
``roamlike.state.batch.rate_with_state`` does that on the caller's thread, after the plans
are parsed. ``roamlike rate … --state FILE.db`` begins it earlier (:func:`begin_early`,
called by the command line as soon as the process has loaded Polars, beside the input's
early read, ``roamlike.input_reader.start_early``): on a thread of its own while the main
thread still imports the engine and parses the plans, work that holds Python's lock on one
core and leaves the other idle. The preload's readers and claim, which work in SQLite
without Python's lock, then run on that idle core instead of beside the engine. This module
imports no engine (it must not delay the main thread's imports).

The run takes what was begun (:func:`take_begun`) only if it is its own: the same store, the
same reader of the same input (file, mapping, memory budget, batch size) and the same
``--apply-control``; otherwise the begun transaction is rolled back and its connection closed
before the run opens its own (:meth:`Begun.discard`). A head that failed (no such store, a
schema to migrate, a busy store) is left to the run, which reports it. Nothing is written
before the run takes it except the record ids' claim, inside the run's own transaction:
a process killed at any moment has stored nothing, as before.

References
----------
``docs/state.md``, "What a run reads and writes".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from roamlike.input_reader import InputReader, OpenedInput, early_reader, rate_options
from roamlike.state.control import pruned_before, surcharge_periods
from roamlike.state.ledger import Fingerprint, LedgerRun, find_run, fingerprint
from roamlike.state.log import lock_tenant
from roamlike.state.migrations import require_current
from roamlike.state.preload import Preload, start_preload
from roamlike.state.store import Store, Transaction, is_postgres_url, open_store


@dataclass
class RunHead:
    """What a run found before it rates (:func:`begin_run`).

    Attributes
    ----------
    fp : Fingerprint
        The input's sha256 and size.
    previous : LedgerRun, optional
        The ledger's run of the same input (the run is then refused or finished).
    control : polars.DataFrame, optional
        The control findings (``--apply-control``).
    pruned : datetime.date, optional
        The day the store was pruned before.
    preload : Preload, optional
        The counters loading and the record ids claimed on threads.
    """

    fp: Fingerprint
    previous: LedgerRun | None
    control: pl.DataFrame | None = None
    pruned: dt.date | None = None
    preload: Preload | None = None


def begin_run(
    tx: Transaction,
    store: Store,
    usage_path: Path,
    mapping: Path | None,
    tenant: str,
    fp: Fingerprint,
    *,
    apply_control_findings: bool,
    batch_rows: int,
    memory_bytes: int,
    opened: OpenedInput | None,
) -> RunHead:
    """In the run's transaction ``tx``: the tenant's writer lock, the ledger's run of the same
    input and, when there is none, the control findings (with ``apply_control_findings``),
    the prune day and the preload started (``opened``: the input as the pipeline opened
    it, ``preload.start_preload``). The caller settles the preload before ``tx`` ends
    (:meth:`Preload.cancel` when it does not rate)."""
    lock_tenant(tx, tenant)
    previous = find_run(tx, fp.sha256, tenant)
    if previous is not None:
        return RunHead(fp, previous)
    control = surcharge_periods(tx, tenant) if apply_control_findings else None
    pruned = pruned_before(tx, tenant)
    # the counters of a one-batch input load on threads while the input is read, and its
    # record ids are claimed through ``tx`` (not used by the caller until the batch takes
    # them)
    preload = start_preload(
        store,
        usage_path,
        mapping,
        tenant,
        batch_rows=batch_rows,
        memory_bytes=memory_bytes,
        claim=tx,
        opened=opened,
    )
    return RunHead(fp, None, control, pruned, preload)


class Begun:
    """A run's head begun on a thread (:func:`begin_early`) for the store ``state`` and the
    input of ``reader``: its store open, its transaction holding the write lock, its
    :class:`RunHead`."""

    def __init__(self, state: str, reader: InputReader, apply_control_findings: bool) -> None:
        self.state = state
        self.reader = reader
        self.apply_control_findings = apply_control_findings
        self.store: Store | None = None
        self.tx: Transaction | None = None
        self.head: RunHead | None = None
        self._transaction: contextlib.AbstractContextManager[Transaction] | None = None
        # a daemon: a process that ends before it takes the run does not wait for it
        self._thread = threading.Thread(target=self._run, name="roamlike-begin", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        usage, mapping, memory_bytes, batch_rows = self.reader.key
        store = None
        try:
            assert batch_rows is not None  # as the command line gives it
            store = open_store(self.state, create=False)
            require_current(store)
            fp = fingerprint(usage)
            transaction = store.transaction()
            tx = transaction.__enter__()
            self._transaction = transaction
            self.head = begin_run(
                tx,
                store,
                usage,
                mapping,
                "",
                fp,
                apply_control_findings=self.apply_control_findings,
                batch_rows=batch_rows,
                memory_bytes=memory_bytes,
                opened=self.reader.peek(),
            )
            self.store, self.tx = store, tx
        except Exception:  # the run begins for itself, and reports what fails
            self.head = None
            self._end(None)
            if store is not None:
                store.close()

    def _end(self, exc: BaseException | None) -> None:
        """End the transaction: committed (``exc`` None) or rolled back."""
        transaction, self._transaction = self._transaction, None
        if transaction is None:
            return
        if exc is None:
            transaction.__exit__(None, None, None)
        else:
            with contextlib.suppress(Exception):
                transaction.__exit__(type(exc), exc, exc.__traceback__)

    @property
    def fp(self) -> Fingerprint:
        """The input's fingerprint (of a head that was begun)."""
        return self.taken().fp

    def taken(self) -> RunHead:
        """The head (of one that was begun, :meth:`ready`)."""
        assert self.head is not None
        return self.head

    def ready(self) -> bool:
        """Wait for the head; True when it was begun."""
        self._thread.join()
        return self.head is not None and self.store is not None

    @contextlib.contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """The begun transaction, as :meth:`Store.transaction` gives one: committed when the
        block ends, rolled back if it raises."""
        assert self.tx is not None
        try:
            yield self.tx
        except BaseException as exc:
            self._end(exc)
            raise
        self._end(None)

    def discard(self) -> None:
        """Close the store, after its run or instead of it: a transaction still open (not
        taken by a run, or by one that failed first) is undone before (the preload's threads
        stopped and its claim undone, the transaction rolled back)."""
        if not self.ready():
            return
        if self._transaction is not None:
            preload = self.taken().preload
            if preload is not None:
                preload.cancel()
            self._end(RuntimeError("not taken by its run"))
        assert self.store is not None
        self.store.close()


_begun: Begun | None = None


def begin_early(args: Sequence[str]) -> None:
    """Begin the head of ``roamlike rate ARGS`` (the words after ``rate``) on a thread, if they
    name a run with a SQLite store whose input is being read early
    (``roamlike.input_reader.start_early``, called first); else do nothing."""
    global _begun
    options = rate_options(args)
    reader = early_reader()
    if options is None or reader is None or _begun is not None:
        return
    state = options.get("--state")
    if state is None or is_postgres_url(state) or not Path(state).is_file():
        return
    _begun = Begun(state, reader, "--apply-control" in options)


def take_begun(
    state: str, reader: InputReader | None, apply_control_findings: bool
) -> Begun | None:
    """The head :func:`begin_early` began, if it is that of this run (the store ``state``,
    the input of ``reader``, the same ``apply_control_findings``), once only; a head begun
    for another run is discarded (its write lock released) first."""
    global _begun
    begun, _begun = _begun, None
    if begun is None:
        return None
    if (
        begun.state == state
        and begun.reader is reader
        and begun.apply_control_findings == apply_control_findings
        and begun.ready()
    ):
        return begun
    begun.discard()
    return None

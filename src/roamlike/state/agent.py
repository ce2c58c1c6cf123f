"""The store's agent: the process that does the store's work of one ``roamlike rate --state``.

Forked by :func:`roamlike.state.agent_client.start_agent` at the start of the command, it holds
the run's one store transaction from beginning to end, in the order of
:func:`roamlike.state.batch.rate_with_state`:

1. opens the store, checks its schema, fingerprints the input, takes the write lock, looks the
   input up in the ledger, reads the control's findings and the prune day, and sends them
   (``("opened", Opened)``); an input already in the ledger ends the conversation there;
2. starts loading the counters of the input's subscribers and claiming its record ids
   (``roamlike.state.preload``) while the run's process is still importing;
3. answers each batch's keys (``("keys", frame)``) with its counters and the record ids
   earlier runs had rated (``("counters", Counters, Series)``), and writes, on its own
   threads, the counters after each batch and its days (``("absorb", Counters, frame)``);
4. on ``("commit", LedgerRun)``: waits for its writes, records the run in the ledger, commits
   and answers ``("committed",)``; then on ``("compact", rows)`` folds the logs if they grew
   past ``rows`` (a transaction of its own) and answers ``("compacted", results, error)``.

An error is sent as ``("error", exception)`` and ends the agent, its transaction rolled back.
The end of the socket's stream before step 4 (the run failed, was interrupted or killed) rolls
the transaction back as well; a run killed by a signal kills its agent
(``PR_SET_PDEATHSIG``). Nothing is committed that the run did not ask for.

References
----------
``docs/state.md``, "The store's agent".
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import pickle
import signal
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, NoReturn

from roamlike.errors import RoamlikeError, StoreError
from roamlike.state.agent_client import (
    AgentGoneError,
    AgentJob,
    Channel,
    die_with_parent,
    yield_to_parent,
)

if TYPE_CHECKING:
    import polars as pl

    from roamlike.state.hooks import StoreHooks
    from roamlike.state.ledger import Fingerprint, LedgerRun
    from roamlike.state.preload import Preload


@dataclass(frozen=True)
class Opened:
    """What the agent found when it opened the run's transaction (step 1)."""

    fingerprint: Fingerprint
    previous: LedgerRun | None
    control: pl.DataFrame | None
    pruned: dt.date | None


def run_agent(channel: Channel, job: AgentJob, parent: int) -> NoReturn:
    """The agent process's whole life; ``parent``: the run's process id."""
    status = 0
    try:
        die_with_parent(parent)
        yield_to_parent()
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # the run reports an interruption
        serve(channel, job.resolved())
    except AgentGoneError:  # the run ended without a commit: rolled back
        status = 0
    except BaseException as exc:
        status = 1
        with contextlib.suppress(BaseException):
            channel.send(("error", portable(exc)))
    finally:
        channel.close()
        os._exit(status)


#: Tests only: ``POINT=FILE`` makes the agent write its process id to ``FILE`` and sleep when it
#: reaches ``POINT`` (:data:`PAUSE_POINTS`), so that a test can kill it, or the run, there.
PAUSE_ENV = "ROAMLIKE_STATE_AGENT_PAUSE"
#: Where :data:`PAUSE_ENV` can stop the agent: its preload loaded (not sent), its writes done
#: (not committed), its commit done (not answered).
PAUSE_POINTS = ("preloaded", "written", "committed")


def _pause(point: str) -> None:
    wanted, _, path = os.environ.get(PAUSE_ENV, "").partition("=")
    if wanted == point and path:
        with open(path, "w", encoding="ascii") as f:
            f.write(str(os.getpid()))
        time.sleep(120)


def portable(exc: BaseException) -> BaseException:
    """``exc`` as the run's process can raise it: a roamlike error as it is (when it pickles),
    anything else as an internal error naming it."""
    if isinstance(exc, RoamlikeError):
        with contextlib.suppress(Exception):
            copy = pickle.loads(pickle.dumps(exc))
            if isinstance(copy, RoamlikeError) and str(copy) == str(exc):
                return exc
        return StoreError(str(exc))
    return RuntimeError(f"the store's agent failed: {type(exc).__name__}: {exc}")


def serve(channel: Channel, job: AgentJob) -> None:
    """Steps 1 to 4 of the module docstring."""
    from roamlike.state.control import pruned_before, surcharge_periods
    from roamlike.state.hooks import StoreHooks
    from roamlike.state.ledger import find_run, fingerprint, record_run
    from roamlike.state.log import compact_store, lock_tenant
    from roamlike.state.migrations import require_current
    from roamlike.state.preload import start_preload
    from roamlike.state.store import open_store

    assert job.batch_rows is not None
    assert job.memory_bytes is not None
    with open_store(job.state, create=False) as store:
        require_current(store)
        fp = fingerprint(job.usage)
        with store.transaction() as tx:
            lock_tenant(tx, job.tenant)
            previous = find_run(tx, fp.sha256, job.tenant)
            if previous is not None:
                channel.send(("opened", Opened(fp, previous, None, None)))
                return
            control = surcharge_periods(tx, job.tenant) if job.apply_control else None
            pruned = pruned_before(tx, job.tenant)
            preload = start_preload(
                store,
                job.usage,
                job.mapping,
                job.tenant,
                batch_rows=job.batch_rows,
                memory_bytes=job.memory_bytes,
                claim=tx,
                through_run=True,
            )
            channel.send(("opened", Opened(fp, None, control, pruned)))
            hooks = StoreHooks(tx, job.tenant, None, pruned)
            try:
                _preloaded(channel, preload)
                run = _batches(channel, hooks)
            except BaseException:
                hooks.finish(failed=True)  # no write may run while the transaction ends
                raise
            hooks.finish()
            record_run(tx, run, job.tenant)
            _pause("written")
        _pause("committed")
        channel.send(("committed",))
        kind, rows = channel.recv()
        if kind != "compact":
            raise StoreError(f"the store's agent: unexpected message {kind!r}")
        try:
            channel.send(("compacted", compact_store(store, job.tenant, min_rows=rows), None))
        except StoreError as exc:
            channel.send(("compacted", [], str(exc)))


def _preloaded(channel: Channel, preload: Preload | None) -> None:
    """Step 2: the preload's counters and known record ids, with the digest of the keys they
    were loaded for, sent as soon as they are ready (``("preloaded",)``: none); the run
    answers ``("settle", used)``: the ids claimed ahead are kept if it used them, else undone.
    """
    loaded = None if preload is None else preload.loaded()
    _pause("preloaded")
    if loaded is None or loaded.digest is None or loaded.known is None:
        if preload is not None:
            preload.settle(False)
        yield_to_parent(False)
        channel.send(("preloaded",))
        return
    channel.send(("preloaded", loaded.digest, loaded.counters, loaded.known))
    assert preload is not None
    kind, *payload = channel.recv()
    if kind != "settle":
        raise StoreError(f"the store's agent: unexpected message {kind!r}")
    preload.settle(bool(payload[0]))
    yield_to_parent(False)  # from now on the run waits for the agent


def _batches(channel: Channel, hooks: StoreHooks) -> LedgerRun:
    """Step 3, until the run asks for the commit: the ledger's row of the run."""
    while True:
        kind, *payload = channel.recv()
        if kind == "keys":
            channel.send(("counters", *hooks.counters_for(payload[0])))
        elif kind == "absorb":
            hooks.absorb_counters(payload[0], payload[1])
        elif kind == "commit":
            run: LedgerRun = payload[0]
            return run
        else:
            raise StoreError(f"the store's agent: unexpected message {kind!r}")

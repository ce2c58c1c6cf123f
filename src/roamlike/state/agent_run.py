"""``roamlike rate --state`` with the store's agent: the run's side of the conversation.

The same run as :func:`roamlike.state.batch.rate_with_state` (same outputs, same store, same
order of commit and moves), with the store's work done by the agent process
(:mod:`roamlike.state.agent`) instead of threads of the run's own process: the run rates and
writes its outputs; the agent loads and writes counters and commits when asked.

A failure of the agent (its error, or its end: killed, crashed) fails the run as a store error
(exit 3) with nothing committed and no output left; a failure of the run ends the
conversation, and the agent rolls back.

References
----------
``docs/state.md``, "The store's agent".
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from roamlike.errors import RoamlikeError, StoreError
from roamlike.pipeline import rate_file
from roamlike.rating import RatingResult
from roamlike.state.agent import Opened
from roamlike.state.agent_client import Agent, AgentGoneError
from roamlike.state.batch import (
    StateRun,
    finish_previous,
    ledger_run,
    move_outputs,
    seal_outputs,
)
from roamlike.state.days import DAYS_OF_RATED_COLUMNS
from roamlike.state.hooks import batch_keys_checked
from roamlike.state.ledger import LedgerRun, find_run, now_utc, pending_path
from roamlike.state.log import COMPACT_LOG_ROWS
from roamlike.state.preload import keys_digest
from roamlike.state.store import open_store
from roamlike.tariffs import FxTable, Plan


def _reply(agent: Agent, expected: str) -> tuple[Any, ...]:
    """The agent's next message, which must be ``expected``: its error is raised, and its end
    is a :class:`~roamlike.errors.StoreError`."""
    try:
        kind, *payload = agent.channel.recv()
    except AgentGoneError:
        status = agent.close()
        how = (
            f"was killed by signal {-status}"
            if status is not None and status < 0
            else f"exited with status {status}"
        )
        raise StoreError(
            f"the store's agent process (pid {agent.pid}) {how} before the run was committed: "
            "nothing was stored; rate the file again"
        ) from None
    if kind == "error":
        agent.close()
        error = payload[0]
        assert isinstance(error, BaseException)
        raise error
    if kind != expected:
        agent.close()
        raise StoreError(f"the store's agent sent {kind!r} instead of {expected!r}")
    return tuple(payload)


def _send(agent: Agent, message: tuple[Any, ...]) -> None:
    """Send ``message``; an agent that is gone is reported by :func:`_reply`."""
    try:
        agent.channel.send(message)
    except AgentGoneError:
        _reply(agent, message[0])


@dataclass
class _AgentHooks:
    """``pipeline.BatchHooks`` of a run whose store is the agent's: each batch's counters and
    record ids asked of the agent, its counters after and its days sent to it."""

    agent: Agent
    control: pl.DataFrame | None
    pruned: dt.date | None
    late: int = 0
    #: No batch prepared yet (the agent's preload is the first batch's to take).
    first: bool = True

    def prepare(self, batch: pl.DataFrame) -> tuple[pl.DataFrame, dict[str, Any]]:
        batch, keys = batch_keys_checked(batch, self.control, self.pruned)
        if self.first:  # the agent's preload: used if it was loaded for these very keys
            self.first = False
            preloaded = _reply(self.agent, "preloaded")
            if preloaded:
                digest, counters, known = preloaded
                used = digest == keys_digest(keys)
                _send(self.agent, ("settle", used))
                if used:
                    return batch, {"counters": counters, "known_record_ids": known}
        _send(self.agent, ("keys", keys))
        counters, known = _reply(self.agent, "counters")
        return batch, {"counters": counters, "known_record_ids": known}

    def absorb(self, batch: pl.DataFrame, result: RatingResult) -> None:
        self.late += int(result.rated.get_column("is_late").sum())
        _send(self.agent, ("absorb", result.counters, result.rated.select(DAYS_OF_RATED_COLUMNS)))


def _committed(state: str, run: LedgerRun, tenant: str) -> bool:
    """True when ``run`` is in the store's ledger (committed)."""
    with (
        contextlib.suppress(RoamlikeError),
        open_store(state, create=False) as store,
        store.snapshot() as tx,
    ):
        found = find_run(tx, run.input_sha256, tenant)
        return found is not None and found.run_id == run.run_id
    return False


def rate_with_agent(
    agent: Agent,
    plans: Mapping[str, Plan],
    fx: FxTable,
    out: Path,
    rejects_path: Path | None,
    notifications_path: Path | None,
    *,
    progress: Callable[[int, int], None] | None = None,
    compact_rows: int = COMPACT_LOG_ROWS,
) -> StateRun:
    """Rate the agent's input (``agent.job``) as :func:`~roamlike.state.batch.rate_with_state`
    does, the store's work done by the agent; it is closed (waited for) before this returns.

    Raises
    ------
    AlreadyRatedError, StoreError, UsageInputError, OutputError, TariffError, FxError
        Nothing is committed and no output is left behind.
    """
    job = agent.job.resolved()
    assert job.batch_rows is not None
    assert job.memory_bytes is not None
    started = now_utc()
    pendings: dict[Path, Path] = {}
    asked = False  # the agent was asked to commit
    try:
        (opened,) = _reply(agent, "opened")
        assert isinstance(opened, Opened)
        if opened.previous is not None:
            agent.close()
            return finish_previous(opened.previous, job.usage)
        sha256 = opened.fingerprint.sha256
        for p in (out, rejects_path, notifications_path):
            if p is not None:
                pendings[p.resolve()] = pending_path(p.resolve(), sha256)
        hooks = _AgentHooks(agent, opened.control, opened.pruned)
        summary = rate_file(
            job.usage,
            plans,
            fx,
            pendings[out.resolve()],
            None if rejects_path is None else pendings[rejects_path.resolve()],
            None if notifications_path is None else pendings[notifications_path.resolve()],
            job.mapping,
            batch_rows=job.batch_rows,
            progress=progress,
            hooks=hooks,
            memory_bytes=job.memory_bytes,
        )
        outputs = seal_outputs(pendings)
        run = ledger_run(
            job.usage, opened.fingerprint, summary, started, hooks.late, outputs, job.apply_control
        )
        asked = True
        _send(agent, ("commit", run))
        _reply(agent, "committed")
    except BaseException:
        agent.close()  # not asked to commit: it rolls back
        # asked, it may have committed before it failed to say so: the ledger tells
        if not (asked and _committed(job.state, run, job.tenant)):
            for pending in pendings.values():
                with contextlib.suppress(OSError):
                    pending.unlink()
            raise
    move_outputs(pendings)
    try:
        _send(agent, ("compact", compact_rows))
        compacted, error = _reply(agent, "compacted")
    except StoreError as exc:  # the run stands; its logs wait for the next compaction
        compacted, error = [], str(exc)
    finally:
        agent.close()
    if error is not None:
        return StateRun(summary, run, compaction_error=error)
    return StateRun(summary, run, compacted=compacted)

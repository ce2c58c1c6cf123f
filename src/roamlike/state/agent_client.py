"""Starting the store's agent process of ``roamlike rate --state``, and talking to it.

``roamlike rate … --state STORE`` forks a second process from the command line's words, before
the command's modules (Polars, the engine) are imported: while the run's own process imports,
parses the plans and loads the compiled pass, the agent (:mod:`roamlike.state.agent`), with a
Python lock of its own on the machine's other core, opens the store, fingerprints the input,
takes the write lock and loads the counters of the input's subscribers. Later it writes the
run's counters while the run writes its outputs, and commits when the run asks it to.

This module is what the run's process needs before the fork and to talk to the agent: it
imports nothing heavy. The messages are pickled tuples over a Unix socket pair, each preceded
by its length (:class:`Channel`).

References
----------
``docs/state.md``, "The store's agent".
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import dataclasses
import os
import pickle
import signal
import socket
import struct
import sys
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

#: The environment variable that turns the agent on (``1``; off by default: on a quiet machine
#: it was measured slower than the run in one process, docs/state.md "Round 8"); otherwise the
#: run does the store's work in its own process, as ``rate_file`` callers and the service do.
AGENT_ENV = "ROAMLIKE_STATE_AGENT"


@dataclass(frozen=True)
class AgentJob:
    """What an agent is started for: the run's input and options that the store's work reads.

    Attributes
    ----------
    usage : Path
        The input file.
    mapping : Path, optional
        The vendor column mapping.
    memory_bytes : int, optional
        The run's memory budget [B] (None: the default, ``roamlike.pipeline``'s).
    batch_rows : int, optional
        At most this many records rated at a time (None: the default).
    state : str
        The store (SQLite file or PostgreSQL URL).
    apply_control : bool
        ``--apply-control``: the control's findings are read.
    tenant : str
        The tenant of the counters (``''`` for batch runs).
    """

    usage: Path
    mapping: Path | None
    memory_bytes: int | None
    batch_rows: int | None
    state: str
    apply_control: bool
    tenant: str = ""

    def resolved(self) -> AgentJob:
        """The job with the run's defaults in place of None (imports the pipeline's module:
        not before the fork)."""
        from roamlike.input_reader import DEFAULT_BATCH_ROWS, DEFAULT_MEMORY_BYTES

        return dataclasses.replace(
            self,
            memory_bytes=DEFAULT_MEMORY_BYTES if self.memory_bytes is None else self.memory_bytes,
            batch_rows=DEFAULT_BATCH_ROWS if self.batch_rows is None else self.batch_rows,
        )


#: Options of ``roamlike rate`` that take a value.
_VALUED_OPTIONS = (
    "--plans", "--out", "--rejects", "--notifications", "--fx", "--mapping", "--batch-rows",
    "--memory-gb", "--state", "--engine", "--spark-master", "--partitions", "--spark-conf",
)  # fmt: skip


class _Quiet(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # the command line itself reports it
        raise ValueError(message)


def agent_job(args: Sequence[str]) -> AgentJob | None:
    """The job of ``roamlike rate ARGS`` (the words after ``rate``), or None when they do not
    plainly name a native run with ``--state`` whose input exists (the run then does the
    store's work itself)."""
    parser = _Quiet(add_help=False, allow_abbrev=False)
    parser.add_argument("usage", nargs="*")
    for name in _VALUED_OPTIONS:
        parser.add_argument(name, action="append")
    parser.add_argument("--apply-control", action="store_true")
    parser.add_argument("--quiet", action="store_true")
    try:
        parsed = parser.parse_args(list(args))
        state, engine = parsed.state, parsed.engine or ["native"]
        if len(parsed.usage) != 1 or state is None or len(state) != 1 or engine != ["native"]:
            return None
        memory_gb = float(parsed.memory_gb[-1]) if parsed.memory_gb else None
        batch_rows = int(parsed.batch_rows[-1]) if parsed.batch_rows else None
    except ValueError:
        return None
    usage = Path(parsed.usage[0])
    if not usage.is_file() or (batch_rows is not None and batch_rows < 1):
        return None
    if memory_gb is not None and not (0 < memory_gb < float("inf")):
        return None
    return AgentJob(
        usage=usage,
        mapping=Path(parsed.mapping[-1]) if parsed.mapping else None,
        memory_bytes=None if memory_gb is None else round(memory_gb * 10**9),
        batch_rows=batch_rows,
        state=state[0],
        apply_control=parsed.apply_control,
    )


class AgentGoneError(Exception):
    """The other end of a :class:`Channel` closed or failed."""


#: A message larger than this [B] goes through an anonymous in-memory file whose descriptor
#: is passed over the socket (Linux ``memfd_create``): the sender writes it at memory speed and
#: goes on, instead of waiting for the other process to read it through the socket's buffer.
LARGE_MESSAGE_BYTES = 1 << 18


class Channel:
    """Pickled messages over one end of a Unix socket pair: each a header (its length, and
    whether it follows on the socket or in a passed in-memory file), then its bytes."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def send(self, message: tuple[Any, ...]) -> None:
        """Send one message."""
        data = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
        try:
            if len(data) > LARGE_MESSAGE_BYTES and hasattr(os, "memfd_create"):
                fd = os.memfd_create("roamlike-agent-message", os.MFD_CLOEXEC)
                try:
                    with open(fd, "wb", closefd=False) as f:
                        f.write(data)
                    socket.send_fds(self._sock, [struct.pack("!QB", len(data), 1)], [fd])
                finally:
                    os.close(fd)
            else:
                self._sock.sendall(struct.pack("!QB", len(data), 0) + data)
        except OSError as exc:
            raise AgentGoneError(str(exc)) from exc

    def recv(self) -> tuple[Any, ...]:
        """The next message (waits for it)."""
        try:
            header, fds, _, _ = socket.recv_fds(self._sock, 9, 1)
        except OSError as exc:
            raise AgentGoneError(str(exc)) from exc
        if not header:
            raise AgentGoneError("the other end closed")
        header += self._exactly(9 - len(header))
        size, in_file = struct.unpack("!QB", header)
        if in_file:
            if not fds:
                raise AgentGoneError("a message's in-memory file did not arrive")
            with open(fds[0], "rb") as f:
                f.seek(0)  # the sender's offset: the descriptor shares it
                data = f.read()
        else:
            for fd in fds:
                os.close(fd)
            data = self._exactly(size)
        if len(data) != size:
            raise AgentGoneError(f"a message of {size} bytes arrived with {len(data)}")
        message = pickle.loads(data)
        assert isinstance(message, tuple)
        return message

    def _exactly(self, size: int) -> bytes:
        chunks = bytearray()
        while len(chunks) < size:
            try:
                chunk = self._sock.recv(min(size - len(chunks), 1 << 22))
            except OSError as exc:
                raise AgentGoneError(str(exc)) from exc
            if not chunk:
                raise AgentGoneError("the other end closed")
            chunks += chunk
        return bytes(chunks)

    def close(self) -> None:
        """Close this end (the other end reads the end of the stream)."""
        with contextlib.suppress(OSError):
            self._sock.close()


class Agent:
    """The run's handle on its agent process."""

    def __init__(self, pid: int, channel: Channel, job: AgentJob) -> None:
        self.pid = pid
        self.channel = channel
        self.job = job
        #: The agent's exit status once it was waited for (:meth:`close`).
        self.status: int | None = None

    def close(self) -> int | None:
        """End the conversation and wait for the agent to exit (an agent that had not been
        asked to commit rolls back); its exit status (idempotent)."""
        self.channel.close()
        if self.status is None:
            with contextlib.suppress(ChildProcessError):
                _, status = os.waitpid(self.pid, 0)
                self.status = os.waitstatus_to_exitcode(status)
        return self.status


_started: Agent | None = None


def start_agent(args: Sequence[str]) -> None:
    """Fork the store's agent for ``roamlike rate ARGS`` (the words after ``rate``), if they
    name a run with ``--state`` (:func:`agent_job`); the run takes it with :func:`take_agent`.

    Call it while the process has no other thread (a forked child holds only the forking
    thread).
    """
    global _started
    if os.environ.get(AGENT_ENV, "0") != "1" or _started is not None or not _may_fork():
        return
    job = agent_job(args)
    if job is None:
        return
    ours, theirs = socket.socketpair()
    parent = os.getpid()
    pid = os.fork()
    if pid == 0:  # the agent: never returns
        try:
            ours.close()
            from roamlike.state.agent import run_agent

            run_agent(Channel(theirs), job, parent)
        finally:
            os._exit(70)
    theirs.close()
    _started = Agent(pid, Channel(ours), job)
    atexit.register(_started.close)


def _may_fork() -> bool:
    """True when the process may fork its agent: a POSIX system, Polars not loaded yet, no
    thread but this one (a forked child holds only the forking thread: a library's pool of
    threads, such as Polars' from its import on, would be missing in the agent)."""
    if not hasattr(os, "fork") or "polars" in sys.modules:
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return threading.active_count() == 1


def take_agent(job: AgentJob) -> Agent | None:
    """The agent :func:`start_agent` started, if it was started for ``job`` (else None, and an
    agent started for another job is ended first: it held the store's write lock)."""
    global _started
    agent, _started = _started, None
    if agent is None:
        return None
    if agent.job.resolved() != job.resolved():
        agent.close()
        return None
    return agent


def yield_to_parent(yielding: bool = True) -> None:
    """In the agent: give way to the run's process where both want a core (``yielding``), or
    no longer (``False``: the run waits for the agent's writes).

    Under a real-time policy (``SCHED_FIFO``/``SCHED_RR``, e.g. ``chrt -f``), inherited from
    the run, a thread keeps its core until it blocks: while the run imports and loads its
    compiled pass, the agent's threads would take the cores from the run's main thread. One
    priority lower, they run on the cores the run leaves idle. Every thread of the agent is
    set (Linux sets a policy per thread; new threads inherit their creator's)."""
    with contextlib.suppress(AttributeError, OSError):
        policy = os.sched_getscheduler(0)
        if policy not in (os.SCHED_FIFO, os.SCHED_RR):
            return
        priority = os.sched_getparam(0).sched_priority + (-1 if yielding else 1)
        if priority < 1:
            return
        for thread in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):  # a thread that ended meanwhile
                os.sched_setscheduler(int(thread), policy, os.sched_param(priority))


def die_with_parent(parent: int) -> None:
    """In the agent: be killed when the process that forked it dies (Linux
    ``PR_SET_PDEATHSIG``), the second guard beside the end of the socket's stream; exit at once
    if it is gone already."""
    with contextlib.suppress(Exception):  # another system: the socket's end is the guard
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:
        os._exit(70)

"""Threads that yield their core to the run's main thread: the preload's readers and claim.

A ``rate --state`` run on a machine of two cores starts its preload (``roamlike.state.preload``:
the claim and two readers, about 0.45 CPU-s) while its main thread still imports the engine
and reads plans and FX (about 0.5 CPU-s, one core's worth). Threads of one priority share the
cores, so the main thread waited for a core (0.08-0.19 s of its run-queue wait in the
benchmark's runs, docs/state-speed.md round 18) and the engine started that much later, while
the readers finished well before the engine asked for the counters.

A thread lowered by :func:`lower_thread` runs one step below the thread that started the
preload: a nice value :data:`NICE_STEP` higher under the ordinary scheduler (Linux weighs a
nice value per thread), or one real-time priority lower when the command runs under a
real-time policy (``chrt -f``), so that it takes a core only when the main thread and the
Polars threads do not need it. When the engine starts, the threads are raised back
(:class:`Lowered`): the engine then waits for the readers, and lowered readers would also wait
for every other process of the machine (on a busy machine they did, docs/state-speed.md round
18). So threads are lowered only where the process may raise them back (:func:`may_raise_back`:
``CAP_SYS_NICE``, or resource limits that allow it), and nothing changes where the system does
not let a thread lower itself (other systems than Linux, a priority already at the bottom).
The run is only faster or slower, never different.
"""

from __future__ import annotations

import os
import resource
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import polars as pl

#: How much nicer (``setpriority``) a lowered thread runs than its starter under the ordinary
#: scheduler: at nice +5 a thread weighs about a third of a nice-0 one.
NICE_STEP = 5
#: The bit of ``CAP_SYS_NICE`` in a Linux capability set.
_CAP_SYS_NICE = 23
#: The real-time policies, under which nice values do not count (``sched_setscheduler``).
_REALTIME = frozenset(getattr(os, name) for name in ("SCHED_FIFO", "SCHED_RR") if hasattr(os, name))


@dataclass(frozen=True)
class Priority:
    """A thread's scheduling: its ``policy`` (``os.SCHED_*``) and, under a real-time policy,
    its real-time priority, else its nice value (``value``)."""

    policy: int
    value: int


def current() -> Priority | None:
    """The calling thread's scheduling; None where it cannot be read or changed per thread
    (not Linux)."""
    if not sys.platform.startswith("linux"):
        return None
    tid = threading.get_native_id()
    try:
        policy = os.sched_getscheduler(tid)
        if policy in _REALTIME:
            return Priority(policy, os.sched_getparam(tid).sched_priority)
        return Priority(policy, os.getpriority(os.PRIO_PROCESS, tid))
    except (OSError, AttributeError):
        return None


def below(starter: Priority | None) -> Priority | None:
    """The scheduling one step below ``starter`` (None: none, or none lower)."""
    if starter is None:
        return None
    if starter.policy in _REALTIME:
        lowest = os.sched_get_priority_min(starter.policy)
        return None if starter.value <= lowest else Priority(starter.policy, starter.value - 1)
    if starter.value >= 19:
        return None
    return Priority(starter.policy, min(19, starter.value + NICE_STEP))


def may_raise_back(starter: Priority) -> bool:
    """Whether this process may schedule a thread lowered below ``starter`` as ``starter``
    again (Linux: with ``CAP_SYS_NICE`` in its effective capabilities, or resource limits
    that allow the nice value or real-time priority of ``starter``)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:") and int(line.split()[1], 16) >> _CAP_SYS_NICE & 1:
                return True
        if starter.policy in _REALTIME:
            limit = resource.getrlimit(resource.RLIMIT_RTPRIO)[0]
            return limit == resource.RLIM_INFINITY or limit >= starter.value
        limit = resource.getrlimit(resource.RLIMIT_NICE)[0]  # down to nice 20 - limit
        return limit == resource.RLIM_INFINITY or 20 - limit <= starter.value
    except (OSError, ValueError, AttributeError):
        return False


def _set(tid: int, target: Priority) -> bool:
    """Schedule thread ``tid`` (a native id) as ``target``; False where not permitted."""
    try:
        if target.policy in _REALTIME:
            os.sched_setscheduler(tid, target.policy, os.sched_param(target.value))
        else:
            os.setpriority(os.PRIO_PROCESS, tid, target.value)
    except OSError:  # not permitted, or the thread has ended
        return False
    return True


def lower_thread(starter: Priority | None) -> bool:
    """Run the calling thread one step below ``starter`` (:func:`below`; taken by
    :func:`current` on the thread that starts the work); True if it was lowered. Threads it
    starts later inherit its scheduling; the Polars thread pool, which the engine uses, is
    started first so that it is not among them. Does nothing where the scheduling cannot be
    changed."""
    target = below(starter)
    if target is None:
        return False
    pl.thread_pool_size()  # the pool exists before this thread is lowered (not its child)
    return _set(threading.get_native_id(), target)  # Linux schedules each thread by its id


class Lowered:
    """The threads of one piece of work lowered below their ``starter`` until
    :meth:`raise_back`: :meth:`lower` is each thread's ``ThreadPoolExecutor`` initializer.

    The preload needs its step below only while the main thread prepares the engine; once
    the engine starts, the readers are what it waits for, and on a busy machine a lowered
    reader would wait for other processes as well (docs/state-speed.md, round 18). Raising a
    thread back needs the right to (:func:`may_raise_back`); without it no thread is lowered.
    """

    def __init__(self, starter: Priority | None) -> None:
        self.starter = starter
        self._lock = threading.Lock()
        self._threads: list[int] = []
        # lowered for good, the readers would wait for every other process once the engine
        # waits for them: without the right to raise them back, none is lowered
        self._raised = starter is None or not may_raise_back(starter)

    def lower(self) -> None:
        """Lower the calling thread (:func:`lower_thread`), unless the work was raised back
        already."""
        with self._lock:
            if not self._raised and lower_thread(self.starter):
                self._threads.append(threading.get_native_id())

    def raise_back(self) -> int:
        """Schedule the threads lowered so far as their starter again, and lower no later
        thread; how many were raised."""
        with self._lock:
            self._raised = True
            threads, self._threads = self._threads, []
        starter = self.starter
        if starter is None:
            return 0
        return sum(_set(tid, starter) for tid in threads)

"""``roamlike.state.priority``: the preload's threads run a step below the thread that started
them (a higher nice value, or a lower real-time priority), the Polars pool the engine uses is
not lowered with them, and where the scheduling cannot be changed nothing fails."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from roamlike.state import preload as preload_module
from roamlike.state import priority
from roamlike.state.preload import Preload
from roamlike.state.priority import NICE_STEP, Lowered, Priority, below, current, lower_thread

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="threads are scheduled one by one on Linux"
)


def _nice() -> int:
    """The calling thread's own nice value."""
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def _on_a_thread(job: Any) -> Any:
    """``job()`` run on a new thread (which ends with it), its result."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(job()))
    thread.start()
    thread.join()
    return out[0]


def _ordinary_starter() -> Priority:
    """The calling thread's priority, the test skipped unless a step below it exists under the
    ordinary scheduler (not a real-time policy, nor the highest nice value already)."""
    starter = current()
    assert starter is not None
    if starter.policy != os.SCHED_OTHER or starter.value >= 19:
        pytest.skip("the tests run under a real-time policy or at the highest nice value")
    return starter


def test_one_step_below_is_a_higher_nice_value_or_a_lower_real_time_priority() -> None:
    other, fifo = getattr(os, "SCHED_OTHER", 0), getattr(os, "SCHED_FIFO", 1)
    assert below(Priority(other, 0)) == Priority(other, NICE_STEP)
    assert below(Priority(other, 17)) == Priority(other, 19)  # the highest nice value
    assert below(Priority(other, 19)) is None  # nothing lower
    assert below(None) is None
    if hasattr(os, "sched_get_priority_min"):
        lowest = os.sched_get_priority_min(fifo)
        assert below(Priority(fifo, 50)) == Priority(fifo, 49)
        assert below(Priority(fifo, lowest)) is None


@linux_only
def test_a_lowered_thread_runs_nicer_than_its_starter_and_the_starter_as_before() -> None:
    starter = _ordinary_starter()
    assert starter.value == _nice()

    def lowered() -> int:
        lower_thread(starter)
        return _nice()

    assert _on_a_thread(lowered) == min(19, starter.value + NICE_STEP)
    assert _nice() == starter.value  # only the lowered thread changed


@linux_only
def test_a_real_time_starter_s_threads_get_the_real_time_priority_below_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int, int]] = []
    monkeypatch.setattr(
        os,
        "sched_setscheduler",
        lambda tid, policy, p: calls.append((tid, policy, p.sched_priority)),
    )
    monkeypatch.setattr(os, "setpriority", lambda *a: pytest.fail("no nice under real time"))
    tid = _on_a_thread(
        lambda: (lower_thread(Priority(os.SCHED_FIFO, 50)), threading.get_native_id())[1]
    )
    assert calls == [(tid, os.SCHED_FIFO, 49)]


@linux_only
def test_a_thread_the_system_does_not_let_lower_runs_as_it_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object) -> None:
        raise PermissionError("not permitted")

    monkeypatch.setattr(os, "setpriority", refuse)
    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    before = _nice()
    assert _on_a_thread(lambda: (lower_thread(Priority(os.SCHED_OTHER, 0)), _nice())[1]) == before
    lower_thread(Priority(os.SCHED_FIFO, 50))  # no error either


def test_nothing_is_read_or_changed_off_linux(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(priority.sys, "platform", "darwin")
    assert current() is None
    monkeypatch.setattr(os, "setpriority", lambda *a: pytest.fail("changed"))
    lower_thread(None)


def test_a_starter_whose_scheduling_cannot_be_read_has_no_lowered_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object) -> int:
        raise OSError("not permitted")

    monkeypatch.setattr(priority.sys, "platform", "linux")
    monkeypatch.setattr(os, "sched_getscheduler", refuse)
    assert current() is None


@linux_only
def test_the_preload_s_threads_run_below_the_thread_that_started_it() -> None:
    starter = _ordinary_starter()
    preload = Preload(None, None, starter)
    with preload.executor("roamlike-test", 2) as pool:
        nices = {pool.submit(_nice).result() for _ in range(4)}
    preload.close()
    assert nices == {min(19, starter.value + NICE_STEP)}
    assert _nice() == starter.value


@linux_only
def test_the_readers_and_claim_of_a_rate_command_s_preload_are_lowered_until_the_engine_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_preload import _rate_days

    starter = _ordinary_starter()
    seen: dict[str, int] = {}
    both = threading.Barrier(3)  # the claim, the reader, the main thread before the engine
    read, claim, real = preload_module._read, preload_module._claim, Preload.engine_starts

    def spied_read(*args: Any) -> Any:
        seen["read"] = _nice()
        both.wait(30)
        return read(*args)

    def spied_claim(*args: Any) -> Any:
        seen["claim"] = _nice()
        both.wait(30)
        return claim(*args)

    def engine_starts(self: Preload) -> None:
        both.wait(30)  # the engine starts once both have begun
        real(self)

    monkeypatch.setattr(preload_module, "_read", spied_read)
    monkeypatch.setattr(preload_module, "_claim", spied_claim)
    monkeypatch.setattr(Preload, "engine_starts", engine_starts)
    _rate_days(tmp_path / "files", tmp_path / "store.db", [1])
    assert seen == dict.fromkeys(["read", "claim"], min(19, starter.value + NICE_STEP))
    assert _nice() == starter.value  # the run's own thread as before


@linux_only
def test_the_polars_pool_started_by_a_lowered_thread_is_not_lowered() -> None:
    # a fresh process: the pool does not exist until a thread first uses Polars' threads
    script = """
import os, threading
import polars as pl
from roamlike.state.priority import current, lower_thread

def work():
    lower_thread(current())
    pl.Series(range(200_000)).shuffle(seed=1).sort()  # on the pool

thread = threading.Thread(target=work)
thread.start()
thread.join()
nices = set()
for tid in os.listdir("/proc/self/task"):
    try:  # the joined thread may still be leaving: its entry can vanish while listed
        task = f"/proc/self/task/{tid}"
        with open(f"{task}/comm") as comm, open(f"{task}/stat") as stat:
            name = comm.read().strip()
            if name.startswith("polars-") and name[len("polars-"):].isdigit():  # the pool's
                nices.add(int(stat.read().rsplit(")", 1)[1].split()[16]))
    except FileNotFoundError:
        continue
print(sorted(nices))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert (done.returncode, done.stdout.strip()) == (0, f"[{_nice()}]"), done.stderr


@linux_only
def test_raised_back_the_lowered_threads_run_as_their_starter_and_no_later_one_is_lowered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "setpriority", lambda which, tid, value: calls.append((tid, value)))
    lowered = Lowered(Priority(os.SCHED_OTHER, 0))
    first = _on_a_thread(lambda: (lowered.lower(), threading.get_native_id())[1])
    second = _on_a_thread(lambda: (lowered.lower(), threading.get_native_id())[1])
    assert calls == [(first, NICE_STEP), (second, NICE_STEP)]
    assert lowered.raise_back() == 2
    assert calls[2:] == [(first, 0), (second, 0)]
    _on_a_thread(lowered.lower)  # after the raise: not lowered
    assert len(calls) == 4
    assert lowered.raise_back() == 0  # nothing left to raise


@linux_only
def test_a_raise_back_the_system_refuses_leaves_the_threads_lowered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse_raising(which: int, tid: int, value: int) -> None:
        if value < NICE_STEP:
            raise PermissionError("not permitted")

    monkeypatch.setattr(os, "setpriority", refuse_raising)
    lowered = Lowered(Priority(os.SCHED_OTHER, 0))
    _on_a_thread(lowered.lower)
    assert lowered.raise_back() == 0


@linux_only
def test_a_rate_command_s_preload_threads_run_as_the_main_thread_once_the_engine_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from test_preload import _rate_days

    starter = _ordinary_starter()
    if not _may_raise_back():
        pytest.skip("this process may not raise a thread's priority back")
    after: list[int] = []
    read = preload_module._read

    def slow_read(*args: Any) -> Any:
        out = read(*args)
        engine_started.wait(30)  # the main thread raised the preload back meanwhile
        after.append(_nice())
        return out

    engine_started = threading.Event()
    real = Preload.engine_starts

    def engine_starts(self: Preload) -> None:
        real(self)
        engine_started.set()

    monkeypatch.setattr(preload_module, "_read", slow_read)
    monkeypatch.setattr(Preload, "engine_starts", engine_starts)
    _rate_days(tmp_path / "files", tmp_path / "store.db", [1])
    assert after == [starter.value]


def _may_raise_back() -> bool:
    """True when a thread of this process may lower its nice value again."""

    def job() -> bool:
        tid = threading.get_native_id()
        base = os.getpriority(os.PRIO_PROCESS, tid)
        if base >= 19:
            return False
        os.setpriority(os.PRIO_PROCESS, tid, base + 1)
        try:
            os.setpriority(os.PRIO_PROCESS, tid, base)
        except PermissionError:
            return False
        return True

    result: bool = _on_a_thread(job)
    return result


def _status(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, cap_eff: str) -> None:
    """This process's ``/proc/self/status`` as read by ``priority``, with ``CapEff`` given."""
    status = tmp_path / "status"
    status.write_text(f"Name:\tpython\nCapEff:\t{cap_eff}\n")
    monkeypatch.setattr(priority, "Path", lambda _: status)


def test_the_right_to_raise_back_is_cap_sys_nice_or_the_resource_limits(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    other, fifo = getattr(os, "SCHED_OTHER", 0), getattr(os, "SCHED_FIFO", 1)
    limits = {priority.resource.RLIMIT_NICE: 0, priority.resource.RLIMIT_RTPRIO: 0}
    monkeypatch.setattr(priority.resource, "getrlimit", lambda which: (limits[which], 0))
    _status(monkeypatch, tmp_path, f"{1 << 23:016x}")  # CAP_SYS_NICE
    assert priority.may_raise_back(Priority(other, 0))
    assert priority.may_raise_back(Priority(fifo, 50))
    _status(monkeypatch, tmp_path, f"{(1 << 64) - 1 - (1 << 23):016x}")  # every other one
    assert not priority.may_raise_back(Priority(other, 0))
    assert not priority.may_raise_back(Priority(fifo, 50))
    limits[priority.resource.RLIMIT_NICE] = 20  # nice down to 0
    limits[priority.resource.RLIMIT_RTPRIO] = 49
    assert priority.may_raise_back(Priority(other, 0))
    assert not priority.may_raise_back(Priority(other, -1))
    assert not priority.may_raise_back(Priority(fifo, 50))
    assert priority.may_raise_back(Priority(fifo, 49))


def test_a_process_that_may_not_raise_back_lowers_no_thread(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # lowered for good, the readers would wait for every other process of a busy machine
    calls: list[tuple[int, int]] = []
    monkeypatch.setattr(os, "setpriority", lambda which, tid, value: calls.append((tid, value)))
    monkeypatch.setattr(priority, "may_raise_back", lambda starter: False)
    lowered = Lowered(Priority(getattr(os, "SCHED_OTHER", 0), 0))
    _on_a_thread(lowered.lower)
    assert calls == []
    assert lowered.raise_back() == 0

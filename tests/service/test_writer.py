"""The events writer's gathering: after an idle spell it waits for company at most ``gather_s``,
and starts as soon as as many requests are back as its recent groups held (a cohort of clients
that send again once answered)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from roamlike.law import default_catalog
from roamlike.service.metrics import Metrics
from roamlike.service.runtime import StoreRunner
from roamlike.service.schemas import EventRecord
from roamlike.service.session_steps import SessionStep
from roamlike.service.snapshot import version_read
from roamlike.service.writer import LOOP_GROUP_MAX, EventWriter
from roamlike.tariffs import FxTable

#: A gathering time no test may wait out (the writer must start before it ends).
FOREVER_S = 3600.0


class _Runner:
    """A store runner that commits every group at once, answering each request with its
    group's number and size, and records the groups."""

    def __init__(self) -> None:
        self.groups: list[int] = []

    async def prepare(self, fn: Any, *args: Any) -> None:
        return None

    def commits_on_loop(self) -> bool:
        return False

    async def commit_taking_turns(
        self, fn: Any, group: list[Any], *args: Any
    ) -> tuple[list[bytes], int, int, str]:
        self.groups.append(len(group))
        answer = f"{len(self.groups)}/{len(group)}".encode()
        return [answer] * len(group), len(group), 0, "locked"


def _writer(runner: _Runner, gather_s: float) -> EventWriter:
    fake: Any = runner  # the writer only calls prepare and commit_taking_turns
    store_runner: StoreRunner = fake
    return EventWriter(store_runner, FxTable(), default_catalog(), Metrics(), gather_s)


def test_the_first_group_gathers_what_arrives_within_gather_s() -> None:
    runner = _Runner()
    writer = _writer(runner, 0.05)

    async def scenario() -> list[bytes]:
        return list(await asyncio.gather(*(writer.submit("t", [], []) for _ in range(3))))

    assert asyncio.run(scenario()) == [b"1/3"] * 3
    assert runner.groups == [3]


def test_after_an_idle_spell_the_writer_starts_once_the_cohort_is_back() -> None:
    runner = _Runner()
    writer = _writer(runner, 0.05)

    async def scenario() -> tuple[list[bytes], bool, list[bytes]]:
        first = list(await asyncio.gather(*(writer.submit("t", [], []) for _ in range(3))))
        writer.gather_s = FOREVER_S  # from now on only the cohort's return ends a wait
        two = [asyncio.ensure_future(writer.submit("t", [], [])) for _ in range(2)]
        for _ in range(20):
            await asyncio.sleep(0)
        waiting = not any(t.done() for t in two)  # two of the three: still gathering
        third = asyncio.ensure_future(writer.submit("t", [], []))
        second = await asyncio.wait_for(asyncio.gather(*two, third), timeout=30)
        return first, waiting, list(second)

    first, waiting, second = asyncio.run(scenario())
    assert first == [b"1/3"] * 3
    assert waiting
    assert second == [b"2/3"] * 3
    assert runner.groups == [3, 3]


class _LoopRunner(_Runner):
    """A store runner of a SQLite file: small groups are prepared and committed on the loop's
    path, and it records which path each group took."""

    def __init__(self) -> None:
        super().__init__()
        self.paths: list[str] = []
        self._pending: list[Any] = []

    def commits_on_loop(self) -> bool:
        return True

    async def prepare_here(self, fn: Any, *args: Any) -> None:
        if fn is version_read:  # before a group is worked out on the preparer's thread
            self.paths.append("version read on the loop")
            return
        self.paths.append("prepared on the loop")

    async def prepare(self, fn: Any, *args: Any) -> None:
        self.paths.append("prepared on the preparer")

    async def commit_on_loop(
        self, statements: Any, handed: asyncio.Event
    ) -> tuple[list[bytes], int, int, str]:
        self.paths.append("committed on the loop")
        handed.set()
        return await self.commit_taking_turns(None, self._pending)

    async def commit_taking_turns(
        self, fn: Any, group: list[Any], *args: Any
    ) -> tuple[list[bytes], int, int, str]:
        if fn is not None:
            self.paths.append("committed on the writer")
        return await super().commit_taking_turns(fn, group, *args)


def test_small_groups_take_the_loops_path_and_larger_ones_the_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("roamlike.service.writer._EXPERIMENT", "mix")  # the loop's path
    runner = _LoopRunner()
    writer = _writer(runner, 0.0)
    built: list[int] = []

    def statements(group: list[Any], *args: Any) -> None:
        built.append(len(group))
        runner._pending = group

    monkeypatch.setattr("roamlike.service.writer.group_statements", statements)
    one = EventRecord(record_id="r")

    async def scenario() -> None:
        await writer.submit("t", [], [one] * LOOP_GROUP_MAX)  # at the bound: the loop's path
        await writer.submit("t", [], [one] * (LOOP_GROUP_MAX + 1))  # over it: the threads'
        # a session step's grant is worked out on the preparer, its statements on the loop
        await writer.submit_step("t", [], SessionStep("s", 1, 10, 10, terminate=False))

    asyncio.run(scenario())
    assert runner.paths == [
        "prepared on the loop",
        "committed on the loop",
        "prepared on the preparer",
        "committed on the writer",
        "version read on the loop",
        "prepared on the preparer",
        "committed on the loop",
    ]
    assert built == [1, 1]


class _FlushingRunner(_LoopRunner):
    """The loop's path with the flush after the COMMIT: each group's commit returns once the
    test lets its flush end; records when groups committed and flushed."""

    def __init__(self) -> None:
        super().__init__()
        self.events: list[str] = []
        self.flushes: list[asyncio.Event] = []

    async def commit_on_loop(
        self, statements: Any, handed: asyncio.Event
    ) -> tuple[list[bytes], int, int, str]:
        group = self._pending
        number = len(self.flushes) + 1
        self.events.append(f"committed {number}")
        flushed = asyncio.Event()
        self.flushes.append(flushed)
        handed.set()  # committed, the writers' lock released
        await flushed.wait()
        self.events.append(f"flushed {number}")
        return await _Runner.commit_taking_turns(self, None, group)


@pytest.mark.parametrize("flush_after", [True, False], ids=["flushed after", "round 8"])
def test_a_group_commits_while_the_previous_ones_flush_runs_each_answered_after_its_own(
    monkeypatch: pytest.MonkeyPatch, flush_after: bool
) -> None:
    monkeypatch.setattr("roamlike.service.writer._EXPERIMENT", "mix")  # the loop's path
    monkeypatch.setattr("roamlike.service.loop_commit.FLUSH_AFTER_COMMIT", flush_after)
    runner = _FlushingRunner()
    writer = _writer(runner, 0.0)

    def statements(group: list[Any], *args: Any) -> None:
        runner._pending = group

    monkeypatch.setattr("roamlike.service.writer.group_statements", statements)

    async def until(condition: Any) -> None:
        for _ in range(1000):
            if condition():
                return
            await asyncio.sleep(0)
        raise AssertionError(runner.events)

    async def scenario() -> list[str]:
        first = asyncio.ensure_future(writer.submit("t", [], []))
        await until(lambda: len(runner.flushes) == 1)
        second = asyncio.ensure_future(writer.submit("t", [], []))
        if flush_after:  # the second group commits while the first one's flush runs
            await until(lambda: len(runner.flushes) == 2)
            assert not first.done()
            assert not second.done()
            runner.flushes[1].set()
            assert await second == b"1/1"  # answered after its own flush
            assert not first.done()
            runner.flushes[0].set()
            assert await first == b"2/1"
        else:  # round 8: one group at a time, the next one after the previous one's commit
            for _ in range(100):
                await asyncio.sleep(0)
            assert len(runner.flushes) == 1
            runner.flushes[0].set()
            assert await first == b"1/1"
            await until(lambda: len(runner.flushes) == 2)
            runner.flushes[1].set()
            assert await second == b"2/1"
        return runner.events

    events = asyncio.run(scenario())
    if flush_after:
        assert events == ["committed 1", "committed 2", "flushed 2", "flushed 1"]
    else:
        assert events == ["committed 1", "flushed 1", "committed 2", "flushed 2"]

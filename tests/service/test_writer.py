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

    async def run_taking_turns(
        self, fn: Any, group: list[Any], *args: Any
    ) -> tuple[list[bytes], int, int, str]:
        self.groups.append(len(group))
        answer = f"{len(self.groups)}/{len(group)}".encode()
        return [answer] * len(group), len(group), 0, "locked"


def _writer(runner: _Runner, gather_s: float) -> EventWriter:
    fake: Any = runner  # the writer only calls prepare and run_taking_turns
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
        self.paths.append("prepared on the loop")

    async def prepare(self, fn: Any, *args: Any) -> None:
        self.paths.append("prepared on the preparer")

    async def commit_on_loop(
        self, statements: Any, handed: asyncio.Event
    ) -> tuple[list[bytes], int, int, str]:
        self.paths.append("committed on the loop")
        handed.set()
        return await self.run_taking_turns(None, self._pending)

    async def run_taking_turns(
        self, fn: Any, group: list[Any], *args: Any
    ) -> tuple[list[bytes], int, int, str]:
        if fn is not None:
            self.paths.append("committed on the writer")
        return await super().run_taking_turns(fn, group, *args)


def test_small_groups_take_the_loops_path_and_larger_ones_the_threads(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
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
        "prepared on the preparer",
        "committed on the loop",
    ]
    assert built == [1, 1]

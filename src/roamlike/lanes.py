"""Run jobs a few at a time on worker threads and take their results in order.

``roamlike rate`` rates the batches of a file so (``roamlike.pipeline``): Polars and the
compiled pass release the GIL, so one batch's single-threaded steps overlap another's.
"""

from __future__ import annotations

import collections
import itertools
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Final, Generic, TypeVar

K = TypeVar("K")
T = TypeVar("T")

_NO_KEY: Final = object()


class InOrder(Generic[K, T]):
    """Run ``run(key)`` for each key, up to ``lanes`` at a time, and give the results in order.

    With one lane each job runs on the caller's thread when its turn comes. With more, worker
    threads (named ``name-N``) run the next jobs while the caller takes the current result: at
    most ``lanes`` jobs are running (or wait to be taken) at any time. The first error of a job
    is raised where its result would be taken; leaving the ``with`` block (normally or by an
    error) cancels the jobs not started and waits for those running, so nothing runs on after
    the block.

    Examples
    --------
    >>> with InOrder(lambda k: k * k, [1, 2, 3], 2, name="demo") as results:
    ...     list(results)
    [1, 4, 9]
    """

    def __init__(self, run: Callable[[K], T], keys: Sequence[K], lanes: int, *, name: str) -> None:
        self._run, self._keys, self._lanes, self._name = run, keys, max(lanes, 1), name
        self._pool: ThreadPoolExecutor | None = None

    def __enter__(self) -> Iterator[T]:
        if self._lanes == 1:
            return (self._run(key) for key in self._keys)
        self._pool = ThreadPoolExecutor(self._lanes, thread_name_prefix=self._name)
        return self._in_order(self._pool)

    def _in_order(self, pool: ThreadPoolExecutor) -> Iterator[T]:
        keys = iter(self._keys)
        pending: collections.deque[Future[T]] = collections.deque(
            pool.submit(self._run, key) for key in itertools.islice(keys, self._lanes)
        )
        while pending:
            pending[0].result()  # waits; raises the job's error
            key = next(keys, _NO_KEY)
            if key is not _NO_KEY:
                pending.append(pool.submit(self._run, key))  # type: ignore[arg-type]
            yield pending.popleft().result()

    def __exit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

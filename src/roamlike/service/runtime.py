"""The state store as the service uses it: one thread owns the connection, async callers queue.

Every statement of a process runs on one thread (the store's connection is not shared between
threads), in the order submitted; the event loop never blocks on the store.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from roamlike.service.problems import ProblemError
from roamlike.state import Store, migrate, open_store

T = TypeVar("T")


class StoreRunner:
    """Runs store functions ``fn(store, *args)`` on the store's own thread.

    Parameters
    ----------
    target : str or None
        SQLite path or PostgreSQL URL; None: no store (store calls answer 503).
    """

    def __init__(self, target: str | None) -> None:
        self.target = target
        self._store: Store | None = None
        self._pool: ThreadPoolExecutor | None = None

    @property
    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="roamlike-store")
        return self._pool

    def _open(self) -> None:
        assert self.target is not None
        if self._store is not None:
            return
        store = open_store(self.target)
        try:
            migrate(store)
        except BaseException:
            store.close()
            raise
        self._store = store

    async def start(self) -> None:
        """Open the store and bring its schema up to date (every component)."""
        if self.target is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._open)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(store, *args)`` on the store thread.

        Raises
        ------
        ProblemError
            503 when the service runs without a store.
        """
        if self._store is None and self.target is not None:
            await self.start()  # an app run without its lifespan (some test harnesses)
        store = self._store
        if store is None:
            raise ProblemError(
                503,
                "this service runs without a state store: start it with --state STORE",
                "no-store",
            )
        call = functools.partial(fn, store, *args)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def close(self) -> None:
        """Close the store and stop the thread (a later call opens them again)."""
        store, self._store = self._store, None
        pool, self._pool = self._pool, None
        if pool is not None:
            if store is not None:
                pool.submit(store.close).result()
            pool.shutdown(wait=True)

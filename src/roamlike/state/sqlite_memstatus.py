"""SQLite's memory statistics, turned off in a process before its first store is opened.

SQLite as Linux distributions build it (``SQLITE_DEFAULT_MEMSTATUS=1``) adds every allocation
and free it makes to process-wide statistics, each time under a mutex. A commit group of the
service allocates for every row it binds, every B-tree cell it moves and every page it
touches: in a profile of the writer's statements (1,600 answers, three log appends, a slice)
the C library's mutex calls were about 9 % of the samples, and with the statistics off about
4 %; each statement took 10-12 % less CPU (``docs/service-speed.md``, "Events of 100 records
(round 17: the writer's share)"). The statistics serve ``sqlite3_memory_used`` and the soft
heap limit, neither of which Python's ``sqlite3`` module or this project reads.

The setting is process-wide and SQLite accepts it only while it is not initialised, which
importing ``sqlite3`` already does: :func:`memory_statistics_off` shuts SQLite down, sets it
and initialises it again, and does so only when nothing of SQLite is alive (the statistics
count no allocated byte: no connection, statement or blob is open), once per process, under a
lock. Anything else (another library's connection open first, a SQLite built without the
statistics, a platform other than Linux, ``ROAMLIKE_SQLITE_MEMSTATUS=on`` in the environment)
leaves SQLite as it is; only the CPU differs, never a result.
"""

from __future__ import annotations

import ctypes
import importlib
import os
import sys
import threading

from roamlike.sqlite_driver import EXTENSION

#: ``SQLITE_CONFIG_MEMSTATUS`` (``sqlite3.h``).
_CONFIG_MEMSTATUS = 9
_OK = 0
#: Set to ``on`` in the environment: SQLite's statistics are left on (before/after runs).
ENV = "ROAMLIKE_SQLITE_MEMSTATUS"

_lock = threading.Lock()
_done: list[bool] = []  # the first call's outcome, once made


def _library() -> ctypes.CDLL | None:
    """The SQLite library of the stores' connections (``roamlike.sqlite_driver``: its symbols
    resolved through the extension module that links it), None when it cannot be reached."""
    try:
        extension = importlib.import_module(EXTENSION)
        library = ctypes.CDLL(extension.__file__)
        for name in ("sqlite3_config", "sqlite3_memory_used", "sqlite3_shutdown"):
            getattr(library, name)
    except (ImportError, OSError, AttributeError):
        return None
    library.sqlite3_memory_used.restype = ctypes.c_int64
    return library


def turn_off(library: ctypes.CDLL | None) -> bool:
    """Turn the statistics of ``library`` off when nothing of it is alive (module docstring);
    True when they were turned off."""
    if library is None or os.environ.get(ENV, "").lower() in ("on", "1"):
        return False
    if sys.platform != "linux":  # a variadic call through ctypes is safe on Linux's ABIs
        return False
    if library.sqlite3_compileoption_used(b"DEFAULT_MEMSTATUS=0"):
        return False  # built without them: the count below would say nothing
    if library.sqlite3_memory_used() != 0:
        return False  # a connection or statement is alive: no shutdown now
    if library.sqlite3_shutdown() != _OK:
        return False
    configured = int(library.sqlite3_config(_CONFIG_MEMSTATUS, ctypes.c_int(0))) == _OK
    # the next sqlite3_open initialises SQLite anyway; done here to fail where it is seen
    initialised = int(library.sqlite3_initialize()) == _OK
    return configured and initialised


def memory_statistics_off() -> bool:
    """Turn SQLite's memory statistics off for this process if it can be done safely (module
    docstring); the first call decides, later ones return its outcome. True when they are off
    by this module's doing."""
    with _lock:
        if not _done:
            _done.append(turn_off(_library()))
        return _done[0]

"""The SQLite library of every store connection: ``pysqlite3`` where it is installed, else
Python's own ``sqlite3``.

``pysqlite3`` (the ``pysqlite3-binary`` wheel, Linux x86-64) is Python's ``sqlite3`` module
built with a SQLite of its own: a known version and build on every machine (3.51 at this
writing), instead of whatever the host has (Debian 12's is 3.40, built with ``SECURE_DELETE``,
which overwrites what it frees, and ``OMIT_LOOKASIDE``, which sends each small allocation to
``malloc``). The same statements of a day's preload took about 18 % less CPU with it
(``docs/state-speed.md``, round 21). Elsewhere the host's SQLite is used; the API, the files
and the results are the same.

Every connection one process opens to a store must come from one library: two copies of SQLite
in one process do not see each other's POSIX locks on a file, and closing a file in one drops
the locks the other holds. So the project's code, tests and benchmarks take the module from
here (``from roamlike.sqlite_driver import sqlite3``), never ``import sqlite3``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the same API: type-checked as Python's module
    import sqlite3
else:
    try:
        from pysqlite3 import dbapi2 as sqlite3
    except ImportError:  # another platform: the host's SQLite
        import sqlite3

#: The C extension module that links the SQLite in use (its symbols, for ``ctypes``).
EXTENSION: str = "pysqlite3._sqlite3" if sqlite3.__name__.startswith("pysqlite3") else "_sqlite3"

__all__ = ["EXTENSION", "sqlite3"]

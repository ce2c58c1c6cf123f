"""roamlike: international mobile-roaming regulation as cited, dated rules-as-code.

Layers (data flows down): ``law`` (the catalog), ``tariffs`` (plans, VAT, FX, fair use),
``rating`` (the vectorized engine), ``reference`` (the per-record oracle), ``io``, ``synth``,
``report``, ``audit``; ``cli`` is a thin Typer app over them.
"""

import os as _os

from roamlike.user_cache import cache_dir as _cache_dir

__version__ = "0.1.0"

# Polars allocates through jemalloc, which soon hands freed pages back to the system and
# then takes page faults to get them again; the engine frees and reallocates large buffers in
# every step and batch. Keeping freed pages for 5 s cut the CPU time of `roamlike rate` on 4 M
# records by about a fifth (benchmarks/bench_rating.py; docs/rating.md §7c) for about 0.2 GB
# more peak memory. Only a default: an explicit setting wins, and it takes effect only when
# roamlike is imported before Polars allocates (as in the command line).
_os.environ.setdefault("_RJEM_MALLOC_CONF", "dirty_decay_ms:5000,muzzy_decay_ms:5000")

# NumPy's OpenBLAS starts a worker thread per core when NumPy is imported, and the workers spin
# waiting for work that never comes (roamlike does no floating-point linear algebra): measured
# 0.03-0.05 CPU-s per process (0.1 under `chrt -f`), on the core that `rate --state` loads its
# counters on while the engine is imported (docs/state-speed.md, "Round 13"). One thread: no
# workers.
# Only a default, set before NumPy is imported: an explicit setting wins.
_os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

# Numba keeps compiled code in a per-user directory (not beside the installed sources, which may
# not be writable), so only the first run on a machine compiles the engine's and the TAP
# decoder's kernels. Set before any module imports numba; an explicit setting wins.
_os.environ.setdefault("NUMBA_CACHE_DIR", str(_cache_dir() / "numba"))

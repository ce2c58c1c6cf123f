"""The ``roamlike`` command line: a thin Typer app over the library. No rules live here.

Each group of commands sits in its own module and registers itself on :data:`app`. The modules
are imported when the app is turned into a command (by a call, or Typer's test runner), not
when this package is imported: :func:`main` imports only the module of the command it runs
(``roamlike rate`` never loads the service, Spark, wholesale or web code), and anything else
(help, an unknown command, a direct call of ``app``) imports every command module.

Exit codes: 0 ok, 1 finished with rejects or findings, 2 usage error, 3 data or parameter
error, 4 internal error (a defect: please report it), 130/143 interrupted by SIGINT or SIGTERM.
``--debug`` prints the traceback of an internal error.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import typer
from typer.models import CommandInfo, TyperInfo

#: The module (in this package) that registers each top-level command or group (keep sorted).
COMMAND_MODULES: dict[str, str] = {
    "audit": "audit_command",
    "control": "control_command",
    "countries": "law_commands",
    "demo": "demo_command",
    "fup": "rate_commands",
    "instruments": "law_commands",
    "rate": "rate_commands",
    "rules": "law_commands",
    "serve": "serve_command",
    "simulate": "simulate_command",
    "sources": "law_commands",
    "state": "state_commands",
    "synth": "synth_command",
    "tap": "tap_commands",
    "tenants": "tenants_command",
    "timeline": "law_commands",
    "wholesale": "wholesale_commands",
}


class _LazyTyper(typer.Typer):
    """A Typer app whose command modules are imported when its commands are first read."""

    def __init__(self, **kwargs: Any) -> None:
        self._only: str | None = None
        self._loading = False
        super().__init__(**kwargs)

    # Typer reads (and the command modules append to) these two lists: reading them imports
    # the command modules first, all of them or the one :meth:`only` names.
    @property
    def registered_commands(self) -> list[CommandInfo]:
        self._load()
        return self._commands

    @registered_commands.setter
    def registered_commands(self, value: list[CommandInfo]) -> None:
        self._commands = value

    @property
    def registered_groups(self) -> list[TyperInfo]:
        self._load()
        return self._groups

    @registered_groups.setter
    def registered_groups(self, value: list[TyperInfo]) -> None:
        self._groups = value

    def _load(self) -> None:
        if self._loading:
            return
        # every module of this package (a command module missing from the table still loads)
        modules = sorted(
            m.name for m in pkgutil.iter_modules(__path__) if m.name not in ("__main__",)
        )
        if self._only is not None:
            modules = [COMMAND_MODULES[self._only]]
        self._loading = True
        try:
            for module in modules:
                importlib.import_module(f"{__name__}.{module}")
        finally:
            self._loading = False

    @contextmanager
    def only(self, args: Sequence[str]) -> Iterator[None]:
        """Within the block, building the app imports only the module of the command in
        ``args`` (every module when ``args`` names none: help, an unknown command)."""
        words = [a for a in args if not a.startswith("-")]
        previous, self._only = self._only, None
        if words and words[0] in COMMAND_MODULES and not {"--help", "-h"} & set(args[:1]):
            self._only = words[0]
        try:
            yield
        finally:
            self._only = previous


def _root() -> None:
    """Keeps the app a group of commands when only one command module is loaded."""


app = _LazyTyper(
    name="roamlike",
    help="Roaming regulation as cited, dated rules: look up the rules, rate usage, audit tariffs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    callback=_root,
)


def main() -> None:
    """Console-script entry point (with the catch-all for internal errors)."""
    import contextlib
    import sys

    args = [a for a in sys.argv[1:] if a != "--debug"]
    from roamlike.query_engine import for_process

    for_process()  # Polars' in-memory engine for every query of the command
    if args[:1] == ["rate"]:
        from roamlike.cli import collector

        collector.hold()  # the start's objects are not traversed (until rate_commands releases)
        # the input is read on a thread while the command line is built (docs/rating.md §7c);
        # any trouble here only means it is read later, by the run itself
        with contextlib.suppress(Exception):
            from roamlike.input_reader import start_early

            start_early(args[1:])
        # with a SQLite store, the run's head (write lock, ledger, counters' preload) is begun
        # on a thread as well (docs/state.md, "What a run reads and writes")
        if any(a == "--state" or a.startswith("--state=") for a in args):
            with contextlib.suppress(Exception):
                from roamlike.state.begin import begin_early

                begin_early(args[1:])
    from roamlike.cli.common import exit_now, run_app

    with app.only(args):
        try:
            run_app(app)
        except SystemExit as exc:  # the process ends here: its teardown is skipped
            if args[:1] == ["rate"]:
                # a run that loaded Numba builds the pass ahead of time for the next runs
                with contextlib.suppress(Exception):
                    from roamlike.rating.compiled import build_for_next_runs

                    build_for_next_runs()
            exit_now(exc.code)

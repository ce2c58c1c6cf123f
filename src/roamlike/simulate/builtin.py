"""The built-in what-if scenarios, usable by name (``--scenario wb6-join-eu-rlah-2027``)."""

from __future__ import annotations

from pathlib import Path

from roamlike.errors import ScenarioFileError

#: Folder of the built-in scenario files (``<name>.yaml``).
BUILTIN_DIR = Path(__file__).parent / "scenarios"


def builtin_names() -> list[str]:
    """Names of the built-in scenarios, sorted."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def scenario_path(name_or_path: str) -> Path:
    """The file of a built-in scenario by name, or the path given.

    Raises
    ------
    ScenarioFileError
        Neither a built-in name nor an existing file.
    """
    if name_or_path in builtin_names():
        return BUILTIN_DIR / f"{name_or_path}.yaml"
    path = Path(name_or_path)
    if not path.is_file():
        raise ScenarioFileError(
            path,
            "no such scenario file, and not a built-in scenario name; built-in: "
            + ", ".join(builtin_names()),
        )
    return path

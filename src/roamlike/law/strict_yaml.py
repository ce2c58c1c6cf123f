"""A strict YAML reader for catalog files: duplicate keys are errors, every mapping knows its line.

PyYAML silently keeps the last of two duplicate keys; a law catalog must not. The reader returns
plain ``dict``/``list`` values; mappings are :class:`LineDict`, which also remember the 1-based line
of the mapping and of each key, so that validation errors can name the line to fix.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from roamlike.errors import ParameterFileError


class LineDict(dict[str, Any]):
    """A mapping read from YAML, with the line of the mapping and of each key (1-based)."""

    line: int
    key_lines: dict[str, int]

    def line_of(self, key: str) -> int:
        """Line of ``key`` if present, else of the mapping itself."""
        return self.key_lines.get(key, self.line)


class _StrictLoader(yaml.SafeLoader):
    pass


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode) -> LineDict:
    result = LineDict()
    result.line = node.start_mark.line + 1
    result.key_lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if isinstance(key, bool):
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"key read as the boolean {key}: quote it (e.g. 'NO' for Norway)",
                key_node.start_mark,
            )
        if not isinstance(key, str):
            key = str(key)
        line = key_node.start_mark.line + 1
        if key in result:
            raise yaml.constructor.ConstructorError(
                None,
                None,
                f"duplicate key {key!r} (first on line {result.key_lines[key]})",
                key_node.start_mark,
            )
        result[key] = loader.construct_object(value_node, deep=True)
        result.key_lines[key] = line
    return result


_DATE_TEXT = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _construct_timestamp(loader: _StrictLoader, node: yaml.ScalarNode) -> Any:
    text = str(node.value)
    if "t" not in text.lower() and " " not in text and not _DATE_TEXT.match(text):
        raise yaml.constructor.ConstructorError(
            None, None, f"date {text!r} must be written YYYY-MM-DD", node.start_mark
        )
    try:
        return loader.construct_yaml_timestamp(node)
    except ValueError as exc:
        raise yaml.constructor.ConstructorError(
            None, None, f"invalid date {text!r}: {exc}", node.start_mark
        ) from exc


_StrictLoader.add_constructor("tag:yaml.org,2002:timestamp", _construct_timestamp)
_StrictLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG,
    _construct_mapping,
)


class _NoAliasLoader(_StrictLoader):
    """Refuses aliases (``*name``): a few lines of nested aliases expand to gigabytes."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.events.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            raise yaml.composer.ComposerError(
                None,
                None,
                f"alias *{event.anchor} is not allowed in this file: write the value out",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def load_strict(path: Path, *, allow_aliases: bool = True) -> Any:
    """Read one YAML file strictly (``allow_aliases=False`` for user files: plans, mappings).

    Raises
    ------
    ParameterFileError
        The file is missing, unreadable, not valid YAML, or has a duplicate key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ParameterFileError(path, f"cannot read file: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ParameterFileError(
            path, f"not UTF-8 text (byte {exc.start}): save the file as UTF-8"
        ) from exc
    return load_strict_text(text, path, allow_aliases=allow_aliases)


def load_strict_text(text: str, path: Path, *, allow_aliases: bool = True) -> Any:
    """Read YAML text strictly; ``path`` names its source in error messages
    (``allow_aliases=False`` for user files: plans, mappings).

    Raises
    ------
    ParameterFileError
        The text is not valid YAML or has a duplicate key (the message names the line).
    """
    try:
        return yaml.load(text, Loader=_StrictLoader if allow_aliases else _NoAliasLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or str(exc)
        raise ParameterFileError(path, f"invalid YAML: {problem}", line) from exc
    except yaml.YAMLError as exc:
        raise ParameterFileError(path, f"invalid YAML: {exc}") from exc

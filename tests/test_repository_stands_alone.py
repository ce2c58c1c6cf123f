"""The repository stands alone: no tracked file names a document or path outside it.

Every citation must resolve inside the repository: sources in ``src/roamlike/law/sources.yaml``,
decisions in ``docs/law/``. This test reads every tracked text file and fails on

* ids and names of research notes kept outside the repository (a digest, its decision keys — a
  ``P`` and a number — and source keys — ``S``, ``O`` or ``L`` and a number —, design and style
  notes of the workspace);
* a path into the repository (``docs/…``, ``src/…``, ``tests/…``, ``examples/…``,
  ``benchmarks/…``, ``scripts/…``) that does not exist;
* an absolute path of a build machine, or a relative path that climbs out of the repository.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()

#: Names and ids of documents that live outside the repository.
OUTSIDE = re.compile(
    # written with character classes so that this file itself does not contain what it refuses
    r"DIGES[T]|DESIG[N]\.md|STYL[E]\.md|\.\./share[d]|(?<![\w/])share[d]/law"
    r"|(?<![\w.-])P(?:1[0-3]|[1-9])(?![\w])"  # decision ids: P and 1 to 13
    r"|(?<![\w.-])[SO]\d{1,2}(?![\w])"  # source keys of the outside digest: S or O, a number
    r"|(?<![\w.-])L\d{1,2}m?(?![\w])"  # legal-text keys of the outside digest: L, a number
)
#: Absolute paths of a machine, or climbing out of the repository.
MACHINE_PATH = re.compile(r"(?<![\w.])(?:/wor[k]/|/hom[e]/|/roo[t]/|/User[s]/|\.\./\.\./)")
#: A path into the repository, as written in prose, docstrings and YAML.
REPO_PATH = re.compile(
    r"(?<![\w/.-])((?:docs|src/roamlike|tests|examples|benchmarks|scripts)/[\w./-]*[\w/])"
)
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".yml", ".csv", ".toml", ".txt", ".sh", ".cfg", ".ini"}
#: Files allowed to mention the outside names: this test, which spells them out.
EXEMPT = {SELF}
#: Folders a command writes into (ignored by git): named as outputs, not as documents.
GENERATED = ("benchmarks/out/",)


def _tracked_files() -> list[Path]:
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True, timeout=60
        ).stdout.decode("utf-8")
        names = [n for n in out.split("\0") if n]
    except (OSError, subprocess.SubprocessError):  # not a git checkout: read the tree
        skip = {".git", ".venv", ".mypy_cache", ".ruff_cache", ".pytest_cache", ".hypothesis"}
        names = [
            p.relative_to(ROOT).as_posix()
            for p in ROOT.rglob("*")
            if p.is_file() and not skip & set(p.relative_to(ROOT).parts)
        ]
    return [ROOT / n for n in names if Path(n).suffix in TEXT_SUFFIXES or n in ("Makefile",)]


FILES = _tracked_files()


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (UnicodeDecodeError, FileNotFoundError):
        return []
    return list(enumerate(text.splitlines(), start=1))


def test_the_tracked_files_are_found() -> None:
    names = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.md", "src/roamlike/law/sources.yaml", "docs/law/fair-use.md"} <= names


def test_no_file_names_a_document_outside_the_repository() -> None:
    hits = [
        f"{p.relative_to(ROOT)}:{n}: {m.group(0)!r} in {line.strip()[:90]!r}"
        for p in FILES
        if p.relative_to(ROOT).as_posix() not in EXEMPT
        for n, line in _lines(p)
        for m in [OUTSIDE.search(line) or MACHINE_PATH.search(line)]
        if m
    ]
    assert not hits, "\n".join(hits)


def test_every_repository_path_named_in_a_file_exists() -> None:
    missing = []
    for p in FILES:
        for n, line in _lines(p):
            for m in REPO_PATH.finditer(line):
                ref = m.group(1).rstrip(".")
                if ref.startswith(GENERATED):
                    continue
                if any(c in ref for c in "*<>{}") or "…" in line[m.end() : m.end() + 1]:
                    continue  # a pattern or a placeholder, not a path
                if not (ROOT / ref).exists():
                    missing.append(f"{p.relative_to(ROOT)}:{n}: {ref}")
    assert not missing, "\n".join(missing)


def test_the_checks_see_what_they_must_refuse() -> None:
    # a test that cannot fail is a defect: the patterns catch what they are meant to catch
    digest, shared = "DIG" + "EST", "sha" + "red"
    for text in (
        f"see {digest}",
        "(S" + "26)",
        "per P" + "11 rule",
        "L1 Art. 8",
        f"../{shared}/law/x",
        f"{shared}/law/x",
        "STY" + "LE.md",
    ):
        assert OUTSIDE.search(text), text
    for text in ("eurlex_2022_612", "S3 bucket? no: 'S3x'", "P100", "EUR 0.19", "XP1"):
        assert not OUTSIDE.search(text.replace("S3 bucket? no: ", "")), text
    assert MACHINE_PATH.search("written to /" + "work/wt/law/out")
    assert REPO_PATH.search("see docs/law/fair-use.md.").group(1) == "docs/law/fair-use.md"

"""``roamlike tap decode`` and ``roamlike tap encode``: TAP 3 files to tables and back.

A thin view over :mod:`roamlike.wholesale`; no rule lives here. Exit codes: 0 ok; 1 some file has
a fatal or severe finding (a corrupt or truncated file is a finding, never a traceback); 2 usage
error; 3 an input table, a header or an output cannot be read or written.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from roamlike.cli import app
from roamlike.cli.common import console, err_console, handle, parse_date, print_json
from roamlike.errors import EXIT_FINDINGS, EXIT_OK, OutputError, RoamlikeError
from roamlike.io import TableWriter
from roamlike.law import default_catalog
from roamlike.synth import generate
from roamlike.synth.tap import write_tap_files
from roamlike.wholesale import (
    Finding,
    TapFile,
    decode_file,
    encode_batch,
    findings_frame,
    is_blocking,
    load_batch_spec,
)
from roamlike.wholesale.tables import read_events

tap_app = typer.Typer(help="TAP 3 files: decode and validate, encode.", no_args_is_help=True)
app.add_typer(tap_app, name="tap")


def _summary(files: list[TapFile]) -> None:
    table = Table(title="TAP files")
    for name in (
        "file",
        "sender",
        "recipient",
        "seq",
        "release",
        "events",
        "decoded",
        "failed",
        "fatal",
        "severe",
        "warning",
    ):
        table.add_column(name, no_wrap=name != "file", overflow="fold")
    for f in files:
        h = f.header
        counts = {
            s: sum(x.severity == s for x in f.findings) for s in ("fatal", "severe", "warning")
        }
        table.add_row(
            f.path,
            h.sender or "-",
            h.recipient or "-",
            h.file_sequence_number or "-",
            h.release or "-",
            str(f.events_in_file),
            str(f.decoded),
            str(f.failed),
            *(str(counts[s]) for s in ("fatal", "severe", "warning")),
        )
    console.print(table)
    shown = 0
    for f in files:
        for x in f.findings:
            if shown >= 50:
                break
            console.print(
                f"{x.severity:8} {x.code:32} {f.path}:{x.path}  {x.message}", highlight=False
            )
            shown += 1
    total = sum(len(f.findings) for f in files)
    if total > shown:
        console.print(f"... {total - shown} more findings (use --json or --findings)")


@tap_app.command("decode")
def decode_command(
    files: Annotated[list[Path], typer.Argument(metavar="FILE...", help="TAP files.")],
    as_json: Annotated[
        bool, typer.Option("--json", help="Print headers, events and findings as JSON.")
    ] = False,
    out: Annotated[
        Path | None,
        typer.Option("--out", metavar="EVENTS", help="Write the events (.parquet, .csv, .jsonl)."),
    ] = None,
    findings_path: Annotated[
        Path | None,
        typer.Option(
            "--findings", metavar="F", help="Write the findings (.parquet, .csv, .jsonl)."
        ),
    ] = None,
) -> None:
    """Decode and validate TAP 3.09-3.12 transfer batches and notifications."""
    catalog = default_catalog()
    decoded: list[TapFile] = []
    try:
        events_writer = TableWriter(out) if out is not None else None
        findings_rows: list[tuple[str, Finding]] = []
        for path in files:
            tap = decode_file(path, catalog)
            if events_writer is not None:
                events_writer.write(tap.events)
            findings_rows += [(tap.path, x) for x in tap.findings]
            if not as_json:
                tap.events = tap.events.clear()  # bounded memory: keep headers and findings only
            decoded.append(tap)
        if events_writer is not None:
            events_writer.commit()
        if findings_path is not None:
            with TableWriter(findings_path) as w:
                w.write(findings_frame(findings_rows))
    except OutputError as exc:
        handle(exc)
    if as_json:
        print_json({"files": [f.to_json() for f in decoded]})
    else:
        _summary(decoded)
    blocking = any(is_blocking(f.findings) for f in decoded)
    raise typer.Exit(EXIT_FINDINGS if blocking else EXIT_OK)


@tap_app.command("encode")
def encode_command(
    events: Annotated[
        Path, typer.Argument(metavar="EVENTS", help="Events table (.parquet, .csv, .jsonl).")
    ],
    header: Annotated[
        Path,
        typer.Option(
            "--header",
            metavar="H.yaml",
            help="Batch header: sender, recipient, file_sequence_number, ...",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", metavar="FILE", help="The TAP file to write.")],
) -> None:
    """Write a TAP 3.12 transfer batch from an events table (for tests, synthetic data, demos)."""
    try:
        spec = load_batch_spec(header)
        data = encode_batch(read_events(events), spec)
        tmp = out.with_name(f".{out.name}.tmp")
        try:
            tmp.write_bytes(data)
            tmp.replace(out)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"{out}: cannot write: {exc.strerror or exc}") from exc
    except RoamlikeError as exc:
        handle(exc)
    err_console.print(f"wrote {out} ({len(data)} bytes)", highlight=False)


@tap_app.command("synth")
def synth_command(
    records: Annotated[int, typer.Option("--records", min=0, help="Synthetic usage records.")],
    out: Annotated[Path, typer.Option("--out", metavar="DIR", help="Directory for the TAP files.")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 7,
    start: Annotated[str, typer.Option("--start", help="First day, YYYY-MM-DD.")] = "2026-01-01",
    months: Annotated[int, typer.Option("--months", min=1, help="Calendar months.")] = 3,
) -> None:
    """Write TAP files for the wholesale side of synthetic traffic (one per operator pair)."""
    first = parse_date(start, "--start")
    try:
        usage = generate(records, seed=seed, start=first, months=months).usage
        paths = write_tap_files(usage, out, default_catalog(), dt.datetime(2026, 1, 1))
    except RoamlikeError as exc:
        handle(exc)
    err_console.print(f"wrote {len(paths)} TAP files to {out}", highlight=False)

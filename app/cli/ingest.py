"""`insitechart ingest FILE.jsonl`: stream mentions of any size through the ingest service.

Exit codes: 0 every line stored (or a duplicate), 1 some lines rejected (each reported with its
line number), 2 could not run (no such file, or the database unavailable through the retries; the
summary says up to which line the file was stored, and resending the whole file is safe).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, Any

import orjson
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn

from app.cli.checks import ensure_migrated
from app.cli.errors import CliError, ExitCode
from app.cli.options import Subcommands
from app.config import Settings
from app.dbfaults import DatabaseFault
from app.ingest import IngestResult, MentionIn, Rejection, ingest
from app.resources import Resources

FIELDS = ("symbol", "source", "externalId", "author", "text", "url", "publishedAt")
REQUIRED = ("source", "externalId", "text", "publishedAt")


class BadLine(ValueError):
    def __init__(self, code: str, message: str, external_id: str | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.external_id = external_id


@dataclass(slots=True)
class Totals:
    lines: int = 0
    accepted: int = 0
    duplicates: int = 0
    rejected: int = 0
    # Set when a batch could not be stored: the first line of that batch, and why.
    stopped_at: int | None = None
    failure: str | None = None


def _string(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    if value is None or isinstance(value, str):
        return value
    raise BadLine("BAD_FIELD", f"{name}: must be a string", _external_id(obj))


def _external_id(obj: dict[str, Any]) -> str | None:
    value = obj.get("externalId")
    return value if isinstance(value, str) else None


def parse_line(raw: bytes) -> MentionIn:
    """One JSON object per line, with the fields of the GraphQL `MentionInput`."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadLine("BAD_JSON", f"not valid JSON: {exc.msg}") from None
    if not isinstance(obj, dict):
        raise BadLine("BAD_JSON", "a line must be a JSON object")
    missing = [name for name in REQUIRED if obj.get(name) is None]
    if missing:
        raise BadLine("MISSING_FIELD", f"missing {', '.join(missing)}", _external_id(obj))
    unknown = sorted(set(obj) - set(FIELDS))
    if unknown:
        raise BadLine("UNKNOWN_FIELD", f"unknown field {', '.join(unknown)}", _external_id(obj))
    values = {name: _string(obj, name) for name in FIELDS}
    try:
        published_at = datetime.fromisoformat(str(values["publishedAt"]))
    except ValueError:
        raise BadLine(
            "BAD_TIMESTAMP", "publishedAt: must be an ISO-8601 date-time", values["externalId"]
        ) from None
    return MentionIn(
        source=str(values["source"]).upper(),
        external_id=str(values["externalId"]),
        text=str(values["text"]),
        published_at=published_at,
        symbol=values["symbol"],
        author=values["author"],
        url=values["url"],
    )


Batch = tuple[list[MentionIn], list[int], list[Rejection], list[int]]


def read_batches(stream: IO[bytes], size: int, on_bytes: Any) -> Iterator[Batch]:
    """Yield (mentions, their line numbers, bad lines, their line numbers), `size` lines a time."""
    mentions: list[MentionIn] = []
    lines: list[int] = []
    bad: list[Rejection] = []
    bad_lines: list[int] = []
    number = 0
    for raw in stream:
        number += 1
        on_bytes(len(raw))
        if not raw.strip():
            continue
        try:
            mentions.append(parse_line(raw))
            lines.append(number)
        except BadLine as exc:
            bad.append(Rejection(-1, exc.external_id, exc.code, exc.message))
            bad_lines.append(number)
        if len(mentions) + len(bad) >= size:
            yield mentions, lines, bad, bad_lines
            mentions, lines, bad, bad_lines = [], [], [], []
    if mentions or bad:
        yield mentions, lines, bad, bad_lines


def report(
    result: IngestResult, lines: list[int], bad: list[Rejection], bad_lines: list[int]
) -> None:
    problems = [(bad_lines[i], r) for i, r in enumerate(bad)]
    problems += [(lines[r.index], r) for r in result.rejected]
    for line, r in sorted(problems, key=lambda p: p[0]):
        print(f"line {line}: {r.code}: {r.message}", file=sys.stderr)


async def run(path: Path, settings: Settings, show_progress: bool) -> Totals:
    totals = Totals()
    resources = Resources.open(settings)
    progress = Progress(
        TextColumn("ingest"),
        BarColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        disable=not show_progress,
        transient=False,
    )
    try:
        with path.open("rb") as stream, progress:
            task = progress.add_task("ingest", total=os.fstat(stream.fileno()).st_size)

            def advance(n: int) -> None:
                progress.advance(task, n)

            for mentions, lines, bad, bad_lines in read_batches(
                stream, settings.ingest_cli_batch_size, advance
            ):
                try:
                    result = await ingest(resources, mentions)
                except DatabaseFault as exc:
                    totals.stopped_at = min(lines + bad_lines)
                    totals.failure = f"{exc.code}: {exc}"
                    break
                report(result, lines, bad, bad_lines)
                totals.lines += len(lines) + len(bad_lines)
                totals.accepted += result.accepted
                totals.duplicates += result.duplicates
                totals.rejected += len(result.rejected) + len(bad)
    finally:
        await resources.close()
    return totals


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    path = Path(args.file)
    if not path.is_file():
        raise CliError(f"{path} is not a readable file", ExitCode.NOT_FOUND)
    ensure_migrated(settings)
    show = not args.quiet and sys.stderr.isatty()
    try:
        totals = asyncio.run(run(path, settings, show))
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror or exc}", ExitCode.NOT_FOUND) from None
    except Exception as exc:
        # An operator tool: one line that names the failure, never a traceback.
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise CliError(f"{type(exc).__name__}: {first}", ExitCode.FAILED) from None
    print(
        f"{totals.lines} lines: {totals.accepted} accepted, {totals.duplicates} duplicates, "
        f"{totals.rejected} rejected"
    )
    if totals.failure is not None:
        print(
            f"insitechart: error: stopped at line {totals.stopped_at}: {totals.failure}; "
            "the lines before it are stored, resending the file is safe",
            file=sys.stderr,
        )
        return ExitCode.FAILED
    return ExitCode.REJECTED if totals.rejected else ExitCode.OK


def register(sub: Subcommands) -> None:
    parser = sub.add_parser(
        "ingest",
        help="ingest mentions from a JSON-lines file",
        description="Ingest mentions; exits 1 when some lines were rejected (each is reported).",
    )
    parser.add_argument("file", help="one JSON object per line, fields as in MentionInput")
    parser.add_argument(
        "--quiet",
        action="store_true",
        help="no progress bar (default: off; also off without a terminal)",
    )
    parser.set_defaults(handler=cmd_ingest)

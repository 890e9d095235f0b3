"""How the `insitechart` command fails: one line on stderr and an exit code per kind of error."""

from __future__ import annotations

import sys
from enum import IntEnum


class ExitCode(IntEnum):
    """Exit codes of `insitechart`; scripts may rely on them (documented in the README)."""

    OK = 0
    REJECTED = 1  # `ingest`: some lines were rejected, the others were stored
    USAGE = 2  # a bad option or argument (argparse's own code)
    CONFIG = 3  # an invalid setting in the environment or .env
    UNREACHABLE = 4  # the database cannot be reached
    NOT_MIGRATED = 5  # the database is not migrated to the code's revision
    NOT_FOUND = 6  # no such revision, API key or file
    NEEDS_CONFIRMATION = 7  # a destructive command without --yes
    FAILED = 8  # the command started but could not finish (e.g. the database failed mid-ingest)
    INTERRUPTED = 130  # Ctrl-C, as shells report SIGINT


class CliError(Exception):
    """A user error: the message is one line, fit to print as it is."""

    def __init__(self, message: str, code: ExitCode = ExitCode.USAGE) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def fail(message: str, code: ExitCode = ExitCode.USAGE) -> int:
    """Print one error line and return the exit code."""
    print(f"insitechart: error: {message}", file=sys.stderr)
    return int(code)

"""Options several commands share, and argparse types that refuse out-of-range values."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TypeAlias

# What a command module's `register(sub)` receives: the parser's subcommands.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def bounded_int(low: int, high: int) -> Callable[[str], int]:
    """An argparse type: an integer in low..high, or a one-line usage error."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be between {low} and {high}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def add_bind_options(cmd: argparse.ArgumentParser) -> None:
    cmd.add_argument("--host", help="interface to bind (default: HOST, else 127.0.0.1)")
    cmd.add_argument(
        "--port",
        type=bounded_int(1, 65535),
        help="port to bind, 1..65535 (default: PORT, else 8000)",
    )

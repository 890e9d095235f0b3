"""Count the SQL statements that every engine in the process executes, as a test would observe."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.engine import Engine

from app.db import watch_statements

# What app/realtime/relay.py runs in the background of every app: reads and prunes of the outbox.
BACKGROUND = re.compile(r"\s*(SELECT [^;]*?FROM live_events\b|DELETE FROM live_events\b)", re.S)


class StatementLog:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def _record(self, _engine: Engine, statement: str, _parameters: Any) -> None:
        if BACKGROUND.match(statement):
            return  # the outbox relay's reads run on their own schedule, not the request's
        self.statements.append(statement)


@contextmanager
def count_statements() -> Iterator[StatementLog]:
    log = StatementLog()
    with watch_statements(log._record):
        yield log

"""Capture the records of one logger: the app's loggers do not propagate to pytest's caplog."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def data(self, level: int | None = None) -> list[dict[str, Any]]:
        """The structured fields (`extra={"data": ...}`) of the records, at `level` if given."""
        return [
            r.data
            for r in self.records
            if hasattr(r, "data") and (level is None or r.levelno == level)
        ]


def capture(name: str) -> Iterator[Records]:
    logger = logging.getLogger(name)
    handler = Records()
    previous = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
        logger.setLevel(previous)


@pytest.fixture
def trace_log() -> Iterator[Records]:
    yield from capture("insitechart.trace")


@pytest.fixture
def sql_log() -> Iterator[Records]:
    yield from capture("insitechart.sql")

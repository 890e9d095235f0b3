"""Production logs: one bounded JSON line per event, from every logger; no traceback for client
errors; escaped client text; no SQL parameter values."""

from __future__ import annotations

import json
import logging
import sys

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import Database
from app.logging import JsonFormatter
from tests.hostile.attacks import duplicated_fields, fragment_bomb
from tests.hostile.conftest import Server

REFUSED = [
    {"query": fragment_bomb()},
    {"query": duplicated_fields()},
    {"query": "{ nope " + "x " * 500 + "}"},
    {"query": '{ mention(id: "\u00b2") { id } }'},
    {"query": "{ serverStats { windowSeconds } }"},
    {"query": "{ stocks(first: 0) { nodes { symbol } } }"},
    {"query": "{ __typename }", "operationName": "x" * 5000},
]


async def test_refused_requests_write_little_and_no_traceback(
    server: Server, http: httpx.AsyncClient
) -> None:
    before = len(server.log_lines())
    rounds = 5
    for _ in range(rounds):
        for body in REFUSED:
            await http.post("/graphql", json=body)
    await http.get("/healthz")  # the last lines are flushed by then
    lines = server.log_lines()[before:]
    size = sum(len(line) + 1 for line in lines)
    per_request = size / (rounds * len(REFUSED))
    assert per_request < 1200, (per_request, lines[:5])
    records = [json.loads(line) for line in lines]  # every line is one JSON object
    assert not [r for r in records if "exc" in r or "Traceback" in r["msg"]]
    assert max(len(line) for line in lines) <= 4000


async def test_client_text_is_escaped_in_the_log(server: Server, http: httpx.AsyncClient) -> None:
    await http.post("/graphql", json={"query": "{ __typename }", "operationName": "a\x00b\nc\x1b"})
    raw = server.log_path.read_bytes()
    assert b"\x00" not in raw
    assert b"\x1b" not in raw
    for line in server.log_lines():
        json.loads(line)


def test_a_traceback_is_cut_to_the_line_limit() -> None:
    formatter = JsonFormatter(max_line_chars=1000)
    try:
        raise ValueError("x" * 10_000)
    except ValueError:
        record = logging.LogRecord(
            "t", logging.ERROR, "f", 1, "boom \ud800 %s", ("y" * 5000,), None
        )
        record.exc_info = sys.exc_info()
    line = formatter.format(record)
    assert len(line) <= 1000
    payload = json.loads(line)
    assert payload["msg"].startswith("boom \\ud800 yyy")
    assert "more characters" in payload["msg"]


async def test_sql_errors_never_carry_parameter_values(db: Database) -> None:
    async with db.engine.connect() as conn:
        with pytest.raises(DBAPIError) as caught:
            await conn.execute(text("INSERT INTO no_such_table VALUES (:v)"), {"v": "secret-ab12"})
    assert "secret-ab12" not in str(caught.value)

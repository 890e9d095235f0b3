"""Every argument is checked at the edge: BAD_USER_INPUT naming it, nothing unchecked reaches SQL
(on both backends: PostgreSQL refuses NUL and years outside 1..9999 that SQLite would store)."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest

from tests.hostile.attacks import healthz_meanwhile
from tests.hostile.conftest import Server


def cursor(*parts: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps([1, *parts]).encode()).decode().rstrip("=")


STOCKS = "query($v: String) { stocks(first: 5, %s: $v) { nodes { symbol } } }"
MENTIONS = (
    'query($v: String) { stock(symbol: "AAPL") { mentions(first: 5, after: $v) { nodes { id } } } }'
)
MENTION = "query($v: ID!) { mention(id: $v) { id } }"

CASES = [
    (STOCKS % "search", "a\x00b", "search"),
    (STOCKS % "sector", "Tech\x00", "sector"),
    (STOCKS % "after", cursor("s", "AA\x00PL"), "after"),
    (STOCKS % "after", cursor("s", ""), "after"),
    ("query($v: String!) { stock(symbol: $v) { id } }", "AAPL\x00", "symbol"),
    (
        "query($v: String!) { stock(symbol: $v) { id } }",
        "\u017f",
        "symbol",
    ),  # upper() is S
    ("query($v: [String!]!) { stocksBySymbols(symbols: $v) { id } }", ["A\x00"], "symbols[0]"),
    (MENTION, "\u00b2", "id"),
    (MENTION, "\u0661\u0662\u0663", "id"),
    (MENTION, "9" * 19, "id"),
    (MENTIONS, cursor("m", "2026-01-01T00:00:00+00:00", 2**63), "after"),
    (MENTIONS, cursor("m", "2026-01-01T00:00:00+00:00", True), "after"),
    (MENTIONS, cursor("m", "2026-01-01T00:00:00+00:00", 0), "after"),
    (MENTIONS, cursor("m", "0001-01-01T00:00:00+14:00", 1), "after"),
    (MENTIONS, cursor("m", "9999-12-31T23:59:59-14:00", 1), "after"),
    (MENTIONS, cursor("m", "2026-01-01T00:00:00", 1), "after"),
]


@pytest.mark.parametrize(
    ("query", "value", "field"),
    CASES,
    ids=[
        "search-nul",
        "sector-nul",
        "stock-cursor-nul",
        "stock-cursor-empty",
        "symbol-nul",
        "symbol-long-s",
        "symbols-nul",
        "id-superscript",
        "id-arabic-digits",
        "id-too-long",
        "cursor-id-2^63",
        "cursor-id-true",
        "cursor-id-0",
        "cursor-before-year-1",
        "cursor-after-year-9999",
        "cursor-naive",
    ],
)
async def test_a_bad_argument_is_bad_user_input_naming_it(
    server: Server, http: httpx.AsyncClient, query: str, value: Any, field: str
) -> None:
    body = json.dumps({"query": query, "variables": {"v": value}})
    request = http.post("/graphql", content=body, headers={"content-type": "application/json"})
    response = await healthz_meanwhile(server.url, request)
    assert response.status_code == 200
    errors = response.json()["errors"]
    assert [e["extensions"]["code"] for e in errors] == ["BAD_USER_INPUT"], errors
    assert errors[0]["extensions"]["field"] == field


async def test_ascii_ids_and_cursors_still_work(http: httpx.AsyncClient) -> None:
    body = {"query": MENTION, "variables": {"v": "123"}}
    assert (await http.post("/graphql", json=body)).json()["data"] == {"mention": None}
    after = cursor("m", "2026-01-01T00:00:00+14:00", 5)
    page = await http.post("/graphql", json={"query": MENTIONS, "variables": {"v": after}})
    assert page.json()["data"] == {"stock": {"mentions": {"nodes": []}}}

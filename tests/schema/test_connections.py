"""Connections: edges (encoded only when selected) pair each node with the cursor that
continues after it, in any order of selection, with or without aliases."""

from __future__ import annotations

import httpx

from app.db import Database
from schema import cursors
from tests.conftest import graphql
from tests.factories.universe import make_universe

CONNECTIONS = """
query($after: String) {
  stocks(first: 3, after: $after) {
    pageInfo { hasNextPage endCursor }
    nodes { symbol }
    edges { cursor node { symbol mentions(first: 2) {
      e: edges { cursor node { id publishedAt } }
      nodes { id }
      pageInfo { endCursor hasNextPage }
    } } }
  }
}
"""


async def test_edges_pair_nodes_with_their_cursors_and_page_on(
    db: Database, client: httpx.AsyncClient
) -> None:
    await make_universe(db, 5, 3)
    first = (await graphql(client, CONNECTIONS))["data"]["stocks"]
    edges = first["edges"]
    assert [e["node"]["symbol"] for e in edges] == [n["symbol"] for n in first["nodes"]]
    symbols = [n["symbol"] for n in first["nodes"]]
    assert [e["cursor"] for e in edges] == [cursors.encode_stock(s) for s in symbols]
    assert first["pageInfo"] == {"hasNextPage": True, "endCursor": edges[-1]["cursor"]}
    for edge in edges:
        mentions = edge["node"]["mentions"]
        assert [e["node"]["id"] for e in mentions["e"]] == [n["id"] for n in mentions["nodes"]]
        for e in mentions["e"]:
            decoded = cursors.decode_mention("after", e["cursor"])
            assert (decoded[0].isoformat(), str(decoded[1])) == (
                e["node"]["publishedAt"].replace("Z", "+00:00"),
                e["node"]["id"],
            )
        assert mentions["pageInfo"]["endCursor"] == mentions["e"][-1]["cursor"]
    after = first["pageInfo"]["endCursor"]
    rest = (await graphql(client, CONNECTIONS, {"after": after}))["data"]["stocks"]
    assert [n["symbol"] for n in rest["nodes"]] == ["S003", "S004"]
    assert rest["pageInfo"] == {"hasNextPage": False, "endCursor": rest["edges"][-1]["cursor"]}


async def test_an_empty_page_has_no_edges_and_no_end_cursor(
    db: Database, client: httpx.AsyncClient
) -> None:
    body = await graphql(client, "{ stocks { edges { cursor } pageInfo { endCursor } } }")
    assert body["data"]["stocks"] == {"edges": [], "pageInfo": {"endCursor": None}}

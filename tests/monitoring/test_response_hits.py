"""Response-cache hits are requests too: in the latency histogram and `serverStats`."""

from __future__ import annotations

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.conftest import serve
from tests.factories.stocks import make_stock
from tests.factories.universe import make_universe
from tests.monitoring.test_admin import STATS, post
from tests.monitoring.test_metrics import scrape

LATENCY = "insitechart_graphql_request_duration_seconds"
UNNAMED = "{ stocks(first: 2) { nodes { symbol } } }"
PREFLIGHT = {"apollo-require-preflight": "1"}  # a GET without it is refused (CSRF)


async def test_response_cache_hits_are_counted_as_requests_of_their_operation(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    await make_universe(db, 3, 2)
    token, _ = await create_key(db, "ops", scopes=["read", "admin"])
    app = create_app(settings.model_copy(update={"cache_response_enabled": True}))
    async with serve(app) as client:
        feed = [
            await client.post("/graphql", json={"query": operations["MentionFeed"]})
            for _ in range(3)
        ]
        unnamed = [
            await client.get("/graphql", params={"query": UNNAMED}, headers=PREFLIGHT)
            for _ in range(2)
        ]
        etag = unnamed[1].headers["etag"]
        revalidated = await client.get(
            "/graphql", params={"query": UNNAMED}, headers={"if-none-match": etag, **PREFLIGHT}
        )
        found = await scrape(client)
        body = await post(client, STATS, token)

    assert [r.headers["x-cache"] for r in feed] == ["MISS", "HIT", "HIT"]
    assert [r.headers["x-cache"] for r in unnamed] == ["MISS", "HIT"]
    assert revalidated.status_code == 304
    # One request executed by GraphQL and the hits answered before it: same operation label.
    assert found[(f"{LATENCY}_count", (("operation", "MentionFeed"),))] == 3
    assert found[(f"{LATENCY}_count", (("operation", "anonymous"),))] == 3
    assert found[(f"{LATENCY}_sum", (("operation", "MentionFeed"),))] > 0
    assert not any(name == "insitechart_graphql_errors_total" for name, _ in found)
    assert "errors" not in body, body
    stats = body["data"]["serverStats"]
    assert stats["requests"] == 6
    assert stats["errorRate"] == 0
    counts = {o["operation"]: o["count"] for o in stats["slowestOperations"]}
    assert counts == {"MentionFeed": 3, "anonymous": 3}


async def test_a_hit_of_a_request_with_an_operation_name_is_counted_under_that_name(
    db: Database, settings: Settings
) -> None:
    await make_universe(db, 2, 1)
    app = create_app(settings.model_copy(update={"cache_response_enabled": True}))
    document = "query Top { stocks(first: 1) { nodes { symbol } } }"
    payload = {"query": document, "operationName": "Top"}
    async with serve(app) as client:
        answers = [await client.post("/graphql", json=payload) for _ in range(4)]
        found = await scrape(client)
    assert [a.headers["x-cache"] for a in answers] == ["MISS", "HIT", "HIT", "HIT"]
    assert found[(f"{LATENCY}_count", (("operation", "Top"),))] == 4


async def test_a_throttled_hit_is_counted_with_its_error_code(
    db: Database, settings: Settings
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    tight = {"budget_anonymous_capacity": 3, "budget_anonymous_restore_per_s": 0.01}
    app = create_app(settings.model_copy(update={"cache_response_enabled": True, **tight}))
    one = 'query One { stocksBySymbols(symbols: ["AAPL"]) { symbol } }'
    async with serve(app) as client:
        answers = [await client.post("/graphql", json={"query": one}) for _ in range(4)]
        found = await scrape(client)
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    # The fourth is a hit too (the entry is stored), refused by the budget before it is sent.
    assert [a.headers["x-cache"] for a in answers[:3]] == ["MISS", "HIT", "HIT"]
    assert answers[3].json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    assert found[(f"{LATENCY}_count", (("operation", "One"),))] == 4
    assert found[("insitechart_graphql_errors_total", (("code", "THROTTLED"),))] == 1

from __future__ import annotations

from pathlib import Path

import httpx

from app import migrate
from app.config import Settings
from app.db import Database, create_database
from app.main import create_app
from tests.conftest import graphql, serve
from tests.factories.stocks import make_stock


async def test_healthz_answers_while_process_is_alive(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_reports_ready_with_database_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json()["database"] == "up"


async def test_readyz_returns_503_when_database_is_down(tmp_path: object) -> None:
    settings = Settings(
        database_url="postgresql+asyncpg://nobody@127.0.0.1:1/none", db_pool_timeout_s=1
    )
    async with serve(create_app(settings)) as http:
        response = await http.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "unavailable", "database": "down"}


async def test_stock_query_reads_a_stock_end_to_end(
    db: Database, client: httpx.AsyncClient
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "MSFT", name="Microsoft Corporation")
    body = await graphql(client, '{ stock(symbol: "msft") { symbol name exchange } }')
    assert body["data"] == {
        "stock": {"symbol": "MSFT", "name": "Microsoft Corporation", "exchange": "NASDAQ"}
    }
    assert "errors" not in body


async def test_graphiql_is_served_in_development(client: httpx.AsyncClient) -> None:
    response = await client.get("/graphql", headers={"accept": "text/html"})
    assert response.status_code == 200
    assert "graphiql" in response.text.lower()


async def test_readyz_is_unavailable_with_a_reason_until_the_database_is_migrated(
    tmp_path: Path,
) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'blank.db'}")
    async with serve(create_app(settings)) as http:
        before = await http.get("/readyz")
        blank = create_database(settings)
        try:
            await migrate.upgrade(blank)
        finally:
            await blank.dispose()
        after = await http.get("/readyz")

    assert before.status_code == 503
    assert before.json() == {
        "status": "unavailable",
        "database": "not migrated",
        "reason": "the database has no tables; run `insitechart migrate` first",
    }
    assert after.status_code == 200
    assert after.json()["status"] == "ready"


async def test_root_redirects_to_graphiql(client: httpx.AsyncClient) -> None:
    response = await client.get("/")

    assert response.status_code == 307
    assert response.headers["location"] == "/graphql"

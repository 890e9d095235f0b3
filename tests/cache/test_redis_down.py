"""Redis trouble never fails a request: the breaker sends reads to the database and logs once."""

from __future__ import annotations

import logging

from app.config import Settings
from app.db import Database
from app.main import create_app
from tests.cache.conftest import cache_settings
from tests.conftest import graphql, serve
from tests.factories.universe import make_universe
from tests.sqlcount import count_statements


class Records(logging.Handler):
    """The app's logging does not propagate to pytest's capture: collect records here."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


CLOSED_PORT_URL = "redis://127.0.0.1:8399/0"  # nothing listens here (this area's port range)


async def test_requests_are_served_from_the_database_when_redis_is_unreachable(
    db: Database,
    settings: Settings,
    namespace: str,
    operations: dict[str, str],
) -> None:
    await make_universe(db, 4, 3)
    plain = cache_settings(settings, namespace, cache_enabled=False)
    async with serve(create_app(plain)) as client:
        expected = {name: await graphql(client, operations[name]) for name in ("StockList",)}
    app = create_app(cache_settings(settings, namespace, redis_url=CLOSED_PORT_URL))
    records = Records()
    async with serve(app) as client:
        logging.getLogger("insitechart.cache").addHandler(records)
        try:
            with count_statements() as log:
                bodies = [await graphql(client, operations["StockList"]) for _ in range(5)]
        finally:
            logging.getLogger("insitechart.cache").removeHandler(records)
        breaker = app.state.resources.cache.backend.breaker
    assert all(body == expected["StockList"] for body in bodies)
    assert log.count == 5 * 2  # every request read the database, none failed
    assert breaker.opened == 1
    assert breaker.is_open
    assert breaker.failures == 1  # the open circuit skipped Redis: no timeout per request
    warnings = [r for r in records.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "serving from the database" in warnings[0].getMessage()

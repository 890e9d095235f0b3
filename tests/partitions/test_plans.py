"""The mention pages statement is planned once per connection, not on every execution."""

from __future__ import annotations

from datetime import timedelta

from app.db import Database
from app.partitions import existing, maintain
from app.timeutil import utcnow
from loaders.mentions import _PG_PAGES
from tests.factories.mentions import make_mentions
from tests.factories.stocks import make_stock


async def test_postgresql_keeps_the_generic_plan_of_the_mention_pages_statement(
    pdb: Database,
) -> None:
    """A custom plan of this statement plans the LATERAL over every partition of mentions on
    each execution (~0.6 ms of the server's CPU); PostgreSQL must settle on the generic one
    (loaders/mentions.py says how)."""
    now = utcnow()
    async with pdb.sessionmaker.begin() as session:
        stock = await make_stock(session, "PLAN")
        await make_mentions(session, stock.id, [now - timedelta(hours=12 * i) for i in range(112)])
    await maintain(pdb, now, "week", 2, 0)  # weekly partitions: what makes a custom plan costly
    async with pdb.engine.connect() as conn:
        assert len(await existing(conn)) > 5
    sql = str(_PG_PAGES.element)  # the text, with its :names
    for number, name in enumerate(("stock_ids", "limits", "after_ts", "after_ids", "sources"), 1):
        sql = sql.replace(f":{name}", f"${number}")
    async with pdb.engine.connect() as connection:
        raw = (await connection.get_raw_connection()).driver_connection
        assert raw is not None
        await raw.execute(f"PREPARE pages AS {sql}")
        arguments = f"'{{{stock.id}}}', '{{21}}', '{{NULL}}', '{{NULL}}', '{{NULL}}'"
        for _ in range(8):
            await raw.execute(f"EXECUTE pages({arguments})")
        generic, custom = await raw.fetchrow(
            "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = 'pages'"
        )
        await raw.execute("DEALLOCATE pages")
    assert generic >= 3 and custom <= 5, (generic, custom)

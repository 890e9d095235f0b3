from __future__ import annotations

from pathlib import Path

from sqlalchemy import func, select

from app.cli.seed import prepare_demo
from app.config import Settings
from app.db import Database, create_database
from app.demo.seed import SeedOptions, count_mentions
from app.models import Mention, Stock

TINY = SeedOptions(mentions=120, days=2, stocks=10, batch_size=50)


async def test_demo_migrates_a_fresh_database_and_seeds_it(tmp_path: Path) -> None:
    settings = Settings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'fresh.db'}")

    message = await prepare_demo(settings, TINY)

    assert message.startswith("seeded 10 stocks (10 new) and 120 new mentions")
    db = create_database(settings)
    try:
        assert await count_mentions(db) == 120
    finally:
        await db.dispose()


async def test_demo_seeds_only_when_the_database_has_no_mention(
    db: Database, settings: Settings
) -> None:
    await prepare_demo(settings, TINY)

    message = await prepare_demo(settings, SeedOptions(mentions=500, append=True))

    assert message == "database already has 120 mentions; not seeding"
    assert await count_mentions(db) == 120
    async with db.sessionmaker() as session:
        assert await session.scalar(select(func.count()).select_from(Stock)) == 10
        assert await session.scalar(select(func.count()).select_from(Mention)) == 120

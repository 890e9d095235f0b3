"""The app's partition keeper stops when asked, even in the middle of a pass."""

from __future__ import annotations

import asyncio

from sqlalchemy import text

from app.config import Settings
from app.db import Database
from app.partition_task import PartitionKeeper


async def test_stop_during_a_pass_blocked_on_a_lock_ends_the_keeper(pdb: Database) -> None:
    settings = Settings(database_url=str(pdb.engine.url), mentions_partition_maintenance_s=3600)
    async with pdb.engine.connect() as locker:
        transaction = await locker.begin()
        await locker.execute(text("LOCK TABLE mentions IN ACCESS EXCLUSIVE MODE"))
        keeper = PartitionKeeper(pdb, settings)
        keeper.start()
        await asyncio.sleep(0.5)  # the first pass is waiting for the lock now
        # A cancelled pass must not turn into a logged failure and an hour's sleep: stop()
        # returns, and the task is gone (it used to hang here, holding the app's shutdown).
        await asyncio.wait_for(keeper.stop(), timeout=10)
        await transaction.rollback()
    assert not keeper.running

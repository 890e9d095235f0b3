"""The app's periodic partition maintenance: one pass every MENTIONS_PARTITION_MAINTENANCE_S."""

from __future__ import annotations

import logging

from app.config import Settings
from app.db import Database
from app.partitions import maintain
from app.periodic import Periodic
from app.timeutil import utcnow

log = logging.getLogger("insitechart.partitions")


class PartitionKeeper:
    """Runs the maintenance pass at start and then periodically; every instance may run one
    (the advisory lock lets one of them do the work)."""

    def __init__(self, db: Database, settings: Settings) -> None:
        self.db = db
        self.settings = settings
        self._runner = Periodic(
            "partition-maintenance", self.run_once, settings.mentions_partition_maintenance_s
        )

    async def run_once(self) -> None:
        s = self.settings
        try:
            report = await maintain(
                self.db,
                utcnow(),
                s.mentions_partition_interval,
                s.mentions_partitions_ahead,
                s.mentions_retention_days,
            )
        except Exception:
            # A lock timeout or a lost connection: the next pass tries again.
            log.exception("partition maintenance failed")
            return
        if report.created or report.dropped or report.deleted_default_rows:
            log.info("partition maintenance: %s", report.line())

    @property
    def running(self) -> bool:
        return self._runner.running

    def start(self) -> None:
        if self.db.dialect == "postgresql" and self.settings.mentions_partition_maintenance_s > 0:
            self._runner.start()

    async def stop(self) -> None:
        await self._runner.stop()

"""The monitoring state of one worker process: SQL instrumentation, metrics, windowed stats."""

from __future__ import annotations

from app.config import Settings
from app.db import Database
from app.monitoring.sql import SqlMonitor


class Monitor:
    """Opened with the process's resources; every request records into it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sql = SqlMonitor(settings.trace_slow_sql_ms, settings.trace_sql_fingerprints)

    @classmethod
    def open(cls, settings: Settings, db: Database) -> Monitor:
        monitor = cls(settings)
        monitor.sql.attach(db.engine.sync_engine)
        return monitor

    def close(self, db: Database) -> None:
        self.sql.detach(db.engine.sync_engine)

"""The long-lived resources of one worker process, opened and closed by the app's lifespan."""

from __future__ import annotations

from dataclasses import dataclass

from app.config import Settings
from app.db import Database, create_database


@dataclass(slots=True)
class Resources:
    settings: Settings
    db: Database

    @classmethod
    def open(cls, settings: Settings) -> Resources:
        return cls(settings=settings, db=create_database(settings))

    async def close(self) -> None:
        await self.db.dispose()

"""Read replicas: the loaders read from a healthy replica, everything else from the primary.

A background check asks each replica (DATABASE_REPLICA_URLS) every REPLICA_CHECK_INTERVAL_S how
far it is behind: none when it has replayed the primary's current WAL position, otherwise
`now() - pg_last_xact_replay_timestamp()`. A replica that is down, not in recovery, or behind by
more than REPLICA_MAX_LAG_S is skipped until a later check finds it well again. After this
process writes (an ingest), reads go to the primary for REPLICA_MAX_LAG_S, so the cache entries
refilled right after the invalidation hold the write.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import text

from app.config import Settings
from app.db import Database, create_database
from app.periodic import Periodic

log = logging.getLogger("insitechart.replicas")

_LAG = text(
    """
    SELECT pg_is_in_recovery(),
           CAST(:lsn AS text) IS NOT NULL
           AND pg_last_wal_replay_lsn() >= CAST(CAST(:lsn AS text) AS pg_lsn),
           extract(epoch FROM now() - pg_last_xact_replay_timestamp())
    """
)


@dataclass(slots=True)
class ReplicaState:
    db: Database
    name: str  # host:port/database, for logs
    healthy: bool = False
    lag_s: float | None = None
    error: str | None = None


class ReplicaSet:
    """The primary and its replicas; `reader()` is where a request's loaders read."""

    def __init__(
        self, primary: Database, replicas: Sequence[ReplicaState], settings: Settings
    ) -> None:
        self.primary = primary
        self.replicas = list(replicas)
        self.max_lag_s = settings.replica_max_lag_s
        self.interval_s = settings.replica_check_interval_s
        self._turn = itertools.count()
        self._primary_until = 0.0  # monotonic: reads stay on the primary until then
        self._health = Periodic("replica-health", self.check, self.interval_s)

    @classmethod
    def open(cls, settings: Settings, primary: Database) -> ReplicaSet:
        states = []
        for url in settings.database_replica_urls:
            replica = create_database(settings.model_copy(update={"database_url": url}))
            safe = replica.engine.url
            states.append(ReplicaState(replica, f"{safe.host}:{safe.port}/{safe.database}"))
        return cls(primary, states, settings)

    def reader(self) -> Database:
        """A healthy replica (in turn), or the primary when none is or after a recent write."""
        if time.monotonic() < self._primary_until:
            return self.primary
        healthy = [r for r in self.replicas if r.healthy]
        if not healthy:
            return self.primary
        return healthy[next(self._turn) % len(healthy)].db

    async def wrote(self, _stored: object = None) -> None:
        """An after-write hook: read the primary while the replicas may not have the write."""
        self._primary_until = time.monotonic() + self.max_lag_s

    async def _primary_lsn(self) -> str | None:
        try:
            async with self.primary.engine.connect() as conn:
                lsn = await asyncio.wait_for(
                    conn.scalar(text("SELECT CAST(pg_current_wal_lsn() AS text)")), 2.0
                )
        except Exception:
            return None
        return str(lsn) if lsn is not None else None

    async def _check(self, replica: ReplicaState, lsn: str | None) -> None:
        try:
            async with replica.db.engine.connect() as conn:
                row = (await asyncio.wait_for(conn.execute(_LAG, {"lsn": lsn}), 2.0)).one()
        except Exception as exc:
            replica.healthy, replica.lag_s = False, None
            replica.error = str(exc).strip().splitlines()[0] if str(exc).strip() else repr(exc)
            return
        in_recovery, caught_up, behind = row
        lag = 0.0 if caught_up else (float(behind) if behind is not None else None)
        replica.lag_s, replica.error = lag, None if in_recovery else "not a replica"
        replica.healthy = bool(in_recovery) and lag is not None and lag <= self.max_lag_s

    async def check(self) -> None:
        """Measure every replica once and mark it healthy or skipped."""
        lsn = await self._primary_lsn()
        was = {id(r): r.healthy for r in self.replicas}
        await asyncio.gather(*(self._check(r, lsn) for r in self.replicas))
        for r in self.replicas:
            if r.healthy != was[id(r)]:
                log.warning(
                    "replica %s %s (lag %s s%s)",
                    r.name,
                    "back in use" if r.healthy else "skipped",
                    "?" if r.lag_s is None else f"{r.lag_s:.1f}",
                    f", {r.error}" if r.error else "",
                )

    def start(self) -> None:
        if self.replicas:
            self._health.start()

    async def close(self) -> None:
        await self._health.stop()
        for r in self.replicas:
            await r.db.dispose()

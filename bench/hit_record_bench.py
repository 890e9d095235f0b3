"""What recording a response-cache hit in the request metrics costs: `Monitor.record_operation`.

    python -m bench.hit_record_bench [--hits 200000]

The monitor is the one `Resources.open` builds (in-process metrics, the serverStats window); the
figure is CPU time per recorded hit, what the response cache adds to every hit it answers.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from app.config import Settings
from app.db import create_database
from app.monitoring.monitor import Monitor


async def measure(hits: int) -> float:
    settings = Settings(database_url="sqlite+aiosqlite:///:memory:")
    db = create_database(settings)
    monitor = Monitor.open(settings, db)
    try:
        start = time.process_time()
        for _ in range(hits):
            monitor.record_operation("MentionFeed", 0.0004, (), None, ())
        return (time.process_time() - start) / hits
    finally:
        await monitor.close()
        await db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hits", type=int, default=200_000)
    args = parser.parse_args()
    per_hit = asyncio.run(measure(args.hits))
    print(f"{args.hits} hits recorded: {per_hit * 1e6:.2f} us CPU per hit")


if __name__ == "__main__":
    main()

from __future__ import annotations

import redis.asyncio as redis


async def test_redis_server_answers_at_the_configured_url(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    try:
        assert await client.ping() is True
        info = await client.info("server")
        assert int(str(info["redis_version"]).split(".")[0]) >= 6
    finally:
        await client.aclose()

"""The broker on a Redis Cluster: sharded subscriptions, one per channel per process."""

from __future__ import annotations

import asyncio
import uuid

from redis.asyncio.cluster import RedisCluster as ClusterClient

from app.realtime.broker import Broker, RedisBackend
from app.redis_shared import SharedRedis, connect
from tests.liveserver import wait_for


async def shard_subscribers(admin: ClusterClient, channel: str) -> int:
    """PUBSUB SHARDNUMSUB on the master that owns the channel's slot."""
    await admin.initialize()  # the slot map, before asking it
    node = admin.get_node_from_key(channel)
    ((_, count),) = await admin.pubsub_shardnumsub(channel, target_nodes=node)
    return int(count)


async def test_local_subscribers_share_one_sharded_subscription_dropped_by_the_last(
    redis_url: str, redis_client: ClusterClient
) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    shared = SharedRedis.of(connect(redis_url, 500, 8, cluster=True))
    broker = Broker(lambda b: RedisBackend(b, shared), prefix=prefix)
    channel = prefix + "m:A"
    try:
        async with (
            broker.subscribe(["m:A"], queue_size=3) as one,
            broker.subscribe(["m:A"], queue_size=3) as two,
        ):
            await wait_for(lambda: broker.is_live("m:A"))
            held = await shard_subscribers(redis_client, channel)
            await broker.publish([("m:A", b"x")])
            got = await asyncio.wait_for(asyncio.gather(one.get(), two.get()), 5)
        for _ in range(50):
            if await shard_subscribers(redis_client, channel) == 0:
                break
            await asyncio.sleep(0.02)
        left = await shard_subscribers(redis_client, channel)
    finally:
        await broker.close()
    assert held == 1
    assert list(got) == [("m:A", b"x")] * 2
    assert left == 0

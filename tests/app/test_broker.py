from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis

from app.realtime.broker import Broker, SlowConsumer, create_broker
from tests.liveserver import wait_for


@pytest.fixture(params=["inprocess", "redis"])
async def broker(request: pytest.FixtureRequest) -> AsyncIterator[Broker]:
    url = request.getfixturevalue("redis_url") if request.param == "redis" else None
    b = create_broker(url, prefix=f"test-{uuid.uuid4().hex[:8]}:")
    try:
        yield b
    finally:
        await b.close()


async def test_a_burst_coalesces_to_the_latest_value_per_channel(broker: Broker) -> None:
    async with broker.subscribe(["s:A", "s:B"], queue_size=2, coalesce=True) as sub:
        await wait_for(lambda: broker.is_live("s:A") and broker.is_live("s:B"))
        await broker.publish([("s:A", str(i).encode()) for i in range(100)])
        await broker.publish([("s:B", b"b1"), ("s:A", b"last")])
        await wait_for(lambda: sub.pending == 2 and sub.dropped == 100)
        assert [await sub.get(), await sub.get()] == [("s:B", b"b1"), ("s:A", b"last")]


async def test_a_subscriber_beyond_its_queue_is_cut_off_and_others_keep_receiving(
    broker: Broker,
) -> None:
    overflowed: list[bool] = []
    async with (
        broker.subscribe(
            ["m:A"], queue_size=3, on_overflow=lambda: overflowed.append(True)
        ) as slow,
        broker.subscribe(["m:A"], queue_size=100) as fast,
    ):
        await wait_for(lambda: broker.is_live("m:A"))
        await broker.publish([("m:A", str(i).encode()) for i in range(10)])
        await wait_for(lambda: fast.pending == 10)
        assert overflowed == [True]
        with pytest.raises(SlowConsumer, match="more than 3 events behind"):
            await slow.get()
        assert [(await fast.get())[1] for _ in range(10)] == [str(i).encode() for i in range(10)]


async def test_a_subscriber_is_idle_only_with_nothing_queued_and_nothing_in_hand(
    broker: Broker,
) -> None:
    # The fan-out may write around the queue only to an idle subscriber: order is kept.
    async with broker.subscribe(["m:A"], queue_size=10) as sub:
        await wait_for(lambda: broker.is_live("m:A"))
        assert sub.idle
        await broker.publish([("m:A", b"1"), ("m:A", b"2")])
        await wait_for(lambda: sub.pending == 2)
        assert not sub.idle
        assert await sub.get() == ("m:A", b"1")
        assert await sub.get() == ("m:A", b"2")
        assert not sub.idle  # "2" is still being handled by the consumer
        waiting = asyncio.create_task(sub.get())
        await asyncio.sleep(0)
        assert sub.idle  # the consumer asked for more: "2" is done
        await broker.publish([("m:A", b"3")])
        assert await waiting == ("m:A", b"3")


async def test_many_local_subscribers_share_one_backend_subscription(
    broker: Broker, request: pytest.FixtureRequest
) -> None:
    async with (
        broker.subscribe(["m:A"], 10) as one,
        broker.subscribe(["m:A", "m:B"], 10) as two,
        broker.subscribe(["m:A"], 10) as three,
    ):
        await wait_for(lambda: broker.is_live("m:A") and broker.is_live("m:B"))
        assert broker.channels == {"m:A", "m:B"}
        if "redis" in request.node.callspec.id:
            client = aioredis.Redis.from_url(request.getfixturevalue("redis_url"))
            counts = dict(await client.pubsub_numsub(broker.prefix + "m:A"))
            await client.aclose()
            assert counts == {(broker.prefix + "m:A").encode(): 1}
        await broker.publish([("m:A", b"x")])
        got = await asyncio.gather(one.get(), two.get(), three.get())
        assert list(got) == [("m:A", b"x")] * 3
    assert broker.channels == frozenset()


async def test_the_last_local_subscriber_leaving_unsubscribes_on_redis(redis_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    b = create_broker(redis_url, prefix=prefix)
    admin = aioredis.Redis.from_url(redis_url)
    try:
        async with b.subscribe(["m:A"], queue_size=3):
            await wait_for(lambda: b.is_live("m:A"))
            assert (await admin.pubsub_numsub(prefix + "m:A"))[0][1] == 1
        for _ in range(50):
            if (await admin.pubsub_numsub(prefix + "m:A"))[0][1] == 0:
                break
            await asyncio.sleep(0.02)
        assert (await admin.pubsub_numsub(prefix + "m:A"))[0][1] == 0
    finally:
        await admin.aclose()
        await b.close()

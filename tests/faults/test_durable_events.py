"""No event is silently lost: a Redis outage or a database cut after the commit only delays it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from app.config import Settings
from app.db import Database
from app.realtime.events import mention_channel
from tests.faults.conftest import relayed_database
from tests.faults.services import RedisServer
from tests.liveserver import LiveServer, live_server, receive, subscribe, wait_for, ws_client
from tests.schema.test_subscription import ingest_over_http, item, setup_keys


async def ingest_each(server: LiveServer, token: str, ops: dict[str, str], ids: list[str]) -> None:
    """One ingest per id: each commits, and each announces its events on its own."""
    for external_id in ids:
        body = await ingest_over_http(server, token, ops["IngestMentions"], [item(external_id)])
        assert body["data"]["ingestMentions"]["accepted"] == 1, body


async def received_ids(ws: ClientConnection, count: int) -> list[int]:
    ids = []
    for _ in range(count):
        message = await receive(ws, timeout_s=10)
        assert message["type"] == "next" and "errors" not in message["payload"], message
        ids.append(int(message["payload"]["data"]["mentionAdded"]["id"]))
    return ids


async def no_more(ws: ClientConnection) -> None:
    try:
        extra: dict[str, Any] | None = await receive(ws, timeout_s=0.7)
    except TimeoutError:
        extra = None
    assert extra is None, extra


def shared(settings: Settings, **values: Any) -> Settings:
    return settings.model_copy(
        update={
            "cache_warm_on_start": False,
            "cache_warm_interval_s": 0,
            "live_poll_interval_ms": 100,
            "cache_breaker_cooldown_s": 0.3,
            **values,
        }
    )


async def test_events_accepted_while_redis_is_down_reach_a_subscriber_of_another_worker(
    db: Database, settings: Settings, operations: dict[str, str], private_redis: RedisServer
) -> None:
    reader, pusher = await setup_keys(db)
    both = shared(
        settings,
        redis_url=private_redis.url,
        realtime_channel_prefix=f"test-{uuid.uuid4().hex[:8]}:",
    )
    async with (
        live_server(both) as ingesting,
        live_server(both) as serving,
        ws_client(serving, {"apiKey": reader}) as ws,
    ):
        await subscribe(ws, "m", operations["LiveMentions"], {"symbols": ["AAPL"]})
        await wait_for(lambda: mention_channel("AAPL") in serving.resources.broker.subscribers)
        await ingest_each(ingesting, pusher, operations, ["up0"])
        before = await received_ids(ws, 1)
        private_redis.kill()
        await ingest_each(ingesting, pusher, operations, [f"down{i}" for i in range(5)])
        await private_redis.start()
        await ingest_each(ingesting, pusher, operations, ["up1"])
        later = await received_ids(ws, 6)
        await no_more(ws)
    assert len(set(before + later)) == 7
    assert later == sorted(later) and before[0] < later[0]  # in commit order, none twice


async def test_a_database_cut_between_commit_and_delivery_loses_no_event(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    if db.dialect != "postgresql":
        pytest.skip("the cut needs a server to relay to; SQLite is one file of one process")
    reader, pusher = await setup_keys(db)
    quick = shared(settings, live_poll_interval_ms=100)
    async with relayed_database(quick) as (relay, relayed):
        async with (
            live_server(quick) as ingesting,
            live_server(relayed) as serving,
            ws_client(serving, {"apiKey": reader}) as ws,
        ):
            await subscribe(ws, "m", operations["LiveMentions"], {"symbols": ["AAPL"]})
            await wait_for(lambda: mention_channel("AAPL") in serving.resources.broker.subscribers)
            # The subscription is live once the worker knows where its outbox reading starts (one
            # read at its first subscriber); a cut before that refuses the subscribe instead.
            outbox = serving.resources.relay
            assert outbox is not None
            await wait_for(lambda: outbox.upto is not None)
            await relay.stop()  # the serving worker loses its database after the commits below
            await ingest_each(ingesting, pusher, operations, [f"cut{i}" for i in range(4)])
            await asyncio.sleep(0.5)  # its relay fails to read a few times meanwhile
            await relay.start()
            got = await received_ids(ws, 4)
            await no_more(ws)
    assert len(set(got)) == 4 and got == sorted(got)

"""The live side of the load: connections churned are released, held ones receive events."""

from __future__ import annotations

import asyncio
import contextlib

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.realtime.relay import WAKE_CHANNEL
from bench.config import bench_settings, read_operations
from bench.http1 import Http1Pool
from bench.live import Ingester, LiveStats, churn, live_user, ws_url
from tests.factories.universe import make_universe
from tests.liveserver import live_server, wait_for

STOCKS = 5


def live(channels: frozenset[str]) -> set[str]:
    """The channels of subscriptions; the relay's wake-up channel stays for the worker's life."""
    return set(channels - {WAKE_CHANNEL})


async def test_churned_connections_are_all_opened_subscribed_and_released(
    db: Database, settings: Settings
) -> None:
    await make_universe(db, STOCKS, 1)
    query = read_operations()["LiveSentiment"]
    async with live_server(bench_settings(settings)) as server:
        stats = LiveStats()
        await churn(ws_url(server.http_url), query, 45, 20, STOCKS, stats)
        assert (stats.opened, stats.closed, stats.failed) == (45, 45, 0), stats.first_error
        limits = server.app.state.ws_limits
        await wait_for(lambda: limits.total == 0)  # every connection's slot is given back
        channels = server.resources.broker
        await wait_for(lambda: live(channels.channels) == set())  # and its subscription
        assert not limits.by_client


async def test_a_held_subscription_counts_the_events_of_ingested_mentions(
    db: Database, settings: Settings
) -> None:
    await make_universe(db, 1, 1)  # one stock, S000: every popular symbol drawn is S000
    token, _ = await create_key(db, "ingester", scopes=("read", "ingest"), tier="internal")
    operations = read_operations()
    async with live_server(bench_settings(settings)) as server:
        stats = LiveStats()
        holding = await live_user(
            ws_url(server.http_url), operations["LiveSentiment"], ["S000"], stats
        )
        assert holding is not None, stats.first_error
        await wait_for(lambda: bool(live(server.resources.broker.channels)))
        async with Http1Pool(server.http_url, 2) as client:
            ingester = Ingester(client, operations["IngestMentions"], token, 50.0, 1, stats)
            while stats.events == 0 and stats.ingested < 20:
                await ingester.step()
        assert stats.ingested >= 1 and stats.ingest_errors == 0, stats.first_error
        await wait_for(lambda: stats.events >= 1)
        holding.cancel()
        await wait_for(lambda: stats.closed == 1)
        assert stats.failed == 0, stats.first_error


async def test_connections_closed_right_after_subscribing_leave_no_operation_running(
    db: Database, settings: Settings, redis_url: str
) -> None:
    """The churn's shape (subscribe, then close at once) with budgets charged on Redis: every
    operation task, feed and connection handler ends. In the soak (4,000 connections, 1,000 at
    once) 12% of the handlers stayed stuck before the fix in LiveHandler.run_operation: a close
    landing in the Redis call lost its cancel. 160 connections here rarely hit that window;
    `python -m bench soak` is where it showed."""
    await make_universe(db, STOCKS, 1)
    query = read_operations()["LiveSentiment"]
    live_settings = bench_settings(settings).model_copy(
        update={"redis_url": redis_url, "realtime_channel_prefix": "churn-test:"}
    )
    async with live_server(live_settings) as server:
        stats = LiveStats()
        for seed in range(4):
            await churn(ws_url(server.http_url), query, 40, 40, STOCKS, stats, seed=seed)
        assert (stats.opened, stats.failed) == (160, 0), stats.first_error

        def stuck() -> list[str]:
            names = ("run_operation", "_run", "run_asgi")
            return [
                task.get_coro().__qualname__  # type: ignore[union-attr]
                for task in asyncio.all_tasks()
                if getattr(task.get_coro(), "__name__", "") in names
            ]

        with contextlib.suppress(TimeoutError):
            await wait_for(lambda: not stuck() and server.app.state.ws_limits.total == 0)
        assert stuck() == [] and server.app.state.ws_limits.total == 0
        assert not server.app.state.multiplexer.feeds and not live(server.resources.broker.channels)

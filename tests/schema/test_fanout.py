"""The fan-out writes each event straight to the sockets that keep up (schema/multiplex.py)."""

from __future__ import annotations

from app.config import Settings
from app.db import Database
from app.realtime.events import mention_channel
from schema.multiplex import Feed, Multiplexer
from tests.liveserver import live_server, receive, subscribe, wait_for, ws_client
from tests.schema.test_subscription import ingest_over_http, item, setup_keys


def only_feed(multiplexer: Multiplexer) -> Feed:
    (feed,) = multiplexer.feeds.values()
    return feed


async def deliver_a_batch_to_two_connections(
    db: Database, settings: Settings, operations: dict[str, str]
) -> tuple[list[list[str]], Feed]:
    """Subscribe two connections with different operation ids, ingest three mentions."""
    reader, pusher = await setup_keys(db)
    async with (
        live_server(settings) as server,
        ws_client(server, {"apiKey": reader}) as first,
        ws_client(server, {"apiKey": reader}) as second,
    ):
        await subscribe(first, "a", operations["LiveMentions"], {"symbols": ["AAPL"]})
        await subscribe(second, "b", operations["LiveMentions"], {"symbols": ["AAPL"]})
        multiplexer: Multiplexer = server.app.state.multiplexer
        await wait_for(
            lambda: (
                len(multiplexer.feeds) == 1
                and len(only_feed(multiplexer).outlets) == 2
                and server.resources.broker.is_live(mention_channel("AAPL"))
            )
        )
        batch = [item(f"e{i}", f"$AAPL update number {i}") for i in range(3)]
        body = await ingest_over_http(server, pusher, operations["IngestMentions"], batch)
        assert body["data"]["ingestMentions"]["accepted"] == 3
        texts: list[list[str]] = []
        for ws, op_id in ((first, "a"), (second, "b")):
            messages = [await receive(ws) for _ in batch]
            assert [(m["id"], m["type"]) for m in messages] == [(op_id, "next")] * 3
            texts.append([m["payload"]["data"]["mentionAdded"]["text"] for m in messages])
        return texts, only_feed(multiplexer)


async def test_events_are_written_straight_to_sockets_that_keep_up_in_order(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    texts, feed = await deliver_a_batch_to_two_connections(db, settings, operations)
    expected = [f"$AAPL update number {i}" for i in range(3)]
    assert texts == [expected, expected]
    assert (feed.written, feed.queued) == (6, 0)


async def test_without_direct_writes_every_event_goes_through_the_connections_queue(
    db: Database, settings: Settings, operations: dict[str, str]
) -> None:
    settings = settings.model_copy(update={"realtime_direct_writes": False})
    texts, feed = await deliver_a_batch_to_two_connections(db, settings, operations)
    expected = [f"$AAPL update number {i}" for i in range(3)]
    assert texts == [expected, expected]
    assert (feed.written, feed.queued) == (0, 6)

"""A live execution that falls behind its events closes its connections with 4008."""

from __future__ import annotations

import orjson
import pytest
from websockets.exceptions import ConnectionClosed

from app.apikeys import create_key
from app.config import Settings
from app.db import Database
from app.ingest import MentionIn, ingest
from app.realtime.events import build_events, mention_channel
from app.timeutil import utcnow
from tests.factories.stocks import make_stock
from tests.liveserver import live_server, receive, subscribe, wait_for, ws_client

# A fragment keeps a document off the multiplexer: it runs once per connection.
ALONE = """subscription Alone($symbols: [String!]!) {
  ... on Subscription { mentionAdded(symbols: $symbols) { id text } }
}"""


@pytest.mark.parametrize("multiplexed", [True, False], ids=["multiplexed", "alone"])
async def test_a_feed_more_events_behind_than_it_holds_closes_its_subscribers_with_4008(
    db: Database, settings: Settings, operations: dict[str, str], multiplexed: bool
) -> None:
    async with db.sessionmaker.begin() as session:
        await make_stock(session, "AAPL")
    reader, _ = await create_key(db, "frontend", scopes=["read"])
    # The feed's queue holds max(REALTIME_QUEUE_SIZE, 4 x INGEST_MAX_BATCH) = 4 events.
    tiny = settings.model_copy(update={"realtime_queue_size": 1, "ingest_max_batch": 1})
    async with live_server(tiny) as server, ws_client(server, {"apiKey": reader}) as ws:
        document = operations["LiveMentions"] if multiplexed else ALONE
        await subscribe(ws, "m", document, {"symbols": ["AAPL"]})
        broker = server.resources.broker
        await wait_for(lambda: broker.is_live(mention_channel("AAPL")))
        assert len(server.app.state.multiplexer.feeds) == (1 if multiplexed else 0)
        stored = await ingest(
            server.resources, [MentionIn("NEWS", "x1", "$AAPL up", utcnow(), symbol="AAPL")]
        )
        async with db.sessionmaker() as session:
            events = await build_events(session, stored.stored)
        (event,) = [m for m in events if m[0].startswith("mention")]
        # Fifty events in one go: far more than the feed can hold before it runs again.
        await broker.publish([event] * 50)
        messages = []
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(60):
                messages.append(await receive(ws))
    assert closed.value.rcvd is not None
    assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4008, "slow consumer")
    assert all(m["type"] == "next" and "errors" not in m["payload"] for m in messages), messages
    assert "behind" not in orjson.dumps(messages).decode()

"""The Subscription root: live sentiment and mentions of some symbols, pushed after each ingest.

Both fields read the broker's fan-out (one backend subscription per channel per process).
`sentimentUpdated` coalesces: a subscriber that falls behind gets the latest value per symbol.
`mentionAdded` queues up to REALTIME_QUEUE_SIZE events; a subscriber further behind is
disconnected with close code 4008 (slow consumer) so that it cannot hold memory or anyone else up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from datetime import datetime
from typing import Annotated, Any

import strawberry
from starlette.websockets import WebSocket

from app.config import Settings
from app.realtime.events import mention_channel, sentiment_channel
from loaders import LoaderEnv, Loaders
from loaders.rows import MentionRow, SentimentRow, StockRow
from schema.auth import require_scope
from schema.context import Context
from schema.errors import BadUserInput
from schema.query import normalize_symbol
from schema.resume import live_events
from schema.types import Mention, Sentiment

log = logging.getLogger("insitechart.subscriptions")

SLOW_CONSUMER_CLOSE = 4008
_closing: set[asyncio.Task[None]] = set()


def feed_queue_size(settings: Settings) -> int:
    """Room between the broker and one execution: a few whole ingest batches of one symbol."""
    return max(settings.realtime_queue_size, 4 * settings.ingest_max_batch)


async def check_symbols(info: strawberry.Info[Context], symbols: list[str]) -> list[str]:
    """Normalised, known symbols; too many, malformed or unknown ones are BAD_USER_INPUT."""
    require_scope(info, "read")
    limit = info.context.resources.settings.realtime_max_symbols
    if not symbols:
        raise BadUserInput("symbols", "give at least one symbol", min=1, max=limit)
    if len(symbols) > limit:
        raise BadUserInput(
            "symbols", f"at most {limit} symbols, got {len(symbols)}", min=1, max=limit
        )
    wanted = list(
        dict.fromkeys(normalize_symbol(f"symbols[{i}]", s) for i, s in enumerate(symbols))
    )
    rows = await info.context.loaders.stock_by_symbol.load_many(wanted)
    unknown = [s for s, row in zip(wanted, rows, strict=True) if row is None]
    if unknown:
        raise BadUserInput("symbols", f"unknown symbol {', '.join(unknown)}", unknown=unknown)
    return wanted


def _closer(info: strawberry.Info[Context]) -> Callable[[], None]:
    """Close the connection of a subscriber that fell too far behind, from the fan-out."""
    websocket = info.context.request

    def close() -> None:
        if not isinstance(websocket, WebSocket):
            return
        log.warning("closing slow consumer %s", info.context.principal.client_id)
        task = asyncio.create_task(_close(websocket))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    return close


async def _close(websocket: WebSocket) -> None:
    try:
        await websocket.close(code=SLOW_CONSUMER_CLOSE, reason="slow consumer")
    except Exception as exc:  # already closed, or the transport is gone
        log.info("slow consumer close: %s", type(exc).__name__)


def _event(info: strawberry.Info[Context], channel: str, event: dict[str, Any]) -> dict[str, Any]:
    """Note an event's key and cursor, and give the context fresh loaders primed with its stock.

    Fresh loaders per event keep nested fields (`stock { sentiment }`) as fresh as the event; with
    multiplexing this runs once per feed, not once per subscriber.
    """
    context = info.context
    context.event_key = channel
    cursor = event.get("cursor")
    context.event_cursor = int(cursor) if cursor is not None else None
    context.loaders = Loaders.build(LoaderEnv.of(context.resources, cached=False))
    stock = StockRow(**event["stock"])
    context.loaders.stock_by_id.prime(stock.id, stock)
    context.loaders.stock_by_symbol.prime(stock.symbol, stock)
    return event


AFTER = (
    "The cursor of the last event received (the `cursor` in the extensions of each `next`): "
    "the events missed since are delivered first, then live ones, with no gap and no duplicate. "
    "Events are kept LIVE_RETENTION_H hours; an older cursor is refused with CURSOR_EXPIRED."
)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Fresh rolling sentiment of the symbols after each ingest that touches them; "
        "bursts coalesce to the latest value per symbol. At most REALTIME_MAX_SYMBOLS symbols."
    )
    async def sentiment_updated(
        self,
        info: strawberry.Info[Context],
        symbols: list[str],
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[Sentiment, None]:
        wanted = await check_symbols(info, symbols)
        resources = info.context.resources
        channels = [sentiment_channel(s) for s in wanted]
        size = feed_queue_size(resources.settings)
        events = live_events(resources, channels, after, size, coalesce=True)
        async with aclosing(events):
            async for channel, event in events:
                row = _event(info, channel, event)["sentiment"]
                row["updated_at"] = datetime.fromisoformat(row["updated_at"])
                yield Sentiment.from_row(SentimentRow(**row))

    @strawberry.subscription(
        description="Each new mention of the symbols, as it is stored. A subscriber more than "
        "REALTIME_QUEUE_SIZE events behind is disconnected (close code 4008); it may resume "
        "with `after`."
    )
    async def mention_added(
        self,
        info: strawberry.Info[Context],
        symbols: list[str],
        after: Annotated[str | None, strawberry.argument(description=AFTER)] = None,
    ) -> AsyncGenerator[Mention, None]:
        wanted = await check_symbols(info, symbols)
        resources = info.context.resources
        channels = [mention_channel(s) for s in wanted]
        size = feed_queue_size(resources.settings)
        events = live_events(resources, channels, after, size, False, _closer(info))
        async with aclosing(events):
            async for channel, event in events:
                row = _event(info, channel, event)["mention"]
                row["published_at"] = datetime.fromisoformat(row["published_at"])
                yield Mention.from_row(MentionRow(**row))

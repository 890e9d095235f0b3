from __future__ import annotations

import itertools
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.sentiment import score_text
from app.store import StoredMention, store_mentions

_ids = itertools.count(1)


async def make_mentions(
    session: AsyncSession,
    stock_id: int,
    times: list[datetime],
    text: str = "$AAPL looks great, loving it",
    source: str = "REDDIT",
) -> list[StoredMention]:
    """Store one scored mention per timestamp (and roll them up), as ingestion would."""
    score = score_text(text)
    rows = [
        {
            "stock_id": stock_id,
            "source": source,
            "external_id": f"t-{next(_ids)}",
            "author": "tester",
            "text": text,
            "url": None,
            "published_at": at,
            "compound": score.compound,
            "positive": score.positive,
            "neutral": score.neutral,
            "negative": score.negative,
        }
        for at in times
    ]
    return await store_mentions(session, rows)

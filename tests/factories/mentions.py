from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.ingest import MentionIn
from app.sentiment import score_text
from app.store import StoredMention, store_mentions
from app.timeutil import utcnow

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


def mention(external_id: str, text: str = "$AAPL is great", **kw: Any) -> MentionIn:
    """A mention as the ingest service takes it: from Reddit, five minutes ago, unless `kw` says."""
    fields: dict[str, Any] = {"source": "REDDIT", "published_at": utcnow() - timedelta(minutes=5)}
    fields.update(kw)
    return MentionIn(external_id=external_id, text=text, **fields)

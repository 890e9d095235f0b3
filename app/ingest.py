"""The one ingest service: validate, attribute, score and store mentions, then run the hooks.

Partial accept: in a batch, every valid mention is stored and every invalid one is reported with
its index, a stable code and a message. A mention's rows and its sentiment buckets change in one
transaction; a batch the database refuses is split until only the refused mentions are left out
(app/writes.py), and a transient failure is retried before it reaches the client.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import select

from app.config import Settings
from app.dbfaults import DatabaseFault, as_fault
from app.models import MentionSource, Stock
from app.resources import Resources
from app.sentiment import score_text
from app.store import StoredMention
from app.timeutil import as_utc, utcnow
from app.writes import write_rows

MAX_EXTERNAL_ID = 128
MAX_AUTHOR = 128
MAX_URL = 2048
MAX_SYMBOL = 16
SOURCES = frozenset(s.value for s in MentionSource)
SYMBOL = re.compile(r"[A-Z0-9][A-Z0-9.\-]{0,15}")
# A cashtag is "$" then a letter-led ticker; "$5" or "$1.2M" are amounts, not tickers.
CASHTAG = re.compile(r"(?<![\w$])\$([A-Za-z][A-Za-z0-9]{0,9}(?:[.\-][A-Za-z]{1,2})?)\b")


@dataclass(frozen=True, slots=True)
class MentionIn:
    """One mention as a partner sends it, already parsed into Python types."""

    source: str
    external_id: str
    text: str
    published_at: datetime
    symbol: str | None = None
    author: str | None = None
    url: str | None = None


@dataclass(frozen=True, slots=True)
class Rejection:
    index: int
    external_id: str | None
    code: str
    message: str


@dataclass(slots=True)
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    rejected: list[Rejection] = field(default_factory=list)
    stored: list[StoredMention] = field(default_factory=list)


class Invalid(ValueError):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def cashtags(text: str) -> list[str]:
    """The distinct tickers named by cashtags in `text`, upper-cased, in order of appearance."""
    return list(dict.fromkeys(m.upper() for m in CASHTAG.findall(text)))


def _check_length(name: str, value: str | None, limit: int) -> None:
    if value is not None and len(value) > limit:
        raise Invalid("FIELD_TOO_LONG", f"{name}: is longer than {limit} characters")


def _check_storable(name: str, value: str | None) -> None:
    """PostgreSQL text cannot hold NUL, and UTF-8 cannot encode a lone surrogate."""
    if value is None:
        return
    if "\x00" in value:
        raise Invalid("BAD_CHARACTER", f"{name}: contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise Invalid("BAD_CHARACTER", f"{name}: contains a lone surrogate") from None


def _check_timestamp(value: datetime) -> datetime:
    try:
        return as_utc(value)
    except OverflowError:
        # "0001-01-01T00:00:00+14:00" is a valid ISO date whose UTC instant has no Python year.
        raise Invalid("BAD_TIMESTAMP", "publishedAt: is outside the storable range") from None


def _check_url(url: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        raise Invalid("BAD_URL", "url: is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or any(c.isspace() for c in url):
        raise Invalid("BAD_URL", "url: must be an absolute http(s) URL")


def check_mention(m: MentionIn, settings: Settings, now: datetime) -> list[str]:
    """Raise `Invalid` for a mention that cannot be stored; return the symbols it may belong to."""
    if m.source not in SOURCES:
        raise Invalid("UNKNOWN_SOURCE", f"source: must be one of {', '.join(sorted(SOURCES))}")
    for name, value in (
        ("externalId", m.external_id),
        ("text", m.text),
        ("author", m.author),
        ("url", m.url),
        ("symbol", m.symbol),
    ):
        _check_storable(name, value)
    if not m.external_id.strip():
        raise Invalid("EMPTY_EXTERNAL_ID", "externalId: must not be empty")
    _check_length("externalId", m.external_id, MAX_EXTERNAL_ID)
    _check_length("author", m.author, MAX_AUTHOR)
    if not m.text.strip():
        raise Invalid("EMPTY_TEXT", "text: must not be empty")
    if len(m.text) > settings.ingest_max_text_chars:
        raise Invalid(
            "TEXT_TOO_LONG", f"text: is longer than {settings.ingest_max_text_chars} characters"
        )
    if m.url is not None:
        _check_length("url", m.url, MAX_URL)
        _check_url(m.url)
    skew = timedelta(seconds=settings.ingest_max_future_skew_s)
    if _check_timestamp(m.published_at) > now + skew:
        raise Invalid(
            "FUTURE_TIMESTAMP",
            f"publishedAt: is more than {settings.ingest_max_future_skew_s:g} s in the future",
        )
    if m.symbol is not None:
        symbol = m.symbol.strip().upper()
        if not SYMBOL.fullmatch(symbol):
            raise Invalid("BAD_SYMBOL", f"symbol: 1 to {MAX_SYMBOL} letters, digits, '.' or '-'")
        return [symbol]
    tags = cashtags(m.text)
    if not tags:
        raise Invalid("NO_SYMBOL", "symbol: missing, and the text names no $CASHTAG")
    return tags


async def _stock_ids(resources: Resources, symbols: set[str]) -> dict[str, int]:
    if not symbols:
        return {}
    stmt = select(Stock.symbol, Stock.id).where(Stock.symbol.in_(sorted(symbols)))
    async with resources.db.sessionmaker() as session:
        return {row.symbol: row.id for row in await session.execute(stmt)}


def _row(m: MentionIn, stock_id: int) -> dict[str, Any]:
    score = score_text(m.text)
    return {
        "stock_id": stock_id,
        "source": m.source,
        "external_id": m.external_id,
        "author": m.author,
        "text": m.text,
        "url": m.url,
        "published_at": as_utc(m.published_at),
        "compound": score.compound,
        "positive": score.positive,
        "neutral": score.neutral,
        "negative": score.negative,
    }


async def ingest(
    resources: Resources,
    mentions: Sequence[MentionIn],
    rejected: Sequence[Rejection] = (),
) -> IngestResult:
    """Store the valid mentions of a batch; report the invalid ones and those the database refused.

    `rejected` carries problems found before this call (a CLI line that is not JSON); they are
    reported with the others. A duplicate, already stored or repeated in the batch, is counted,
    never stored twice. Raises `DatabaseFault` when the database stays unavailable or in conflict
    through the retries; then nothing of the batch was acknowledged and resending it is safe.
    """
    result = IngestResult(rejected=list(rejected))
    now = utcnow()
    candidates: list[tuple[int, MentionIn, list[str]]] = []
    for index, m in enumerate(mentions):
        try:
            candidates.append((index, m, check_mention(m, resources.settings, now)))
        except Invalid as exc:
            result.rejected.append(Rejection(index, m.external_id, exc.code, exc.message))
    try:
        known = await _stock_ids(resources, {s for _, _, symbols in candidates for s in symbols})
    except Exception as exc:
        raise as_fault(exc) from exc
    rows: list[dict[str, Any]] = []
    origins: list[tuple[int, MentionIn]] = []
    seen: set[tuple[str, str]] = set()
    for index, m, symbols in candidates:
        stock_id = next((known[s] for s in symbols if s in known), None)
        if stock_id is None:
            names = ", ".join(symbols)
            result.rejected.append(
                Rejection(index, m.external_id, "UNKNOWN_SYMBOL", f"symbol: unknown ({names})")
            )
            continue
        if (m.source, m.external_id) in seen:
            result.duplicates += 1
            continue
        seen.add((m.source, m.external_id))
        rows.append(_row(m, stock_id))
        origins.append((index, m))
    try:
        written = await write_rows(resources.db, rows, resources.settings.ingest_retry_attempts)
    except DatabaseFault as fault:
        await resources.mentions_stored(fault.stored)  # committed halves of a split batch
        raise
    result.stored = written.stored
    for position, state in written.refused:
        index, m = origins[position]
        reason = f" (SQLSTATE {state})" if state else ""
        result.rejected.append(
            Rejection(index, m.external_id, "STORE_REFUSED", f"the database refused it{reason}")
        )
    result.duplicates += len(rows) - len(written.refused) - len(result.stored)
    result.rejected.sort(key=lambda r: r.index)
    result.accepted = len(result.stored)
    await resources.mentions_stored(result.stored)
    return result

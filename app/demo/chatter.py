"""Generated market chatter: who is talked about, when, where, by whom and in what mood.

Mention `i` of a plan is a pure function of (random seed, i, plan), so a run can stop and
resume, or be extended with `--append`, and always produce the same rows for the same clock.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import accumulate
from typing import Any

from app.demo import phrases
from app.demo.universe import Company
from app.models import MentionSource
from app.sentiment import score_text
from app.timeutil import HOUR, floor_hour

# Chatter concentrates on a few names (Zipf with this exponent over the popularity ranking).
ZIPF_EXPONENT = 1.07
# The names retail chatter is known to favour lead the ranking when they are in the universe.
CROWD_FAVOURITES = (
    "TSLA", "NVDA", "AAPL", "AMD", "PLTR", "AMZN", "META", "MSFT", "GOOGL", "NFLX",
    "INTC", "COIN", "SMCI", "BA", "MU", "F", "DIS", "JPM", "UBER", "AVGO",
)  # fmt: skip
SOURCES = (
    (MentionSource.REDDIT, 0.34),
    (MentionSource.TWITTER, 0.33),
    (MentionSource.STOCKTWITS, 0.23),
    (MentionSource.NEWS, 0.10),
)
# Relative volume per UTC hour: quiet nights, a peak over the US session (13:30-20:00 UTC).
HOURLY_RHYTHM = (
    0.35, 0.30, 0.25, 0.20, 0.18, 0.18, 0.20, 0.25, 0.35, 0.45, 0.55, 0.70,
    0.90, 1.20, 1.50, 1.40, 1.30, 1.30, 1.40, 1.50, 1.20, 0.90, 0.70, 0.50,
)  # fmt: skip
WEEKEND_FACTOR = 0.45
# Share of mentions that belong to a news-driven burst on one stock.
EVENT_SHARE = 0.12
AUTHORS = 5_000

_CASHTAG = re.compile(r"\$[A-Za-z][A-Za-z.]{0,9}")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CORPORATE_SUFFIX = re.compile(
    r",?\s+(Inc\.?|Incorporated|Corporation|Corp\.?|Company|Co\.|plc|PLC|Ltd\.?|N\.V\.|S\.A\.)$"
)
_SOURCE_CUM = tuple(accumulate(w for _, w in SOURCES))


@dataclass(frozen=True, slots=True)
class Listing:
    stock_id: int
    symbol: str
    name: str
    sector: str


@dataclass(frozen=True, slots=True)
class Event:
    """A burst of chatter on one stock, starting at an hour of the window and fading."""

    stock: int
    hours: tuple[int, ...]
    hour_cum: tuple[float, ...]
    mood: float


@dataclass(frozen=True, slots=True)
class Plan:
    seed: int
    start: datetime
    end: datetime
    listings: tuple[Listing, ...]
    stock_cum: tuple[float, ...]
    moods: tuple[float, ...]
    hour_cum: tuple[float, ...]
    events: tuple[Event, ...]


def short_name(name: str) -> str:
    """'Ford Motor Company' -> 'Ford Motor', 'Alphabet Inc.' -> 'Alphabet'."""
    return _CORPORATE_SUFFIX.sub("", name).strip() or name


def mask_entities(text: str, name: str | None = None) -> str:
    """Hide what VADER would misread: cashtags (`$LOW` is not the word 'low'), the company
    name ('Best Buy') and numbers (its lexicon reads '187' or '143' as slang; here they are
    prices and percentages). Masked texts also repeat far more, so the score cache hits."""
    masked = _NUMBER.sub("0", _CASHTAG.sub("ticker", text))
    return masked.replace(name, "company") if name else masked


def popularity_order(companies: Sequence[Company], rng: random.Random) -> list[Company]:
    """Crowd favourites first, then the rest in a shuffled (seeded) order."""
    favourites = {s: i for i, s in enumerate(CROWD_FAVOURITES)}
    head = [c for c in companies if c.symbol in favourites]
    head.sort(key=lambda c: favourites[c.symbol])
    tail = [c for c in companies if c.symbol not in favourites]
    rng.shuffle(tail)
    return head + tail


def make_plan(seed: int, listings: Sequence[Listing], days: int, end: datetime) -> Plan:
    """Fix the popularity, moods, rhythm and bursts of a run; `listings` most popular first."""
    rng = random.Random(seed)
    count = len(listings)
    hours = days * 24
    start = floor_hour(end) - HOUR * (hours - 1)
    elapsed = (end - floor_hour(end)) / HOUR
    hour_weights = [
        _hour_weight(start + HOUR * h, h, hours) * (max(elapsed, 0.01) if h == hours - 1 else 1)
        for h in range(hours)
    ]
    return Plan(
        seed=seed,
        start=start,
        end=end,
        listings=tuple(listings),
        stock_cum=tuple(accumulate(1 / (rank + 1) ** ZIPF_EXPONENT for rank in range(count))),
        moods=tuple(rng.uniform(-0.35, 0.55) for _ in range(count)),
        hour_cum=tuple(accumulate(hour_weights)),
        events=tuple(_make_events(rng, count, hours)),
    )


def _hour_weight(at: datetime, h: int, hours: int) -> float:
    weekend = WEEKEND_FACTOR if at.weekday() >= 5 else 1.0
    growth = 1 + 0.3 * h / hours  # chatter grows a little towards the present
    return HOURLY_RHYTHM[at.hour] * weekend * growth


def _make_events(rng: random.Random, stocks: int, hours: int) -> list[Event]:
    if stocks == 0:
        return []
    events = []
    for k in range(max(2, min(12, stocks // 40))):
        # Two bursts are under way now, so the trending ranking has a story to tell.
        begin = hours - 1 - rng.randrange(3) if k == 0 else None
        if k == 1:
            begin = hours - 1 - rng.randrange(3, 12)
        if begin is None:
            begin = rng.randrange(hours)
        begin = max(begin, 0)
        span = range(begin, min(begin + rng.randrange(4, 24), hours))
        weights = [0.8 ** (h - begin) for h in span]
        stock = rng.randrange(min(5, stocks - 1), min(stocks, 150)) if stocks > 1 else 0
        mood = rng.choice((-1, 1)) * rng.uniform(0.5, 0.9)
        events.append(Event(stock, tuple(span), tuple(accumulate(weights)), mood))
    return events


def generate(plan: Plan, first: int, stop: int) -> Iterator[dict[str, Any]]:
    """Mentions `first` .. `stop - 1` of the plan, as rows for `store_mentions`."""
    for i in range(first, stop):
        yield make_mention(plan, i)


def _pick(rng: random.Random, cum: Sequence[float]) -> int:
    return min(bisect_right(cum, rng.random() * cum[-1]), len(cum) - 1)


def make_mention(plan: Plan, i: int) -> dict[str, Any]:
    rng = random.Random(plan.seed * 1_000_003 + i)
    if plan.events and rng.random() < EVENT_SHARE:
        event = plan.events[rng.randrange(len(plan.events))]
        stock, hour, mood = event.stock, event.hours[_pick(rng, event.hour_cum)], event.mood
    else:
        stock = _pick(rng, plan.stock_cum)
        hour, mood = _pick(rng, plan.hour_cum), plan.moods[stock]
    listing = plan.listings[stock]
    source = SOURCES[_pick(rng, _SOURCE_CUM)][0]
    text = _text(rng, listing, source, mood)
    score = score_text(mask_entities(text, listing.name))
    published_at = _moment(rng, plan, hour)
    author = _author(rng, source)
    return {
        "stock_id": listing.stock_id,
        "source": source.value,
        "external_id": f"seed-{i}",
        "author": author,
        "text": text,
        "url": _url(source, author, listing, i),
        "published_at": published_at,
        "compound": score.compound,
        "positive": score.positive,
        "neutral": score.neutral,
        "negative": score.negative,
    }


def _text(rng: random.Random, listing: Listing, source: MentionSource, mood: float) -> str:
    news = source is MentionSource.NEWS
    bullish = max(0.05, 0.40 + 0.35 * mood - (0.1 if news else 0))
    bearish = max(0.05, 0.22 - 0.30 * mood - (0.05 if news else 0))
    roll = rng.random()
    pool: tuple[str, ...]
    if roll < bullish:
        pool, closers = (phrases.BULLISH_NEWS if news else phrases.BULLISH_SOCIAL), 0
    elif roll < bullish + bearish:
        pool, closers = (phrases.BEARISH_NEWS if news else phrases.BEARISH_SOCIAL), 1
    else:
        pool, closers = (phrases.NEUTRAL_NEWS if news else phrases.NEUTRAL_SOCIAL), 2
    body = rng.choice(pool).format(
        tag=f"${listing.symbol}",
        name=listing.name,
        sector=listing.sector,
        pct=rng.choice(phrases.PCTS),
        q=rng.choice(phrases.QUARTERS),
        n=rng.choice(phrases.SMALL),
    )
    if news:
        return body
    return f"{rng.choice(phrases.OPENERS)}{body}{rng.choice(phrases.CLOSERS[closers])}"


def _moment(rng: random.Random, plan: Plan, hour: int) -> datetime:
    begin = plan.start + HOUR * hour
    span_s = min(3600.0, (plan.end - begin).total_seconds())
    return begin + timedelta(seconds=int(rng.random() * max(span_s, 1.0)))


def _author(rng: random.Random, source: MentionSource) -> str:
    if source is MentionSource.NEWS:
        return rng.choice(phrases.NEWS_OUTLETS)
    # A few prolific accounts write much of the chatter.
    n = int(AUTHORS * rng.random() ** 2.5)
    first, second = phrases.AUTHOR_WORDS
    return f"{first[n % len(first)]}_{second[n // len(first) % len(second)]}{n // 90 or ''}"


def _url(source: MentionSource, author: str, listing: Listing, i: int) -> str:
    # Shaped like the real sites' links; the ids are generated and resolve nowhere.
    if source is MentionSource.REDDIT:
        sub = phrases.SUBREDDITS[i % len(phrases.SUBREDDITS)]
        return f"https://www.reddit.com/r/{sub}/comments/{_base36(i + 10_000_000)}/"
    if source is MentionSource.TWITTER:
        return f"https://x.com/{author}/status/{1_800_000_000_000_000_000 + i}"
    if source is MentionSource.STOCKTWITS:
        return f"https://stocktwits.com/{author}/message/{500_000_000 + i}"
    return f"https://news.example.com/markets/{listing.symbol.lower()}-{i}"


def _base36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while n:
        n, r = divmod(n, 36)
        out = digits[r] + out
    return out or "0"

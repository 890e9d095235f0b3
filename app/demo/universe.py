"""The real S&P 500 universe, read offline from the data pytickersymbols ships."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pytickersymbols import PyTickerSymbols

INDEX = "S&P 500"
MAX_INDUSTRY_CHARS = 60

# The eleven GICS sectors, and the other spellings the source data uses for them.
SECTORS = {
    "Communication Services": ("Communication Services", "Telecommunications", "Media"),
    "Consumer Discretionary": ("Consumer Discretionary", "Consumer Cyclicals"),
    "Consumer Staples": ("Consumer Staples", "Consumer Non-Cyclicals"),
    "Energy": ("Energy",),
    "Financials": ("Financials", "Financial services", "Financial Services"),
    "Health Care": ("Health Care", "Healthcare"),
    "Industrials": ("Industrials",),
    "Information Technology": ("Information Technology", "Information technology", "Technology"),
    "Materials": ("Materials", "Basic Materials"),
    "Real Estate": ("Real Estate", "Real estate"),
    "Utilities": ("Utilities",),
}
_SECTOR_OF = {alias: sector for sector, aliases in SECTORS.items() for alias in aliases}
_EXCHANGES = ("NYSE", "NASDAQ", "CBOE")
_TRADED_AS = re.compile(r"^\s*(NYSE|Nasdaq|Cboe)\b", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class Company:
    symbol: str
    name: str
    exchange: str | None
    sector: str | None
    industry: str | None


@lru_cache(maxsize=1)
def load_universe() -> tuple[Company, ...]:
    """The S&P 500 constituents in symbol order (about 500 companies, no network needed)."""
    stocks = PyTickerSymbols().get_stocks_by_index(INDEX)
    companies = {c.symbol: c for c in (company_from(raw) for raw in stocks)}
    return tuple(companies[s] for s in sorted(companies))


def company_from(raw: dict[str, Any]) -> Company:
    industries: list[str] = list(raw.get("industries") or [])
    sector = next((_SECTOR_OF[i] for i in industries if i in _SECTOR_OF), None)
    # Some entries are run-on lists of a dozen industries; keep the first concise one.
    industry = next(
        (i for i in industries if i not in _SECTOR_OF and len(i) <= MAX_INDUSTRY_CHARS), None
    )
    return Company(
        symbol=str(raw["symbol"]).upper(),
        name=str(raw["name"]).strip(),
        exchange=exchange_of(raw),
        sector=sector,
        industry=industry,
    )


def exchange_of(raw: dict[str, Any]) -> str | None:
    """The US listing venue: from the Google-style symbols, else from the 'traded as' note."""
    for listing in raw.get("symbols") or []:
        venue = str(listing.get("google", "")).partition(":")[0].upper()
        if venue in _EXCHANGES:
            return venue
    match = _TRADED_AS.match(str((raw.get("metadata") or {}).get("traded_as", "")))
    return match.group(1).upper() if match else None

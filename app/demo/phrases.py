"""Text templates for generated chatter, by source style and mood.

Placeholders: {tag} cashtag, {name} company, {sector}, {pct} a move in percent, {q} a quarter,
{n} a small number. Numbers come from small sets so repeated texts are scored once.
"""

from __future__ import annotations

BULLISH_SOCIAL = (
    "{tag} to the moon, loading up more calls before earnings",
    "Just bought more {tag}. This dip is a gift",
    "{tag} breaking out, volume is huge today. Love this setup",
    "{name} keeps crushing it, {tag} is my best position this year",
    "Strong guidance from {name}, {tag} up {pct}% and I think it keeps going",
    "{tag} looks great here, holding long and adding on every red day",
    "Bullish on {tag}. Margins improving every quarter, easy win",
    "{tag} calls printing, up {n}x on these. Thank you {name}!",
    "Not selling a single share of {tag}. Best company in {sector}",
    "{tag} beat on revenue and EPS, guidance raised. Impressive quarter",
    "Analysts upgrading {tag} left and right, target raised again",
    "{tag} is the strongest chart in {sector} right now",
    "Added {tag} to my long term portfolio, great dividend and solid growth",
    "{tag} green while everything else bleeds. Relative strength is amazing",
    "Finally {tag} moving. Patience pays off, excited for {q}",
)

BEARISH_SOCIAL = (
    "{tag} is a disaster, selling everything at the open",
    "Bought {tag} at the top, down {pct}% and it keeps dumping",
    "{tag} puts are the play here, this is going to crash hard",
    "{name} missed badly, {tag} guidance is terrible",
    "Worst earnings call I have heard in years. {tag} is dead money",
    "{tag} bagholders in shambles today. Ugly chart",
    "Short {tag}. Debt is a problem and growth is gone",
    "{tag} down {pct}% on weak demand, not touching it",
    "Lost {n}k on {tag} this week. Painful lesson",
    "{name} layoffs and a downgrade, {tag} looks awful",
    "{tag} failed the breakout again. Sellers are in control",
    "Everyone is too bullish on {tag}, this ends badly",
    "{tag} is overvalued garbage, the worst of {sector}",
    "Guidance cut at {name}, {tag} bleeding after hours",
    "Stopped out of {tag}. Horrible price action, no bid",
)

NEUTRAL_SOCIAL = (
    "What is everyone's take on {tag} into {q} earnings?",
    "{tag} trading sideways today, waiting for a direction",
    "Watching {tag} at this level, no position yet",
    "Anyone have a price target for {tag}?",
    "{tag} earnings date is next week, IV is at {pct}%",
    "Holding {tag} and a few other {sector} names, rebalancing soon",
    "{tag} volume {n}x average this morning, anyone know why?",
    "Comparing {tag} with its peers in {sector}, numbers attached",
    "{name} investor day on Thursday. Agenda is out for {tag}",
    "Opened a small {tag} position, we will see",
)

BULLISH_NEWS = (
    "{name} ({tag}) shares rise {pct}% after earnings beat estimates",
    "{name} raises full-year outlook; {tag} gains in early trading",
    "Analyst upgrades {name} to buy, citing strong demand",
    "{name} announces share buyback and dividend increase",
    "{name} wins major contract, boosting {sector} peers",
    "{tag} hits record high as {name} reports strong {q} growth",
)

BEARISH_NEWS = (
    "{name} ({tag}) shares fall {pct}% after weak guidance",
    "{name} misses {q} estimates as costs climb; {tag} drops",
    "Regulators open probe into {name}; {tag} slides",
    "{name} cuts jobs amid slowing sales, shares decline",
    "Analyst downgrades {name} to sell on margin pressure",
    "{tag} tumbles as {name} warns of weaker demand",
)

NEUTRAL_NEWS = (
    "{name} ({tag}) to report {q} results on Thursday",
    "{name} names new chief financial officer",
    "{name} completes previously announced acquisition",
    "What to expect from {name} earnings this week",
    "{tag} in focus as {sector} stocks trade mixed",
    "{name} to present at industry conference in {n} weeks",
)

OPENERS = ("", "", "", "", "IMO ", "Honestly, ", "Update: ", "PSA: ")
# Closing flourishes by mood: bullish, bearish, neutral.
CLOSERS = (
    ("", "", "", " 🚀", " 🚀🚀", "!", ". Not financial advice"),
    ("", "", "", " 📉", "...", ". Ugh"),
    ("", "", "", ". Thoughts?", ". Not financial advice"),
)

PCTS = (1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25)
QUARTERS = ("Q1", "Q2", "Q3", "Q4")
SMALL = (2, 3, 5, 10)

SUBREDDITS = ("wallstreetbets", "stocks", "investing", "StockMarket", "options", "Dividends")
AUTHOR_WORDS = (
    ("diamond", "paper", "tendie", "bull", "bear", "theta", "gamma", "value", "yolo", "quiet"),
    ("hands", "trader", "investor", "ape", "whale", "capital", "chartist", "analyst", "fund"),
)
NEWS_OUTLETS = ("Market Wire", "Business Desk", "Street Journal", "Finance Daily", "Capital Times")

"""VADER scoring and the label convention shared by every path that scores text."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

POSITIVE_THRESHOLD = 0.05
NEGATIVE_THRESHOLD = -0.05


@dataclass(frozen=True, slots=True)
class Score:
    compound: float
    positive: float
    neutral: float
    negative: float

    @property
    def label(self) -> str:
        return label_for(self.compound)


def label_for(compound: float) -> str:
    """VADER's convention: >= 0.05 positive, <= -0.05 negative, neutral between."""
    if compound >= POSITIVE_THRESHOLD:
        return "POSITIVE"
    if compound <= NEGATIVE_THRESHOLD:
        return "NEGATIVE"
    return "NEUTRAL"


@lru_cache(maxsize=1)
def _analyzer() -> SentimentIntensityAnalyzer:
    # Loading the lexicon takes ~100 ms; do it once per process, on first use.
    return SentimentIntensityAnalyzer()


@lru_cache(maxsize=65_536)
def score_text(text: str) -> Score:
    """Score `text` with VADER; repeated texts (retweets, syndicated news) are scored once."""
    polarity = _analyzer().polarity_scores(text)
    return Score(
        compound=float(polarity["compound"]),
        positive=float(polarity["pos"]),
        neutral=float(polarity["neu"]),
        negative=float(polarity["neg"]),
    )

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from app.demo.chatter import Listing, generate, make_plan, mask_entities, short_name
from app.models import MentionSource
from app.sentiment import score_text

NOW = datetime(2026, 11, 25, 15, 40, tzinfo=UTC)  # a Wednesday
LISTINGS = [Listing(i + 1, f"S{i:03d}", f"Company {i}", "Energy") for i in range(500)]


def test_chatter_concentrates_on_a_few_stocks_like_real_chatter() -> None:
    plan = make_plan(42, LISTINGS, days=14, end=NOW)
    counts = Counter(row["stock_id"] for row in generate(plan, 0, 20_000))

    ranked = [n for _, n in counts.most_common()]
    assert sum(ranked[:10]) > 0.4 * 20_000
    assert ranked[0] > 20 * ranked[len(ranked) // 2]
    # The most popular listing leads, and the long tail is still talked about.
    assert counts.most_common(1)[0][0] == 1
    assert len(counts) > 300


def test_same_seed_gives_the_same_mentions_and_another_seed_does_not() -> None:
    first = list(generate(make_plan(42, LISTINGS, 14, NOW), 0, 300))
    again = list(generate(make_plan(42, LISTINGS, 14, NOW), 0, 300))
    other = list(generate(make_plan(43, LISTINGS, 14, NOW), 0, 300))

    assert first == again
    assert [r["text"] for r in first] != [r["text"] for r in other]
    # Mention i does not depend on where a batch starts.
    plan = make_plan(42, LISTINGS, 14, NOW)
    assert list(generate(plan, 100, 300)) == first[100:]


def test_mentions_fall_in_the_window_with_a_daily_rhythm_and_all_four_sources() -> None:
    rows = list(generate(make_plan(42, LISTINGS, days=14, end=NOW), 0, 20_000))

    times = [r["published_at"] for r in rows]
    assert min(times) >= NOW - timedelta(days=14)
    assert max(times) <= NOW
    hours = Counter(t.hour for t in times)
    us_session = sum(hours[h] for h in range(14, 20))
    night = sum(hours[h] for h in range(2, 8))
    assert us_session > 3 * night
    sources = Counter(r["source"] for r in rows)
    assert set(sources) == {s.value for s in MentionSource}
    assert sources["NEWS"] < sources["REDDIT"]
    assert len({r["author"] for r in rows}) > 500
    assert len({r["external_id"] for r in rows}) == 20_000


def test_texts_carry_the_cashtag_and_sentiment_varies() -> None:
    rows = list(generate(make_plan(42, LISTINGS, 14, NOW), 0, 3_000))
    symbols = {listing.stock_id: listing.symbol for listing in LISTINGS}

    for row in rows:
        if row["source"] != "NEWS":
            assert f"${symbols[row['stock_id']]}" in row["text"]
    compounds = [r["compound"] for r in rows]
    assert sum(c >= 0.05 for c in compounds) > 0.2 * len(rows)
    assert sum(c <= -0.05 for c in compounds) > 0.1 * len(rows)
    assert sum(-0.05 < c < 0.05 for c in compounds) > 0.1 * len(rows)


def test_cashtags_and_company_names_are_masked_before_scoring() -> None:
    assert score_text("$LOW trading sideways today").compound < 0  # VADER reads "low"
    assert mask_entities("$LOW trading sideways today") == "ticker trading sideways today"
    assert score_text(mask_entities("$LOW trading sideways today")).compound == 0
    assert mask_entities("Best Buy to report Q3", "Best Buy") == "company to report Q0"
    # VADER's lexicon reads some numbers as slang; in chatter they are prices.
    assert score_text("$BA target 187").compound < 0
    assert score_text(mask_entities("$BA target 187")).compound == 0

    lows = [Listing(1, "LOW", "Lowe's", "Consumer Discretionary")]
    for row in generate(make_plan(1, lows, 2, NOW), 0, 200):
        expected = score_text(mask_entities(row["text"], "Lowe's"))
        assert row["compound"] == expected.compound


def test_short_name_drops_the_corporate_suffix() -> None:
    assert short_name("Alphabet Inc.") == "Alphabet"
    assert short_name("Ford Motor Company") == "Ford Motor"
    assert short_name("Microsoft Corporation") == "Microsoft"
    assert short_name("3M") == "3M"

"""A mention page's connection is built once while the page lives: the field cache hands one
decoded page to request after request (schema/types.py, MentionConnection.from_page)."""

from __future__ import annotations

from datetime import UTC, datetime

from loaders.rows import MentionPage, MentionRow
from schema import types
from schema.types import MentionConnection


def page_of(count: int) -> MentionPage:
    at = datetime(2026, 12, 7, 12, tzinfo=UTC)
    rows = tuple(
        MentionRow(i, 1, "REDDIT", f"r-{i}", None, f"$S00{i} up", None, at, 0.5)
        for i in range(count)
    )
    return MentionPage(rows, has_next=True)


def test_a_page_read_again_gives_the_same_connection_until_it_is_freed() -> None:
    page = page_of(3)
    first = MentionConnection.from_page(page)
    assert MentionConnection.from_page(page) is first
    assert [m.text for m in first.nodes] == ["$S000 up", "$S001 up", "$S002 up"]
    assert first.page_info.has_next_page and first.page_info.end_cursor is not None
    equal = page_of(3)  # the same rows in another page: built for itself
    assert MentionConnection.from_page(equal) is not first
    held = len(types._CONNECTIONS)
    del page, equal
    assert len(types._CONNECTIONS) == held - 2  # freed with their pages: nothing accumulates

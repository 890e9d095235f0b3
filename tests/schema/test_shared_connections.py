"""What the schema builds from a loader value is built once while the value lives: the field
cache hands one decoded page or row to request after request (schema/built.py)."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

from loaders.rows import MentionPage, MentionRow
from schema import types
from schema.built import BuiltOnce
from schema.types import MentionConnection

AT = datetime(2026, 12, 7, 12, tzinfo=UTC)


def page_of(count: int) -> MentionPage:
    rows = tuple(
        MentionRow(i, 1, "REDDIT", f"r-{i}", None, f"$S00{i} up", None, AT, 0.5)
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
    held = len(types._MENTION_CONNECTIONS)
    del page, equal
    assert len(types._MENTION_CONNECTIONS) == held - 2  # freed with their pages


def test_built_once_per_live_source_and_forgotten_with_it() -> None:
    calls: list[int] = []

    def build(page: MentionPage) -> tuple[int, bool]:
        calls.append(len(page.rows))
        return (len(page.rows), page.has_next)

    built = BuiltOnce(build)
    pages = [page_of(i % 4) for i in range(100)]
    assert [built(p) for p in pages] == [built(p) for p in pages]
    assert len(calls) == 100 and len(built) == 100
    del pages
    gc.collect()
    assert len(built) == 0  # nothing accumulates: a request's pages take what it built along
    assert built(page_of(2)) == (2, True) and len(calls) == 101

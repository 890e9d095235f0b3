"""The schema contract: a breaking change against the last release must be named in CHANGELOG.md."""

from __future__ import annotations

import re
from pathlib import Path

from graphql import BreakingChange, build_schema, find_breaking_changes

ROOT = Path(__file__).resolve().parents[2]
RELEASED = ROOT / "docs" / "schema.release.graphql"
CURRENT = ROOT / "docs" / "schema.graphql"
CHANGELOG = ROOT / "CHANGELOG.md"


def breaking_changes(released_sdl: str, current_sdl: str) -> list[BreakingChange]:
    """What a client of the released schema could send that the current one refuses.

    A standard scalar no longer referenced is not one: every server still knows `Int`.
    """
    changes = find_breaking_changes(build_schema(released_sdl), build_schema(current_sdl))
    return [c for c in changes if not c.description.startswith("Standard scalar ")]


# A schema coordinate: `Type.field`, `Type.field(arg:)`, `Enum.VALUE`, `Input.field`.
COORDINATE = re.compile(r"[A-Za-z_]\w*\.[A-Za-z_]\w*(?:\([A-Za-z_]\w*:\))?")


def coordinate(change: BreakingChange) -> str:
    """What the change is about, as a schema coordinate (a type's name for a removed type)."""
    found = COORDINATE.search(change.description)
    if found:
        return found.group(0)
    removed = re.search(r"(\w+) was removed", change.description)
    return removed.group(1) if removed else change.description


def breaking_section(changelog: str) -> str:
    """The `### Breaking` part of the `## Unreleased` section."""
    unreleased = re.search(r"^## Unreleased[ \t]*$(.*?)(?=^## |\Z)", changelog, re.M | re.S)
    assert unreleased, "CHANGELOG.md has no `## Unreleased` section"
    breaking = re.search(r"^### Breaking[ \t]*$(.*?)(?=^### |\Z)", unreleased.group(1), re.M | re.S)
    assert breaking, "CHANGELOG.md's Unreleased section has no `### Breaking` part"
    return breaking.group(1)


def unlisted(changes: list[BreakingChange], changelog: str) -> list[str]:
    """The changes whose coordinate, in backticks, Unreleased / Breaking does not name."""
    section = breaking_section(changelog)
    return [
        f"`{coordinate(c)}`: {c.description}"
        for c in changes
        if f"`{coordinate(c)}`" not in section
    ]


def released_version(sdl: str) -> str:
    match = re.match(r"# The public schema of release (\S+) ", sdl)
    assert match, "docs/schema.release.graphql must start with its release's comment line"
    return match.group(1)


def test_breaking_changes_since_the_last_release_are_in_the_changelog() -> None:
    changes = breaking_changes(RELEASED.read_text(), CURRENT.read_text())

    missing = unlisted(changes, CHANGELOG.read_text())

    assert missing == [], (
        "docs/schema.graphql breaks clients of the last release; deprecate instead, or name each "
        "coordinate (in backticks) under `## Unreleased` / `### Breaking` in CHANGELOG.md, with "
        "what to use instead:\n- " + "\n- ".join(missing)
    )


def test_the_released_snapshot_is_a_release_of_the_changelog() -> None:
    version = released_version(RELEASED.read_text())

    assert re.search(rf"^## {re.escape(version)}\b", CHANGELOG.read_text(), re.M)


RELEASE = """
type Query { stock(symbol: String!): Stock  stocks(first: Int! = 20): [Stock!]! }
type Stock { id: ID! symbol: String! exchange: String score: Float! }
enum Label { POSITIVE NEUTRAL NEGATIVE }
"""


def test_the_check_finds_removed_fields_changed_types_and_new_required_arguments() -> None:
    current = """
    type Query { stock(symbol: String!, exchange: String!): Stock  stocks: [Stock!]! }
    type Stock { id: ID! symbol: String! score: String! }
    enum Label { POSITIVE NEUTRAL }
    """

    found = {coordinate(c): c.type.name for c in breaking_changes(RELEASE, current)}

    assert found == {
        "Stock.exchange": "FIELD_REMOVED",
        "Stock.score": "FIELD_CHANGED_KIND",
        "Query.stock(exchange:)": "REQUIRED_ARG_ADDED",
        "Query.stocks(first:)": "ARG_REMOVED",
        "Label.NEGATIVE": "VALUE_REMOVED_FROM_ENUM",
    }


def test_a_listed_breaking_change_passes_and_additions_need_nothing() -> None:
    removed = RELEASE.replace("exchange: String ", "")
    grown = RELEASE.replace("score: Float!", "score: Float! sector: String")
    changelog = "# Changelog\n\n## Unreleased\n\n### Breaking\n\n- `Stock.exchange` was removed.\n"

    assert unlisted(breaking_changes(RELEASE, removed), changelog) == []
    assert breaking_changes(RELEASE, grown) == []
    # Named under an older release, or only under Added, is not named: Unreleased / Breaking counts.
    expected = ["`Stock.exchange`: Field Stock.exchange was removed."]
    older = "## Unreleased\n### Breaking\nNone.\n## 0.1.0\n### Breaking\n- `Stock.exchange`\n"
    added = "## Unreleased\n### Breaking\nNone.\n### Added\n- `Stock.exchange`\n"
    assert unlisted(breaking_changes(RELEASE, removed), older) == expected
    assert unlisted(breaking_changes(RELEASE, removed), added) == expected

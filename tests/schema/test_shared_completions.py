"""A shared object (built once for every request, schema/built.py) keeps what a selection of its
leaves completes to (schema/compiled/objects.py, `complete_shared`): the next request's
completion of it is a look-up, with graphql-core's results, errors included."""

from __future__ import annotations

import enum
import math
from datetime import UTC, datetime

import pytest
import strawberry

from schema.built import COMPLETED, shared
from schema.compiled import CompiledExecutor, objects
from schema.limits import DocumentLimits
from tests.schema.differential import UNLIMITED, count_executed, formatted

AT = datetime(2026, 12, 7, 12, tzinfo=UTC)


@strawberry.enum
class Mood(enum.Enum):
    UP = "up"
    DOWN = "down"


@strawberry.type
class Point:
    at: datetime
    score: float
    count: int
    mood: Mood
    note: str | None = None
    ratio: float | None = None


SHARED = [shared(Point(at=AT, score=0.5 * i, count=i, mood=Mood.UP)) for i in range(3)]
# NaN is not a Float: the non-null `score` fails its item, the nullable `ratio` only itself.
BROKEN = shared(Point(at=AT, score=math.nan, count=1, mood=Mood.DOWN, ratio=math.nan))


@strawberry.type
class Query:
    @strawberry.field
    def points(self) -> list[Point]:
        return SHARED

    @strawberry.field
    def broken(self) -> list[Point | None]:
        return [BROKEN, SHARED[0], BROKEN]

    @strawberry.field
    def fresh(self) -> list[Point]:
        return [Point(at=AT, score=1.0, count=7, mood=Mood.DOWN, note="new")]


@pytest.fixture
def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    for point in [*SHARED, BROKEN]:
        shared(point)  # nothing kept from another test's schema
    # Documents parsed once per text, as in the app: one plan per document.
    compiled = strawberry.Schema(
        query=Query,
        execution_context_class=CompiledExecutor,
        extensions=[lambda: DocumentLimits(UNLIMITED)],
    )
    return compiled, strawberry.Schema(query=Query)


@pytest.fixture
def completions(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    return count_executed(monkeypatch)


async def test_a_shared_object_is_completed_once_per_selection(
    schemas: tuple[strawberry.Schema, strawberry.Schema], completions: list[str]
) -> None:
    compiled, reference = schemas
    queries = [
        "{ points { at score count mood note } }",
        "{ points { __typename score n: count } }",  # another plan: its own values
        "{ points { at score count mood note } }",
    ]
    executed = []
    for query in queries:
        completions.clear()
        expected = formatted(await reference.execute(query))
        assert formatted(await compiled.execute(query)) == expected
        executed.append(completions.count("Point"))
    assert executed == [3, 3, 0]  # the third run's points were kept by the first
    first = (await compiled.execute(queries[0])).data
    again = (await compiled.execute(queries[0])).data
    assert first is not None and again is not None
    assert first["points"][1] is again["points"][1]  # the kept dict itself
    assert len(getattr(SHARED[1], COMPLETED)) == 2  # one per selection


async def test_a_completion_with_an_error_is_not_kept_and_raises_again_at_its_path(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
) -> None:
    compiled, reference = schemas
    for field in ("score", "ratio"):
        query = f"{{ broken {{ {field} count }} }}"
        expected = formatted(await reference.execute(query))
        paths = [e["path"] for e in expected["errors"]]
        assert paths == [["broken", 0, field], ["broken", 2, field]]
        for _ in range(2):
            assert formatted(await compiled.execute(query)) == expected
    assert getattr(BROKEN, COMPLETED) == {}


async def test_objects_not_shared_keep_nothing(
    schemas: tuple[strawberry.Schema, strawberry.Schema], completions: list[str]
) -> None:
    compiled, reference = schemas
    query = "{ fresh { score count note } }"
    for _ in range(2):
        completions.clear()
        assert formatted(await compiled.execute(query)) == formatted(await reference.execute(query))
        assert completions.count("Point") == 1


async def test_a_shared_object_keeps_a_few_selections_at_most(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
) -> None:
    compiled, reference = schemas
    selections = ["at", "score", "count", "mood", "note", "at score", "count mood"]
    for selection in selections * 2:
        query = f"{{ points {{ {selection} }} }}"
        assert formatted(await compiled.execute(query)) == formatted(await reference.execute(query))
        assert 1 <= len(getattr(SHARED[0], COMPLETED)) <= objects.PLANS_KEPT

"""An object a query reaches again is completed once (schema/compiled/objects.py, `reuse`), and
the answer is graphql-core's all the same: with errors inside or beside the reused object, with
a first completion still pending, with two selections of one object, and in a mutation, whose
objects are completed at every position."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import strawberry

from schema.compiled import CompiledExecutor, plan_cache
from tests.schema.differential import formatted

CALLS: Counter[str] = Counter()


@strawberry.type
class Leaf:
    key: str

    @strawberry.field
    def fast(self) -> str:
        CALLS[f"fast:{self.key}"] += 1
        return self.key.upper()

    @strawberry.field
    async def slow(self) -> int:
        await asyncio.sleep(0)
        CALLS[f"slow:{self.key}"] += 1
        return len(self.key)

    @strawberry.field
    def broken(self) -> str | None:
        if self.key == "bad":
            raise ValueError(f"{self.key} is broken")
        return self.key

    @strawberry.field
    def strict(self) -> str:
        if self.key == "bad":
            raise ValueError("strict and broken")
        return self.key


LEAVES = {key: Leaf(key=key) for key in ("a", "bb", "bad")}


@strawberry.type
class Holder:
    n: int

    @strawberry.field
    def leaf(self) -> Leaf | None:
        return LEAVES[("a", "bb", "bad")[self.n % 3]]


HOLDERS = [Holder(n=n) for n in range(12)]


@strawberry.type
class Query:
    @strawberry.field
    def holders(self) -> list[Holder]:
        return HOLDERS

    @strawberry.field
    def failing(self) -> str | None:
        raise ValueError("beside the leaves")


@strawberry.type
class Mutation:
    @strawberry.mutation
    def touch(self) -> list[Holder]:
        return HOLDERS


@pytest.fixture(scope="module")
def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    compiled = strawberry.Schema(
        query=Query, mutation=Mutation, execution_context_class=CompiledExecutor
    )
    return compiled, strawberry.Schema(query=Query, mutation=Mutation)


async def both(
    schemas: tuple[strawberry.Schema, strawberry.Schema], query: str
) -> tuple[dict[str, Any], Counter[str], Counter[str]]:
    """The compiled answer (asserted equal to graphql-core's) and each side's resolver calls."""
    compiled, reference = schemas
    CALLS.clear()
    expected = formatted(await reference.execute(query))
    reference_calls = Counter(CALLS)
    CALLS.clear()
    answer = formatted(await compiled.execute(query))
    assert answer == expected
    assert plan_cache(compiled._schema).fallbacks == 0
    return answer, Counter(CALLS), reference_calls


async def test_a_leaf_reached_four_times_is_completed_once(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
) -> None:
    answer, calls, reference_calls = await both(schemas, "{ holders { n leaf { key fast slow } } }")
    assert len(answer["data"]["holders"]) == 12
    assert calls == {f"{field}:{key}": 1 for field in ("fast", "slow") for key in LEAVES}
    assert reference_calls == {f"{field}:{key}": 4 for field in ("fast", "slow") for key in LEAVES}


async def test_two_selections_of_one_leaf_are_completed_each_for_its_own(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
) -> None:
    answer, calls, _ = await both(schemas, "{ holders { leaf { fast } other: leaf { slow } } }")
    assert answer["data"]["holders"][3] == {"leaf": {"fast": "A"}, "other": {"slow": 1}}
    assert calls == {f"{field}:{key}": 1 for field in ("fast", "slow") for key in LEAVES}


@pytest.mark.parametrize(
    "query",
    [
        "{ holders { leaf { key broken slow } } }",  # a nullable error inside the reused leaf
        "{ holders { n leaf { slow strict } } }",  # a non-null one, nulling the leaf
        "{ failing holders { leaf { fast slow } } }",  # an error beside the leaves
        "{ holders { leaf { slow } } failing }",  # the same, raised while the leaves are pending
    ],
)
async def test_with_an_error_in_the_request_every_position_is_completed_with_its_own_path(
    schemas: tuple[strawberry.Schema, strawberry.Schema], query: str
) -> None:
    answer, calls, reference_calls = await both(schemas, query)
    paths = [error["path"] for error in answer["errors"]]
    assert len(paths) == len({tuple(path) for path in paths})  # one error per position
    if "failing" not in query:
        assert len(paths) == 4  # the "bad" leaf's four positions
    assert calls["slow:a"] > 1 and calls["slow:a"] <= reference_calls["slow:a"]


async def test_a_mutations_objects_are_completed_at_every_position(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
) -> None:
    _, calls, reference_calls = await both(schemas, "mutation { touch { leaf { fast slow } } }")
    assert calls == reference_calls
    assert calls["fast:a"] == 4

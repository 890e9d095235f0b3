"""Completions the public schema does not reach give graphql-core's results too: interfaces and
unions, nested lists, coercion errors, exceptions returned as values, awaitable list items, lists
that are not Python lists, sync and async resolvers that raise."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from enum import Enum
from typing import Annotated, Any

import pytest
import strawberry
from graphql import GraphQLError

from schema.compiled import CompiledExecutor, plan_cache
from schema.compiled.plan import direct_resolver
from tests.schema.differential import formatted


@strawberry.enum
class Color(Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.interface
class Named:
    name: str


@strawberry.type
class Person(Named):
    age: int


@strawberry.type
class Robot(Named):
    model: str | None


Thing = Annotated[Person | Robot, strawberry.union("Thing")]


@strawberry.type
class Counts:
    """Attribute leaves, read in place by the plan: ints in and out of 32 bits, a bool where an
    Int is declared, enum members and a raw value."""

    small: int
    big: int | None
    flag: int | None
    hue: Color | None
    raw_hue: Color | None


async def later(value: Any) -> Any:
    await asyncio.sleep(0)
    if isinstance(value, Exception):
        raise value
    return value


class Deny(strawberry.BasePermission):
    message = "not for you"

    def has_permission(self, source: Any, info: strawberry.Info, **kwargs: Any) -> bool:
        return False


def parent_kind(parent: strawberry.Parent[Any]) -> str:
    return type(parent).__name__


async def root_and_info(root: Any, info: strawberry.Info) -> str:
    return f"{type(root).__name__}.{info.field_name}@{info.path.key}"


@strawberry.type
class Query:
    @strawberry.field
    def grid(self) -> list[list[int | None]]:
        return [[1, None], [2**40, 3]]

    @strawberry.field
    def strict_grid(self) -> list[list[int]] | None:
        return [[1, 2], [3, None]]  # type: ignore[list-item]

    @strawberry.field
    async def named(self) -> list[Named]:
        return [Person(name="Ada", age=36), Robot(name="R2", model=None)]

    @strawberry.field
    def things(self) -> list[Thing | None]:
        return [Robot(name="K9", model="dog"), None, Person(name="Bo", age=3)]

    @strawberry.field
    def color(self, bad: bool = False) -> Color:
        return "green" if bad else Color.BLUE  # type: ignore[return-value]

    @strawberry.field
    def colors(self) -> list[Color | None]:
        return [Color.RED, "teal", None]  # type: ignore[list-item]

    @strawberry.field
    def counts(self) -> list[Counts]:
        return [
            Counts(small=-(2**31), big=2**31, flag=True, hue=Color.RED, raw_hue="red"),  # type: ignore[arg-type]
            Counts(small=2**31 - 1, big=-(2**31) - 1, flag=False, hue=Color.BLUE, raw_hue=None),
        ]

    @strawberry.field
    def failing(self) -> str | None:
        raise ValueError("boom")

    @strawberry.field
    async def failing_later(self) -> str:
        raise GraphQLError("later", extensions={"code": "LATER"})

    @strawberry.field
    def returned_error(self) -> str | None:
        return ValueError("returned")  # type: ignore[return-value]

    @strawberry.field
    def awaitable_items(self) -> list[int | None]:
        return [later(1), later(None), later(ValueError("item")), 4]  # type: ignore[list-item]

    @strawberry.field
    def strict_awaitable_items(self) -> list[int] | None:
        return [later(1), later(ValueError("strict item"))]  # type: ignore[list-item]

    @strawberry.field
    def generated(self) -> list[int]:
        def numbers() -> Iterator[int]:
            yield from range(3)

        return numbers()  # type: ignore[return-value]

    @strawberry.field
    def not_a_list(self) -> list[int] | None:
        return 7  # type: ignore[return-value]

    @strawberry.field
    def scores(self) -> list[float | None]:
        return [1, 2.5, float("nan"), "3.5"]  # type: ignore[list-item]

    @strawberry.field
    def person(self, age: int) -> Person | None:
        return None if age < 0 else Person(name="Cy", age=age)

    @strawberry.field
    def wrong_person(self) -> Person | None:
        return Robot(name="R3", model="x")  # type: ignore[return-value]

    @strawberry.field
    def wrong_named(self) -> list[Named | None]:
        return [Person(name="Ed", age=1), Color.RED]  # type: ignore[list-item]

    @strawberry.field
    def strict_person(self) -> Person:
        return Person(name="Di", age=None)  # type: ignore[arg-type]

    # Resolver shapes called directly by the plan (schema/compiled/plan.py, direct_resolver),
    # and two that keep Strawberry's wrapper (a permission, an argument).
    @strawberry.field
    async def with_info(self, info: strawberry.Info) -> str:
        return f"{info.field_name}:{info.python_name}:{info.path.key}"

    @strawberry.field
    @staticmethod
    def static() -> int:
        return 5

    kind: str = strawberry.field(resolver=parent_kind)
    described: str = strawberry.field(resolver=root_and_info)

    @strawberry.field(permission_classes=[Deny])  # type: ignore[untyped-decorator]
    def denied(self) -> str | None:
        return "secret"

    # Arguments: scalars and enums are handed over as coerced (under their Python names), lists
    # and IDs keep Strawberry's conversion.
    @strawberry.field
    async def shade(
        self, hue: Color | None = None, dark_mode: bool = False, n_th: int = 2, source: str = "s"
    ) -> str:
        return f"{hue!r}:{dark_mode}:{n_th}:{source}"

    @strawberry.field
    def tagged(self, tags: list[str], first_tag: int = 0) -> str:
        return ",".join(tags[first_tag:])

    @strawberry.field
    def by_id(self, node_id: strawberry.ID) -> str:
        return f"{type(node_id).__name__}:{node_id}"


QUERIES = [
    "{ grid }",
    "{ strictGrid }",
    "{ named { __typename name ... on Person { age } ... on Robot { model } } }",
    "{ things { __typename ... on Person { name age } ... on Robot { name model } } }",
    "{ color good: color(bad: false) bad: color(bad: true) }",
    "{ colors }",
    "{ counts { small big flag hue rawHue } }",
    "{ failing failingLater }",
    "{ failing returnedError }",
    "{ awaitableItems strictAwaitableItems }",
    "{ generated notAList }",
    "{ scores }",
    "query ($a: Int!) { person(age: $a) { name age } p2: person(age: 3) { __typename age } }",
    "{ strictPerson { name age } }",
    "{ wrongPerson { name } wrongNamed { name } }",
    "{ a: strictPerson { name } b: named { name } c: grid }",
    "{ withInfo w2: withInfo static kind described d2: described denied }",
    '{ shade s2: shade(hue: RED, darkMode: true, nTh: 5, source: "x") s3: shade(hue: null) }',
    'query ($a: Int!) { shade(nTh: $a) tagged(tags: ["x", "y"], firstTag: 1) byId(nodeId: 7) }',
]


@pytest.fixture(scope="module")
def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    compiled = strawberry.Schema(
        query=Query, types=[Person, Robot], execution_context_class=CompiledExecutor
    )
    return compiled, strawberry.Schema(query=Query, types=[Person, Robot])


@pytest.mark.parametrize("query", QUERIES)
async def test_edge_completions_give_graphql_cores_results(
    schemas: tuple[strawberry.Schema, strawberry.Schema], query: str
) -> None:
    compiled, reference = schemas
    variables = {"a": -1}
    expected = formatted(await reference.execute(query, variables))
    assert formatted(await compiled.execute(query, variables)) == expected
    assert plan_cache(compiled._schema).fallbacks == 0


def test_resolvers_with_plain_arguments_and_no_extensions_are_called_directly(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
) -> None:
    graphql_schema = schemas[0]._schema
    fields = graphql_schema.query_type.fields  # type: ignore[union-attr]
    direct = {name for name, field in fields.items() if direct_resolver(graphql_schema, field)}
    assert {"withInfo", "static", "kind", "described", "grid", "named"} <= direct
    assert "denied" not in direct  # a permission is a field extension: Strawberry's path
    assert {"person", "color", "shade"} <= direct  # scalars and enums, as coerced
    assert "tagged" not in direct and "byId" not in direct  # a list, an ID: converted there

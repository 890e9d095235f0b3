"""A value is walked for its loads before it is completed (schema/compiled/prefetch.py): the
level below is asked in one batch while nothing waits in promises, and the answer is still
graphql-core's, errors and null propagation included; an async resolver below is never held
back by the walk's wait."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

import pytest
import strawberry
from aiodataloader import DataLoader

from schema.compiled import CompiledExecutor, plan_cache, prefetch
from schema.compiled.promise import Gather
from schema.loaded import ByLoader, by_loader

EVENTS: list[str] = []


class Rows(DataLoader[str, Any]):
    """Rows by key; a key starting with "bad" fails. Each batch takes a few turns of the loop."""

    name = "rows"
    shares_loads = True  # one future per key, as the app's loaders (loaders/base.py)

    async def batch_load_fn(self, keys: list[str]) -> list[Any]:
        EVENTS.append(f"start {self.name} {','.join(sorted(keys))}")
        for _ in range(3):
            await asyncio.sleep(0)
        EVENTS.append(f"end {self.name}")
        return [ValueError(f"no row {k}") if k.startswith("bad") else {"key": k} for k in keys]

    def load_shared(self, key: str) -> asyncio.Future[Any]:
        return self.load(key)


class Notes(Rows):
    name = "notes"


class Loaders:
    def __init__(self) -> None:
        self.rows = Rows()
        self.notes = Notes()


@dataclass
class Context:
    loaders: Loaders


@strawberry.type
class Row:
    key: str

    @strawberry.field
    def size(self) -> int:
        return len(self.key)


def build_row(row: dict[str, str]) -> Row:
    return Row(key=row["key"])


def rows(loaders: Any) -> Any:  # this module's Loaders, in the place of the app's
    return loaders.rows


ROW: ByLoader[str, dict[str, str], Row] = ByLoader(rows, attrgetter("key"), build_row)
OWN: ByLoader[str, dict[str, str], Row] = ByLoader(rows, attrgetter("own"), build_row)


@strawberry.type
class Item:
    key: str
    own: str

    @strawberry.field
    @by_loader(ROW)
    async def row(self, info: strawberry.Info) -> Row | None:
        return await ROW.resolve(self, info.context.loaders)

    @strawberry.field
    @by_loader(OWN)
    async def strict_row(self, info: strawberry.Info) -> Row:
        return await OWN.resolve(self, info.context.loaders)

    @strawberry.field
    async def note(self, info: strawberry.Info) -> str:
        return str((await info.context.loaders.notes.load(self.key))["key"])


@strawberry.type
class Page:
    label: str
    items: list[Item]


@strawberry.type
class Query:
    @strawberry.field
    async def page(self, keys: list[str]) -> Page:
        await asyncio.sleep(0)
        return Page(label="page", items=[Item(key=k, own=k.replace("bad", "ok")) for k in keys])

    @strawberry.field
    async def strict_page(self, keys: list[str]) -> Page:
        await asyncio.sleep(0)
        return Page(label="strict", items=[Item(key=k.replace("bad", "ok"), own=k) for k in keys])


@pytest.fixture(scope="module")
def schemas() -> tuple[strawberry.Schema, strawberry.Schema]:
    compiled = strawberry.Schema(query=Query, execution_context_class=CompiledExecutor)
    return compiled, strawberry.Schema(query=Query)


@pytest.fixture
def gathers(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """How many gathers (an object or list waiting for some of its values) a run makes."""
    made = [0]
    init = Gather.__init__

    def counting(self: Gather, *args: Any) -> None:
        made[0] += 1
        init(self, *args)

    monkeypatch.setattr(Gather, "__init__", counting)
    yield made


async def run(schema: strawberry.Schema, query: str) -> tuple[dict[str, Any], list[str]]:
    EVENTS.clear()
    result = await schema.execute(query, context_value=Context(Loaders()))
    out: dict[str, Any] = {"data": result.data}
    if result.errors:
        out["errors"] = [error.formatted for error in result.errors]
    return out, list(EVENTS)


FEED = '{ page(keys: ["a", "bb", "a", "ccc"]) { label items { key row { key size } } } }'


async def test_a_pages_loads_are_asked_first_and_it_completes_without_waiting_in_promises(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
    gathers: list[int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compiled, reference = schemas
    expected, reference_events = await run(reference, FEED)
    gathers[0] = 0
    answer, events = await run(compiled, FEED)
    assert answer == expected and "errors" not in answer
    assert [i["row"]["size"] for i in answer["data"]["page"]["items"]] == [1, 2, 1, 3]
    assert events == reference_events == ["start rows a,bb,ccc", "end rows"]
    assert plan_cache(compiled._schema).fallbacks == 0
    # The root's one pending field is all that waits: the page's four items complete directly.
    assert gathers[0] == 1

    # Without the walk, each item waits for its row in a gather of its own, and so does the list.
    monkeypatch.setattr(prefetch, "pending_loads", lambda *_: [])
    monkeypatch.setattr("schema.compiled.fields.pending_loads", lambda *_: [])
    gathers[0] = 0
    answer, events = await run(compiled, FEED)
    assert answer == expected and events == reference_events
    assert gathers[0] > 4


@pytest.mark.parametrize(
    "query",
    [
        # A nullable loaded field failing for some items.
        '{ page(keys: ["a", "bad1", "bb"]) { items { key row { key size } } } }',
        # A non-null one: the item is null, and so is the non-null list and the page.
        '{ strictPage(keys: ["a", "bad2"]) { label items { strictRow { key } } } }',
        # Both, beside each other: the nullable page keeps its place.
        '{ page(keys: ["bad3", "c"]) { items { row { key } } }'
        ' strictPage(keys: ["bad4"]) { items { strictRow { size } } } }',
    ],
)
async def test_errors_below_a_walked_value_are_graphql_cores(
    schemas: tuple[strawberry.Schema, strawberry.Schema], query: str
) -> None:
    compiled, reference = schemas
    expected, _ = await run(reference, query)
    answer, _ = await run(compiled, query)
    assert "errors" in expected
    assert answer == expected


async def test_an_async_resolver_below_is_not_held_back_by_the_walk(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
) -> None:
    """`note` is an async resolver of its own: the rows and the notes are asked together, as
    graphql-core asks them, not the rows first and the notes after."""
    compiled, reference = schemas
    query = '{ page(keys: ["a", "bb"]) { items { row { key } note } } }'
    expected, reference_events = await run(reference, query)
    answer, events = await run(compiled, query)
    assert answer == expected and "errors" not in answer
    assert [e.split()[0] for e in events] == ["start", "start", "end", "end"]
    assert sorted(events) == sorted(reference_events)


async def test_the_wait_ends_once_every_future_is_done_whatever_the_order() -> None:
    loop = asyncio.get_running_loop()
    first, second, third = (loop.create_future() for _ in range(3))
    waiting = asyncio.ensure_future(prefetch.settled([first, second, third]))
    third.set_result(3)  # a later batch answered first
    await asyncio.sleep(0)
    first.set_result(1)
    for _ in range(3):
        await asyncio.sleep(0)
    assert not waiting.done()  # `second` is still pending
    second.cancel()  # done too, however it ended
    await asyncio.wait_for(waiting, 1)

    shared = loop.create_future()
    waiting = asyncio.ensure_future(prefetch.settled([shared]))
    await asyncio.sleep(0)
    waiting.cancel()  # the request gave up: the loader's future is someone else's too
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert not shared.done()
    shared.set_result(None)


async def test_a_context_without_loaders_is_walked_past(
    schemas: tuple[strawberry.Schema, strawberry.Schema],
) -> None:
    """A schema run without the app's context (no loaders) answers as graphql-core does."""
    compiled, reference = schemas
    query = '{ page(keys: ["a", "bb"]) { label items { key } } }'
    expected = await reference.execute(query)
    answer = await compiled.execute(query)
    assert answer.errors is None and expected.errors is None
    assert answer.data == expected.data

"""Fields declared as one loader's value (schema/loaded.py) are read in place by the compiled plan:
the same answers, timings and statements, and no resolver call when the loader holds the value."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.timeutil import utcnow
from schema.loaded import SPEC, spec_of
from schema.types import Mention, Stock
from tests.conftest import graphql, serve
from tests.factories.mentions import make_mentions
from tests.factories.universe import make_universe
from tests.sqlcount import count_statements


def resolver_of(cls: type, name: str) -> Any:
    definition = cls.__strawberry_definition__  # type: ignore[attr-defined]
    field = next(f for f in definition.fields if f.python_name == name)
    return field.base_resolver


@pytest.fixture
def calls() -> Iterator[dict[str, int]]:
    """Count the calls of `Mention.stock` and `Stock.sentiment`'s resolver functions."""
    counted: dict[str, int] = {"stock": 0, "sentiment": 0}
    patched = []
    for cls, name in ((Mention, "stock"), (Stock, "sentiment")):
        resolver = resolver_of(cls, name)
        original = resolver.wrapped_func

        def counting(*args: Any, _original: Any = original, _name: str = name, **kw: Any) -> Any:
            counted[_name] += 1
            return _original(*args, **kw)

        setattr(counting, SPEC, spec_of(original))
        resolver.wrapped_func = counting
        patched.append((resolver, original))
    try:
        yield counted
    finally:
        for resolver, original in patched:
            resolver.wrapped_func = original


async def feed(settings: Settings, operations: dict[str, str], compiled: bool) -> Any:
    app = create_app(settings.model_copy(update={"executor_compiled": compiled}))
    async with serve(app) as client:
        with count_statements() as statements:
            body = await graphql(client, operations["MentionFeed"], None, **{"X-Trace": "1"})
    return body, statements.count


async def test_a_loaded_field_is_read_in_place_with_graphql_cores_answer(
    db: Database,
    settings: Settings,
    operations: dict[str, str],
    calls: dict[str, int],
) -> None:
    await make_universe(db, 4, 3)
    expected, expected_statements = await feed(settings, operations, compiled=False)
    assert calls == {"stock": 12, "sentiment": 12}  # graphql-core calls every resolver
    calls.update(stock=0, sentiment=0)
    body, statements = await feed(settings, operations, compiled=True)
    assert body["data"] == expected["data"] and "errors" not in body
    assert statements == expected_statements == 3
    assert calls == {"stock": 0, "sentiment": 0}  # the plan asked the loaders itself
    resolvers = body["extensions"]["tracing"]["execution"]["resolvers"]
    timed = {r["fieldName"] for r in resolvers}
    assert {"stock", "sentiment"} <= timed
    assert sum(r["fieldName"] == "stock" for r in resolvers) == 12


async def feed_tasks(
    settings: Settings, operations: dict[str, str], compiled: bool, monkeypatch: pytest.MonkeyPatch
) -> tuple[Any, int]:
    """The feed's answer and the tasks its request made (the request's own, the loaders'
    dispatches, the resolvers with arguments, and the executor's per pending field if any)."""
    loop = asyncio.get_running_loop()
    create_task = loop.create_task
    made = [0]

    def counting(*args: Any, **kwargs: Any) -> Any:
        made[0] += 1
        return create_task(*args, **kwargs)

    with monkeypatch.context() as patch:
        patch.setattr(loop, "create_task", counting)
        body, _ = await feed(settings, operations, compiled)
    return body, made[0]


async def test_a_row_read_by_many_fields_is_built_once_and_waits_without_tasks(
    db: Database, settings: Settings, operations: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A feed's mentions point to few stocks: each stock row is made a `Stock` once (not once per
    mention), and the fields waiting for a loader's batch wait on promises, not on tasks: the
    request makes as many tasks for 6 mentions a stock as for 3."""
    ids = await make_universe(db, 4, 3)
    built: list[int] = []
    from_row = Stock.from_row.__func__  # type: ignore[attr-defined]

    def counting(cls: type[Stock], row: Any) -> Stock:
        built.append(row.id)
        return from_row(cls, row)  # type: ignore[no-any-return]

    monkeypatch.setattr(Stock, "from_row", classmethod(counting))
    expected, core_tasks = await feed_tasks(settings, operations, False, monkeypatch)
    built.clear()
    body, tasks = await feed_tasks(settings, operations, True, monkeypatch)
    assert body["data"] == expected["data"] and "errors" not in body
    # The page's 4 stocks, then the mentions' stock: the same 4 rows, built once more each.
    assert len(built) == 8 and sorted(built) == sorted(2 * sorted(set(built)))

    older = utcnow() - timedelta(days=1)
    async with db.sessionmaker.begin() as session:
        for stock_id in ids:
            await make_mentions(session, stock_id, [older - timedelta(minutes=j) for j in range(3)])
    more, core_more = await feed_tasks(settings, operations, False, monkeypatch)
    assert core_more > core_tasks  # graphql-core: a task per pending field
    body, tasks_more = await feed_tasks(settings, operations, True, monkeypatch)
    assert body["data"] == more["data"] and "errors" not in body
    assert sum(len(n["mentions"]["nodes"]) for n in body["data"]["stocks"]["nodes"]) == 24
    assert tasks_more == tasks < core_tasks, (tasks, tasks_more, core_tasks)

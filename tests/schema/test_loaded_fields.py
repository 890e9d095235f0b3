"""Fields declared as one loader's value (schema/loaded.py) are read in place by the compiled plan:
the same answers, timings and statements, and no resolver call when the loader holds the value."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from app.config import Settings
from app.db import Database
from app.main import create_app
from schema.loaded import SPEC, spec_of
from schema.types import Mention, Stock
from tests.conftest import graphql, serve
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

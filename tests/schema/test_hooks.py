"""Extension hooks resolved once per class (schema/hooks.py) run as Strawberry's own runner runs
them: the same hooks, in the same order, with the same exceptions and results."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import strawberry
from strawberry.extensions import SchemaExtension
from strawberry.extensions.runner import SchemaExtensionsRunner
from strawberry.types import ExecutionContext

from schema import Schema as AppSchema
from schema.hooks import ResolvedHooksRunner, hook_maker

Log = list[str]


def extensions(log: Log, fail_in: str | None = None) -> list[Any]:
    """One extension of each kind of hook Strawberry knows, each writing to `log`."""

    class Generator(SchemaExtension):
        def on_operation(self) -> Iterator[None]:
            log.append("gen:operation:enter")
            try:
                yield
            finally:
                log.append("gen:operation:exit")

        def on_parse(self) -> Iterator[None]:
            log.append("gen:parse")
            yield

    class AsyncGenerator(SchemaExtension):
        async def on_validate(self) -> AsyncIterator[None]:
            log.append("agen:validate:enter")
            yield
            log.append("agen:validate:exit")

        async def on_execute(self) -> AsyncIterator[None]:
            log.append("agen:execute:enter")
            try:
                yield
            except Exception as exc:
                log.append(f"agen:execute:saw {type(exc).__name__}")
                raise
            log.append("agen:execute:exit")

    class Plain(SchemaExtension):
        def on_execute(self) -> None:  # type: ignore[override]
            log.append("plain:execute")
            if fail_in == "plain":
                raise ValueError("plain hook failed")

        def get_results(self) -> dict[str, Any]:
            return {"plain": len(log)}

    class Coroutine(SchemaExtension):
        async def on_operation(self) -> None:  # type: ignore[override]
            log.append("coro:operation")
            if fail_in == "coro":
                raise KeyError("coroutine hook failed")

    return [Generator, AsyncGenerator, Plain, Coroutine]


@strawberry.type
class Query:
    @strawberry.field
    def hello(self, fail: bool = False) -> str:
        if fail:
            raise RuntimeError("resolver failed")
        return "hi"


class Resolved(strawberry.Schema):
    def create_extensions_runner(
        self, execution_context: ExecutionContext, extensions: list[SchemaExtension]
    ) -> SchemaExtensionsRunner:
        return ResolvedHooksRunner(execution_context=execution_context, extensions=extensions)


async def run(schema_class: type[strawberry.Schema], query: str, fail_in: str | None) -> Any:
    log: Log = []
    schema = schema_class(query=Query, extensions=extensions(log, fail_in))
    try:
        result = await schema.execute(query)
    except Exception as exc:  # what escapes Strawberry must escape both the same way
        return log, type(exc).__name__, str(exc)
    errors = [(e.message, e.path) for e in result.errors or []]
    return log, result.data, errors, result.extensions


@pytest.mark.parametrize(
    ("query", "fail_in"),
    [
        ("{ hello }", None),
        ("{ hello(fail: true) }", None),
        ("{ nope }", None),
        ("{ hello", None),
        ("{ hello }", "plain"),
        ("{ hello }", "coro"),
    ],
)
async def test_hooks_run_as_strawberrys_runner_runs_them(query: str, fail_in: str | None) -> None:
    reference = await run(strawberry.Schema, query, fail_in)
    resolved = await run(Resolved, query, fail_in)
    assert resolved == reference
    assert reference[0]  # the hooks did run


def test_a_hook_is_resolved_once_per_class() -> None:
    first = extensions([])[0]
    maker = hook_maker(first, "on_operation")
    assert maker is not None and maker is hook_maker(first, "on_operation")
    assert hook_maker(first, "on_execute") is None  # the default: no hook


def test_the_apps_schema_uses_the_resolved_hooks() -> None:
    schema = AppSchema(query=Query)
    context = ExecutionContext("{ hello }", schema, allowed_operations=())
    runner = schema.create_extensions_runner(context, [])
    assert isinstance(runner, ResolvedHooksRunner)

"""Strawberry's extension hooks, resolved once per extension class instead of once per request.

For each of an operation's four phases (operation, parsing, validation, executing), Strawberry
looks at every extension's hook afresh: `inspect` tells a generator from a coroutine, and
`contextlib.contextmanager` wraps the bound method in a new function (`functools.wraps` copying
its attributes), 32 times a request with our eight extensions, about a tenth of a small
request's CPU (issue 18). What a hook is depends only on the extension's class, so here that is
worked out once and kept; each request then only builds the context managers, exactly those
Strawberry builds, entered and exited by Strawberry's own code.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from strawberry.extensions import SchemaExtension
from strawberry.extensions.context import (
    ExecutingContextManager,
    OperationContextManager,
    ParsingContextManager,
    ValidationContextManager,
    WrappedHook,
)
from strawberry.extensions.runner import SchemaExtensionsRunner

# A hook as Strawberry enters it: a factory of the extension's context manager, and whether
# that context manager is asynchronous.
Maker = tuple[Callable[[SchemaExtension], Any], bool]


_MAKERS: dict[tuple[type[SchemaExtension], str], Maker | None] = {}


def hook_maker(cls: type[SchemaExtension], name: str) -> Maker | None:
    """`_resolve`'s answer for (cls, name), worked out at its first request."""
    key = (cls, name)
    try:
        return _MAKERS[key]
    except KeyError:
        maker = _MAKERS[key] = _resolve(cls, name)
        return maker


def _resolve(cls: type[SchemaExtension], name: str) -> Maker | None:
    """What `ExtensionContextManagerBase.get_hook` decides for the hook `name` of `cls`: None
    when the class keeps the default (no hook), else how to build its context manager."""
    hook_fn = getattr(cls, name)
    if hook_fn is getattr(SchemaExtension, name):
        return None
    if inspect.isgeneratorfunction(hook_fn):
        return contextlib.contextmanager(hook_fn), False
    if inspect.isasyncgenfunction(hook_fn):
        return contextlib.asynccontextmanager(hook_fn), True
    if not callable(hook_fn):
        raise ValueError(f"Hook {name} on {cls} must be callable, received {hook_fn!r}")
    if inspect.iscoroutinefunction(hook_fn):

        @contextlib.asynccontextmanager
        async def awaited(extension: SchemaExtension) -> AsyncIterator[None]:
            await hook_fn(extension)
            yield

        return awaited, True

    @contextlib.contextmanager
    def called(extension: SchemaExtension) -> Iterator[None]:
        hook_fn(extension)
        yield

    return called, False


class _Resolved:
    """`get_hook` from the per-class table (the rest is Strawberry's context manager)."""

    __slots__ = ()
    HOOK_NAME: str

    def get_hook(self, extension: SchemaExtension) -> WrappedHook | None:
        maker = hook_maker(type(extension), self.HOOK_NAME)
        if maker is None:
            return None
        build, is_async = maker
        return WrappedHook(extension, functools.partial(build, extension), is_async)


class _Operation(_Resolved, OperationContextManager):
    __slots__ = ()


class _Validation(_Resolved, ValidationContextManager):
    __slots__ = ()


class _Parsing(_Resolved, ParsingContextManager):
    __slots__ = ()


class _Executing(_Resolved, ExecutingContextManager):
    __slots__ = ()


class ResolvedHooksRunner(SchemaExtensionsRunner):
    """Strawberry's runner with the four phases' hooks taken from the per-class table."""

    def operation(self) -> OperationContextManager:
        return _Operation(self.extensions)

    def validation(self) -> ValidationContextManager:
        return _Validation(self.extensions)

    def parsing(self) -> ParsingContextManager:
        return _Parsing(self.extensions)

    def executing(self) -> ExecutingContextManager:
        return _Executing(self.extensions)

"""Promises: a plan's pending values, settled without a trip through the event loop per level.

graphql-core makes every pending field a coroutine, and every object and list with one a
coroutine of `gather_with_cancel`, which makes each of its awaitables a task: a MentionFeed
miss made ~3,000 coroutines and ~500 tasks, and each level of nesting cost a scheduling of the
event loop when a loader's batch ended. A promise settles its dependants in the same call:
one callback of the event loop per loader future or task (`settled_by`), and the whole subtree
waiting on it completes from there.

What graphql-core does is kept: a field's errors are its own (`Step.on_error`, the executor's
`handle_field_error`), the first error of an object's or a list's awaitables fails it and cancels
the others (`Gather`, as `gather_with_cancel`), cancelling a request cancels the tasks it still
runs, and a promise is awaitable wherever graphql-core's code awaits a value.
"""

from __future__ import annotations

import asyncio
from asyncio import CancelledError
from collections.abc import Callable, Generator
from typing import TYPE_CHECKING, Any

from app.monitoring.collector import RequestTrace
from schema.timing import record

if TYPE_CHECKING:
    from graphql import GraphQLOutputType
    from graphql.execution.collect_fields import FieldDetailsList
    from graphql.pyutils import Path

    from schema.compiled.executor import CompiledExecutor
    from schema.loaded import ByLoader

PENDING, DONE, FAILED, CANCELLED = range(4)

Callback = Callable[["Promise"], None]


class Promise:
    """A value to come. `then` callbacks run as it settles, in the order they were added."""

    __slots__ = ("callbacks", "source", "state", "value")

    def __init__(self, source: Any = None) -> None:
        self.state = PENDING
        self.value: Any = None
        self.callbacks: list[Callback] | None = None
        self.source = source  # what this promise owns: cancelled with it (a task, a promise)

    def then(self, callback: Callback) -> None:
        if self.state != PENDING:
            callback(self)
        elif self.callbacks is None:
            self.callbacks = [callback]
        else:
            self.callbacks.append(callback)

    def resolve(self, value: Any) -> None:
        if self.state == PENDING:
            self.state, self.value = DONE, value
            self.settled()

    def reject(self, error: BaseException) -> None:
        if self.state == PENDING:
            self.state, self.value = FAILED, error
            self.settled()

    def cancel(self) -> None:
        if self.state == PENDING:
            self.state = CANCELLED
            source = self.source
            if source is not None:
                source.cancel()
            self.settled()

    def settled(self) -> None:
        self.source = None
        callbacks, self.callbacks = self.callbacks, None  # no cycle outlives the settling
        if callbacks is not None:
            for callback in callbacks:
                callback(self)

    def settle_from(self, future: asyncio.Future[Any]) -> None:
        """A future's done callback: settle as it did."""
        if future.cancelled():
            self.cancel()
            return
        error = future.exception()  # retrieved, even when nobody waits any more
        if error is not None:
            self.reject(error)
        else:
            self.resolve(future.result())

    def __await__(self) -> Generator[Any, None, Any]:
        if self.state == PENDING:
            future = asyncio.get_running_loop().create_future()
            self.then(lambda promise: settle_future(future, promise))
            future.add_done_callback(self.cancel_with)
            return (yield from future)
        if self.state == DONE:
            return self.value
        if self.state == FAILED:
            raise self.value
        raise CancelledError

    def cancel_with(self, future: asyncio.Future[Any]) -> None:
        """The awaiting task was cancelled: so is what this promise still waits for."""
        if future.cancelled():
            self.cancel()


def settle_future(future: asyncio.Future[Any], promise: Promise) -> None:
    if future.done():
        return
    if promise.state == DONE:
        future.set_result(promise.value)
    elif promise.state == FAILED:
        future.set_exception(promise.value)
    else:
        future.cancel()


def settled_by(future: asyncio.Future[Any], owned: bool) -> Promise:
    """A promise of a future's outcome; `owned`: cancelling the promise cancels the future."""
    promise = Promise(future if owned else None)
    future.add_done_callback(promise.settle_from)
    return promise


def as_promise(value: Any) -> Promise:
    """A promise of an awaitable: itself, or a task (a coroutine) or future it owns, as
    `gather_with_cancel` makes and cancels them."""
    if isinstance(value, Promise):
        return value
    return settled_by(asyncio.ensure_future(value), owned=True)


def identity(ex: CompiledExecutor, path: Any, value: Any) -> Any:
    return value


class Step(Promise):
    """A field's (or list item's) value: `complete` applied to what it waited for, its errors
    handled as the field's (graphql-core's `complete_awaitable_value` and `await_completed`)."""

    __slots__ = ("build", "complete", "details", "ex", "path", "return_type", "timing")

    def __init__(
        self,
        upstream: Promise,
        owned: bool,
        ex: CompiledExecutor,
        complete: Callable[[CompiledExecutor, Any, Any], Any],
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        path: Path,
        timing: tuple[RequestTrace, Any, int] | None = None,
        build: ByLoader[Any, Any, Any] | None = None,
    ) -> None:
        self.state = PENDING  # Promise.__init__, inlined: one of these per pending field
        self.value = self.callbacks = None
        self.source = upstream if owned else None
        self.ex = ex
        self.complete = complete
        self.return_type = return_type
        self.details = details
        self.path = path
        self.timing = timing
        self.build = build  # a loaded field's: its row is built first (`ex.built`)
        upstream.then(self.fed)

    def fed(self, upstream: Promise) -> None:
        if self.state != PENDING:
            return
        if self.timing is not None:
            record(*self.timing)
        if upstream.state == CANCELLED:
            self.cancel()
            return
        try:
            if upstream.state == FAILED:
                self.on_error(upstream.value)
                value = None
            else:
                try:
                    value = upstream.value
                    if self.build is not None:
                        value = self.ex.built(self.build, value)
                    value = self.complete(self.ex, self.path, value)
                except Exception as error:
                    self.on_error(error)
                    value = None
        except BaseException as propagated:  # a non-null field's error, for its parent
            self.reject(propagated)
            return
        if isinstance(value, Promise) or self.ex.is_awaitable(value):
            inner = as_promise(value)
            self.source = inner
            inner.then(self.completed)
        else:
            self.resolve(value)

    def completed(self, inner: Promise) -> None:
        if self.state != PENDING:
            return
        if inner.state == DONE:
            self.resolve(inner.value)
        elif inner.state == CANCELLED:
            self.cancel()
        else:
            try:
                self.on_error(inner.value)
            except BaseException as propagated:
                self.reject(propagated)
                return
            self.resolve(None)

    def on_error(self, error: BaseException) -> None:
        field_error(self.ex, error, self.return_type, self.details, self.path)

    def settled(self) -> None:
        self.ex = self.complete = self.build = self.timing = None  # type: ignore[assignment]
        super().settled()


class Owned(Promise):
    """A promise that can take the errors of the field (or list item) whose value it is
    (`own`), where a `Step` around it would: one promise a level instead of two."""

    __slots__ = ("owner",)

    # The executor, return type, field details and path of the field whose errors it takes.
    owner: tuple[CompiledExecutor, GraphQLOutputType, FieldDetailsList, Path] | None

    def own(
        self,
        ex: CompiledExecutor,
        return_type: GraphQLOutputType,
        details: FieldDetailsList,
        path: Path,
    ) -> Owned:
        """Take the errors of the field whose value this is: null for a nullable one."""
        self.owner = (ex, return_type, details, path)
        return self

    def failed_with(self, error: BaseException) -> None:
        """Settle as failing with `error`: the owning field's error when owned (this settles as
        null, or fails with the error located, for a non-null field's parent); else failed."""
        owner = self.owner
        if owner is None:
            self.reject(error)
            return
        try:
            field_error(owner[0], error, owner[1], owner[2], owner[3])
        except BaseException as propagated:  # a non-null field's, for its parent
            self.reject(propagated)
            return
        self.resolve(None)

    def settled(self) -> None:
        self.owner = None
        super().settled()


class Gather(Owned):
    """The completed values of an object's fields or a list's items, once every awaitable one
    has settled: the first error fails it and cancels the rest (`gather_with_cancel`).
    A gather made for one field's (or list item's) value takes that field's errors (`own`).
    """

    __slots__ = ("children", "keys", "pending", "results")

    def __init__(self, results: Any, keys: list[Any], children: list[Promise]) -> None:
        self.state = PENDING  # Promise.__init__, inlined: one of these per pending object
        self.value = self.callbacks = self.source = self.owner = None
        self.results = results
        self.keys: list[Any] | None = keys
        self.children: list[Promise] | None = children
        self.pending = len(children)
        settled = self.child_settled
        for child in children:
            child.then(settled)
            if self.state != PENDING:
                break

    def child_settled(self, child: Promise) -> None:
        if self.state != PENDING:
            return
        if child.state == DONE:
            self.pending -= 1
            if self.pending == 0 and self.children is not None:
                results = self.results
                for key, done in zip(self.keys or (), self.children, strict=True):
                    results[key] = done.value
                self.resolve(results)
        elif child.state == FAILED:
            self.state, self.value = FAILED, child.value
            self.cancel_children()  # before the error goes on, as gather_with_cancel does
            owner = self.owner
            if owner is not None:
                try:
                    field_error(owner[0], child.value, owner[1], owner[2], owner[3])
                    self.state, self.value = DONE, None
                except BaseException as propagated:  # a non-null field's, for its parent
                    self.value = propagated
            self.settled()
        else:
            self.cancel()

    def cancel(self) -> None:
        if self.state == PENDING:
            self.state = CANCELLED
            self.cancel_children()
            self.settled()

    def cancel_children(self) -> None:
        children, self.children = self.children, None
        for child in children or ():
            child.cancel()

    def settled(self) -> None:
        self.results = self.keys = self.children = None
        super().settled()


# The classes of promises (objects.py adds its own): awaitable, known without asking.
PROMISES: set[type] = {Promise, Step, Gather}


def field_promise(
    ex: CompiledExecutor,
    value: Any,
    return_type: GraphQLOutputType,
    details: FieldDetailsList,
    path: Path,
) -> Promise:
    """A promise of a field's (or list item's) awaitable completed value, its errors the field's:
    a gather or reused object made for this value takes them itself, anything else gets a `Step`."""
    if isinstance(value, Owned) and value.owner is None:
        return value.own(ex, return_type, details, path)
    return Step(as_promise(value), True, ex, identity, return_type, details, path)


def field_error(
    ex: CompiledExecutor,
    error: BaseException,
    return_type: GraphQLOutputType,
    details: FieldDetailsList,
    path: Path,
) -> None:
    """The field's error, recorded (the field is null) or raised again, located, for a non-null
    field's parent; what is not an Exception (a cancellation) goes on as it is."""
    if not isinstance(error, Exception):
        raise error
    ex.handle_field_error(error, return_type, details, path)

"""Execute each live subscription once per process per (document, variables); fan out the bytes.

Executing a subscriber's selection and serialising it costs far more than writing the bytes to a
socket, so subscribers that sent the same document with the same variables share one execution
(a feed), the way Hasura multiplexes live queries. Each subscriber keeps its own bounded queue
(coalescing for `sentimentUpdated`), so a slow one never holds the feed or the others up.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing, asynccontextmanager
from functools import lru_cache
from typing import Any

import orjson
import strawberry
from graphql import (
    GraphQLError,
    OperationType,
    VariableNode,
    get_operation_ast,
    parse,
    value_from_ast_untyped,
)
from strawberry.types.execution import ExecutionResult, PreExecutionError

from app.http.wire import Wire, text_frame
from app.realtime.broker import SlowConsumer, Subscriber
from app.resources import Resources
from loaders import LoaderEnv, Loaders
from schema.auth import Principal
from schema.context import Context
from schema.cursors import encode_event
from schema.errors import MaskInternalErrors

log = logging.getLogger("insitechart.multiplex")

END = "\x00end"
ERROR = "\x00error"
COALESCING_FIELDS = {"sentimentUpdated": True, "mentionAdded": False}
FEED_PRINCIPAL = Principal(client_id="feed", scopes=frozenset({"read"}), tier="internal")

FeedKey = tuple[str, str | None, bytes]


@lru_cache(maxsize=256)
def live_field(query: str, operation_name: str | None) -> bool | None:
    """Whether a document is one live field to multiplex (True: it coalesces); None otherwise."""
    try:
        operation = get_operation_ast(parse(query), operation_name)
    except GraphQLError:
        return None  # the normal path reports it with the protocol's close code
    if operation is None or operation.operation != OperationType.SUBSCRIPTION:
        return None
    selections = operation.selection_set.selections
    if len(selections) != 1:
        return None
    name = getattr(getattr(selections[0], "name", None), "value", None)
    return COALESCING_FIELDS.get(name) if isinstance(name, str) else None


@lru_cache(maxsize=256)
def _after_argument(query: str, operation_name: str | None) -> tuple[str, Any] | None:
    """The live field's `after` argument: ("variable", name) or ("value", literal), or None."""
    operation = get_operation_ast(parse(query), operation_name)
    field = operation.selection_set.selections[0] if operation is not None else None
    for argument in getattr(field, "arguments", None) or ():
        if argument.name.value != "after":
            continue
        if isinstance(argument.value, VariableNode):
            return "variable", argument.value.name.value
        return "value", value_from_ast_untyped(argument.value)
    return None


def resumes(query: str, operation_name: str | None, variables: dict[str, object] | None) -> bool:
    """Whether a live operation resumes after a cursor: its replay is its own, never shared."""
    after = _after_argument(query, operation_name)
    if after is None:
        return False
    kind, value = after
    if kind == "variable":
        return (variables or {}).get(value) is not None
    return value is not None


class Outlet(Subscriber):
    """One operation's share of a feed: written straight to its socket while it keeps up."""

    def __init__(
        self,
        head: bytes,
        wire: Wire | None,
        queue_size: int,
        coalesce: bool,
        on_overflow: Callable[[], None],
    ) -> None:
        super().__init__((), queue_size, coalesce, on_overflow)
        self.head = head  # b'{"id":"<operation id>","type":'
        self.wire = wire


def next_message(head: bytes, payload: bytes) -> bytes:
    return head + b'"next","payload":' + payload + b"}"


class Feed:
    """One execution of a live subscription, fanned out to the outlets of many connections."""

    def __init__(self, key: FeedKey, schema: strawberry.Schema, resources: Resources) -> None:
        self.key = key
        self.schema = schema
        self.resources = resources
        self.outlets: set[Outlet] = set()
        self.task: asyncio.Task[None] | None = None
        self.finished = False
        self.written = 0  # events written straight to a socket
        self.queued = 0  # events that went through an outlet's queue

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="live-feed")

    def broadcast(self, key: str, payload: bytes) -> None:
        """Write an event to every idle outlet's socket in one loop; queue it for the others.

        An outlet with something queued or in hand, or whose socket is backed up or closing, gets
        the event through its queue, so each connection still sees its events in order and a slow
        one meets the bounded queue and the slow-consumer rule. Outlets sharing an operation id
        share one frame.
        """
        direct = key not in (END, ERROR)
        frames: dict[bytes, bytes] = {}
        for outlet in tuple(self.outlets):
            wire = outlet.wire
            if direct and wire is not None and outlet.idle:
                frame = frames.get(outlet.head)
                if frame is None:
                    frame = frames[outlet.head] = text_frame(next_message(outlet.head, payload))
                if wire.write(frame):
                    self.written += 1
                    continue
            self.queued += direct
            outlet.deliver(key, payload)

    def cut_off(self) -> None:
        self.finished = True
        for outlet in tuple(self.outlets):
            outlet.overflow()

    async def _run(self) -> None:
        query, operation_name, variables = self.key
        env = LoaderEnv.of(self.resources, cached=False)
        context = Context(
            resources=self.resources, principal=FEED_PRINCIPAL, loaders=Loaders.build(env)
        )
        try:
            source = await self.schema.stream(
                query,
                variable_values=orjson.loads(variables),
                context_value=context,
                operation_name=operation_name,
            )
            async with aclosing(source):
                async for result in source:
                    if isinstance(result, PreExecutionError):
                        errors = [e.formatted for e in result.errors or ()]
                        self.broadcast(ERROR, orjson.dumps(errors))
                        return
                    if not isinstance(result, ExecutionResult):
                        return
                    if not self.outlets:
                        return  # every outlet left (its cancel may have been lost: see live.py)
                    if _fell_behind(result):
                        # The execution itself fell behind its events: every connection on it
                        # missed some, so each is closed as a slow consumer (4008) and may
                        # resubscribe, instead of getting the raw error and a `complete`.
                        self.cut_off()
                        return
                    payload = _next_payload(result, context.event_cursor)
                    self.broadcast(context.event_key or "", payload)
                    await asyncio.sleep(0)  # let the sockets drain between events of a burst
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("live feed failed")
        finally:
            self.finished = True
            self.broadcast(END, b"")
            # The task's CancelledError holds this frame, which holds the feed: without the
            # feed's reference back to the task, refcounting frees them both at once instead
            # of leaving a cycle for a full collection (app/monitoring/monitor.py).
            self.task = None


def _fell_behind(result: ExecutionResult) -> bool:
    return any(isinstance(e.original_error, SlowConsumer) for e in result.errors or ())


def _next_payload(result: ExecutionResult, cursor: int | None) -> bytes:
    payload: dict[str, Any] = {"data": result.data}
    if result.errors:
        # Results of a stream do not pass the masking extension: mask them here, so a database
        # fault is a retryable code and nothing internal (an address) reaches a subscriber.
        masked = MaskInternalErrors.mask_all(list(result.errors), [])
        payload["errors"] = [e.formatted for e in masked]
    if result.extensions:
        payload["extensions"] = result.extensions
    if cursor is not None:
        # What a client passes as `after` to resume from this event (docs/REALTIME.md).
        payload["extensions"] = {**payload.get("extensions", {}), "cursor": encode_event(cursor)}
    return orjson.dumps(payload)


class Multiplexer:
    """The feeds of one process, keyed by (document, operation name, variables)."""

    def __init__(self) -> None:
        self.feeds: dict[FeedKey, Feed] = {}

    @asynccontextmanager
    async def join(
        self,
        schema: strawberry.Schema,
        resources: Resources,
        query: str,
        operation_name: str | None,
        variables: dict[str, object] | None,
        coalesce: bool,
        on_overflow: Callable[[], None],
        head: bytes,
        wire: Wire | None,
    ) -> AsyncIterator[Outlet]:
        key: FeedKey = (
            query,
            operation_name,
            orjson.dumps(variables or {}, option=orjson.OPT_SORT_KEYS),
        )
        queue_size = resources.settings.realtime_queue_size
        outlet = Outlet(head, wire, queue_size, coalesce, on_overflow)
        shared = not resumes(query, operation_name, variables)
        feed = self.feeds.get(key) if shared else None
        if feed is None or feed.finished:
            feed = Feed(key, schema, resources)
            if shared:
                self.feeds[key] = feed
            feed.start()
        feed.outlets.add(outlet)
        try:
            yield outlet
        finally:
            feed.outlets.discard(outlet)
            if not feed.outlets:
                if self.feeds.get(key) is feed:
                    del self.feeds[key]
                if feed.task is not None:
                    feed.task.cancel()

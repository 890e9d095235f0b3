"""The GraphQL router with live updates over graphql-transport-ws: API key in `connection_init`,
connection limits per client and per process.

Close codes: the protocol's own (4400 bad message, 4401 subscribe before ack, 4408 no
`connection_init` in time, 4409 duplicate operation id, 4429 second `connection_init`), plus
4403 for an unknown or revoked API key (the protocol's "Forbidden" for a refused init), 4429 when
the client or the process already holds its maximum of connections, 4008 for a slow consumer, and
1013 (Try Again Later) when the API key cannot be checked because the database is unavailable.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections import Counter
from contextlib import suppress
from datetime import timedelta
from typing import Any

import orjson
from cross_web import HTTPException
from graphql import GraphQLFormattedError
from starlette.responses import Response
from starlette.websockets import WebSocket, WebSocketDisconnect
from strawberry.fastapi import GraphQLRouter
from strawberry.http import GraphQLHTTPResponse
from strawberry.schema import BaseSchema
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
    Operation,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ConnectionInitMessage,
    ErrorMessage,
    SubscribeMessage,
)
from strawberry.types.execution import ExecutionResult
from strawberry.types.unset import UNSET

from app.config import Settings
from app.http.graphiql import graphiql_page
from app.http.wire import Wire
from app.ratelimit import cost_limit, max_cost_refusal, throttled_refusal, tier_rate
from app.realtime.broker import SlowConsumer
from schema.admission import Admitted, SyntaxRefusal, admit
from schema.auth import Unauthenticated, bearer_token, identify
from schema.budget import refusal_cost
from schema.context import Context
from schema.cost import CostAnalysis, select_operation
from schema.errors import RetryLater
from schema.http_errors import coded_http_error
from schema.limits import StaticLimits, parse_document
from schema.multiplex import END, ERROR, Multiplexer, live_field, next_message

log = logging.getLogger("insitechart.live")

BAD_REQUEST_CLOSE = 4400
FORBIDDEN_CLOSE = 4403
TOO_MANY_CLOSE = 4429
SLOW_CONSUMER_CLOSE = 4008
TRY_AGAIN_CLOSE = 1013  # RFC 6455 "Try Again Later": the database could not check the key
_closing: set[asyncio.Task[None]] = set()


class ConnectionLimits:
    """Open WebSocket connections of this process, in total and per client."""

    def __init__(self, per_process: int, per_client: int) -> None:
        self.per_process = per_process
        self.per_client = per_client
        self.total = 0
        self.by_client: Counter[str] = Counter()

    def admit(self, client_id: str) -> str | None:
        """Count one more connection of `client_id`, or say why it is refused."""
        if self.total >= self.per_process:
            return f"too many connections on this server (limit {self.per_process})"
        if self.by_client[client_id] >= self.per_client:
            return f"too many connections for this client (limit {self.per_client})"
        self.total += 1
        self.by_client[client_id] += 1
        return None

    def release(self, client_id: str) -> None:
        self.total -= 1
        self.by_client[client_id] -= 1
        if self.by_client[client_id] <= 0:
            del self.by_client[client_id]


def init_token(payload: dict[str, Any]) -> str | None:
    """The API key of a `connection_init` payload: `apiKey`, or `Authorization: Bearer ...`."""
    api_key = payload.get("apiKey")
    if isinstance(api_key, str) and api_key.strip():
        return api_key.strip()
    header = payload.get("Authorization", payload.get("authorization"))
    if header is None:
        return None
    if not isinstance(header, str):
        raise Unauthenticated("Authorization must be 'Bearer <api key>'")
    return bearer_token(header)


def query_of(message: SubscribeMessage) -> str | None:
    payload: Any = message.get("payload")
    query = payload.get("query") if isinstance(payload, dict) else None
    return query if isinstance(query, str) else None


class LiveHandler(BaseGraphQLTransportWSHandler[Context, None]):
    """Authenticate `connection_init`, apply connection limits, multiplex live subscriptions."""

    admitted: str | None = None

    async def run_operation(self, operation: Operation[Context, None]) -> None:
        refusal = await self._charge(operation)
        if self.operations.get(operation.id) is not operation:
            # Completed by the client, or its connection closed, while it was being charged.
            # Its task was cancelled then, but a cancel that lands in the budget's Redis call
            # can be lost in redis-py; without this check the operation would wait for events
            # forever and hold its connection's handler open (a leak found in the churn soak).
            return
        if refusal is not None:
            # An "error" message ends the operation and forgets its id (the protocol's rule).
            message: ErrorMessage = {"id": operation.id, "type": "error", "payload": [refusal]}
            await operation.send_operation_message(message)
            return
        coalesce = live_field(operation.query, operation.operation_name)
        if coalesce is None or "read" not in self.context.principal.scopes:
            await super().run_operation(operation)
            return
        multiplexer: Multiplexer = self.view.multiplexer  # type: ignore[attr-defined]
        head = b'{"id":' + orjson.dumps(operation.id) + b',"type":'
        ws = self.websocket.ws  # type: ignore[attr-defined]
        direct = self.context.resources.settings.realtime_direct_writes
        wire = Wire.of(ws.scope) if direct else None
        try:
            async with multiplexer.join(
                self.schema,  # type: ignore[arg-type]
                self.context.resources,
                operation.query,
                operation.operation_name,
                operation.variables,
                coalesce,
                self._close_slow,
                head,
                wire,
            ) as outlet:
                while True:
                    kind, frame = await outlet.get()
                    if kind == END:
                        break
                    if kind == ERROR:
                        operation.completed = True
                        self.operations.pop(operation.id, None)
                        await ws.send_text((head + b'"error","payload":' + frame + b"}").decode())
                        return
                    await ws.send_text(next_message(head, frame).decode())
            await operation.send_operation_message({"id": operation.id, "type": "complete"})
        except (SlowConsumer, WebSocketDisconnect, RuntimeError):
            # Closed by the slow-consumer rule, or by the client, mid-send.
            self.operations.pop(operation.id, None)

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        """Check a subscribe as HTTP checks a request, before it runs; refusals have codes."""
        operation_id = message.get("id")
        if not isinstance(operation_id, str):
            await self._close(BAD_REQUEST_CLOSE, "the operation id must be a string")
            return
        if not self.connection_acknowledged or operation_id in self.operations:
            await super().handle_subscribe(message)  # the protocol's 4401 / 4409
            return
        settings = self.context.resources.settings
        limit = settings.realtime_max_operations_per_connection
        if len(self.operations) >= limit:
            refusal: GraphQLFormattedError = {
                "message": f"this connection already runs {limit} operations, the limit",
                "extensions": {"code": "TOO_MANY_OPERATIONS", "limit": limit},
            }
            await self._refuse(operation_id, [refusal])
            return
        try:
            verdict = admit(
                self.schema._schema,  # type: ignore[attr-defined]
                StaticLimits.from_settings(settings),
                message.get("payload"),
                settings.is_production,
            )
        except SyntaxRefusal as exc:
            await self._charge_refusal(refusal_cost(query_of(message)))
            await self._close(BAD_REQUEST_CLOSE, str(exc))
            return
        if not isinstance(verdict, Admitted):
            await self._refuse(operation_id, verdict, refusal_cost(query_of(message)))
            return
        operation = Operation(
            self, operation_id, verdict.query, verdict.variables, verdict.operation_name
        )
        operation.task = asyncio.create_task(self.run_operation(operation))
        operation.task.add_done_callback(self._task_done)
        self.operations[operation_id] = operation

    async def _refuse(
        self, operation_id: str, errors: list[GraphQLFormattedError], cost: int = 1
    ) -> None:
        """Answer a refused subscribe with an `error` message, charged `cost` points."""
        throttled = await self._charge_refusal(cost)
        payload = [throttled] if throttled is not None else errors
        await self.send_message({"id": operation_id, "type": "error", "payload": payload})

    async def _charge_refusal(self, cost: int = 1) -> GraphQLFormattedError | None:
        """Charge a refused operation; THROTTLED once the budget has not enough left."""
        context = self.context
        rate = tier_rate(context.resources.settings, context.principal.tier)
        decision = await context.resources.buckets.take(context.principal.client_id, cost, rate)
        if decision.allowed:
            return None
        message, extensions = throttled_refusal(cost, decision, "subscription")
        return {"message": message, "extensions": extensions}

    async def _charge(self, operation: Operation[Context, None]) -> GraphQLFormattedError | None:
        """Charge a subscription's cost to the client's budget once, when it subscribes.

        Its events are pushed by the server, so they are not charged one by one; the query cost
        bounds what one event may ask for. The refusal's codes are those of HTTP requests; a
        refused subscription is charged one point.
        """
        context = self.context
        settings = context.resources.settings
        limits = StaticLimits.from_settings(settings)
        # Admitted already: this parse is the cached one, within the limits.
        document = parse_document(operation.query, limits.max_tokens, limits.max_selections)
        selected = select_operation(document, operation.operation_name)
        if selected is None:
            return None
        analysis = CostAnalysis(
            self.schema._schema,  # type: ignore[attr-defined]
            document,
            settings.cost_default_list_size,
        )
        cost = analysis.requested(selected, operation.variables)
        rate = tier_rate(settings, context.principal.tier)
        limit = cost_limit(settings, rate)
        if cost > limit:
            throttled = await self._charge_refusal()
            if throttled is not None:
                return throttled
            message, extensions = max_cost_refusal(cost, limit)
            return {"message": message, "extensions": extensions}
        decision = await context.resources.buckets.take(context.principal.client_id, cost, rate)
        if decision.allowed:
            return None
        message, extensions = throttled_refusal(
            cost, decision, "subscription", context.principal.tier
        )
        return {"message": message, "extensions": extensions}

    def _close_slow(self) -> None:
        log.warning("closing slow consumer %s", self.context.principal.client_id)
        task = asyncio.create_task(self._close(SLOW_CONSUMER_CLOSE, "slow consumer"))
        _closing.add(task)
        task.add_done_callback(_closing.discard)

    async def _close(self, code: int, reason: str) -> None:
        with suppress(Exception):  # already closed, or the transport is gone
            await self.websocket.close(code=code, reason=reason)

    async def handle_connection_init(self, message: ConnectionInitMessage) -> None:
        payload = message.get("payload") or {}
        if self.connection_init_received or not isinstance(payload, dict):
            await super().handle_connection_init(message)  # the protocol's 4429 / 4400
            return
        if self.connection_init_timeout_task:
            self.connection_init_timeout_task.cancel()
        context = self.context
        try:
            token = init_token(payload)
            if token is not None:
                context.principal = await identify(context.resources, context.request, token)  # type: ignore[arg-type]
        except Unauthenticated as exc:
            await self.websocket.close(code=FORBIDDEN_CLOSE, reason=str(exc))
            return
        except RetryLater as exc:
            await self.websocket.close(code=TRY_AGAIN_CLOSE, reason=f"{exc.code}: {exc}")
            return
        limits: ConnectionLimits = self.view.limits  # type: ignore[attr-defined]
        refusal = limits.admit(context.principal.client_id)
        if refusal is not None:
            await self.websocket.close(code=TOO_MANY_CLOSE, reason=refusal)
            return
        self.admitted = context.principal.client_id
        await super().handle_connection_init(message)

    async def shutdown(self) -> None:
        try:
            await super().shutdown()
        finally:
            if self.admitted is not None:
                self.view.limits.release(self.admitted)  # type: ignore[attr-defined]
                self.admitted = None


class LiveRouter(GraphQLRouter[Context, None]):
    graphql_transport_ws_handler_class = LiveHandler
    temporal_response: Response  # the sub-response a request's view reads: set by its caller

    @property
    def graphql_ide_html(self) -> str:
        """GraphiQL with its assets served by this app (app/http/graphiql.py), never from a CDN."""
        return graphiql_page()

    async def process_result(self, request: Any, result: ExecutionResult) -> GraphQLHTTPResponse:
        response = await super().process_result(request, result)
        if result.data is None and result.errors and all(e.path is None for e in result.errors):
            # A request error (nothing executed): GraphQL over HTTP leaves `data` out.
            response.pop("data", None)
        return response

    async def run(self, request: Any, context: Any = UNSET, root_value: Any = UNSET) -> Any:
        try:
            return await super().run(request, context, root_value)
        except HTTPException as exc:
            if isinstance(request, WebSocket):
                raise
            raise coded_http_error(exc, request.method) from None

    def __init__(self, settings: Settings, schema: BaseSchema, **kwargs: Any) -> None:
        super().__init__(
            schema,
            subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
            connection_init_wait_timeout=timedelta(seconds=settings.realtime_init_timeout_s),
            **kwargs,
        )
        self.multiplexer = Multiplexer()
        self.limits = ConnectionLimits(
            settings.realtime_max_connections, settings.realtime_max_connections_per_client
        )

    def create_response(
        self,
        response_data: GraphQLHTTPResponse | list[GraphQLHTTPResponse],
        sub_response: Response,
    ) -> Response:
        """Strawberry's, with the body encoded once: `encode_json` gives the WebSocket a str,
        which Strawberry's HTTP response then encoded back to bytes (a copy of each)."""
        response = Response(
            orjson.dumps(response_data),
            media_type="application/json",
            status_code=sub_response.status_code or 200,
        )
        response.headers.raw.extend(sub_response.headers.raw)
        return response

    def encode_json(self, data: object) -> str:
        # orjson, ~10x the standard library's speed on large results. A str, not bytes: the
        # WebSocket adapter would send bytes as binary frames, which graphql-ws clients refuse.
        return orjson.dumps(data).decode()

    def decode_json(self, data: str | bytes) -> object:
        try:
            return orjson.loads(data)  # orjson.JSONDecodeError is a json.JSONDecodeError
        except orjson.JSONDecodeError:
            # orjson refuses JSON that escapes a lone surrogate ("\ud800"); the standard library
            # reads it, so the admission checks can refuse it with BAD_USER_INPUT naming the field
            # instead of the socket closing with "invalid JSON". Truly invalid JSON still raises.
            return json.loads(data)

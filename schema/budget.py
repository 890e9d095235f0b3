"""Before an operation runs: check its scopes, charge its cost; report `extensions.cost`.

The requested cost is taken before execution (refused with MAX_COST_EXCEEDED over the limit, or
THROTTLED with HTTP 429 and Retry-After when the bucket is short); once the operation has run, the
difference between requested and actual cost is given back, as Shopify does. A request refused or
failed before, by or during execution is charged at least one point, so repeating it meets the
budget (THROTTLED, 429) even though none of it ran; a document refused before execution is charged
one point more per TOKENS_PER_POINT tokens, the parse it cost.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

from graphql import DocumentNode, ExecutionResult, GraphQLError, GraphQLSchema, OperationType
from strawberry.extensions import SchemaExtension

from app.config import Settings
from app.ratelimit import (
    Decision,
    Rate,
    cost_limit,
    cost_report,
    max_cost_refusal,
    throttled_refusal,
    tier_rate,
)
from schema.auth import Principal
from schema.cost import CostAnalysis, select_operation
from schema.prescan import count_tokens
from schema.scopes import first_missing

TOKENS_PER_POINT = 100


def refusal_cost(query: str | None) -> int:
    """Points a document refused before execution costs: one, and one per 100 of its tokens."""
    if not query:
        return 1
    tokens, _ = count_tokens(query)
    return 1 + tokens // TOKENS_PER_POINT


ANALYSES = 256  # documents whose cost analysis (fields selected, memoised) is kept
_analyses: OrderedDict[tuple[int, int, int], tuple[DocumentNode, CostAnalysis]] = OrderedDict()


def analysis_for(schema: GraphQLSchema, document: DocumentNode, list_size: int) -> CostAnalysis:
    """The cost analysis of a document, kept while the document is (DocumentLimits caches it per
    text): what a repeated operation selects is worked out once, not on every request."""
    key = (id(schema), id(document), list_size)
    known = _analyses.get(key)
    if known is not None and known[0] is document:
        _analyses.move_to_end(key)
        return known[1]
    analysis = CostAnalysis(schema, document, list_size)
    _analyses[key] = (document, analysis)
    while len(_analyses) > ANALYSES:
        _analyses.popitem(last=False)
    return analysis


class CostBudget(SchemaExtension):
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.requested = 0
        self.actual = 0
        self.decision: Decision | None = None
        self.rate: Rate | None = None
        self.charged = 0

    def _principal(self) -> Principal | None:
        principal = getattr(self.execution_context.context, "principal", None)
        return principal if isinstance(principal, Principal) else None

    def _buckets(self) -> Any:
        resources = getattr(self.execution_context.context, "resources", None)
        return getattr(resources, "buckets", None)

    def _refuse(self, error: GraphQLError) -> None:
        self.execution_context.result = ExecutionResult(data=None, errors=[error])

    async def on_operation(self) -> AsyncIterator[None]:
        try:
            yield
        except GraphQLError:
            # A limit refused the document while parsing: no result exists yet.
            throttled = await self._charge_failure()
            if throttled is not None:
                raise throttled from None
            raise
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        throttled = await self._charge_failure()
        if throttled is not None:
            result.data, result.errors = None, [throttled]

    async def _charge_failure(self) -> GraphQLError | None:
        """Charge a refused or failed operation one point; THROTTLED when none is left."""
        if self.charged >= 1 or (self.decision is not None and not self.decision.allowed):
            return None  # paid already, or refused by the budget itself
        principal = self._principal()
        buckets = self._buckets()
        if principal is None or buckets is None:
            return None
        self.rate = self.rate or tier_rate(self.settings, principal.tier)
        # Refused before execution (parse, limits, validation, scopes, cost): charged its parse.
        cost = refusal_cost(self.execution_context.query) if self.decision is None else 1
        decision = await buckets.take(principal.client_id, cost - self.charged, self.rate)
        if decision.allowed:
            self.charged = cost
            return None
        self.requested = max(self.requested, cost)
        return self._throttled(decision, principal.tier)

    async def on_execute(self) -> AsyncIterator[None]:
        context = self.execution_context
        principal = self._principal()
        buckets = self._buckets()
        document = context.graphql_document
        operation = (
            select_operation(document, context.operation_name) if document is not None else None
        )
        if principal is None or buckets is None or operation is None or document is None:
            yield
            return
        if operation.operation is OperationType.SUBSCRIPTION:
            # Strawberry subscribes even when an extension set a result: a refusal here would not
            # hold. Subscriptions still pass the static limits, checked while validating.
            yield
            return
        analysis = analysis_for(
            context.schema._schema, document, self.settings.cost_default_list_size
        )
        self.rate = tier_rate(self.settings, principal.tier)
        missing = first_missing(analysis, operation, principal.scopes)
        if missing is not None:
            field, scope = missing
            self._refuse(
                GraphQLError(
                    f"{field}: needs an API key with the '{scope}' scope",
                    extensions={"code": "FORBIDDEN", "field": field, "scope": scope},
                )
            )
            yield
            return
        self.requested = analysis.requested(operation, context.variables)
        limit = cost_limit(self.settings, self.rate)
        if self.requested > limit:
            message, extensions = max_cost_refusal(self.requested, limit)
            self._refuse(GraphQLError(message, extensions=extensions))
            yield
            return
        self.decision = await buckets.take(principal.client_id, self.requested, self.rate)
        if not self.decision.allowed:
            self._throttle(self.decision, principal.tier)
            yield
            return
        self.charged = self.requested
        yield
        result = context.result
        self.actual = analysis.actual(operation, getattr(result, "data", None))
        if hasattr(context.context, "cost"):
            context.context.cost = self.actual  # read by the tracing extension's log line
        refund = self.requested - self.actual
        if refund > 0:
            self.decision = await buckets.take(principal.client_id, -refund, self.rate)
            self.charged = self.actual

    def _throttle(self, decision: Decision, tier: str) -> None:
        self._refuse(self._throttled(decision, tier))

    def _throttled(self, decision: Decision, tier: str) -> GraphQLError:
        """The THROTTLED error, with HTTP 429 and Retry-After on the response."""
        message, extensions = throttled_refusal(self.requested, decision, tier=tier)
        response = getattr(self.execution_context.context, "response", None)
        if response is not None:
            response.status_code = 429
            response.headers["Retry-After"] = str(decision.retry_after_s)
        return GraphQLError(message, extensions=extensions)

    async def get_results(self) -> dict[str, Any]:
        principal = self._principal()
        buckets = self._buckets()
        if principal is None or buckets is None:
            return {}
        rate = self.rate or tier_rate(self.settings, principal.tier)
        decision = self.decision or await buckets.take(principal.client_id, 0, rate)
        return {"cost": cost_report(self.requested, self.actual, rate, decision)}

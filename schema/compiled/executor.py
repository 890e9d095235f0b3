"""The execution context class that runs queries and mutations from a cached plan.

Plugged in with `strawberry.Schema(execution_context_class=...)`, so Strawberry's extension
hooks (cost, cache policy, tracing, error masking) run around it as they run around
graphql-core. Whatever a plan does not cover goes to graphql-core unchanged: subscriptions,
introspection (`__schema`, `__type`), @defer/@stream, middleware, fragment arguments, operations
that turn error propagation off, abort signals and execution hooks.
"""

from __future__ import annotations

from asyncio import Future
from typing import Any

from graphql import (
    DirectiveNode,
    ExecutionResult,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
)
from graphql.execution.collect_fields import collect_fields
from graphql.execution.values import get_argument_values
from graphql.pyutils import AwaitableOrValue

from schema.compiled.compile import object_plan, slot_plan
from schema.compiled.fields import execute_fields, execute_fields_serially
from schema.compiled.plan import FieldPlan, ObjectPlan, ObjectSlot, PlanCache
from schema.compiled.promise import Promise, settled_by
from schema.execution import Executor
from schema.loaded import ByLoader

CACHE_ATTRIBUTE = "_insitechart_plans"
SUPPORTED = (OperationType.QUERY, OperationType.MUTATION)
INCREMENTAL = frozenset({"defer", "stream"})
MISSING = object()


def plan_cache(schema: Any) -> PlanCache:
    """The plans of a GraphQL schema, kept on it (as the cost facts are kept on its fields)."""
    cache: PlanCache | None = schema.__dict__.get(CACHE_ATTRIBUTE)
    if cache is None:
        cache = PlanCache()
        schema.__dict__[CACHE_ATTRIBUTE] = cache
    return cache


class CompiledExecutor(Executor):
    """Strawberry's graphql-core executor, running planned operations without interpreting."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._arguments: dict[int, dict[str, Any]] = {}
        self._shared: dict[int, tuple[Future[Any], Promise]] = {}
        self._built: dict[tuple[int, int], tuple[Any, Any]] = {}
        # (plan, object) -> (object, its completed value or promise): a query's objects reached
        # again are completed once (objects.py, `reuse`); a mutation's may change in between.
        self.completed: dict[tuple[int, int], tuple[Any, Any]] | None = (
            {} if self.operation.operation is OperationType.QUERY else None
        )

    def built(self, spec: ByLoader[Any, Any, Any], row: Any) -> Any:
        """`spec.build(row)`, once per row and request: a stock that ten mentions of a feed point
        to is one `Stock`, which each of their `stock` fields completes (its values are the same
        whichever object holds them). A build that raises is tried again by the next field."""
        key = (id(spec), id(row))
        held = self._built.get(key)
        if held is not None and held[0] is row:
            return held[1]
        value = spec.build(row)
        self._built[key] = (row, value)
        return value

    def shared_promise(self, future: Future[Any]) -> Promise:
        """One promise per loader future for the whole request: one callback of the event loop
        when it is done, however many fields wait for it. Never cancels the future."""
        held = self._shared.get(id(future))
        if held is not None and held[0] is future:
            return held[1]
        promise = settled_by(future, owned=False)
        self._shared[id(future)] = (future, promise)
        return promise

    def arguments(self, field: FieldPlan) -> dict[str, Any]:
        """A field's arguments from this request's variables, coerced once per request."""
        args = self._arguments.get(id(field))
        if args is None:
            first = field.details[0]
            args = get_argument_values(
                field.definition,
                first.node,
                self.variable_values,
                first.fragment_variable_values,
                self.hide_suggestions,
            )
            self._arguments[id(field)] = args
        return args

    def compile_slot(self, slot: ObjectSlot) -> ObjectPlan:
        """Plan a sub-selection the first time a value reaches it (kept in the slot)."""
        return slot_plan(self, slot)

    def execute_operation(
        self, serially: bool | None = None
    ) -> AwaitableOrValue[ExecutionResult | Any]:
        cache = plan_cache(self.schema)
        plan = self._plan(cache)
        if plan is None:
            cache.fallbacks += 1
            return super().execute_operation(serially)
        if serially is None:
            serially = self.operation.operation is OperationType.MUTATION
        run = execute_fields_serially if serially else execute_fields
        try:
            result = run(self, plan, self.root_value, None)
            if self.is_awaitable(result):
                return self._await_result(result)
            data = result
        except GraphQLError as error:
            self.collected_errors.add(error, None)
            return self.finish(self.build_response(None))
        return self.finish(self.build_response(data))

    async def _await_result(self, result: Any) -> Any:
        try:
            data = await result
        except GraphQLError as error:
            self.collected_errors.add(error, None)
            return self.build_response(None)
        except Exception:
            await self.cancel_incremental_work()
            self.run_async_work_finished_hook()
            raise
        return self.build_response(data)

    def _plan(self, cache: PlanCache) -> ObjectPlan | None:
        if not self._plannable():
            return None
        operation = self.operation
        entry = cache.entry(operation, lambda: document_shape(operation, self.fragment_definitions))
        if not entry.supported:
            return None
        coerced = self.variable_values.coerced
        values = tuple(coerced.get(name, MISSING) for name in entry.directive_variables)
        try:
            plan = entry.plans.get(values)
        except TypeError:  # an unhashable value: not one that @skip or @include takes
            return None
        if plan is not None:
            cache.hits += 1
            return plan
        root_type = self.schema.get_root_type(operation.operation)
        if root_type is None:
            return None
        try:
            collected = collect_fields(
                self.schema,
                self.fragments,
                self.variable_values,
                root_type,
                operation,
                self.hide_suggestions,
            )
            plan = object_plan(self, root_type, collected.grouped_field_set)
        except Exception:  # graphql-core reports it (nesting too deep, ...) its own way
            return None
        cache.put(entry, values, plan)
        return plan

    def _plannable(self) -> bool:
        if self.operation.operation not in SUPPORTED:
            return False
        if self.abort_signal is not None or self.hooks is not None:
            return False
        manager = self.middleware_manager
        if manager is not None and manager.middlewares:
            return False
        if not self.error_propagation:
            return False
        return not any(f.variable_signatures for f in self.fragments.values())


def document_shape(
    operation: OperationDefinitionNode, fragments: dict[str, FragmentDefinitionNode]
) -> tuple[bool, tuple[str, ...]]:
    """Whether a plan covers the operation (no introspection field, no @defer or @stream
    anywhere), and the variables its @skip and @include read."""
    supported = True
    names: dict[str, None] = {}
    seen: set[str] = set()
    stack: list[SelectionSetNode] = [operation.selection_set]
    while stack:
        for selection in stack.pop().selections:
            for directive in selection.directives or ():
                supported &= directive.name.value not in INCREMENTAL
                names.update(dict.fromkeys(_variables_of(directive)))
            if isinstance(selection, FieldNode):
                name = selection.name.value
                supported &= not name.startswith("__") or name == "__typename"
                if selection.selection_set is not None:
                    stack.append(selection.selection_set)
            elif isinstance(selection, InlineFragmentNode):
                stack.append(selection.selection_set)
            elif isinstance(selection, FragmentSpreadNode) and selection.name.value not in seen:
                seen.add(selection.name.value)
                fragment = fragments.get(selection.name.value)
                if fragment is not None:
                    stack.append(fragment.selection_set)
    return supported, tuple(names)


def _variables_of(directive: DirectiveNode) -> list[str]:
    if directive.name.value not in ("skip", "include"):
        return []
    return [
        argument.value.name.value
        for argument in directive.arguments or ()
        if isinstance(argument.value, VariableNode)
    ]

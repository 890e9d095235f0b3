"""Plans: the fields of a validated operation, collected and looked up once, kept per document.

A plan holds, for each selection set and runtime type, the merged fields (graphql-core's
`collect_fields`, done once), and for each field its definition, its arguments when they do not
depend on variables, how to get its value (a direct attribute read for Strawberry's attribute
fields) and how to complete it (see complete.py). Sub-selections are planned the first time a
value reaches them, with the executor of that request (compile.py).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from graphql import (
    FieldNode,
    GraphQLField,
    GraphQLObjectType,
    GraphQLOutputType,
    ListValueNode,
    ObjectValueNode,
    ValueNode,
    VariableNode,
)
from graphql.execution.collect_fields import FieldDetailsList
from graphql.execution.values import get_argument_values
from strawberry.types.base import StrawberryMaybe, StrawberryOptional
from strawberry.types.enum import StrawberryEnumDefinition, has_enum_definition

from schema.loaded import ByLoader, spec_of
from schema.timing import TIMED

if TYPE_CHECKING:
    from schema.compiled.executor import CompiledExecutor

DEFINITION_BACKREF = "strawberry-definition"

# (executor, field, source, parent path) -> the completed value, or an awaitable of it
FieldRun = Callable[["CompiledExecutor", "FieldPlan", Any, Any], Any]
# (executor, path, value) -> the completed value, or an awaitable of it
Complete = Callable[["CompiledExecutor", Any, Any], Any]


@dataclass(slots=True, eq=False)
class FieldPlan:
    key: str
    parent: GraphQLObjectType
    parent_name: str
    definition: GraphQLField
    details: FieldDetailsList
    nodes: list[FieldNode]
    return_type: GraphQLOutputType
    resolve: Callable[..., Any] | None
    attribute: str | None  # read with getattr instead of calling Strawberry's attribute resolver
    args: dict[str, Any] | None  # None: they depend on variables, coerced once per request
    timed: bool = False  # `resolve` is timed by run_resolver (schema/timing.py's wrapper unwrapped)
    loaded: ByLoader[Any, Any, Any] | None = None  # read from its loader in place (run_loaded)
    leaf_class: type | None = None  # values of this class complete as they are (see complete.py)
    slot: ObjectSlot | None = None  # the sub-selection of an object type (lists unwrapped)
    complete: Complete = field(default=lambda *_: None)
    run: FieldRun = field(default=lambda *_: None)


@dataclass(slots=True, eq=False)
class ObjectPlan:
    """The fields a selection asks of one object type, in response order."""

    type: GraphQLObjectType
    fields: list[FieldPlan]
    # Every field a leaf read from an attribute (or __typename): what the selection completes to
    # depends on the object alone, so a shared object keeps it (objects.py, `complete_shared`).
    pure: bool = False
    # The fields a prefetch walks (prefetch.py): loaded ones and attributes with a sub-selection;
    # None until first asked.
    walked: list[FieldPlan] | None = None


@dataclass(slots=True, eq=False)
class ObjectSlot:
    """The plan of a field's sub-selection for one object type, made when first needed."""

    type: GraphQLObjectType
    details: FieldDetailsList
    plan: ObjectPlan | None = None


def basic_attribute(definition: GraphQLField) -> str | None:
    """The Python attribute of a Strawberry field without resolver, extensions or permissions.

    Strawberry resolves such a field with `_get_basic_result`, which is
    `getattr(source, field.python_name)` (its default resolver) and nothing else.
    """
    resolve = definition.resolve
    if resolve is None or not getattr(resolve, "_is_default", False):
        return None
    if getattr(resolve, "__name__", "") != "_get_basic_result":
        return None
    strawberry_field = (definition.extensions or {}).get(DEFINITION_BACKREF)
    if strawberry_field is None or not strawberry_field.is_basic_field:
        return None
    if strawberry_field.default_resolver is not getattr:
        return None
    name = strawberry_field.python_name
    return name if isinstance(name, str) else None


def direct_resolver(schema: Any, definition: GraphQLField) -> Callable[..., Any] | None:
    """A Strawberry resolver called as Strawberry calls it, without its per-call wrapping, for a
    field with no field extensions (permissions), no exception handlers, and no arguments but
    built-in scalars and enums (`plain_arguments`).

    Strawberry's resolver for such a field still builds an argument list, a closure and a
    reduction over no extensions per call, converts each argument (a scalar's or an enum's
    coerced value is its Python value already), and awaits the resolver inside a coroutine of
    its own; the direct call hands the resolver `self` (or `root`/`parent`), an `Info` and the
    coerced arguments under their Python names as `get_arguments` does, and returns its value
    (a coroutine for an async resolver) as is. It is timed as Strawberry's was (`FieldPlan.timed`,
    see `resolver_of`).
    """
    strawberry_field = (definition.extensions or {}).get(DEFINITION_BACKREF)
    strawberry_schema = getattr(schema, "_strawberry_schema", None)
    if strawberry_field is None or strawberry_schema is None:
        return None
    resolver = strawberry_field.base_resolver
    if resolver is None or strawberry_field.extensions or strawberry_field.is_subscription:
        return None
    if strawberry_schema.schema_converter._exception_handler_specs:
        return None
    names = plain_arguments(strawberry_schema, strawberry_field, resolver)
    if names is None or len(names) != len(definition.args):
        return None
    call = resolver.wrapped_func
    with_self = resolver.self_parameter is not None
    source_names = tuple(
        p.name for p in (resolver.root_parameter, resolver.parent_parameter) if p is not None
    )
    info_name = resolver.info_parameter.name if resolver.info_parameter is not None else None
    info_class = strawberry_schema.config.info_class

    def resolve(parent: Any, info: Any, /, **args: Any) -> Any:  # an argument may be `source`
        kwargs = dict.fromkeys(source_names, parent)
        if info_name is not None:
            kwargs[info_name] = info_class(_raw_info=info, _field=strawberry_field)
        for graphql_name, python_name in names:
            if graphql_name in args:
                kwargs[python_name] = args[graphql_name]
        return call(parent, **kwargs) if with_self else call(**kwargs)

    return resolve


def plain_arguments(
    strawberry_schema: Any, strawberry_field: Any, resolver: Any
) -> list[tuple[str, str]] | None:
    """(GraphQL name, Python name) of each argument of the field when every one is a built-in
    scalar (not an ID, which may be a GlobalID) or an enum, optional or not: what Strawberry's
    `convert_argument` returns as it is; None when one is anything else (lists, inputs, Maybe)."""
    names = []
    convert = strawberry_schema.config.name_converter
    arguments = strawberry_field.arguments
    if len(arguments) != len(resolver.arguments):
        return None
    for argument in arguments:
        kind = argument.type
        if isinstance(kind, StrawberryMaybe):
            return None
        if isinstance(kind, StrawberryOptional):
            kind = kind.of_type
        enum = isinstance(kind, StrawberryEnumDefinition) or has_enum_definition(kind)
        if kind not in (str, int, float, bool) and not enum:
            return None
        names.append((convert.from_argument(argument), argument.python_name))
    return names


def resolver_of(schema: Any, definition: GraphQLField) -> tuple[Callable[..., Any] | None, bool]:
    """How the plan calls a field's resolver, and whether it times the call itself.

    A resolver wrapped by the resolver timing (schema/timing.py) is called unwrapped and timed by
    `run_resolver`, which records when the value is resolved as the wrapper did, without the
    wrapper's coroutine around every async resolver.
    """
    timed = bool(getattr(definition.resolve, TIMED, False))
    direct = direct_resolver(schema, definition)
    if direct is not None:
        return direct, timed
    if timed:
        return definition.resolve.__wrapped__, True  # type: ignore[union-attr]
    return definition.resolve, False


def loaded_spec(schema: Any, definition: GraphQLField) -> ByLoader[Any, Any, Any] | None:
    """The field's `ByLoader` (schema/loaded.py), when its resolver is one's and is called directly
    (no arguments, extensions or exception handlers: nothing of Strawberry's runs around it)."""
    if definition.args or direct_resolver(schema, definition) is None:
        return None
    strawberry_field = (definition.extensions or {}).get(DEFINITION_BACKREF)
    return spec_of(strawberry_field.base_resolver.wrapped_func) if strawberry_field else None


def static_arguments(
    executor: CompiledExecutor, definition: GraphQLField, details: FieldDetailsList
) -> dict[str, Any] | None:
    """The field's arguments when no variable is in them; None when they must be coerced per
    request (or raise, which then happens where graphql-core raises it)."""
    first = details[0]
    node = first.node
    if not definition.args and not node.arguments:
        return {}
    if first.fragment_variable_values is not None:
        return None
    if any(has_variable(argument.value) for argument in node.arguments or ()):
        return None
    try:
        return get_argument_values(
            definition, node, executor.variable_values, None, executor.hide_suggestions
        )
    except Exception:  # raised again, per field, where graphql-core raises it
        return None


def has_variable(value: ValueNode) -> bool:
    if isinstance(value, VariableNode):
        return True
    if isinstance(value, ListValueNode):
        return any(has_variable(v) for v in value.values)
    if isinstance(value, ObjectValueNode):
        return any(has_variable(f.value) for f in value.fields)
    return False


@dataclass(slots=True, eq=False)
class Entry:
    operation: Any  # held, so that its id is not reused while the entry lives
    supported: bool
    directive_variables: tuple[str, ...]
    plans: dict[tuple[Any, ...], ObjectPlan] = field(default_factory=dict)


@dataclass(slots=True)
class PlanCache:
    """Plans by operation node (documents are cached per text by DocumentLimits) and by the
    values of the variables its @skip/@include read; least recently used first out."""

    maxsize: int = 256
    variants: int = 16
    entries: OrderedDict[int, Entry] = field(default_factory=OrderedDict)
    compiled: int = 0
    hits: int = 0
    fallbacks: int = 0

    def entry(self, operation: Any, shape: Callable[[], tuple[bool, tuple[str, ...]]]) -> Entry:
        """The operation's entry, made with `shape()` (supported, directive variables)."""
        key = id(operation)
        entry = self.entries.get(key)
        if entry is not None and entry.operation is operation:
            self.entries.move_to_end(key)
            return entry
        entry = Entry(operation, *shape())
        self.entries[key] = entry
        while len(self.entries) > self.maxsize:
            self.entries.popitem(last=False)
        return entry

    def put(self, entry: Entry, values: tuple[Any, ...], plan: ObjectPlan) -> None:
        if len(entry.plans) >= self.variants:
            entry.plans.clear()
        entry.plans[values] = plan
        self.compiled += 1

    def holds(self, operation: Any) -> bool:
        entry = self.entries.get(id(operation))
        return entry is not None and entry.operation is operation and bool(entry.plans)

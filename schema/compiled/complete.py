"""Completion functions, one per field and level of its return type, chosen when it is planned.

Each mirrors a branch of graphql-core's `Executor.complete_value` (non-null, list, leaf; objects
and abstract types in objects.py) with the type tests done once. Lists that are not Python lists
or tuples go to graphql-core's own completion, with a real resolve info.
"""

from __future__ import annotations

from collections.abc import Callable
from enum import EnumMeta
from math import isfinite
from typing import TYPE_CHECKING, Any

from graphql import (
    GraphQLEnumType,
    GraphQLInterfaceType,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLOutputType,
    GraphQLUnionType,
    is_leaf_type,
)
from graphql.pyutils import Path, Undefined, inspect
from graphql.type import scalars

from schema.compiled import fields, objects
from schema.compiled.plan import Complete, FieldPlan, ObjectSlot
from schema.compiled.promise import PROMISES, Gather, Step, as_promise, field_promise

if TYPE_CHECKING:
    from schema.compiled.executor import CompiledExecutor


def prepare(field: FieldPlan, typename: bool) -> None:
    """Choose how the field gets its value and completes it."""
    field.complete = completion(field, field.return_type)
    if typename:
        field.run = fields.run_typename
    elif field.loaded is not None:
        field.run = fields.run_loaded
    elif field.attribute is None:
        field.run = fields.run_resolver
    elif is_leaf_type(unwrap_non_null(field.return_type)):
        field.run = fields.run_leaf_attribute
        coerce = getattr(unwrap_non_null(field.return_type), "coerce_output_value", None)
        field.leaf_class = AS_IS_CLASS.get(coerce)
    else:
        field.run = fields.run_attribute


def unwrap_non_null(return_type: GraphQLOutputType) -> GraphQLOutputType:
    return return_type.of_type if isinstance(return_type, GraphQLNonNull) else return_type


def completion(field: FieldPlan, return_type: GraphQLOutputType) -> Complete:
    if isinstance(return_type, GraphQLNonNull):
        return non_null(field, completion(field, return_type.of_type))
    if isinstance(return_type, GraphQLList):
        return list_of(field, return_type)
    if is_leaf_type(return_type):
        return leaf(return_type)
    if isinstance(return_type, GraphQLObjectType):
        field.slot = ObjectSlot(return_type, field.details)
        return objects.object_of(field, field.slot)
    if isinstance(return_type, GraphQLInterfaceType | GraphQLUnionType):
        return objects.abstract_of(field, return_type)
    return delegated(field, return_type)


def non_null(field: FieldPlan, inner: Complete) -> Complete:
    name = f"{field.parent_name}.{field.nodes[0].name.value}"
    message = f"Cannot return null for non-nullable field {name}."

    def complete(ex: CompiledExecutor, path: Path | None, result: Any) -> Any:
        if isinstance(result, Exception):
            raise result
        completed = inner(ex, path, result)
        if completed is None:
            raise TypeError(message)
        return completed

    return complete


def leaf(return_type: GraphQLLeafType) -> Complete:
    coerce = return_type.coerce_output_value
    passes = PASS_AS_IS.get(coerce, never)
    lookup: dict[Any, str] | None = None
    if isinstance(return_type, GraphQLEnumType) and (
        type(return_type).coerce_output_value is GraphQLEnumType.coerce_output_value
    ):
        lookup = return_type._value_lookup
    members, enum_class = enum_names(return_type)

    def complete(ex: CompiledExecutor, path: Path | None, result: Any) -> Any:
        if passes(result):
            return result
        if result.__class__ is enum_class:
            name = members.get(result)
            if name is not None:
                return name
        if result is None or result is Undefined:
            return None
        if isinstance(result, Exception):
            raise result
        if lookup is not None:
            try:
                return lookup[result]
            except (KeyError, TypeError):
                pass  # coerce_output_value says why, the way graphql-core says it
        value = coerce(result)
        if value is Undefined or value is None:
            msg = (
                f"Expected `{inspect(return_type)}.coerce_output_value("
                f"{inspect(result)})` to return non-nullable value, returned:"
                f" {inspect(value)}"
            )
            raise TypeError(msg)
        return value

    return complete


def enum_names(return_type: GraphQLLeafType) -> tuple[dict[Any, str], type | None]:
    """The name each member of a Strawberry enum completes to (its `coerce_output_value`, asked
    once per member here instead of once per value: it compares the member with every value),
    and the enum class whose members they are; nothing for any other leaf type."""
    enum_class = getattr(return_type, "wrapped_cls", None)
    if not isinstance(return_type, GraphQLEnumType) or not isinstance(enum_class, EnumMeta):
        return {}, None
    members: dict[Any, str] = {}
    member: Any
    for member in enum_class:
        try:
            name = return_type.coerce_output_value(member)
        except Exception:  # coerced per value, where it raises as graphql-core would raise
            continue
        if isinstance(name, str):
            members[member] = name
    return members, enum_class


def never(_value: Any) -> bool:
    return False


# Built-in scalars whose coercion returns a value of this exact class as it is (a float: if finite).
AS_IS_CLASS: dict[Any, type] = {
    scalars.serialize_string: str,
    scalars.serialize_id: str,
    scalars.serialize_boolean: bool,
    scalars.serialize_float: float,  # when finite (run_leaf_attribute checks)
    scalars.serialize_int: int,  # when within 32 bits (run_leaf_attribute checks)
}

# Built-in scalars: a value of the scalar's own Python type is what coercing returns.
PASS_AS_IS: dict[Any, Callable[[Any], bool]] = {
    scalars.serialize_string: lambda v: v.__class__ is str,
    scalars.serialize_id: lambda v: v.__class__ is str,
    scalars.serialize_boolean: lambda v: v.__class__ is bool,
    scalars.serialize_float: lambda v: v.__class__ is float and isfinite(v),
    scalars.serialize_int: lambda v: (
        v.__class__ is int and scalars.GRAPHQL_MIN_INT <= v <= scalars.GRAPHQL_MAX_INT
    ),
}


def delegated(field: FieldPlan, return_type: GraphQLOutputType) -> Complete:
    """graphql-core completes this value (and what is below it), with a real resolve info."""

    def complete(ex: CompiledExecutor, path: Path | None, result: Any) -> Any:
        if path is None:
            msg = "a delegated completion needs its path"
            raise AssertionError(msg)
        info = objects.info_for(ex, field, path)
        return ex.complete_value(return_type, field.details, info, path, result, None)

    return complete


def list_of(field: FieldPlan, return_type: GraphQLList[Any]) -> Complete:
    item_type = return_type.of_type
    complete_item = completion(field, item_type)
    fallback = delegated(field, return_type)

    def complete(ex: CompiledExecutor, path: Path | None, result: Any) -> Any:
        if result is None or result is Undefined:
            return None
        if isinstance(result, Exception):
            raise result
        if result.__class__ is not list and result.__class__ is not tuple:
            return fallback(ex, path, result)
        return complete_items(ex, field, item_type, complete_item, path, result)

    return complete


def complete_items(
    ex: CompiledExecutor,
    field: FieldPlan,
    item_type: GraphQLOutputType,
    complete_item: Complete,
    path: Any,
    items: list[Any] | tuple[Any, ...],
) -> Any:
    """Executor.complete_iterable_value, without streams (the schema has no @stream)."""
    is_awaitable = ex.is_awaitable
    details = field.details
    completed: list[Any] = []
    awaitable_indices: list[int] = []
    try:
        for index, item in enumerate(items):
            item_path = Path(path, index, None)
            if item.__class__ not in fields.PLAIN and fields.is_awaitable(ex, item):
                completed.append(
                    Step(as_promise(item), True, ex, complete_item, item_type, details, item_path)
                )
                awaitable_indices.append(index)
                continue
            try:
                value = complete_item(ex, item_path, item)
                cls = value.__class__
                if cls not in fields.PLAIN and (cls in PROMISES or is_awaitable(value)):
                    completed.append(field_promise(ex, value, item_type, details, item_path))
                    awaitable_indices.append(index)
                else:
                    completed.append(value)
            except Exception as raw_error:
                ex.handle_field_error(raw_error, item_type, field.details, item_path)
                completed.append(None)
    except Exception:
        if awaitable_indices:
            ex.settle_in_background([completed[i] for i in awaitable_indices])
        raise
    if not awaitable_indices:
        return completed
    return Gather(completed, awaitable_indices, [completed[i] for i in awaitable_indices])

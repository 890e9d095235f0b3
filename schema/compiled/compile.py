"""Planning a selection: its fields merged once, each with how it runs and completes."""

from __future__ import annotations

from typing import TYPE_CHECKING

from graphql import GraphQLObjectType
from graphql.execution.collect_fields import FieldDetailsList, collect_subfields
from graphql.type.introspection import TypeNameMetaFieldDef

from schema.compiled.complete import prepare
from schema.compiled.fields import run_leaf_attribute, run_typename
from schema.compiled.plan import (
    FieldPlan,
    ObjectPlan,
    ObjectSlot,
    basic_attribute,
    loaded_spec,
    resolver_of,
    static_arguments,
)

if TYPE_CHECKING:
    from schema.compiled.executor import CompiledExecutor


def object_plan(
    executor: CompiledExecutor, parent: GraphQLObjectType, grouped: dict[str, FieldDetailsList]
) -> ObjectPlan:
    """The plan of fields collected (graphql-core's `collect_fields`) for one object type."""
    plans = []
    for key, details in grouped.items():
        node = details[0].node
        definition = executor.schema.get_field(parent, node.name.value)
        if definition is None:
            continue  # graphql-core leaves such a field out of the response, as here
        resolve, timed = resolver_of(executor.schema, definition)
        plan = FieldPlan(
            key=key,
            parent=parent,
            parent_name=parent.name,
            definition=definition,
            details=details,
            nodes=[d.node for d in details],
            return_type=definition.type,
            resolve=resolve or executor.field_resolver,
            attribute=basic_attribute(definition),
            args=static_arguments(executor, definition, details),
            timed=timed,
            loaded=loaded_spec(executor.schema, definition),
        )
        prepare(plan, definition is TypeNameMetaFieldDef)
        plans.append(plan)
    pure = all(p.run in (run_leaf_attribute, run_typename) for p in plans)
    return ObjectPlan(parent, plans, pure)


def slot_plan(executor: CompiledExecutor, slot: ObjectSlot) -> ObjectPlan:
    """Plan a field's sub-selection for one object type, the first time a value needs it."""
    collected = collect_subfields(
        executor.schema,
        executor.fragments,
        executor.variable_values,
        executor.operation,
        slot.type,
        slot.details,
        executor.hide_suggestions,
    )
    slot.plan = object_plan(executor, slot.type, collected.grouped_field_set)
    return slot.plan

"""Query cost: what an operation may cost before it runs, and what it cost once it ran.

Every object costs 1, or the `cost` in its field's metadata
(`strawberry.field(metadata={"cost": 5})`); scalars cost 0 unless their metadata says otherwise.
A list field multiplies its selection by the size it asks for (`first`, `last`, `limit`, or the
length of a list argument such as `symbols`); a connection hands its `first`/`last` to its `nodes`
and `edges`. Edge wrappers are free, so `edges { node }` costs what `nodes` does. The actual cost
walks the result with the same weights and the real list sizes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLField,
    GraphQLInterfaceType,
    GraphQLList,
    GraphQLNamedType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLUnionType,
    InlineFragmentNode,
    IntValueNode,
    ListValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    ValueNode,
    VariableNode,
    get_named_type,
    get_nullable_type,
)
from graphql.pyutils import Undefined

SIZE_ARGUMENTS = ("first", "last", "limit")
DEFINITION_BACKREF = "strawberry-definition"


@dataclass(frozen=True, slots=True)
class FieldCost:
    weight: int
    named: GraphQLNamedType
    composite: bool
    is_list: bool
    is_connection: bool
    sized: bool  # has a first/last/limit or list argument


def field_cost(field: GraphQLField) -> FieldCost:
    """The cost facts of a schema field, worked out once and kept on the field."""
    cached: FieldCost | None = getattr(field, "_insitechart_cost", None)
    if cached is not None:
        return cached
    named = get_named_type(field.type)
    composite = isinstance(named, GraphQLObjectType | GraphQLInterfaceType | GraphQLUnionType)
    inner = field.type.of_type if isinstance(field.type, GraphQLNonNull) else field.type
    default = 0 if not composite or named.name.endswith("Edge") else 1
    sized = any(
        name in SIZE_ARGUMENTS or isinstance(get_nullable_type(arg.type), GraphQLList)
        for name, arg in field.args.items()
    )
    cost = FieldCost(
        weight=declared_weight(field, default),
        named=named,
        composite=composite,
        is_list=isinstance(inner, GraphQLList),
        is_connection=named.name.endswith("Connection"),
        sized=sized,
    )
    field._insitechart_cost = cost  # type: ignore[attr-defined]
    return cost


def declared_weight(field: GraphQLField, default: int) -> int:
    """The `cost` declared in the Strawberry field's metadata, else `default`."""
    definition = (field.extensions or {}).get(DEFINITION_BACKREF)
    metadata = getattr(definition, "metadata", None) or {}
    cost = metadata.get("cost")
    return int(cost) if isinstance(cost, int) and cost >= 0 else default


Selected = tuple[FieldNode, GraphQLField, int]  # a field node, its schema field, times selected
# response key, times selected, weight, sub-selection (None for a scalar), named type
Weighed = tuple[tuple[str, int, int, SelectionSetNode | None, GraphQLNamedType], ...]


class CostAnalysis:
    """The requested and actual cost of one document's operations, and the fields they select.

    Fragment spreads are expanded once per fragment and parent type (memoised) and each field node
    carries the number of times it is selected, so a fragment spread twice costs twice its own
    cost while the work stays linear in the document: forty fragments each spreading the next
    twice are costed in forty steps, at 2^40 times the innermost selection, and refused.
    """

    def __init__(
        self, schema: GraphQLSchema, document: DocumentNode, default_list_size: int
    ) -> None:
        self.schema = schema
        self.default_list_size = default_list_size
        self.fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        self._selected: dict[tuple[int, str], tuple[Selected, ...]] = {}
        self._open: set[tuple[int, str]] = set()  # being expanded: a cycle (refused by validation)
        self._costs: dict[tuple[int, int, int | None], int] = {}
        self._weighed_memo: dict[tuple[int, str], Weighed] = {}

    def root_type(self, operation: OperationDefinitionNode) -> GraphQLObjectType | None:
        if operation.operation is OperationType.MUTATION:
            return self.schema.mutation_type
        if operation.operation is OperationType.SUBSCRIPTION:
            return self.schema.subscription_type
        return self.schema.query_type

    def selected(
        self, selection_set: SelectionSetNode, parent: GraphQLNamedType
    ) -> tuple[Selected, ...]:
        """The fields a selection set asks of `parent`, through inline fragments and spreads,
        each field node once with how many times it is selected."""
        key = (id(selection_set), parent.name)
        known = self._selected.get(key)
        if known is not None:
            return known
        if key in self._open:
            return ()
        self._open.add(key)
        try:
            counts: dict[tuple[int, int], list[Any]] = {}
            for selection in selection_set.selections:
                for node, field, times in self._expand(selection, parent):
                    entry = counts.setdefault((id(node), id(field)), [node, field, 0])
                    entry[2] += times
            result = tuple((node, field, times) for node, field, times in counts.values())
        finally:
            self._open.discard(key)
        self._selected[key] = result
        return result

    def _expand(self, selection: Any, parent: GraphQLNamedType) -> tuple[Selected, ...]:
        if isinstance(selection, FieldNode):
            owned = getattr(parent, "fields", None) or {}
            field = owned.get(selection.name.value)
            return () if field is None else ((selection, field, 1),)
        if isinstance(selection, InlineFragmentNode):
            narrowed = self._narrow(parent, selection.type_condition)
            return self.selected(selection.selection_set, narrowed)
        if isinstance(selection, FragmentSpreadNode):
            fragment = self.fragments.get(selection.name.value)
            if fragment is None:
                return ()
            narrowed = self._narrow(parent, fragment.type_condition)
            return self.selected(fragment.selection_set, narrowed)
        return ()

    def _narrow(self, parent: GraphQLNamedType, condition: Any) -> GraphQLNamedType:
        if condition is None:
            return parent
        return self.schema.get_type(condition.name.value) or parent

    def requested(
        self, operation: OperationDefinitionNode, variables: Mapping[str, Any] | None
    ) -> int:
        root = self.root_type(operation)
        if root is None:
            return 0
        values = dict(variables or {})
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if values.get(name) is None and definition.default_value is not None:
                values[name] = literal(definition.default_value, {})
        self._costs = {}  # a field's cost depends on the variables: kept for this call only
        return self._requested(operation.selection_set, root, values, None)

    def _requested(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        variables: dict[str, Any],
        inherited: int | None,
    ) -> int:
        return sum(
            times * self._field_requested(node, field, variables, inherited)
            for node, field, times in self.selected(selection_set, parent)
        )

    def _field_requested(
        self,
        node: FieldNode,
        field: GraphQLField,
        variables: dict[str, Any],
        inherited: int | None,
    ) -> int:
        cost = field_cost(field)
        if not cost.composite or node.selection_set is None:
            return cost.weight
        key = (id(node), id(field), inherited)
        known = self._costs.get(key)
        if known is not None:
            return known
        size = requested_size(node, field, variables) if cost.sized else None
        named = cost.named
        if cost.is_list:
            count = size or inherited or self.default_list_size
            below = self._requested(node.selection_set, named, variables, None)
            total = count * (cost.weight + below)
        elif cost.is_connection:
            passed = size or self.default_list_size
            total = cost.weight + self._requested(node.selection_set, named, variables, passed)
        else:
            total = cost.weight + self._requested(node.selection_set, named, variables, None)
        self._costs[key] = total
        return total

    def actual(self, operation: OperationDefinitionNode, data: Mapping[str, Any] | None) -> int:
        root = self.root_type(operation)
        if root is None or not data:
            return 0
        return self._actual(operation.selection_set, root, data, {})

    def _actual(
        self,
        selection_set: SelectionSetNode,
        parent: GraphQLNamedType,
        data: Mapping[str, Any],
        seen: dict[tuple[int, int, int], int],
    ) -> int:
        """The cost of `data` as selected; `seen`: the cost of each result object already
        walked, by selection and object (the compiled executor gives an object reached again
        the same dict: a feed's 500 `stock` values are 50 dicts, each walked once)."""
        total = 0
        for key, times, weight, below, named in self._weighed(selection_set, parent):
            value = data.get(key)
            if value is None:
                continue
            if below is None:
                total += times * weight
                continue
            items = value if isinstance(value, list) else (value,)
            if not self._weighed(below, named):  # nothing below costs: each object its weight
                unit = times * weight
                for item in items:
                    if item.__class__ is dict or isinstance(item, Mapping):
                        total += unit
                continue
            for item in items:
                if item.__class__ is dict or isinstance(item, Mapping):
                    memo = (id(below), id(named), id(item))
                    cost = seen.get(memo)
                    if cost is None:
                        cost = seen[memo] = self._actual(below, named, item, seen)
                    total += times * (weight + cost)
        return total

    def _weighed(self, selection_set: SelectionSetNode, parent: GraphQLNamedType) -> Weighed:
        """The selected fields that can cost anything (objects, weighted scalars), by response key;
        a result's scalars of weight 0, most of its fields, are not even looked at."""
        key = (id(selection_set), parent.name)
        known = self._weighed_memo.get(key)
        if known is not None:
            return known
        entries = []
        for node, field, times in self.selected(selection_set, parent):
            cost = field_cost(field)
            below = node.selection_set if cost.composite else None
            if below is None and cost.weight == 0:
                continue
            response_key = node.alias.value if node.alias else node.name.value
            entries.append((response_key, times, cost.weight, below, cost.named))
        weighed = tuple(entries)
        self._weighed_memo[key] = weighed
        return weighed


def literal(value: ValueNode, variables: Mapping[str, Any]) -> Any:
    """What an argument says, as far as sizes go: an int, a list (its length counts), or None.

    Read straight from the document and the raw variables: cheaper than graphql-core's coercion,
    and a value of the wrong type is refused by execution anyway, with a clear error.
    """
    if isinstance(value, VariableNode):
        return variables.get(value.name.value)
    if isinstance(value, IntValueNode):
        return int(value.value)
    if isinstance(value, ListValueNode):
        return value.values
    return None


def requested_size(
    node: FieldNode, field: GraphQLField, variables: Mapping[str, Any]
) -> int | None:
    """The list size a field asks for: first/last/limit, else the length of a list argument."""
    given = {arg.name.value: literal(arg.value, variables) for arg in node.arguments or ()}
    for name in SIZE_ARGUMENTS:
        value = given.get(name, field.args[name].default_value if name in field.args else None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    for name, arg in field.args.items():
        value = given.get(name, arg.default_value)
        if value is not Undefined and isinstance(value, list | tuple):
            return max(len(value), 1)
    return None


def select_operation(
    document: DocumentNode, operation_name: str | None
) -> OperationDefinitionNode | None:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        return operations[0] if len(operations) == 1 else None
    return next((o for o in operations if o.name and o.name.value == operation_name), None)

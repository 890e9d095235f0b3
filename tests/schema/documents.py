"""Random valid documents over the public schema, from a seeded RNG, for differential tests.

They use aliases, named and inline fragments, variables (in arguments and in @include/@skip),
`__typename`, arguments that fail (BAD_USER_INPUT inside list items, propagating through
non-null fields) and symbols that are unknown (null, also inside lists).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from graphql import (
    GraphQLArgument,
    GraphQLEnumType,
    GraphQLField,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLSchema,
    get_named_type,
)
from graphql.pyutils import Undefined

# Fields whose values depend on the clock or on an outside service, or need a scope.
LEFT_OUT = frozenset({"quote", "serverStats"})
SYMBOLS = ("S000", "s001", "S002", "S003", "ZZZZ", "bad symbol!")
MAX_DEPTH = 4


@dataclass
class Document:
    """One operation being written: its variables and fragments as they are added."""

    rng: random.Random
    schema: GraphQLSchema
    variables: dict[str, Any] = field(default_factory=dict)
    definitions: list[str] = field(default_factory=list)
    fragments: list[str] = field(default_factory=list)
    aliases: int = 0

    def variable(self, type_name: str, value: Any) -> str:
        name = f"v{len(self.variables)}"
        self.variables[name] = value
        self.definitions.append(f"${name}: {type_name}")
        return f"${name}"

    def alias(self) -> str:
        self.aliases += 1
        return f"a{self.aliases}: "


def argument_value(doc: Document, name: str, arg: GraphQLArgument) -> Any:
    """A value for an argument: mostly valid, sometimes one the resolver refuses."""
    rng = doc.rng
    named = get_named_type(arg.type)
    if isinstance(named, GraphQLEnumType):
        return rng.choice(list(named.values))
    if name in ("first", "limit", "last"):
        return rng.choice((1, 2, 3, 3, 2, 0, 101))
    if name == "symbol":
        return rng.choice(SYMBOLS)
    if name == "symbols":
        return rng.sample(SYMBOLS, rng.randint(0, 4))
    if name == "id":
        return rng.choice(("1", "2", "3", "99999", "abc"))
    if name == "after":
        return rng.choice(("not-a-cursor", None))
    if name == "sector":
        return rng.choice(("Energy", "Utilities", "Nothing"))
    if name == "search":
        return rng.choice(("S00", "S", ""))
    return None


def literal(value: Any, named: Any) -> str:
    if value is None:
        return "null"
    if isinstance(named, GraphQLEnumType):
        return str(value)
    if isinstance(value, list):
        return "[" + ", ".join(literal(v, named) for v in value) + "]"
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return str(value)


def arguments(doc: Document, definition: GraphQLField) -> str:
    parts = []
    for name, arg in definition.args.items():
        required = isinstance(arg.type, GraphQLNonNull) and arg.default_value is Undefined
        if not required and doc.rng.random() < 0.5:
            continue
        value = argument_value(doc, name, arg)
        if value is None and isinstance(arg.type, GraphQLNonNull):
            continue
        named = get_named_type(arg.type)
        if doc.rng.random() < 0.4:
            parts.append(f"{name}: {doc.variable(str(arg.type), value)}")
        else:
            parts.append(f"{name}: {literal(value, named)}")
    return f"({', '.join(parts)})" if parts else ""


def directives(doc: Document) -> str:
    roll = doc.rng.random()
    if roll > 0.2:
        return ""
    which = doc.rng.choice(("include", "skip"))
    value = doc.rng.random() < 0.5
    if doc.rng.random() < 0.6:
        return f" @{which}(if: {doc.variable('Boolean!', value)})"
    return f" @{which}(if: {'true' if value else 'false'})"


def selection(doc: Document, parent: GraphQLObjectType, depth: int) -> str:
    """A selection set of 1 to 4 entries: fields, inline fragments, fragment spreads."""
    rng = doc.rng
    names = [n for n in parent.fields if n not in LEFT_OUT]
    if depth >= MAX_DEPTH:
        names = [n for n in names if not composite(parent.fields[n])] or names[:1]
    parts = []
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        if roll < 0.1:
            parts.append("__typename")
        elif roll < 0.2 and depth < MAX_DEPTH:
            parts.append(f"... on {parent.name}{directives(doc)} {selection(doc, parent, depth)}")
        elif roll < 0.28 and depth < MAX_DEPTH:
            index = len(doc.fragments)
            doc.fragments.append("")  # the name is taken before its body names others
            fragment = f"F{index}"
            body = selection(doc, parent, depth)
            doc.fragments[index] = f"fragment {fragment} on {parent.name} {body}"
            parts.append(f"...{fragment}{directives(doc)}")
        else:
            parts.append(field_selection(doc, parent, rng.choice(names), depth))
    return "{ " + " ".join(parts) + " }"


def composite(definition: GraphQLField) -> bool:
    return isinstance(get_named_type(definition.type), GraphQLObjectType)


def field_selection(doc: Document, parent: GraphQLObjectType, name: str, depth: int) -> str:
    definition = parent.fields[name]
    args = arguments(doc, definition)
    # Every field gets its own alias when it has arguments: two selections of one response key
    # must ask the same arguments, which random ones would not.
    alias = doc.alias() if args or doc.rng.random() < 0.3 else ""
    named = get_named_type(definition.type)
    below = ""
    if isinstance(named, GraphQLObjectType):
        below = " " + selection(doc, named, depth + 1)
    return f"{alias}{name}{args}{directives(doc)}{below}"


def random_document(rng: random.Random, schema: GraphQLSchema) -> tuple[str, dict[str, Any]]:
    """A query and its variables."""
    doc = Document(rng, schema)
    assert schema.query_type is not None
    body = selection(doc, schema.query_type, 1)
    header = f"query Q({', '.join(doc.definitions)})" if doc.definitions else "query Q"
    return "\n".join([f"{header} {body}", *doc.fragments]), doc.variables

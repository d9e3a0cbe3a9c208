"""What numerapi 3.1.1 sends that a strict GraphQL server would refuse, made acceptable.

Most of numerapi's quirks are absorbed by the schema itself:

- ``rounds(tournament: $tournament)`` with ``$tournament`` declared ``Int`` in one query and
  ``Int!`` in another: the argument is declared nullable (``Int``), which admits both (a
  ``Int!`` variable may always fill an ``Int`` position).
- ``v3UserProfile(model_name: …)`` and ``v3UserProfile(modelName: …)``: the field declares
  both arguments.
- snake_case operation and field names (``create_submission``, ``submission_upload_auth``,
  ``public_id``, ``return_1_day``…): declared under exactly those names.

One quirk cannot be absorbed by a schema without polluting it: ``releaseStake`` declares
its variable as ``$drain: bool!`` — a type ``bool`` that no GraphQL schema has (the
built-in is ``Boolean``). :func:`normalize_query` rewrites such lowercase spellings of the
built-in scalars in *variable definitions* to the real names before the query is executed.
It parses the text with graphql-core and splices the type names at their exact source
positions, so strings, comments and everything else in the query stay byte for byte as
sent; a query without the quirk is returned unchanged.
"""

from __future__ import annotations

from graphql import (
    ListTypeNode,
    NamedTypeNode,
    NonNullTypeNode,
    OperationDefinitionNode,
    TypeNode,
    parse,
)

__all__ = ["TYPE_ALIASES", "normalize_query"]

#: Lowercase spellings of built-in scalars seen in clients' variable definitions.
TYPE_ALIASES = {
    "bool": "Boolean",
    "boolean": "Boolean",
    "int": "Int",
    "float": "Float",
    "string": "String",
}


def _named(node: TypeNode) -> NamedTypeNode | None:
    while isinstance(node, (NonNullTypeNode, ListTypeNode)):
        node = node.type
    return node if isinstance(node, NamedTypeNode) else None


def normalize_query(text: str) -> str:
    """``text`` with lowercase built-in scalar names in variable definitions corrected.

    Raises graphql-core's ``GraphQLSyntaxError`` for text that is not GraphQL.
    """
    document = parse(text)
    edits: list[tuple[int, int, str]] = []
    for definition in document.definitions:
        if not isinstance(definition, OperationDefinitionNode):
            continue
        for variable in definition.variable_definitions or ():
            named = _named(variable.type)
            if named is None:
                continue
            name = named.name
            replacement = TYPE_ALIASES.get(name.value)
            if replacement is not None and name.loc is not None:
                edits.append((name.loc.start, name.loc.end, replacement))
    for start, end, replacement in sorted(edits, reverse=True):
        text = text[:start] + replacement + text[end:]
    return text

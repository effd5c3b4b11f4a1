"""Scalars of the schema besides GraphQL's own, each defined once."""

from __future__ import annotations

from typing import NewType

import strawberry

# strawberry's own JSON scalar carries @specifiedBy, which introspection leaves out unless
# asked, so a client rebuilding the schema from it would see another SDL. This one is
# mapped by build_schema (StrawberryConfig.scalar_map): the audit log's arguments and a
# schedule's stored train input are both this JSON.
JSON = NewType("JSON", object)
JSON_SCALAR = strawberry.scalar(
    name="JSON",
    description="A JSON value: an object, a list, a string, a number, a boolean or null.",
    serialize=lambda value: value,
    parse_value=lambda value: value,
)

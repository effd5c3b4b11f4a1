"""The committed schema/schema.graphql is the schema the server serves.

Clients and reviewers read the SDL file; a change to the GraphQL surface must show up
there, in the same commit.
"""

from __future__ import annotations

from pathlib import Path

from graphql import (
    build_client_schema,
    build_schema,
    get_introspection_query,
    lexicographic_sort_schema,
    print_schema,
)

from schema import schema
from tests.conftest import Server

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema" / "schema.graphql"
OUT_OF_DATE = "schema/schema.graphql is out of date: run `make schema` and commit the result"


def test_committed_sdl_matches_the_schema() -> None:
    # when
    sdl = schema.as_str() + "\n"

    # then
    assert sdl == SCHEMA_FILE.read_text(), OUT_OF_DATE


async def test_served_schema_matches_the_committed_sdl(server: Server) -> None:
    # given
    committed = lexicographic_sort_schema(build_schema(SCHEMA_FILE.read_text()))

    # when
    introspection = await server.data(get_introspection_query(descriptions=True))

    # then
    served = lexicographic_sort_schema(build_client_schema(introspection))
    assert print_schema(served) == print_schema(committed), OUT_OF_DATE

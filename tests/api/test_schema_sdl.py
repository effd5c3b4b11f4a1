"""The committed schema/schema.graphql is the schema the server serves.

Clients and reviewers read the SDL file; a change to the GraphQL surface must show up
there, in the same commit.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import cast

from graphql import (
    IntrospectionQuery,
    build_client_schema,
    build_schema,
    get_introspection_query,
    lexicographic_sort_schema,
    print_schema,
)

import schema
from tests.conftest import REPO, Server

SCHEMA_FILE = Path(__file__).resolve().parents[2] / "schema" / "schema.graphql"
OUT_OF_DATE = "schema/schema.graphql is out of date: run `make schema` and commit the result"


def test_committed_sdl_matches_the_schema() -> None:
    # when
    sdl = schema.build_schema().as_str() + "\n"

    # then
    assert sdl == SCHEMA_FILE.read_text(), OUT_OF_DATE


async def test_served_schema_matches_the_committed_sdl(server: Server) -> None:
    # given
    committed = lexicographic_sort_schema(build_schema(SCHEMA_FILE.read_text()))

    # when
    # Everything the SDL prints: deprecated input fields, @oneOf inputs, @specifiedBy.
    introspection = await server.data(
        get_introspection_query(
            descriptions=True, input_value_deprecation=True, one_of=True, specified_by_url=True
        )
    )

    # then
    # server.data returns JSON (dict[str, Any]); this one is the introspection result,
    # which graphql-core types as a TypedDict.
    served = lexicographic_sort_schema(
        build_client_schema(cast("IntrospectionQuery", introspection))
    )
    assert print_schema(served) == print_schema(committed), OUT_OF_DATE


# Counts the strawberry schemas built while `schema` (and the app module) is imported.
IMPORT_SCHEMA = """
from strawberry.schema.schema import Schema
built = []
real_init = Schema.__init__
def counted(self, *args, **kwargs):
    built.append(1)
    real_init(self, *args, **kwargs)
Schema.__init__ = counted
import schema, server.app
print(len(built))
"""


def test_importing_the_schema_package_builds_no_schema() -> None:
    # when
    result = subprocess.run(
        [sys.executable, "-c", IMPORT_SCHEMA],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    # then: the package's import pays for the types, not for a schema build
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "0"

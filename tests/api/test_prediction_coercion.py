"""predictFutureNeed's rows are coerced by schema/predictions.py's direct walk (issue 24:
graphql-core's generic walk was a fifth of a 1,000-row request) with exactly graphql-core's
result, and anything but the plain case is left to graphql-core, errors included."""

from __future__ import annotations

from typing import Any, cast

import pytest
from graphql import GraphQLInputObjectType, GraphQLList, GraphQLNonNull, Undefined
from graphql.execution import values as graphql_values

import schema.predictions as predictions
from schema import build_schema

SCHEMA = build_schema()._schema
ROW_TYPE = cast("GraphQLInputObjectType", SCHEMA.type_map["PredictionRowInput"])
ROWS_TYPE = GraphQLNonNull(GraphQLList(GraphQLNonNull(ROW_TYPE)))

CASES: list[Any] = [
    [{"jobRoleName": "Data Engineer", "trendScore": 1, "avgSalaryK": 62.5}],
    [{"trendScore": 0.5, "skillName": None}, {}],
    [{"avgSalaryK": 1e308, "economicIndicator": -0.0}],
    [],
    # refused by the scalars or the input object: graphql-core decides, and says why
    [{"trendScore": True}],
    [{"trendScore": "0.5"}],
    [{"skillName": 3}],
    [{"trendScore": 10**400}],
    [{"unknownField": 1}],
    [None],
    ["not an object"],
    # not a list: GraphQL takes a lone object as a list of one
    {"trendScore": 1},
]


def test_the_rows_coercion_is_the_one_graphql_core_runs() -> None:
    assert vars(graphql_values)["coerce_input_value"] is predictions._coerce_variable


@pytest.mark.parametrize("rows", CASES)
def test_rows_are_coerced_exactly_as_graphql_core_coerces_them(rows: Any) -> None:
    ours = predictions._coerce_variable(rows, ROWS_TYPE)
    theirs = predictions._graphql_coerce_input_value(rows, ROWS_TYPE)
    assert ours == theirs
    assert (ours is Undefined) == (theirs is Undefined)
    if isinstance(theirs, list):
        assert [type(v) for row in ours for v in row.values()] == [
            type(v) for row in theirs for v in row.values()
        ]


def test_only_plain_rows_take_the_direct_walk() -> None:
    row_type = ROW_TYPE
    assert predictions._coerce_rows([{"trendScore": 1.0}], row_type) is not None
    for refused in ([{"trendScore": True}], [{"unknownField": 1}], [None], {"trendScore": 1}):
        assert predictions._coerce_rows(refused, row_type) is None

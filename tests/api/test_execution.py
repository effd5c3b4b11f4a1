"""schema/execution.py: lists of scalars and enums completed in one pass answer exactly as
graphql-core's own completion does, values and errors alike."""

from __future__ import annotations

from enum import Enum
from typing import Any

import pytest
import strawberry

from schema.execution import LeafListExecutionContext


@strawberry.enum
class Level(Enum):
    LOW = "LOW"
    HIGH = "HIGH"


VALUES: dict[str, Any] = {}


@strawberry.type
class Query:
    @strawberry.field
    def floats(self) -> list[float]:
        return VALUES["floats"]  # type: ignore[no-any-return]

    @strawberry.field
    def matrix(self) -> list[list[float]]:
        return VALUES["matrix"]  # type: ignore[no-any-return]

    @strawberry.field
    def levels(self) -> list[Level]:
        return VALUES["levels"]  # type: ignore[no-any-return]

    @strawberry.field
    def maybe(self) -> list[str | None]:
        return VALUES["maybe"]  # type: ignore[no-any-return]

    @strawberry.field
    def texts(self) -> list[list[str]]:
        return VALUES["texts"]  # type: ignore[no-any-return]


FAST = strawberry.Schema(query=Query, execution_context_class=LeafListExecutionContext)
PLAIN = strawberry.Schema(query=Query)
DOCUMENT = "{ floats matrix levels maybe texts }"


def both(values: dict[str, Any]) -> tuple[Any, Any]:
    VALUES.clear()
    VALUES.update(values)
    fast, plain = FAST.execute_sync(DOCUMENT), PLAIN.execute_sync(DOCUMENT)
    return fast, plain


def test_plain_lists_answer_as_graphql_core_does(monkeypatch: pytest.MonkeyPatch) -> None:
    items: list[object] = []
    generic = LeafListExecutionContext.complete_list_item_value

    def counted(self: LeafListExecutionContext, item: object, *args: Any) -> Any:
        items.append(item)
        return generic(self, item, *args)

    monkeypatch.setattr(LeafListExecutionContext, "complete_list_item_value", counted)
    fast, plain = both(
        {
            "floats": [0.25, 1.0, -3.5],
            "matrix": [[0.1, 0.9], [1.0, 0.0], []],
            "levels": [Level.HIGH, Level.LOW],
            "maybe": ["a", None],
            "texts": [["x", "y"], []],
        }
    )
    assert fast.errors is None
    assert fast.data == plain.data
    assert fast.data == {
        "floats": [0.25, 1.0, -3.5],
        "matrix": [[0.1, 0.9], [1.0, 0.0], []],
        "levels": ["HIGH", "LOW"],
        "maybe": ["a", None],
        "texts": [["x", "y"], []],
    }
    # graphql-core's item by item walk ran for the nullable list only
    assert items == ["a", None]


@pytest.mark.parametrize(
    "broken",
    [
        {"floats": [1.0, None]},  # null in a non-null list
        {"floats": [1.0, float("nan")]},  # a value Float refuses
        {"matrix": [[0.5], None]},  # a null inner list
        {"matrix": [[0.5], [float("inf")]]},
        {"levels": [Level.HIGH, "MEDIUM"]},  # not a value of the enum
        {"texts": [["x"], [None]]},
    ],
)
def test_refused_values_give_graphql_cores_own_errors_and_paths(broken: dict[str, Any]) -> None:
    values: dict[str, Any] = {
        "floats": [1.0],
        "matrix": [[1.0]],
        "levels": [Level.LOW],
        "maybe": [None],
        "texts": [["x"]],
    }
    fast, plain = both(values | broken)
    assert fast.errors is not None
    assert plain.errors is not None
    assert fast.data == plain.data
    assert [(e.message, e.path) for e in fast.errors] == [(e.message, e.path) for e in plain.errors]


def test_numbers_of_other_types_are_serialized_by_the_scalar() -> None:
    fast, plain = both(
        {
            "floats": [1, True, 2.5],
            "matrix": [[3]],
            "levels": [],
            "maybe": [],
            "texts": [[]],
        }
    )
    assert fast.errors is None
    assert fast.data == plain.data
    assert fast.data["floats"] == [1.0, 1.0, 2.5]

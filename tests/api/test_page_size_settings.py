"""DEFAULT_PAGE_SIZE and MAX_PAGE_SIZE are settings (read once by the app factory), not
constants: a server configured with other numbers pages by them."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from main import Settings
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import TRAINING_RUNS_QUERY, insert, json_of, mixed_rows, role_users


async def runs_page(app: ConfiguredApp, server: Server, **variables: Any) -> dict[str, Any]:
    async with app.client() as client:
        response = await client.post(
            "/graphql",
            json={"query": TRAINING_RUNS_QUERY, "variables": variables},
            headers={"Authorization": f"Token {server.tokens['drh']}"},
        )
    assert response.status_code == 200, response.text
    return json_of(response)


async def test_page_sizes_come_from_the_settings(clean_runs: Server) -> None:
    # given
    await insert(mixed_rows(12, await role_users()))
    app = ConfiguredApp(clean_runs, default_page_size=3, max_page_size=5)

    # when
    default = await runs_page(app, clean_runs)
    largest = await runs_page(app, clean_runs, first=5)
    too_many = await runs_page(app, clean_runs, first=6)

    # then
    assert len(default["data"]["trainingRuns"]["edges"]) == 3
    assert len(largest["data"]["trainingRuns"]["edges"]) == 5
    [error] = too_many["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "argument": "first"}
    assert "between 0 and 5" in error["message"]


def test_a_default_page_larger_than_the_largest_is_refused() -> None:
    with pytest.raises(ValidationError, match="DEFAULT_PAGE_SIZE"):
        Settings(default_page_size=50, max_page_size=10)

"""The per-user budget of predicted rows (third hardening pass, item 13): six clients of
one account hammering predictFutureNeed slowed everyone's queries down. Each user may
have PREDICTION_ROWS_PER_SECOND rows predicted per second per process, PREDICTION_ROWS_BURST
at once; beyond, RATE_LIMITED with a retryAfter, while other users are unaffected. The
effect on another user's latency is measured by bench/prediction_fairness.py."""

from __future__ import annotations

from typing import Any

import pytest

from resolvers.rate_limits import TokenBuckets
from tests.api.configured_app import ConfiguredApp
from tests.conftest import Server
from tests.helpers import dataset_rows, train_completed

PREDICT = """
query Predict($model: String, $rows: [PredictionRowInput!]!) {
  predictFutureNeed(model: $model, rows: $rows) { modelVersion }
}
"""


@pytest.fixture(scope="module")
async def model(server: Server) -> str:
    run = await train_completed(server.data, trees=3)
    return str(run["modelVersion"])


async def ask(app: ConfiguredApp, server: Server, role: str, model: str, count: int) -> Any:
    _, rows = dataset_rows(count)
    async with app.client() as client:
        response = await client.post(
            "/graphql",
            json={"query": PREDICT, "variables": {"model": model, "rows": rows}},
            headers={"Authorization": f"Token {server.tokens[role]}"},
        )
    return response.json()


def code(body: dict[str, Any]) -> str | None:
    return body["errors"][0]["extensions"]["code"] if "errors" in body else None


async def test_rows_over_a_users_budget_are_rate_limited_other_users_are_not(
    server: Server, model: str
) -> None:
    # given: one row per second, a full request (1,000 rows) at once
    app = ConfiguredApp(server, prediction_rows_per_second=1.0, prediction_rows_burst=1000)

    # when / then: the burst is spent, then 100 more rows are 100 s away
    assert code(await ask(app, server, "manager", model, 1000)) is None
    refused = await ask(app, server, "manager", model, 100)
    assert code(refused) == "RATE_LIMITED"
    assert refused["data"] is None
    assert 90 < refused["errors"][0]["extensions"]["retryAfter"] <= 100
    # a refused request took nothing: the wait has not grown
    again = await ask(app, server, "manager", model, 100)
    assert (
        again["errors"][0]["extensions"]["retryAfter"]
        <= refused["errors"][0]["extensions"]["retryAfter"]
    )

    # another user has a budget of their own
    assert code(await ask(app, server, "drh", model, 1000)) is None
    # invalid requests spend nothing and say what is wrong
    assert code(await ask(app, server, "rrh", model, 0)) == "BAD_USER_INPUT"
    assert code(await ask(app, server, "rrh", model, 1000)) is None


async def test_the_budget_table_stays_bounded(server: Server, model: str) -> None:
    app = ConfiguredApp(server, prediction_limiter_max_keys=2)
    for role in ("manager", "drh", "rrh", "root"):
        assert code(await ask(app, server, role, model, 1)) is None
    assert len(app.services.prediction_budget) == 2


def test_token_buckets_refill_at_their_rate_up_to_the_burst() -> None:
    now = [0.0]
    buckets = TokenBuckets(rate=100, burst=1000, max_keys=10, clock=lambda: now[0])
    assert buckets.take("a", 1000) == 0
    assert buckets.take("a", 50) == pytest.approx(0.5)
    now[0] = 0.5
    assert buckets.take("a", 50) == 0  # refilled meanwhile, refusal took nothing
    now[0] = 100.0
    assert buckets.take("a", 1000) == 0  # never more than the burst saved up
    assert buckets.take("a", 1) == pytest.approx(0.01)
    assert buckets.take("a", 1001) == float("inf")  # more than a bucket holds

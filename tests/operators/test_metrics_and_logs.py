"""/metrics and the JSON log on a real `main.py serve` process (and --workers 2)."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.helpers import TRAIN, http_client, train_variables, wait_for
from tests.operators.metrics_text import total, value
from tests.prestart import prestartable
from tests.processes import LiveServer, live_server, start_live_server

METRICS_TOKEN = "metrics-" + uuid.uuid4().hex
BEARER = {"Authorization": f"Bearer {METRICS_TOKEN}"}


@pytest.fixture(scope="module")
@prestartable
async def observed(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    server = await start_live_server(
        tmp_path_factory.mktemp("operators-observed"),
        # Warm: a test here trains, and the pool's start-up is paid in the background.
        settings={
            "METRICS_ENABLED": "true",
            "METRICS_TOKEN": METRICS_TOKEN,
            "LOG_FORMAT": "json",
            "TRAINING_WARM_UP": "true",
        },
    )
    try:
        yield server
    finally:
        await server.kill()


async def scrape(server: LiveServer, headers: dict[str, str] | None = None) -> httpx.Response:
    async with http_client(base_url=server.url, timeout=30) as client:
        return await client.get("/metrics", headers=headers if headers is not None else BEARER)


async def graphql(
    server: LiveServer, query: str, variables: dict[str, Any] | None = None, **headers: str
) -> httpx.Response:
    async with server.client(timeout=120) as client:
        return await client.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )


async def test_metrics_need_the_bearer_token(observed: LiveServer) -> None:
    refused = await scrape(observed, {})
    assert refused.status_code == 401
    # the one error shape of every HTTP refusal
    assert [error["extensions"]["code"] for error in refused.json()["errors"]] == [
        "UNAUTHENTICATED"
    ]
    assert (await scrape(observed, {"Authorization": "Bearer wrong"})).status_code == 401
    assert (await scrape(observed, {"Authorization": f"Token {METRICS_TOKEN}"})).status_code == 401
    response = await scrape(observed)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")


async def test_metrics_count_operations_logins_and_runs(observed: LiveServer) -> None:
    # given: named queries, an invalid document, a refused login and a finished run
    for _ in range(3):
        assert (await graphql(observed, "query Me { viewer { username } }")).status_code == 200
    await graphql(observed, "query Broken { noSuchField }")
    await graphql(
        observed, 'mutation { login(username: "nobody", password: "wrong-pass") { token } }'
    )
    trained = await graphql(observed, TRAIN, train_variables(5, wait=True))
    assert trained.json()["data"]["trainModel"]["trainingRun"]["status"] == "COMPLETED"

    # when
    text = (await scrape(observed)).text
    print("\n" + "\n".join(line for line in text.splitlines() if "training_api_" in line))

    # then
    requests = "training_api_graphql_requests_total"
    assert value(text, requests, operation="Me", type="query", outcome="ok") == 3
    assert (
        value(
            text, requests, operation="invalid", type="unknown", outcome="GRAPHQL_VALIDATION_FAILED"
        )
        == 1
    )
    assert (
        value(text, requests, operation="anonymous", type="mutation", outcome="INVALID_CREDENTIALS")
        == 1
    )
    assert value(text, requests, operation="Train", type="mutation", outcome="ok") == 1
    assert (
        value(
            text,
            "training_api_graphql_request_duration_seconds_count",
            operation="Me",
            type="query",
        )
        == 3
    )
    assert value(text, "training_api_login_refusals_total", reason="invalid_credentials") == 1
    assert value(text, "training_api_runs", status="COMPLETED") == 1
    assert value(text, "training_api_runs", status="FAILED") == 0
    assert value(text, "training_api_queue_length") == 0
    assert value(text, "training_api_training_duration_seconds_count") == 1
    assert value(text, "training_api_training_duration_seconds_bucket", le="+Inf") == 1
    assert value(text, "training_api_database_up") == 1


async def test_anonymous_operation_names_cannot_use_up_the_metric_labels(
    observed: LiveServer,
) -> None:
    # given: more distinct operation names than there are labels, sent without a token
    async with http_client(base_url=observed.url, timeout=30) as anonymous:
        for number in range(150):
            response = await anonymous.post(
                "/graphql", json={"query": f"query Flood{number} {{ viewer {{ username }} }}"}
            )
            assert response.status_code == 200

    # when: a signed-in client's named operation
    assert (await graphql(observed, "query AfterTheFlood { viewer { username } }")).is_success
    text = (await scrape(observed)).text

    # then: it keeps its own label; the flood is one label
    requests = "training_api_graphql_requests_total"
    assert value(text, requests, operation="AfterTheFlood", type="query", outcome="ok") == 1
    assert total(text, requests, operation="unauthenticated") == 150
    assert "Flood0" not in text


async def test_json_logs_tell_a_request_and_its_run(observed: LiveServer) -> None:
    # given
    request_id = f"op-{uuid.uuid4().hex[:12]}"
    start = len(observed.log_text())

    # when
    response = await graphql(
        observed,
        TRAIN,
        train_variables(5, wait=True),
        **{"X-Request-ID": request_id},
    )
    run_id = response.json()["data"]["trainModel"]["trainingRun"]["databaseId"]
    assert response.headers["x-request-id"] == request_id

    # then: every line is a JSON object
    deadline = time.monotonic() + 30
    while True:
        lines = [line for line in observed.log_text()[start:].splitlines() if line.strip()]
        entries = [json.loads(line) for line in lines]
        if any("finished" in e["message"] and e.get("run_id") == run_id for e in entries):
            break
        assert time.monotonic() < deadline, "\n".join(lines)
        await asyncio.sleep(0.2)
    for entry in entries:
        assert {"time", "level", "logger", "message"} <= set(entry), entry
    # the request's lines carry its id, operation and user
    queued = next(e for e in entries if "queued" in e["message"])
    assert queued["request_id"] == request_id
    assert queued["operation"] == "Train"
    assert queued["user"] == "drh-user"
    access = [e for e in entries if e["logger"] == "uvicorn.access"]
    assert access
    assert access[-1]["request_id"] == request_id
    # and the run's lines tell its story, each with the run id
    story = [e["message"] for e in entries if e.get("run_id") == run_id]
    print("\n" + "\n".join(story))
    for step in (
        "started",
        "data loaded",
        "rows used",
        "dropped",
        "fitted",
        "evaluated",
        "accuracy",
        "model saved",
        "sha256",
        "finished",
    ):
        assert any(step in message for message in story), (step, story)


async def test_the_client_address_is_the_one_the_local_proxy_forwards(
    observed: LiveServer,
) -> None:
    # given: a request from 127.0.0.1 (trusted by default, as nginx on the same machine)
    request_id = f"fwd-{uuid.uuid4().hex[:12]}"
    start = len(observed.log_text())
    async with http_client(base_url=observed.url, timeout=30) as client:
        await client.get(
            "/healthz", headers={"X-Forwarded-For": "203.0.113.9", "X-Request-ID": request_id}
        )
    # then: the server saw the client address nginx forwarded
    deadline = time.monotonic() + 30
    while True:
        entries = [json.loads(line) for line in observed.log_text()[start:].splitlines() if line]
        access = [e for e in entries if e.get("request_id") == request_id]
        if access:
            break
        assert time.monotonic() < deadline, entries
        await asyncio.sleep(0.2)
    assert access[0]["message"].startswith("203.0.113.9:"), access


@pytest.fixture(scope="module")
@prestartable
async def two_processes(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """A server of its own with two worker processes (serve --workers 2)."""
    async with live_server(
        tmp_path_factory.mktemp("operators-two-processes"),
        workers=2,
        METRICS_ENABLED="true",
        TRAINING_WORKERS="1",
    ) as server:
        yield server


async def test_metrics_add_up_across_worker_processes(two_processes: LiveServer) -> None:
    server = two_processes

    # given: both server processes up (/healthz answered as soon as the first one was)
    async def started() -> set[str] | None:
        pids = set(re.findall(r"Started server process \[(\d+)\]", server.log_text()))
        return pids if len(pids) == 2 else None

    pids = await wait_for(started, timeout=60, what="both server processes to start")
    # and: requests spread over both of them (new connection each)
    requests = 24
    for _ in range(requests):
        async with server.client() as client:
            response = await client.post("/graphql", json={"query": "query Ping { __typename }"})
            assert response.status_code == 200
    # when: several scrapes, answered by either process
    counts = []
    for _ in range(6):
        async with http_client(base_url=server.url, timeout=30) as client:
            text = (await client.get("/metrics")).text
        counts.append(total(text, "training_api_graphql_requests_total", operation="Ping"))
    # then: each scrape counts all of them, whichever process answered
    print(f"\nworker processes {sorted(pids)}; Ping counted per scrape: {counts}")
    assert counts == [requests] * len(counts)

"""Fuzzing a real server process with a DRH token: schemathesis (GraphQL mode, schema from
the server's introspection) and hypothesis-graphql (from schema/schema.graphql).

Every response must be a valid GraphQL response (a JSON object with `data` and/or
`errors`, each error with a code other than INTERNAL_SERVER_ERROR), never a 5xx, and
the server must log no unhandled error meanwhile. Generation is derandomized so a failure
reproduces, and bounded (examples per operation, no shrinking) to fit the time budget.
trainModel is only sent with `wait: false` so that no request waits for a training;
valid inputs queue real (small) trainings, which is part of what is fuzzed.
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import nodes
from hypothesis_graphql import strategies as gql
from schemathesis.core.result import Ok
from schemathesis.generation import GenerationMode

from tests.conftest import REPO
from tests.prestart import prestartable
from tests.processes import LiveServer, start_live_server

SDL = (REPO / "schema" / "schema.graphql").read_text()
ALLOWED_BODY_KEYS = {"data", "errors", "extensions"}
LOG_ALARMS = ("Traceback", "INTERNAL_SERVER_ERROR", "unexpected error")
FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
        HealthCheck.data_too_large,
    ],
)

# Naive dates, and aware ones at any offset, over the whole calendar: years 1 and 9999 with
# an offset are the dates that cannot be moved to UTC.
DATE_TIMES = (
    st.datetimes(
        timezones=st.none()
        | st.integers(min_value=-1439, max_value=1439).map(
            lambda minutes: timezone(timedelta(minutes=minutes))
        ),
    )
    .map(datetime.isoformat)
    .map(nodes.String)
)
# A JSON request cannot carry a file: what it sends for uploadDataset's Upload is a value
# like any other, which the mutation must refuse (INVALID), never fail on.
UPLOADS = st.text(max_size=20).map(nodes.String)
schemathesis.graphql.scalar("Upload", UPLOADS)


@pytest.fixture(scope="module")
@prestartable
async def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    # Warm: valid trainModel inputs queue trainings; the pool's start-up is paid in the
    # background.
    server = await start_live_server(
        tmp_path_factory.mktemp("fuzz"), settings={"TRAINING_WARM_UP": "true"}
    )
    try:
        yield server
    finally:
        await server.kill()


class Tally:
    """What the fuzzer sent and what came back, for the report and the assertions."""

    def __init__(self) -> None:
        self.requests = 0
        self.statuses: Counter[int] = Counter()
        self.codes: Counter[str] = Counter()

    def check(self, status: int, text: str, document: str) -> None:
        """Assert that one response is a valid, coded GraphQL response, not a server error."""
        self.requests += 1
        self.statuses[status] += 1
        context = f"\ndocument:\n{document}\nresponse {status}: {text[:2000]}"
        assert status < 500, context
        body = json.loads(text)
        assert isinstance(body, dict), context
        assert body.keys() & {"data", "errors"}, context
        assert body.keys() <= ALLOWED_BODY_KEYS, context
        for error in body.get("errors") or []:
            assert isinstance(error["message"], str), context
            code = error["extensions"]["code"]
            self.codes[code] += 1
            assert code != "INTERNAL_SERVER_ERROR", context
        assert "Traceback" not in text, context

    def report(self, name: str, seconds: float) -> str:
        return (
            f"\n{name}: {self.requests} requests in {seconds:.1f} s; "
            f"statuses {dict(self.statuses)}; error codes {dict(self.codes.most_common())}"
        )


def assert_log_clean(server: LiveServer, since: int) -> None:
    written = server.log_text()[since:]
    for alarm in LOG_ALARMS:
        assert alarm not in written, f"{alarm!r} in the server log:\n{written[-5000:]}"


def without_waiting(document: str) -> bool:
    return "wait: true" not in document


def fuzz_operation(
    server: LiveServer, operation: Any, mode: GenerationMode, examples: int, tally: Tally
) -> None:
    cases = operation.as_strategy(generation_mode=mode).filter(
        lambda case: without_waiting(str(case.body))
    )

    @settings(FUZZ_SETTINGS, max_examples=examples)
    @given(case=cases)
    def call(case: Any) -> None:
        response = case.call(headers=server.auth, timeout=60)
        tally.check(response.status_code, response.text, str(case.body))
        # schemathesis' own conformance check: a JSON object, and no null where the schema
        # promises a value
        operation.validate_response(response, case=case)

    call()


def test_schemathesis_finds_no_server_error(fuzz_server: LiveServer) -> None:
    # given: the schema as the server introspects it, each operation's cases
    log_start = len(fuzz_server.log_text())
    schema = schemathesis.graphql.from_url(fuzz_server.graphql_url, headers=fuzz_server.auth)
    operations = []
    for result in schema.get_all_operations():
        # One schemathesis could not read (an Err, which has no .ok()) fails with its error.
        assert isinstance(result, Ok), result.err()
        operations.append(result.ok())
    assert {op.label for op in operations} >= {"Query.trainingRuns", "Mutation.trainModel"}
    tally = Tally()
    started = time.monotonic()

    # when / then
    # Per operation: the schema has some 70 root fields now (30 when these budgets were 30
    # and 10), and the whole suite must stay within CI's time. Deeper runs: FUZZ_EXAMPLES
    # (positive cases per operation; a third as many negative ones).
    positive = int(os.environ.get("FUZZ_EXAMPLES", "8"))
    for operation in operations:
        for mode, examples in (
            (GenerationMode.POSITIVE, positive),
            (GenerationMode.NEGATIVE, max(1, positive // 3)),
        ):
            fuzz_operation(fuzz_server, operation, mode, examples, tally)

    print(tally.report("schemathesis", time.monotonic() - started))
    assert tally.requests >= 100
    assert_log_clean(fuzz_server, log_start)


@pytest.mark.parametrize(
    ("kind", "examples"),
    [("query", 100), ("mutation", 40)],
)
def test_hypothesis_graphql_finds_no_server_error(
    fuzz_server: LiveServer, kind: str, examples: int
) -> None:
    # given: documents generated from the SDL in the repository
    log_start = len(fuzz_server.log_text())
    custom_scalars = {"DateTime": DATE_TIMES, "Upload": UPLOADS}
    documents = (
        gql.queries(SDL, custom_scalars=custom_scalars)
        if kind == "query"
        else gql.mutations(SDL, custom_scalars=custom_scalars).filter(without_waiting)
    )
    tally = Tally()
    started = time.monotonic()

    # when / then
    with httpx.Client(base_url=fuzz_server.url, headers=fuzz_server.auth, timeout=60) as client:

        @settings(FUZZ_SETTINGS, max_examples=examples)
        @given(document=documents)
        def call(document: str) -> None:
            response = client.post("/graphql", json={"query": document})
            tally.check(response.status_code, response.text, document)

        call()

    print(tally.report(f"hypothesis-graphql {kind}", time.monotonic() - started))
    assert tally.requests >= examples // 2
    assert_log_clean(fuzz_server, log_start)

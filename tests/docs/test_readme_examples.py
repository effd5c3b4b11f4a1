"""The README's examples work as written, so they cannot drift from the API again: every
GraphQL document in it (```graphql blocks, and the `gql '...'` documents of its shell
examples) is valid against the schema, and the "From a CSV file to predictions" loop, a
shell script, runs from start to end against a real `main.py serve`."""

from __future__ import annotations

import asyncio
import json
import os
import re
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from graphql import build_schema, parse, validate

from tests.conftest import REPO
from tests.prestart import prestartable
from tests.processes import LiveServer, start_live_server

README = (REPO / "README.md").read_text()
README_API = "http://127.0.0.1:8000"


def graphql_examples() -> list[str]:
    blocks = re.findall(r"```graphql\n(.*?)```", README, re.S)
    # gql '<document>' in the shell examples: a JSON string's content, quotes escaped
    shell = [
        doc.replace('\\"', '"')
        for doc in re.findall(r"\bgql '((?:query|mutation|subscription|\{)[^']*)'", README)
    ]
    return blocks + shell


def section(title: str) -> str:
    start = README.index(f"\n## {title}")
    return README[start : README.index("\n## ", start + 1)]


def test_every_graphql_example_is_valid_against_the_schema() -> None:
    schema = build_schema((REPO / "schema" / "schema.graphql").read_text())
    examples = graphql_examples()

    invalid = {
        example: [error.message for error in validate(schema, parse(example))]
        for example in examples
    }

    assert len(examples) >= 15, "examples not found: has the README's format changed?"
    assert {example: errors for example, errors in invalid.items() if errors} == {}


@pytest.fixture(scope="module")
@prestartable
async def readme_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    server = await start_live_server(
        tmp_path_factory.mktemp("readme"), settings={"TRAINING_WARM_UP": "true"}
    )
    try:
        yield server
    finally:
        await server.kill()


def answers(output: str) -> list[dict[str, Any]]:
    """The JSON documents curl printed one after another."""
    decoder = json.JSONDecoder()
    found, at = [], 0
    while at < len(output):
        if output[at].isspace():
            at += 1
            continue
        value, at = decoder.raw_decode(output, at)
        found.append(value)
    return found


def dashboard_runs_query() -> str:
    source = (REPO / "static" / "dashboard" / "views" / "runs.js").read_text()
    start = source.index("const RUNS = `") + len("const RUNS = `")
    return source[start : source.index("`;", start)]


async def test_the_dashboard_page_costs_what_the_readme_says(readme_server: LiveServer) -> None:
    # given: the figures the Query cost section quotes for the dashboard's own runs query
    quoted = re.search(
        r"dashboard's runs page .*? costs ([\d,]+) at its default 15 rows and\s+([\d,]+) at 100",
        section("Errors"),
        re.S,
    )
    assert quoted, "the README no longer quotes the dashboard page's cost"

    # when
    costs = []
    async with readme_server.client() as client:
        for first in (15, 100):
            response = await client.post(
                "/graphql",
                json={
                    "query": dashboard_runs_query(),
                    "variables": {"first": first},
                    "extensions": {"cost": True},
                },
            )
            costs.append(response.json()["extensions"]["cost"]["requested"])

    # then: as quoted, and well inside the default budget
    assert costs == [int(figure.replace(",", "")) for figure in quoted.groups()]
    assert costs[1] < 30_000 / 5


async def test_the_csv_to_predictions_loop_runs_as_written(
    readme_server: LiveServer, tmp_path: Path
) -> None:
    # given: the README's script, aimed at this server, run where a newcomer runs it
    text = section("From a CSV file to predictions")
    script = text[text.index("```sh\n") + 6 : text.index("```", text.index("```sh\n") + 6)]
    script = script.replace(README_API, readme_server.url)
    (tmp_path / ".venv").symlink_to(sys.prefix)  # the virtualenv the tests run in
    (tmp_path / "main.py").symlink_to(REPO / "main.py")

    # when
    process = await asyncio.create_subprocess_exec(
        "bash",
        "-euo",
        "pipefail",
        "-c",
        script,
        cwd=tmp_path,
        env={**os.environ, "TOKEN": readme_server.token},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=180)

    # then: every step answered without an error, and production answered last
    assert process.returncode == 0, err.decode()
    generated, printed = out.decode().split("\n", 1)  # generate-dataset's line, then curl's
    upload, promote, predict = answers(printed)
    [trained] = answers(err.decode())  # step 2's answer, shown by its tee
    assert generated.startswith("GenerationSummary(rows=500")
    assert [a.get("errors") for a in (upload, trained, promote, predict)] == [None] * 4
    assert upload["data"]["uploadDataset"]["errors"] == []
    assert trained["data"]["trainModel"]["trainingRun"]["status"] == "COMPLETED"
    promoted = promote["data"]["setModelAlias"]["modelAlias"]["run"]["modelVersion"]
    assert predict["data"]["predictFutureNeed"]["modelVersion"] == promoted

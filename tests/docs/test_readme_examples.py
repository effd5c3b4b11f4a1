"""The README's and the guides' examples work as written, so they cannot drift from the
API again: every GraphQL document in them (```graphql blocks, and the `gql '...'`
documents of their shell examples) is valid against the schema, every relative link leads
to a file (and heading) that exists, and two paths run from start to end against a real
`main.py serve`: the README's first minute in GraphiQL (train, promote, predict) and the
"From a CSV file to predictions" loop, a shell script."""

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

# The README and the guides it links: docs/guide/*.md, one topic a file.
DOCS = {
    path: path.read_text()
    for path in [REPO / "README.md", *sorted((REPO / "docs" / "guide").glob("*.md"))]
}
README_API = "http://127.0.0.1:8000"


def graphql_examples(text: str) -> list[str]:
    blocks = re.findall(r"```graphql\n(.*?)```", text, re.S)
    # gql '<document>' in the shell examples: a JSON string's content, quotes escaped
    shell = [
        doc.replace('\\"', '"')
        for doc in re.findall(r"\bgql '((?:query|mutation|subscription|\{)[^']*)'", text)
    ]
    return blocks + shell


def all_graphql_examples() -> list[tuple[str, str]]:
    """(file, document) for every example of the README and the guides."""
    return [
        (str(path.relative_to(REPO)), example)
        for path, text in DOCS.items()
        for example in graphql_examples(text)
    ]


def headings(text: str) -> list[tuple[int, int, str]]:
    """(offset, level, title) of each Markdown heading, those inside ``` fences aside
    (a shell comment is not a heading)."""
    found, fenced, at = [], False, 0
    for line in text.splitlines(keepends=True):
        if line.startswith("```"):
            fenced = not fenced
        elif not fenced and (heading := re.match(r"(#+) (.+)", line)):
            found.append((at, len(heading.group(1)), heading.group(2).strip()))
        at += len(line)
    return found


def section(title: str) -> str:
    """The section of that title in the README or a guide, whatever its heading level
    (a guide's title is its `# ` heading), up to the next heading of its level or above."""
    for text in DOCS.values():
        marks = headings(text)
        for index, (start, level, name) in enumerate(marks):
            if name == title:
                ends = [at for at, other, _ in marks[index + 1 :] if other <= level]
                return text[start : ends[0] if ends else len(text)]
    raise AssertionError(f"no section {title!r} in the README or docs/guide/")


def github_anchor(heading: str) -> str:
    """The id GitHub gives a heading: lower case, punctuation dropped, spaces as dashes."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    return {github_anchor(title) for _, _, title in headings(text)}


def test_every_relative_link_leads_to_a_file_and_heading_that_exist() -> None:
    broken = []
    links = 0
    for path, text in DOCS.items():
        for target in re.findall(r"\]\(([^)\s]+)\)", text):
            if re.match(r"[a-z]+:", target):
                continue  # http(s), mailto: not checked here
            links += 1
            file, _, anchor = target.partition("#")
            linked = (path.parent / file).resolve() if file else path
            if not linked.exists():
                broken.append(f"{path.relative_to(REPO)}: {target} (no such file)")
            elif anchor and linked.suffix == ".md" and anchor not in anchors(linked.read_text()):
                broken.append(f"{path.relative_to(REPO)}: {target} (no such heading)")
    assert links > 50, "links not found: has the format changed?"
    assert broken == []


def test_every_graphql_example_is_valid_against_the_schema() -> None:
    schema = build_schema((REPO / "schema" / "schema.graphql").read_text())
    examples = all_graphql_examples()

    invalid = {
        (file, example): [error.message for error in validate(schema, parse(example))]
        for file, example in examples
    }

    assert len(examples) >= 35, "examples not found: has the docs' format changed?"
    assert len(graphql_examples(DOCS[REPO / "README.md"])) >= 5, "the README lost its examples"
    assert {where: errors for where, errors in invalid.items() if errors} == {}


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
    # given: the figures the Query cost section (docs/guide/errors.md) quotes for the
    # dashboard's own runs query
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
    # given: the guide's script (docs/guide/csv-to-predictions.md), aimed at this server,
    # run where a newcomer runs it
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


def first_minute_block(containing: str) -> str:
    examples = graphql_examples(section("Your first minute in GraphiQL"))
    [block] = [example for example in examples if containing in example]
    return block


async def test_the_first_minute_trains_promotes_and_predicts_as_written(
    readme_server: LiveServer,
) -> None:
    # given: the README's first-minute documents, as a newcomer pastes them into GraphiQL

    # when: who am I, train and wait, promote that run (its id in place of the README's
    # "1", which is the first run of a new database), predict, then the bad input
    viewer = await readme_server.data(first_minute_block("viewer"))
    trained = await readme_server.data(first_minute_block('notes: "first try"'))
    run = trained["trainModel"]["trainingRun"]
    promoted = await readme_server.data(
        first_minute_block("setModelAlias").replace('runId: "1"', f'runId: "{run["databaseId"]}"')
    )
    predicted = await readme_server.data(first_minute_block("predictFutureNeed"))
    refused = await readme_server.data(first_minute_block("testSplit: 0.9"))

    # then: each answers as the README says
    assert viewer["viewer"]["canTrain"] is True
    assert trained["trainModel"]["errors"] == []
    assert run["status"] == "COMPLETED"
    assert 0 < run["accuracy"] <= 1
    assert promoted["setModelAlias"]["errors"] == []
    assert promoted["setModelAlias"]["modelAlias"]["run"]["modelVersion"] == run["modelVersion"]
    answer = predicted["predictFutureNeed"]
    assert answer["modelVersion"] == run["modelVersion"]
    [prediction] = answer["predictions"]
    assert prediction["level"] in {"LOW", "MEDIUM", "HIGH"}
    assert sum(p["probability"] for p in prediction["probabilities"]) == pytest.approx(1)
    assert refused["trainModel"]["trainingRun"] is None
    assert [(e["field"], e["code"]) for e in refused["trainModel"]["errors"]] == [
        (["input", "testSplit"], "OUT_OF_RANGE"),
        (["input", "hyperparameters", "nEstimators"], "OUT_OF_RANGE"),
    ]

"""setModelAlias(gate:) (issue 24, section 4): the candidate and the alias's current model
evaluated on the same data (evaluations reused for the same model and bytes); the alias
moves only if the candidate reaches the current model plus minImprovement (a tie passes
at 0), otherwise PROMOTION_GATE_FAILED; either way the payload's gate tells the values;
each assignment keeps the evaluations that justified it."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from models.model_aliases import ModelAlias
from models.trust_jobs import ModelEvaluation
from tests.conftest import Server
from tests.helpers import (
    LONG_TREES,
    cancel_and_wait,
    set_alias,
    train,
    train_completed,
    wait_for,
    wait_for_state,
)
from trainer.ml.generator import generate_dataset

EVALUATION = "databaseId modelVersion status metrics { accuracy f1Score }"
PROMOTE = f"""
mutation Promote($alias: String!, $runId: ID!, $gate: PromotionGateInput) {{
  setModelAlias(alias: $alias, runId: $runId, gate: $gate) {{
    modelAlias {{
      alias run {{ databaseId }}
      evaluations {{ {EVALUATION} }}
      history {{ run {{ databaseId }} evaluations {{ databaseId }} }}
    }}
    gate {{
      metric candidateValue currentValue passed
      candidateEvaluation {{ {EVALUATION} }}
      currentEvaluation {{ {EVALUATION} }}
    }}
    errors {{ field code message }}
  }}
}}
"""


def new_holdout(server: Server, seed: int) -> str:
    """A labelled file of its own; evaluations are reused by bytes, so one seed, one file."""
    name = f"holdout-{uuid.uuid4().hex[:8]}.csv"
    generate_dataset(1500, seed, server.settings.artifacts.datasets / name)
    return name


@pytest.fixture(scope="module")
async def holdout(server: Server) -> str:
    return new_holdout(server, 21)


@pytest.fixture(scope="module")
async def weak(server: Server) -> dict[str, Any]:
    return await train_completed(
        server.data, trees=1, hyperparameters={"nEstimators": 1, "maxDepth": 1}
    )


@pytest.fixture(scope="module")
async def strong(server: Server) -> dict[str, Any]:
    return await train_completed(server.data, trees=30)


async def promote(
    server: Server, alias: str, run: dict[str, Any], gate: dict[str, Any] | None
) -> dict[str, Any]:
    body = await server.data(PROMOTE, {"alias": alias, "runId": run["id"], "gate": gate})
    payload: dict[str, Any] = body["setModelAlias"]
    return payload


def fresh_alias() -> str:
    return f"gate-{uuid.uuid4().hex[:8]}"


async def target_of(alias: str) -> int | None:
    row = await ModelAlias.get_or_none(alias=alias)
    return row.run_id if row else None


async def test_a_worse_candidate_is_refused_and_the_alias_stays(
    server: Server, holdout: str, weak: dict[str, Any], strong: dict[str, Any]
) -> None:
    # given: the alias on the strong model
    alias = fresh_alias()
    await set_alias(server, alias, strong["databaseId"])

    # when: the weak one asks to replace it
    payload = await promote(server, alias, weak, {"datasetPath": holdout, "metric": "ACCURACY"})

    # then
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        (["gate"], "PROMOTION_GATE_FAILED")
    ]
    assert payload["modelAlias"] is None
    gate = payload["gate"]
    assert gate["passed"] is False
    assert gate["metric"] == "ACCURACY"
    assert gate["candidateValue"] < gate["currentValue"]
    assert gate["candidateEvaluation"]["modelVersion"] == weak["modelVersion"]
    assert gate["currentEvaluation"]["modelVersion"] == strong["modelVersion"]
    assert gate["candidateValue"] == gate["candidateEvaluation"]["metrics"]["accuracy"]
    assert await target_of(alias) == strong["databaseId"]


async def test_a_better_candidate_moves_the_alias_and_keeps_its_evaluations(
    server: Server, holdout: str, weak: dict[str, Any], strong: dict[str, Any]
) -> None:
    # given
    alias = fresh_alias()
    await set_alias(server, alias, weak["databaseId"])

    # when
    payload = await promote(server, alias, strong, {"datasetPath": holdout, "metric": "F1_SCORE"})

    # then
    assert payload["errors"] == []
    gate = payload["gate"]
    assert gate["passed"] is True
    assert gate["candidateValue"] > gate["currentValue"]
    moved = payload["modelAlias"]
    assert moved["run"]["databaseId"] == strong["databaseId"]
    assert [e["modelVersion"] for e in moved["evaluations"]] == [
        strong["modelVersion"],
        weak["modelVersion"],
    ]
    # and: the earlier assignment (set without a gate) kept none
    assert moved["history"] == [{"run": {"databaseId": weak["databaseId"]}, "evaluations": []}]
    assert await target_of(alias) == strong["databaseId"]


async def test_a_tie_passes_at_zero_and_fails_with_a_required_improvement(
    server: Server, holdout: str, strong: dict[str, Any]
) -> None:
    # given: the alias on the very run that asks again (the same evaluation twice)
    alias = fresh_alias()
    await set_alias(server, alias, strong["databaseId"])

    # when
    tie = await promote(server, alias, strong, {"datasetPath": holdout, "metric": "ACCURACY"})
    more = await promote(
        server,
        alias,
        strong,
        {"datasetPath": holdout, "metric": "ACCURACY", "minImprovement": 0.01},
    )

    # then
    assert tie["errors"] == []
    assert tie["gate"]["passed"] is True
    assert tie["gate"]["candidateValue"] == tie["gate"]["currentValue"]
    assert [e["code"] for e in more["errors"]] == ["PROMOTION_GATE_FAILED"]
    assert more["gate"]["passed"] is False


async def test_an_alias_with_no_current_model_passes(
    server: Server, holdout: str, weak: dict[str, Any]
) -> None:
    alias = fresh_alias()

    payload = await promote(server, alias, weak, {"datasetPath": holdout, "metric": "RECALL"})

    assert payload["errors"] == []
    assert payload["gate"]["passed"] is True
    assert payload["gate"]["currentValue"] is None
    assert payload["gate"]["currentEvaluation"] is None
    assert [e["modelVersion"] for e in payload["modelAlias"]["evaluations"]] == [
        weak["modelVersion"]
    ]


async def test_evaluations_of_the_same_model_and_bytes_are_reused(
    server: Server, holdout: str, weak: dict[str, Any], strong: dict[str, Any]
) -> None:
    # given: one gate already judged both models on the holdout
    alias = fresh_alias()
    await set_alias(server, alias, strong["databaseId"])
    first = await promote(server, alias, weak, {"datasetPath": holdout, "metric": "ACCURACY"})

    # when: the same question again
    second = await promote(server, alias, weak, {"datasetPath": holdout, "metric": "ACCURACY"})

    # then: no new evaluation was made
    for side in ("candidateEvaluation", "currentEvaluation"):
        assert second["gate"][side]["databaseId"] == first["gate"][side]["databaseId"]


async def test_an_alias_moved_while_the_gate_evaluates_is_judged_again_against_its_new_model(
    server: Server, weak: dict[str, Any], strong: dict[str, Any]
) -> None:
    # given: the alias on the weak model, a holdout no model was evaluated on, a third
    # model, and both pool workers busy, so the gate's evaluations wait in the queue
    alias = fresh_alias()
    await set_alias(server, alias, weak["databaseId"])
    holdout = new_holdout(server, 22)
    other = await train_completed(server.data, trees=3)
    blockers = [await train(server.data, LONG_TREES) for _ in range(2)]
    gate = {"datasetPath": holdout, "metric": "ACCURACY"}
    try:
        for run in blockers:
            await wait_for_state(
                server.data, run, lambda s: s["status"] == "RUNNING", timeout=60, what="started"
            )
        gated = asyncio.create_task(promote(server, alias, strong, gate))

        async def candidate_queued() -> bool | None:
            queued = ModelEvaluation.filter(run_id=strong["databaseId"], dataset_path=holdout)
            return await queued.exists() or None

        # the gate has read where the alias points and queued the candidate's evaluation
        await wait_for(candidate_queued, timeout=30, what="the candidate's evaluation queued")

        # when: someone moves the alias meanwhile, without a gate
        await set_alias(server, alias, other["databaseId"])
    finally:
        await cancel_and_wait(server, blockers)
    payload = await asyncio.wait_for(gated, timeout=120)

    # then: the candidate was judged against the model the alias serves now, not the one
    # it served when the gate began
    judged = payload["gate"]
    assert judged["currentEvaluation"]["modelVersion"] == other["modelVersion"]
    winner = strong if judged["passed"] else other
    assert await target_of(alias) == winner["databaseId"]


@pytest.mark.parametrize(
    ("gate", "field", "code"),
    [
        ({"datasetPath": "../x.csv"}, ["gate", "datasetPath"], "PATH_NOT_ALLOWED"),
        ({"datasetPath": "absent.csv"}, ["gate", "datasetPath"], "NOT_FOUND"),
    ],
)
async def test_a_refused_gate_moves_nothing(
    server: Server,
    weak: dict[str, Any],
    gate: dict[str, Any],
    field: list[str],
    code: str,
) -> None:
    alias = fresh_alias()

    payload = await promote(server, alias, weak, gate)

    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, code)]
    assert payload["gate"] is None
    assert await target_of(alias) is None

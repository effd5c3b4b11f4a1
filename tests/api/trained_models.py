"""Small real models trained through the API, and rows to ask them about, for the
alias and prediction tests."""

from __future__ import annotations

import csv
import uuid
from typing import Any

from tests.conftest import SHIPPED_DATASET, Server
from tests.helpers import TRAIN, train_variables
from trainer.ml.dataset import NUMERIC_COLUMNS

SET_ALIAS = """
mutation Set($alias: String!, $runId: ID!) {
  setModelAlias(alias: $alias, runId: $runId) {
    modelAlias { alias setAt setByUsername run { databaseId modelVersion } }
    errors { field code message }
  }
}
"""


def camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() if part != "k" else "K" for part in rest)


async def train_completed(server: Server, trees: int = 5, **fields: Any) -> dict[str, Any]:
    """A COMPLETED run (trained and waited for): id, databaseId, modelVersion, modelPath."""
    fields.setdefault("modelVersion", f"pred-{uuid.uuid4().hex[:10]}")
    body = await server.data(TRAIN, train_variables(trees=trees, wait=True, **fields))
    run = body["trainModel"]["trainingRun"]
    assert run["status"] == "COMPLETED", run
    return run  # type: ignore[no-any-return]


async def set_alias(server: Server, alias: str, run_id: object, as_: str = "drh") -> Any:
    body = await server.data(SET_ALIAS, {"alias": alias, "runId": str(run_id)}, as_=as_)
    return body["setModelAlias"]


def dataset_rows(count: int, start: int = 0) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """`count` rows of the shipped dataset: as the CSV holds them (snake_case strings), and
    as PredictionRowInput values (camelCase, numbers as numbers)."""
    with SHIPPED_DATASET.open(newline="") as handle:
        raw = list(csv.DictReader(handle))[start : start + count]
    inputs = []
    for row in raw:
        inputs.append(
            {
                camel(column): float(value) if column in NUMERIC_COLUMNS else value
                for column, value in row.items()
                if column != "future_need_level"
            }
        )
    return raw, inputs

"""The prediction benchmark (issue 10): predictFutureNeed against bare predict_proba.

    .venv/bin/python -m bench.predictions [--repeats R] [--trees N]

A fresh SQLite database and artifacts folder; the API started as production runs it
(`main.py serve`, one uvicorn worker); a model trained through the API on the shipped
dataset (N trees, the API's other defaults) and promoted to "production". Then, each a
median of R requests after warm-up, alternating with the bare call so a busy moment of
the machine hits both alike:

- 1 row and 1,000 rows through the API (HTTP, auth, alias lookup, GraphQL included);
- `predict_proba` on the same rows, in this process, on the same model file loaded once
  with joblib (the DataFrame built beforehand): the bare cost of the prediction itself.
  Targets: 1-row p50 within 3x of bare, 1,000-row p50 within 1.3x;
- the first 1-row request after a restart of the server (the model loaded and checked,
  the prediction stack imported), against the next one.

Writes bench/results/predictions.md and .json (--name to choose another name).
"""

from __future__ import annotations

import argparse
import csv
import shutil
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import joblib

from bench import data
from bench.report import RESULTS, write_results
from bench.server import free_port, project_server
from trainer.ml.dataset import FEATURE_COLUMNS, NUMERIC_COLUMNS
from trainer.ml.predictor import features_frame

SHIPPED = data.REPO / "artifacts" / "datasets" / "future_skills_dataset.csv"
TRAIN = """
mutation Train($trees: Int!) {
  trainModel(input: { hyperparameters: { nEstimators: $trees }, wait: true }) {
    trainingRun { databaseId status modelVersion modelPath featuresUsed }
    errors { code message }
  }
}"""
PROMOTE = """
mutation Promote($runId: ID!) {
  setModelAlias(alias: "production", runId: $runId) { errors { code message } }
}"""
PREDICT = """
query Predict($rows: [PredictionRowInput!]!) {
  predictFutureNeed(rows: $rows) {
    modelVersion
    predictions { level probabilities { label probability } }
  }
}"""


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def seconds(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def graphql(client: httpx.Client, url: str, token: str, query: str, variables: Any) -> Any:
    response = client.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Token {token}"},
    )
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise RuntimeError(f"request failed: {response.status_code} {str(body)[:500]}")
    return body["data"]


def compare(
    api: Callable[[], Any], bare: Callable[[], Any], repeats: int
) -> tuple[list[float], list[float]]:
    for _ in range(3):  # warm-up
        api()
        bare()
    api_times, bare_times = [], []
    for _ in range(repeats):
        api_times.append(seconds(api))
        bare_times.append(seconds(bare))
    return api_times, bare_times


def figures(api_times: list[float], bare_times: list[float], target: float) -> dict[str, Any]:
    api_p50 = statistics.median(api_times)
    bare_p50 = statistics.median(bare_times)
    return {
        "api_p50_ms": round(api_p50 * 1000, 2),
        "bare_p50_ms": round(bare_p50 * 1000, 2),
        "api_p90_ms": round(statistics.quantiles(api_times, n=10)[-1] * 1000, 2),
        "bare_p90_ms": round(statistics.quantiles(bare_times, n=10)[-1] * 1000, 2),
        "ratio": round(api_p50 / bare_p50, 2),
        "target": target,
        "met": api_p50 / bare_p50 <= target,
        "repeats": len(api_times),
    }


def run(repeats: int, trees: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="fst-bench-predictions-"))
    try:
        artifacts = workdir / "artifacts"
        (artifacts / "datasets").mkdir(parents=True)
        shutil.copy(SHIPPED, artifacts / "datasets" / SHIPPED.name)
        env = data.project_env(f"sqlite://{workdir / 'bench.sqlite3'}", artifacts)
        data.run_cli(["migrate"], env)
        data.run_cli(["createuser", "bench-drh", "--group", "DRH"], env)
        token = data.run_cli(["token", "create", "bench-drh", "--name", "bench"], env).strip()
        raw_rows = dataset_rows(1000)
        inputs = [{_camel(column): value for column, value in row.items()} for row in raw_rows]
        result: dict[str, Any] = {"trees": trees}
        port = free_port()
        api = project_server(env, port, workdir)
        with httpx.Client(timeout=300) as client:
            with api:
                api.start()
                log(f"training a {trees}-tree model through the API")
                run = graphql(client, api.url, token, TRAIN, {"trees": trees})["trainModel"]
                trained = run["trainingRun"]
                if trained is None or trained["status"] != "COMPLETED":
                    raise RuntimeError(f"training failed: {run}")
                graphql(client, api.url, token, PROMOTE, {"runId": trained["databaseId"]})
                model = joblib.load(artifacts / trained["modelPath"])  # our own file
                features = trained["featuresUsed"]
                result["model_version"] = trained["modelVersion"]
                for count, target in ((1, 3.0), (1000, 1.3)):
                    frame = features_frame(raw_rows[:count], features)
                    variables = {"rows": inputs[:count]}

                    def through_api(variables: Any = variables) -> Any:
                        return graphql(client, api.url, token, PREDICT, variables)

                    def bare(frame: Any = frame) -> Any:
                        return model.predict_proba(frame)

                    n = repeats if count == 1 else max(10, repeats // 5)
                    log(f"{count} row(s): {n} requests through the API and bare")
                    api_times, bare_times = compare(through_api, bare, n)
                    result[f"rows_{count}"] = figures(api_times, bare_times, target)
                    log(f"  {result[f'rows_{count}']}")
            log("restarting the server for the cold first request")
            with project_server(env, port, workdir) as restarted:
                restarted.start()
                one = {"rows": inputs[:1]}
                cold = seconds(lambda: graphql(client, restarted.url, token, PREDICT, one))
                warm = statistics.median(
                    seconds(lambda: graphql(client, restarted.url, token, PREDICT, one))
                    for _ in range(20)
                )
                result["cold_first_request_ms"] = round(cold * 1000, 1)
                result["warm_after_restart_p50_ms"] = round(warm * 1000, 2)
                log(f"  cold first request {cold * 1000:.0f} ms, then {warm * 1000:.1f} ms")
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def dataset_rows(count: int) -> list[dict[str, Any]]:
    """The shipped dataset's first rows, features only, numbers as numbers."""
    with SHIPPED.open(newline="") as handle:
        rows = list(csv.DictReader(handle))[:count]
    return [
        {c: float(row[c]) if c in NUMERIC_COLUMNS else row[c] for c in FEATURE_COLUMNS}
        for row in rows
    ]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() if part != "k" else "K" for part in rest)


def write(result: dict[str, Any], name: str) -> None:
    lines = [
        "# predictFutureNeed vs bare predict_proba",
        "",
        f"Model: {result['trees']} trees trained on the shipped dataset (2,000 rows); "
        "one uvicorn worker, SQLite; `python -m bench.predictions`.",
        "",
        "| rows | API p50 | bare p50 | API p90 | bare p90 | ratio | target | met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for count in (1, 1000):
        f = result[f"rows_{count}"]
        lines.append(
            f"| {count:,} | {f['api_p50_ms']} ms | {f['bare_p50_ms']} ms | {f['api_p90_ms']} ms "
            f"| {f['bare_p90_ms']} ms | {f['ratio']}x | <= {f['target']}x "
            f"| {'yes' if f['met'] else 'no'} |"
        )
    lines += [
        "",
        f"First 1-row request after a restart (model checked and loaded, prediction stack "
        f"imported): {result['cold_first_request_ms']} ms; the next ones: "
        f"{result['warm_after_restart_p50_ms']} ms (p50).",
        "",
    ]
    write_results(name, lines, result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.predictions", description=__doc__)
    parser.add_argument("--repeats", type=int, default=200, help="1-row requests timed")
    parser.add_argument("--trees", type=int, default=100, help="trees of the model")
    parser.add_argument("--name", default="predictions", help="bench/results/NAME.md, .json")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args.repeats, args.trees)
    write(result, args.name)
    print((RESULTS / f"{args.name}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The prediction benchmark (issues 10 and 24): predictFutureNeed against bare
predict_proba, and its reasons against bare shap.

    .venv/bin/python -m bench.predictions [--repeats R] [--trees N] [--explain-repeats E]

A fresh SQLite database and artifacts folder; the API started as production runs it
(`main.py serve`, one uvicorn worker); a model trained through the API on the shipped
dataset (N trees, the API's other defaults) and promoted to "production". Then, each a
median of R requests after warm-up, alternating with the bare call so a busy moment of
the machine hits both alike:

- 1 row and 1,000 rows through the API (HTTP, auth, alias lookup, GraphQL included);
- the same 1,000 rows asking for the compact, column-wise answer (`columns { labels
  levels probabilities }`), which spares graphql-core ~10,000 fields to complete;
- `predict_proba` on the same rows, in this process, on the same model file loaded once
  with joblib (the DataFrame built beforehand): the bare cost of the prediction itself.
  Likewise each request's JSON body is encoded beforehand (the client then sends bytes
  and decodes the answer). Targets: 1-row p50 within 3x of bare, 1,000-row p50 within 2x (issue 24);
- explaining 100 rows (10 reasons each) with trainer.ml.explanations.explain_rows on that
  model, against bare shap on the same pipeline: TreeExplainer(classifier).shap_values on
  the preprocessed matrix (explainer built and matrix made beforehand). Target: within
  1.5x. And the same 100 rows through the API with explain: 10, for the record;
- the first 1-row request after a restart of the server (the model loaded and checked,
  the prediction stack imported), against the next one.

Writes bench/results/predictions.md and .json (--name to choose another name).
"""

from __future__ import annotations

import argparse
import csv
import os
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
import orjson

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
PREDICT_COLUMNS = """
query PredictColumns($rows: [PredictionRowInput!]!) {
  predictFutureNeed(rows: $rows) {
    modelVersion
    columns { labels levels probabilities }
  }
}"""
EXPLAIN = """
query Explain($rows: [PredictionRowInput!]!) {
  predictFutureNeed(rows: $rows, explain: 10) {
    modelVersion
    reasonUnits
    predictions {
      level probabilities { label probability } imputed reasons { feature value contribution }
    }
  }
}"""
EXPLAINED_ROWS = 100


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


def graphql_body(client: httpx.Client, url: str, token: str, body: bytes) -> Any:
    """graphql() with the JSON body encoded beforehand, as the bare side's DataFrame is
    built beforehand: the client's own encoding of 1,000 rows is not the server's work."""
    response = client.post(
        f"{url}/graphql",
        content=body,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    answer = response.json()
    if response.status_code != 200 or "errors" in answer:
        raise RuntimeError(f"request failed: {response.status_code} {str(answer)[:500]}")
    return answer["data"]


def process_cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) a process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Cpu:
    """CPU seconds spent by the server process in the API calls and by this process in
    the bare calls, summed: on a shared machine with more runnable threads than cores,
    wall times also measure the waits for a core, and the interpreter-heavy API side
    waits more often than numpy's; CPU time measures the work alone."""

    def __init__(self, server_pid: int | None) -> None:
        self.server_pid = server_pid
        self.api = 0.0
        self.bare = 0.0


def compare(
    api: Callable[[], Any],
    bare: Callable[[], Any],
    repeats: int,
    warmup: int = 3,
    cpu: Cpu | None = None,
) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        api()
        bare()
    api_times, bare_times = [], []
    for _ in range(repeats):
        before = process_cpu_seconds(cpu.server_pid) if cpu and cpu.server_pid else 0.0
        api_times.append(seconds(api))
        if cpu and cpu.server_pid:
            cpu.api += process_cpu_seconds(cpu.server_pid) - before
        before = time.process_time()
        bare_times.append(seconds(bare))
        if cpu:
            cpu.bare += time.process_time() - before
    return api_times, bare_times


def figures(
    api_times: list[float], bare_times: list[float], target: float, cpu: Cpu | None = None
) -> dict[str, Any]:
    api_p50 = statistics.median(api_times)
    bare_p50 = statistics.median(bare_times)
    found: dict[str, Any] = {}
    if cpu is not None and cpu.bare > 0:
        found = {
            "api_cpu_ms": round(cpu.api / len(api_times) * 1000, 2),
            "bare_cpu_ms": round(cpu.bare / len(bare_times) * 1000, 2),
            "cpu_ratio": round(cpu.api / cpu.bare, 2),
            "cpu_met": cpu.api / cpu.bare <= target,
        }
    return found | {
        "api_p50_ms": round(api_p50 * 1000, 2),
        "bare_p50_ms": round(bare_p50 * 1000, 2),
        "api_p90_ms": round(_p90(api_times) * 1000, 2),
        "bare_p90_ms": round(_p90(bare_times) * 1000, 2),
        "ratio": round(api_p50 / bare_p50, 2),
        "target": target,
        "met": api_p50 / bare_p50 <= target,
        "repeats": len(api_times),
    }


def _p90(times: list[float]) -> float:
    """The 90th percentile (the only time, when there is one)."""
    return statistics.quantiles(times, n=10)[-1] if len(times) > 1 else times[0]


def run(repeats: int, trees: int, explain_repeats: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="fst-bench-predictions-"))
    try:
        artifacts = workdir / "artifacts"
        (artifacts / "datasets").mkdir(parents=True)
        shutil.copy(SHIPPED, artifacts / "datasets" / SHIPPED.name)
        # The budget of rows per second off: it would otherwise pace the 1,000-row requests.
        env = data.project_env(
            f"sqlite://{workdir / 'bench.sqlite3'}", artifacts, PREDICTION_ROWS_PER_SECOND="1e9"
        )
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
                for key, count, query, target in (
                    ("rows_1", 1, PREDICT, 3.0),
                    ("rows_1000", 1000, PREDICT, 2.0),
                    ("rows_1000_columns", 1000, PREDICT_COLUMNS, 2.0),
                ):
                    frame = features_frame(raw_rows[:count], features)
                    body = orjson.dumps({"query": query, "variables": {"rows": inputs[:count]}})

                    def through_api(body: bytes = body) -> Any:
                        return graphql_body(client, api.url, token, body)

                    def bare(frame: Any = frame) -> Any:
                        return model.predict_proba(frame)

                    n = repeats if count == 1 else max(10, repeats // 5)
                    log(f"{key}: {n} requests through the API and bare")
                    cpu = Cpu(api.pid)
                    api_times, bare_times = compare(through_api, bare, n, cpu=cpu)
                    result[key] = figures(api_times, bare_times, target, cpu)
                    log(f"  {result[key]}")
                result.update(
                    explanations(
                        model, features, raw_rows, inputs, explain_repeats, client, api.url, token
                    )
                )
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


def explanations(
    model: Any,
    features: list[str],
    raw_rows: list[dict[str, Any]],
    inputs: list[dict[str, Any]],
    repeats: int,
    client: httpx.Client,
    url: str,
    token: str,
) -> dict[str, Any]:
    """explain_rows on 100 rows against bare shap on the same pipeline, then the API."""
    import shap

    from trainer.ml.explanations import explain_rows

    frame = features_frame(raw_rows[:EXPLAINED_ROWS], features)
    matrix = model[:-1].transform(frame)
    matrix = matrix.toarray() if hasattr(matrix, "toarray") else matrix
    explainer = shap.TreeExplainer(model[-1])

    def ours() -> Any:
        return explain_rows(model, frame, 10)

    def bare() -> Any:
        return explainer.shap_values(matrix)

    log(f"explaining {EXPLAINED_ROWS} rows: {repeats} times with explain_rows and bare shap")
    cpu = Cpu(os.getpid())  # both sides in this process, each measured around its calls
    ours_times, bare_times = compare(ours, bare, repeats, warmup=1, cpu=cpu)
    found: dict[str, Any] = {"explain_100": figures(ours_times, bare_times, 1.5, cpu)}
    log(f"  {found['explain_100']}")
    variables = {"rows": inputs[:EXPLAINED_ROWS]}
    api_times, bare_api_times = compare(
        lambda: graphql(client, url, token, EXPLAIN, variables), bare, repeats, warmup=1
    )
    found["explain_100_api"] = figures(api_times, bare_api_times, 0)
    log(f"  through the API: {found['explain_100_api']}")
    return found


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
        "| request | API p50 | bare p50 | API p90 | bare p90 | ratio | target | met "
        "| API CPU | bare CPU | CPU ratio | met (CPU) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    shapes = {
        "rows_1": "1 row",
        "rows_1000": "1,000 rows, `predictions { level probabilities { label probability } }`",
        "rows_1000_columns": "1,000 rows, `columns { labels levels probabilities }`",
    }
    for key, label in shapes.items():
        f = result[key]
        lines.append(
            f"| {label} | {f['api_p50_ms']} ms | {f['bare_p50_ms']} ms | {f['api_p90_ms']} ms "
            f"| {f['bare_p90_ms']} ms | {f['ratio']}x | <= {f['target']}x "
            f"| {'yes' if f['met'] else 'no'} | {f.get('api_cpu_ms')} ms "
            f"| {f.get('bare_cpu_ms')} ms | {f.get('cpu_ratio')}x "
            f"| {'yes' if f.get('cpu_met') else 'no'} |"
        )
    e, a = result["explain_100"], result["explain_100_api"]
    lines += [
        "",
        f"Explaining {EXPLAINED_ROWS} rows (10 reasons each), bare = shap's "
        "TreeExplainer.shap_values on the preprocessed matrix (explainer built beforehand):",
        "",
        "| what | p50 | bare shap p50 | ratio | target | met | CPU | bare CPU | CPU ratio |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| explain_rows (trainer.ml.explanations) | {e['api_p50_ms']} ms | {e['bare_p50_ms']} ms "
        f"| {e['ratio']}x | <= {e['target']}x | {'yes' if e['met'] else 'no'} "
        f"| {e.get('api_cpu_ms')} ms | {e.get('bare_cpu_ms')} ms | {e.get('cpu_ratio')}x |",
        f"| predictFutureNeed(explain: 10) through the API | {a['api_p50_ms']} ms "
        f"| {a['bare_p50_ms']} ms | {a['ratio']}x | | | | | |",
        "",
        "CPU: the server process's CPU time (/proc) per API request, this process's per bare "
        "call; on a machine shared beyond its cores, wall times also count waits for a core.",
    ]
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
    parser.add_argument("--explain-repeats", type=int, default=7, help="100-row explanations timed")
    parser.add_argument("--name", default="predictions", help="bench/results/NAME.md, .json")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    result = run(args.repeats, args.trees, args.explain_repeats)
    write(result, args.name)
    print((RESULTS / f"{args.name}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

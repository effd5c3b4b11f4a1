"""Another user's latency while six clients hammer predictFutureNeed (third hardening
pass, item 13), with the per-user budget of rows off and on, in the same run.

    .venv/bin/python -m bench.prediction_fairness [--seconds S] [--rows R] [--trees N]

A fresh SQLite database and artifacts folder; a model of N trees trained through the API
on the shipped dataset and promoted to "production". Then three phases of S seconds, each
on a freshly started server (`main.py serve`, one uvicorn worker, as in production):

- idle: only the other user, for reference;
- budget off (PREDICTION_ROWS_PER_SECOND=1e9): six clients of one MANAGER account post
  R-row predictions back to back;
- budget on (the defaults: 2,000 rows per second, bursts of 1,000): the same six clients,
  which wait the `retryAfter` they are told when refused (as a well-behaved client does).

Throughout, another MANAGER account reads the first page of runs (`trainingRuns(first:
20)`) in a loop, one request at a time; its p50 / p99 / max latency is the figure. Writes
bench/results/prediction-fairness.md and .json (--name to choose another name).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from bench import data
from bench.predictions import PROMOTE, TRAIN, _camel, dataset_rows, graphql, log
from bench.report import RESULTS, write_results
from bench.server import free_port, project_server

SHIPPED = data.REPO / "artifacts" / "datasets" / "future_skills_dataset.csv"
HAMMERS = 6
PREDICT = """
query Predict($rows: [PredictionRowInput!]!) {
  predictFutureNeed(rows: $rows) { modelVersion predictions { level } }
}"""
PAGE = "{ trainingRuns(first: 20) { nodes { databaseId status accuracy modelVersion } } }"
PHASES = {
    "idle": None,
    "budget off": {"PREDICTION_ROWS_PER_SECOND": "1e9"},
    "budget on (defaults)": {},
}


class Hammer(threading.Thread):
    """One prediction client: R rows per request, as fast as the server answers."""

    def __init__(self, url: str, token: str, rows: list[dict[str, Any]], stop: threading.Event):
        super().__init__(daemon=True)
        self.url, self.token, self.rows, self.stop = url, token, rows, stop
        self.predicted = 0
        self.refused = 0

    def run(self) -> None:
        body = {"query": PREDICT, "variables": {"rows": self.rows}}
        headers = {"Authorization": f"Token {self.token}"}
        with httpx.Client(timeout=60) as client:
            while not self.stop.is_set():
                answer = client.post(f"{self.url}/graphql", json=body, headers=headers).json()
                errors = answer.get("errors")
                if not errors:
                    self.predicted += len(self.rows)
                elif errors[0]["extensions"]["code"] == "RATE_LIMITED":
                    self.refused += 1
                    self.stop.wait(errors[0]["extensions"]["retryAfter"])
                else:
                    raise RuntimeError(f"prediction failed: {str(answer)[:300]}")


def other_user(url: str, token: str, seconds: float) -> list[float]:
    latencies = []
    with httpx.Client(timeout=60) as client:
        for _ in range(5):  # warm-up
            graphql(client, url, token, PAGE, {})
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            started = time.perf_counter()
            graphql(client, url, token, PAGE, {})
            latencies.append(time.perf_counter() - started)
    return latencies


def phase(
    env: dict[str, str],
    workdir: Path,
    tokens: dict[str, str],
    settings: dict[str, str] | None,
    seconds: float,
    rows: list[dict[str, Any]],
) -> dict[str, Any]:
    port = free_port()
    with project_server({**env, **(settings or {})}, port, workdir) as api:
        api.start()
        with httpx.Client(timeout=60) as client:  # the model loaded before timing
            graphql(client, api.url, tokens["manager"], PREDICT, {"rows": rows})
        stop = threading.Event()
        hammers = [Hammer(api.url, tokens["manager"], rows, stop) for _ in range(HAMMERS)]
        hammers = hammers if settings is not None else []
        started = time.perf_counter()
        for hammer in hammers:
            hammer.start()
        time.sleep(1.0 if hammers else 0)  # hammering under way
        load = os.getloadavg()[0]
        latencies = other_user(api.url, tokens["other"], seconds)
        stop.set()
        hammered = time.perf_counter() - started
        for hammer in hammers:
            hammer.join()
    percentiles = statistics.quantiles(latencies, n=100)
    return {
        "requests": len(latencies),
        "p50_ms": round(percentiles[49] * 1000, 1),
        "p99_ms": round(percentiles[98] * 1000, 1),
        "max_ms": round(max(latencies) * 1000, 1),
        "rows_per_second": round(sum(h.predicted for h in hammers) / hammered),
        "refusals": sum(h.refused for h in hammers),
        "load_1min": round(load, 2),
    }


def run(seconds: float, row_count: int, trees: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="fst-bench-fairness-"))
    try:
        artifacts = workdir / "artifacts"
        (artifacts / "datasets").mkdir(parents=True)
        shutil.copy(SHIPPED, artifacts / "datasets" / SHIPPED.name)
        env = data.project_env(f"sqlite://{workdir / 'bench.sqlite3'}", artifacts)
        data.run_cli(["migrate"], env)
        tokens = {}
        for role, group in (("drh", "DRH"), ("manager", "MANAGER"), ("other", "MANAGER")):
            data.run_cli(["createuser", f"bench-{role}", "--group", group], env)
            tokens[role] = data.run_cli(
                ["token", "create", f"bench-{role}", "--name", "bench"], env
            ).strip()
        rows = [
            {_camel(column): value for column, value in row.items()}
            for row in dataset_rows(row_count)
        ]
        with project_server(env, free_port(), workdir) as api, httpx.Client(timeout=600) as c:
            api.start()
            log(f"training a {trees}-tree model through the API")
            trained = graphql(c, api.url, tokens["drh"], TRAIN, {"trees": trees})["trainModel"]
            run_id = trained["trainingRun"]["databaseId"]
            graphql(c, api.url, tokens["drh"], PROMOTE, {"runId": run_id})
        result: dict[str, Any] = {
            "trees": trees,
            "rows_per_request": row_count,
            "seconds": seconds,
            "clients": HAMMERS,
            "cpus": os.cpu_count(),
        }
        for name, settings in PHASES.items():
            log(f"phase: {name}")
            result[name] = phase(env, workdir, tokens, settings, seconds, rows)
            log(f"  {result[name]}")
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def write(result: dict[str, Any], name: str) -> None:
    lines = [
        "# Another user's query while six clients hammer predictFutureNeed",
        "",
        f"`python -m bench.prediction_fairness`: {result['clients']} clients of one MANAGER "
        f"account post {result['rows_per_request']}-row predictions ({result['trees']}-tree "
        f"model, shipped dataset) back to back; another MANAGER reads `trainingRuns(first: "
        f"20)` in a loop for {result['seconds']:g} s. One uvicorn worker, SQLite, "
        f"{result['cpus']} CPUs (shared with other work: see the load average).",
        "",
        "| phase | other user p50 | p99 | max | requests | rows predicted/s | refusals "
        "| load (1 min) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for phase_name in PHASES:
        f = result[phase_name]
        lines.append(
            f"| {phase_name} | {f['p50_ms']} ms | {f['p99_ms']} ms | {f['max_ms']} ms "
            f"| {f['requests']} | {f['rows_per_second']:,.0f} | {f['refusals']} "
            f"| {f['load_1min']} |"
        )
    lines += [
        "",
        "Budget on: PREDICTION_ROWS_PER_SECOND=2000 and PREDICTION_ROWS_BURST=1000 per user "
        "and server process; refused clients wait the retryAfter they are given. The budget "
        "is per account: N accounts get N times it (see SECURITY.md).",
        "",
    ]
    write_results(name, lines, result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.prediction_fairness", description=__doc__
    )
    parser.add_argument("--seconds", type=float, default=20, help="length of each phase")
    parser.add_argument("--rows", type=int, default=100, help="rows per prediction request")
    parser.add_argument("--trees", type=int, default=100, help="trees of the model")
    parser.add_argument("--name", default="prediction-fairness", help="bench/results/NAME")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    write(run(args.seconds, args.rows, args.trees), args.name)
    print((RESULTS / f"{args.name}.md").read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Sweep figures (issue 23), measured side by side in one run against one `main.py serve`:

1. a TPE sweep with HYPERBAND pruning of 24 trials against a 48-point GRID over the same
   space: best objective (within 0.005 of the grid's) and summed trial time (at most half);
2. coordination overhead: a sweep's trials against the same runs started by hand
   (trainModel, one at a time), per-run time from claim to end;
3. parallelism 2 against parallelism 1 (two pool workers): the wall time of the same sweep.

The dataset is the generator's (trainer/ml/generator.py), `--rows` rows (50,000 by default;
smaller on a loaded machine, and the results say so). The search space is
HIST_GRADIENT_BOOSTING's learning_rate x max_leaf_nodes x max_iter (4 x 4 x 3 = 48 points),
judged on F1 over 20% validation rows carved from the training split.

    .venv/bin/python -m bench.sweeps [--rows 50000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from bench.data import project_env, run_cli
from bench.report import write_results
from bench.server import free_port, project_server
from trainer.ml.generator import generate_dataset

SPACE = [
    {
        "algorithm": "HIST_GRADIENT_BOOSTING",
        "parameters": [
            {"name": "learningRate", "min": 0.02, "max": 0.3, "logScale": True, "steps": 4},
            {"name": "maxLeafNodes", "min": 8, "max": 64, "logScale": True, "steps": 4},
            {"name": "maxIter", "min": 30, "max": 200, "logScale": True, "steps": 3},
        ],
    }
]
# A fixed 6-point grid for the overhead and parallelism figures.
SMALL_SPACE = [
    {
        "algorithm": "HIST_GRADIENT_BOOSTING",
        "parameters": [
            {"name": "learningRate", "choices": ["0.05", "0.1", "0.2"]},
            {"name": "maxIter", "choices": ["60", "120"]},
        ],
    }
]
START = """mutation($input: StartSweepInput!) {
  startSweep(input: $input) { sweep { id } errors { field message } }
}"""
SWEEP = """query($id: ID!) { sweep(id: $id) {
  status bestValue startedAt finishedAt
  trialCounts { completed pruned failed finished }
  trials(first: 100) { nodes { status pruned objectiveValue startedAt finishedAt
    algorithm parameters { name value } } }
} }"""
TRAIN = """mutation($input: TrainModelInput!) {
  trainModel(input: $input) { trainingRun { startedAt finishedAt status } errors { message } }
}"""


class Api:
    def __init__(self, url: str, token: str) -> None:
        self.client = httpx.Client(
            base_url=url, headers={"Authorization": f"Token {token}"}, timeout=3600
        )

    def data(self, query: str, variables: dict[str, Any]) -> dict[str, Any]:
        body = self.client.post("/graphql", json={"query": query, "variables": variables}).json()
        if body.get("errors"):
            raise RuntimeError(body["errors"])
        data: dict[str, Any] = body["data"]
        return data

    def sweep(self, dataset: str, **fields: Any) -> tuple[dict[str, Any], float]:
        """Run a sweep to its end; the sweep and its wall time (start request to end)."""
        started = time.monotonic()
        payload = self.data(START, {"input": {"datasetPath": dataset, **fields}})["startSweep"]
        if payload["errors"]:
            raise RuntimeError(payload["errors"])
        while True:
            sweep: dict[str, Any] = self.data(SWEEP, {"id": payload["sweep"]["id"]})["sweep"]
            if sweep["status"] in {"COMPLETED", "FAILED", "CANCELLED"}:
                return sweep, time.monotonic() - started
            time.sleep(0.2)


def run_seconds(run: dict[str, Any]) -> float:
    """From a worker's claim to the run's end (queueing excluded)."""
    return (
        datetime.fromisoformat(run["finishedAt"]) - datetime.fromisoformat(run["startedAt"])
    ).total_seconds()


def summed(sweep: dict[str, Any]) -> float:
    return sum(run_seconds(t) for t in sweep["trials"]["nodes"] if t["startedAt"])


def by_hand(api: Api, dataset: str, sweep: dict[str, Any]) -> list[float]:
    """The sweep's trials trained again through trainModel, one at a time."""
    seconds = []
    for trial in sweep["trials"]["nodes"]:
        values = {p["name"]: p["value"] for p in trial["parameters"]}
        model = {
            "histGradientBoosting": {
                "learningRate": float(values["learningRate"]),
                "maxIter": int(values["maxIter"]),
            }
        }
        payload = api.data(
            TRAIN, {"input": {"datasetPath": dataset, "model": model, "wait": True}}
        )["trainModel"]
        if payload["errors"]:
            raise RuntimeError(payload["errors"])
        seconds.append(run_seconds(payload["trainingRun"]))
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=50_000)
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="bench-sweeps-"))
    (folder / "datasets").mkdir()
    dataset = "generated.csv"
    generate_dataset(args.rows, 7, folder / "datasets" / dataset)
    env = project_env(f"sqlite://{folder}/db.sqlite3", folder, SWEEP_DRIVER_INTERVAL="0.2")
    run_cli(["migrate"], env)
    run_cli(["createuser", "bench", "--group", "DRH"], env)
    token = run_cli(["token", "create", "bench"], env).strip().split()[-1]
    port = free_port()
    figures: dict[str, Any] = {"rows": args.rows, "cores": os.cpu_count()}
    with project_server(env, port, folder).start():
        api = Api(f"http://127.0.0.1:{port}", token)
        api.client.get("/healthz")
        common = {"space": SPACE, "seed": 7, "parallelism": 2}
        grid, grid_wall = api.sweep(dataset, method="GRID", maxTrials=48, **common)
        tpe, tpe_wall = api.sweep(
            dataset, method="TPE", pruning="HYPERBAND", maxTrials=24, **common
        )
        small = {"space": SMALL_SPACE, "method": "GRID", "maxTrials": 6, "seed": 3}
        one, one_wall = api.sweep(dataset, parallelism=1, **small)
        _, two_wall = api.sweep(dataset, parallelism=2, **small)
        hand = by_hand(api, dataset, one)
    figures.update(
        grid_best=grid["bestValue"],
        tpe_best=tpe["bestValue"],
        best_gap=grid["bestValue"] - tpe["bestValue"],
        grid_summed_seconds=summed(grid),
        tpe_summed_seconds=summed(tpe),
        time_ratio=summed(tpe) / summed(grid),
        tpe_pruned=tpe["trialCounts"]["pruned"],
        grid_wall_seconds=grid_wall,
        tpe_wall_seconds=tpe_wall,
        trials_seconds=summed(one),
        by_hand_seconds=sum(hand),
        overhead_ratio=summed(one) / sum(hand),
        parallelism_1_wall_seconds=one_wall,
        parallelism_2_wall_seconds=two_wall,
        parallelism_ratio=two_wall / one_wall,
    )
    f = figures
    markdown = [
        "# Sweeps benchmark (issue 23)",
        "",
        f"`python -m bench.sweeps --rows {args.rows}` · {f['rows']} generated rows · "
        f"{f['cores']} cores (shared) · HIST_GRADIENT_BOOSTING, F1 on 20% validation rows",
        "",
        "| figure | value | target | met |",
        "|---|---|---|---|",
        f"| best F1, GRID 48 points | {f['grid_best']:.4f} | | |",
        f"| best F1, TPE + HYPERBAND 24 trials ({f['tpe_pruned']} pruned) | "
        f"{f['tpe_best']:.4f} | within 0.005 of the grid | {f['best_gap'] <= 0.005} |",
        f"| summed trial time TPE / GRID | {f['tpe_summed_seconds']:.1f} s / "
        f"{f['grid_summed_seconds']:.1f} s = {f['time_ratio']:.2f} | at most 0.5 | "
        f"{f['time_ratio'] <= 0.5} |",
        f"| sweep trials / same runs by hand (6 runs, claim to end) | "
        f"{f['trials_seconds']:.1f} s / {f['by_hand_seconds']:.1f} s = "
        f"{f['overhead_ratio']:.2f} | at most 1.1 | {f['overhead_ratio'] <= 1.1} |",
        f"| wall time parallelism 2 / 1 (6 trials, 2 pool workers) | "
        f"{f['parallelism_2_wall_seconds']:.1f} s / {f['parallelism_1_wall_seconds']:.1f} s = "
        f"{f['parallelism_ratio']:.2f} | at most 0.65 | {f['parallelism_ratio'] <= 0.65} |",
        "",
    ]
    path = write_results("sweeps", markdown, figures)
    print(path.read_text())


if __name__ == "__main__":
    main()

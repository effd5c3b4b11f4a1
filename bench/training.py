"""Training figures: trainModel end to end against the bare scikit-learn pipeline, and the
dataset generator.

The bare baseline is the project's own pipeline (trainer.ml.model_trainer.build_pipeline,
same hyperparameters, same split, n_jobs=1 as the server's default TRAINING_N_JOBS) fitted
and evaluated in this process on a dataset already in memory: what any training must
cost. Everything trainModel adds on top (request, queueing, worker hand-off, CSV load,
chunked fitting with progress, saving the model, database writes) is the overhead the
issue bounds. HTTP requests are sent one at a time with a plain client, not wrk.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sklearn.metrics import accuracy_score, confusion_matrix, precision_recall_fscore_support
from sklearn.model_selection import train_test_split

from bench.data import PYTHON, REPO
from bench.queries import CANCEL, RUN_STATE, TRAIN, post
from trainer.ml.dataset import TARGET_CLASSES, TARGET_COLUMN, load_dataset
from trainer.ml.model_trainer import TrainingConfig, build_pipeline


@dataclass(frozen=True)
class TrainSpec:
    """One training setting, as the API input and as the trainer's config."""

    dataset: str
    n_estimators: int
    max_depth: int | None = None
    min_samples_split: int = 2

    def api_input(self, *, wait: bool) -> dict[str, Any]:
        return {
            "datasetPath": self.dataset,
            "testSplit": 0.2,
            "randomState": 42,
            "hyperparameters": {
                "nEstimators": self.n_estimators,
                "maxDepth": self.max_depth,
                "minSamplesSplit": self.min_samples_split,
                "minSamplesLeaf": 1,
                "classWeight": "BALANCED",
            },
            "notes": "bench",
            "wait": wait,
        }

    def config(self) -> TrainingConfig:
        return TrainingConfig(
            test_split=0.2,
            random_state=42,
            parameters={
                "n_estimators": self.n_estimators,
                "max_depth": self.max_depth,
                "min_samples_split": self.min_samples_split,
                "min_samples_leaf": 1,
                "class_weight": "balanced",
            },
            n_jobs=1,
        )


@dataclass
class Timings:
    seconds: list[float] = field(default_factory=list)
    accuracies: list[float] = field(default_factory=list)
    load_seconds: float | None = None

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def to_dict(self) -> dict[str, Any]:
        return {
            "median_seconds": self.median,
            "seconds": self.seconds,
            "accuracies": self.accuracies,
            "csv_load_seconds": self.load_seconds,
        }


def _more(timings: Timings, repeats: int, budget: float) -> bool:
    """Another repeat is wanted, and fits in the time budget (at least one always runs)."""
    done = len(timings.seconds)
    if done == 0:
        return True
    return done < repeats and sum(timings.seconds) + timings.seconds[-1] <= budget


def bare_fit_evaluate(
    datasets: Path, spec: TrainSpec, repeats: int, warmup: int, budget: float = 1e9
) -> Timings:
    """Split + fit + predict + the run's metrics, timed; the CSV is read once, untimed.

    Stops repeating early when the next repeat would take the total past `budget` s.
    """
    timings = Timings()
    started = time.perf_counter()
    dataset = load_dataset(datasets / spec.dataset)
    timings.load_seconds = time.perf_counter() - started
    target = dataset.frame[TARGET_COLUMN]
    classes = [c for c in TARGET_CLASSES if c in set(target)]
    features = dataset.frame[list(dataset.features)]
    attempt = -1
    while attempt < warmup or _more(timings, repeats, budget):
        attempt += 1
        started = time.perf_counter()
        x_train, x_test, y_train, y_test = train_test_split(
            features, target, test_size=0.2, random_state=42, stratify=target
        )
        pipeline = build_pipeline(dataset.categorical, dataset.numeric, spec.config())
        pipeline.fit(x_train, y_train)
        predicted = pipeline.predict(x_test)
        precision_recall_fscore_support(
            y_test, predicted, labels=classes, average="weighted", zero_division=0
        )
        precision_recall_fscore_support(
            y_test, predicted, labels=classes, average=None, zero_division=0
        )
        confusion_matrix(y_test, predicted, labels=classes)
        accuracy = float(accuracy_score(y_test, predicted))
        elapsed = time.perf_counter() - started
        if attempt >= warmup:
            timings.seconds.append(elapsed)
            timings.accuracies.append(accuracy)
    return timings


def train_through_api(
    client: httpx.Client,
    url: str,
    token: str,
    spec: TrainSpec,
    repeats: int,
    warmup: int,
    budget: float = 1e9,
) -> Timings:
    """trainModel(wait: true), one request at a time, timed from send to full answer.

    Stops repeating early when the next repeat would take the total past `budget` s.
    """
    timings = Timings()
    attempt = -1
    while attempt < warmup or _more(timings, repeats, budget):
        attempt += 1
        started = time.perf_counter()
        data = post(client, url, TRAIN, {"input": spec.api_input(wait=True)}, token)
        elapsed = time.perf_counter() - started
        payload = data["trainModel"]
        run = payload["trainingRun"]
        if payload["errors"] or run is None or run["status"] != "COMPLETED":
            raise RuntimeError(f"trainModel did not complete: {payload}")
        if attempt >= warmup:
            timings.seconds.append(elapsed)
            timings.accuracies.append(run["accuracy"])
    return timings


def start_background_trainings(
    client: httpx.Client, url: str, token: str, spec: TrainSpec, count: int
) -> list[int]:
    """Start `count` runs with wait: false and return once all are fitting."""
    ids = []
    for _ in range(count):
        data = post(client, url, TRAIN, {"input": spec.api_input(wait=False)}, token)
        if data["trainModel"]["errors"]:
            raise RuntimeError(f"trainModel refused: {data['trainModel']['errors']}")
        ids.append(data["trainModel"]["trainingRun"]["databaseId"])
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        states = run_states(client, url, token, ids)
        if all(s["status"] == "RUNNING" and s["stage"] == "FITTING" for s in states):
            return ids
        if any(s["status"] not in ("QUEUED", "RUNNING") for s in states):
            raise RuntimeError(f"background training ended early: {states}")
        time.sleep(0.2)
    raise RuntimeError("background trainings did not start fitting within 60 s")


def run_states(client: httpx.Client, url: str, token: str, ids: list[int]) -> list[dict[str, Any]]:
    return [post(client, url, RUN_STATE, {"id": str(i)}, token)["trainingRun"] for i in ids]


def cancel_and_wait(client: httpx.Client, url: str, token: str, ids: list[int]) -> None:
    """Cancel runs and wait until they have stopped, so later figures get the CPU back."""
    for run_id in ids:
        post(client, url, CANCEL, {"id": str(run_id)}, token)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if all(
            s["status"] not in ("QUEUED", "RUNNING") for s in run_states(client, url, token, ids)
        ):
            return
        time.sleep(0.25)
    raise RuntimeError(f"runs {ids} still active 60 s after cancelling")


_GENERATE = """
import json, sys, time
from pathlib import Path
started = time.perf_counter()
from trainer.ml.generator import generate_dataset
imported = time.perf_counter()
summary = generate_dataset(int(sys.argv[1]), 7, Path(sys.argv[2]))
done = time.perf_counter()
print(json.dumps({"import_seconds": imported - started, "seconds": done - imported,
                  "rows": summary.rows}))
"""


def time_generator(rows: int, out: Path) -> dict[str, Any]:
    """generate_dataset in a fresh interpreter (cold caches, as the CLI runs it)."""
    started = time.perf_counter()
    done = subprocess.run(
        [str(PYTHON), "-c", _GENERATE, str(rows), str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    wall = time.perf_counter() - started
    size = out.stat().st_size if out.exists() else 0
    out.unlink(missing_ok=True)
    if done.returncode != 0:
        raise RuntimeError(f"generator failed: {done.stderr}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result.update(wall_seconds=wall, bytes=size, python=sys.version.split()[0])
    return result

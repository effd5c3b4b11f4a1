"""Algorithms (issue 23, section 4): HistGradientBoosting against the default RandomForest
on equal cores, and HistGradientBoosting through the API against the same bare fit.

    .venv/bin/python -m bench.algorithms [--rows 100000] [--large-rows 1000000]

(a) On the generator's --rows dataset, with bare scikit-learn (the project's own pipelines,
trainer.ml.model_trainer.build_pipeline, the same stratified split as a run): the default
RandomForest (200 trees, n_jobs=1 as the pool runs it) and HistGradientBoosting with its
defaults (native categories), each fitted on ONE core: threadpoolctl limits the OpenMP
threads HistGradientBoosting would otherwise spread over every core. Fit seconds and
test-split accuracy.

(b) On --large-rows rows: trainModel(model: { histGradientBoosting: {} }, wait: true)
against a live server (one worker, TRAINING_N_JOBS=1), timed from request to answer,
against the bare split + fit + predict + metrics of the same pipeline on one core with the
CSV already in memory; then a run with wait: false polled for its progress while FITTING,
and cancelled mid-fit, timed from the cancel to CANCELLED.
(c) With --fit-repeats R (R > 0), on --fit-rows rows, in this process and on one core, the
three fits of the same boosting pipeline alternated R times, timed in CPU seconds of this
process (a machine shared beyond its cores stretches wall times, not CPU time): the bare
fit (preprocess + HistGradientBoosting.fit), the trainer's fit (ModelTrainer._grow: one fit
call with progress and cancel at each iteration), and the same with a sweep trial's
scoring points (after 1, 2, 4... iterations; the scores themselves left out, they are the
objective's own predictions). Medians and ratios to the bare fit; --skip-api leaves out (b).

(d) With --train-repeats R (R > 0), on --fit-rows rows, alternated R times in this process
on one core, in CPU seconds: the bare split + fit + predict + accuracy with the CSV in
memory (as in (b)), and ModelTrainer.train on the CSV file (what a pool worker runs for a
run: load, split, fit with progress, evaluation, permutation and SHAP importance, save),
with the trainer's CPU per stage (LOADING_DATA, FITTING, EVALUATING, SAVING).
Writes bench/results/algorithms.md and .json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import pandas as pd
from sklearn.metrics import accuracy_score
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

from bench import data
from bench.queries import CANCEL, RUN_STATE, TRAIN, post
from bench.report import write_results
from bench.server import free_port, project_server
from trainer.ml.algorithms import Algorithm
from trainer.ml.dataset import TARGET_COLUMN, load_dataset
from trainer.ml.generator import generate_dataset
from trainer.ml.model_trainer import TrainingConfig, build_pipeline


def bare_fit(dataset: Path, algorithm: Algorithm) -> dict[str, float]:
    """Split, fit (one core), predict and score the default pipeline of `algorithm`; the
    CSV is read first, untimed, and pandas.read_csv of it is timed on its own (what a data
    scientist's script reads the file with)."""
    started = time.perf_counter()
    pd.read_csv(dataset)
    read_seconds = time.perf_counter() - started
    frame = load_dataset(dataset)
    target = frame.frame[TARGET_COLUMN]
    features = frame.frame[list(frame.features)]
    with threadpool_limits(limits=1):
        started = time.perf_counter()
        x_train, x_test, y_train, y_test = train_test_split(
            features, target, test_size=0.2, random_state=42, stratify=target
        )
        pipeline = build_pipeline(
            frame.categorical, frame.numeric, TrainingConfig(algorithm=algorithm, n_jobs=1)
        )
        pipeline.fit(x_train, y_train)
        fitted = time.perf_counter() - started
        accuracy = float(accuracy_score(y_test, pipeline.predict(x_test)))
        total = time.perf_counter() - started
    return {
        "read_csv_seconds": read_seconds,
        "fit_seconds": fitted,
        "fit_and_score_seconds": total,
        "accuracy": accuracy,
    }


def fit_cpu_seconds(dataset: Path, repeats: int) -> dict[str, Any]:
    """Part (c): bare fit, the trainer's fit as a run and as a sweep trial, alternated."""
    from trainer.ml.model_trainer import ModelTrainer

    frame = load_dataset(dataset)
    target = frame.frame[TARGET_COLUMN]
    x_train, _, y_train, _ = train_test_split(
        frame.frame[list(frame.features)], target, test_size=0.2, random_state=42, stratify=target
    )
    config = TrainingConfig(algorithm=Algorithm.HIST_GRADIENT_BOOSTING, n_jobs=1)

    def pipeline() -> Any:
        return build_pipeline(frame.categorical, frame.numeric, config)

    def bare() -> Any:
        return pipeline().fit(x_train, y_train.to_numpy(dtype=str))

    def trainer_fit(trial: bool) -> Any:
        fractions: list[float] = []
        trainer = ModelTrainer(config, should_stop=lambda: False)
        # A trial's scoring points, each scoring nothing.
        on_chunk = (lambda _pipeline, _step: None) if trial else None
        fitted = trainer._grow(pipeline(), x_train, y_train, fractions.append, on_chunk)
        return fitted, len(fractions)

    times: dict[str, list[float]] = {"bare": [], "one_call": [], "trial": []}
    reports: dict[str, int] = {}
    probabilities: dict[str, Any] = {}
    sample = x_train.iloc[:2000]
    with threadpool_limits(limits=1):
        for repeat in range(repeats):
            for name in times:
                started = time.process_time()
                if name == "bare":
                    fitted = bare()
                else:
                    fitted, reports[name] = trainer_fit(name == "trial")
                times[name].append(time.process_time() - started)
                if repeat == 0:
                    probabilities[name] = fitted.predict_proba(sample)
            print("fit cpu seconds", {k: round(v[-1], 2) for k, v in times.items()}, flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {
        "rows": len(frame.frame),
        "repeats": repeats,
        "cpu_seconds": times,
        "median_cpu_seconds": medians,
        "ratio_one_call": medians["one_call"] / medians["bare"],
        "ratio_trial": medians["trial"] / medians["bare"],
        "progress_reports": reports,
        "same_probabilities": all(
            (probabilities[name] == probabilities["bare"]).all() for name in ("one_call", "trial")
        ),
    }


def train_cpu_seconds(dataset: Path, workdir: Path, repeats: int) -> dict[str, Any]:
    """Part (d): the bare split + fit + score against the whole trainer, alternated."""
    from trainer.ml.model_trainer import ModelTrainer

    config = TrainingConfig(algorithm=Algorithm.HIST_GRADIENT_BOOSTING, n_jobs=1)
    frame = load_dataset(dataset)
    target = frame.frame[TARGET_COLUMN]
    features = frame.frame[list(frame.features)]
    bare: list[float] = []
    read_csv: list[float] = []
    trainer: list[float] = []
    stages: list[dict[str, float]] = []
    with threadpool_limits(limits=1):
        for repeat in range(repeats):
            started = time.process_time()
            pd.read_csv(dataset)
            read_csv.append(time.process_time() - started)
            started = time.process_time()
            x_train, x_test, y_train, y_test = train_test_split(
                features, target, test_size=0.2, random_state=42, stratify=target
            )
            pipeline = build_pipeline(frame.categorical, frame.numeric, config)
            pipeline.fit(x_train, y_train)
            accuracy_score(y_test, pipeline.predict(x_test))
            bare.append(time.process_time() - started)
            marks: list[tuple[str, float]] = []

            def mark(stage: Any, _fraction: float, marks: list[tuple[str, float]] = marks) -> None:
                if not marks or marks[-1][0] != str(stage):
                    marks.append((str(stage), time.process_time()))

            model = workdir / f"bench-train-{repeat}.joblib"
            started = time.process_time()
            ModelTrainer(config, on_progress=mark).train(dataset, model)
            ended = time.process_time()
            trainer.append(ended - started)
            model.unlink()
            ends = [at for _, at in marks[1:]] + [ended]
            stages.append({name: end - at for (name, at), end in zip(marks, ends, strict=True)})
            print("train cpu seconds", round(bare[-1], 2), round(trainer[-1], 2), flush=True)
    median_stages = {
        name: statistics.median(each[name] for each in stages if name in each) for name in stages[0]
    }
    return {
        "rows": len(frame.frame),
        "repeats": repeats,
        "bare_cpu_seconds": bare,
        "read_csv_cpu_seconds": read_csv,
        "trainer_cpu_seconds": trainer,
        "ratio": statistics.median(trainer) / statistics.median(bare),
        "ratio_with_read_csv": statistics.median(trainer)
        / statistics.median(b + r for b, r in zip(bare, read_csv, strict=True)),
        "median_stage_cpu_seconds": median_stages,
    }


def through_api(url: str, token: str, dataset: str) -> dict[str, Any]:
    """Two boosting runs waited for, one after the other (the first on a newly forked
    worker, the second on the same worker, warm); then one followed while fitting and
    cancelled mid-fit."""
    api_input = {"datasetPath": dataset, "model": {"histGradientBoosting": {}}}
    with httpx.Client(timeout=3600) as client:
        waited: list[tuple[float, dict[str, Any]]] = []
        for _ in range(2):
            started = time.perf_counter()
            sent = post(client, url, TRAIN, {"input": {**api_input, "wait": True}}, token)
            run = sent["trainModel"]["trainingRun"]
            if sent["trainModel"]["errors"] or run["status"] != "COMPLETED":
                raise RuntimeError(f"the boosting run did not complete: {sent}")
            waited.append((time.perf_counter() - started, run))
        followed = post(client, url, TRAIN, {"input": api_input}, token)["trainModel"]
        run_id = str(followed["trainingRun"]["databaseId"])
        seen: list[float] = []
        while True:
            state = post(client, url, RUN_STATE, {"id": run_id}, token)["trainingRun"]
            if state["stage"] == "FITTING" and state["progress"] not in seen:
                seen.append(state["progress"])
            if state["status"] not in ("QUEUED", "RUNNING"):
                raise RuntimeError(f"the followed run ended before its cancel: {state}")
            if len(seen) >= 3 and state["progress"] >= 0.3:
                break
            time.sleep(0.2)
        asked = time.perf_counter()
        post(client, url, CANCEL, {"id": run_id}, token)
        while True:
            state = post(client, url, RUN_STATE, {"id": run_id}, token)["trainingRun"]
            if state["status"] not in ("QUEUED", "RUNNING"):
                break
            time.sleep(0.05)
        cancel_seconds = time.perf_counter() - asked
    return {
        "api_seconds": waited[0][0],
        "trainer_seconds": waited[0][1]["trainingDurationSeconds"],
        "api_seconds_warm": waited[1][0],
        "api_accuracy": waited[0][1]["accuracy"],
        "progress_values_seen_while_fitting": seen,
        "cancel_seconds": cancel_seconds,
        "cancelled_status": state["status"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--large-rows", type=int, default=1_000_000)
    parser.add_argument("--skip-forest", action="store_true", help="leave out the forest in (a)")
    parser.add_argument("--skip-api", action="store_true", help="leave out (b)")
    parser.add_argument("--fit-repeats", type=int, default=0, help="(c): fits of each kind")
    parser.add_argument("--fit-rows", type=int, default=100_000, help="(c), (d): rows")
    parser.add_argument("--train-repeats", type=int, default=0, help="(d): of each kind")
    args = parser.parse_args()
    load = os.getloadavg()
    workdir = Path(tempfile.mkdtemp(prefix="bench-algorithms-"))
    try:
        datasets = workdir / "artifacts" / "datasets"
        datasets.mkdir(parents=True)
        small, large = datasets / "rows-small.csv", datasets / "rows-large.csv"
        generate_dataset(args.rows, seed=42, out=small)
        figures: dict[str, Any] = {"rows": args.rows, "large_rows": args.large_rows}
        figures["load_average_at_start"] = load
        extra = [
            flag
            for flag, on in (("--skip-forest", args.skip_forest), ("--skip-api", args.skip_api))
            if on
        ]
        if args.fit_repeats > 0:
            extra.append(f"--fit-repeats {args.fit_repeats}")
        if args.train_repeats > 0:
            extra.append(f"--train-repeats {args.train_repeats}")
        if args.fit_repeats > 0 or args.train_repeats > 0:
            extra.append(f"--fit-rows {args.fit_rows}")
        figures["extra_arguments"] = "".join(f" {flag}" for flag in extra)
        figures["boosting"] = bare_fit(small, Algorithm.HIST_GRADIENT_BOOSTING)
        print("boosting", figures["boosting"], flush=True)
        if not args.skip_forest:
            figures["forest"] = bare_fit(small, Algorithm.RANDOM_FOREST)
            print("forest", figures["forest"], flush=True)
        fit_rows = datasets / "rows-fit.csv"
        if args.fit_repeats > 0 or args.train_repeats > 0:
            generate_dataset(args.fit_rows, seed=44, out=fit_rows)
        if args.fit_repeats > 0:
            figures["fit_cpu"] = fit_cpu_seconds(fit_rows, args.fit_repeats)
            figures["load_average_after_fit_cpu"] = os.getloadavg()
            print("fit cpu", figures["fit_cpu"], flush=True)
        if args.train_repeats > 0:
            figures["train_cpu"] = train_cpu_seconds(fit_rows, workdir, args.train_repeats)
            figures["load_average_after_train_cpu"] = os.getloadavg()
            print("train cpu", figures["train_cpu"], flush=True)
        if not args.skip_api:
            generate_dataset(args.large_rows, seed=43, out=large)
            figures["large_bare"] = bare_fit(large, Algorithm.HIST_GRADIENT_BOOSTING)
            print("large bare", figures["large_bare"], flush=True)
            env = data.project_env(
                f"sqlite://{workdir / 'bench.sqlite3'}",
                workdir / "artifacts",
                TRAINING_WORKERS="1",
                TRAINING_N_JOBS="1",
            )
            data.run_cli(["migrate"], env)
            data.run_cli(["createuser", "bench-drh", "--group", "DRH"], env)
            token = data.run_cli(["token", "create", "bench-drh", "--name", "bench"], env).strip()
            with project_server(env, free_port(), workdir).start() as api:
                figures["large_api"] = through_api(api.url, token, large.name)
            print("large api", figures["large_api"], flush=True)
        figures["load_average_at_end"] = os.getloadavg()
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    write_results("algorithms", markdown(figures), figures)


def markdown(f: dict[str, Any]) -> list[str]:
    boosting = f["boosting"]
    lines = [
        "# Algorithms: HistGradientBoosting against RandomForest, and through the API",
        "",
        "Command: `.venv/bin/python -m bench.algorithms "
        f"--rows {f['rows']} --large-rows {f['large_rows']}{f.get('extra_arguments', '')}`. "
        "Every fit on one core (threadpoolctl limits HistGradientBoosting's OpenMP threads "
        f"to 1; the forest has n_jobs=1). Load average at start "
        f"{f['load_average_at_start'][0]:.1f}, at end {f['load_average_at_end'][0]:.1f} on 2 "
        "cores shared with other work.",
        "",
        f"## (a) {f['rows']:,} generated rows, bare scikit-learn",
        "",
        "| model | fit seconds | test accuracy |",
        "|---|---:|---:|",
        f"| HistGradientBoosting, defaults | {boosting['fit_seconds']:.1f} | "
        f"{boosting['accuracy']:.4f} |",
    ]
    if "forest" in f:
        forest = f["forest"]
        lines += [
            f"| RandomForest, 200 trees | {forest['fit_seconds']:.1f} | {forest['accuracy']:.4f} |",
            "",
            f"Boosting fit time / forest fit time: "
            f"{boosting['fit_seconds'] / forest['fit_seconds']:.3f}; accuracy difference "
            f"{boosting['accuracy'] - forest['accuracy']:+.4f}.",
        ]
    if "large_api" in f:
        api, bare = f["large_api"], f["large_bare"]
        read_seconds = bare.get("read_csv_seconds", 0.0)
        warm = api.get("api_seconds_warm", 0.0)
        lines += [
            "",
            f"## (b) {f['large_rows']:,} rows: HistGradientBoosting through the API",
            "",
            f"- bare split + fit + predict + accuracy (CSV in memory): "
            f"{bare['fit_and_score_seconds']:.1f} s (fit alone {bare['fit_seconds']:.1f} s), "
            f"accuracy {bare['accuracy']:.4f}",
            f"- trainModel(wait: true), request to answer (CSV load, fit with progress at "
            f"each iteration, evaluation, permutation importance, save, database): "
            f"{api['api_seconds']:.1f} s, accuracy {api['api_accuracy']:.4f}; of which the "
            f"worker's trainer (its trainingDurationSeconds) "
            f"{api.get('trainer_seconds') or 0:.1f} s",
            f"- ratio API / bare: {api['api_seconds'] / bare['fit_and_score_seconds']:.3f}; "
            f"against the bare work plus pandas.read_csv of the file "
            f"({read_seconds:.1f} s): "
            f"{api['api_seconds'] / (bare['fit_and_score_seconds'] + read_seconds):.3f}",
            f"- the same run again on the same (now warm) worker: {warm:.1f} s, ratio to the "
            f"bare work plus read_csv {warm / (bare['fit_and_score_seconds'] + read_seconds):.3f}",
            f"- progress seen while FITTING (polled every 0.2 s): "
            f"{', '.join(f'{p:.3f}' for p in api['progress_values_seen_while_fitting'])}",
            f"- cancel mid-fit: {api['cancelled_status']} {api['cancel_seconds']:.2f} s after "
            "cancelTrainingRun",
            "",
            "Wall times of one run each, bare then API (not side by side): on a shared "
            "machine they move with its load; (c) compares the fits in CPU time.",
        ]
    if "fit_cpu" in f:
        c = f["fit_cpu"]
        med = c["median_cpu_seconds"]
        lines += [
            "",
            f"## (c) {c['rows']:,} rows: the trainer's fit against the bare fit, CPU seconds",
            "",
            f"Alternated {c['repeats']} times in one process on one core; medians. Load "
            f"average after: {f['load_average_after_fit_cpu'][0]:.1f}.",
            "",
            "| fit | median CPU s | each | / bare | progress reports |",
            "|---|---:|---|---:|---:|",
            f"| bare pipeline.fit | {med['bare']:.2f} | "
            f"{', '.join(f'{v:.2f}' for v in c['cpu_seconds']['bare'])} | 1.000 | |",
            f"| trainer, one call with a per-iteration hook (runs) | {med['one_call']:.2f} | "
            f"{', '.join(f'{v:.2f}' for v in c['cpu_seconds']['one_call'])} | "
            f"{c['ratio_one_call']:.3f} | {c['progress_reports']['one_call']} |",
            f"| trainer, a sweep trial's fit (scoring points, no scores) | "
            f"{med['trial']:.2f} | "
            f"{', '.join(f'{v:.2f}' for v in c['cpu_seconds']['trial'])} | "
            f"{c['ratio_trial']:.3f} | {c['progress_reports']['trial']} |",
            "",
            f"Same predicted probabilities as the bare fit (first 2,000 rows): "
            f"{'yes' if c['same_probabilities'] else 'NO'}.",
        ]
    if "train_cpu" in f:
        d = f["train_cpu"]
        stage_text = ", ".join(
            f"{name} {seconds:.2f}" for name, seconds in d["median_stage_cpu_seconds"].items()
        )
        lines += [
            "",
            f"## (d) {d['rows']:,} rows: the whole trainer against the bare fit, CPU seconds",
            "",
            f"Alternated {d['repeats']} times in one process on one core; medians. Load "
            f"average after: {f['load_average_after_train_cpu'][0]:.1f}.",
            "",
            f"- bare split + fit + predict + accuracy (CSV in memory): "
            f"{statistics.median(d['bare_cpu_seconds']):.2f} "
            f"({', '.join(f'{v:.2f}' for v in d['bare_cpu_seconds'])})",
            f"- ModelTrainer.train (what a worker runs for a run): "
            f"{statistics.median(d['trainer_cpu_seconds']):.2f} "
            f"({', '.join(f'{v:.2f}' for v in d['trainer_cpu_seconds'])})",
            f"- pandas.read_csv of the file: "
            f"{statistics.median(d['read_csv_cpu_seconds']):.2f} "
            f"({', '.join(f'{v:.2f}' for v in d['read_csv_cpu_seconds'])})",
            f"- ratio trainer / bare: {d['ratio']:.3f}; trainer / (bare + read_csv): "
            f"{d['ratio_with_read_csv']:.3f}",
            f"- the trainer's CPU by stage (medians): {stage_text}",
            "",
            "Beyond the bare side's work the trainer reads the CSV (LOADING_DATA; the bare "
            "side has it in memory) and, in EVALUATING besides the test predictions, "
            "measures permutation importance (1,000 test rows x 5 repeats x each column, "
            "predicted by the classifier) and SHAP importance (100 rows).",
        ]
    lines += [
        "",
        "Notes: a warm_start call of HistGradientBoosting re-bins every training row and "
        "re-predicts every iteration grown so far before adding any, so growing a run in "
        "chunks cost 1.4x (300,000 rows) to 1.8x (100,000 rows) the CPU of one fit. "
        "A run, and a sweep's trial, now fits in one call: the trainer's hook on the "
        "loss's gradient (computed once at the start of each iteration) reports progress "
        "after every iteration and stops there when the run is cancelled or the trial "
        "pruned; a trial's intermediate scores are taken there too, from the iterations "
        "grown so far (after 1, 2, 4, 8... of them; a test checks each against a model "
        "fitted to that step alone). Growing a trial in warm_start chunks measured 1.29x "
        "the bare fit's CPU at 1,000,000 rows.",
        "",
    ]
    return lines


if __name__ == "__main__":
    main()

"""The batch scoring benchmark (issue 24): a whole file scored by the job's code against
bare predict_proba over the same chunks plus pandas' own CSV read and write.

    .venv/bin/python -m bench.batch_predictions [--rows N] [--trees T] [--repeats R]

A model is trained on the shipped dataset (T trees), a file of N generated rows written,
then, alternating R times so a busy moment of the machine hits both alike, each in a
fresh process (so its peak RSS is its own):

- job: trainer.ml.batch_scoring.score_file, what a worker runs for startBatchPrediction
  (read in chunks, cleaned, rejects checked, predict_proba, output written and hashed);
- bare: pandas.read_csv in the same chunks, predict_proba of the model's feature columns,
  DataFrame.to_csv of the input columns plus the probabilities.

Reports the median seconds of each, their ratio (target: within 1.3x), and each process's
peak RSS growth over its RSS once the model is loaded (target: at most 300 MB for the
job). Writes bench/results/batch-predictions.md and .json.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import RESULTS, write_results

REPO = Path(__file__).resolve().parent.parent
SHIPPED = REPO / "artifacts" / "datasets" / "future_skills_dataset.csv"


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _current_rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return _rss_mb()


def child(variant: str, model_path: str, source: str, out: str) -> None:
    """One measured scoring, in this (fresh) process: prints a JSON line."""
    import joblib
    import numpy as np
    import pandas as pd

    from trainer.ml.batch_scoring import DEFAULT_CHUNK_ROWS, score_file

    model = joblib.load(model_path)
    features = list(model[:-1].feature_names_in_)
    # Warm the prediction path on a few rows so both start from the same imports.
    model.predict_proba(pd.read_csv(source, nrows=10)[features])
    base = _current_rss_mb()
    started = time.perf_counter()
    if variant == "job":
        result = score_file(
            model, features, Path(source), "bench.csv", Path(out), Path(out + ".rej")
        )
        rows = result.rows_scored
    else:
        rows = 0
        header = True
        with open(out, "w", encoding="utf-8") as handle:
            for chunk in pd.read_csv(source, chunksize=DEFAULT_CHUNK_ROWS):
                probabilities = model.predict_proba(chunk[features])
                chunk["predicted_level"] = np.asarray(model.classes_)[probabilities.argmax(1)]
                for i, label in enumerate(model.classes_):
                    chunk[f"probability_{label}"] = probabilities[:, i]
                handle.write(chunk.to_csv(index=False, header=header, lineterminator="\n"))
                header = False
                rows += len(chunk)
    seconds = time.perf_counter() - started
    print(json.dumps({"seconds": seconds, "rows": rows, "rss_growth_mb": _rss_mb() - base}))


def _run(variant: str, model: Path, source: Path, out: Path) -> dict[str, Any]:
    completed = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.batch_predictions",
            "--child",
            variant,
            str(model),
            str(source),
            str(out),
        ],
        check=True,
        capture_output=True,
        text=True,
        cwd=REPO,
    )
    result: dict[str, Any] = json.loads(completed.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return

    from trainer.ml.generator import generate_dataset
    from trainer.ml.model_trainer import ModelTrainer, TrainingConfig

    with tempfile.TemporaryDirectory() as folder:
        directory = Path(folder)
        model = directory / "bench.joblib"
        ModelTrainer(TrainingConfig(parameters={"n_estimators": args.trees})).train(SHIPPED, model)
        source = directory / "bench.csv"
        generate_dataset(args.rows, 42, source)
        runs: dict[str, list[dict[str, Any]]] = {"job": [], "bare": []}
        for _ in range(args.repeats):
            for variant in ("bare", "job"):
                runs[variant].append(_run(variant, model, source, directory / f"{variant}.csv"))
                print(variant, runs[variant][-1], flush=True)
    job = statistics.median(r["seconds"] for r in runs["job"])
    bare = statistics.median(r["seconds"] for r in runs["bare"])
    job_rss = max(r["rss_growth_mb"] for r in runs["job"])
    bare_rss = max(r["rss_growth_mb"] for r in runs["bare"])
    ratio = job / bare
    markdown = [
        "# Benchmark: batch predictions",
        "",
        f"`.venv/bin/python -m bench.batch_predictions --rows {args.rows} --trees {args.trees} "
        f"--repeats {args.repeats}`",
        "",
        "| | median s | rows/s | peak RSS growth (MB) |",
        "|---|---|---|---|",
        f"| job (score_file) | {job:.2f} | {args.rows / job:,.0f} | {job_rss:.0f} |",
        f"| bare (read_csv + predict_proba + to_csv) | {bare:.2f} | {args.rows / bare:,.0f} | "
        f"{bare_rss:.0f} |",
        "",
        f"- ratio job / bare: **{ratio:.2f}x** (target: at most 1.3x)",
        f"- job peak RSS growth: **{job_rss:.0f} MB** (target: at most 300 MB)",
        "",
    ]
    data = {
        "rows": args.rows,
        "trees": args.trees,
        "repeats": args.repeats,
        "runs": runs,
        "job_seconds": job,
        "bare_seconds": bare,
        "ratio": ratio,
    }
    path = write_results("batch-predictions", markdown, data)
    print("\n".join(markdown))
    print(f"written to {path.relative_to(RESULTS.parent.parent)}")


if __name__ == "__main__":
    main()

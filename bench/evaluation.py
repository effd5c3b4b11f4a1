"""The model evaluation benchmark (issue 24, section 3): a labelled file evaluated the way
the job does it (read in chunks, nothing kept) against the same work on the whole file
loaded at once (what the job did before).

    .venv/bin/python -m bench.evaluation [--rows N] [--trees T]

A model is trained on 5,000 generated rows (T trees), a file of N generated rows written,
then each mode runs in a fresh process (so its peak RSS is its own):

- chunked: trainer.ml.evaluation.evaluate_model, what a worker runs for startEvaluation;
- whole: load_dataset of the file, evaluate_pipeline on every row, drift_report of the
  whole frame against the training data.

Reports seconds and peak RSS growth over the RSS once the model is loaded, and whether
the two gave the same metrics and drift statistics (Wasserstein and the numeric
histograms come from a sample of drift.SAMPLE_SIZE values beyond that many rows: their
largest difference is reported). Writes bench/results/evaluation.md and .json.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.report import write_results
from trainer.ml.drift import SAMPLE_SIZE

_EXACT = ("ks_statistic", "ks_p_value", "psi", "chi2_statistic", "chi2_p_value", "jensen_shannon")


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _measure(mode: str, folder: Path) -> dict[str, Any]:
    """One mode, in this process (the parent runs it in a fresh one)."""
    import joblib
    import numpy as np
    from scipy.stats import wasserstein_distance

    from trainer.ml.dataset import TARGET_CLASSES, TARGET_COLUMN, load_dataset
    from trainer.ml.drift import drift_report
    from trainer.ml.evaluation import evaluate_model
    from trainer.ml.model_trainer import evaluate_pipeline

    pipeline = joblib.load(folder / "model.joblib")
    reference, current = folder / "reference.csv", folder / "current.csv"
    features = list(load_dataset(reference).features)
    before = _peak_mb()
    start = time.perf_counter()
    if mode == "chunked":
        result = evaluate_model(pipeline, features, current, "current", reference, "ref", None)
        metrics, drift = result.metrics, result.drift
    else:
        data = load_dataset(current)
        frame = data.frame.reindex(columns=[*features, TARGET_COLUMN])
        labels = set(frame[TARGET_COLUMN]) | {str(c) for c in pipeline.classes_}
        classes = [c for c in TARGET_CLASSES if c in labels]
        metrics = evaluate_pipeline(pipeline, frame[features], frame[TARGET_COLUMN], classes)
        metrics.update(samples=len(frame), dropped_rows=data.dropped_rows)
        training = load_dataset(reference).frame
        drift = drift_report(training, data.frame, features).as_dict()
        # drift_report samples too beyond SAMPLE_SIZE values: the whole file's own figure
        for feature in drift["features"]:
            if feature["kind"] == "numeric":
                ref = training[feature["feature"]].dropna().to_numpy(np.float64)
                cur = data.frame[feature["feature"]].dropna().to_numpy(np.float64)
                feature["wasserstein"] = float(
                    wasserstein_distance(ref, cur) / max(float(np.std(ref)), 0.001)
                )
    seconds = time.perf_counter() - start
    return {
        "peak_mb": _peak_mb(),
        "seconds": seconds,
        "peak_growth_mb": _peak_mb() - before,
        "metrics": metrics,
        "drift": drift,
    }


def _prepare(folder: Path, rows: int, trees: int) -> None:
    import joblib
    from sklearn.ensemble import RandomForestClassifier

    from trainer.ml.dataset import TARGET_COLUMN, load_dataset
    from trainer.ml.generator import generate_dataset
    from trainer.ml.model_trainer import TrainingConfig, build_pipeline

    generate_dataset(5000, 1, folder / "reference.csv")
    generate_dataset(rows, 2, folder / "current.csv")
    data = load_dataset(folder / "reference.csv")
    pipeline = build_pipeline(data.categorical, data.numeric, TrainingConfig())
    pipeline.steps[-1] = ("classifier", RandomForestClassifier(n_estimators=trees, random_state=0))
    pipeline.fit(data.frame[list(data.features)], data.frame[TARGET_COLUMN])
    joblib.dump(pipeline, folder / "model.joblib")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--trees", type=int, default=20)
    parser.add_argument("--measure", choices=["chunked", "whole"], help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.measure:
        print(json.dumps(_measure(args.measure, args.folder)))
        return
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        _prepare(folder, args.rows, args.trees)
        runs = {}
        for mode in ("chunked", "whole"):
            out = subprocess.run(
                [sys.executable, "-m", "bench.evaluation", "--measure", mode, "--folder", name],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            runs[mode] = json.loads(out.splitlines()[-1])
    chunked, whole = runs["chunked"], runs["whole"]
    pairs = list(zip(chunked["drift"]["features"], whole["drift"]["features"], strict=True))
    exact = all(a[k] == b[k] for a, b in pairs for k in _EXACT) and all(
        a["drifted"] == b["drifted"] for a, b in pairs
    )
    sampled = max(
        (abs((a["wasserstein"] or 0) - (b["wasserstein"] or 0)) for a, b in pairs), default=0.0
    )
    lines = [
        "# Model evaluation: chunked against the whole file at once",
        "",
        f"`.venv/bin/python -m bench.evaluation --rows {args.rows} --trees {args.trees}`",
        "",
        "| mode | seconds | peak RSS growth (MB) | peak RSS (MB) |",
        "|---|---|---|---|",
        *(
            f"| {mode} | {runs[mode]['seconds']:.1f} | {runs[mode]['peak_growth_mb']:.0f} | "
            f"{runs[mode]['peak_mb']:.0f} |"
            for mode in ("chunked", "whole")
        ),
        "",
        f"- metrics equal: {chunked['metrics'] == whole['metrics']}",
        f"- KS, PSI, chi-squared, Jensen-Shannon and `drifted` equal: {exact}",
        f"- largest difference of the normed Wasserstein distance (the job's from a sample "
        f"of {SAMPLE_SIZE:,} values per feature, the whole file's exact): {sampled:.5f} "
        "(its threshold is 0.1)",
        "",
    ]
    path = write_results(
        "evaluation",
        lines,
        {
            "rows": args.rows,
            "trees": args.trees,
            **{
                mode: {k: runs[mode][k] for k in ("seconds", "peak_growth_mb", "peak_mb")}
                for mode in runs
            },
            "metrics_equal": chunked["metrics"] == whole["metrics"],
            "exact_equal": exact,
            "max_wasserstein_difference": sampled,
        },
    )
    print(path.read_text())


if __name__ == "__main__":
    main()

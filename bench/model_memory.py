"""What a model costs: file size and server memory by number of trees (third hardening
pass, item 9), the figures behind MODEL_CACHE_BYTES and MAX_MODEL_BYTES.

    .venv/bin/python -m bench.model_memory [--rows N] [--trees 20,200,1000]

Generates a dataset of N rows (the project's seeded generator; 21,000 rows are about
2 MB of CSV), trains a RandomForest of each size on it as a run does (the API's defaults
otherwise: no depth limit), then loads each file in a fresh process with the loader the
server uses (trainer.model_files.load_verified_model: read once, hash, unpickle) and
reads that process's memory: resident after the load, and the peak while loading.
Writes bench/results/model-memory.md and .json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data
from bench.report import RESULTS, write_results

MB = 1_000_000


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def measure(path: Path, sha256: str) -> dict[str, int]:
    """In this (fresh) process: memory before, after and at the peak of one load."""
    import sklearn.ensemble  # noqa: F401  what unpickling imports anyway, outside the figure

    from trainer.model_files import load_verified_model

    before = _status_kib("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak (VmHWM) to now
    loaded = load_verified_model(path, sha256)
    return {
        "rss_before_kib": before,
        "rss_after_kib": _status_kib("VmRSS"),
        "peak_kib": _status_kib("VmHWM"),
        "size": loaded.size,
    }


def train(dataset: Path, trees: int, out: Path) -> dict[str, Any]:
    from trainer.ml.model_trainer import ModelTrainer, TrainingConfig

    config = TrainingConfig(parameters={"n_estimators": trees})
    started = time.perf_counter()
    result = ModelTrainer(config).train(dataset, out)
    return {"seconds": round(time.perf_counter() - started, 1), "sha256": result.model_sha256}


def run(rows: int, tree_counts: list[int]) -> dict[str, Any]:
    from trainer.ml.generator import generate_dataset

    workdir = Path(tempfile.mkdtemp(prefix="fst-bench-model-memory-"))
    try:
        dataset = workdir / "data.csv"
        generate_dataset(rows, seed=7, out=dataset)
        result: dict[str, Any] = {
            "rows": rows,
            "csv_bytes": dataset.stat().st_size,
            "models": [],
        }
        for trees in tree_counts:
            model = workdir / f"model-{trees}.joblib"
            trained = train(dataset, trees, model)
            done = subprocess.run(
                [sys.executable, "-m", "bench.model_memory", "--measure", str(model)],
                cwd=data.REPO,
                input=trained["sha256"],
                capture_output=True,
                text=True,
                check=True,
            )
            memory = json.loads(done.stdout)
            entry = {
                "trees": trees,
                "train_seconds": trained["seconds"],
                "file_bytes": model.stat().st_size,
                "loaded_bytes": (memory["rss_after_kib"] - memory["rss_before_kib"]) * 1024,
                "load_peak_bytes": (memory["peak_kib"] - memory["rss_before_kib"]) * 1024,
            }
            print(entry, flush=True)
            result["models"].append(entry)
            model.unlink()
        return result
    finally:
        shutil.rmtree(workdir, ignore_errors=True)


def write(result: dict[str, Any], name: str) -> None:
    lines = [
        "# What a model costs in a server's memory",
        "",
        f"`python -m bench.model_memory --rows {result['rows']}`: RandomForest with the "
        f"API's defaults (no depth limit) on {result['rows']:,} generated rows "
        f"({result['csv_bytes'] / MB:.1f} MB of CSV); each file loaded in a fresh process "
        "by the server's loader (read once, hash, unpickle).",
        "",
        "| trees | train | file | memory once loaded | peak while loading |",
        "|---|---|---|---|---|",
    ]
    for m in result["models"]:
        lines.append(
            f"| {m['trees']:,} | {m['train_seconds']} s | {m['file_bytes'] / MB:.1f} MB "
            f"| {m['loaded_bytes'] / MB:.1f} MB | {m['load_peak_bytes'] / MB:.1f} MB |"
        )
    lines += [
        "",
        "A loaded forest takes about its file's size (what MODEL_CACHE_BYTES counts: the "
        "loader hands back, with malloc_trim, the memory unpickling freed; without it a "
        "loaded model kept twice its file's size, 206 MB for the 200-tree file, 1,031 MB "
        "for 1,000 trees). Loading holds the file's bytes and the model at once, so the "
        "peak is higher, and models are loaded one at a time. Sizes grow with trees times "
        "rows, and faster on noisy data, where trees grow more leaves.",
        "",
    ]
    write_results(name, lines, result)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.model_memory", description=__doc__)
    parser.add_argument("--rows", type=int, default=21_000, help="rows of generated data")
    parser.add_argument("--trees", default="20,200,1000", help="comma-separated tree counts")
    parser.add_argument("--name", default="model-memory", help="bench/results/NAME.md, .json")
    parser.add_argument("--measure", type=Path, help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.measure is not None:
        print(json.dumps(measure(args.measure, sys.stdin.read().strip())))
        return 0
    result = run(args.rows, [int(t) for t in args.trees.split(",")])
    write(result, args.name)
    print((RESULTS / f"{args.name}.md").read_text())
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONDONTWRITEBYTECODE", "1")
    sys.exit(main())

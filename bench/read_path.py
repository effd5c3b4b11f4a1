"""Before/after of the read path (issue 14): list page 1 and trainingRun(id), this
checkout against another one, beside the minimal strawberry ceiling, in one session.

    .venv/bin/python -m bench.read_path --baseline /path/to/checkout-of-main [--db both]

On a machine shared with other work, figures from two sessions are not comparable; the
three servers here (this checkout's API, the baseline checkout's API, the ceiling) run
at once on the same freshly loaded database, and the measurements alternate between
them, repeat after repeat, so drift hits all alike. The baseline runs with this
checkout's interpreter (the same locked dependencies) from its own folder. Written to
bench/results/read-path-<db>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import signal
import subprocess
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx

from bench import data, queries
from bench.load import CONNECTIONS, THREADS, Summary, Wrk, ensure_wrk
from bench.reference import REST_ORIGINAL
from bench.report import RESULTS, machine_info
from bench.run import PAGE1, load_average, log
from bench.server import ceiling_server, free_port, project_server

DETAIL_TARGET_RATIO = 5.0
CEILING_TARGET_RATIO = 0.85


def _commit(repo: Path) -> str:
    done = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"], cwd=repo, capture_output=True, text=True
    )
    return done.stdout.strip() or "?"


def _alternate(
    wrk: Wrk, targets: dict[str, tuple[str, Path]], warmup: float, seconds: float, repeats: int
) -> dict[str, Summary]:
    """Each target warmed up, then measured `repeats` times in turn."""
    for url, script in targets.values():
        wrk.run(url, script, warmup)
    runs: dict[str, list[Any]] = {name: [] for name in targets}
    for _ in range(repeats):
        for name, (url, script) in targets.items():
            runs[name].append(wrk.run(url, script, seconds))
    return {name: Summary.of(results) for name, results in runs.items()}


def measure_backend(db: str, args: argparse.Namespace, wrk_binary: str) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"fst-readpath-{db}-"))
    database_url = ""
    try:
        artifacts = workdir / "artifacts"
        (artifacts / "datasets").mkdir(parents=True)
        if db == "sqlite":
            sqlite_path = workdir / "bench.sqlite3"
            database_url = f"sqlite://{sqlite_path}"
        else:
            database_url = asyncio.run(data.create_postgres_database())
        env = data.project_env(database_url, artifacts, TRAINING_WORKERS="1")
        data.run_cli(["migrate"], env)
        log(f"{db}: loading {args.runs:,} runs")
        if db == "sqlite":
            load = data.load_sqlite(sqlite_path, args.runs)
            probes = data.sqlite_probes(sqlite_path, round(args.runs * 0.9))
            ceiling_target = str(sqlite_path)
        else:
            load = asyncio.run(data.load_postgres(database_url, args.runs))
            probes = asyncio.run(data.postgres_probes(database_url, round(args.runs * 0.9)))
            ceiling_target = database_url
        log(f"{db}: loaded in {load.total_seconds:.0f} s")
        data.run_cli(["createuser", "bench-drh", "--group", "DRH"], env)
        token = data.run_cli(["token", "create", "bench-drh", "--name", "bench"], env).strip()
        scripts = workdir / "wrk"
        scripts.mkdir()
        wrk = Wrk(wrk_binary, scripts)
        servers = {
            "after": project_server(env, free_port(), workdir, name="after"),
            "before": project_server(env, free_port(), workdir, args.baseline, name="before"),
            "ceiling": ceiling_server(ceiling_target, free_port(), workdir),
        }
        for variant in args.variant:  # this checkout with more environment, e.g. a knob off
            name, _, assignment = variant.partition(":")
            key, _, value = assignment.partition("=")
            servers[name] = project_server(env | {key: value}, free_port(), workdir, name=name)
        apis = [name for name in servers if name != "ceiling"]
        detail_vars = {"id": str(probes.detail_id)}
        detail_query = queries.detail_query()
        detail = {"query": detail_query, "variables": detail_vars}
        loads = {"start": load_average()}
        with ExitStack() as stack, httpx.Client(timeout=300) as client:
            for server in servers.values():
                stack.enter_context(server)
                server.start()
            for name in apis:
                url = servers[name].url
                queries.check_page(queries.post(client, url, queries.LIST_PAGE1, None, token))
                run = queries.post(client, url, detail_query, detail_vars, token)
                if run["trainingRun"]["databaseId"] != probes.detail_id:
                    raise RuntimeError(f"{name}: detail query returned {run}")
            queries.check_page(
                queries.post(client, servers["ceiling"].url, queries.LIST_PAGE1, None, None)
            )
            page_script = wrk.script(PAGE1, token)
            page = _alternate(
                wrk,
                {name: (f"{servers[name].url}/graphql", page_script) for name in apis}
                | {"ceiling": (f"{servers['ceiling'].url}/graphql", wrk.script(PAGE1, None))},
                args.warmup,
                args.seconds,
                args.repeats,
            )
            loads["page"] = load_average()
            detail_script = wrk.script(detail, token)
            details = _alternate(
                wrk,
                {name: (f"{servers[name].url}/graphql", detail_script) for name in apis},
                args.warmup,
                args.seconds,
                args.repeats,
            )
            loads["end"] = load_average()
        return {
            "db": db,
            "server_version": probes.server_version,
            "runs": args.runs,
            "page": {name: summary.to_dict() for name, summary in page.items()},
            "detail": {name: summary.to_dict() for name, summary in details.items()},
            "loads": loads,
        }
    finally:
        if db == "postgres" and database_url:
            asyncio.run(data.drop_postgres_database(database_url))
        shutil.rmtree(workdir, ignore_errors=True)


def table(result: dict[str, Any]) -> list[str]:
    page, detail = result["page"], result["detail"]
    ceiling = page["ceiling"]["requests_per_second"]
    rest_detail = REST_ORIGINAL["detail"].requests_per_second
    lines = [
        "| figure | before (main) | after (this branch) | after / before | target | met? |",
        "|---|---|---|---|---|---|",
    ]

    def rps(summary: dict[str, Any]) -> float:
        return float(summary["requests_per_second"])

    b, a = rps(page["before"]), rps(page["after"])
    lines.append(f"| list page 1, 20 runs (req/s) | {b:.0f} | {a:.0f} | {a / b:.3f}x | — | — |")
    lines.append(
        f"| list page 1 / ceiling ({ceiling:.0f} req/s, same run) | {b / ceiling:.3f}x | "
        f"{a / ceiling:.3f}x | — | ≥ {CEILING_TARGET_RATIO}x | "
        f"{'yes' if a / ceiling >= CEILING_TARGET_RATIO else '**NO**'} |"
    )
    for name in ("p50_ms", "p99_ms"):
        lines.append(
            f"| list page 1 {name.replace('_ms', '')} (ms) | {page['before'][name]:.1f} | "
            f"{page['after'][name]:.1f} | — | — | — |"
        )
    b, a = rps(detail["before"]), rps(detail["after"])
    lines.append(
        f"| trainingRun(id), 30 fields (req/s) | {b:.0f} | {a:.0f} | {a / b:.3f}x | "
        f"≥ {DETAIL_TARGET_RATIO * rest_detail:.0f} | "
        f"{'yes' if a >= DETAIL_TARGET_RATIO * rest_detail else '**NO**'} |"
    )
    lines.append(
        f"| trainingRun(id) / REST detail ({rest_detail:.0f} req/s) | {b / rest_detail:.2f}x | "
        f"{a / rest_detail:.2f}x | — | ≥ {DETAIL_TARGET_RATIO}x | — |"
    )
    for name in page:
        if name in ("after", "before", "ceiling"):
            continue
        a, d = rps(page[name]), rps(detail[name])
        lines.append(
            f"| variant `{name}`: page 1 {a:.0f} req/s ({a / ceiling:.3f}x ceiling), "
            f"trainingRun(id) {d:.0f} req/s | | | | | |"
        )
    return lines


def write(result: dict[str, Any], args: argparse.Namespace) -> Path:
    RESULTS.mkdir(exist_ok=True)
    info = machine_info(result["server_version"])
    before, after = _commit(args.baseline), _commit(data.REPO)
    loads = ", ".join(f"{k} {v:.1f}" for k, v in result["loads"].items())
    text = "\n".join(
        [
            f"# Read path before/after: {result['db']}",
            "",
            f"{info['date']} · "
            f"before {before} · after {after} · {result['server_version']} · "
            f"{result['runs']:,} runs",
            "",
            *table(result),
            "",
            f"- Command: `.venv/bin/python -m bench.read_path --db {result['db']} "
            f"--baseline <checkout of {before}> --runs {result['runs']} "
            f"--seconds {args.seconds:g} --repeats {args.repeats}`.",
            f"- wrk {THREADS} threads, {CONNECTIONS} connections, {args.seconds:g} s per "
            f"measurement after a {args.warmup:g} s warm-up, median of {args.repeats}; the "
            "three servers measured in turn each repeat; all share the machine's 2 cores.",
            f"- 1-minute load average: {loads} (other helpers' work competes on this machine).",
        ]
    )
    path = RESULTS / f"read-path-{result['db']}.md"
    path.write_text(text + "\n")
    path.with_suffix(".json").write_text(json.dumps(result | {"machine": info}, indent=2))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.read_path", description=__doc__)
    parser.add_argument("--baseline", type=Path, required=True, help="checkout to compare with")
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--runs", type=int, default=1_000_000)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--warmup", type=float, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        metavar="NAME:VAR=VALUE",
        help="also measure this checkout with VAR=VALUE in its environment",
    )
    args = parser.parse_args(argv)
    args.baseline = args.baseline.resolve()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk_binary = ensure_wrk()
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        result = measure_backend(db, args, wrk_binary)
        path = write(result, args)
        print(path.read_text())
    return 0


if __name__ == "__main__":
    sys.exit(main())

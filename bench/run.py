"""The benchmark, end to end.

    .venv/bin/python -m bench.run [--db sqlite|postgres|both] [--runs N] [--quick]

For each database: a fresh database migrated by the project and filled in bulk; the API
started as production runs it (`main.py serve --no-migrate`, one uvicorn worker, GraphiQL
off, warning logs, 2 training workers) beside the minimal strawberry ceiling app; wrk on
loopback for the read figures, a plain client for trainings; then the table of issue 5's
targets, printed and written to bench/results/. Everything it starts runs in its own
process group and is stopped, and its temp files are removed, whatever happens.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench import data, queries
from bench.load import Summary, Wrk, ensure_wrk
from bench.report import Figures, Row, figures_table, machine_info, text_table, write
from bench.server import ManagedServer, ceiling_server, free_port, project_server
from bench.training import (
    TrainSpec,
    bare_fit_evaluate,
    cancel_and_wait,
    run_states,
    start_background_trainings,
    time_generator,
    train_through_api,
)
from trainer.ml.generator import generate_dataset

REFERENCE_CSV = data.REPO / "tests" / "data" / "rest_original_future_skills_dataset.csv"
LARGE_CSV = "bench-100k.csv"
SMALL_SPEC = TrainSpec("reference.csv", n_estimators=100, max_depth=15, min_samples_split=5)
LARGE_SPEC = TrainSpec(LARGE_CSV, n_estimators=50)
BACKGROUND_SPEC = TrainSpec(LARGE_CSV, n_estimators=300)
GENERATOR_ROWS = 1_000_000
PAGE1 = {"query": queries.LIST_PAGE1}


@dataclass(frozen=True)
class Plan:
    """How long and how often to measure; --quick shrinks everything but the shape."""

    runs: int
    seconds: float
    warmup: float
    repeats: int
    small_trainings: int
    large_trainings: int
    rss_counts: tuple[int, int]
    # Caps that keep a full run near 15 min on a slow or shared machine; the report says
    # how many repeats / requests were actually made.
    train_budget_seconds: float
    rss_budget_seconds: float
    quick: bool = False

    @classmethod
    def make(cls, runs: int, quick: bool) -> Plan:
        if quick:
            return cls(runs, 3, 1, 1, 2, 1, (1_000, 5_000), 60, 20, quick=True)
        return cls(runs, 10, 2, 3, 5, 3, (5_000, 50_000), 180, 120)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def load_average() -> float:
    """1-minute load average: on a shared 2-core machine, other work skews every figure."""
    return float(Path("/proc/loadavg").read_text().split()[0])


def prepare_artifacts(root: Path) -> Path:
    """The server's artifacts folder: reference.csv and a generated 100,000-row dataset."""
    datasets = root / "datasets"
    datasets.mkdir(parents=True)
    shutil.copy(REFERENCE_CSV, datasets / "reference.csv")
    generate_dataset(100_000, 7, datasets / LARGE_CSV)
    return root


def run_backend(db: str, plan: Plan, wrk_binary: str) -> list[Row]:
    """One database, from nothing to the written report; leaves nothing behind."""
    started = time.perf_counter()
    workdir = Path(tempfile.mkdtemp(prefix=f"fst-bench-{db}-"))
    database_url = ""
    try:
        artifacts = prepare_artifacts(workdir / "artifacts")
        if db == "sqlite":
            sqlite_path = workdir / "bench.sqlite3"
            database_url = f"sqlite://{sqlite_path}"
        else:
            database_url = asyncio.run(data.create_postgres_database())
        env = data.project_env(database_url, artifacts)
        log(f"{db}: migrating {database_url}")
        data.run_cli(["migrate"], env)
        log(f"{db}: loading {plan.runs:,} runs in bulk")
        if db == "sqlite":
            load = data.load_sqlite(sqlite_path, plan.runs)
        else:
            load = asyncio.run(data.load_postgres(database_url, plan.runs))
        log(
            f"{db}: data ready in {load.total_seconds:.1f} s (insert {load.insert_seconds:.1f} s, "
            f"indexes {load.index_seconds:.1f} s, ANALYZE {load.analyze_seconds:.1f} s)"
        )
        data.run_cli(["createuser", "bench-drh", "--group", "DRH"], env)
        token = data.run_cli(["token", "create", "bench-drh", "--name", "bench"], env).strip()
        deep = round(plan.runs * 0.9)
        if db == "sqlite":
            probes = data.sqlite_probes(sqlite_path, deep)
            ceiling_target = str(sqlite_path)
        else:
            probes = asyncio.run(data.postgres_probes(database_url, deep))
            ceiling_target = database_url
        info = machine_info(probes.server_version)
        figures = measure(plan, wrk_binary, workdir, env, token, probes, ceiling_target)
        # (h) last, with the servers gone, so it has the machine to itself.
        figures.generator = time_generator(GENERATOR_ROWS, workdir / "generated-1m.csv")
        log(f"generator: {GENERATOR_ROWS:,} rows in {figures.generator['seconds']:.2f} s")
        figures.load = load
        elapsed = time.perf_counter() - started
        rows, notes = figures_table(figures, plan.__dict__, elapsed)
        path = write(
            db, rows, info, notes, figures.raw() | {"plan": plan.__dict__}, quick=plan.quick
        )
        print()
        print(text_table(rows))
        print()
        for note in notes:
            print(f"- {note}")
        log(f"{db}: written {path} and {path.with_suffix('.json')} ({elapsed / 60:.1f} min)")
        return rows
    finally:
        if db == "postgres" and database_url:
            asyncio.run(data.drop_postgres_database(database_url))
        shutil.rmtree(workdir, ignore_errors=True)


@dataclass
class Bench:
    """Both servers up, and the tools to measure them; each method is one group of figures."""

    plan: Plan
    wrk: Wrk
    client: httpx.Client
    api: ManagedServer
    ceiling: ManagedServer
    token: str
    figures: Figures

    def check_api_page1(self) -> None:
        queries.check_page(
            queries.post(self.client, self.api.url, queries.LIST_PAGE1, None, self.token)
        )

    def memory(self) -> None:
        """(g) first, so "after N requests" counts from the server's start."""
        f, plan = self.figures, self.plan
        f.rss_kib["start"] = self.api.rss_kib()
        previous, rate = 0, 0.0
        for target in plan.rss_counts:
            wanted = target - previous
            if f.rss_counts:  # the second segment: capped to the time budget at the rate seen
                wanted = min(wanted, int(rate * plan.rss_budget_seconds))
            result = self.wrk.count(f"{self.api.url}/graphql", PAGE1, self.token, wanted)
            rate = result.requests_per_second
            previous += result.requests
            f.rss_counts.append(previous)
            f.rss_kib[str(previous)] = self.api.rss_kib()
            rss_mib = f.rss_kib[str(previous)] / 1024
            log(f"(g) RSS after {previous:,} list requests: {rss_mib:.1f} MiB")
        f.rss_rate = rate

    def reads(self, probes: data.Probes) -> None:
        """(a) page 1 beside the ceiling, then (b) deep, (c) filtered, (d) detail."""
        f, plan, url = self.figures, self.plan, f"{self.api.url}/graphql"
        f.loads["a"] = load_average()
        queries.check_page(
            queries.post(self.client, self.ceiling.url, queries.LIST_PAGE1, None, None)
        )
        api_script = self.wrk.script(PAGE1, self.token)
        ceiling_script = self.wrk.script(PAGE1, None)
        ceiling_url = f"{self.ceiling.url}/graphql"
        self.wrk.run(url, api_script, plan.warmup)
        self.wrk.run(ceiling_url, ceiling_script, plan.warmup)
        api_runs, ceiling_runs = [], []
        for _ in range(plan.repeats):  # alternating, so drift hits both alike
            api_runs.append(self.wrk.run(url, api_script, plan.seconds))
            ceiling_runs.append(self.wrk.run(ceiling_url, ceiling_script, plan.seconds))
        f.list_page, f.ceiling = Summary.of(api_runs), Summary.of(ceiling_runs)
        self.check_api_page1()
        log(f"(a) page 1: {_describe(f.list_page)}; ceiling: {_describe(f.ceiling)}")

        f.loads["b"] = load_average()
        deep_vars = {"after": probes.deep_after_cursor}
        queries.check_page(
            queries.post(self.client, self.api.url, queries.LIST_AFTER, deep_vars, self.token),
            first_id=probes.deep_first_id,
        )
        f.deep = self._measure(queries.LIST_AFTER, deep_vars)
        log(f"(b) page {probes.deep_offset:,} rows deep: {_describe(f.deep)}")
        filter_vars = {"status": [probes.filtered_status]}
        queries.check_page(
            queries.post(self.client, self.api.url, queries.LIST_FILTERED, filter_vars, self.token),
            status=probes.filtered_status,
        )
        f.filtered = self._measure(queries.LIST_FILTERED, filter_vars)
        log(f"(c) filtered {probes.filtered_status}: {_describe(f.filtered)}")
        detail_vars = {"id": str(probes.detail_id)}
        detail = queries.detail_query()
        run = queries.post(self.client, self.api.url, detail, detail_vars, self.token)
        if not run["trainingRun"] or run["trainingRun"]["databaseId"] != probes.detail_id:
            raise RuntimeError(f"detail query returned {run}")
        f.detail = self._measure(queries.detail_query(), detail_vars)
        log(f"(d) detail ({len(queries.detail_fields())} fields): {_describe(f.detail)}")

    def training(self, datasets: Path) -> None:
        """(e) trainModel end to end vs the bare pipeline, one request at a time."""
        f, plan, budget = self.figures, self.plan, self.plan.train_budget_seconds
        f.loads["e"] = load_average()
        args = (self.client, self.api.url, self.token)
        f.small_api = train_through_api(*args, SMALL_SPEC, plan.small_trainings, 1, budget)
        f.small_bare = bare_fit_evaluate(datasets, SMALL_SPEC, plan.small_trainings, 1, budget)
        log(f"(e) 357 rows: API {f.small_api.median:.3f} s, bare {f.small_bare.median:.3f} s")
        f.large_api = train_through_api(*args, LARGE_SPEC, plan.large_trainings, 0, budget)
        f.large_bare = bare_fit_evaluate(datasets, LARGE_SPEC, plan.large_trainings, 0, budget)
        log(f"(e) 100k rows: API {f.large_api.median:.2f} s, bare {f.large_bare.median:.2f} s")

    def under_training(self) -> None:
        """(f) page 1 while two long trainings fit, started just before the load."""
        f, plan = self.figures, self.plan
        f.loads["f"] = load_average()
        args = (self.client, self.api.url, self.token)
        background = start_background_trainings(*args, BACKGROUND_SPEC, 2)
        script = self.wrk.script(PAGE1, self.token)
        runs = [
            self.wrk.run(f"{self.api.url}/graphql", script, plan.seconds)
            for _ in range(plan.repeats)
        ]
        f.background_states = [s["status"] for s in run_states(*args, background)]
        cancel_and_wait(*args, background)
        f.busy = Summary.of(runs)
        log(f"(f) page 1 during 2 trainings: {_describe(f.busy)} ({f.background_states})")
        f.rss_kib["end"] = self.api.rss_kib()
        f.loads["end"] = load_average()

    def _measure(self, query: str, variables: dict[str, Any]) -> Summary:
        script = self.wrk.script({"query": query, "variables": variables}, self.token)
        plan = self.plan
        return self.wrk.measure(
            f"{self.api.url}/graphql",
            script,
            warmup=plan.warmup,
            seconds=plan.seconds,
            repeats=plan.repeats,
        )


def measure(
    plan: Plan,
    wrk_binary: str,
    workdir: Path,
    env: dict[str, str],
    token: str,
    probes: data.Probes,
    ceiling_target: str,
) -> Figures:
    """Every server-side figure, with both servers up (and always stopped)."""
    scripts = workdir / "wrk"
    scripts.mkdir()
    figures = Figures(probes=probes, loads={"start": load_average()})
    api = project_server(env, free_port(), workdir)
    ceiling = ceiling_server(ceiling_target, free_port(), workdir)
    with api, ceiling, httpx.Client(timeout=900) as client:
        api.start()
        ceiling.start()
        log(f"servers up: api pid {api.pid} on {api.url}, ceiling on {ceiling.url}")
        bench = Bench(plan, Wrk(wrk_binary, scripts), client, api, ceiling, token, figures)
        bench.check_api_page1()
        bench.memory()
        bench.reads(probes)
        bench.training(Path(env["ARTIFACTS_DIR"]) / "datasets")
        bench.under_training()
        figures.api_log_tail = api.log_tail(10)
    return figures


def _describe(summary: Summary) -> str:
    return (
        f"{summary.requests_per_second:,.0f} req/s, p50 {summary.p50_ms:.1f} ms, "
        f"p99 {summary.p99_ms:.1f} ms"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--runs", type=int, default=1_000_000, help="training runs to load")
    parser.add_argument("--quick", action="store_true", help="short runs, 1 repeat")
    parser.add_argument(
        "--history", action="store_true", help="the metrics-history benchmark (bench/history.py)"
    )
    args = parser.parse_args(argv)
    if args.history:
        from bench import history

        return history.main(["--db", args.db, "--runs", str(args.runs)])
    if args.runs < 100:
        parser.error("--runs must be at least 100")
    plan = Plan.make(args.runs, args.quick)
    # `timeout` and friends send SIGTERM: unwind normally so servers and temp files go.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    wrk_binary = ensure_wrk()
    backends = ["sqlite", "postgres"] if args.db == "both" else [args.db]
    for db in backends:
        run_backend(db, plan, wrk_binary)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The metrics-history benchmark (issue 9): trainingMetricsHistory against a bare GROUP BY.

    .venv/bin/python -m bench.history [--db sqlite|postgres|both] [--runs N] [--repeats R]
    (or: .venv/bin/python -m bench.run --history ...)

For each database: a fresh database migrated by the project and filled in bulk with N runs
spread over SPAN_DAYS days (fewer than 1,000, so the whole table's DAY history is one
answer: the main benchmark's four years would be refused as more than 1,000 buckets);
the API started as production runs it; then, each a median of R sequential requests
after one warm-up:

- the whole table's DAY history in UTC through the API (HTTP, auth, GraphQL included),
  and the bare `SELECT date ... GROUP BY` of the same buckets and aggregates run directly
  on the same database, by this process: target API <= 1.5x bare;
- the same in Europe/Paris (the DST offset CASE at work), for information;
- a 30-day window (the newest runs) through the API: target >= 20x faster than the whole
  table (the run-date index at work).

Writes bench/results/history-<db>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import data
from bench.report import write_results
from bench.server import free_port, project_server

SPAN_DAYS = 900
HISTORY = """
query History($bucket: HistoryBucket, $filter: TrainingRunFilter, $timeZone: String) {
  trainingMetricsHistory(bucket: $bucket, filter: $filter, timeZone: $timeZone) {
    start runs completed failed cancelled
    accuracy { min avg max } f1Score { min avg max } trainingDurationSeconds { min avg max }
  }
}"""
_AGGREGATES = (
    "COUNT(*), "
    "SUM(CASE WHEN status = 'COMPLETED' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN status = 'FAILED' THEN 1 ELSE 0 END), "
    "SUM(CASE WHEN status = 'CANCELLED' THEN 1 ELSE 0 END), "
    + ", ".join(
        f"{fn}(CASE WHEN status = 'COMPLETED' THEN {column} END)"
        for column in ("accuracy", "f1_score", "training_duration_seconds")
        for fn in ("MIN", "AVG", "MAX")
    )
)
# The same buckets (UTC days) and aggregates, in each database's own plainest spelling.
BARE_SQL = {
    "sqlite": f"SELECT date(run_date) AS day, {_AGGREGATES} FROM training_run "
    "GROUP BY day ORDER BY day",
    "postgres": f"SELECT date_trunc('day', run_date AT TIME ZONE 'UTC') AS day, {_AGGREGATES} "
    "FROM training_run GROUP BY day ORDER BY day",
}


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def timed(call: Callable[[], Any], repeats: int) -> tuple[float, list[float], Any]:
    """Median seconds of `repeats` calls after one warm-up, every time, and the last answer."""
    answer = call()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        answer = call()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times, answer


def seconds(call: Callable[[], Any]) -> float:
    started = time.perf_counter()
    call()
    return time.perf_counter() - started


def api_history(
    client: httpx.Client, url: str, token: str, **variables: Any
) -> list[dict[str, Any]]:
    response = client.post(
        f"{url}/graphql",
        json={"query": HISTORY, "variables": variables},
        headers={"Authorization": f"Token {token}"},
    )
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise RuntimeError(f"history request failed: {response.status_code} {body}")
    buckets: list[dict[str, Any]] = body["data"]["trainingMetricsHistory"]
    return buckets


def bare_sqlite(path: Path) -> Callable[[], list[Any]]:
    con = sqlite3.connect(path)

    def query() -> list[Any]:
        return con.execute(BARE_SQL["sqlite"]).fetchall()

    return query


def bare_postgres(url: str) -> tuple[Callable[[], list[Any]], Callable[[], None]]:
    loop = asyncio.new_event_loop()
    con = loop.run_until_complete(asyncpg.connect(url.replace("postgres://", "postgresql://", 1)))

    def query() -> list[Any]:
        return loop.run_until_complete(con.fetch(BARE_SQL["postgres"]))

    def close() -> None:
        loop.run_until_complete(con.close())
        loop.close()

    return query, close


def newest_run_date(db: str, target: str) -> datetime:
    sql = "SELECT MAX(run_date) FROM training_run"
    if db == "sqlite":
        con = sqlite3.connect(target)
        try:
            return datetime.fromisoformat(con.execute(sql).fetchone()[0])
        finally:
            con.close()

    async def fetch() -> datetime:
        con = await asyncpg.connect(target.replace("postgres://", "postgresql://", 1))
        try:
            newest: datetime = await con.fetchval(sql)  # asyncpg is untyped
            return newest
        finally:
            await con.close()

    return asyncio.run(fetch())


def run_backend(db: str, runs: int, repeats: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"fst-bench-history-{db}-"))
    database_url = ""
    try:
        artifacts = workdir / "artifacts"
        (artifacts / "datasets").mkdir(parents=True)
        if db == "sqlite":
            sqlite_path = workdir / "bench.sqlite3"
            database_url = f"sqlite://{sqlite_path}"
        else:
            database_url = asyncio.run(data.create_postgres_database())
        env = data.project_env(database_url, artifacts)
        data.run_cli(["migrate"], env)
        log(f"{db}: loading {runs:,} runs over {SPAN_DAYS} days")
        if db == "sqlite":
            load = data.load_sqlite(sqlite_path, runs, span_days=SPAN_DAYS)
        else:
            load = asyncio.run(data.load_postgres(database_url, runs, span_days=SPAN_DAYS))
        log(f"{db}: data ready in {load.total_seconds:.1f} s")
        data.run_cli(["createuser", "bench-drh", "--group", "DRH"], env)
        token = data.run_cli(["token", "create", "bench-drh", "--name", "bench"], env).strip()
        target = str(sqlite_path) if db == "sqlite" else database_url
        newest = newest_run_date(db, target)
        window = {
            "runDateFrom": (newest - timedelta(days=30)).isoformat(),
            "runDateTo": newest.isoformat(),
        }
        close: Callable[[], None] = lambda: None  # noqa: E731
        if db == "sqlite":
            bare = bare_sqlite(sqlite_path)
        else:
            bare, close = bare_postgres(database_url)
        figures: dict[str, Any] = {"database": db, "runs": runs, "span_days": SPAN_DAYS}
        api = project_server(env, free_port(), workdir)
        with api, httpx.Client(timeout=900) as client:
            api.start()
            loads = [data_load_average()]

            def whole(zone: str) -> Callable[[], list[dict[str, Any]]]:
                return lambda: api_history(client, api.url, token, timeZone=zone)

            # Alternated, so a busy moment of the machine hits both alike.
            bare_times: list[float] = []
            api_times: list[float] = []
            bare_rows, api_rows = bare(), whole("UTC")()
            for _ in range(repeats):
                bare_times.append(seconds(bare))
                api_times.append(seconds(whole("UTC")))
            bare_rows, api_rows = bare(), whole("UTC")()
            _check_same(bare_rows, api_rows)
            loads.append(data_load_average())
            paris = timed(whole("Europe/Paris"), repeats)
            window_api = timed(lambda: api_history(client, api.url, token, filter=window), repeats)
            loads.append(data_load_average())
        close()
        figures |= {
            "bare_group_by_seconds": statistics.median(bare_times),
            "api_whole_day_utc_seconds": statistics.median(api_times),
            "api_whole_day_paris_seconds": paris[0],
            "api_30_day_window_seconds": window_api[0],
            "buckets_whole": len(api_rows),
            "buckets_paris": len(paris[2]),
            "buckets_window": len(window_api[2]),
            "runs_in_window": sum(bucket["runs"] for bucket in window_api[2]),
            "raw": {
                "bare": bare_times,
                "api_utc": api_times,
                "api_paris": paris[1],
                "api_window": window_api[1],
            },
            "load_averages": loads,
            "load_seconds": load.total_seconds,
        }
        figures["api_over_bare"] = (
            figures["api_whole_day_utc_seconds"] / figures["bare_group_by_seconds"]
        )
        figures["whole_over_window"] = (
            figures["api_whole_day_utc_seconds"] / figures["api_30_day_window_seconds"]
        )
        _write(db, figures)
        return figures
    finally:
        if db == "postgres" and database_url:
            asyncio.run(data.drop_postgres_database(database_url))
        shutil.rmtree(workdir, ignore_errors=True)


def data_load_average() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


def _check_same(bare_rows: list[Any], api_rows: list[dict[str, Any]]) -> None:
    """A fast wrong answer must not count: the API's buckets are the bare query's."""
    bare_counts = [(int(row[1]), int(row[2])) for row in bare_rows]
    api_counts = [(bucket["runs"], bucket["completed"]) for bucket in api_rows]
    if bare_counts != api_counts:
        raise RuntimeError("the API's buckets differ from the bare GROUP BY's")


def _write(db: str, f: dict[str, Any]) -> None:
    lines = [
        f"# Metrics history benchmark: {db}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {f['runs']:,} runs over "
        f"{f['span_days']} days · medians of {len(f['raw']['api_utc'])} requests",
        "",
        "| figure | seconds | target |",
        "|---|---|---|",
        f"| bare GROUP BY, whole table, UTC days ({f['buckets_whole']} buckets) "
        f"| {f['bare_group_by_seconds']:.3f} | |",
        f"| API, whole table, DAY, UTC | {f['api_whole_day_utc_seconds']:.3f} "
        f"| <= 1.5x bare: **{f['api_over_bare']:.2f}x** |",
        f"| API, whole table, DAY, Europe/Paris ({f['buckets_paris']} buckets) "
        f"| {f['api_whole_day_paris_seconds']:.3f} | |",
        f"| API, 30-day window, DAY, UTC ({f['runs_in_window']:,} runs) "
        f"| {f['api_30_day_window_seconds']:.3f} "
        f"| whole / window >= 20x: **{f['whole_over_window']:.0f}x** |",
        "",
        f"- 1-minute load averages (2 cores): {', '.join(f'{x:.1f}' for x in f['load_averages'])}.",
        "- API figures are end to end (HTTP, token, GraphQL, SQL, buckets) with httpx; the bare "
        "query runs in the benchmark process on its own connection to the same database.",
        "",
    ]
    write_results(f"history-{db}", lines, f)
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.history", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--runs", type=int, default=1_000_000, help="training runs to load")
    parser.add_argument("--repeats", type=int, default=5, help="timed requests per figure")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        run_backend(db, args.runs, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

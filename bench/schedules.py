"""Training schedules across three API processes (issue 25, "Numbers"): every slot of a
one-second cron fires exactly once, and how soon after its slot.

    .venv/bin/python -m bench.schedules [--db sqlite|postgres] [--slots 100] [--tick 1.0]

A fresh database (SQLite file, or a new PostgreSQL database on BENCH_POSTGRES_URL's
server, default postgres://postgres@127.0.0.1:5432/test) and artifacts folder; three `main.py serve`
processes on it, as production runs them (one uvicorn worker each, their own local
training pool, SCHEDULE_TICK_SECONDS as given, default the setting's). One schedule,
`* * * * * *` (6 fields: every second), trains a 1-tree model at each slot as a DRH account
(MAX_ACTIVE_RUNS_PER_USER raised so that no slot is skipped for the quota). Once the
schedule has N slots recorded it is paused, and the first N slots are read from the
database: one row per second with no gap, each FIRED with a run of its own, and no run of
the schedule without its slot; fire time = when a process claimed the slot - the slot.
Writes bench/results/schedules-<db>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from contextlib import ExitStack
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import data
from bench.predictions import graphql, log
from bench.report import write_results
from bench.server import free_port, project_server

SHIPPED = data.REPO / "artifacts" / "datasets" / "future_skills_dataset.csv"
POSTGRES_ADMIN = data.POSTGRES_ADMIN_URL
PROCESSES = 3
CREATE = """
mutation Create($input: CreateTrainingScheduleInput!) {
  createTrainingSchedule(input: $input) { trainingSchedule { id } errors { field message } }
}"""
PAUSE = "mutation Pause($id: ID!) { pauseTrainingSchedule(id: $id) { errors { code } } }"
SLOTS = (
    "SELECT slot_at, claimed_at, claimed_by, outcome, run_id, reason "
    "FROM training_schedule_slot ORDER BY slot_at"
)
RUNS = "SELECT count(*) FROM training_run WHERE schedule_id IS NOT NULL"


def _as_datetime(value: Any) -> datetime:
    return value if isinstance(value, datetime) else datetime.fromisoformat(str(value))


class Database:
    """Where the benchmark reads the slots from: the SQLite file or a PostgreSQL database."""

    def __init__(self, kind: str, workdir: Path) -> None:
        self.kind = kind
        self.sqlite_path = workdir / "bench.sqlite3"
        self.pg_name = f"fst_bench_schedules_{os.getpid()}"

    @property
    def url(self) -> str:
        if self.kind == "sqlite":
            return f"sqlite://{self.sqlite_path}"
        return f"{POSTGRES_ADMIN.rsplit('/', 1)[0]}/{self.pg_name}"

    def create(self) -> None:
        if self.kind == "postgres":
            asyncio.run(self._admin(f'CREATE DATABASE "{self.pg_name}"'))

    def drop(self) -> None:
        if self.kind == "postgres":
            asyncio.run(self._admin(f'DROP DATABASE IF EXISTS "{self.pg_name}" WITH (FORCE)'))

    async def _admin(self, statement: str) -> None:
        connection = await asyncpg.connect(POSTGRES_ADMIN)
        try:
            await connection.execute(statement)
        finally:
            await connection.close()

    def rows(self, query: str) -> list[tuple[Any, ...]]:
        if self.kind == "sqlite":
            with sqlite3.connect(self.sqlite_path, timeout=30) as connection:
                return connection.execute(query).fetchall()
        return asyncio.run(self._rows(query))

    async def _rows(self, query: str) -> list[tuple[Any, ...]]:
        connection = await asyncpg.connect(self.url)
        try:
            return [tuple(row) for row in await connection.fetch(query)]
        finally:
            await connection.close()


def percentile(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def run(kind: str, slot_count: int, tick: float | None) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="fst-bench-schedules-"))
    database = Database(kind, workdir)
    database.create()
    try:
        artifacts = workdir / "artifacts"
        (artifacts / "datasets").mkdir(parents=True)
        shutil.copy(SHIPPED, artifacts / "datasets" / SHIPPED.name)
        settings = {"MAX_ACTIVE_RUNS_PER_USER": "10000", "TRAINING_WORKERS": "1"}
        if tick is not None:
            settings["SCHEDULE_TICK_SECONDS"] = str(tick)
        env = data.project_env(database.url, artifacts, **settings)
        data.run_cli(["migrate"], env)
        data.run_cli(["createuser", "bench-drh", "--group", "DRH"], env)
        token = data.run_cli(["token", "create", "bench-drh", "--name", "bench"], env).strip()
        with ExitStack() as stack:
            servers = [
                stack.enter_context(project_server(env, free_port(), workdir, name=f"api-{index}"))
                for index in range(PROCESSES)
            ]
            for server in servers:
                server.start()
            log(f"{PROCESSES} servers up on {kind}; creating the schedule")
            with httpx.Client(timeout=60) as client:
                created = graphql(
                    client,
                    servers[0].url,
                    token,
                    CREATE,
                    {
                        "input": {
                            "name": "bench",
                            "cron": "* * * * * *",
                            "train": {"hyperparameters": {"nEstimators": 1}},
                        }
                    },
                )["createTrainingSchedule"]
                assert not created["errors"], created["errors"]
                deadline = time.monotonic() + slot_count + 120
                while len(database.rows(SLOTS)) < slot_count:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the slots did not come")
                    time.sleep(1)
                graphql(
                    client, servers[0].url, token, PAUSE, {"id": created["trainingSchedule"]["id"]}
                )
                log("paused; waiting for every claimed slot to be recorded")
                while any(row[3] == "CLAIMED" for row in database.rows(SLOTS)):
                    time.sleep(0.5)
            load = os.getloadavg()[0]
        rows = database.rows(SLOTS)
        scheduled_runs = database.rows(RUNS)[0][0]
    finally:
        database.drop()
        shutil.rmtree(workdir, ignore_errors=True)

    measured = rows[:slot_count]
    slots = [_as_datetime(row[0]) for row in measured]
    expected = [slots[0] + timedelta(seconds=i) for i in range(slot_count)]
    lateness = [(_as_datetime(row[1]) - _as_datetime(row[0])).total_seconds() for row in measured]
    run_ids = [row[4] for row in rows if row[4] is not None]
    return {
        "database": kind,
        "processes": PROCESSES,
        "tick_seconds": tick if tick is not None else "default (1.0)",
        "slots": slot_count,
        "slot_rows": len(measured),
        "consecutive_seconds": slots == expected,
        "fired": sum(1 for row in measured if row[3] == "FIRED"),
        "skipped": [row[5] for row in measured if row[3] == "SKIPPED"],
        "distinct_runs": len(set(run_ids)),
        "slot_rows_all": len(rows),
        "scheduled_runs": scheduled_runs,
        "fired_by": dict(Counter(str(row[2]) for row in measured)),
        "lateness_p50_s": round(percentile(lateness, 50), 3),
        "lateness_p99_s": round(percentile(lateness, 99), 3),
        "lateness_max_s": round(max(lateness), 3),
        "lateness_min_s": round(min(lateness), 3),
        "cpus": os.cpu_count(),
        "load_1min": round(load, 2),
    }


def write(result: dict[str, Any]) -> None:
    every_once = (
        result["consecutive_seconds"]
        and result["fired"] == result["slots"]
        and result["distinct_runs"] == result["slot_rows_all"] == result["scheduled_runs"]
    )
    lines = [
        f"# Training schedules: {result['processes']} API processes, one-second cron "
        f"({result['database']})",
        "",
        f"`python -m bench.schedules --db {result['database']} --slots {result['slots']}`: "
        f"{result['processes']} `main.py serve` processes on one {result['database']} "
        f"database, SCHEDULE_TICK_SECONDS {result['tick_seconds']}, one schedule `* * * * * *` "
        f"training a 1-tree model at each slot; {result['cpus']} CPUs shared with other work "
        f"(load {result['load_1min']} at the end).",
        "",
        "| figure | value | target |",
        "|---|---|---|",
        f"| slots measured (one row each, consecutive seconds) | {result['slot_rows']} "
        f"({'yes' if result['consecutive_seconds'] else 'NO'}) | {result['slots']} |",
        f"| fired (each with a run of its own) | {result['fired']} | {result['slots']} |",
        f"| runs of the schedule / slot rows / distinct runs | {result['scheduled_runs']} / "
        f"{result['slot_rows_all']} / {result['distinct_runs']} | all equal |",
        f"| every slot fired exactly once | {'yes' if every_once else 'NO'} | yes |",
        f"| fire time after the slot, p50 | {result['lateness_p50_s']} s | |",
        f"| fire time after the slot, p99 | {result['lateness_p99_s']} s | ≤ 2 s |",
        f"| fire time after the slot, max (min) | {result['lateness_max_s']} s "
        f"({result['lateness_min_s']} s) | |",
        "",
        "Slots claimed per process: "
        + ", ".join(f"`{name}` {count}" for name, count in sorted(result["fired_by"].items())),
        "",
    ]
    path = write_results(f"schedules-{result['database']}", lines, result)
    print("\n".join(lines))
    log(f"written to {path}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--slots", type=int, default=100)
    parser.add_argument("--tick", type=float, default=None)
    options = parser.parse_args()
    write(run(options.db, options.slots, options.tick))


if __name__ == "__main__":
    main()

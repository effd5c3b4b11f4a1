"""Tags and the audit log at scale (issue 25): page 1 of the run list filtered by tags,
and what one audit entry costs a mutation.

    .venv/bin/python -m bench.audit_tags [--db sqlite|postgres] [--runs N] [--repeats R]

On a freshly loaded database (bench/data.py) with tags on the runs: "common" on half of
them, "tenth" on one in ten, "rare" on one in 10,000:
- page 1 (20 runs, newest first) of `trainingRuns` through its resolver, unfiltered and
  with `tags: {any}` / `{all}` of each kind, and its `totalCount` (medians);
- `resolvers.audit_log.record` (the one INSERT a mutation waits for) beside what
  updateTrainingRun's resolver itself costs, alternated: medians and p99.
Written to bench/results/audit-tags-<db>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import asyncpg

from bench import data
from bench.report import machine_info, write_results
from models.db import apply_migrations, connected

FILTERS: dict[str, dict[str, list[str]] | None] = {
    "none": None,
    "any common (50%)": {"any": ["common"]},
    "any tenth (10%)": {"any": ["tenth"]},
    "any rare (0.01%)": {"any": ["rare"]},
    "all common+tenth (10%)": {"all": ["common", "tenth"]},
    "all tenth+rare (0.01%)": {"all": ["tenth", "rare"]},
}
TAGS_SQL = [
    "INSERT INTO run_tag (run_id, tag) SELECT id, 'common' FROM training_run WHERE id % 2 = 0",
    "INSERT INTO run_tag (run_id, tag) SELECT id, 'tenth' FROM training_run WHERE id % 10 = 0",
    "INSERT INTO run_tag (run_id, tag) SELECT id, 'rare' FROM training_run WHERE id % 10000 = 0",
]


async def timed(work: Callable[[], Awaitable[Any]], repeats: int) -> list[float]:
    await work()  # warm: plans, caches
    seconds = []
    for _ in range(repeats):
        started = time.perf_counter()
        await work()
        seconds.append(time.perf_counter() - started)
    return seconds


def ms(values: list[float], quantile: float = 0.5) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(quantile * len(ordered)))] * 1000, 2)


async def measure(repeats: int) -> dict[str, Any]:
    from resolvers.audit_log import AuditChannel, record
    from resolvers.training_runs import PageSizes, RunFilter, RunOrder, list_training_runs

    sizes = PageSizes(20, 100)
    order = RunOrder("run_date", descending=True)
    pages: dict[str, Any] = {}
    for name, tag_filter in FILTERS.items():
        run_filter = (
            None
            if tag_filter is None
            else RunFilter(tags_any=tag_filter.get("any"), tags_all=tag_filter.get("all"))
        )

        async def page(run_filter: RunFilter | None = run_filter) -> Any:
            return await list_training_runs(sizes, order=order, first=20, run_filter=run_filter)

        connection = await page()
        page_times = await timed(page, repeats)
        count_times = await timed(connection.total_count, max(3, repeats // 5))
        pages[name] = {
            "page_ms": ms(page_times),
            "count_ms": ms(count_times),
            "matches": await connection.total_count(),
            "rows": len(connection.page.rows),
        }
        print(f"{name:28} page {pages[name]['page_ms']:8} ms  count {pages[name]['count_ms']} ms")

    async def entry() -> None:
        await record(
            channel=AuditChannel.GRAPHQL,
            operation="updateTrainingRun",
            actor=None,
            arguments={"id": "1", "notes": "bench", "tags": ["a", "b"]},
            request_id="bench",
            client_address="127.0.0.1",
        )

    from models.run_records import read
    from resolvers.run_tags import update_training_run

    rows, _ = await read("SELECT MIN(id) FROM training_run")
    run_id = int(rows[0][0])

    async def edit() -> None:
        outcome = await update_training_run(None, run_id, notes="bench", tags=["a", "b"])
        assert not outcome.errors, outcome.errors

    # Alternated, so a busy moment of the machine hits both alike.
    audit: list[float] = []
    edits: list[float] = []
    for _ in range(repeats * 5):
        audit += await timed(entry, 10)
        edits += await timed(edit, 10)
    result = {
        "pages": pages,
        "audit_entry_ms": {"median": ms(audit), "p99": ms(audit, 0.99), "n": len(audit)},
        "update_training_run_ms": {"median": ms(edits), "p99": ms(edits, 0.99), "n": len(edits)},
    }
    print(f"audit entry: median {ms(audit)} ms, p99 {ms(audit, 0.99)} ms")
    print(f"updateTrainingRun's own work: median {ms(edits)} ms, p99 {ms(edits, 0.99)} ms")
    return result


async def run(db: str, runs: int, repeats: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-audit-tags-"))
    if db == "sqlite":
        url = f"sqlite://{folder}/bench.sqlite3"
        await apply_migrations(url)
        data.load_sqlite(folder / "bench.sqlite3", runs)
        import sqlite3

        con = sqlite3.connect(folder / "bench.sqlite3", isolation_level=None)
        for sql in TAGS_SQL:
            con.execute(sql)
        con.execute("ANALYZE")
        con.close()
    else:
        url = await data.create_postgres_database()
        await apply_migrations(url)
        await data.load_postgres(url, runs)
        con = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
        for sql in TAGS_SQL:
            await con.execute(sql)
        await con.execute("ANALYZE")
        await con.close()
    try:
        async with connected(url):
            return await measure(repeats)
    finally:
        if db == "postgres":
            await data.drop_postgres_database(url)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--runs", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    started = time.perf_counter()
    figures = asyncio.run(run(args.db, args.runs, args.repeats))
    info = machine_info(args.db)
    rows = [
        f"| {name} | {f['matches']} | {f['page_ms']} | {f['count_ms']} |"
        for name, f in figures["pages"].items()
    ]
    audit = figures["audit_entry_ms"]
    edit = figures["update_training_run_ms"]
    markdown = [
        f"# Tags and audit log: {args.db}, {args.runs:,} runs",
        "",
        f"{info['date']} · {info['nproc']} cores · `python -m bench.audit_tags --db {args.db} "
        f"--runs {args.runs} --repeats {args.repeats}` · {time.perf_counter() - started:.0f} s",
        "",
        "| tag filter | runs matching | page 1 (ms, median) | totalCount (ms, median) |",
        "|---|---|---|---|",
        *rows,
        "",
        f"One audit entry (the INSERT a mutation awaits): median {audit['median']} ms, "
        f"p99 {audit['p99']} ms over {audit['n']} entries; beside it, updateTrainingRun's own "
        f"work (its resolver: a transaction locking the run, notes and tags written): median "
        f"{edit['median']} ms, p99 {edit['p99']} ms (alternated).",
        "",
    ]
    path = write_results(
        f"audit-tags-{args.db}", markdown, {"info": info, "runs": args.runs, **figures}
    )
    print(path)


if __name__ == "__main__":
    main()

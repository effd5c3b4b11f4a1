"""Run search and CSV export at scale (issue 21): TrainingRunFilter.search on its trigram
index against the same search as a scan, and GET /runs/export.csv's throughput and memory.

    .venv/bin/python -m bench.run_search [--db sqlite|postgres|both] [--runs N] [--repeats R]

On one freshly loaded database (bench/data.py) and one server as production runs it:
- page 1 of `trainingRuns(first: 20, filter: {search})` against page 1 without a filter,
  requests alternated so a busy moment hits both alike (medians, and their ratio), for a
  rare term (one run), a day's version prefix, a user's name and a phrase of notes;
- the page-1 statement itself, in the benchmark's process, on the index and as a scan:
  on SQLite `LIKE` over the three columns (what the query would be without the FTS5
  table); on PostgreSQL the same ILIKE statement after the trigram indexes are dropped,
  when the API's page 1 is measured again (the API's own scan);
- the export of every run and of one user's runs: rows/s end to end (HTTP, CSV parsed
  by the client) and the server process's peak RSS while it streams, sampled every 20 ms.
Written to bench/results/run-search-<db>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import functools
import io
import json
import shutil
import signal
import sqlite3
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from bench import data
from bench.history import data_load_average, log
from bench.queries import LIST_FIELDS
from bench.report import machine_info, write_results
from bench.server import ManagedServer, free_port, project_server

PAGE = (
    "query Page($filter: TrainingRunFilter) { trainingRuns(first: 20, filter: $filter) "
    f"{{ nodes {{ {LIST_FIELDS} }} pageInfo {{ hasNextPage endCursor }} }} }}"
)
COUNTED_PAGE = PAGE.replace("pageInfo {", "totalCount pageInfo {")
COLUMNS = ("model_version", "trained_by_username", "notes")
_INDEXED = {
    "sqlite": "SELECT id FROM training_run WHERE id IN (SELECT rowid FROM training_run_search "
    "WHERE training_run_search MATCH ?) ORDER BY run_date DESC, id DESC LIMIT 21",
    "postgres": "SELECT id FROM training_run WHERE ("
    + " OR ".join(f"{c} ILIKE $1" for c in COLUMNS)
    + ") ORDER BY run_date DESC, id DESC LIMIT 21",
}
# SQLite's LIKE ignores ASCII case, as the FTS5 trigram tokenizer does.
_SQLITE_SCAN = (
    "SELECT id FROM training_run WHERE ("
    + " OR ".join(f"{c} LIKE ?1" for c in COLUMNS)
    + ") ORDER BY run_date DESC, id DESC LIMIT 21"
)
_SQLITE_COUNT = "SELECT count(*) FROM training_run_search WHERE training_run_search MATCH ?"
_POSTGRES_COUNT = (
    "SELECT count(*) FROM training_run WHERE ("
    + " OR ".join(f"{c} ILIKE $1" for c in COLUMNS)
    + ")"
)


def terms(db: str, target: str) -> dict[str, str]:
    """What people type: one run's id suffix, a day of versions, a user, words of notes,
    and a bad case: a year's versions two years back (a quarter of the runs, none among
    the newest half), so the ordered read goes far before it fills a page."""
    sql = "SELECT model_version FROM training_run ORDER BY id LIMIT 1 OFFSET {}"
    if db == "sqlite":
        con = sqlite3.connect(target)
        count = con.execute("SELECT max(id) FROM training_run").fetchone()[0]
        middle, old = (con.execute(sql.format(n)).fetchone()[0] for n in (count // 2, count // 8))
        con.close()
    else:
        middle, old = asyncio.run(_postgres_versions(target, sql))
    day = middle.split("-")[0]  # v20251206
    return {
        "rare: one run's id suffix": middle.rsplit("-", 1)[1].upper(),
        f"a day's versions: {day}": day,
        "a user: ines": "ines",
        "notes: hr export": "HR export",
        f"a year two years back: {old[:5]}": old[:5],
    }


async def _postgres_versions(url: str, sql: str) -> tuple[str, str]:
    con = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))
    try:
        count = await con.fetchval("SELECT max(id) FROM training_run")
        return (
            await con.fetchval(sql.format(count // 2)),
            await con.fetchval(sql.format(count // 8)),
        )
    finally:
        await con.close()


def page1(
    client: httpx.Client, url: str, token: str, search: str | None, *, counted: bool = False
) -> list[int]:
    variables = {"filter": {"search": search}} if search else {}
    response = client.post(
        f"{url}/graphql",
        json={"query": COUNTED_PAGE if counted else PAGE, "variables": variables},
        headers={"Authorization": f"Token {token}"},
    )
    body = response.json()
    if response.status_code != 200 or "errors" in body:
        raise RuntimeError(f"page 1 failed: {response.status_code} {body}")
    return [node["databaseId"] for node in body["data"]["trainingRuns"]["nodes"]]


def alternated(calls: dict[str, Callable[[], Any]], repeats: int) -> dict[str, list[float]]:
    """Seconds of each call, `repeats` times in turn, after one warm-up call each."""
    for call in calls.values():
        call()
    times: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, call in calls.items():
            started = time.perf_counter()
            call()
            times[name].append(time.perf_counter() - started)
    return times


class BareSql:
    """The page-1 statement in the benchmark's own process, on its own connection."""

    def __init__(self, db: str, target: str) -> None:
        self.db = db
        self.loop = asyncio.new_event_loop()
        if db == "sqlite":
            self.sqlite = sqlite3.connect(target)
        else:
            self.pg = self.loop.run_until_complete(
                asyncpg.connect(target.replace("postgres://", "postgresql://", 1))
            )

    def indexed(self, term: str) -> list[int]:
        if self.db == "sqlite":
            phrase = '"' + term.replace('"', '""') + '"'
            return [r[0] for r in self.sqlite.execute(_INDEXED["sqlite"], (phrase,))]
        return self._pg(_INDEXED["postgres"], f"%{term}%")

    def scan(self, term: str) -> list[int]:
        if self.db == "sqlite":
            return [r[0] for r in self.sqlite.execute(_SQLITE_SCAN, (f"%{term}%",))]
        return self._pg(_INDEXED["postgres"], f"%{term}%")  # run after the indexes are dropped

    def matches(self, term: str) -> int:
        if self.db == "sqlite":
            phrase = '"' + term.replace('"', '""') + '"'
            return int(self.sqlite.execute(_SQLITE_COUNT, (phrase,)).fetchone()[0])
        return int(self.loop.run_until_complete(self.pg.fetchval(_POSTGRES_COUNT, f"%{term}%")))

    def execute(self, sql: str) -> None:
        self.loop.run_until_complete(self.pg.execute(sql))

    def _pg(self, sql: str, pattern: str) -> list[int]:
        """Planned with the pattern, as the API's search statements are (not a cached
        generic plan)."""

        async def fetch() -> list[Any]:
            statement = await self.pg.prepare(sql, name=False)
            rows: list[Any] = await statement.fetch(pattern)  # asyncpg Records (untyped)
            return rows

        return [row[0] for row in self.loop.run_until_complete(fetch())]

    def close(self) -> None:
        if self.db == "sqlite":
            self.sqlite.close()
        else:
            self.loop.run_until_complete(self.pg.close())
        self.loop.close()


def export(client: httpx.Client, api: ManagedServer, token: str, run_filter: Any) -> dict[str, Any]:
    """One export streamed to the end: rows, bytes, seconds, the server's RSS before and at
    its peak (sampled every 20 ms from another thread)."""
    before = api.rss_kib()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], api.rss_kib())
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    params = {"filter": json.dumps(run_filter)} if run_filter else {}
    started = time.perf_counter()
    size = 0
    text = io.StringIO()
    with client.stream(
        "GET",
        f"{api.url}/runs/export.csv",
        params=params,
        headers={"Authorization": f"Token {token}"},
    ) as response:
        if response.status_code != 200:
            raise RuntimeError(f"export failed: {response.status_code} {response.read()!r}")
        rows = 0
        for chunk in response.iter_text():
            size += len(chunk)
            text.write(chunk)
            if text.tell() > 1 << 20:  # parse and forget: the client holds little too
                rows += _rows(text, keep_tail=True)
        rows += _rows(text, keep_tail=False)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    return {
        "rows": rows - 1,  # the header
        "bytes": size,
        "seconds": seconds,
        "rows_per_second": (rows - 1) / seconds,
        "rss_before_kib": before,
        "rss_peak_kib": peak[0],
    }


def _rows(buffer: io.StringIO, *, keep_tail: bool) -> int:
    """CSV records in `buffer` (all, or all but an unfinished last line), which is emptied
    of what it counted. Notes hold no newline in the benchmark's data."""
    content = buffer.getvalue()
    cut = content.rfind("\n") + 1 if keep_tail else len(content)
    count = sum(1 for _ in csv.reader(io.StringIO(content[:cut], newline="")))
    buffer.seek(0)
    buffer.truncate()
    buffer.write(content[cut:])
    return count


def run_backend(db: str, runs: int, repeats: int) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"fst-bench-search-{db}-"))
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
        log(f"{db}: loading {runs:,} runs")
        if db == "sqlite":
            load = data.load_sqlite(sqlite_path, runs)
        else:
            load = asyncio.run(data.load_postgres(database_url, runs))
        log(f"{db}: data ready in {load.total_seconds:.1f} s")
        data.run_cli(["createuser", "bench-drh", "--group", "DRH"], env)
        token = data.run_cli(["token", "create", "bench-drh", "--name", "bench"], env).strip()
        target = str(sqlite_path) if db == "sqlite" else database_url
        searches = terms(db, target)
        bare = BareSql(db, target)
        f: dict[str, Any] = {"database": db, "runs": runs, "load": load.__dict__, "terms": {}}
        loads = [data_load_average()]
        api = project_server(env, free_port(), workdir)
        with api, httpx.Client(timeout=1800) as client:
            api.start()
            f["rss_idle_kib"] = api.rss_kib()
            for label, term in searches.items():
                log(f"{db}: page 1 for {label!r}")
                ids = page1(client, api.url, token, term)
                if ids != bare.indexed(term)[:20]:
                    raise RuntimeError(f"the API's page differs from the statement's: {term}")
                times = alternated(
                    {
                        "plain": lambda: page1(client, api.url, token, None),
                        "search": functools.partial(page1, client, api.url, token, term),
                        "search_counted": functools.partial(
                            page1, client, api.url, token, term, counted=True
                        ),
                        "sql_indexed": functools.partial(bare.indexed, term),
                    },
                    repeats,
                )
                if db == "sqlite":
                    if bare.scan(term) != bare.indexed(term):
                        raise RuntimeError(f"the scan finds other runs than the index: {term}")
                    times |= alternated({"sql_scan": functools.partial(bare.scan, term)}, repeats)
                f["terms"][label] = {"term": term, "matches": bare.matches(term), "raw": times}
            loads.append(data_load_average())
            log(f"{db}: exports")
            f["export_all"] = export(client, api, token, None)
            f["export_user"] = export(client, api, token, {"search": "ines"})
            day = next(term for label, term in searches.items() if label.startswith("a day"))
            f["export_day"] = export(client, api, token, {"search": day})
            loads.append(data_load_average())
            if db == "postgres":
                log(f"{db}: the same searches with the trigram indexes dropped")
                for column in COLUMNS:
                    bare.execute(f"DROP INDEX run_search_{column}")
                for label, term in searches.items():
                    times = alternated(
                        {
                            "api_scan": functools.partial(page1, client, api.url, token, term),
                            "sql_scan": functools.partial(bare.scan, term),
                        },
                        max(3, repeats // 3),
                    )
                    f["terms"][label]["raw"] |= times
                loads.append(data_load_average())
        bare.close()
        for figures in f["terms"].values():
            figures["median_ms"] = {
                name: statistics.median(values) * 1000 for name, values in figures["raw"].items()
            }
        f["load_averages"] = loads
        f["machine"] = machine_info(db)  # the versions are in the load report
        _write(db, f, repeats)
        return f
    finally:
        if db == "postgres" and database_url:
            asyncio.run(data.drop_postgres_database(database_url))
        shutil.rmtree(workdir, ignore_errors=True)


def _ms(value: float | None) -> str:
    return "—" if value is None else f"{value:.1f}"


def _write(db: str, f: dict[str, Any], repeats: int) -> None:
    scan_note = (
        "SQLite: the statement with `LIKE '%term%'` on the three columns (no FTS5 table); "
        "'on the index' is the statement on the FTS5 table alone (the API takes the "
        "ordered LIKE once the FTS5 table holds 5,000 matches: models/run_search.py)"
        if db == "sqlite"
        else "PostgreSQL: the API and the statement after `DROP INDEX run_search_*`; "
        "statements planned with their term, as the API's are"
    )
    lines = [
        f"# Run search and CSV export: {db}",
        "",
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} · {f['runs']:,} runs · "
        f"medians of {repeats} requests, alternated",
        "",
        "| search | runs matched | API page 1, no filter (ms) | API page 1, search (ms) "
        "| ratio | with totalCount (ms) | statement on the index (ms) "
        "| statement as a scan (ms) | API page 1, index dropped (ms) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for label, t in f["terms"].items():
        m = t["median_ms"]
        lines.append(
            f"| {label} (`{t['term']}`) | {t['matches']:,} | {_ms(m['plain'])} "
            f"| {_ms(m['search'])} | **{m['search'] / m['plain']:.2f}x** "
            f"| {_ms(m['search_counted'])} | {_ms(m['sql_indexed'])} "
            f"| {_ms(m.get('sql_scan'))} | {_ms(m.get('api_scan'))} |"
        )
    lines += ["", "| export | rows | seconds | rows/s | MB | server RSS before → peak (MiB) |"]
    lines.append("|---|---|---|---|---|---|")
    for label, key in (
        ("every run", "export_all"),
        ("search `ines` (many matches)", "export_user"),
        ("search of a day's versions (few matches)", "export_day"),
    ):
        e = f[key]
        lines.append(
            f"| {label} | {e['rows']:,} | {e['seconds']:.1f} | **{e['rows_per_second']:,.0f}** "
            f"| {e['bytes'] / 1e6:.0f} | {e['rss_before_kib'] / 1024:.1f} → "
            f"**{e['rss_peak_kib'] / 1024:.1f}** |"
        )
    load = f["load"]
    lines += [
        "",
        f"- Data: bench/data.py, loaded in {sum(load.values()) - load['rows']:.0f} s "
        f"(insert {load['insert_seconds']:.0f} s, indexes {load['index_seconds']:.0f} s "
        "including the search index, ANALYZE "
        f"{load['analyze_seconds']:.0f} s).",
        "- API figures: end to end with httpx (HTTP, token, GraphQL, SQL), page 1 of 20 runs "
        "with the list's fields, newest first; the ratio is search over no filter, measured "
        "in turn in the same run.",
        f"- Scan: {scan_note}; the index and the scan return the same runs (checked).",
        "- Export: GET /runs/export.csv streamed to the end and parsed by the client; RSS is "
        "the uvicorn process's VmRSS sampled every 20 ms (idle after start: "
        f"{f['rss_idle_kib'] / 1024:.1f} MiB).",
        f"- 1-minute load averages (2 cores): {', '.join(f'{x:.1f}' for x in f['load_averages'])}.",
        "",
    ]
    write_results(f"run-search-{db}", lines, f)
    print("\n".join(lines), flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.run_search", description=__doc__)
    parser.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--runs", type=int, default=1_000_000, help="training runs to load")
    parser.add_argument("--repeats", type=int, default=15, help="timed requests per figure")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for db in ["sqlite", "postgres"] if args.db == "both" else [args.db]:
        run_backend(db, args.runs, args.repeats)
    return 0


if __name__ == "__main__":
    sys.exit(main())

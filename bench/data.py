"""The benchmark's database: a fresh one, migrated by the project, then filled in bulk.

Runs are inserted directly (never through training) because a million real trainings
would take weeks; rows still look like what the job code writes (same columns, same
JSON shapes, same date format), so the server reads realistic widths and distributions.
The list indexes are dropped during the load and rebuilt from their own definitions:
building an index once over sorted input is several times faster than maintaining twelve
of them row by row, and the definitions are checked to come back identical.
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import orjson

from trainer.ml.dataset import FEATURE_COLUMNS

REPO = Path(__file__).resolve().parent.parent
PYTHON = REPO / ".venv" / "bin" / "python"
# A PostgreSQL whose role may create databases: each benchmark makes its own and drops it.
POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/test")

# Column order of every generated row, as in the training_run table.
RUN_COLUMNS: tuple[str, ...] = (
    "id",
    "run_date",
    "started_at",
    "finished_at",
    "heartbeat_at",
    "worker",
    "cancel_requested",
    "model_version",
    "model_path",
    "model_sha256",
    "dataset_path",
    "dataset_sha256",
    "status",
    "stage",
    "progress",
    "error_message",
    "accuracy",
    "precision",
    "recall",
    "f1_score",
    "training_duration_seconds",
    "total_samples",
    "train_samples",
    "test_samples",
    "dropped_rows",
    "per_class_metrics",
    "confusion_matrix",
    "feature_importance",
    "features_used",
    "test_split",
    "random_state",
    "n_estimators",
    "max_depth",
    "min_samples_split",
    "min_samples_leaf",
    "class_weight",
    "notes",
    "trained_by_id",
)
_DATETIME_COLUMNS = frozenset({"run_date", "started_at", "finished_at", "heartbeat_at"})
_CHUNK = 50_000
# As trainModel does (and migration 0003 for older rows): each run keeps its trainer's name.
_FILL_USERNAMES = (
    "UPDATE training_run SET trained_by_username = "
    "(SELECT username FROM auth_user WHERE auth_user.id = training_run.trained_by_id)"
)
USER_COUNT = 50

_FEATURES = FEATURE_COLUMNS  # the columns the trainer reads, in its order
_FIRST = [
    "alice",
    "bruno",
    "chloe",
    "david",
    "emma",
    "farid",
    "gina",
    "hugo",
    "ines",
    "jules",
    "karim",
    "lea",
    "marc",
    "nora",
]
_LAST = [
    "martin",
    "bernard",
    "dubois",
    "thomas",
    "robert",
    "petit",
    "durand",
    "leroy",
    "moreau",
    "simon",
]
_NOTES = (
    "quarterly refresh",
    "retrain after the HR export fix",
    "trying deeper trees for the IT department",
    "baseline for the 2025 workforce plan",
    "compare with last month's model before publishing",
)
_ERRORS = (
    "the dataset 'exports/hr-2024-q2.csv' has no 'future_need_level' column, which must "
    "hold the need level to learn (LOW, MEDIUM or HIGH)",
    "worker lost: train-02:4121 sent no heartbeat for 30 s (killed, crashed or restarted)",
    "not enough memory to train this model; try fewer trees, a smaller maximum depth or a "
    "smaller dataset",
    "the dataset 'exports/legacy.csv' does not exist",
    "all 12 usable rows have the same need level (MEDIUM); training needs rows of at "
    "least two of the levels LOW, MEDIUM and HIGH",
)


@dataclass(frozen=True)
class _DatasetKind:
    path: str
    rows: int
    classes: tuple[str, ...]
    sha256: str = field(default_factory=lambda: os.urandom(32).hex())


_DATASETS = (
    _DatasetKind("future_skills_dataset.csv", 1_200, ("LOW", "MEDIUM", "HIGH")),
    _DatasetKind("reference.csv", 357, ("MEDIUM", "HIGH")),
    _DatasetKind("exports/hr-2023-q4.csv", 4_800, ("LOW", "MEDIUM", "HIGH")),
    _DatasetKind("exports/hr-2024-q1.csv", 5_100, ("LOW", "MEDIUM", "HIGH")),
    _DatasetKind("exports/hr-2024-q2.csv", 5_350, ("LOW", "MEDIUM", "HIGH")),
    _DatasetKind("exports/hr-2024-q3.csv", 5_900, ("LOW", "MEDIUM", "HIGH")),
    _DatasetKind("generated/bench-100k.csv", 100_000, ("LOW", "MEDIUM", "HIGH")),
    _DatasetKind("generated/group-wide-1m.csv", 1_000_000, ("LOW", "MEDIUM", "HIGH")),
)
_DATASET_WEIGHTS = np.array([0.25, 0.05, 0.15, 0.15, 0.15, 0.15, 0.08, 0.02])


@dataclass(frozen=True)
class LoadReport:
    rows: int
    insert_seconds: float
    index_seconds: float
    analyze_seconds: float

    @property
    def total_seconds(self) -> float:
        return self.insert_seconds + self.index_seconds + self.analyze_seconds


def _users(now: datetime) -> list[tuple[Any, ...]]:
    """(id, username, date_joined, groups) of the people who trained the runs."""
    users = []
    for i in range(USER_COUNT):
        name = f"{_FIRST[i % len(_FIRST)]}.{_LAST[i // len(_FIRST) % len(_LAST)]}{i // 140 or ''}"
        group = "MANAGER" if i % 10 == 9 else ("RESPONSABLE_RH" if i % 4 == 3 else "DRH")
        users.append((i + 1, name, now - timedelta(days=1500 - i * 7), group))
    return users


def sqlite_dates(epoch_us: np.ndarray) -> list[Any]:
    """Dates as the server's SQLite writes store them: text, UTC, always with microseconds."""
    text = np.datetime_as_string(epoch_us.astype("datetime64[us]"), unit="us").tolist()
    return [t.replace("T", " ") + "+00:00" for t in text]


def postgres_dates(epoch_us: np.ndarray) -> list[Any]:
    """Dates as asyncpg's COPY wants them for timestamptz: aware datetimes."""
    naive = epoch_us.astype("datetime64[us]").astype(object).tolist()
    return [moment.replace(tzinfo=UTC) for moment in naive]


def generate_runs(
    count: int,
    dates: Callable[[np.ndarray], list[Any]],
    seed: int = 7,
    span_days: int = 4 * 365,
) -> Iterator[list[tuple[Any, ...]]]:
    """Chunks of `count` training-run rows in RUN_COLUMNS order, oldest first.

    Built column by column with numpy, then zipped into rows: a million rows of 38
    columns in seconds rather than minutes. `dates` turns epoch microseconds into what
    the database driver takes.

    Almost every stored run is final: QUEUED and RUNNING only last while a worker has
    them, and a server that starts re-queues the queued ones and reaps running ones
    whose heartbeat is stale. So only the newest four rows are active (two of each): the
    server's start-up recovery handles them in milliseconds (their dataset is missing,
    their worker long gone), and the benchmark measures a quiet server.
    """
    rng = np.random.default_rng(seed)
    end_us = (int(time.time()) - 3600) * 1_000_000
    span_us = span_days * 86_400 * 1_000_000
    # Microseconds never 0: the stored text must always carry the fraction, as the
    # server's own writes almost always do, so that text comparison orders dates right.
    run_us = np.sort(rng.integers(end_us - span_us, end_us, count)) // 1_000_000 * 1_000_000
    run_us += rng.integers(1, 1_000_000, count)
    for chunk_start in range(0, count, _CHUNK):
        chunk_end = min(count, chunk_start + _CHUNK)
        yield _chunk(rng, chunk_start, run_us[chunk_start:chunk_end], count, dates)


def _chunk(
    rng: np.random.Generator,
    first_index: int,
    run_us: np.ndarray,
    count: int,
    dates: Callable[[np.ndarray], list[Any]],
) -> list[tuple[Any, ...]]:
    n = run_us.size
    ids = np.arange(first_index + 1, first_index + n + 1)
    draw = rng.random(n)
    status = np.where(draw < 0.92, "COMPLETED", np.where(draw < 0.97, "FAILED", "CANCELLED"))
    from_end = count - ids + 1
    status = np.where(from_end <= 4, "RUNNING", status)
    status = np.where(from_end <= 2, "QUEUED", status)
    queued = status == "QUEUED"
    completed = status == "COMPLETED"
    failed = status == "FAILED"
    final = ~queued & (status != "RUNNING")
    imported = completed & (rng.random(n) < 0.01)  # REST-era rows: accuracy only
    full = completed & ~imported

    dataset_idx = rng.choice(len(_DATASETS), n, p=_DATASET_WEIGHTS)
    total = np.array([d.rows for d in _DATASETS])[dataset_idx]
    trees = rng.choice([50, 100, 100, 200, 200, 200, 300, 500], n)
    split = rng.choice([0.2, 0.2, 0.2, 0.2, 0.25, 0.3, 0.1], n)
    test = np.ceil(split * total).astype(np.int64)
    duration = 0.05 + trees * total * 2.5e-6 * rng.lognormal(0.0, 0.3, n)
    started_us = run_us + rng.integers(10_000, 5_000_000, n)
    finished_us = started_us + (duration * 1e6).astype(np.int64)
    accuracy = np.clip(rng.normal(0.9, 0.05, n), 0.45, 1.0)
    precision = np.clip(accuracy + rng.normal(0.005, 0.01, n), 0.0, 1.0)
    f1 = np.clip(accuracy - np.abs(rng.normal(0.004, 0.006, n)), 0.0, 1.0)
    importance = rng.dirichlet(np.linspace(3.0, 0.4, len(_FEATURES)), n)
    users = rng.choice(USER_COUNT, n, p=_USER_WEIGHTS) + 1
    error_idx = rng.integers(0, len(_ERRORS), n)
    loading_error = np.isin(error_idx, (0, 3, 4))
    note_idx = rng.integers(0, len(_NOTES) * 7, n)
    sha_hex = rng.bytes(32 * n).hex()

    run_dates = dates(run_us)
    started = dates(started_us)
    finished = dates(finished_us)
    compact = np.datetime_as_string((run_us // 1_000_000).astype("datetime64[s]")).tolist()
    versions = [
        f"v{t[0:4]}{t[5:7]}{t[8:10]}-{t[11:13]}{t[14:16]}{t[17:19]}-{i:07x}"
        for t, i in zip(compact, ids.tolist(), strict=True)
    ]
    paths = [d.path for d in _DATASETS]
    shas = [d.sha256 for d in _DATASETS]
    per_class: list[str | None] = [None] * n
    confusion: list[str | None] = [None] * n
    importances: list[str | None] = [None] * n
    accuracy_list, f1_list = accuracy.tolist(), f1.tolist()
    for i in np.flatnonzero(full).tolist():
        classes = _DATASETS[dataset_idx[i]].classes
        per_class[i] = _per_class(classes, int(test[i]), accuracy_list[i], f1_list[i])
        confusion[i] = _confusion(classes, int(test[i]), accuracy_list[i])
        importances[i] = _importance(importance[i])
    stage = np.where(
        completed, "SAVING", np.where(failed & loading_error, "LOADING_DATA", "FITTING")
    )
    progress = np.select(
        [completed, failed & loading_error, failed, status == "CANCELLED"],
        [1.0, 0.0, 0.3, 0.55],
        0.42,
    )
    max_depth = rng.choice([-1, -1, 10, 15, 20, 30], n)
    class_weight = rng.choice(["balanced"] * 6 + ["balanced_subsample", ""], n)
    columns: dict[str, list[Any]] = {
        "id": ids.tolist(),
        "run_date": run_dates,
        "started_at": _where(~queued, started),
        "finished_at": _where(final, finished),
        # A running run's last heartbeat is long past: the reaper fails it at start-up.
        "heartbeat_at": _where(~queued, finished),
        "worker": _where(~queued, [_WORKERS[i % len(_WORKERS)] for i in users.tolist()]),
        "cancel_requested": (status == "CANCELLED").tolist(),
        "model_version": versions,
        "model_path": _where(completed, [f"models/{v}.joblib" for v in versions]),
        "model_sha256": _where(full, [sha_hex[64 * i : 64 * i + 64] for i in range(n)]),
        "dataset_path": _where(
            ~queued, [paths[i] for i in dataset_idx.tolist()], "bench-missing.csv"
        ),
        "dataset_sha256": _where(
            full | (failed & ~loading_error) | (status == "CANCELLED"),
            [shas[i] for i in dataset_idx.tolist()],
        ),
        "status": status.tolist(),
        "stage": _where(~queued, stage.tolist()),
        "progress": np.where(queued, 0.0, progress).tolist(),
        "error_message": _where(failed, [_ERRORS[i] for i in error_idx.tolist()]),
        "accuracy": _where(completed, accuracy.tolist()),
        "precision": _where(full, precision.tolist()),
        "recall": _where(full, accuracy.tolist()),
        "f1_score": _where(full, f1.tolist()),
        "training_duration_seconds": _where(full, duration.tolist()),
        "total_samples": _where(completed, total.tolist()),
        "train_samples": _where(completed, (total - test).tolist()),
        "test_samples": _where(completed, test.tolist()),
        "dropped_rows": _where(completed, [0] * n),
        "per_class_metrics": per_class,
        "confusion_matrix": confusion,
        "feature_importance": importances,
        "features_used": _where(completed, [_FEATURES_JSON] * n),
        "test_split": split.tolist(),
        "random_state": np.where(rng.random(n) < 0.8, 42, rng.integers(0, 10_000, n)).tolist(),
        "n_estimators": trees.tolist(),
        "max_depth": [None if d < 0 else d for d in max_depth.tolist()],
        "min_samples_split": rng.choice([2, 2, 2, 5, 10], n).tolist(),
        "min_samples_leaf": rng.choice([1, 1, 1, 2, 4], n).tolist(),
        "class_weight": [c or None for c in class_weight.tolist()],
        "notes": np.where(
            imported,
            "imported from the REST API",
            [_NOTES[i] if i < len(_NOTES) else "" for i in note_idx.tolist()],
        ).tolist(),
        "trained_by_id": _where(rng.random(n) >= 0.005, users.tolist()),
    }
    return list(zip(*(columns[name] for name in RUN_COLUMNS), strict=True))


def _where(mask: np.ndarray, values: list[Any], otherwise: Any = None) -> list[Any]:
    return [v if m else otherwise for v, m in zip(values, mask.tolist(), strict=True)]


_USER_WEIGHTS = 1.0 / np.arange(1, USER_COUNT + 1) ** 0.8
_USER_WEIGHTS /= _USER_WEIGHTS.sum()
_WORKERS = [f"train-{n:02d}:{pid}" for n in range(1, 5) for pid in (4121, 5377, 7010)]


_FEATURES_JSON = orjson.dumps(list(_FEATURES)).decode()


def _per_class(classes: tuple[str, ...], test: int, accuracy: float, f1: float) -> str:
    share = 1.0 / len(classes)
    metrics = [
        {
            "label": label,
            "precision": float(min(1.0, accuracy + 0.013 * k - 0.01)),
            "recall": float(min(1.0, accuracy - 0.011 * k + 0.008)),
            "f1_score": float(min(1.0, f1 + 0.002 * k)),
            "support": round(test * share),
        }
        for k, label in enumerate(classes)
    ]
    return orjson.dumps(metrics).decode()


def _confusion(classes: tuple[str, ...], test: int, accuracy: float) -> str:
    """A plausible matrix: the misses spread over the other classes."""
    k = len(classes)
    support = test // k
    miss = round(support * (1.0 - accuracy))
    off = [miss // (k - 1) + (1 if j < miss % (k - 1) else 0) for j in range(k - 1)]
    matrix = [
        [support - miss if r == c else off[(c - r - 1) % k % (k - 1)] for c in range(k)]
        for r in range(k)
    ]
    return orjson.dumps({"labels": list(classes), "matrix": matrix}).decode()


def _importance(weights: np.ndarray) -> str:
    order = np.argsort(-weights)
    return orjson.dumps({_FEATURES[j]: float(weights[j]) for j in order}).decode()


# --- project commands -----------------------------------------------------------------
def project_env(database_url: str, artifacts: Path, **extra: str) -> dict[str, str]:
    """The environment the project's CLI and server run with in this benchmark."""
    env = dict(os.environ)
    env.update(
        DATABASE_URL=database_url,
        ARTIFACTS_DIR=str(artifacts),
        LOG_LEVEL="warning",
        GRAPHIQL="false",
        TRAINING_WORKERS="2",
    )
    env.update(extra)
    return env


def run_cli(args: list[str], env: dict[str, str], timeout: float = 300) -> str:
    """Run `main.py ARGS` and return its stdout; a failure stops the benchmark."""
    done = subprocess.run(
        [str(PYTHON), "main.py", *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"main.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


# --- SQLite ---------------------------------------------------------------------------
def load_sqlite(path: Path, count: int, span_days: int = 4 * 365) -> LoadReport:
    """Fill a migrated SQLite file: users, then `count` runs in big transactions."""
    con = sqlite3.connect(path, isolation_level=None)
    try:
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("PRAGMA cache_size=-524288")  # 512 MiB for the index builds
        con.execute("PRAGMA temp_store=MEMORY")
        con.execute("PRAGMA threads=2")
        started = time.perf_counter()
        groups = dict(con.execute("SELECT name, id FROM auth_group"))
        now = datetime.now(UTC)
        con.execute("BEGIN")
        for user_id, name, joined, group in _users(now):
            con.execute(
                "INSERT INTO auth_user (id, username, password_hash, is_active, is_superuser, "
                "date_joined, last_login) VALUES (?, ?, NULL, 1, 0, ?, NULL)",
                (user_id, name, f"{joined:%Y-%m-%d %H:%M:%S.%f}+00:00"),
            )
            con.execute(
                "INSERT INTO auth_user_groups (auth_user_id, group_id) VALUES (?, ?)",
                (user_id, groups[group]),
            )
        con.execute("COMMIT")
        indexes = _sqlite_indexes(con)
        for name in indexes:
            con.execute(f'DROP INDEX "{name}"')
        # The run search's triggers (migration 0006) too: its FTS5 index is rebuilt once
        # at the end rather than row by row, and twice for the usernames filled in after.
        triggers = _sqlite_triggers(con)
        for name in triggers:
            con.execute(f'DROP TRIGGER "{name}"')
        columns = ", ".join(f'"{c}"' for c in RUN_COLUMNS)
        placeholders = ", ".join("?" * len(RUN_COLUMNS))
        insert = f"INSERT INTO training_run ({columns}) VALUES ({placeholders})"
        done = 0
        for chunk in generate_runs(count, sqlite_dates, span_days=span_days):
            con.execute("BEGIN")
            con.executemany(insert, chunk)
            con.execute("COMMIT")
            done += len(chunk)
            _progress("sqlite", done, count, started)
        con.execute(_FILL_USERNAMES)
        inserted = time.perf_counter()
        for sql in indexes.values():
            con.execute(sql)
        if _sqlite_indexes(con) != indexes:
            raise RuntimeError("rebuilt SQLite indexes differ from the migration's")
        if triggers:
            con.execute(f"INSERT INTO {SEARCH_TABLE}({SEARCH_TABLE}) VALUES ('rebuild')")
            for sql in triggers.values():
                con.execute(sql)
        indexed = time.perf_counter()
        con.execute("ANALYZE")
        con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        analyzed = time.perf_counter()
    finally:
        con.close()
    return LoadReport(count, inserted - started, indexed - inserted, analyzed - indexed)


def _sqlite_indexes(con: sqlite3.Connection) -> dict[str, str]:
    """The migration's own indexes (not the implicit ones behind UNIQUE constraints)."""
    return dict(
        con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' "
            "AND tbl_name = 'training_run' AND sql IS NOT NULL ORDER BY name"
        )
    )


SEARCH_TABLE = "training_run_search"  # models/run_search.py's FTS5 table


def _sqlite_triggers(con: sqlite3.Connection) -> dict[str, str]:
    return dict(
        con.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' "
            "AND tbl_name = 'training_run' ORDER BY name"
        )
    )


def _progress(label: str, done: int, count: int, started: float) -> None:
    if done % 200_000 == 0 or done == count:
        rate = done / (time.perf_counter() - started)
        print(f"  {label}: {done:,}/{count:,} runs inserted ({rate:,.0f} rows/s)", flush=True)


# --- PostgreSQL -----------------------------------------------------------------------
def _asyncpg_url(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


async def create_postgres_database() -> str:
    """A fresh, uniquely named database on the local server; returns its URL."""
    name = f"fst_bench_{uuid.uuid4().hex[:10]}"
    con = await asyncpg.connect(_asyncpg_url(POSTGRES_ADMIN_URL))
    try:
        await con.execute(f'CREATE DATABASE "{name}"')
    finally:
        await con.close()
    return POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"


async def drop_postgres_database(url: str) -> None:
    name = url.rsplit("/", 1)[1]
    con = await asyncpg.connect(_asyncpg_url(POSTGRES_ADMIN_URL))
    try:
        await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await con.close()


async def load_postgres(url: str, count: int, span_days: int = 4 * 365) -> LoadReport:
    """Fill a migrated PostgreSQL database with COPY, then rebuild indexes and ANALYZE."""
    con = await asyncpg.connect(_asyncpg_url(url))
    try:
        started = time.perf_counter()
        groups = dict(await con.fetch("SELECT name, id FROM auth_group"))
        users = _users(datetime.now(UTC))
        await con.copy_records_to_table(
            "auth_user",
            records=[(i, name, None, True, False, joined, None) for i, name, joined, _ in users],
            columns=[
                "id",
                "username",
                "password_hash",
                "is_active",
                "is_superuser",
                "date_joined",
                "last_login",
            ],
        )
        await con.copy_records_to_table(
            "auth_user_groups",
            records=[(i, groups[group]) for i, _, _, group in users],
            columns=["auth_user_id", "group_id"],
        )
        indexes = await _postgres_indexes(con)
        for name in indexes:
            await con.execute(f'DROP INDEX "{name}"')
        done = 0
        for chunk in generate_runs(count, postgres_dates, span_days=span_days):
            await con.copy_records_to_table("training_run", records=chunk, columns=RUN_COLUMNS)
            done += len(chunk)
            _progress("postgres", done, count, started)
        for table in ("training_run", "auth_user"):
            await con.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                f"(SELECT max(id) FROM {table}))"
            )
        await con.execute(_FILL_USERNAMES)
        inserted = time.perf_counter()
        await con.execute("SET maintenance_work_mem = '512MB'")
        for sql in indexes.values():
            await con.execute(sql)
        if await _postgres_indexes(con) != indexes:
            raise RuntimeError("rebuilt PostgreSQL indexes differ from the migration's")
        indexed = time.perf_counter()
        await con.execute("VACUUM ANALYZE training_run")
        await con.execute("ANALYZE")
        analyzed = time.perf_counter()
    finally:
        await con.close()
    return LoadReport(count, inserted - started, indexed - inserted, analyzed - indexed)


async def _postgres_indexes(con: asyncpg.Connection) -> dict[str, str]:
    """The migration's own indexes, without those that back a constraint."""
    rows = await con.fetch(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = 'training_run' "
        "AND indexname NOT IN (SELECT conname FROM pg_constraint) ORDER BY indexname"
    )
    return {row["indexname"]: row["indexdef"] for row in rows}


# --- what the figures need from the data ----------------------------------------------
@dataclass(frozen=True)
class Probes:
    """Rows the figures point at, found with SQL so the server is not asked."""

    deep_after_cursor: str
    deep_offset: int
    deep_first_id: int
    detail_id: int
    filtered_status: str
    filtered_share: float
    server_version: str


def _deep_cursor(run_date: datetime, run_id: int) -> str:
    """The `after` cursor of the row at that position, made by the server's own encoder."""
    from models.run_list import RunOrder
    from models.run_records import RunRecord
    from resolvers.pagination import encode_cursor

    # A record of only the columns the cursor reads, as a page query's would be.
    row = RunRecord({"run_date": run_date.astimezone(UTC), "id": run_id})
    return encode_cursor(RunOrder("run_date", descending=True), row)


_DEEP_SQL = (
    "SELECT id, run_date FROM training_run ORDER BY run_date DESC, id DESC LIMIT 2 OFFSET {}"
)


def sqlite_probes(path: Path, deep_offset: int) -> Probes:
    con = sqlite3.connect(path)
    try:
        (before_id, before_date), (first_id, _) = con.execute(
            _DEEP_SQL.format(deep_offset - 1)
        ).fetchall()
        detail_id = _detail_id(con.execute(_DETAIL_SQL.replace("$1", "?"), (deep_offset,)))
        share = con.execute("SELECT avg(status = 'FAILED') FROM training_run").fetchone()[0]
        version = sqlite3.sqlite_version
    finally:
        con.close()
    return Probes(
        deep_after_cursor=_deep_cursor(datetime.fromisoformat(before_date), before_id),
        deep_offset=deep_offset,
        deep_first_id=first_id,
        detail_id=detail_id,
        filtered_status="FAILED",
        filtered_share=float(share),
        server_version=f"SQLite {version}",
    )


async def postgres_probes(url: str, deep_offset: int) -> Probes:
    con = await asyncpg.connect(_asyncpg_url(url))
    try:
        rows = await con.fetch(_DEEP_SQL.format(deep_offset - 1))
        detail_id = _detail_id(await con.fetch(_DETAIL_SQL, deep_offset))
        share = await con.fetchval("SELECT avg((status = 'FAILED')::int)::float FROM training_run")
        version = await con.fetchval("SHOW server_version")
    finally:
        await con.close()
    return Probes(
        deep_after_cursor=_deep_cursor(rows[0]["run_date"], rows[0]["id"]),
        deep_offset=deep_offset,
        deep_first_id=rows[1]["id"],
        detail_id=detail_id,
        filtered_status="FAILED",
        filtered_share=float(share),
        server_version=f"PostgreSQL {version}",
    )


# A completed, fully populated run in the middle of the table: the widest kind of row.
_DETAIL_SQL = (
    "SELECT id FROM training_run WHERE status = 'COMPLETED' AND per_class_metrics IS NOT NULL "
    "AND id >= $1 / 2 ORDER BY id LIMIT 1"
)


def _detail_id(rows: Any) -> int:
    return int(next(iter(rows))[0])

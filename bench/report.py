"""The results table: figure, value, baseline, ratio, target, met? - printed, and written
as Markdown and JSON under bench/results/ so a run can be pasted or compared later."""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.data import LoadReport, Probes
from bench.load import CONNECTIONS, THREADS, Summary
from bench.queries import detail_fields
from bench.reference import (
    ISSUE_CEILING_STRAWBERRY_CACHES_RPS,
    REST_ORIGINAL,
    REST_TRAIN_357_SECONDS,
    TARGETS,
)
from bench.training import Timings

RESULTS = Path(__file__).resolve().parent / "results"


@dataclass(frozen=True)
class Row:
    """One line of the table. `met` is None for context lines that have no target."""

    figure: str
    value: float | None
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    target: str = ""
    met: bool | None = None

    @property
    def ratio(self) -> float | None:
        if self.value is None or not self.baseline:
            return None
        return self.value / self.baseline


def ratio_row(
    figure: str,
    value: float,
    unit: str,
    baseline: float,
    baseline_label: str,
    *,
    at_least: float | None = None,
    at_most: float | None = None,
) -> Row:
    """A row whose target is a bound on value / baseline."""
    ratio = value / baseline if baseline else None
    if at_least is not None:
        target, met = f"≥ {at_least:g}x", ratio is not None and ratio >= at_least
    elif at_most is not None:
        target, met = f"≤ {at_most:g}x", ratio is not None and ratio <= at_most
    else:
        target, met = "", None
    return Row(figure, value, unit, baseline, baseline_label, target, met)


@dataclass
class Figures:
    """Everything one run measured, filled in as it goes; turned into the table below."""

    probes: Probes
    loads: dict[str, float]
    list_page: Summary | None = None
    ceiling: Summary | None = None
    deep: Summary | None = None
    filtered: Summary | None = None
    detail: Summary | None = None
    busy: Summary | None = None
    small_api: Timings | None = None
    small_bare: Timings | None = None
    large_api: Timings | None = None
    large_bare: Timings | None = None
    background_states: list[str] = field(default_factory=list)
    rss_kib: dict[str, int] = field(default_factory=dict)
    rss_counts: list[int] = field(default_factory=list)
    rss_rate: float = 0.0
    generator: dict[str, Any] = field(default_factory=dict)
    load: LoadReport | None = None
    api_log_tail: str = ""

    def raw(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            return value.to_dict() if hasattr(value, "to_dict") else value

        document = {name: plain(value) for name, value in self.__dict__.items()}
        document["probes"] = asdict(self.probes)
        if self.load is not None:
            document["load"] = asdict(self.load) | {"total_seconds": self.load.total_seconds}
        return document


def figures_table(f: Figures, plan: dict[str, Any], elapsed: float) -> tuple[list[Row], list[str]]:
    """The issue's targets as rows, and the notes a reader needs to trust them."""
    m = _require(f)
    t, rest, probes = TARGETS, REST_ORIGINAL, f.probes
    rps = m.list_page.requests_per_second
    speed = m.ceiling.requests_per_second / ISSUE_CEILING_STRAWBERRY_CACHES_RPS
    first, second = f.rss_counts
    rows = [
        Row(
            "(a) list page 1, 20 runs",
            rps,
            "req/s",
            target=f"≥ {t.list_min_rps:g} req/s",
            met=rps >= t.list_min_rps,
        ),
        ratio_row(
            "(a) list page 1 vs ceiling",
            rps,
            "req/s",
            m.ceiling.requests_per_second,
            "minimal strawberry + caches, same run",
            at_least=t.list_min_ceiling_ratio,
        ),
        ratio_row(
            "(a) list page 1 vs REST original",
            rps,
            "req/s",
            rest["list_page1"].requests_per_second,
            "REST page 1 at 1M, issue 5",
            at_least=t.list_min_rest_ratio,
        ),
        # The fixed figures (600 req/s, the REST original's) were measured on a machine of
        # this kind at some speed; the ceiling, measured now, tells how fast this one is
        # compared with it (issue 5 quotes its ceiling at 690 req/s). Scaled rows beside
        # the raw ones, so a slow or shared machine does not decide the verdict alone.
        Row(
            "(a) list page 1 at the issue's machine speed (x 690 / ceiling)",
            rps / speed,
            "req/s",
            target=f"≥ {t.list_min_rps:g} req/s",
            met=rps / speed >= t.list_min_rps,
        ),
        ratio_row(
            "(a) list page 1 vs REST original at this machine's speed",
            rps,
            "req/s",
            rest["list_page1"].requests_per_second * speed,
            "35 x ceiling / 690",
            at_least=t.list_min_rest_ratio,
        ),
        Row("(a) list page 1 latency p50", m.list_page.p50_ms, "ms"),
        Row("(a) list page 1 latency p99", m.list_page.p99_ms, "ms"),
        Row(
            "ceiling: minimal strawberry + caches",
            m.ceiling.requests_per_second,
            "req/s",
            ISSUE_CEILING_STRAWBERRY_CACHES_RPS,
            "issue 5's figure",
        ),
        ratio_row(
            f"(b) list page {probes.deep_offset:,} rows deep",
            m.deep.requests_per_second,
            "req/s",
            rps,
            "page 1",
            at_least=t.deep_min_page1_ratio,
        ),
        ratio_row(
            f"(c) list filtered status={probes.filtered_status} "
            f"({probes.filtered_share:.0%} of runs)",
            m.filtered.requests_per_second,
            "req/s",
            rps,
            "page 1",
            at_least=t.filtered_min_page1_ratio,
        ),
        ratio_row(
            f"(d) trainingRun(id), {len(detail_fields())} scalar fields",
            m.detail.requests_per_second,
            "req/s",
            rest["detail"].requests_per_second,
            "REST detail, issue 5",
            at_least=t.detail_min_rest_ratio,
        ),
        ratio_row(
            "(d) trainingRun(id) vs REST detail at this machine's speed",
            m.detail.requests_per_second,
            "req/s",
            rest["detail"].requests_per_second * speed,
            "163 x ceiling / 690",
            at_least=t.detail_min_rest_ratio,
        ),
        ratio_row(
            "(e) trainModel(wait) 357 rows, 100 trees, end to end",
            m.small_api.median,
            "s",
            m.small_bare.median,
            "bare fit+evaluate",
            at_most=t.train_small_max_bare_ratio,
        ),
        ratio_row(
            "(e) trainModel(wait) 100,000 rows, 50 trees, end to end",
            m.large_api.median,
            "s",
            m.large_bare.median,
            "bare fit+evaluate",
            at_most=t.train_large_max_bare_ratio,
        ),
        ratio_row(
            "(f) list page 1 p99 during 2 trainings",
            m.busy.p99_ms,
            "ms",
            m.list_page.p99_ms,
            "idle p99, (a)",
            at_most=t.p99_under_training_max_ratio,
        ),
        Row(
            "(f) list page 1 throughput during 2 trainings",
            m.busy.requests_per_second,
            "req/s",
            rps,
            "idle, (a)",
        ),
        ratio_row(
            f"(g) server RSS after {second:,} list requests",
            f.rss_kib[str(second)] / 1024,
            "MiB",
            f.rss_kib[str(first)] / 1024,
            f"after {first:,}",
            at_most=1 + t.rss_max_growth,
        ),
        Row(
            "(h) dataset generator, 1,000,000 rows",
            f.generator["seconds"],
            "s",
            target=f"≤ {t.generator_max_seconds:g} s",
            met=f.generator["seconds"] <= t.generator_max_seconds,
        ),
    ]
    return rows, _notes(f, plan, elapsed)


@dataclass(frozen=True)
class _Measured:
    """Figures' optional figures, once a run has measured every one of them."""

    list_page: Summary
    ceiling: Summary
    deep: Summary
    filtered: Summary
    detail: Summary
    busy: Summary
    small_api: Timings
    small_bare: Timings
    large_api: Timings
    large_bare: Timings
    load: LoadReport


def _require(f: Figures) -> _Measured:
    missing = [name for name, value in f.__dict__.items() if value is None]
    if missing:
        raise RuntimeError(f"figures never measured: {', '.join(missing)}")
    return _Measured(**{item.name: getattr(f, item.name) for item in fields(_Measured)})


def _notes(f: Figures, plan: dict[str, Any], elapsed: float) -> list[str]:
    m = _require(f)
    load, gen = m.load, f.generator
    rss_target = plan["rss_counts"][-1]
    notes = [
        f"{load.rows:,} runs bulk-loaded in {load.total_seconds:.1f} s (insert "
        f"{load.insert_seconds:.1f} s, index build {load.index_seconds:.1f} s, ANALYZE "
        f"{load.analyze_seconds:.1f} s); whole benchmark {elapsed / 60:.1f} min.",
        f"wrk {THREADS} threads, {CONNECTIONS} connections, {plan['seconds']:g} s per "
        f"measurement after a {plan['warmup']:g} s warm-up, median of {plan['repeats']}; "
        "client and server share the machine's cores.",
        "1-minute load average before each group of figures: "
        + ", ".join(f"{k} {v:.1f}" for k, v in f.loads.items())
        + f" (the machine has {os.cpu_count()} cores; above ~2-3 while measuring, other "
        "processes competed with the server and wrk).",
        f"(a)-(d) medians: page 1 p50 {m.list_page.p50_ms:.1f} ms / p99 "
        f"{m.list_page.p99_ms:.1f} ms; ceiling p50 {m.ceiling.p50_ms:.1f} / p99 "
        f"{m.ceiling.p99_ms:.1f} ms; deep p50 {m.deep.p50_ms:.1f} ms; filtered p50 "
        f"{m.filtered.p50_ms:.1f} ms; detail p50 {m.detail.p50_ms:.1f} ms. REST original at "
        "1M (issue 5): page 1 35 req/s, deep 1.6, filtered 3.5, detail 163.",
        f"(e) medians of {len(m.small_api.seconds)} (357 rows, after 1 warm-up request) and "
        f"{len(m.large_api.seconds)} (100k rows) sequential requests with httpx (bare: "
        f"{len(m.small_bare.seconds)} and {len(m.large_bare.seconds)}; repeats stop early past "
        f"{plan['train_budget_seconds']:g} s per series); the bare baseline is build_pipeline + "
        "split + fit + predict + metrics in-process on data already loaded (CSV load untimed: "
        f"{m.small_bare.load_seconds:.3f} s / {m.large_bare.load_seconds:.2f} s). Accuracy API "
        f"{statistics.median(m.small_api.accuracies):.4f} vs bare "
        f"{statistics.median(m.small_bare.accuracies):.4f} (357 rows), "
        f"{statistics.median(m.large_api.accuracies):.4f} vs "
        f"{statistics.median(m.large_bare.accuracies):.4f} (100k). REST original: "
        f"{REST_TRAIN_357_SECONDS} s end to end for 357 rows.",
        f"(g) RSS {f.rss_kib['start'] / 1024:.1f} MiB at start, "
        + ", ".join(f"{f.rss_kib[str(n)] / 1024:.1f} MiB after {n:,}" for n in f.rss_counts)
        + f", {f.rss_kib['end'] / 1024:.1f} MiB at the end (VmRSS of the uvicorn process; "
        "requests driven by wrk -c32, its Lua script stopping each thread after its share).",
        f"Generator: {gen['seconds']:.2f} s inside generate_dataset (cold process; "
        f"+{gen['import_seconds']:.2f} s imports, {gen['wall_seconds']:.2f} s wall), "
        f"{gen['bytes'] / 1e6:.0f} MB written.",
    ]
    if f.rss_counts[-1] < rss_target * 0.95:
        notes.append(
            f"(g) the second RSS reading was taken after {f.rss_counts[-1]:,} requests, not "
            f"{rss_target:,}: at {f.rss_rate:,.0f} req/s the full count would not fit the "
            f"{plan['rss_budget_seconds']:g} s budget."
        )
    if any(state != "RUNNING" for state in f.background_states):
        notes.append(f"(f) a background training ended before the load did: {f.background_states}.")
    failing = [
        r
        for s in (m.list_page, m.ceiling, m.deep, m.filtered, m.detail, m.busy)
        for r in s.runs
        if r.non_2xx or r.socket_errors
    ]
    if failing:
        notes.append(f"wrk saw non-2xx answers or socket errors in {len(failing)} runs.")
    return notes


def _number(value: float | None, unit: str = "") -> str:
    if value is None:
        return "—"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}" if abs(value) < 1 else f"{value:.2f}"
    return f"{text} {unit}".strip()


def _cells(row: Row) -> list[str]:
    baseline = _number(row.baseline) if row.baseline is not None else "—"
    if row.baseline_label:
        baseline = f"{baseline} ({row.baseline_label})"
    ratio = f"{row.ratio:.3f}x" if row.ratio is not None else "—"
    met = {True: "yes", False: "**NO**", None: "—"}[row.met]
    return [row.figure, _number(row.value, row.unit), baseline, ratio, row.target or "—", met]


HEADER = ["figure", "value", "baseline", "ratio", "target", "met?"]


def markdown_table(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in _cells(r)) + " |" for r in rows]
    return "\n".join(lines)


def text_table(rows: list[Row]) -> str:
    cells = [HEADER, *(_cells(r) for r in rows)]
    widths = [max(len(c[i]) for c in cells) for i in range(len(HEADER))]
    return "\n".join(
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip() for line in cells
    )


def machine_info(database_version: str) -> dict[str, Any]:
    """What a reader needs to compare runs: cores, memory, versions, date."""
    memory_kib = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            memory_kib = int(line.split()[1])
    try:
        wrk = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
        wrk_version = (wrk.stdout or wrk.stderr).splitlines()[0]
    except (OSError, IndexError):
        wrk_version = "?"
    import sqlite3
    from importlib.metadata import version

    import sklearn
    import strawberry  # noqa: F401  (version via metadata below)

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=RESULTS.parent.parent, capture_output=True, text=True, check=False
        )
        return done.stdout.strip()

    return {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        # The code measured: the commit, and whether the work tree differed from it.
        "commit": git("rev-parse", "--short", "HEAD"),
        "uncommitted_changes": bool(git("status", "--porcelain", "--untracked-files=no")),
        "nproc": os.cpu_count(),
        "memory_gib": round(memory_kib / 1024 / 1024, 1),
        "platform": platform.platform(),
        "python": sys.version.split()[0],
        "database": database_version,
        "sqlite_library": sqlite3.sqlite_version,
        "strawberry": version("strawberry-graphql"),
        "tortoise": version("tortoise-orm"),
        "scikit_learn": sklearn.__version__,
        "wrk": wrk_version,
    }


def write_results(name: str, markdown: list[str], data: object) -> Path:
    """bench/results/<name>.md (the lines) and .json (the figures), as every benchmark
    keeps its last run; returns the Markdown path."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(data, indent=2, default=str) + "\n")
    path = RESULTS / f"{name}.md"
    path.write_text("\n".join(markdown))
    return path


def write(
    db: str, rows: list[Row], info: dict[str, Any], notes: list[str], raw: Any, *, quick: bool
) -> Path:
    """bench/results/latest-<db>.md and .json (quick-<db> for a --quick run, which must not
    overwrite the committed figures of a full one); returns the Markdown path."""
    RESULTS.mkdir(exist_ok=True)
    stem = f"quick-{db}" if quick else f"latest-{db}"
    markdown = [
        f"# Benchmark: {db}",
        "",
        f"{info['date']} · commit {info.get('commit', '?')} · {info['nproc']} cores · "
        f"{info['memory_gib']} GiB · "
        f"Python {info['python']} · {info['database']} · strawberry {info['strawberry']} · "
        f"{info['wrk']}",
        "",
        markdown_table(rows),
        "",
        *[f"- {note}" for note in notes],
        "",
    ]
    md_path = RESULTS / f"{stem}.md"
    md_path.write_text("\n".join(markdown))
    document = {
        "database": db,
        "machine": info,
        "rows": [asdict(r) | {"ratio": r.ratio} for r in rows],
        "notes": notes,
        "raw": raw,
    }
    (RESULTS / f"{stem}.json").write_text(json.dumps(document, indent=2, default=str) + "\n")
    return md_path

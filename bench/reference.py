"""Fixed numbers this benchmark compares against, and the targets it checks.

The REST original (Django REST Framework, gunicorn, 1 sync worker) cannot be re-run here,
so its figures are constants. They come from issue 5 ("Performance: a benchmark suite
against the REST original and the framework ceiling"), section "What was measured on this
kind of machine (2 cores, SQLite, 1 server worker, wrk on loopback)", at 1,000,000 runs.
Everything else the targets compare with is measured in the same run as the value.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RestFigure:
    """One measurement of the REST original, quoted from issue 5."""

    requests_per_second: float
    p50_ms: float | None
    note: str


# Issue 5, "1,000,000 runs" bullet. The 10,000-run figures are kept for context only.
REST_ORIGINAL: dict[str, RestFigure] = {
    "list_page1": RestFigure(35.0, 111.0, "page of 20 at 1M runs; COUNT(*) on every page"),
    "list_deep": RestFigure(1.6, 2100.0, "deep page at 1M runs; OFFSET scan"),
    "list_filtered": RestFigure(3.5, 1060.0, "filtered by status at 1M runs"),
    "detail": RestFigure(163.0, None, "run detail"),
    "list_page1_10k": RestFigure(122.0, 32.0, "page of 20 at 10,000 runs"),
}

# Issue 5, "Training the 357-row dataset through its endpoint": for context in the report.
REST_TRAIN_357_SECONDS = 3.95
REST_BARE_357_SECONDS = 0.19

# Issue 5, "Ceilings on the same machine": what the in-run ceiling is expected to be near.
ISSUE_CEILING_STRAWBERRY_CACHES_RPS = 690.0


@dataclass(frozen=True)
class Targets:
    """The issue's targets, as numbers (issue 5, section "Targets")."""

    list_min_rps: float = 600.0
    list_min_ceiling_ratio: float = 0.85
    list_min_rest_ratio: float = 15.0
    deep_min_page1_ratio: float = 0.9
    filtered_min_page1_ratio: float = 0.9
    detail_min_rest_ratio: float = 5.0
    train_small_max_bare_ratio: float = 1.5
    train_large_max_bare_ratio: float = 1.1
    p99_under_training_max_ratio: float = 2.0
    rss_max_growth: float = 0.10
    generator_max_seconds: float = 15.0


TARGETS = Targets()

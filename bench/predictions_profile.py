"""Where a 1,000-row predictFutureNeed spends its time (issue 24): the request end to end
through the ASGI app (in this process, httpx's ASGI transport), under cProfile.

    .venv/bin/python -m bench.predictions_profile [--requests N] [--trees T] [--columns]

A fresh SQLite database and artifacts folder; a T-tree model trained through the API and
promoted; N requests of the shipped dataset's first 1,000 rows (after 3 unprofiled ones),
asking for one object per row, or with --columns the compact `columns` answer. Prints
the median wall time unprofiled, then the functions by cumulative and by own time. The
prediction itself runs in a worker thread, which cProfile does not see: its share is the
event loop's wait (`select.epoll.poll`).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import data
from bench.predictions import PREDICT, PREDICT_COLUMNS, PROMOTE, SHIPPED, TRAIN, dataset_rows


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() if part != "k" else "K" for part in rest)


async def profile(requests: int, trees: int, query: str, token: str) -> None:
    import httpx
    from asgi_lifespan import LifespanManager

    from main import create_app

    inputs = [{_camel(c): v for c, v in row.items()} for row in dataset_rows(1000)]
    app = create_app()
    async with LifespanManager(app, startup_timeout=300) as manager:
        transport = httpx.ASGITransport(app=manager.app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://bench", timeout=300
        ) as client:
            headers = {"Authorization": f"Token {token}"}

            async def gql(document: str, variables: dict[str, Any]) -> Any:
                response = await client.post(
                    "/graphql", json={"query": document, "variables": variables}, headers=headers
                )
                body = response.json()
                if "errors" in body:
                    raise RuntimeError(str(body)[:500])
                return body["data"]

            trained = (await gql(TRAIN, {"trees": trees}))["trainModel"]["trainingRun"]
            await gql(PROMOTE, {"runId": trained["databaseId"]})
            variables = {"rows": inputs}
            for _ in range(3):
                await gql(query, variables)
            times = []
            for _ in range(requests):
                started = time.perf_counter()
                await gql(query, variables)
                times.append(time.perf_counter() - started)
            print(f"p50 unprofiled: {statistics.median(times) * 1000:.1f} ms")
            profiler = cProfile.Profile()
            profiler.enable()
            for _ in range(requests):
                await gql(query, variables)
            profiler.disable()
    stats = pstats.Stats(profiler)
    stats.sort_stats("cumulative").print_stats(40)
    stats.sort_stats("tottime").print_stats(25)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.predictions_profile")
    parser.add_argument("--requests", type=int, default=10)
    parser.add_argument("--trees", type=int, default=100)
    parser.add_argument("--columns", action="store_true", help="the compact answer")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fst-profile-"))
    try:
        artifacts = workdir / "artifacts"
        (artifacts / "datasets").mkdir(parents=True)
        shutil.copy(SHIPPED, artifacts / "datasets" / SHIPPED.name)
        env = data.project_env(
            f"sqlite://{workdir / 'profile.sqlite3'}", artifacts, PREDICTION_ROWS_PER_SECOND="1e9"
        )
        data.run_cli(["migrate"], env)
        data.run_cli(["createuser", "bench-drh", "--group", "DRH"], env)
        token = data.run_cli(["token", "create", "bench-drh", "--name", "bench"], env).strip()
        os.environ.update(env)
        query = PREDICT_COLUMNS if args.columns else PREDICT
        asyncio.run(profile(args.requests, args.trees, query, token))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":  # the training pool's workers import this module anew
    sys.exit(main())

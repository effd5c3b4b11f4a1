"""Webhook delivery under failure: N events to a receiver that fails a share of attempts
at random (seeded), with kill -9 of the server's whole process group mid-way.

A real `main.py serve` (one process, its dispatcher in the lifespan) on a fresh database;
one small COMPLETED run; a webhook subscribed to alias.changed; then N setModelAlias
calls (N events, each written in its change's transaction). Once half of them have been
accepted, the server is killed with SIGKILL and started again on the same database. The
receiver (tests/webhook_receiver.py) verifies every request with `standardwebhooks` and
accepts each webhook-id once. The run passes when every event was accepted exactly once,
no delivery is left PENDING or FAILED, and no signature was invalid.

    .venv/bin/python -m bench.webhooks [--events 1000] [--fail-rate 0.1] [--seed 42]
        [--database-url postgres://...]

Written to bench/results/webhooks-<database>.md and .json.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from bench import data
from bench.report import write_results
from bench.server import ManagedServer, free_port, project_server
from tests.webhook_receiver import Receiver, running_receiver

SHIPPED = data.REPO / "artifacts" / "datasets" / "future_skills_dataset.csv"
SETTINGS = {
    "WEBHOOK_ALLOW_PRIVATE_NETWORKS": "true",  # the receiver is on 127.0.0.1
    "WEBHOOK_POLL_SECONDS": "0.2",
    "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
    "WEBHOOK_MAX_ATTEMPTS": "20",
    "WEBHOOK_TIMEOUT_SECONDS": "5",
    "WEBHOOK_CONCURRENCY": "10",
    "TRAINING_WORKERS": "1",
}
TRAIN = """
mutation {
  trainModel(input: { hyperparameters: { nEstimators: 3 }, wait: true }) {
    trainingRun { id status } errors { code message }
  }
}
"""
CREATE = """
mutation Create($url: String!) {
  createWebhook(url: $url, events: [ALIAS_CHANGED]) { webhook { id } secret errors { code } }
}
"""
SET_ALIAS = """
mutation Set($alias: String!, $runId: ID!) {
  setModelAlias(alias: $alias, runId: $runId) { errors { code message } }
}
"""
UNFINISHED = """
query Unfinished($status: WebhookDeliveryStatus!) {
  webhookDeliveries(status: $status, first: 100) { databaseId }
}
"""


def log(message: str) -> None:
    print(message, flush=True)


async def graphql(
    client: httpx.AsyncClient, url: str, token: str, query: str, variables: dict[str, Any]
) -> dict[str, Any]:
    response = await client.post(
        f"{url}/graphql",
        json={"query": query, "variables": variables},
        headers={"Authorization": f"Token {token}"},
    )
    body: dict[str, Any] = response.json()
    if response.status_code != 200 or body.get("errors"):
        raise RuntimeError(f"HTTP {response.status_code}: {body}")
    result: dict[str, Any] = body["data"]
    return result


def kill_9(server: ManagedServer) -> None:
    """SIGKILL the server's whole process group, as a power cut would."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGKILL)
    server.stop(grace=5)  # collects the killed process


async def wait_until(condition: Any, within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    artifacts = workdir / "artifacts"
    (artifacts / "datasets").mkdir(parents=True)
    shutil.copy(SHIPPED, artifacts / "datasets" / SHIPPED.name)
    database = args.database_url or f"sqlite://{workdir / 'bench.sqlite3'}"
    env = data.project_env(database, artifacts, **SETTINGS)
    data.run_cli(["migrate"], env)
    data.run_cli(["createuser", "bench-drh", "--group", "DRH"], env)
    token = data.run_cli(["token", "create", "bench-drh", "--name", "bench"], env).strip()
    port = free_port()

    async with (
        running_receiver(fail_rate=args.fail_rate, seed=args.seed) as receiver,
        httpx.AsyncClient(timeout=120) as client,
    ):
        server = project_server(env, port, workdir, name="api")
        await asyncio.to_thread(server.start)
        try:
            return await _measure(args, client, server, env, port, workdir, token, receiver)
        finally:
            server.stop()
    raise AssertionError("unreachable")  # for mypy: a context manager may swallow


async def _measure(
    args: argparse.Namespace,
    client: httpx.AsyncClient,
    server: ManagedServer,
    env: dict[str, str],
    port: int,
    workdir: Path,
    token: str,
    receiver: Receiver,
) -> dict[str, Any]:
    events: int = args.events
    url = server.url
    trained = (await graphql(client, url, token, TRAIN, {}))["trainModel"]
    if trained["errors"] or trained["trainingRun"]["status"] != "COMPLETED":
        raise RuntimeError(f"training failed: {trained}")
    run_id = trained["trainingRun"]["id"]
    created = await graphql(client, url, token, CREATE, {"url": receiver.hook_url})
    receiver.secret = created["createWebhook"]["secret"]

    log(f"recording {events} events (setModelAlias), 8 at a time")
    started = time.monotonic()
    limit = asyncio.Semaphore(8)

    async def promote(number: int) -> None:
        async with limit:
            answer = await graphql(
                client, url, token, SET_ALIAS, {"alias": f"bench-{number}", "runId": run_id}
            )
            if answer["setModelAlias"]["errors"]:
                raise RuntimeError(str(answer))

    await asyncio.gather(*(promote(number) for number in range(events)))
    recorded_after = time.monotonic() - started
    log(f"  recorded in {recorded_after:.1f} s; {len(receiver.accepted)} accepted so far")

    kill_at = events // 2

    async def half_accepted() -> bool:
        return len(receiver.accepted) >= kill_at

    await wait_until(half_accepted, 600, f"{kill_at} accepted")
    accepted_at_kill = len(receiver.accepted)
    attempts_at_kill = receiver.attempts
    kill_9(server)
    killed = time.monotonic()
    log(f"kill -9 of the server with {accepted_at_kill}/{events} events accepted")

    restarted = project_server(env, port, workdir, name="api-restarted")
    await asyncio.to_thread(restarted.start)
    try:
        restart_ready = time.monotonic() - killed

        async def all_accepted() -> bool:
            return len(receiver.accepted) >= events

        await wait_until(all_accepted, 900, "every event accepted")
        done = time.monotonic()
        unfinished = {
            status: len(
                (await graphql(client, url, token, UNFINISHED, {"status": status}))[
                    "webhookDeliveries"
                ]
            )
            for status in ("PENDING", "FAILED")
        }
    finally:
        restarted.stop()

    aliases = sorted(item.body["data"]["alias"] for item in receiver.accepted.values())
    every_event_once = aliases == sorted(f"bench-{number}" for number in range(events))
    result = {
        "events": events,
        "fail_rate": args.fail_rate,
        "seed": args.seed,
        "database": database_kind(env["DATABASE_URL"]),
        "accepted_once": len(receiver.accepted),
        "every_event_accepted_once": every_event_once,
        "attempts": receiver.attempts,
        "failed_on_purpose": receiver.injected_failures,
        "duplicates_refused": receiver.duplicates,
        "invalid_signatures": len(receiver.invalid),
        "accepted_at_kill": accepted_at_kill,
        "attempts_at_kill": attempts_at_kill,
        "left_pending": unfinished["PENDING"],
        "left_failed": unfinished["FAILED"],
        "seconds_to_record": round(recorded_after, 2),
        "seconds_total": round(done - started, 2),
        "seconds_restart_ready": round(restart_ready, 2),
        "seconds_after_restart_to_all_delivered": round(done - killed, 2),
    }
    ok = (
        every_event_once
        and not receiver.invalid
        and unfinished["PENDING"] == 0
        and unfinished["FAILED"] == 0
    )
    result["passed"] = ok
    return result


def database_kind(url: str) -> str:
    return "postgres" if url.startswith(("postgres", "asyncpg")) else "sqlite"


def write(result: dict[str, Any], command: str) -> Path:
    lines = [
        f"# Webhooks: {result['events']} events, {result['fail_rate']:.0%} of attempts failing, "
        f"kill -9 mid-way ({result['database']})",
        "",
        f"{result['date']} · `{command}`",
        "",
        "| figure | value |",
        "|---|---|",
        *[f"| {key} | {value} |" for key, value in result.items() if key not in ("date",)],
        "",
    ]
    return write_results(f"webhooks-{result['database']}", lines, result)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--fail-rate", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", help="default: a fresh SQLite file")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="fst-bench-webhooks-"))
    try:
        result = asyncio.run(run(args, workdir))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    result["date"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    command = "python -m bench.webhooks" + (
        f" --events {args.events}" if args.events != 1000 else ""
    )
    if args.database_url:
        command += " --database-url postgres://USER@HOST:5432/A_FRESH_DATABASE"
    path = write(result, command)
    for key, value in result.items():
        log(f"{key:>40}: {value}")
    log(f"written to {path}")
    if not result["passed"]:
        raise SystemExit("FAILED: not every event was accepted exactly once")


if __name__ == "__main__":
    main()

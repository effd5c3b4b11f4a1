"""uploadDataset against a real `main.py serve` process: the file is written to the datasets
folder as it arrives, never held whole in the server's memory, an upload over
MAX_UPLOAD_BYTES is cut off with a JSON 413 that leaves no file behind, and the file of an
upload whose server was killed is removed when a server starts again."""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import orjson
import pytest

from tests.helpers import SHIPPED_LINES, UPLOAD, http_client, wait_for
from tests.processes import Deployment, LiveServer, Services, first_server, live_server

MB = 1_000_000
CAP = 30 * MB
# What must be on the server's disk, and not in its memory, before the rest is sent.
CHECKPOINT = 20 * MB
BOUNDARY = "upload-streaming-test-boundary"


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def preamble(path: str) -> bytes:
    operations = orjson.dumps({"query": UPLOAD, "variables": {"file": None, "path": path}})
    parts = [
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="operations"\r\n\r\n'.encode(),
        operations,
        f'\r\n--{BOUNDARY}\r\nContent-Disposition: form-data; name="map"\r\n\r\n'.encode(),
        b'{"0": ["variables.file"]}',
        f"\r\n--{BOUNDARY}\r\n".encode(),
        b'Content-Disposition: form-data; name="0"; filename="big.csv"\r\n',
        b"Content-Type: text/csv\r\n\r\n",
    ]
    return b"".join(parts)


def rows(size: int) -> bytes:
    block = b"".join(SHIPPED_LINES[1:])
    return (block * (size // len(block) + 1))[:size]


def partial_files(datasets: Path) -> list[Path]:
    return sorted(datasets.glob(".upload-*"))


async def written(datasets: Path, at_least: int) -> int | None:
    """Bytes in the upload's temporary file, once there are `at_least`."""
    files = partial_files(datasets)
    size = files[0].stat().st_size if files else 0
    return size if size >= at_least else None


async def none_left(datasets: Path) -> bool | None:
    return True if not partial_files(datasets) else None


async def logged(text: str, words: str) -> bool | None:
    return True if words in text else None


@pytest.fixture(scope="module")
async def upload_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    """One server, with a 30 MB cap, for the upload tests that do not restart it."""
    async with live_server(tmp_path_factory.mktemp("uploads"), MAX_UPLOAD_BYTES=str(CAP)) as server:
        yield server


async def test_an_upload_streams_to_disk_and_is_cut_off_at_the_cap(
    upload_server: LiveServer,
) -> None:
    server = upload_server
    datasets = server.artifacts / "datasets"
    baseline = rss_bytes(server.pid)
    seen: dict[str, int] = {}
    chunk = rows(MB)

    async def body() -> AsyncIterator[bytes]:
        yield preamble("big.csv")
        yield SHIPPED_LINES[0]
        sent = 0
        while sent < CHECKPOINT:
            yield chunk
            sent += len(chunk)
        # The server has been given CHECKPOINT bytes: they must reach its disk.
        seen["on_disk"] = await wait_for(
            lambda: written(datasets, CHECKPOINT - 2 * MB),
            timeout=60,
            what="the upload's temporary file to grow",
        )
        seen["rss_growth"] = rss_bytes(server.pid) - baseline
        while sent < CAP + 4 * MB:
            yield chunk
            sent += len(chunk)
        yield f"\r\n--{BOUNDARY}--\r\n".encode()

    # when
    async with http_client(timeout=120) as client:
        response = await client.post(
            server.graphql_url,
            content=body(),
            headers={
                **server.auth,
                "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
            },
        )

    # then: written to the datasets folder as it came, not kept in memory
    assert seen["rss_growth"] < 10 * MB, seen
    # and: cut off at the cap, as JSON, leaving nothing behind
    assert response.status_code == 413, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "REQUEST_TOO_LARGE"
    await wait_for(lambda: none_left(datasets), timeout=10, what="the temporary file to be removed")
    assert not (datasets / "big.csv").exists()
    # and: the server still serves
    assert (await server.data("{ datasets { path } }"))["datasets"] == [
        {"path": "future_skills_dataset.csv"}
    ]


async def test_an_upload_cancelled_midway_leaves_nothing_behind(upload_server: LiveServer) -> None:
    server = upload_server
    datasets = server.artifacts / "datasets"
    chunk = rows(MB)

    class Cancelled(Exception):
        pass

    async def body() -> AsyncIterator[bytes]:
        yield preamble("cancelled.csv")
        yield SHIPPED_LINES[0]
        for _ in range(5):
            yield chunk
        await wait_for(lambda: written(datasets, 3 * MB), timeout=60, what="the upload to start")
        raise Cancelled

    # when: the client gives up after 5 MB
    async with http_client(timeout=120) as client:
        with pytest.raises(Cancelled):
            await client.post(
                server.graphql_url,
                content=body(),
                headers={
                    **server.auth,
                    "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                },
            )

    # then: the temporary file goes, nothing takes the name, and no error is logged
    await wait_for(lambda: none_left(datasets), timeout=10, what="the temporary file to be removed")
    assert not (datasets / "cancelled.csv").exists()
    await wait_for(
        lambda: logged(server.log_text(), "upload cancelled"), timeout=10, what="the log line"
    )
    assert "Traceback" not in server.log_text()
    assert " ERROR " not in server.log_text()


async def test_a_file_left_by_a_server_killed_mid_upload_is_removed_at_the_next_start(
    tmp_path: Path,
) -> None:
    # given: a server killed (SIGKILL) while an upload streams to its disk
    deployment = Deployment.create(tmp_path, f"sqlite://{tmp_path}/training_api.sqlite3")
    services = Services(tmp_path)
    try:
        api = await first_server(services, deployment, "killed")
        datasets = deployment.artifacts / "datasets"
        never = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            yield preamble("killed.csv")
            yield SHIPPED_LINES[0]
            yield rows(5 * MB)
            await never.wait()

        async def send() -> None:
            async with http_client(timeout=120) as client:
                await client.post(
                    api.service.url + "/graphql",
                    content=body(),
                    headers={
                        "Authorization": f"Token {api.token}",
                        "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                    },
                )

        sending = asyncio.create_task(send())
        await wait_for(lambda: written(datasets, 3 * MB), timeout=60, what="the upload to start")
        await api.service.kill()
        sending.cancel()
        with contextlib.suppress(asyncio.CancelledError, httpx.TransportError):
            await sending
        [left] = partial_files(datasets)
        # an hour and more later, while another server process streams an upload
        two_hours_ago = time.time() - 7200
        os.utime(left, (two_hours_ago, two_hours_ago))
        live = datasets / ".upload-live.partial"
        live.write_bytes(b"an upload in progress")

        # when: a server starts on that folder
        restarted = await services.serve("restarted", deployment)

        # then: the dead upload's file is gone, the live one is not
        assert partial_files(datasets) == [live]
        assert "removed 1 stale upload" in restarted.output()
    finally:
        await services.kill_all()

"""A real `main.py serve` configured as a front end on other origins would use it, and a
second local HTTP server that plays such a front end (a page on another origin).

CORS_ORIGINS is given in its comma-separated form (which used to crash start-up) and
names the page server's origin; APQ_CACHE_SIZE=0 switches persisted queries off.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import threading
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import LiveServer, free_port, start_live_server

OTHER_ORIGIN = "https://hr.example"


@dataclass(frozen=True)
class PageServer:
    """Serves a folder on 127.0.0.1 at another port: another origin for the browser."""

    root: Path
    port: int

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextlib.contextmanager
def serve_folder(root: Path, port: int) -> Iterator[PageServer]:
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield PageServer(root, port)
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture(scope="session")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PageServer]:
    root = tmp_path_factory.mktemp("front-end")
    (root / "index.html").write_text("<!doctype html><title>front end</title><p>front end</p>")
    with serve_folder(root, free_port()) as server:
        yield server


@pytest.fixture(scope="session")
async def front_end_api(
    tmp_path_factory: pytest.TempPathFactory, page_server: PageServer
) -> AsyncIterator[LiveServer]:
    server = await start_live_server(
        tmp_path_factory.mktemp("clients-api"),
        settings={
            "CORS_ORIGINS": f"{page_server.origin}, {OTHER_ORIGIN}",
            "APQ_CACHE_SIZE": "0",
        },
    )
    try:
        yield server
    finally:
        await server.kill()

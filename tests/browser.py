"""Headless Chromium for the browser tests (tests/clients/test_browser.py and the dashboard's
harness): Debian's /usr/bin/chromium driven by Python playwright. Never run
`playwright install`: the system's chromium is the browser.

A browser test module calls `require_chromium()` before anything else: it skips the module
when chromium is missing, or fails it under REQUIRE_SERVICES=1. Its pages come from
`local_only_page`, where every request goes through a route that refuses any host other
than 127.0.0.1 (GraphiQL used to load its scripts from a CDN), and `Traffic` records what
the page asked for and printed. The `browser` fixture is module-scoped: a module imports it
and has a browser of its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, BrowserContext, Page, Route, WebSocket, async_playwright

from tests.conftest import REQUIRE_SERVICES

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LOCAL_HOSTS = {"127.0.0.1", "localhost"}
TIMEOUT_MS = 60_000


def require_chromium() -> None:
    """Skip the calling test module when chromium is missing; fail under REQUIRE_SERVICES=1."""
    if CHROMIUM.exists():
        return
    reason = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    if REQUIRE_SERVICES:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)


@dataclass
class Traffic:
    """Every URL the browser asked for, those that would have left 127.0.0.1, the
    console, the WebSocket frames the page received and the bodies it posted."""

    urls: list[str] = field(default_factory=list)
    foreign: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)
    frames: list[str] = field(default_factory=list)
    posts: list[str] = field(default_factory=list)

    def see(self, url: str) -> bool:
        self.urls.append(url)
        local = urlsplit(url).hostname in LOCAL_HOSTS or url.startswith(("data:", "blob:"))
        if not local:
            self.foreign.append(url)
        return local

    def csp_violations(self) -> list[str]:
        return [line for line in self.console if "Content Security Policy" in line]

    def assert_clean(self) -> None:
        assert self.foreign == [], self.foreign
        assert self.csp_violations() == [], self.console
        assert [line for line in self.console if line.startswith("pageerror")] == []


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            await browser.close()


async def local_only_page(
    browser: Browser, **context_options: Any
) -> tuple[BrowserContext, Page, Traffic]:
    """A page in a new context (`context_options` as playwright's new_context) whose every
    request goes through a route that refuses other hosts; its Traffic records the rest."""
    traffic = Traffic()
    context = await browser.new_context(**context_options)

    async def guard(route: Route) -> None:
        if traffic.see(route.request.url):
            await route.continue_()
        else:
            await route.abort("blockedbyclient")

    def websocket(ws: WebSocket) -> None:
        traffic.see(ws.url)
        ws.on("framereceived", lambda payload: traffic.frames.append(str(payload)))

    await context.route("**/*", guard)
    page = await context.new_page()
    page.on("websocket", websocket)
    page.on("console", lambda message: traffic.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: traffic.console.append(f"pageerror: {error}"))
    page.on(
        "request",
        lambda request: (
            traffic.posts.append(request.post_data or "") if request.method == "POST" else None
        ),
    )
    return context, page, traffic

"""The dashboard's browser harness, imported by its test modules (which import the
`browser` fixture too, so each module has its own headless Chromium), and pages whose
every request must stay on 127.0.0.1 (as tests/clients/test_browser.py: any other host
fails the test). The server is conftest.py's `dashboard_api`, one for the session.

Debian's /usr/bin/chromium driven by Python playwright; skips when it is missing, fails
under REQUIRE_SERVICES=1. Never run `playwright install`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from tests.conftest import REPO, REQUIRE_SERVICES
from tests.dashboard.accounts import DRH, MANAGER, SEED_RUNS
from tests.processes import LiveServer

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
SCREENSHOTS = REPO / "docs" / "screenshots"

if not CHROMIUM.exists():
    reason = f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)"
    if REQUIRE_SERVICES:
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason, allow_module_level=True)

from playwright.async_api import (  # noqa: E402
    Browser,
    BrowserContext,
    Page,
    Route,
    WebSocket,
    async_playwright,
)


@dataclass
class Traffic:
    """Every URL the browser asked for, those that would have left 127.0.0.1, the
    console, and the WebSocket frames the page received."""

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


@dataclass
class Dashboard:
    """A page of the dashboard on the module's server, and what it saw."""

    context: BrowserContext
    page: Page
    traffic: Traffic
    url: str

    async def sign_in(self, username: str, password: str) -> None:
        await self.page.goto(f"{self.url}/", timeout=TIMEOUT_MS)
        await self.page.get_by_label("Username").fill(username)
        await self.page.get_by_label("Password").fill(password)
        await self.page.get_by_role("button", name="Sign in").click()
        await self.page.locator("table.runs tbody tr").first.wait_for(timeout=TIMEOUT_MS)

    async def token(self) -> str:
        return str(await self.page.evaluate("sessionStorage.getItem('future-skills.token')"))

    async def screenshot(self, name: str) -> None:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


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


async def open_dashboard(
    browser: Browser, server: LiveServer, *, width: int = 1280, height: int = 900
) -> Dashboard:
    """A new browser context whose every request goes through a route refusing other hosts."""
    traffic = Traffic()
    context = await browser.new_context(
        viewport={"width": width, "height": height}, accept_downloads=True
    )

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
    page.set_default_timeout(TIMEOUT_MS)
    page.on("websocket", websocket)
    page.on("console", lambda message: traffic.console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: traffic.console.append(f"pageerror: {error}"))
    page.on(
        "request",
        lambda request: (
            traffic.posts.append(request.post_data or "") if request.method == "POST" else None
        ),
    )
    return Dashboard(context, page, traffic, server.url)


async def graphql_as(server: LiveServer, token: str, query: str, **variables: Any) -> dict:
    async with httpx.AsyncClient(timeout=60) as client:
        response = await client.post(
            server.graphql_url,
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Token {token}"},
        )
    assert response.status_code == 200, response.text
    return dict(response.json())


__all__ = [
    "DRH",
    "MANAGER",
    "SEED_RUNS",
    "Dashboard",
    "Traffic",
    "browser",
    "graphql_as",
    "open_dashboard",
]

"""The dashboard's browser harness, imported by its test modules (which import the
`browser` fixture too, so each module has its own headless Chromium; see tests/browser.py:
every request must stay on 127.0.0.1, any other host fails the test). The server is
conftest.py's `dashboard_api`, one for the session.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page

from tests.browser import TIMEOUT_MS, Traffic, browser, local_only_page, require_chromium
from tests.dashboard.accounts import DRH, MANAGER, SEED_RUNS
from tests.helpers import http_client
from tests.processes import LiveServer

require_chromium()

# The README's screenshots are rewritten only when asked (`make screenshots`); otherwise
# they are still taken (the code path runs) into a scratch folder, and a test run leaves
# the checkout as it found it.
SCREENSHOTS = Path(
    os.environ.get("DASHBOARD_SCREENSHOTS")
    or Path(tempfile.gettempdir()) / f"dashboard-screenshots-{os.getpid()}"
)


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
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 (once, tiny)
        await self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def open_dashboard(
    browser: Browser, server: LiveServer, *, width: int = 1280, height: int = 900
) -> Dashboard:
    """A new browser context whose every request goes through a route refusing other hosts."""
    context, page, traffic = await local_only_page(
        browser, viewport={"width": width, "height": height}, accept_downloads=True
    )
    page.set_default_timeout(TIMEOUT_MS)
    return Dashboard(context, page, traffic, server.url)


async def graphql_as(server: LiveServer, token: str, query: str, **variables: Any) -> dict:
    async with http_client(timeout=60) as client:
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
    "TIMEOUT_MS",
    "Dashboard",
    "Traffic",
    "browser",
    "graphql_as",
    "open_dashboard",
]

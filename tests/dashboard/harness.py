"""The dashboard's browser harness, imported by its test modules (which import the
`browser` fixture too, so each module has its own headless Chromium; see tests/browser.py:
every request must stay on 127.0.0.1, any other host fails the test). The server is
conftest.py's `dashboard_api`, one for the session.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page

from tests.browser import TIMEOUT_MS, Traffic, browser, local_only_page, require_chromium
from tests.conftest import REQUIRE_SERVICES
from tests.dashboard.accounts import DRH, MANAGER, SEED_RUNS
from tests.helpers import http_client, json_of
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
    browser: Browser,
    server: LiveServer,
    *,
    width: int = 1280,
    height: int = 900,
    **context_options: Any,
) -> Dashboard:
    """A new browser context whose every request goes through a route refusing other hosts
    (`context_options` as playwright's new_context: timezone_id, ...)."""
    context, page, traffic = await local_only_page(
        browser,
        viewport={"width": width, "height": height},
        accept_downloads=True,
        **context_options,
    )
    page.set_default_timeout(TIMEOUT_MS)
    return Dashboard(context, page, traffic, server.url)


async def graphql_as(
    server: LiveServer, token: str, query: str, **variables: Any
) -> dict[str, Any]:
    async with http_client(timeout=60) as client:
        response = await client.post(
            server.graphql_url,
            json={"query": query, "variables": variables},
            headers={"Authorization": f"Token {token}"},
        )
    assert response.status_code == 200, response.text
    return json_of(response)


# axe-core, pinned in axe/package-lock.json and installed there with `npm ci` the first
# time (node_modules is not committed), as tests/clients/http_audit does; injected from
# that file, never fetched at run time.
AXE_DIR = Path(__file__).parent / "axe"
AXE_SCRIPT = AXE_DIR / "node_modules" / "axe-core" / "axe.min.js"


async def install_axe() -> Path:
    """axe.min.js, installed with npm ci when missing; skips (fails under
    REQUIRE_SERVICES=1) without npm."""
    if AXE_SCRIPT.is_file():
        return AXE_SCRIPT
    npm = shutil.which("npm")
    if npm is None:
        reason = "the accessibility checks need npm on PATH (to install axe-core)"
        if REQUIRE_SERVICES:
            pytest.fail(reason)
        pytest.skip(reason)
    process = await asyncio.create_subprocess_exec(
        npm,
        "ci",
        "--prefer-offline",
        "--no-audit",
        "--no-fund",
        cwd=AXE_DIR,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 300)
    assert process.returncode == 0, f"npm ci failed in {AXE_DIR}:\n{out.decode()}\n{err.decode()}"
    return AXE_SCRIPT


AXE_URL_PATH = "/__tests__/axe.min.js"


async def axe_violations(page: Page, script: Path) -> list[str]:
    """axe-core's violations on the page as it is now, one line each: rule, impact, the
    first offending elements.

    add_script_tag(path=...) would inline the file, which the page's CSP ('self' only)
    refuses, rightly; so the page loads it from its own origin, where a playwright route
    answers with the installed file (the server never serves it)."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        origin = await page.evaluate("location.origin")
        await page.route(f"**{AXE_URL_PATH}", lambda route: route.fulfill(path=script))
        await page.add_script_tag(url=f"{origin}{AXE_URL_PATH}")
    results = await page.evaluate(
        """async () => {
          const result = await axe.run(document, {resultTypes: ['violations']});
          return result.violations.map((v) => `${v.id} (${v.impact}): ` +
            v.nodes.slice(0, 3).map((n) => n.target.join(' ')).join(' | '));
        }"""
    )
    return [str(line) for line in results]


__all__ = [
    "DRH",
    "MANAGER",
    "SEED_RUNS",
    "TIMEOUT_MS",
    "Dashboard",
    "Traffic",
    "axe_violations",
    "browser",
    "graphql_as",
    "install_axe",
    "open_dashboard",
]

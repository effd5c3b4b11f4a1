"""One dashboard server for the session (both browser modules use it; each has its
own browser). It needs no browser, so it lives here, not in harness.py (which skips
when chromium is missing)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.dashboard.accounts import start_dashboard_server
from tests.processes import LiveServer


@pytest.fixture(scope="session")
async def dashboard_api(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    server = await start_dashboard_server(tmp_path_factory.mktemp("dashboard"))
    try:
        yield server
    finally:
        await server.kill()

"""The app under test built again with other settings, on the session's database.

Some limits (the login limiter, WebSocket caps, re-check intervals) are settings read
once by create_app, and their state lives in the app: a test that floods them must not
leave the shared `server` limited for the tests after it. This builds a second app from
the session server's settings plus overrides and talks to it through httpx (HTTP and
WebSocket), from a client address of the test's choosing. It runs no lifespan: the
session server has already opened the database and owns the training pool.
"""

from __future__ import annotations

from typing import Any

import httpx
from httpx_ws.transport import ASGIWebSocketTransport
from starlette.applications import Starlette

from main import create_app
from resolvers.context import Services
from tests.conftest import Server


class ConfiguredApp:
    def __init__(self, server: Server, **overrides: Any) -> None:
        self.app: Starlette = create_app(server.settings.model_copy(update=overrides))

    @property
    def services(self) -> Services:
        services: Services = self.app.state.services
        return services

    def client(self, address: str = "10.20.0.1", port: int = 40000) -> httpx.AsyncClient:
        """A client whose requests come from `address` (the limits count per address)."""
        transport = ASGIWebSocketTransport(app=self.app, client=(address, port))
        return httpx.AsyncClient(transport=transport, base_url="http://testserver", timeout=60)

"""GraphiQL is served from the project's own files (static/vendor/VENDORED.md), under a
Content-Security-Policy that allows nothing but this server."""

from __future__ import annotations

import base64
import hashlib
import re
from pathlib import Path

import strawberry

from tests.conftest import REPO, Server

STRAWBERRY_PAGE = Path(strawberry.__file__).parent / "static" / "graphiql.html"
# An asset strawberry's template loads from its CDN, with the hash it pins.
CDN_ASSET = re.compile(
    r'(?:src|href)="https://unpkg\.com/(?P<path>[^"]+)"\s+integrity="(?P<integrity>[^"]+)"'
)
ASSET = re.compile(r'(?:src|href)="(?P<url>/static/[^"]+)"(?:\s+integrity="(?P<integrity>[^"]+)")?')


def _sri(content: bytes) -> str:
    return "sha384-" + base64.b64encode(hashlib.sha384(content).digest()).decode()


async def _graphiql_page(server: Server) -> str:
    response = await server.client.get("/graphql", headers={"Accept": "text/html"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/html")
    return response.text


def test_every_asset_strawberry_loads_from_a_cdn_is_vendored_unchanged() -> None:
    # given
    template = STRAWBERRY_PAGE.read_text()
    assets = list(CDN_ASSET.finditer(template))
    assert len(assets) == 7, "strawberry's GraphiQL template changed: see VENDORED.md"

    # then: same file as strawberry pins (its integrity hash), at the mirrored path
    for asset in assets:
        vendored = REPO / "static" / "vendor" / asset["path"]
        assert vendored.is_file(), f"{asset['path']} is not vendored (see VENDORED.md)"
        assert _sri(vendored.read_bytes()) == asset["integrity"], asset["path"]


async def test_graphiql_page_loads_only_local_assets_that_are_served(server: Server) -> None:
    # when
    page = await _graphiql_page(server)
    assets = list(ASSET.finditer(page))

    # then: no URL elsewhere, no inline script or style; every asset served as vendored
    assert "https://" not in page.replace("http://www.w3.org/2000/svg", "")
    assert "<style" not in page
    assert re.findall(r"<script(?![^>]*\bsrc=)[^>]*>", page) == []
    assert len(assets) == 9
    for asset in assets:
        response = await server.client.get(asset["url"])
        assert response.status_code == 200, asset["url"]
        if asset["integrity"]:
            assert _sri(response.content) == asset["integrity"], asset["url"]


async def test_content_security_policy_allows_this_server_only(server: Server) -> None:
    # when
    response = await server.client.get("/graphql", headers={"Accept": "text/html"})
    directives = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, _, value = part.strip().partition(" ")
        directives[name] = value

    # then
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"] == "'self' ws://testserver wss://testserver"
    assert directives["frame-ancestors"] == "'none'"
    assert "unpkg" not in response.headers["content-security-policy"]
    assert "unsafe-inline" not in response.headers["content-security-policy"]


def test_every_vendored_file_has_its_licence() -> None:
    # given
    vendor = REPO / "static" / "vendor"
    listed = (vendor / "VENDORED.md").read_text()

    # then
    packages = ["react@18.2.0", "react-dom@18.2.0", "js-cookie@3.0.5", "graphiql@3.8.3"]
    for package in [*packages, "chart.js@4.6.1"]:
        assert (vendor / package / "LICENSE").is_file(), package
        name, version = package.rsplit("@", 1)
        assert f"| {name} | {version} | MIT" in listed
    assert "| @graphiql/plugin-explorer | 1.0.2 | MIT" in listed

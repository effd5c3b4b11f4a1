"""GET / serves the dashboard's page: the project's own files only, under the same
Content-Security-Policy as GraphiQL (no inline script or style, nothing from elsewhere)."""

from __future__ import annotations

import re

from tests.conftest import REPO, Server

DASHBOARD = REPO / "static" / "dashboard"


async def test_the_root_serves_the_dashboard_page_under_a_self_only_policy(
    server: Server,
) -> None:
    # when
    response = await server.client.get("/")

    # then
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "unsafe-inline" not in policy
    page = response.text
    assert '<script type="module" src="/static/dashboard/app.js"></script>' in page
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), "inline script"
    assert "<style" not in page
    assert " style=" not in page


async def test_every_dashboard_file_is_served_and_refers_only_to_local_files(
    server: Server,
) -> None:
    # given
    files = sorted(DASHBOARD.rglob("*.js")) + sorted(DASHBOARD.rglob("*.css"))

    # when
    responses = {
        path.relative_to(REPO).as_posix(): await server.client.get(
            "/" + path.relative_to(REPO).as_posix()
        )
        for path in files
    }

    # then: served, and no URL to another host, no innerHTML (API values become text)
    assert {name: r.status_code for name, r in responses.items()} == dict.fromkeys(responses, 200)
    for name, response in responses.items():
        assert not re.search(r"https?://", response.text), name
        assert not re.search(r"\.(innerHTML|outerHTML)\s*=|insertAdjacentHTML", response.text), name
        # No grey examples in empty fields (taken for filled-in values): hints say them.
        assert not re.search(r"\bplaceholder\s*:", response.text), name
    assert (
        responses["static/dashboard/app.js"]
        .headers["content-type"]
        .startswith(("text/javascript", "application/javascript"))
    )

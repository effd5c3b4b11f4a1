"""Headless Chromium (Debian's /usr/bin/chromium, driven by Python playwright): GraphiQL
from the API's own files, and a front end on another origin calling the API over fetch
and graphql-transport-ws. Every request the browser makes must stay on 127.0.0.1: any
other host fails the test (GraphiQL used to load its scripts from a CDN).

Skips when chromium is missing, or fails under REQUIRE_SERVICES=1 (tests/browser.py).
"""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from playwright.async_api import Browser, Page

from tests.browser import TIMEOUT_MS, browser, local_only_page, require_chromium
from tests.clients.conftest import PageServer
from tests.helpers import train
from tests.processes import LiveServer

require_chromium()

# The session's front-end server (clients/conftest.py): the files using it share a worker.
pytestmark = pytest.mark.xdist_group("front-end-api")

__all__ = ["browser"]  # the fixture, imported for this module


async def _set_editor(page: Page, selector: str, index: int, text: str) -> None:
    """Type into one of GraphiQL's CodeMirror editors through CodeMirror's own API."""
    await page.evaluate(
        "([selector, index, text]) =>"
        " document.querySelectorAll(selector)[index].CodeMirror.setValue(text)",
        [selector, index, text],
    )


async def _run_in_graphiql(page: Page, query: str, expected: str) -> str:
    await _set_editor(page, ".graphiql-query-editor .CodeMirror", 0, query)
    # GraphiQL parses the edited document after a debounce, then reports it through
    # onEditQuery (which writes it into the URL). Executing before that would send the new
    # text with the previous document's operation type: a subscription over HTTP.
    await page.wait_for_function(
        "query => new URLSearchParams(location.search).get('q') === query",
        arg=query,
        timeout=TIMEOUT_MS,
    )
    await page.click(".graphiql-execute-button")
    result = page.locator(".result-window")
    await result.filter(has_text=expected).wait_for(timeout=TIMEOUT_MS)
    return await result.inner_text()


async def test_graphiql_runs_a_query_and_a_subscription_from_local_files(
    browser: Browser, front_end_api: LiveServer
) -> None:
    # given: a finished run to follow
    run = await train(front_end_api.data, 1, wait=True)
    assert run["status"] == "COMPLETED", run
    context, page, traffic = await local_only_page(browser)
    try:
        # when: GraphiQL opens, with the Authorization header set in its Headers editor
        await page.goto(f"{front_end_api.url}/graphql", timeout=TIMEOUT_MS)
        await page.locator(".graphiql-query-editor .CodeMirror").wait_for(timeout=TIMEOUT_MS)
        await page.get_by_role("button", name="Headers").click()
        await _set_editor(
            page,
            ".graphiql-editor-tool .CodeMirror",
            1,
            f'{{"Authorization": "Token {front_end_api.token}"}}',
        )
        viewer = await _run_in_graphiql(page, "{ viewer { username } }", "drh-user")
        followed = await _run_in_graphiql(
            page,
            f'subscription {{ trainingRunUpdated(id: "{run["id"]}") {{ status }} }}',
            "COMPLETED",
        )
    finally:
        await context.close()

    # then
    assert '"username": "drh-user"' in viewer
    assert '"status": "COMPLETED"' in followed
    assert traffic.foreign == [], traffic.foreign
    assert any(urlsplit(url).path.startswith("/static/vendor/") for url in traffic.urls)
    assert any(url.startswith("ws://127.0.0.1") for url in traffic.urls), traffic.urls
    assert traffic.csp_violations() == []


async def test_graphiql_opens_a_shared_link_with_a_malformed_escape(
    browser: Browser, front_end_api: LiveServer
) -> None:
    # given: a shared link whose query parameter was cut mid-escape
    context, page, traffic = await local_only_page(browser)
    try:
        # when
        await page.goto(f"{front_end_api.url}/graphql?q=%E0%A4%A", timeout=TIMEOUT_MS)
        await page.locator(".graphiql-query-editor .CodeMirror").wait_for(timeout=TIMEOUT_MS)
    finally:
        await context.close()

    # then: GraphiQL is there, and nothing threw
    assert [line for line in traffic.console if line.startswith("pageerror")] == []


FRONT_END_SCRIPT = """
async ([api, token]) => {
  const response = await fetch(api + "/graphql", {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      "Authorization": "Token " + token,
      "X-Request-ID": "front-end-1",
      "Apollo-Require-Preflight": "true",
    },
    body: JSON.stringify({ query: "{ viewer { username } }" }),
  });
  const fetched = await response.json();

  const subscribed = await new Promise((resolve, reject) => {
    const ws = new WebSocket(api.replace("http", "ws") + "/graphql", "graphql-transport-ws");
    const timer = setTimeout(() => reject(new Error("no subscription message")), 30000);
    ws.onerror = () => reject(new Error("WebSocket refused"));
    ws.onopen = () => ws.send(JSON.stringify({
      type: "connection_init", payload: { Authorization: "Token " + token },
    }));
    ws.onmessage = (event) => {
      const message = JSON.parse(event.data);
      if (message.type === "connection_ack") {
        ws.send(JSON.stringify({ id: "1", type: "subscribe", payload: {
          query: 'subscription { trainingRunUpdated(id: "999999") { status } }',
        } }));
      } else {
        clearTimeout(timer);
        ws.close();
        resolve(message);
      }
    };
  });
  return { fetched, subscribed, origin: window.location.origin };
}
"""


async def test_page_on_an_allowed_origin_fetches_and_subscribes(
    browser: Browser, front_end_api: LiveServer, page_server: PageServer
) -> None:
    # given: a page served by another local server, an origin listed in CORS_ORIGINS
    context, page, traffic = await local_only_page(browser)
    try:
        await page.goto(f"{page_server.origin}/index.html", timeout=TIMEOUT_MS)

        # when
        outcome = await page.evaluate(FRONT_END_SCRIPT, [front_end_api.url, front_end_api.token])
    finally:
        await context.close()

    # then: the fetch passed CORS (preflight included) and the WebSocket was accepted
    assert outcome["origin"] == page_server.origin
    assert outcome["fetched"] == {"data": {"viewer": {"username": "drh-user"}}}
    subscribed = outcome["subscribed"]
    assert subscribed["type"] == "next", subscribed
    assert subscribed["payload"]["errors"][0]["extensions"]["code"] == "NOT_FOUND"
    assert traffic.foreign == [], traffic.foreign

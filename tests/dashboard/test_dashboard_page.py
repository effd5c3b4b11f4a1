"""GET / serves the dashboard's page: the project's own files only, under the same
Content-Security-Policy as GraphiQL (no inline script or style, nothing from elsewhere).
Its navigation in a browser: on a phone one line whose "Menu" opens the links (by keyboard
or touch; axe finds nothing with it open) and closes on choosing a page; on a wide screen
the whole bar, as before.
Screenshots: nav-phone.png, nav-phone-open.png."""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.async_api import Browser, Page, expect

from tests.browser import browser, require_chromium
from tests.conftest import REPO, Server
from tests.processes import LiveServer

DASHBOARD = REPO / "static" / "dashboard"
FOLDED = re.compile(r"\bfolded\b")


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


# --- the navigation: a phone's menu, a wide screen's bar --------------------------------
# These need a browser; harness.py (imported in each test) skips when chromium is missing,
# which at this module's top would skip the two tests above as well. The `chromium` fixture
# skips before the module's browser fails to launch.


@pytest.fixture(scope="module")
def chromium() -> None:
    require_chromium()


async def nav_state(page: Page) -> dict[str, Any]:
    """Where the header's parts are and what the menu button says."""
    state: dict[str, Any] = await page.evaluate(
        """() => {
          const box = (element) => element.getBoundingClientRect();
          const top = document.getElementById('top');
          const button = document.getElementById('menu-button');
          const links = [...document.querySelectorAll('#nav a')];
          return {
            headerHeight: box(top).height,
            brandTop: box(top.querySelector('.brand')).top,
            buttonShown: button.offsetParent !== null,
            buttonTop: box(button).top,
            buttonText: button.textContent.trim().replace(/\\s+/g, ' '),
            expanded: button.getAttribute('aria-expanded'),
            linksShown: links.filter((link) => link.offsetParent !== null).length,
            linkRows: new Set(links.map((link) => Math.round(box(link).top))).size,
            links: links.length,
            current: links.filter((link) => link.getAttribute('aria-current') === 'page')
              .map((link) => link.textContent),
            overflow: document.documentElement.scrollWidth
              - document.documentElement.clientWidth,
          };
        }"""
    )
    return state


@pytest.mark.xdist_group("dashboard")
async def test_on_a_phone_the_navigation_is_one_line_and_its_menu_opens_navigates_and_closes(
    chromium: None, browser: Browser, dashboard_api: LiveServer
) -> None:
    from tests.dashboard.harness import (
        DRH,
        SCREENSHOTS,
        axe_violations,
        install_axe,
        open_dashboard,
    )

    # given: a 390 px phone, signed in on the runs
    script = await install_axe()
    dashboard = await open_dashboard(browser, dashboard_api, width=390, height=844)
    page = dashboard.page
    menu = page.get_by_role("button", name="Menu")
    try:
        await dashboard.sign_in(*DRH)
        closed = await nav_state(page)
        # The screen as the phone shows it (a whole-page shot would be mostly the table).
        await page.screenshot(path=str(SCREENSHOTS / "nav-phone.png"))

        # when: the menu opened by keyboard, its first link reached with Tab, Escape
        await menu.focus()
        await page.keyboard.press("Enter")
        opened = await nav_state(page)
        violations = await axe_violations(page, script)
        await page.keyboard.press("Tab")
        first_stop = await page.evaluate("document.activeElement.textContent")
        await page.screenshot(path=str(SCREENSHOTS / "nav-phone-open.png"))
        await page.keyboard.press("Escape")
        escaped = await nav_state(page)
        focus_back = await page.evaluate("document.activeElement.id")

        # when: opened by touch, and a page chosen in it
        await menu.click()
        await page.get_by_role("link", name="Compare", exact=True).click()
        await expect(page.get_by_role("heading", name="Compare runs")).to_be_focused()
        navigated = await nav_state(page)
        url = page.url
    finally:
        await dashboard.context.close()

    # then: one line (brand and "Menu: Runs"), no link shown until the menu opens
    assert closed["buttonShown"]
    assert abs(closed["buttonTop"] - closed["brandTop"]) < 16
    assert closed["headerHeight"] < 64, closed
    assert closed["linksShown"] == 0
    assert closed["buttonText"] == "Menu: Runs"
    assert closed["expanded"] == "false"
    assert closed["overflow"] <= 0
    # then: open, every link shown, the current one marked; Escape closes, focus comes back
    assert opened["expanded"] == "true"
    assert opened["linksShown"] == opened["links"] == 11
    assert opened["current"] == ["Runs"]
    assert opened["overflow"] <= 0
    assert violations == []
    assert first_stop == "Runs"
    assert escaped["expanded"] == "false"
    assert escaped["linksShown"] == 0
    assert focus_back == "menu-button"
    # then: choosing a page closes the menu and names the new page
    assert url.endswith("#/compare")
    assert navigated["expanded"] == "false"
    assert navigated["linksShown"] == 0
    assert navigated["buttonText"] == "Menu: Compare"
    assert navigated["current"] == ["Compare"]
    dashboard.traffic.assert_clean()


@pytest.mark.xdist_group("dashboard")
async def test_a_wide_screen_keeps_the_whole_bar_and_no_menu_button(
    chromium: None, browser: Browser, dashboard_api: LiveServer
) -> None:
    from tests.dashboard.harness import DRH, open_dashboard

    # given
    dashboard = await open_dashboard(browser, dashboard_api, width=1280, height=900)
    page = dashboard.page
    try:
        # when
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="History", exact=True).click()
        await expect(page.get_by_role("heading", name="History")).to_be_visible()
        state = await nav_state(page)
        sign_out = await page.get_by_role("button", name="Sign out").is_visible()
    finally:
        await dashboard.context.close()

    # then: every link on one row beside the brand, the account on that row too (it had
    # wrapped to a second line of its own), no Menu button
    assert not state["buttonShown"]
    assert state["linksShown"] == state["links"] == 11
    assert state["linkRows"] == 1
    assert state["headerHeight"] < 64
    assert state["current"] == ["History"]
    assert sign_out
    assert state["overflow"] <= 0
    dashboard.traffic.assert_clean()


@pytest.mark.xdist_group("dashboard")
async def test_the_bar_folds_only_when_its_links_do_not_fit(
    chromium: None, browser: Browser, dashboard_api: LiveServer
) -> None:
    """At 900 px a manager's eight links fit on one line and HR staff's eleven do not:
    the bar folds by what it holds, not at one width for everyone."""
    from tests.dashboard.harness import DRH, MANAGER, open_dashboard

    states: dict[str, dict[str, Any]] = {}
    for name, account in (("manager", MANAGER), ("drh", DRH)):
        # given
        dashboard = await open_dashboard(browser, dashboard_api, width=900, height=800)
        try:
            # when
            await dashboard.sign_in(*account)
            runs = dashboard.page.get_by_role("heading", name="Training runs")
            await expect(runs).to_be_visible()
            states[name] = await nav_state(dashboard.page)
            # when: the window narrows to a phone's width
            await dashboard.page.set_viewport_size({"width": 390, "height": 800})
            # (the bar is measured again on the window's resize event, after this call)
            await expect(dashboard.page.locator("header.top")).to_have_class(FOLDED)
            states[f"{name}-phone"] = await nav_state(dashboard.page)
        finally:
            await dashboard.context.close()
        dashboard.traffic.assert_clean()

    # then: the manager's bar is whole; HR staff's folds; both fold on a phone
    manager, drh = states["manager"], states["drh"]
    assert not manager["buttonShown"], manager
    assert manager["linksShown"] == manager["links"] == 8
    assert manager["linkRows"] == 1
    assert drh["buttonShown"], drh
    assert drh["linksShown"] == 0
    assert drh["headerHeight"] < 64
    for phone in (states["manager-phone"], states["drh-phone"]):
        assert phone["buttonShown"], phone
        assert phone["linksShown"] == 0
        assert phone["overflow"] <= 0


__all__ = ["browser"]  # the fixture, imported for this module

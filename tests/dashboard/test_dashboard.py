"""The dashboard at / in a real headless Chromium against a real `main.py serve`: HR staff
sign in, train and watch the progress bar reach 100 % from the subscription, find the run
in the table, open it, compare, see the history, download; a manager finds no write
control and the server refuses a forced one. Screenshots of each view go to
docs/screenshots/ (shown in the README). No request may leave 127.0.0.1.

Only fields on main are used here; the views on model aliases, predictions and datasets
are tested in test_dashboard_models.py.
"""

from __future__ import annotations

import hashlib
import re

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.harness import (
    DRH,
    MANAGER,
    SEED_RUNS,
    TIMEOUT_MS,
    browser,
    graphql_as,
    open_dashboard,
)
from tests.helpers import LONG_TREES, train
from tests.processes import LiveServer

# The session's one dashboard server (dashboard/conftest.py): its files share a worker.
pytestmark = pytest.mark.xdist_group("dashboard")

RUN_DETAILS = """
query($id: ID!) { trainingRun(id: $id) {
  modelVersion modelSha256 confusionMatrix { labels matrix }
} }
"""
DASH = "\u2013"  # the table's count reads "Runs 1–5 of 8"  # noqa: RUF003


async def test_sign_in_shows_the_runs_and_sign_out_revokes_the_token(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await page.goto(f"{dashboard_api.url}/")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        await dashboard.screenshot("sign-in")

        # when: a wrong password, then the right one
        await page.get_by_label("Username").fill(DRH[0])
        await page.get_by_label("Password").fill("wrong")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_role("alert")).to_contain_text("invalid username or password")
        await dashboard.sign_in(*DRH)
        token = await dashboard.token()
        await expect(page.locator("#who")).to_contain_text("drh-user")
        await page.get_by_role("button", name="Sign out").click()
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        stored = await page.evaluate("sessionStorage.getItem('future-skills.token')")
    finally:
        await dashboard.context.close()

    # then: the token is gone from the tab and refused by the server
    assert token.startswith("fst_")
    assert stored is None
    refused = await graphql_as(dashboard_api, token, "{ viewer { username } }")
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    dashboard.traffic.assert_clean()


async def test_training_shows_field_errors_then_progress_to_100_from_the_subscription(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="Train", exact=True).click()

        # when: refused input, then a valid run
        await page.get_by_label("Trees").fill("5000")
        await page.get_by_role("button", name="Train", exact=True).click()
        error = page.locator('[data-error-for="nEstimators"]')
        await expect(error).to_have_text("Trees must be from 1 to 1000; 5000 is outside.")
        await expect(page.get_by_label("Trees")).to_have_attribute("aria-invalid", "true")
        await dashboard.screenshot("train-errors")
        await page.get_by_label("Trees").fill("60")
        await page.get_by_label("Model version").fill("dashboard-trained")
        await page.get_by_role("button", name="Train", exact=True).click()
        await expect(page.locator("#train-progress-text")).to_have_text(
            re.compile(r"^100(\.0)?\s?%$"), timeout=TIMEOUT_MS
        )
        await expect(page.locator(".training")).to_have_attribute("data-status", "COMPLETED")
        value = await page.locator("#train-progress").get_attribute("value")
        await dashboard.screenshot("train")
    finally:
        await dashboard.context.close()

    # then: the bar was moved by trainingRunUpdated frames on the WebSocket, and the page
    # sent no query after trainModel (no polling)
    assert value == "100"
    updates = [frame for frame in dashboard.traffic.frames if "trainingRunUpdated" in frame]
    assert any('"progress": 1.0' in f or '"progress":1.0' in f for f in updates), updates
    posted = dashboard.traffic.posts
    after_train = posted[[i for i, p in enumerate(posted) if "dashboard-trained" in p][-1] + 1 :]
    assert after_train == [], after_train
    dashboard.traffic.assert_clean()


async def test_runs_table_pages_both_ways_filters_and_updates_live_rows(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: a long run queued behind nothing, so the table shows it QUEUED or RUNNING
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        total = int(await page.locator("#runs-count").get_attribute("data-total") or 0)
        assert total >= SEED_RUNS
        await page.get_by_label("Rows per page").select_option("5")
        await page.get_by_role("button", name="Apply").click()
        await expect(page.locator("#runs-count")).to_have_text(f"Runs 1{DASH}5 of {total:,}")

        # when: paging forward then back
        await page.get_by_role("button", name="Next →").click()
        await expect(page.locator("#runs-count")).to_contain_text(f"Runs 6{DASH}")
        await page.get_by_role("button", name="← Previous").click()
        await expect(page.locator("#runs-count")).to_have_text(f"Runs 1{DASH}5 of {total:,}")
        await expect(page.get_by_role("button", name="← Previous")).to_be_disabled()

        # when: sorted by accuracy (its header, twice: ascending), and filtered by version
        await page.get_by_role("button", name="Accuracy").click()
        await page.get_by_role("button", name="Accuracy").click()
        await expect(page.locator('th[data-column="accuracy"]')).to_have_attribute(
            "aria-sort", "ascending"
        )
        await page.get_by_label("Model version").fill("seed-2")
        await page.get_by_role("button", name="Apply").click()
        await expect(page.locator("#runs-count")).to_have_text(f"Runs 1{DASH}1 of 1")
        await expect(page.locator("table.runs tbody")).to_contain_text("seed-2")

        # when: a run is started elsewhere while the table shows it
        await page.get_by_label("Model version").fill("")
        await page.get_by_role("button", name="Date").click()
        run_id = (await train(dashboard_api.data, 400, modelVersion="live-row"))["id"]
        await page.get_by_role("button", name="Apply").click()
        row = page.locator(f'tr[data-run-id="{run_id}"]')
        await expect(row).to_have_attribute("data-status", re.compile("QUEUED|RUNNING"))
        await dashboard.screenshot("runs")

        # then: the row turns COMPLETED by itself, over the one WebSocket
        await expect(row).to_have_attribute("data-status", "COMPLETED", timeout=TIMEOUT_MS)
        await expect(row).to_contain_text("%")
    finally:
        await dashboard.context.close()
    sockets = [url for url in dashboard.traffic.urls if url.startswith("ws://")]
    assert len(sockets) == 1, sockets
    dashboard.traffic.assert_clean()


async def test_run_page_shows_the_confusion_matrix_and_downloads_the_model(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="seed-4", exact=True).click()
        await expect(page.get_by_role("heading", name="Run seed-4")).to_be_visible()
        run_id = page.url.rsplit("/", 1)[1]
        assert run_id.isdigit(), page.url  # a readable link: the database id
        expected = (await dashboard_api.data(RUN_DETAILS, {"id": run_id}))["trainingRun"]

        # when
        cells = await page.locator("table.heatmap tbody tr").evaluate_all(
            "rows => rows.map(row =>"
            " [...row.querySelectorAll('td')].map(td => Number(td.textContent)))"
        )
        bars = await page.locator("ol.bars li").count()
        settings = await page.evaluate(
            "Object.fromEntries([...document.querySelectorAll('dl.facts dt')]"
            ".map(dt => [dt.textContent, dt.nextElementSibling.textContent]))"
        )
        await dashboard.screenshot("run")
        async with page.expect_download() as download_info:
            await page.get_by_role("button", name="Download model").click()
        download = await download_info.value
        content = (await download.path()).read_bytes()
    finally:
        await dashboard.context.close()

    # then
    assert cells == expected["confusionMatrix"]["matrix"]
    assert bars > 0
    # its algorithm and parameters (TrainingRun.parameters): seed-4 is a 14-tree forest
    assert settings["Algorithm"] == "Random forest"
    assert settings["Trees"] == "14"
    assert settings["Max depth"] == "unlimited"
    assert settings["Class weight"] == "balanced"
    assert download.suggested_filename == "seed-4.joblib"
    assert hashlib.sha256(content).hexdigest() == expected["modelSha256"]
    dashboard.traffic.assert_clean()


async def test_compare_two_runs_and_see_the_history(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)

        # when: two runs ticked in the table
        await page.get_by_label("Compare seed-1").check()
        await page.get_by_label("Compare seed-5").check()
        await page.get_by_role("button", name="Compare", exact=True).click()
        await expect(page.get_by_role("heading", name="Compare 2 runs")).to_be_visible()
        best = await page.locator("td.best").count()
        differs = await page.locator("tr.differs").evaluate_all(
            "rows => rows.map(row => row.dataset.setting)"
        )
        charted = await page.evaluate(
            "[...document.querySelectorAll('canvas')]"
            ".map(c => Chart.getChart(c).data.datasets.length)"
        )
        await dashboard.screenshot("compare")

        # when: the history
        await page.get_by_role("link", name="History", exact=True).click()
        await expect(page.locator("#view .view-root")).to_have_attribute(
            "data-buckets", re.compile("[1-9]")
        )
        points = await page.evaluate(
            "Chart.getChart(document.querySelector('canvas')).data.datasets[1].data"
        )
        await page.get_by_label("Bucket", exact=True).select_option("HOUR")
        await expect(page.locator("#view .view-root")).to_have_attribute(
            "data-buckets", re.compile("[1-9]")
        )
        await dashboard.screenshot("history")
    finally:
        await dashboard.context.close()

    # then
    assert best == 5  # one best value per compared metric
    assert differs == ["nEstimators"]
    assert charted == [2, 2, 2, 2]  # per class, importance, scatter, parallel coordinates
    assert any(point is not None and 0 <= point <= 1 for point in points), points
    dashboard.traffic.assert_clean()


async def test_manager_sees_no_write_controls_and_the_server_refuses_forced_ones(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*MANAGER)
        await expect(page.locator("#who")).to_contain_text("read only")
        nav = await page.locator("#nav").inner_text()
        await page.get_by_role("link", name="seed-0", exact=True).click()
        await expect(page.get_by_role("heading", name="Run seed-0")).to_be_visible()
        buttons = await page.locator("main button").all_inner_texts()
        download_url = await page.evaluate(
            "async () => (await (await fetch('/graphql', {method: 'POST', headers: {"
            "'Content-Type': 'application/json', Authorization: 'Token ' +"
            " sessionStorage.getItem('future-skills.token')}, body: JSON.stringify({query:"
            " '{ trainingRuns(first: 1) { nodes { databaseId } } }'})})).json())"
        )
        await dashboard.screenshot("run-manager")

        # when: the page is made to send what it offers no control for
        forced = await page.evaluate(
            """async () => {
              const headers = {'Content-Type': 'application/json',
                Authorization: 'Token ' + sessionStorage.getItem('future-skills.token')};
              const train = await fetch('/graphql', {method: 'POST', headers, body:
                JSON.stringify({query: 'mutation { trainModel(input: {}) { errors { code } } }'})});
              const download = await fetch('/runs/1/model', {headers});
              return {train: await train.json(), download: download.status};
            }"""
        )
        await page.goto(f"{dashboard_api.url}/#/train")
        train_page = await page.locator("main h1").inner_text()
    finally:
        await dashboard.context.close()

    # then
    assert "Train" not in nav.split("\n")
    assert not [text for text in buttons if re.search("Download|Cancel|Promote|Upload", text)]
    assert download_url["data"]["trainingRuns"]["nodes"]
    assert forced["train"]["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    assert forced["download"] == 403
    assert train_page == "HR staff only"
    dashboard.traffic.assert_clean()


async def test_the_runs_table_fits_a_390_pixel_phone(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api, width=390, height=844)
    page = dashboard.page
    try:
        # when
        await dashboard.sign_in(*DRH)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        # each run a card: no cell under the checkbox, in its narrow column
        under_checkbox = await page.evaluate(
            "[...document.querySelectorAll('table.runs tbody tr')].flatMap(tr => {"
            " const box = tr.cells[0].getBoundingClientRect();"
            " return [...tr.cells].slice(1)"
            ".filter(td => td.getBoundingClientRect().left < box.right)"
            ".map(td => td.dataset.label); })"
        )
        start = await page.evaluate("document.activeElement.textContent")
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "[document.getElementById('view').contains(document.activeElement),"
            " getComputedStyle(document.activeElement).outlineStyle]"
        )
        await dashboard.screenshot("runs-phone")
    finally:
        await dashboard.context.close()

    # then: nothing wider than the screen (the table scrolls in its own box); the view's
    # heading takes the focus, and the keyboard's next stop in it shows a focus ring
    assert overflow <= 0
    assert under_checkbox == []
    assert start == "Training runs"
    assert focused == [True, "solid"]
    dashboard.traffic.assert_clean()


async def test_a_malformed_link_shows_not_found_instead_of_throwing(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)

        # when: a link whose escape is cut short (decodeURIComponent throws on it)
        await page.goto(f"{dashboard_api.url}/#/runs/%E0%A4%A")
        heading = await page.locator("main h1").inner_text()
        # and a page no route knows
        await page.evaluate("location.hash = '#/nowhere'")
        await expect(page).to_have_title(re.compile("^Not found"))
        unknown = await page.locator("main").inner_text()
    finally:
        await dashboard.context.close()

    # then: a page that says so, and no uncaught URIError; nothing else on it (its missing
    # paragraph once read "null")
    assert heading == "Not found"
    assert unknown.split() == ["Not", "found", "Back", "to", "the", "runs"]
    dashboard.traffic.assert_clean()


__all__ = ["browser"]  # the fixture, imported for this module


async def test_cancel_a_running_run_from_its_page(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: a long run, followed from its page
    run_id = (await train(dashboard_api.data, LONG_TREES, modelVersion="to-cancel"))["id"]
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.goto(f"{dashboard_api.url}/#/runs/{run_id}")
        await expect(page.get_by_role("heading", name="Run to-cancel")).to_be_visible()

        # when
        await page.get_by_role("button", name="Cancel run").click()

        # then: the page learns the end from the subscription and shows the final state
        await expect(page.locator(".heading .badge")).to_contain_text(
            "CANCELLED", timeout=TIMEOUT_MS
        )
        await expect(page.get_by_role("button", name="Cancel run")).to_have_count(0)
    finally:
        await dashboard.context.close()
    dashboard.traffic.assert_clean()

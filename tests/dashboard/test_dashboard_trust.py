"""Issue 21, "a dashboard people can trust at 5,000 runs", as a user meets it in Chromium:
Predict refuses rows it cannot read (naming row and column) before predicting anything;
a slow view never renders into the next one; links are readable, carry the table's state
and survive sign-in; the train form says what is wrong beside the field and keeps its
settings; a stopped server shows "connection lost" and a retry; compare lets the user
choose the baseline; axe-core finds nothing on any view at desktop and phone widths;
managers are told what they can do; times say their zone. No request leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import itertools
import json
import math
import re
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, Page, Route, expect

from tests.conftest import REPO, SHIPPED_DATASET
from tests.dashboard.harness import (
    DRH,
    MANAGER,
    TIMEOUT_MS,
    Dashboard,
    axe_violations,
    browser,
    install_axe,
    open_dashboard,
)
from tests.helpers import FINISHED_RUN
from tests.processes import PYTHON, STARTUP_TIMEOUT, LiveServer, live_server

# The session's one dashboard server (dashboard/conftest.py): its files share a worker.
pytestmark = pytest.mark.xdist_group("dashboard")

__all__ = ["browser"]  # the fixture, imported for this module

DASH = "\u2013"  # the en dash of the table's count ("Runs 1-5 of 8")
RUN_OF_VERSION = """
query($version: String!) { trainingRuns(first: 1, filter: {modelVersion: $version}) {
  nodes { id databaseId runDate }
} }
"""
SET_ALIAS = """
mutation($alias: String!, $id: ID!) { setModelAlias(alias: $alias, runId: $id) { errors { code } } }
"""


async def database_id(server: LiveServer, version: str) -> int:
    nodes = (await server.data(RUN_OF_VERSION, {"version": version}))["trainingRuns"]["nodes"]
    return int(nodes[0]["databaseId"])


async def sign_in_at(dashboard: Dashboard, hash_: str, account: tuple[str, str]) -> None:
    """Open a link while signed out, then sign in on the page it lands on."""
    page = dashboard.page
    await page.goto(f"{dashboard.url}/{hash_}")
    await page.get_by_label("Username").fill(account[0])
    await page.get_by_label("Password").fill(account[1])
    await page.get_by_role("button", name="Sign in").click()


async def settled(page: Page, view: str) -> None:
    """The router shows `view` (#view's data-view: the page's nav name, or its path's first
    part) and has finished loading it (its loading line is gone). The view first: a click
    on a link returns before the router replaces the page that was there, which has no
    loading line either (CI once read the run page's empty table as the runs list's)."""
    await expect(page.locator("#view")).to_have_attribute("data-view", view)
    await expect(page.locator("#view > .loading")).to_have_count(0)
    await expect(page.locator("#view")).not_to_have_attribute("aria-busy", "true")


def predictions_posted(dashboard: Dashboard) -> list[str]:
    return [post for post in dashboard.traffic.posts if "predictFutureNeed" in post]


# --- 1. Predict -------------------------------------------------------------------------
async def test_predict_refuses_unreadable_rows_naming_row_and_column_before_predicting(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: a production model, and a French-locale Excel export (semicolons, decimal
    # commas) whose second row has "abc" for a number
    run = await database_id(dashboard_api, "seed-5")
    await dashboard_api.data(SET_ALIAS, {"alias": "production", "id": str(run)})
    header, first, second = SHIPPED_DATASET.read_text().splitlines()[:3]

    def french(line: str) -> str:
        return ";".join(cell.replace(".", ",") for cell in line.split(","))

    bad_second = second.split(",")
    bad_second[4] = "abc"
    bad = "\n".join([french(header), french(first), french(",".join(bad_second))])
    good = "\n".join([french(header), french(first), french(second)])
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="Predict", exact=True).click()
        await settled(page, "predict")
        placeholders = await page.locator("main [placeholder]").count()

        # when: the empty one-row form is sent
        await page.get_by_role("button", name="Predict").click()
        await expect(page.locator('[data-error-for="trendScore"]')).to_have_text(
            "Trend score is empty."
        )
        empty_sent = len(predictions_posted(dashboard))

        # when: the CSV with a bad cell
        csv = page.get_by_label("Or paste CSV rows (with the dataset's header line)")
        await csv.fill(bad)
        await page.get_by_role("button", name="Predict").click()
        problems = page.locator("table.row-problems tbody tr")
        await expect(problems).to_have_count(1)
        problem = await problems.first.locator("td").all_inner_texts()
        await dashboard.screenshot("predict-refused")
        bad_sent = len(predictions_posted(dashboard))
        await expect(page.locator("table.predictions")).to_have_count(0)

        # when: the same export without the bad cell
        await csv.fill(good)
        await page.get_by_role("button", name="Predict").click()
        # The first prediction loads the model file: seconds on a loaded two-core machine.
        await expect(page.locator("table.predictions tbody tr")).to_have_count(2, timeout=20_000)
        sent = json.loads(predictions_posted(dashboard)[-1])["variables"]["rows"]
    finally:
        await dashboard.context.close()

    # then: nothing predicted until every cell is readable; the bad one named by row and
    # column; semicolons and decimal commas read as the numbers they are
    assert placeholders == 0
    assert empty_sent == 0
    assert problem == ["2", "trend_score", '"abc" is not a number.']
    assert bad_sent == 0
    assert sent[0]["trendScore"] == float(first.split(",")[4])
    assert sent[1]["jobRoleName"] == second.split(",")[0]
    assert sent[0]["trendScore"] != sent[1]["trendScore"]
    dashboard.traffic.assert_clean()


# --- 2. Views never mix -----------------------------------------------------------------
async def test_signing_in_on_a_slow_network_says_so_until_it_is_done(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: a 1.5 s network for the sign-in request
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page

    async def slow(route: Route) -> None:
        if "login(" in (route.request.post_data or ""):
            await asyncio.sleep(1.5)
        await route.fallback()

    try:
        await page.route("**/graphql", slow)
        # when
        await sign_in_at(dashboard, "#/", DRH)
        # then: the button says what is happening, and cannot be pressed twice
        waiting = page.get_by_role("button", name="Signing in…")
        await expect(waiting).to_be_disabled()
        await expect(page.get_by_role("heading", name="Training runs")).to_be_visible()
    finally:
        await dashboard.context.close()


async def test_a_slow_view_shows_loading_and_never_renders_into_the_next_one(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: a 1.5 s network for the run page's query only
    run = await database_id(dashboard_api, "seed-3")
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    delayed: list[Route] = []
    answered = asyncio.Event()

    async def slow(route: Route) -> None:
        if "query Run(" not in (route.request.post_data or ""):
            await route.fallback()
            return
        delayed.append(route)
        await asyncio.sleep(1.5)
        with contextlib.suppress(Exception):  # the page may have aborted it
            await route.fallback()
        answered.set()

    try:
        await dashboard.sign_in(*DRH)
        await page.route("**/graphql", slow)

        # when: the run is opened, then History before the run has answered
        await page.evaluate(f"location.hash = '#/runs/{run}'")
        await expect(page.locator("#view > .loading")).to_have_text("Loading…")
        await page.get_by_role("link", name="History", exact=True).click()
        await expect(page.get_by_role("heading", name="History", exact=True)).to_be_visible()
        await asyncio.wait_for(answered.wait(), 10)
        # one more turn of the page's event loop, for anything the late answer would draw
        await page.evaluate("new Promise((resolve) => setTimeout(resolve, 300))")
        headings = await page.locator("main h1").all_inner_texts()
        buttons = await page.locator("main button").all_inner_texts()
        title = await page.title()
    finally:
        await dashboard.context.close()

    # then: History alone, no run page, no Promote form from the cancelled view
    assert delayed
    assert headings == ["History"]
    assert not [text for text in buttons if "Promote" in text]
    assert title.startswith("History")
    dashboard.traffic.assert_clean()


# --- 3. Shareable links -----------------------------------------------------------------
async def test_a_shared_run_link_survives_sign_in_and_the_table_lives_in_the_url(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: a colleague's link to a run, opened in a new browser
    run = await database_id(dashboard_api, "seed-4")
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        # when: signing in on the page the link leads to
        await sign_in_at(dashboard, f"#/runs/{run}", DRH)
        await expect(page.get_by_role("heading", name="Run seed-4")).to_be_visible()
        landed = page.url

        # when: the runs table is filtered, sorted and paged, then the page reloaded
        await page.get_by_role("link", name="Runs", exact=True).click()
        await settled(page, "runs")
        hrefs = await page.locator("table.runs tbody a").evaluate_all(
            "links => links.map(link => link.getAttribute('href'))"
        )
        await page.get_by_label("completed").check()
        await page.get_by_label("Rows per page").select_option("5")
        await page.get_by_role("button", name="Apply").click()
        await page.get_by_role("button", name="F1").click()
        await expect(page.locator('th[data-column="f1"]')).to_have_attribute(
            "aria-sort", "descending"
        )
        await page.get_by_role("button", name="Next →").click()
        await expect(page.locator("#runs-count")).to_contain_text(f"Runs 6{DASH}")
        shared = page.url
        await page.reload()
        await settled(page, "runs")
        count = await page.locator("#runs-count").inner_text()
        checked = await page.get_by_label("completed").is_checked()
        sort = await page.locator('th[data-column="f1"]').get_attribute("aria-sort")
        await page.go_back()
        await expect(page.locator("#runs-count")).to_contain_text(f"Runs 1{DASH}5 ")
    finally:
        await dashboard.context.close()

    # then: the run itself after sign-in; database ids in links; the table's state in the
    # URL, kept by a reload
    assert landed.endswith(f"#/runs/{run}")
    assert hrefs
    assert all(re.fullmatch(r"#/runs/\d+", href) for href in hrefs), hrefs
    query = shared.split("?", 1)[1]
    assert {"status=COMPLETED", "sort=F1_SCORE", "size=5", "at=5"} <= set(query.split("&"))
    assert "after=" in query
    assert count.startswith(f"Runs 6{DASH}")
    assert checked
    assert sort == "descending"
    dashboard.traffic.assert_clean()


# --- 4. The train form ------------------------------------------------------------------
async def test_the_train_form_names_what_is_wrong_beside_the_field_and_keeps_the_settings(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="Train", exact=True).click()
        await settled(page, "train")
        train = page.get_by_role("button", name="Train", exact=True)

        # when: a cleared field, and "12.5" for max depth
        await page.get_by_label("Trees").fill("")
        await page.get_by_label("Max depth").fill("12.5")
        await train.click()
        trees_error = await page.locator('[data-error-for="nEstimators"]').inner_text()
        depth_error = await page.locator('[data-error-for="maxDepth"]').inner_text()
        invalid = await page.get_by_label("Max depth").get_attribute("aria-invalid")
        sent = [post for post in dashboard.traffic.posts if "trainModel" in post]

        # when: a valid run, then away and back
        await page.get_by_label("Trees").fill("7")
        await page.get_by_label("Max depth").fill("6")
        await page.get_by_label("Test split (%)").fill("25")
        await page.get_by_label("Model version").fill("trained-twice")
        await train.click()
        await expect(page.locator(".training")).to_have_attribute(
            "data-status", "COMPLETED", timeout=TIMEOUT_MS
        )
        again_offered = await page.get_by_role(
            "button", name="Train again with these settings"
        ).is_visible()
        await page.get_by_role("link", name="Runs", exact=True).click()
        await page.get_by_role("link", name="Train", exact=True).click()
        await settled(page, "train")
        kept = [await page.get_by_label(label).input_value() for label in ("Trees", "Max depth")]

        # when: "train again" from the run's page, in a fresh tab with other settings
        await page.evaluate("sessionStorage.removeItem('future-skills.train-settings')")
        await page.get_by_role("link", name="Runs", exact=True).click()
        await page.get_by_role("link", name="trained-twice", exact=True).click()
        await page.get_by_role("link", name="Train again with these settings").click()
        await expect(page.locator("#train-from")).to_contain_text("trained-twice")
        from_run = [
            await page.get_by_label(label).input_value()
            for label in ("Trees", "Max depth", "Test split (%)")
        ]
    finally:
        await dashboard.context.close()

    # then
    assert trees_error == "Trees is empty: enter a whole number from 1 to 1000."
    assert depth_error == "Max depth must be a whole number from 1 to 100; 12.5 is not."
    assert invalid == "true"
    assert sent == []  # nothing was sent, so nothing trained with a default
    assert again_offered
    assert kept == ["7", "6"]
    assert from_run == ["7", "6", "25"]
    dashboard.traffic.assert_clean()


# --- 5. Loading and failure: a stopped server --------------------------------------------
async def _restart_on_same_port(server: LiveServer) -> None:
    """Serve the same database on the same port again (the browser's tab reconnects)."""
    port = str(urlsplit(server.url).port)
    with server.log_path.open("ab") as log:
        server.process = await asyncio.create_subprocess_exec(
            PYTHON,
            *("main.py", "serve", "--host", "127.0.0.1", "--port", port, "--no-migrate"),
            cwd=REPO,
            env=server.env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    await server.wait_healthy(STARTUP_TIMEOUT)


def _insert_many_runs(server: LiveServer, count: int) -> None:
    """`count` finished runs in one transaction (server.insert_run opens one each)."""
    first = server.insert_run(**FINISHED_RUN, run_date="2026-01-01 00:00:00+00:00")
    with contextlib.closing(sqlite3.connect(server.database, timeout=30)) as connection:
        columns = [row[1] for row in connection.execute("PRAGMA table_info(training_run)")]
        (template,) = connection.execute(
            "SELECT * FROM training_run WHERE id = ?", (first,)
        ).fetchall()
        rows = []
        for index in range(count - 1):
            row = dict(zip(columns, template, strict=True))
            row.pop("id")
            row["model_version"] = f"bulk-{index:05d}"
            rows.append(row)
        names = ", ".join(f'"{name}"' for name in rows[0])
        marks = ", ".join("?" for _ in rows[0])
        with connection:
            connection.executemany(
                f"INSERT INTO training_run ({names}) VALUES ({marks})",
                [list(row.values()) for row in rows],
            )


async def test_a_stopped_server_shows_connection_lost_with_a_retry_and_honest_states(
    browser: Browser, tmp_path: Path
) -> None:
    async with live_server(tmp_path, password=DRH[1]) as server:
        # given: a run 6.4 % into fitting 400 trees, started 2 minutes ago, a cancelled
        # run, and over a thousand runs in all
        started = (datetime.now(UTC) - timedelta(minutes=2)).isoformat(sep=" ")
        running = server.insert_run(
            status="RUNNING",
            stage="FITTING",
            progress=0.064,
            n_estimators=400,
            started_at=started,
            model_version="long-run",
        )
        cancelled = server.insert_run(
            status="CANCELLED",
            error_message="Cancelled by drh-user.",
            model_version="stopped-run",
        )
        _insert_many_runs(server, 1200)
        dashboard = await open_dashboard(browser, server)
        page = dashboard.page
        try:
            await dashboard.sign_in(*DRH)
            row = page.locator(f'tr[data-database-id="{running}"]')
            await expect(row).to_contain_text("6.4%")
            running_text = await row.inner_text()
            count = await page.locator("#runs-count").inner_text()
            await page.evaluate(f"location.hash = '#/runs/{cancelled}'")
            await expect(page.get_by_role("heading", name="Run stopped-run")).to_be_visible()
            cancelled_box = await page.locator(".notice").inner_text()
            errors_shown = await page.locator(".failure").count()
            await page.get_by_role("link", name="Runs", exact=True).click()
            await settled(page, "runs")

            # when: the server stops
            await server.kill()

            # then: "connection lost" within 10 s without doing anything
            banner = page.locator("#connection")
            await expect(banner).to_be_visible(timeout=10_000)
            await expect(banner).to_contain_text("Connection lost")

            # when: History is opened meanwhile (the router marks the view once it is
            # shown; reading before that raced the navigation's start)
            await page.get_by_role("link", name="History", exact=True).click()
            await settled(page, "history")
            await expect(page.locator("main")).to_contain_text("Connection lost")
            offline_view = await page.locator("main").inner_text()
            await dashboard.screenshot("connection-lost")

            # when: the server is back, and the user retries
            await _restart_on_same_port(server)
            await expect(banner).to_be_hidden(timeout=TIMEOUT_MS)
            await page.get_by_role("button", name="Retry").click()
            await expect(page.locator("#view .view-root")).to_have_attribute(
                "data-buckets", re.compile("[1-9]")
            )
        finally:
            await dashboard.context.close()

    # then
    assert re.search(
        r"2 min \d+ s elapsed · 7 of 400 trees · about [\d h min s]+ left", running_text
    ), running_text
    assert count == f"Runs 1{DASH}15 of 1,202"
    assert "Cancelled by drh-user." in cancelled_box
    assert errors_shown == 0
    assert "Connection lost" in offline_view
    assert "Failed to fetch" not in offline_view
    dashboard.traffic.assert_clean()


# --- 6. At 5,000 runs: search, sort, columns, export ------------------------------------
async def test_search_sort_choose_columns_and_export_the_filtered_runs(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        search = page.get_by_label("Search runs")

        # when: too short a search, then part of a version in another case
        await search.fill("ab")
        await page.get_by_role("button", name="Search", exact=True).click()
        short = await page.get_by_role("alert").filter(has_text="Search").inner_text()
        await search.fill("EED-4")
        await page.get_by_role("button", name="Search", exact=True).click()
        await expect(page.locator("#runs-count")).to_have_text(f"Runs 1{DASH}1 of 1")
        found = await page.locator("table.runs tbody a").all_inner_texts()

        # when: every seed, by duration, with the Trees column, after a reload
        await search.fill("seed-")
        await page.get_by_role("button", name="Search", exact=True).click()
        await expect(page.locator("#runs-count")).to_have_text(f"Runs 1{DASH}6 of 6")
        await page.get_by_role("button", name="Duration").click()
        await expect(page.locator('th[data-column="duration"]')).to_have_attribute(
            "aria-sort", "descending"
        )
        await page.get_by_text("Columns", exact=True).click()
        await page.get_by_label("Trees", exact=True).check()
        await page.reload()
        await settled(page, "runs")
        trees = await page.locator('td[data-label="Trees"]').all_inner_texts()
        await dashboard.screenshot("runs-search")
        shown = await page.locator("table.runs tbody a").all_inner_texts()
        async with page.expect_download() as download_info:
            await page.get_by_role("button", name="Export CSV").click()
        download = await download_info.value
        exported = list(
            csv.DictReader((await download.path()).read_text(encoding="utf-8-sig").splitlines())
        )
    finally:
        await dashboard.context.close()

    # then: the server's search and order, in the table and in the export alike
    assert "3 characters" in short
    assert found == ["seed-4"]
    assert sorted(shown) == [f"seed-{index}" for index in range(6)]
    assert sorted(int(value) for value in trees) == [2, 5, 8, 11, 14, 17]
    versions = [row.get("modelVersion") or row.get("model_version") for row in exported]
    assert versions == shown
    assert download.suggested_filename == "training-runs.csv"
    dashboard.traffic.assert_clean()


# --- 7. Compare -------------------------------------------------------------------------
async def test_compare_ten_runs_with_a_chosen_baseline_labelled_deltas_and_every_chart(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: a FAILED run ticked first, then nine runs with metrics (one lower-case version)
    earlier = (datetime.now(UTC) - timedelta(days=3)).isoformat(sep=" ")
    failed = dashboard_api.insert_run(
        status="FAILED", error_message="boom", model_version="broken-run", run_date=earlier
    )
    extra = [
        dashboard_api.insert_run(
            **{**FINISHED_RUN, "accuracy": 0.70 + index / 100},
            model_version=version,
            run_date=earlier,
            random_state=index,
        )
        for index, version in enumerate(["q1-rf60-d12", "extra-b", "extra-c"])
    ]
    seeds = [await database_id(dashboard_api, f"seed-{index}") for index in range(6)]
    ids = [failed, *extra, *seeds]
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.evaluate(f"location.hash = '#/compare?ids={','.join(map(str, ids))}'")
        await expect(page.get_by_role("heading", name="Compare 10 runs")).to_be_visible()
        note = await page.locator(".baseline-note").inner_text()
        baseline = await page.get_by_label("Baseline (deltas are against it)").input_value()
        deltas = await page.locator('tr[data-metric="ACCURACY"] .delta').all_inner_texts()
        headers = await page.locator("table.compare thead th").all_inner_texts()
        colours = await page.evaluate(
            "Chart.getChart(document.querySelector('canvas'))"
            ".data.datasets.map(d => d.backgroundColor)"
        )
        kinds = await page.evaluate(
            "[...document.querySelectorAll('canvas')].map(c => Chart.getChart(c).config.type)"
        )
        tables = await page.locator("details.chart-data").count()
        await dashboard.screenshot("compare-ten")

        # when: only differences, then another baseline
        await page.get_by_label("Show only differences").check()
        same = page.locator('tr[data-setting="datasetPath"]')
        await expect(same).to_have_count(1)  # there, but hidden: is_hidden() of none is True
        hidden_same = await same.is_hidden()
        shown_differing = await page.locator('tr[data-setting="randomState"]').is_visible()
        await page.get_by_label("Baseline (deltas are against it)").select_option(str(seeds[2]))
        await expect(page.locator("table.compare thead th").nth(1)).to_contain_text("seed-2")
        moved = await page.locator("table.compare thead th").nth(1).inner_text()
        url = page.url
    finally:
        await dashboard.context.close()

    # then
    assert "broken-run is failed and has no metrics" in note
    assert baseline == str(extra[0])
    assert deltas[0] == "—"  # the failed run, now second, has no metric to compare
    labelled = re.compile(r"([+−]\d+(\.\d)?|±0) pp vs baseline")  # noqa: RUF001
    assert len(deltas) == 9
    assert all(labelled.fullmatch(delta) for delta in deltas[1:]), deltas
    assert any("q1-rf60-d12" in header for header in headers), headers
    assert min(_delta_e(a, b) for a, b in itertools.combinations(colours, 2)) >= 15, colours
    assert kinds == ["bar", "bar", "scatter", "line"]
    assert tables == 4
    assert hidden_same
    assert shown_differing
    assert "(baseline)" in moved
    assert f"baseline={seeds[2]}" in url
    dashboard.traffic.assert_clean()


def _lab(colour: str) -> tuple[float, float, float]:
    red, green, blue = (int(colour[i : i + 2], 16) / 255 for i in (1, 3, 5))

    def linear(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = linear(red), linear(green), linear(blue)
    x = (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047
    y = 0.2126 * r + 0.7152 * g + 0.0722 * b
    z = (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883

    def f(t: float) -> float:
        return t ** (1 / 3) if t > 0.008856 else 7.787 * t + 16 / 116

    return 116 * f(y) - 16, 500 * (f(x) - f(y)), 200 * (f(y) - f(z))


def _delta_e(first: str, second: str) -> float:
    """CIE76 colour difference: about 2 is just noticeable, 15 and more clearly distinct."""
    return math.dist(_lab(first), _lab(second))


# --- 8. Accessibility -------------------------------------------------------------------
def _luminance(rgb: str) -> float:
    channels = [int(value) / 255 for value in re.findall(r"[\d.]+", rgb)[:3]]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _contrast(first: str, second: str) -> float:
    light, dark = sorted((_luminance(first), _luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)


FOCUS = """() => {
  const element = document.activeElement;
  const style = getComputedStyle(element);
  let node = element.parentElement;
  let background = 'rgb(255, 255, 255)';
  while (node) {
    const colour = getComputedStyle(node).backgroundColor;
    if (colour && colour !== 'rgba(0, 0, 0, 0)' && colour !== 'transparent') {
      background = colour;
      break;
    }
    node = node.parentElement;
  }
  return [element.tagName, element.textContent.slice(0, 40), style.outlineStyle,
          parseFloat(style.outlineWidth), style.outlineColor, background];
}"""


@pytest.mark.parametrize("width", [1280, 390])
async def test_every_view_passes_axe_has_its_own_title_and_a_visible_focus(
    browser: Browser, dashboard_api: LiveServer, width: int
) -> None:
    # given
    script = await install_axe()
    run = await database_id(dashboard_api, "seed-4")
    other = await database_id(dashboard_api, "seed-1")
    views = {
        "runs": "#/runs",
        "run": f"#/runs/{run}",
        "train": "#/train",
        "compare": f"#/compare?ids={run},{other}",
        "history": "#/history",
        "models": "#/models",
        "predict": "#/predict",
        "audit": "#/audit",
    }
    dashboard = await open_dashboard(browser, dashboard_api, width=width, height=900)
    page = dashboard.page
    found: dict[str, list[str]] = {}
    titles: dict[str, str] = {}
    focus: dict[str, list[Any]] = {}
    overflow: dict[str, int] = {}
    try:
        await page.goto(f"{dashboard_api.url}/#/login")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        found["sign-in"] = await axe_violations(page, script)
        titles["sign-in"] = await page.title()
        await dashboard.sign_in(*DRH)

        # when: each view, as a keyboard user arrives on it
        for name, hash_ in views.items():
            await page.evaluate(f"location.hash = '{hash_}'")
            await settled(page, hash_.removeprefix("#/").split("?")[0].split("/")[0])
            await expect(page.locator("main h1")).to_be_focused()
            focus[f"{name} heading"] = await page.evaluate(FOCUS)
            await page.keyboard.press("Tab")
            focus[f"{name} first stop"] = await page.evaluate(FOCUS)
            found[name] = await axe_violations(page, script)
            titles[name] = await page.title()
            overflow[name] = await page.evaluate(
                "document.documentElement.scrollWidth - document.documentElement.clientWidth"
            )
            if width == 390 and name in {"run", "compare"}:
                await dashboard.screenshot(f"{name}-phone")
        await page.evaluate(f"location.hash = '#/runs/{run}'")
        await settled(page, "runs")
        heatmap = await page.locator("table.heatmap td.cell").evaluate_all(
            "cells => cells.map(c => [getComputedStyle(c).color,"
            " getComputedStyle(c).backgroundColor])"
        )
        scrollers = await page.locator(".table-scroll").evaluate_all(
            "boxes => boxes.map(b => [b.tabIndex, b.getAttribute('aria-label')])"
        )
    finally:
        await dashboard.context.close()

    # then: no axe violation anywhere; nothing wider than the screen (a wide table
    # scrolls in its own box); a title per view; a focus ring of at least 3:1
    assert {name: lines for name, lines in found.items() if lines} == {}
    assert {name: extra for name, extra in overflow.items() if extra > 0} == {}
    assert len(set(titles.values())) == len(titles), titles
    for name, (tag, text, style, outline, colour, background) in focus.items():
        assert style == "solid", (name, tag, text, style)
        assert outline >= 2, (name, tag, text, outline)
        assert _contrast(colour, background) >= 3, (name, tag, text, colour, background)
    assert heatmap
    assert all(_contrast(text, fill) >= 4.5 for text, fill in heatmap), heatmap
    assert scrollers
    assert all(index == 0 and label for index, label in scrollers), scrollers


# --- 9. Roles ---------------------------------------------------------------------------
async def test_a_manager_is_told_what_they_can_do_and_a_promotion_shows_at_once(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: staging set by HR staff on seed-1
    script = await install_axe()
    seed = await database_id(dashboard_api, "seed-1")
    await dashboard_api.data(SET_ALIAS, {"alias": "staging", "id": str(seed)})
    manager = await open_dashboard(browser, dashboard_api)
    page = manager.page
    try:
        # when: a manager reads Models and opens the train page by its link
        await manager.sign_in(*MANAGER)
        await page.get_by_role("link", name="Models", exact=True).click()
        await settled(page, "models")
        models_text = await page.locator("main").inner_text()
        staging = await page.locator('tr[data-alias="staging"] td').all_inner_texts()
        violations = await axe_violations(page, script)
        await page.evaluate("location.hash = '#/train'")
        await settled(page, "train")
        train_heading = await page.locator("main h1").inner_text()
        train_text = await page.locator("main").inner_text()
        violations += await axe_violations(page, script)
    finally:
        await manager.context.close()
    hr = await open_dashboard(browser, dashboard_api)
    page = hr.page
    try:
        # when: HR staff promote seed-0 from its page (by its address: the shared server's
        # other tests' runs may have pushed it off the list's first page)
        await hr.sign_in(*DRH)
        seed_0 = await dashboard_api.data(
            '{ trainingRuns(first: 1, filter: {modelVersion: "seed-0"}) { nodes { id } } }'
        )
        await page.evaluate(f"location.hash = '#/runs/{seed_0['trainingRuns']['nodes'][0]['id']}'")
        await expect(page.locator("#run-aliases")).to_be_visible()
        await page.get_by_label("Alias", exact=True).fill("candidate")
        await page.get_by_role("button", name="Promote").click()
        await expect(page.locator("#run-aliases")).to_contain_text("candidate")
    finally:
        await hr.context.close()

    # then
    assert "promote" not in models_text.lower()
    assert staging[0] == "seed-1"
    assert re.fullmatch(r"\d+(\.\d)?\s?%", staging[1]), staging  # the run's accuracy
    assert staging[3] == DRH[0]  # set by
    assert train_heading == "HR staff only"
    assert "Not found" not in train_text
    assert violations == []
    manager.traffic.assert_clean()
    hr.traffic.assert_clean()


# --- 10. Times and settings read the same everywhere -------------------------------------
async def test_times_name_their_zone_and_settings_read_the_same_on_every_page(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: a browser in Los Angeles
    run = (await dashboard_api.data(RUN_OF_VERSION, {"version": "seed-2"}))["trainingRuns"][
        "nodes"
    ][0]
    other = await database_id(dashboard_api, "seed-3")
    local = datetime.fromisoformat(run["runDate"]).astimezone(ZoneInfo("America/Los_Angeles"))
    dashboard = await open_dashboard(browser, dashboard_api, timezone_id="America/Los_Angeles")
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.evaluate(f"location.hash = '#/runs/{run['databaseId']}'")
        await settled(page, "runs")
        facts = dict(
            zip(
                await page.locator("dl.facts dt").all_inner_texts(),
                await page.locator("dl.facts dd").all_inner_texts(),
                strict=True,
            )
        )
        await page.evaluate(f"location.hash = '#/compare?ids={run['databaseId']},{other}'")
        await settled(page, "compare")
        weights = await page.locator('tr[data-setting="classWeight"] td').all_inner_texts()
        splits = await page.locator('tr[data-setting="testSplit"] td').all_inner_texts()

        # when: hourly buckets over all time, after a chart was shown
        await page.get_by_role("link", name="History", exact=True).click()
        await expect(page.locator("#view .view-root")).to_have_attribute(
            "data-buckets", re.compile("[1-9]")
        )
        await page.get_by_label("Range", exact=True).select_option("0")
        await expect(page.locator("#view .view-root")).to_have_attribute(
            "data-buckets", re.compile("[1-9]")
        )
        await page.get_by_label("Bucket", exact=True).select_option("HOUR")
        message = page.get_by_role("alert").filter(has_text="Hourly")
        await expect(message).to_be_visible()
        said = await message.inner_text()
        charts_visible = await page.locator("canvas").first.is_visible()
    finally:
        await dashboard.context.close()

    # then
    assert facts["Queued"] == local.strftime("%Y-%m-%d %H:%M PST")
    assert facts["Class weight"] == "balanced"
    assert facts["Test split"] == "20.0%"
    assert weights == ["balanced", "balanced"]
    assert splits == ["20.0%", "20.0%"]
    assert "choose a range of 30 days or less, or a day, week or month bucket" in said
    assert "runDateFrom" not in said
    assert not charts_visible
    dashboard.traffic.assert_clean()

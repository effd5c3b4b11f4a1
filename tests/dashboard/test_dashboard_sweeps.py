"""The Sweeps page (issue 23): start a sweep from the form built from trainingAlgorithms,
follow its trials live to the end, see the best-so-far chart, the objective against each
parameter and the importance bars, and promote the best run. Screenshot: docs/screenshots/
sweep.png (when DASHBOARD_SCREENSHOTS points there)."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.harness import DRH, TIMEOUT_MS, browser, open_dashboard
from tests.processes import LiveServer

# A second dashboard server on another worker: one server for every browser test made
# that group the suite's longest (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("dashboard-features")

__all__ = ["browser"]  # the fixture, imported for this module

BEST = """
query($id: ID!) { sweep(id: $id) { status bestRun { id aliases } trialCounts { finished } } }
"""


async def test_start_a_sweep_follow_it_and_promote_its_best_run(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="Sweeps", exact=True).click()
        form = page.locator("form.sweep-form")
        await expect(form).to_be_visible()

        # when: a small random-forest sweep is started from the form
        await page.get_by_label("Name", exact=True).fill("dashboard sweep")
        await page.get_by_label("Algorithm", exact=True).select_option("RANDOM_FOREST")
        await page.get_by_label("Search nEstimators").check()
        await page.get_by_label("nEstimators from").fill("3")
        await page.get_by_label("nEstimators to").fill("12")
        await page.get_by_label("Search maxDepth").check()
        await page.get_by_label("maxDepth from").fill("2")
        await page.get_by_label("maxDepth to").fill("8")
        await page.get_by_label("Trials", exact=True).fill("4")
        await page.get_by_role("button", name="Start sweep").click()

        # then: its page follows it to the end, with its charts and trials
        view = page.locator(".view-root")
        await expect(view).to_have_attribute("data-status", "COMPLETED", timeout=TIMEOUT_MS * 4)
        await expect(view).to_have_attribute("data-finished", "4")
        await expect(page.locator("table.trials tbody tr")).to_have_count(4)
        # each trial's searched settings, one per line, and none of the defaults
        settings = page.locator("table.trials tbody tr").first.locator("td .parameter")
        await expect(settings).to_have_count(2)
        await expect(settings.nth(0)).to_have_text(re.compile(r"^nEstimators = \d+$"))
        await expect(settings.nth(1)).to_have_text(re.compile(r"^maxDepth = \d+$"))
        await expect(
            page.get_by_role("img", name="Best objective value after each finished trial")
        ).to_be_visible()
        await expect(page.get_by_role("img", name="Objective against nEstimators")).to_be_visible()
        sweep_id = page.url.rsplit("/", 1)[-1]

        # when: the best run is promoted
        promote = page.locator("form.inline")
        await promote.get_by_label("Alias").fill("sweep-best")
        await promote.get_by_role("button", name="Promote").click()
        await expect(promote).to_have_attribute("data-promoted", "sweep-best")
        await dashboard.screenshot("sweep")
    finally:
        await dashboard.context.close()

    # then
    sweep = (await dashboard_api.data(BEST, {"id": sweep_id}))["sweep"]
    assert sweep["status"] == "COMPLETED"
    assert sweep["trialCounts"]["finished"] == 4
    assert sweep["bestRun"]["aliases"] == ["sweep-best"]
    dashboard.traffic.assert_clean()

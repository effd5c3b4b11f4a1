"""The dashboard's parts of issue 25 (sections 3 and 4): tags shown and edited in the
runs table and on the run page, notes edited on the run page, the tag filter, and the
Audit page (HR staff only). Screenshots go to docs/screenshots/ as the other pages'."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.harness import DRH, MANAGER, browser, open_dashboard
from tests.processes import LiveServer

# The session's one dashboard server (dashboard/conftest.py): its files share a worker.
# A second dashboard server on another worker: one server for every browser test made
# that group the suite's longest (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("dashboard-features")

__all__ = ["browser"]  # the fixture, imported for this module

RUN_OF_VERSION = """
query($version: String!) { trainingRuns(first: 1, filter: {modelVersion: $version}) {
  nodes { databaseId notes tags }
} }
"""
AUDIT = """
query { auditLog(first: 100, filter: {operation: ["updateTrainingRun"]}) {
  nodes { username outcome errorCode arguments }
} }
"""


async def test_hr_staff_tag_runs_in_the_table_edit_notes_and_read_the_audit_log(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        # when: seed-1's tags are edited in place in the table
        row = page.locator(
            "table.runs tbody tr", has=page.get_by_role("link", name="seed-1", exact=True)
        )
        await row.get_by_role("button", name="Edit the tags of seed-1").click()
        await row.get_by_label("Tags of seed-1").fill(" Baseline , Q3 review")
        await row.get_by_role("button", name="Save tags").click()
        # then: stored as the server normalised them
        await expect(row.locator("li.tag")).to_have_text(["baseline", "q3 review"])

        # when: the table is filtered by one of them
        await page.get_by_label("Tagged with").fill("q3 review")
        await page.get_by_role("button", name="Apply").click()
        await expect(page.locator("#runs-count")).to_have_attribute("data-total", "1")
        shown = await page.locator("table.runs tbody a").all_inner_texts()
        await dashboard.screenshot("runs-tags")

        # when: a refused tag, then notes and tags on the run page
        await page.get_by_role("link", name="seed-1", exact=True).click()
        await expect(page.locator("#run-tags li.tag")).to_have_text(["baseline", "q3 review"])
        await page.get_by_label("Tags", exact=True).fill("baseline, " + "x" * 40)
        await page.get_by_role("button", name="Save notes and tags").click()
        refusal = page.locator('[data-error-for="tags"]')
        await expect(refusal).to_contain_text("OUT_OF_RANGE")
        await page.get_by_label("Notes", exact=True).fill("Reference run for the Q3 review.")
        await page.get_by_label("Tags", exact=True).fill("baseline, candidate")
        await page.get_by_role("button", name="Save notes and tags").click()
        await expect(page.locator("form.notes-form")).to_have_attribute("data-saved", "true")
        await expect(page.locator("#run-notes")).to_have_text("Reference run for the Q3 review.")
        await expect(page.locator("#run-tags li.tag")).to_have_text(["baseline", "candidate"])
        await dashboard.screenshot("run-notes-tags")

        # when: the Audit page, filtered to these edits
        await page.get_by_role("link", name="Audit", exact=True).click()
        await expect(page.get_by_role("heading", name="Audit log")).to_be_visible()
        await page.get_by_label("Operation").fill("updateTrainingRun")
        await page.get_by_role("button", name="Apply").click()
        await expect(page.locator("#audit-count")).to_have_attribute("data-total", "3")
        outcomes = await page.locator("table.audit tbody tr").evaluate_all(
            "rows => rows.map(row => row.dataset.outcome)"
        )
        await dashboard.screenshot("audit")
    finally:
        await dashboard.context.close()

    # then
    assert shown == ["seed-1"]
    run = (await dashboard_api.data(RUN_OF_VERSION, {"version": "seed-1"}))["trainingRuns"][
        "nodes"
    ][0]
    assert (run["notes"], run["tags"]) == (
        "Reference run for the Q3 review.",
        ["baseline", "candidate"],
    )
    assert outcomes == ["OK", "ERROR", "OK"]
    entries = (await dashboard_api.data(AUDIT))["auditLog"]["nodes"]
    assert [(e["username"], e["outcome"], e["errorCode"]) for e in entries] == [
        ("drh-user", "OK", None),
        ("drh-user", "ERROR", "OUT_OF_RANGE"),
        ("drh-user", "OK", None),
    ]
    dashboard.traffic.assert_clean()


async def test_managers_see_tags_but_no_editor_and_no_audit_page(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*MANAGER)
        nav = await page.locator("#nav").inner_text()
        edit_buttons = await page.get_by_role("button", name="Edit the tags of seed-0").count()
        await page.get_by_role("link", name="seed-0", exact=True).click()
        await expect(page.get_by_role("heading", name="Run seed-0")).to_be_visible()
        forms = await page.locator("form.notes-form").count()
        await page.evaluate("location.hash = '#/audit'")
        await expect(page.locator("main")).to_contain_text("HR staff only")
    finally:
        await dashboard.context.close()

    assert "Audit" not in nav
    assert edit_buttons == 0
    assert forms == 0
    dashboard.traffic.assert_clean()

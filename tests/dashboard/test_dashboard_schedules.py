"""The dashboard's Schedules page (issue 25): "Schedule this" on a run's page opens the form
with that run's settings; create, see the next slot, pause, resume, delete; the server's
refusals beside the field they name; a manager reads only. Screenshot:
docs/screenshots/schedules.png. No request may leave 127.0.0.1.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.harness import DRH, MANAGER, browser, open_dashboard
from tests.processes import LiveServer

# A second dashboard server on another worker: one server for every browser test made
# that group the suite's longest (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("dashboard-features")

__all__ = ["browser"]  # the fixture, imported for this module

SCHEDULE = """
query { trainingSchedules(first: 50) { nodes { name cron timeZone paused nextRunAt train } } }
"""
RUN_OF_VERSION = """
query($version: String!) { trainingRuns(first: 1, filter: {modelVersion: $version}) {
  nodes { datasetPath randomState hyperparameters { nEstimators } }
} }
"""


async def schedules(server: LiveServer) -> dict[str, dict[str, Any]]:
    nodes = (await server.data(SCHEDULE))["trainingSchedules"]["nodes"]
    return {node["name"]: node for node in nodes}


async def test_schedule_a_run_then_pause_resume_and_delete_it(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    dashboard = await open_dashboard(browser, dashboard_api, timezone_id="Europe/Paris")
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="seed-1", exact=True).click()

        # when: "Schedule this" on the run's page
        await page.get_by_role("link", name="Schedule this").click()
        train = page.get_by_label("Train input (TrainModelInput as JSON)")
        await expect(train).to_contain_text('"nEstimators": 5')
        prefilled = json.loads(await train.input_value())
        await expect(page.get_by_label("Time zone")).to_have_value("Europe/Paris")
        # then: a refused cron is said beside its field, and nothing is created
        await page.get_by_label("Name").fill("nightly-seed-1")
        await page.get_by_label("Cron").fill("* * *")
        await page.get_by_role("button", name="Create schedule").click()
        await expect(page.locator('[data-error-for="cron"]')).to_contain_text("must have 5 fields")
        assert "nightly-seed-1" not in await schedules(dashboard_api)

        # when: a good cron
        await page.get_by_label("Cron").fill("0 3 * * *")
        await page.get_by_label("Promote to alias (optional)").fill("nightly")
        await page.get_by_role("button", name="Create schedule").click()
        row = page.locator('tr[data-schedule="nightly-seed-1"]')
        await expect(row).to_contain_text("0 3 * * *")
        await expect(row).to_contain_text("(Europe/Paris)")
        await expect(row).to_contain_text("nightly")
        await dashboard.screenshot("schedules")
        stored = (await schedules(dashboard_api))["nightly-seed-1"]

        # when: paused, then resumed
        await row.get_by_role("button", name="Pause schedule nightly-seed-1").click()
        await expect(row).to_contain_text("paused")
        paused = (await schedules(dashboard_api))["nightly-seed-1"]
        await row.get_by_role("button", name="Resume schedule nightly-seed-1").click()
        pause = row.get_by_role("button", name="Pause schedule nightly-seed-1")
        await expect(pause).to_be_visible()
        resumed = (await schedules(dashboard_api))["nightly-seed-1"]

        # when: deleted
        page.on("dialog", lambda dialog: dialog.accept())
        await row.get_by_role("button", name="Delete schedule nightly-seed-1").click()
        await expect(row).to_have_count(0)
    finally:
        await dashboard.context.close()

    # then: the schedule trained what seed-1 trained
    run = (await dashboard_api.data(RUN_OF_VERSION, {"version": "seed-1"}))["trainingRuns"]
    (seed,) = run["nodes"]
    assert prefilled["hyperparameters"]["nEstimators"] == seed["hyperparameters"]["nEstimators"]
    assert stored["train"]["datasetPath"] == seed["datasetPath"]
    assert stored["train"]["randomState"] == seed["randomState"]
    assert stored["train"]["hyperparameters"]["nEstimators"] == 5
    assert (stored["cron"], stored["timeZone"], stored["paused"]) == (
        "0 3 * * *",
        "Europe/Paris",
        False,
    )
    assert (paused["paused"], paused["nextRunAt"]) == (True, None)
    assert (resumed["paused"], resumed["nextRunAt"] is not None) == (False, True)
    assert "nightly-seed-1" not in await schedules(dashboard_api)
    dashboard.traffic.assert_clean()


async def test_a_manager_reads_schedules_without_the_form_or_buttons(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: a schedule made by HR staff
    created = await dashboard_api.data(
        """mutation { createTrainingSchedule(input: {
             name: "weekly-read", cron: "0 4 * * 1", train: {}
           }) { trainingSchedule { id } errors { code } } }"""
    )
    schedule_id = created["createTrainingSchedule"]["trainingSchedule"]["id"]
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*MANAGER)

        # when
        await page.get_by_role("link", name="Schedules", exact=True).click()
        row = page.locator('tr[data-schedule="weekly-read"]')
        await expect(row).to_contain_text("0 4 * * 1")
        buttons = await page.locator("main button").all_inner_texts()
        forms = await page.locator("form.schedule-form").count()
        await page.get_by_role("link", name="Runs", exact=True).click()
        await page.get_by_role("link", name="seed-2", exact=True).click()
        await expect(page.get_by_role("heading", name="Run seed-2")).to_be_visible()
        run_page_links = await page.get_by_role("link", name="Schedule this").count()
    finally:
        await dashboard.context.close()
        await dashboard_api.data(
            "mutation($id: ID!) { deleteTrainingSchedule(id: $id) { errors { code } } }",
            {"id": schedule_id},
        )

    # then
    assert buttons == []
    assert forms == 0
    assert run_page_links == 0
    dashboard.traffic.assert_clean()

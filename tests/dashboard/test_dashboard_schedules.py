"""The dashboard's Schedules page (issue 25): "Schedule this" on a run's page opens the form
with that run's settings; create, see the next slot, pause, resume, delete; the server's
refusals beside the field they name; a manager reads only; a sweep schedule made from the
form, its slot's sweep linked from the history. Screenshot:
docs/screenshots/schedules.png. No request may leave 127.0.0.1.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.harness import DRH, MANAGER, browser, open_dashboard
from tests.helpers import SHIPPED_DATASET, wait_for
from tests.processes import LiveServer

SHIPPED = SHIPPED_DATASET.name

# A second dashboard server on another worker: one server for every browser test made
# that group the suite's longest (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("dashboard-features")

__all__ = ["browser"]  # the fixture, imported for this module

SCHEDULE = """
query { trainingSchedules(first: 50) { nodes {
  name cron timeZone paused nextRunAt train promote { alias gate { datasetPath metric } }
} } }
"""
RUN_OF_VERSION = """
query($version: String!) { trainingRuns(first: 1, filter: {modelVersion: $version}) {
  nodes { datasetPath randomState algorithm parameters { name value } }
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
        # through a gate on a file the form suggests
        gate_file = page.get_by_label("Labelled file")
        suggestions = f"datalist#{await gate_file.get_attribute('list')}"
        await expect(page.locator(f'{suggestions} option[value="{SHIPPED}"]')).to_have_count(1)
        await gate_file.fill(SHIPPED)
        await page.get_by_label("Metric").select_option("F1_SCORE")
        await page.get_by_role("button", name="Create schedule").click()
        row = page.locator('tr[data-schedule="nightly-seed-1"]')
        await expect(row).to_contain_text("0 3 * * *")
        await expect(row).to_contain_text("(Europe/Paris)")
        await expect(row).to_contain_text(f"nightly (gate: F1_SCORE on {SHIPPED})")
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
    # (its own algorithm and every parameter, not the deprecated forest-only hyperparameters)
    assert seed["algorithm"] == "RANDOM_FOREST"
    parameters = {p["name"]: p["value"] for p in seed["parameters"]}
    assert "hyperparameters" not in prefilled
    assert set(prefilled["model"]["randomForest"]) == set(parameters)
    assert prefilled["model"]["randomForest"]["nEstimators"] == int(parameters["nEstimators"])
    assert stored["train"]["datasetPath"] == seed["datasetPath"]
    assert stored["train"]["randomState"] == seed["randomState"]
    assert stored["train"]["model"]["randomForest"]["nEstimators"] == 5
    assert stored["promote"] == {
        "alias": "nightly",
        "gate": {"datasetPath": SHIPPED, "metric": "F1_SCORE"},
    }
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


SWEEP_SCHEDULES = """
query { trainingSchedules(first: 50) { nodes {
  id name kind sweep history { outcome sweep { databaseId name status } }
} } }
"""


async def test_create_a_sweep_schedule_and_open_the_sweep_a_slot_started(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    name = "sweep-soon"
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="Schedules", exact=True).click()

        # when: "Sweep" is chosen, a grid with more trials than points (the server refuses)
        await page.get_by_label("Name").fill(name)
        await page.get_by_label("Each slot starts").select_option("SWEEP")
        await expect(page.get_by_label("Train input (TrainModelInput as JSON)")).to_be_hidden()
        await page.get_by_label("Search RANDOM_FOREST").uncheck()
        await page.get_by_label("Search LOGISTIC_REGRESSION").check()
        await page.get_by_label("Method").select_option("GRID")
        await page.get_by_label("Trials").fill("500")
        await page.get_by_role("button", name="Create schedule").click()

        # then: the refusal is said beside the sweep, and nothing is created
        await expect(page.locator('[data-error-for="sweep"]')).to_contain_text(
            "maxTrials the grid has"
        )
        assert name not in await schedules(dashboard_api)
        await page.get_by_label("Method").select_option("RANDOM")

        # when: one trial, at a slot a few seconds ahead
        at = (datetime.now(UTC) + timedelta(seconds=6)).replace(microsecond=0)
        await page.get_by_label("Cron").fill(
            f"{at.minute} {at.hour} {at.day} {at.month} * {at.second}"
        )
        await page.get_by_label("Time zone").fill("UTC")
        await page.get_by_label("Trials").fill("1")
        await page.get_by_role("button", name="Create schedule").click()
        row = page.locator(f'tr[data-schedule="{name}"]')
        await expect(row).to_contain_text("a sweep (RANDOM, 1 trial: LOGISTIC_REGRESSION)")

        # then: once the slot has fired, its sweep is linked from the schedule's history
        async def fired() -> dict[str, Any] | None:
            nodes = (await dashboard_api.data(SWEEP_SCHEDULES))["trainingSchedules"]["nodes"]
            found = next(node for node in nodes if node["name"] == name)
            return found["history"][0]["sweep"] if found["history"] else None

        sweep = await wait_for(fired, timeout=60, what="the schedule's sweep")
        await page.reload()
        row = page.locator(f'tr[data-schedule="{name}"]')
        await row.locator("summary").click()
        await row.get_by_role("link", name=f"sweep {sweep['name']}").click()
        await expect(
            page.get_by_role("heading", name=f"Sweep {sweep['databaseId']}")
        ).to_be_visible()
    finally:
        await dashboard.context.close()
        nodes = (await dashboard_api.data(SWEEP_SCHEDULES))["trainingSchedules"]["nodes"]
        stored = next((node for node in nodes if node["name"] == name), None)
        if stored is not None:
            await dashboard_api.data(
                "mutation($id: ID!) { deleteTrainingSchedule(id: $id) { errors { code } } }",
                {"id": stored["id"]},
            )

    # then: the form sent a sweep of the algorithm ticked, over two of its parameters
    assert stored is not None
    assert stored["kind"] == "SWEEP"
    assert (stored["sweep"]["method"], stored["sweep"]["maxTrials"]) == ("RANDOM", 1)
    (entry,) = stored["sweep"]["space"]
    assert entry["algorithm"] == "LOGISTIC_REGRESSION"
    assert len(entry["parameters"]) == 2
    dashboard.traffic.assert_clean()

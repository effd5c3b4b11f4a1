"""The dashboard's parts of issue 24 in Chromium: "Score a file" on the Predict page (the
job's progress, then its download, with two reasons per row), "Evaluate on…" on a run's
page (the drift table, drifted features first, and the histogram of the feature chosen),
and "Promote with a gate" on the Models page. Screenshots go to docs/screenshots/; no
request may leave 127.0.0.1.
"""

from __future__ import annotations

import re
import uuid

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.harness import DRH, TIMEOUT_MS, browser, open_dashboard
from tests.processes import LiveServer
from trainer.ml.generator import generate_dataset

# A second dashboard server on another worker: one server for every browser test made
# that group the suite's longest (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("dashboard-features")

__all__ = ["browser"]  # the fixture, imported for this module


def labelled_file(server: LiveServer, rows: int = 400) -> str:
    name = f"dash-{uuid.uuid4().hex[:8]}.csv"
    generate_dataset(rows, 17, server.artifacts / "datasets" / name)
    return name


async def test_score_a_file_evaluate_a_run_and_promote_with_a_gate(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    name = labelled_file(dashboard_api)
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)

        # when: a file is scored from the Predict page
        await page.get_by_role("link", name="Predict", exact=True).click()
        await page.get_by_label("Model for the file").fill("seed-3")
        file_field = page.get_by_label("File", exact=True)
        # the field suggests the datasets folder's files
        suggestions = f"datalist#{await file_field.get_attribute('list')}"
        await expect(page.locator(f'{suggestions} option[value="{name}"]')).to_have_count(1)
        await file_field.fill(name)
        explain = page.get_by_label("Explain (top reasons per row)")
        # its hint names the output's real columns (it read "reason_<i>_feature" once)
        await expect(explain).to_have_accessible_description(
            re.compile(r"reason_1_feature, reason_1_value, reason_1_contribution")
        )
        await explain.fill("2")
        await page.get_by_role("button", name="Score the file").click()
        job = page.locator("table.batch-jobs tbody tr").first
        await expect(job).to_have_attribute("data-status", "COMPLETED", timeout=TIMEOUT_MS)
        reasons_cell = await job.locator("td").nth(6).inner_text()
        await expect(job.get_by_role("button", name="Download")).to_be_visible()
        async with page.expect_download() as download:
            await job.get_by_role("button", name="Download").click()
        scored = await (await download.value).path()
        header = scored.read_text().splitlines()[0]
        # and on a phone the job is a card, its Download button on screen, not sideways
        await page.set_viewport_size({"width": 390, "height": 844})
        download_box = await job.get_by_role("button", name="Download").bounding_box()
        jobs_overflow = await page.locator("table.batch-jobs").evaluate(
            "table => table.parentElement.scrollWidth - table.parentElement.clientWidth"
        )
        reasons_label = await job.locator("td").nth(6).get_attribute("data-label")
        await page.set_viewport_size({"width": 1280, "height": 900})

        # when: the run is evaluated on the same file from its page
        await page.get_by_role("link", name="Runs", exact=True).click()
        await page.get_by_role("link", name="seed-3", exact=True).click()
        await page.get_by_label("Labelled file").fill(name)
        await page.get_by_role("button", name="Evaluate").click()
        evaluation = page.locator("article.evaluation").first
        await expect(evaluation).to_have_attribute("data-status", "COMPLETED", timeout=TIMEOUT_MS)
        rows = evaluation.locator("table.drift tbody tr")
        await expect(rows).to_have_count(11)
        flags = [await row.get_attribute("data-drifted") for row in await rows.all()]
        await evaluation.get_by_role("button", name="trend_score").click()
        await expect(evaluation.locator(".drift-chart h3")).to_have_text("trend_score")
        await expect(evaluation.locator(".drift-histogram .bin")).to_have_count(10)
        await evaluation.scroll_into_view_if_needed()
        await dashboard.screenshot("evaluation-drift")

        # when: seed-3 is promoted to a fresh alias through a gate on that file
        await page.get_by_role("link", name="Models", exact=True).click()
        seed_3 = await dashboard_api.data(
            '{ trainingRuns(first: 1, filter: {modelVersion: "seed-3"}) { nodes { databaseId } } }'
        )
        await page.get_by_label("Alias to move").fill("gated")
        await page.get_by_label("Candidate run").fill(
            str(seed_3["trainingRuns"]["nodes"][0]["databaseId"])
        )
        await page.get_by_label("Labelled file", exact=True).fill(name)
        await page.get_by_role("button", name="Promote if better").click()
        await expect(page.locator("form.gate")).to_have_attribute(
            "data-passed", "true", timeout=TIMEOUT_MS
        )
        outcome = await page.locator(".gate-outcome").inner_text()
    finally:
        await dashboard.context.close()
        # the Models page's tests, on this server when run together, count seed-3's aliases
        await dashboard_api.data('mutation { deleteModelAlias(alias: "gated") { deletedAlias } }')

    # then
    assert header.endswith(
        "predicted_level,probability_LOW,probability_MEDIUM,probability_HIGH,imputed,"
        "reason_1_feature,reason_1_value,reason_1_contribution,"
        "reason_2_feature,reason_2_value,reason_2_contribution"
    )
    assert reasons_cell == "2"
    assert reasons_label == "Reasons"
    assert download_box is not None
    assert download_box["x"] + download_box["width"] <= 390
    assert jobs_overflow <= 0
    # drifted features first: no "true" after a "false"
    assert flags == sorted(flags, key=lambda flag: flag != "true")
    assert "gated now points at seed-3" in outcome
    dashboard.traffic.assert_clean()

"""The dashboard's views on explanations (issue 24, section 2): a run's page shows the
SHAP importance next to the impurity importance; the Predict page shows each row's
reasons as signed bars and marks the inputs the model filled in. Screenshots go to
docs/screenshots/; no request may leave 127.0.0.1."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import SHIPPED_DATASET
from tests.dashboard.harness import DRH, TIMEOUT_MS, browser, open_dashboard
from tests.processes import LiveServer

# A second dashboard server on another worker: one server for every browser test made
# that group the suite's longest (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("dashboard-features")

__all__ = ["browser"]  # the fixture, imported for this module

RUN_OF_VERSION = """
query($version: String!) { trainingRuns(first: 1, filter: {modelVersion: $version}) {
  nodes { id shapImportance { feature } }
} }
"""
UNPROMOTE = """
mutation { deleteModelAlias(alias: "explained") { deletedAlias } }
"""
PROMOTE = """
mutation($id: ID!) { setModelAlias(alias: "explained", runId: $id) { errors { code } } }
"""


async def test_run_page_shows_shap_importance_beside_impurity_importance(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    run = (await dashboard_api.data(RUN_OF_VERSION, {"version": "seed-3"}))["trainingRuns"]
    columns = len(run["nodes"][0]["shapImportance"])
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="seed-3", exact=True).click()
        shap = page.locator("section", has=page.get_by_role("heading", name="SHAP importance"))
        await expect(shap.locator("ol.bars li")).to_have_count(columns, timeout=TIMEOUT_MS)
        impurity = page.locator(
            "section", has=page.get_by_role("heading", name="Feature importance")
        )
        await expect(impurity.locator("ol.bars li")).to_have_count(columns)
        await expect(shap).to_contain_text("probability points")
        await shap.scroll_into_view_if_needed()
        await dashboard.screenshot("run-shap-importance")
    finally:
        await dashboard.context.close()
    dashboard.traffic.assert_clean()


async def test_predict_shows_reasons_as_signed_bars_and_marks_imputed_inputs(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    run = (await dashboard_api.data(RUN_OF_VERSION, {"version": "seed-3"}))["trainingRuns"]
    await dashboard_api.data(PROMOTE, {"id": run["nodes"][0]["id"]})
    # two rows of the shipped dataset, without the avg_salary_k column: the model fills it
    lines = SHIPPED_DATASET.read_text().splitlines()[:3]
    header = lines[0].split(",")
    dropped = header.index("avg_salary_k")
    csv = "\n".join(
        ",".join(cell for i, cell in enumerate(line.split(",")) if i != dropped) for line in lines
    )
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="Predict", exact=True).click()
        await page.get_by_label("Model (alias or version)").fill("explained")
        await page.get_by_label("Or paste CSV rows (with the dataset's header line)").fill(csv)
        await page.get_by_role("button", name="Predict").click()
        rows = page.locator("table.predictions tbody tr")
        await expect(rows).to_have_count(2, timeout=TIMEOUT_MS)
        reasons = rows.first.locator("ol.reasons li")
        await expect(reasons).to_have_count(5)
        bars = await rows.locator(".reason-bar").count()
        ups = await rows.locator(".reason-bar.up").count()
        downs = await rows.locator(".reason-bar.down").count()
        badge = await rows.first.locator(".imputed-badge").inner_text()
        await dashboard.screenshot("predict-reasons")
    finally:
        await dashboard.context.close()
        # The dashboard tests share one server: others count its aliases.
        await dashboard_api.data(UNPROMOTE)

    assert bars == 10
    assert ups + downs == 10
    assert ups >= 1  # the predicted level has at least one column pushing towards it
    assert "avg_salary_k" in badge
    sent = [json.loads(post) for post in dashboard.traffic.posts if "predictFutureNeed" in post]
    assert sent[-1]["variables"]["explain"] == 5
    assert all("avgSalaryK" not in row for row in sent[-1]["variables"]["rows"])
    dashboard.traffic.assert_clean()

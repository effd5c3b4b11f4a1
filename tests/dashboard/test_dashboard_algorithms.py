"""The train form built from Query.trainingAlgorithms (issue 23): an algorithm picker with
gradient boosting offered first, each parameter with its range and help from the table,
checked beside its field, and cross-validation; a boosting run trained to COMPLETED with
its folds. Screenshot: docs/screenshots/train-algorithms.png."""

from __future__ import annotations

import json

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.harness import DRH, TIMEOUT_MS, browser, open_dashboard
from tests.processes import LiveServer

# A second dashboard server on another worker: one server for every browser test made
# that group the suite's longest (tests/scheduling.py).
pytestmark = pytest.mark.xdist_group("dashboard-features")

__all__ = ["browser"]


async def settled(page: object) -> None:
    await page.wait_for_load_state("networkidle")  # type: ignore[attr-defined]


async def test_the_train_form_offers_every_algorithm_with_its_parameters(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="Train", exact=True).click()
        picker = page.get_by_label("Algorithm", exact=True)
        await expect(picker).to_have_value("RANDOM_FOREST")
        options = await picker.locator("option").evaluate_all("os => os.map(o => o.value)")
        forest_fields = await page.locator("#train-parameters label").all_inner_texts()

        # when: gradient boosting is picked from its prominent offer
        await page.get_by_role("button", name="Large file? Use gradient boosting").click()
        boosting_fields = await page.locator("#train-parameters label").all_inner_texts()
        await page.get_by_label("Learning rate").fill("5")
        await page.get_by_role("button", name="Train", exact=True).click()
        rate_error = await page.locator('[data-error-for="learningRate"]').inner_text()
        sent_before = [post for post in dashboard.traffic.posts if "trainModel" in post]

        # when: valid settings with 2-fold cross-validation
        await page.get_by_label("Learning rate").fill("0.2")
        await page.get_by_label("Boosting iterations").fill("8")
        await page.get_by_label("Cross-validation folds").fill("2")
        await page.get_by_label("Model version").fill("dashboard-boosted")
        await dashboard.screenshot("train-algorithms")
        await page.get_by_role("button", name="Train", exact=True).click()
        await expect(page.locator(".training")).to_have_attribute(
            "data-status", "COMPLETED", timeout=TIMEOUT_MS
        )
        sent = [post for post in dashboard.traffic.posts if "trainModel" in post]
    finally:
        await dashboard.context.close()

    # then
    assert options[0] == "HIST_GRADIENT_BOOSTING"
    assert set(options) == {
        "RANDOM_FOREST",
        "HIST_GRADIENT_BOOSTING",
        "EXTRA_TREES",
        "LOGISTIC_REGRESSION",
    }
    assert forest_fields == [
        "Trees",
        "Max depth",
        "Min samples to split",
        "Min samples per leaf",
        "Class weight",
    ]
    assert "Learning rate" in boosting_fields
    assert "Early stopping" in boosting_fields
    assert rate_error == "Learning rate must be from 0.001 to 1; 5 is outside."
    assert sent_before == []
    variables = json.loads(sent[-1])["variables"]["input"]
    assert variables["model"]["histGradientBoosting"]["maxIter"] == 8
    assert variables["model"]["histGradientBoosting"]["learningRate"] == 0.2
    assert variables["evaluation"] == {"folds": 2}
    dashboard.traffic.assert_clean()

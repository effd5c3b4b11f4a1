"""The train form built from Query.trainingAlgorithms (issue 23): an algorithm picker with
gradient boosting offered first, each parameter with its range and help from the table,
checked beside its field, and cross-validation; a boosting run trained to COMPLETED with
its folds. The run, runs and compare pages show each run's own algorithm and parameters
(TrainingRun.algorithm and parameters), not a forest's. Screenshot:
docs/screenshots/train-algorithms.png."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.harness import DRH, TIMEOUT_MS, Dashboard, browser, open_dashboard
from tests.helpers import train
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


async def facts_of(dashboard: Dashboard, run: dict[str, Any]) -> dict[str, str]:
    """The run page's facts (term → value), of its every section."""
    page = dashboard.page
    await page.evaluate(f"location.hash = '#/runs/{run['databaseId']}'")
    await expect(page.get_by_role("heading", name=f"Run {run['modelVersion']}")).to_be_visible()
    await settled(page)
    facts: dict[str, str] = await page.evaluate(
        "Object.fromEntries([...document.querySelectorAll('dl.facts dt')]"
        ".map(dt => [dt.textContent, dt.nextElementSibling.textContent]))"
    )
    return facts


async def test_boosting_and_logistic_runs_show_their_own_parameters_on_every_page(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: a boosting and a logistic run beside a forest (trained through the API)
    boosted = await train(
        dashboard_api.data,
        None,
        wait=True,
        modelVersion="shown-boosted",
        model={"histGradientBoosting": {"learningRate": 0.2, "maxIter": 8}},
    )
    logistic = await train(
        dashboard_api.data,
        None,
        wait=True,
        modelVersion="shown-logistic",
        model={"logisticRegression": {"C": 0.0005, "classWeight": None}},
    )
    forest = await train(dashboard_api.data, 3, wait=True, modelVersion="shown-forest")
    ids = [run["databaseId"] for run in (boosted, logistic, forest)]
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)

        # when: each run's page, the table of the three, and their comparison
        boosted_facts = await facts_of(dashboard, boosted)
        logistic_facts = await facts_of(dashboard, logistic)
        await page.evaluate("location.hash = '#/runs?q=shown-'")
        await expect(page.locator("#runs-count")).to_contain_text("of 3")
        algorithms = {
            await row.locator('td[data-label="Version"]').inner_text(): await row.locator(
                'td[data-label="Algorithm"]'
            ).inner_text()
            for row in await page.locator("table.runs tbody tr").all()
        }
        await page.evaluate(f"location.hash = '#/compare?ids={ids[0]},{ids[1]},{ids[2]}'")
        await expect(page.get_by_role("heading", name="Compare 3 runs")).to_be_visible()
        settings = {
            await row.get_attribute("data-setting"): [
                await row.locator("th").inner_text(),
                *await row.locator("td").all_inner_texts(),
            ]
            for row in await page.locator("table.settings tbody tr").all()
        }
        scatter_choices = (
            await page.get_by_label("Setting", exact=True).locator("option").all_inner_texts()
        )
    finally:
        await dashboard.context.close()

    # then: each run's own settings, never a forest's "0 trees"
    assert boosted_facts["Algorithm"] == "Gradient boosting"
    assert boosted_facts["Learning rate"] == "0.2"
    assert boosted_facts["Boosting iterations"] == "8"
    assert boosted_facts["Max depth"] == "unlimited"
    assert boosted_facts["Early stopping"] == "off"
    assert "Trees" not in boosted_facts
    assert logistic_facts["Algorithm"] == "Logistic regression"
    assert logistic_facts["Inverse penalty C"] == "0.0005"
    assert logistic_facts["Class weight"] == "none"
    assert "Trees" not in logistic_facts
    assert "Max depth" not in logistic_facts
    assert algorithms == {
        "shown-boosted": "Gradient boosting",
        "shown-logistic": "Logistic regression",
        "shown-forest": "Random forest",
    }
    assert settings["algorithm"] == [
        "Algorithm ≠ differs",
        "Gradient boosting",
        "Logistic regression",
        "Random forest",
    ]
    assert settings["learningRate"][1:] == ["0.2", "—", "—"]
    assert settings["C"][1:] == ["—", "0.0005", "—"]
    assert settings["nEstimators"][1:] == ["—", "—", "3"]
    # maxIter means boosting iterations for one and solver iterations for the other
    assert settings["maxIter"][0].startswith("Boosting iterations / Solver iterations")
    assert settings["classWeight"][1:] == ["balanced", "none", "balanced"]
    assert "Learning rate" in scatter_choices
    assert "Trees" in scatter_choices
    dashboard.traffic.assert_clean()

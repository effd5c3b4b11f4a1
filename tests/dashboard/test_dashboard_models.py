"""The dashboard's views on fields added beside it (model aliases, predictions, dataset
listing and upload): `Query.datasets`, `Mutation.uploadDataset` (multipart),
`setModelAlias` / `deleteModelAlias`, `Query.modelAliases`, `TrainingRun.aliases` and
`predictFutureNeed`. They need those branches merged; test_dashboard.py covers the rest.
Screenshots go to docs/screenshots/ as there; no request may leave 127.0.0.1.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from playwright.async_api import Browser, expect

from tests.conftest import SHIPPED_DATASET
from tests.dashboard.harness import (
    DRH,
    MANAGER,
    TIMEOUT_MS,
    browser,
    graphql_as,
    open_dashboard,
)
from tests.processes import LiveServer

# The session's one dashboard server (dashboard/conftest.py): its files share a worker.
pytestmark = pytest.mark.xdist_group("dashboard")

__all__ = ["browser"]  # the fixture, imported for this module

DATASET_OF_VERSION = """
query($version: String!) { trainingRuns(first: 1, filter: {modelVersion: $version}) {
  nodes { datasetPath }
} }
"""
RUN_OF_VERSION = """
query($version: String!) { trainingRuns(first: 1, filter: {modelVersion: $version}) {
  nodes { id datasetPath aliases }
} }
"""
FIELDS = """{
  q: __type(name: "Query") { fields { name } }
  m: __type(name: "Mutation") { fields { name } }
  r: __type(name: "TrainingRun") { fields { name } }
}"""
DATASET_FIELDS = {"q": {"datasets"}, "m": {"uploadDataset"}, "r": set()}
MODEL_FIELDS = {
    "q": {"modelAliases", "predictFutureNeed"},
    "m": {"setModelAlias", "deleteModelAlias"},
    "r": {"aliases"},
}
# What each test needs beyond main's schema (the upload test: the datasets branch only).
NEEDS = {"test_upload_a_dataset_then_train_on_it": DATASET_FIELDS}


@pytest.fixture(autouse=True)
async def _fields_merged(request: pytest.FixtureRequest, dashboard_api: LiveServer) -> None:
    """Fail at once, naming what is missing, on a server without the fields a test needs
    (rather than after the browser's timeouts)."""
    needed = NEEDS.get(request.node.name, MODEL_FIELDS)
    types = await dashboard_api.data(FIELDS)
    missing = sorted(
        name
        for key, names in needed.items()
        for name in names - {field["name"] for field in types[key]["fields"]}
    )
    if missing:
        pytest.fail(f"needs the models-serve / datasets branches merged; missing {missing}")


ROW = {
    "Job role": "DevOps Engineer",
    "Skill": "JavaScript",
    "Skill category": "Technique",
    "Department": "IT",
    "Trend score": "0.695",
    "Internal usage": "0.641",
    "Training requests": "32",
    "Scarcity index": "0.406",
    "Hiring difficulty": "0.576",
    "Average salary (k)": "72.97",
    "Economic indicator": "0.760",
}


def _small_csv(directory: Path) -> Path:
    lines = SHIPPED_DATASET.read_text().splitlines()[:401]
    path = directory / "small.csv"
    path.write_text("\n".join(lines) + "\n")
    return path


async def test_upload_a_dataset_then_train_on_it(
    browser: Browser, dashboard_api: LiveServer, tmp_path: Path
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="Train", exact=True).click()
        await expect(page.get_by_label("Dataset", exact=True)).to_be_visible()
        # the Train page counts each dataset's columns, without asking for their names
        [listing] = [
            json.loads(body)["query"] for body in dashboard.traffic.posts if "Datasets" in body
        ]
        assert "columnCount" in listing
        assert not re.search(r"\bcolumns\b", listing), listing

        # when: a CSV is uploaded through the multipart request, then trained on
        await page.get_by_label("CSV file").set_input_files(str(_small_csv(tmp_path)))
        await page.get_by_label("Save as (path under the datasets folder)").fill("small.csv")
        await page.get_by_role("button", name="Upload").click()
        await expect(page.locator("form.upload")).to_have_attribute("data-uploaded", "small.csv")
        await expect(page.get_by_label("Dataset", exact=True)).to_have_value("small.csv")
        await dashboard.screenshot("upload")
        await page.get_by_label("Trees").fill("5")
        await page.get_by_label("Model version").fill("trained-on-upload")
        await page.get_by_role("button", name="Train", exact=True).click()
        await expect(page.locator(".training")).to_have_attribute(
            "data-status", "COMPLETED", timeout=TIMEOUT_MS
        )
    finally:
        await dashboard.context.close()

    # then
    runs = await dashboard_api.data(DATASET_OF_VERSION, {"version": "trained-on-upload"})
    assert runs["trainingRuns"]["nodes"][0]["datasetPath"] == "small.csv"
    dashboard.traffic.assert_clean()


async def test_promote_a_run_see_its_alias_and_predict_with_it(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given: production pointed at seed-4 first, so the alias has a history
    earlier = await dashboard_api.data(RUN_OF_VERSION, {"version": "seed-4"})
    await dashboard_api.data(
        'mutation($id: ID!) { setModelAlias(alias: "production", runId: $id) { errors { code } } }',
        {"id": earlier["trainingRuns"]["nodes"][0]["id"]},
    )
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="seed-3", exact=True).click()

        # when: promoted from its page
        await page.get_by_label("Alias", exact=True).fill("production")
        await page.get_by_role("button", name="Promote").click()
        await expect(page.locator("form.inline")).to_have_attribute("data-promoted", "production")
        await page.get_by_role("link", name="Models", exact=True).click()
        row = page.locator('tr[data-alias="production"]')
        await expect(row).to_contain_text("seed-3")
        await expect(row).to_contain_text("1 earlier")
        await row.get_by_text("1 earlier").click()
        await expect(row.locator("ol.history")).to_contain_text("seed-4")
        await dashboard.screenshot("models")

        # when: one row typed in, then two rows pasted as CSV
        await page.get_by_role("link", name="Predict", exact=True).click()
        for label, value in ROW.items():
            await page.get_by_label(label, exact=True).fill(value)
        await page.get_by_role("button", name="Predict").click()
        result = page.locator("table.predictions tbody tr")
        await expect(result).to_have_count(1, timeout=TIMEOUT_MS)
        level = await page.locator("table.predictions .level").inner_text()
        await dashboard.screenshot("predict")
        csv = "\n".join(SHIPPED_DATASET.read_text().splitlines()[:3])
        await page.get_by_label("Or paste CSV rows (with the dataset's header line)").fill(csv)
        await page.get_by_role("button", name="Predict").click()
        await expect(result).to_have_count(2, timeout=TIMEOUT_MS)
        heading = await page.locator("#prediction h2").inner_text()
    finally:
        await dashboard.context.close()

    # then
    assert level in {"LOW", "MEDIUM", "HIGH"}
    assert heading == "Prediction by seed-3"
    runs = await dashboard_api.data(RUN_OF_VERSION, {"version": "seed-3"})
    assert runs["trainingRuns"]["nodes"][0]["aliases"] == ["production"]
    dashboard.traffic.assert_clean()


async def test_manager_sees_no_promote_upload_or_delete_and_is_refused_when_forced(
    browser: Browser, dashboard_api: LiveServer
) -> None:
    # given
    dashboard = await open_dashboard(browser, dashboard_api)
    page = dashboard.page
    try:
        await dashboard.sign_in(*MANAGER)
        await page.get_by_role("link", name="seed-2", exact=True).click()
        await expect(page.get_by_role("heading", name="Run seed-2")).to_be_visible()
        run_buttons = await page.locator("main button").all_inner_texts()
        await page.get_by_role("link", name="Models", exact=True).click()
        await expect(page.get_by_role("heading", name="Aliases")).to_be_visible()
        models_buttons = await page.locator("main button").all_inner_texts()
        token = await dashboard.token()
    finally:
        await dashboard.context.close()

    # when: forced
    run_id = (await dashboard_api.data(RUN_OF_VERSION, {"version": "seed-2"}))["trainingRuns"][
        "nodes"
    ][0]["id"]
    promoted = await graphql_as(
        dashboard_api,
        token,
        'mutation($id: ID!) { setModelAlias(alias: "staging", runId: $id) { errors { code } } }',
        id=run_id,
    )

    # then
    assert not [text for text in run_buttons if re.search("Promote|Download|Cancel", text)]
    assert not [text for text in models_buttons if re.search("Delete", text)]
    assert promoted["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    dashboard.traffic.assert_clean()

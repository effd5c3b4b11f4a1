"""The dashboard's Webhooks page (issue 25, section 2): HR staff create a webhook and see
its secret once, see each delivery with its status code, duration, attempts and error,
and redeliver a failed one; managers get no such page. A server of its own, allowed to
deliver to the receiver on 127.0.0.1 (WEBHOOK_ALLOW_PRIVATE_NETWORKS=true), with one
attempt per delivery so that a failure stays FAILED until redelivered."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from playwright.async_api import Browser, expect

from tests.dashboard.harness import (
    DRH,
    MANAGER,
    axe_violations,
    browser,
    graphql_as,
    install_axe,
    open_dashboard,
)
from tests.processes import LiveServer, live_server, provision
from tests.webhook_receiver import Receiver, running_receiver

__all__ = ["browser"]  # the fixture, imported for this module

SET_ALIAS = """
mutation($id: ID!, $alias: String!) { setModelAlias(alias: $alias, runId: $id) { errors { code } } }
"""


@pytest.fixture(scope="module")
async def webhook_server(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[LiveServer]:
    async with live_server(
        tmp_path_factory.mktemp("dashboard-webhooks"),
        password=DRH[1],
        WEBHOOK_ALLOW_PRIVATE_NETWORKS="true",
        WEBHOOK_POLL_SECONDS="0.1",
        WEBHOOK_MAX_ATTEMPTS="1",
    ) as server:
        await provision(
            server.env, MANAGER[0], groups=("MANAGER",), password=MANAGER[1], migrate=False
        )
        yield server


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with running_receiver() as running:
        yield running


async def test_create_a_webhook_see_a_failed_delivery_and_redeliver_it(
    browser: Browser, webhook_server: LiveServer, receiver: Receiver
) -> None:
    # given: a promotable run (a row: the page needs no training)
    run_id = webhook_server.insert_run(
        status="COMPLETED", model_path="models/x.joblib", model_sha256="0" * 64, accuracy=0.9
    )
    dashboard = await open_dashboard(browser, webhook_server)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.get_by_role("link", name="Webhooks", exact=True).click()
        await expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_visible()

        # when: a webhook is created for alias moves
        await page.get_by_label("URL").fill(receiver.hook_url)
        await page.get_by_label("RUN_COMPLETED").uncheck()
        await page.get_by_label("RUN_FAILED").uncheck()
        await page.get_by_label("ALIAS_CHANGED").check()
        await page.get_by_label("Description").fill("HR tool")
        await page.get_by_role("button", name="Create webhook").click()

        # then: its secret is shown, once
        secret = await page.locator('.secret [data-value="secret"]').text_content()
        assert secret is not None
        assert secret.startswith("whsec_")
        receiver.secret = secret
        row = page.locator("table.webhooks tbody tr").first
        await expect(row).to_contain_text(receiver.hook_url)
        await expect(row).to_contain_text("ALIAS_CHANGED")

        # when: an alias moves while the receiver fails
        receiver.fail_next = 1
        token = await dashboard.token()
        body = await graphql_as(
            webhook_server, token, SET_ALIAS, id=str(run_id), alias=f"w-{uuid.uuid4().hex[:6]}"
        )
        assert body["data"]["setModelAlias"]["errors"] == []
        delivery = page.locator("table.deliveries tbody tr[data-delivery]").first
        for _ in range(50):
            await page.evaluate("location.hash = '#/webhooks?t=' + Date.now()")
            await page.locator("table.deliveries").wait_for()
            if await delivery.get_attribute("data-status") == "FAILED":
                break
            await page.wait_for_timeout(200)

        # then: the failed delivery shows its status code, attempts and error
        await expect(delivery).to_have_attribute("data-status", "FAILED")
        await expect(delivery).to_contain_text("ALIAS_CHANGED")
        await expect(delivery).to_contain_text("HTTP 500")
        await expect(delivery.locator('[data-label="Status code"]')).to_have_text("500")
        await expect(delivery.locator('[data-label="Attempts"]')).to_have_text("1")

        # when: redelivered
        await delivery.get_by_role("button", name="Redeliver").click()
        await expect(page.locator("#toast")).to_contain_text("will be sent again")
        for _ in range(50):
            await page.evaluate("location.hash = '#/webhooks?t=' + Date.now()")
            await page.locator("table.deliveries").wait_for()
            if await delivery.get_attribute("data-status") == "SUCCEEDED":
                break
            await page.wait_for_timeout(200)

        # then: it arrives, verified by the receiver
        await expect(delivery).to_have_attribute("data-status", "SUCCEEDED")
        await expect(delivery.locator('[data-label="Status code"]')).to_have_text("200")
        assert len(receiver.accepted) == 1
        assert receiver.invalid == []
        await page.get_by_text("2 attempts").click()
        await page.evaluate("document.getElementById('toast').textContent = ''")
        await dashboard.screenshot("webhooks")
    finally:
        await dashboard.context.close()
    dashboard.traffic.assert_clean()


async def test_managers_have_no_webhooks_page(browser: Browser, webhook_server: LiveServer) -> None:
    webhook_server.insert_run(status="COMPLETED", accuracy=0.8)
    dashboard = await open_dashboard(browser, webhook_server)
    page = dashboard.page
    try:
        await dashboard.sign_in(*MANAGER)
        await expect(page.get_by_role("link", name="Webhooks", exact=True)).to_have_count(0)
        await page.evaluate("location.hash = '#/webhooks'")
        await expect(page.get_by_role("heading", name="HR staff only")).to_be_visible()
        await expect(page.locator("table.webhooks")).to_have_count(0)
    finally:
        await dashboard.context.close()
    dashboard.traffic.assert_clean()


@pytest.mark.parametrize("width", [1280, 390])
async def test_the_webhooks_page_passes_axe_and_fits_a_phone(
    browser: Browser, webhook_server: LiveServer, width: int
) -> None:
    script = await install_axe()
    webhook_server.insert_run(status="COMPLETED", accuracy=0.8)
    dashboard = await open_dashboard(browser, webhook_server, width=width, height=900)
    page = dashboard.page
    try:
        await dashboard.sign_in(*DRH)
        await page.evaluate("location.hash = '#/webhooks'")
        await expect(page.get_by_role("heading", name="Webhooks", level=1)).to_be_focused()
        violations = await axe_violations(page, script)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
    finally:
        await dashboard.context.close()
    assert violations == []
    assert overflow <= 0
    dashboard.traffic.assert_clean()

"""The approvals inbox in a real browser (Debian's chromium driven by playwright)."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import datetime

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.gateway.conftest import GatewayStack, large_order

pytestmark = pytest.mark.integration

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        # Required like nginx and PostgreSQL: a skip here would hide the browser test in CI.
        pytest.fail("no chromium binary on this machine: apt-get install chromium (see README)")
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield browser
        finally:
            await browser.close()


async def signed_in(browser: Browser, stack: GatewayStack) -> Page:
    """A fresh browser session (own cookies) signed in to the inbox."""
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{stack.url}/inbox")
    await page.get_by_label("Access token").fill(stack.token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Approvals inbox")).to_be_visible()
    return page


async def row_of(page: Page, stack: GatewayStack, order_id: str) -> None:
    """Reload until the order's row shows (visibility takes a moment)."""
    row = page.locator(f"tr#order-{order_id}")
    for _ in range(60):
        if await row.count():
            return
        await page.wait_for_timeout(250)
        await page.goto(f"{stack.url}/inbox")
    raise AssertionError(f"order {order_id} never listed in the inbox")


async def test_reviewer_approves_in_the_browser_and_a_second_session_sees_the_refusal(
    stack: GatewayStack, browser: Browser
) -> None:
    order = large_order("inbox", customer_id="c-inbox")
    order_id = order["order_id"]
    assert (await stack.submit(order)).status_code == 201
    waiting = await stack.wait_state(order_id, "awaiting_approval")
    deadline = datetime.fromisoformat(waiting["approval"]["deadline"]).strftime("%Y-%m-%d %H:%M")

    alice = await signed_in(browser, stack)
    bob = await signed_in(browser, stack)
    await row_of(alice, stack, order_id)
    await row_of(bob, stack, order_id)
    row = alice.locator(f"tr#order-{order_id}")
    await expect(row).to_contain_text("1,500.00 USD")
    await expect(row).to_contain_text("c-inbox")
    await expect(row.locator("td").nth(3)).to_have_text(deadline)

    await row.get_by_label("Reviewer").fill("alice")
    await row.get_by_label("Reason").fill("known customer")
    await row.get_by_role("button", name=f"Approve order {order_id}").click()
    await expect(alice.get_by_role("status")).to_contain_text(
        f"Order {order_id} approved by alice."
    )
    await expect(alice.locator(f"tr#order-{order_id}")).to_have_count(0)

    # bob's page still shows the order: his approval comes second and is refused
    stale = bob.locator(f"tr#order-{order_id}")
    await stale.get_by_label("Reviewer").fill("bob")
    await stale.get_by_role("button", name=f"Approve order {order_id}").click()
    await expect(bob.get_by_role("alert")).to_contain_text(
        f"Order {order_id} was not approved: order {order_id} is already approved"
    )

    await stack.deliver(order_id)  # the carrier's webhooks finish the shipment
    final = await stack.wait_state(order_id, "completed")
    assert final["approval"]["reviewer"] == "alice"
    assert final["approval"]["reason"] == "known customer"
    assert "capture_payment" in final["steps_done"]


async def test_inbox_needs_a_valid_token(stack: GatewayStack, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{stack.url}/inbox")
    await page.get_by_label("Access token").fill("wrong")
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("alert")).to_contain_text("Unknown access token")
    await expect(page.locator("table")).to_have_count(0)
    await context.close()

"""The live inbox and order page in a real browser (Debian's chromium, playwright): two
reviewers' sessions at once, nothing reloaded by hand."""

from __future__ import annotations

import time

import pytest
from playwright.async_api import Browser, expect

from tests.gateway.conftest import BOB_TOKEN, GatewayStack, large_order
from tests.gateway.test_inbox_browser import signed_in

pytestmark = pytest.mark.integration


async def test_a_new_order_appears_in_both_inboxes_and_leaves_the_other_within_a_second(
    stack: GatewayStack, browser: Browser
) -> None:
    alice = await signed_in(browser, stack)
    bob = await signed_in(browser, stack, BOB_TOKEN)
    await expect(alice.locator("#live")).to_be_visible()
    await expect(bob.locator("#live")).to_be_visible()

    order = large_order("live", customer_id="c-live")
    order_id = order["order_id"]
    assert (await stack.submit(order)).status_code == 201
    for page in (alice, bob):  # no reload: the stream adds the row
        row = page.locator(f"tr#order-{order_id}")
        await expect(row).to_have_count(1, timeout=15_000)
        await expect(row).to_contain_text("1,500.00 USD")
        await expect(row).to_contain_text("c-live")

    await (
        alice.locator(f"tr#order-{order_id}")
        .get_by_role("button", name=f"Approve order {order_id}")
        .click()
    )
    await expect(alice.get_by_role("status")).to_contain_text(f"Order {order_id} approved")
    approved_at = time.monotonic()
    await expect(bob.locator(f"tr#order-{order_id}")).to_have_count(0, timeout=1_000)
    assert time.monotonic() - approved_at < 1.0
    await expect(alice.locator(f"tr#order-{order_id}")).to_have_count(0)

    await stack.deliver(order_id)
    await stack.wait_state(order_id, "completed")
    for page in (alice, bob):
        await page.context.close()


async def test_the_order_page_shows_the_timeline_and_follows_it_live(
    stack: GatewayStack, browser: Browser
) -> None:
    order = large_order("page")
    order_id = order["order_id"]
    assert (await stack.submit(order)).status_code == 201
    await stack.wait_state(order_id, "awaiting_approval")
    page = await signed_in(browser, stack)
    watcher = await signed_in(browser, stack, BOB_TOKEN)
    for p in (page, watcher):
        await p.goto(f"{stack.url}/inbox/orders/{order_id}")
        await expect(p.get_by_role("heading", name=f"Order {order_id}")).to_be_visible()
        await expect(p.locator("#timeline li")).to_have_count(4)
        await expect(p.locator("#timeline li").nth(3)).to_contain_text("Waiting for approval")

    async with stack.http() as http:
        answer = await http.post(f"/orders/{order_id}/approve", json={"reason": "ok"})
        assert answer.status_code == 200, answer.text
    await stack.wait_state(order_id, "shipping")
    await stack.deliver(order_id)
    for p in (page, watcher):  # grown without a reload, to the end
        await expect(p.locator("#state")).to_have_text("Completed", timeout=15_000)
        items = p.locator("#timeline li")
        await expect(items).to_have_count(11)
        await expect(items.nth(4)).to_contain_text("Approved")
        await expect(items.nth(4)).to_contain_text("reviewer: alice")
        await expect(items.nth(9)).to_contain_text("Carrier: delivered")
        await p.context.close()


async def test_the_order_page_needs_a_session(stack: GatewayStack, browser: Browser) -> None:
    context = await browser.new_context()
    page = await context.new_page()
    await page.goto(f"{stack.url}/inbox/orders/anything")
    await expect(page.get_by_label("Access token")).to_be_visible()
    response = await page.request.get(f"{stack.url}/inbox/events")
    assert response.status == 401
    await context.close()

"""The approvals inbox in a real browser (Debian's chromium driven by playwright)."""

from __future__ import annotations

from datetime import datetime

import pytest
from playwright.async_api import Browser, Page, expect

from tests.gateway.conftest import BOB_TOKEN, TOKEN, GatewayStack, large_order

pytestmark = pytest.mark.integration


async def signed_in(
    browser: Browser, stack: GatewayStack, token: str = TOKEN, *, javascript: bool = True
) -> Page:
    """A fresh browser session (own cookies) signed in to the inbox with `token`; without
    `javascript` the page is what a browser with scripts off gets (plain forms, not live)."""
    context = await browser.new_context(java_script_enabled=javascript)
    page = await context.new_page()
    await page.goto(f"{stack.url}/inbox")
    await page.get_by_label("Access token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await expect(page.get_by_role("heading", name="Approvals inbox")).to_be_visible()
    cookies = {c["name"]: c for c in await context.cookies()}
    assert token not in cookies["rtw_session"]["value"], "the cookie never holds the token"
    assert cookies["rtw_session"]["httpOnly"]
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
    # bob's browser runs no scripts: his page keeps the order after alice decided (a live
    # page drops it within a second: test_live_inbox_browser.py), so his click comes second
    bob = await signed_in(browser, stack, BOB_TOKEN, javascript=False)
    await expect(alice.get_by_text("Signed in as alice")).to_be_visible()
    await expect(bob.get_by_text("Signed in as bob")).to_be_visible()
    await row_of(alice, stack, order_id)
    await row_of(bob, stack, order_id)
    row = alice.locator(f"tr#order-{order_id}")
    await expect(row).to_contain_text("1,500.00 USD")
    await expect(row).to_contain_text("c-inbox")
    await expect(row.locator("td").nth(3)).to_have_text(deadline)

    await row.get_by_label("Reason").fill("known customer")
    await row.get_by_role("button", name=f"Approve order {order_id}").click()
    await expect(alice.get_by_role("status")).to_contain_text(
        f"Order {order_id} approved by alice."
    )
    await expect(alice.locator(f"tr#order-{order_id}")).to_have_count(0)

    # bob's page still shows the order: his approval comes second and is refused
    stale = bob.locator(f"tr#order-{order_id}")
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


async def test_sign_out_ends_the_session_in_this_browser(
    stack: GatewayStack, browser: Browser
) -> None:
    page = await signed_in(browser, stack)
    await page.get_by_role("button", name="Sign out").click()
    await expect(page.get_by_label("Access token")).to_be_visible()
    assert [c for c in await page.context.cookies() if c["name"] == "rtw_session"] == []
    await page.context.close()

"""/v1/docs in a real browser: the reference renders from Cogmill's own assets, and a pasted token works."""

from playwright.sync_api import Page, expect


def test_docs_render_offline_and_call_the_api_with_a_pasted_token(page: Page, cogmill, token):
    elsewhere = []
    page.on("request", lambda r: r.url.startswith((cogmill.base_url, "data:")) or elsewhere.append(r.url))
    page.goto("/v1/docs")
    expect(page.get_by_role("heading", name="Cogmill API")).to_be_visible()
    expect(page.locator(".opblock-tag", has_text="predictions")).to_be_visible()

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.locator("input").fill(token)
    dialog.locator("button", has_text="Authorize").click()
    dialog.locator("button", has_text="Close").click()

    account = page.locator("#operations-account-api_routes_account_account")  # GET /v1/account
    account.locator(".opblock-summary").click()
    account.get_by_role("button", name="Try it out").click()
    account.get_by_role("button", name="Execute").click()
    expect(account.locator(".live-responses-table tbody .response-col_status")).to_have_text("200")
    expect(account.locator(".live-responses-table")).to_contain_text('"username": "alice"')
    assert elsewhere == []

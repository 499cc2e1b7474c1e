"""The site's own error pages, as a visitor meets them: a header, a sentence, a way back."""

from playwright.sync_api import expect

from tests.browser.conftest import screenshots


def test_an_unknown_page_has_the_site_header_and_a_way_back(page, request, cogmill):
    response = page.goto("/someone/no-such-model")
    assert response.status == 404
    expect(page.get_by_role("heading", name="Nothing here")).to_be_visible()
    expect(page.locator("header.topbar")).to_be_visible()
    screenshots(page, request, "404")
    page.get_by_role("link", name="Explore models").click()
    expect(page).to_have_url(f"{cogmill.base_url}/")


def test_the_first_tab_offers_to_skip_to_the_content(page, request):
    page.goto("/")
    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    expect(skip).to_be_in_viewport()
    screenshots(page, request, "skip-link")
    page.keyboard.press("Enter")
    expect(page.locator("main#main")).to_be_focused()

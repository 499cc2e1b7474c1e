"""/history: my predictions, filters, search by input text, deleting a prediction's data."""

import uuid

from playwright.sync_api import expect

from tests.browser.conftest import PHONE, RESULTS, screenshots
from tests.browser.prediction_steps import api_prediction, log_in, run


def test_history_lists_filters_searches_and_deletes(page, cogmill, token):
    word = f"marmot{uuid.uuid4().hex[:8]}"
    hello = run(cogmill, token, "cogmill/hello-world", {"text": f"a {word} here"})
    other = run(cogmill, token, "cogmill/hello-world", {"text": "just a badger"})
    failed = run(cogmill, token, "testers/failing", {"reason": "nope"})
    log_in(page, cogmill, "alice")  # lands on /history
    rows = page.locator("table.history-table tbody tr")
    for prediction in (hello, other, failed):
        expect(page.locator(f"#row-{prediction['id']}")).to_be_visible()

    page.select_option("select[name=status]", "failed")  # htmx swaps the results in
    expect(page.locator(f"#row-{failed['id']}")).to_be_visible()
    expect(page.locator(f"#row-{hello['id']}")).to_have_count(0)
    expect(rows.locator(".badge:not(.failed)")).to_have_count(0)
    _settled(page)  # a change made while htmx still settles the last swap would be lost

    page.select_option("select[name=status]", "")
    expect(page.locator(f"#row-{hello['id']}")).to_be_visible()
    page.fill("input[name=q]", word.upper())
    page.get_by_role("button", name="Filter").click()
    expect(rows).to_have_count(1)
    expect(page.locator(f"#row-{hello['id']}")).to_contain_text(word)
    assert f"q={word.upper()}" in page.url

    page.locator(f"#row-{hello['id']}").get_by_role("link", name=f"Delete data of {hello['id']}").click()
    expect(page.get_by_role("heading", name="Delete this prediction’s data?")).to_be_visible()
    page.get_by_role("button", name="Delete data").click()
    page.wait_for_url(f"**/history?*q={word.upper()}*")
    expect(rows).to_have_count(0)  # its input is gone, so the search no longer finds it
    page.goto("/history")
    expect(page.locator(f"#row-{hello['id']}")).to_contain_text("data deleted")

    kept = api_prediction(cogmill, token, hello["id"])
    assert kept["data_removed"] is True and kept["status"] == "succeeded"
    assert kept["input"] == {} and kept["output"] is None and kept["logs"] == ""
    assert api_prediction(cogmill, token, other["id"])["output"] == "hello just a badger"

    page.locator(f"#row-{hello['id']}").get_by_role("link", name=hello["id"][:10]).click()
    expect(page.locator("#data-removed")).to_be_visible()
    expect(page.locator("#status-badge")).to_have_text("succeeded")


def test_history_filters_show_errors_in_place(page, cogmill, token):
    log_in(page, cogmill, "alice")
    page.fill("input[name=model]", "not-a-model-ref")
    page.fill("input[name=q]", "kept text")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator(".field.has-error")).to_contain_text("Write the model as owner/name.")
    expect(page.locator("input[name=q]")).to_have_value("kept text")
    expect(page.locator("input[name=model]")).to_have_value("not-a-model-ref")


def _settled(page) -> None:
    """htmx has finished swapping and settling: the new form listens for changes again."""
    page.wait_for_function("() => !document.querySelector('.htmx-request, .htmx-swapping, .htmx-settling')")


def test_on_a_phone_each_run_is_a_card_with_labels_and_nothing_is_clipped(page, cogmill, token, request):
    done = run(cogmill, token, "cogmill/hello-world", {"text": "a phone-sized run"})
    log_in(page, cogmill, "alice")
    page.set_viewport_size(PHONE)
    row = page.locator(f"#row-{done['id']}")
    expect(row).to_be_visible()
    assert row.evaluate("el => getComputedStyle(el).display") == "block"  # a card, not a table row
    model = row.locator('td[data-label="Model"]')
    assert model.evaluate("el => getComputedStyle(el, '::before').content") == '"Model"'
    page_width = page.evaluate("document.documentElement.scrollWidth")
    assert page_width <= PHONE["width"], f"the page scrolls sideways: {page_width}px"
    screenshots(page, request, "history")


def test_on_a_phone_the_filters_start_folded_and_open_on_a_tap(browser, cogmill, request):
    context = browser.new_context(base_url=cogmill.base_url, viewport=PHONE)
    page = context.new_page()
    log_in(page, cogmill, "alice")
    expect(page.get_by_label("Status")).to_be_hidden()  # folded: the runs come first
    page.get_by_text("Filters", exact=True).click()
    expect(page.get_by_label("Status")).to_be_visible()
    page.select_option("select[name=status]", "failed")
    expect(page.get_by_label("Status")).to_be_visible()  # in use: it stays open after the swap
    page.screenshot(path=str(RESULTS / "history-filters-phone.png"), full_page=True)
    context.close()

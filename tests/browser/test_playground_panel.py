"""The model page's playground in a real browser: a run streams into the output panel beside the form
(below it on a phone) without leaving the page, with its permalink; Ctrl+Enter runs; a refused run
keeps the last output; tabs keep what was typed, once, in the address; the README has its own tab."""

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, screenshots
from tests.browser.prediction_steps import log_in
from tests.browser.test_prediction_page import WATCH_OUTPUT

RUN_MS = 120_000


def _boxes(page: Page) -> tuple[dict, dict]:
    return page.locator("#run-form").bounding_box(), page.locator("#run-output").bounding_box()


def test_a_run_streams_into_the_panel_beside_the_form(page: Page, cogmill, new_username, request):
    page.add_init_script(WATCH_OUTPUT)
    log_in(page, cogmill, new_username)
    page.goto("/cogmill/textgen")
    expect(page.locator("#run-output-empty")).to_contain_text("Run the model to see its output here")
    page.get_by_label("Prompt").fill("The best way to")
    page.locator("#id_max_tokens").fill("1500")
    page.locator("#id_seed").fill("7")
    page.get_by_role("button", name="Run").click()

    expect(page).to_have_url(re.compile(r"/cogmill/textgen\?version=\w+&prediction=\w+$"))
    # Two different partial lengths, each seen while the panel still said the run was going.
    page.wait_for_function(
        """() => new Set((window.__seen || []).filter(([n, s]) => n > 0 && s === "processing")
                 .map(([n]) => n)).size >= 2""",
        timeout=RUN_MS,
    )
    form, panel = _boxes(page)
    assert panel["x"] >= form["x"] + form["width"] and abs(panel["y"] - form["y"]) < 2, (form, panel)  # beside
    screenshots(page, request, "streaming")
    page.set_viewport_size(PHONE)
    form, panel = _boxes(page)
    assert panel["y"] >= form["y"] + form["height"], (form, panel)  # below it on a phone
    page.set_viewport_size(DESKTOP)

    expect(page.locator("#run-output #status-badge")).to_have_text("succeeded", timeout=RUN_MS)
    text = page.locator("#output-text").text_content()
    assert len(text) > 100 and not text[0].isspace()
    expect(page.get_by_label("Prompt")).to_have_value("The best way to")  # the form stays as it was
    screenshots(page, request, "finished")

    page.reload()  # the address shows the run again, with the form that made it, and nothing is re-sent
    expect(page.locator("#run-output #output-text")).to_have_text(text, use_inner_text=False)
    expect(page.get_by_label("Prompt")).to_have_value("The best way to")
    prediction_id = page.url.rsplit("prediction=", 1)[1]
    page.locator("#run-open").click()
    expect(page).to_have_url(re.compile(rf"/p/{prediction_id}$"))
    expect(page.locator("#output-text")).to_have_text(text, use_inner_text=False)


def test_ctrl_enter_runs_and_a_refusal_keeps_the_last_output(page: Page, cogmill, new_username, request):
    log_in(page, cogmill, new_username)
    page.goto("/cogmill/hello-world")
    box = page.locator("#id_text")
    box.fill("by keyboard")
    box.press("Control+Enter")
    output = page.locator("#run-output")
    expect(output.get_by_text("hello by keyboard").first).to_be_visible(timeout=RUN_MS)
    expect(output.locator("#status-badge")).to_have_text("succeeded", timeout=RUN_MS)

    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" else None)
    box.fill("")
    page.get_by_role("button", name="Run").click()
    expect(page.locator('[data-field="text"] .errorlist')).to_contain_text("This field is required.")
    expect(box).to_be_focused()
    expect(box).to_have_attribute("aria-invalid", "true")
    expect(output.get_by_text("hello by keyboard").first).to_be_visible()  # still the last run
    assert sent == []  # checked in the browser: nothing was sent
    screenshots(page, request, "refused")
    box.fill("again")  # typing clears the note
    expect(page.locator('[data-field="text"] .errorlist')).to_have_count(0)


def test_on_a_phone_a_run_brings_the_panel_below_the_form_into_view(page: Page, cogmill, new_username):
    log_in(page, cogmill, new_username)
    page.set_viewport_size(PHONE)
    page.goto("/cogmill/textgen")
    output = page.locator("#run-output")
    expect(output).not_to_be_in_viewport()
    page.get_by_role("button", name="Run").click()  # the defaults run as they are
    expect(output.locator("#status-badge")).to_be_visible()
    expect(output).to_be_in_viewport()
    expect(output.locator("#status-badge")).to_have_text("succeeded", timeout=RUN_MS)


def test_cancel_from_the_panel_stays_on_the_model_page(page: Page, cogmill, new_username, gate):
    log_in(page, cogmill, new_username)
    page.goto("/testers/gated")
    page.get_by_label("Gate").fill(str(gate))
    page.get_by_role("button", name="Run").click()
    output = page.locator("#run-output")
    expect(output.locator("#output-text")).to_have_text("first ", timeout=RUN_MS)
    output.get_by_role("button", name="Cancel").click()
    expect(output.locator("#status-badge")).to_have_text("canceled", timeout=60_000)
    expect(page).to_have_url(re.compile(r"/testers/gated\?"))


def test_tabs_keep_what_was_typed_once_in_the_address(page: Page, cogmill, new_username, request):
    log_in(page, cogmill, new_username)
    page.goto("/cogmill/hello-world")
    page.get_by_label("Text").fill("kept across tabs")
    tabs = page.get_by_role("navigation", name="Model tabs")
    for name in ("API", "Examples", "Versions", "API", "Playground"):
        tabs.get_by_role("link", name=name).click()
        expect(tabs.get_by_role("link", name=name)).to_have_attribute("aria-current", "page")
        assert page.url.count("text=") == 1, page.url
    expect(page.get_by_label("Text")).to_have_value("kept across tabs")
    tabs.get_by_role("link", name="API").click()
    expect(page.locator("#snippet-python")).to_contain_text('"text": "kept across tabs"')


def test_the_readme_has_its_own_tab(page: Page, cogmill, request):
    page.goto("/cogmill/hello-world")
    expect(page.locator("#panel-readme")).to_have_count(0)
    page.get_by_role("navigation", name="Model tabs").get_by_role("link", name="README").click()
    readme = page.locator("#panel-readme")
    expect(readme.get_by_role("heading", name="hello-world")).to_be_visible()
    expect(readme).to_contain_text("The smallest possible Cog model")
    screenshots(page, request, "readme")

"""The catalogue's model pages in a real browser, as a visitor meets them: each opens on its default
example (output beside the form, the form filled with its input, its picture offered as the file),
so Run works without typing; outputs are shown as their kind asks: before and after with a slider
for an image made from an image, the picture with its boxes beside the JSON for detection, a player
for speech, vectors to copy for embeddings. Explore files them in their collections."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, axe_violations, screenshots
from tests.browser.prediction_steps import log_in
from tests.server import ROOT

pytestmark = pytest.mark.catalogue
RUN_MS = 120_000


def test_upscale_opens_on_its_example_and_runs_it_again_with_one_click(page: Page, cogmill, catalogue,
                                                                      new_username, request):
    log_in(page, cogmill, new_username)
    page.goto("/cogmill/upscale")
    panel = page.locator("#run-output")
    expect(panel.locator("#run-output-title")).to_contain_text("Example")
    compare = panel.locator("#output-compare")
    expect(compare.locator("img").first).to_have_js_property("naturalWidth", 600)  # 4 × the 150-pixel sample
    expect(compare.locator(".compare-before")).to_have_js_property("naturalWidth", 150)
    before = compare.locator(".compare-before").bounding_box()
    after = compare.locator("img").first.bounding_box()
    assert before == after  # the two lie exactly over each other
    slider = compare.get_by_label("Before and after: move to compare")
    slider.fill("80")
    expect(compare.locator(".compare-frame")).to_have_attribute("style", re.compile(r"--split:\s*80%"))
    expect(page.locator("[data-example-file] img")).to_be_visible()  # the example's picture, offered
    screenshots(page, request, "upscale")

    page.get_by_role("button", name="Run").click()  # nothing typed, nothing chosen
    expect(page).to_have_url(re.compile(r"/cogmill/upscale\?version=\w+&prediction=\w+$"), timeout=RUN_MS)
    expect(panel.locator("#status-badge")).to_have_text("succeeded", timeout=RUN_MS)
    expect(panel.locator("#run-output-title")).not_to_contain_text("Example")
    expect(panel.locator("#output-compare img").first).to_have_js_property("naturalWidth", 600)


def test_a_chosen_file_replaces_the_example_and_remove_asks_for_one(page: Page, cogmill, catalogue, new_username):
    log_in(page, cogmill, new_username)
    page.goto("/cogmill/remove-background")
    file_input = page.locator("input[type=file][name=image]")
    file_input.set_input_files(str(ROOT / "examples" / "upscale" / "samples" / "coffee.png"))
    expect(page.locator("[data-example-file]")).to_have_count(0)  # the chosen file's preview instead
    page.get_by_role("button", name="Run").click()
    panel = page.locator("#run-output")
    expect(panel.locator("#status-badge")).to_have_text("succeeded", timeout=RUN_MS)
    expect(panel.locator("#output-compare img").first).to_have_js_property("naturalWidth", 150)  # the coffee's

    page.goto("/cogmill/remove-background")
    page.get_by_role("button", name="Remove").click()
    expect(page.locator("[data-example-file]")).to_have_count(0)
    page.get_by_role("button", name="Run").click()
    assert file_input.evaluate("input => input.validity.valueMissing")  # the browser asks for a file
    expect(page).not_to_have_url(re.compile(r"prediction="))


def test_face_detection_shows_the_boxes_and_the_json(page: Page, cogmill, catalogue, request):
    page.goto("/cogmill/face-detection")  # a visitor, not logged in, sees the example too
    panel = page.locator("#run-output")
    expect(panel.locator("#output-images img")).to_have_js_property("naturalWidth", 384)
    expect(panel.locator("#output-json")).to_contain_text('"right_eye"')
    expect(panel.locator("#run-open")).to_have_count(0)  # its page is its owner's
    expect(page.get_by_role("link", name="Log in to run")).to_be_visible()
    screenshots(page, request, "face-detection")


def test_embeddings_offer_each_vector_to_copy(page: Page, cogmill, catalogue, new_username, request):
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    log_in(page, cogmill, new_username)
    page.goto("/cogmill/embeddings")
    rows = page.locator("#output-vectors tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.first).to_contain_text("A cat sits on the warm windowsill.")
    expect(rows.first).to_contain_text("384")
    rows.first.get_by_role("button", name=re.compile("Copy the vector")).click()
    copied = page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith("[") and len(copied.strip("[]").split(",")) == 384
    screenshots(page, request, "embeddings")


def test_speech_comes_with_a_player(page: Page, cogmill, catalogue):
    page.goto("/cogmill/text-to-speech")
    player = page.locator("#run-output audio")
    expect(player).to_have_count(1)
    assert player.evaluate("audio => new Promise(done => audio.readyState >= 1 ? done(audio.duration)"
                           " : audio.addEventListener('loadedmetadata', () => done(audio.duration)))") > 1


def test_explore_files_the_catalogue_in_its_collections(page: Page, cogmill, catalogue, request):
    page.goto("/")
    page.get_by_role("link", name="Audio", exact=True).click()
    cards = page.locator(".model-card .name")
    expect(cards).to_have_count(2)
    names = set(cards.all_inner_texts())
    assert names == {"cogmill/speech-to-text", "cogmill/text-to-speech"}, names
    page.get_by_role("link", name="Image", exact=True).click()
    expect(page.locator(".model-card .name", has_text="cogmill/upscale")).to_be_visible()
    screenshots(page, request, "explore-image")


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_the_catalogue_pages_have_no_serious_accessibility_violation(browser, cogmill, catalogue, scheme, viewport):
    context = browser.new_context(base_url=cogmill.base_url, viewport=viewport, color_scheme=scheme)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        problems = [problem for path in ("/cogmill/upscale", "/cogmill/face-detection", "/cogmill/embeddings",
                                         "/cogmill/text-to-speech", "/cogmill/digits?tab=train", "/?collection=image")
                    for problem in axe_violations(page, path)]
        assert not problems, "\n".join(problems)
    finally:
        context.close()

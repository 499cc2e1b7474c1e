"""The Settings tab in a real browser: its owner describes the model, previews the README, makes it
private (and is told what that means), and picks a run as the default example; Explore's card then
shows the description and that run's output."""

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshots
from tests.browser.prediction_steps import log_in
from tests.server import ROOT

RUN_MS = 120_000


def test_the_owner_describes_the_model_and_picks_its_default_example(page: Page, cogmill, new_username, request):
    cogmill.push(ROOT / "examples" / "hello-world", f"{new_username}/greeter")
    log_in(page, cogmill, new_username)
    page.goto(f"/{new_username}/greeter")
    page.locator("#id_text").fill("settings")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#run-output #status-badge")).to_have_text("succeeded", timeout=RUN_MS)

    page.get_by_role("navigation", name="Model tabs").get_by_role("link", name="Settings").click()
    details = page.locator("#details-form")
    details.get_by_label("Description").fill("Greets whoever it is given")
    details.get_by_label("README", exact=True).fill("# Greeter\n\nSays **hello**.")
    details.get_by_role("button", name="Preview README").click()
    preview = page.locator("#readme-preview")
    expect(preview.get_by_role("heading", name="Greeter")).to_be_visible()
    expect(preview).to_contain_text("Not saved yet.")
    expect(page.locator("#details-form").get_by_label("Description")).to_have_value("Greets whoever it is given")
    expect(page.get_by_text("A model pushed through the API starts private.")).to_be_visible()
    screenshots(page, request, "settings")
    page.locator("#details-form").get_by_role("button", name="Save details").click()
    expect(page.locator(".messages")).to_contain_text(f"Saved the details of {new_username}/greeter.")

    examples = page.locator("#examples-form")
    examples.get_by_label("Default:").first.check()
    examples.get_by_role("button", name="Save examples").click()
    expect(page.locator(".messages")).to_contain_text("Saved the examples")

    page.goto(f"/?q={new_username}")
    card = page.locator(f'a.model-card[href="/{new_username}/greeter"]')
    expect(card).to_contain_text("Greets whoever it is given")
    expect(card.locator(".sample-text")).to_contain_text("hello settings")
    screenshots(page, request, "explore-card")
    page.goto(f"/{new_username}/greeter?tab=examples")
    expect(page.locator("#panel-examples")).to_contain_text("hello settings")

"""Fine-tuning in a real browser: drop the sample zip on textgen's Train tab, watch the logs and the
progress bar move on the training page, and run the new model from its "Run your model" button."""

import base64

from playwright.sync_api import Page, expect

from tests.browser.conftest import _output_dir
from tests.browser.prediction_steps import log_in
from tests.server import ROOT, wait_until

SAMPLE_ZIP = ROOT / "examples" / "textgen" / "samples" / "proverbs.zip"

DROP = """([b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const transfer = new DataTransfer();
  transfer.items.add(new File([bytes], name, { type: "application/zip" }));
  return transfer;
}"""


def test_drop_a_zip_train_watch_it_and_run_the_new_model(page: Page, cogmill, new_username, request):
    log_in(page, cogmill, new_username)
    page.goto("/cogmill/textgen")
    page.get_by_role("link", name="Train").click()
    expect(page.locator("#train-form")).to_be_visible()

    transfer = page.evaluate_handle(DROP, [base64.b64encode(SAMPLE_ZIP.read_bytes()).decode(), "proverbs.zip"])
    page.locator("#train-form .dropzone").dispatch_event("drop", {"dataTransfer": transfer})
    expect(page.locator("#train-form .file-preview")).to_contain_text("proverbs.zip")
    page.locator("#id_steps").fill("3000")
    page.get_by_label("Destination model").select_option(label="Create a new model…")
    page.get_by_label("New model name").fill("proverbial")
    page.screenshot(path=str(_output_dir(request) / "train-tab.png"), full_page=True)
    page.get_by_role("button", name="Start training").click()

    page.wait_for_url("**/t/*")
    progress = page.locator("#training-progress")
    seen: set[float] = set()

    def moving() -> bool:
        if not progress.is_hidden():
            seen.add(float(progress.evaluate("el => el.value")))
        return any(0 < value < 100 for value in seen)

    wait_until(moving, 240, 0.1, "the progress bar to show a step before the last")
    expect(page.locator("#logs")).to_contain_text("step ")
    expect(page.locator("#training-loss")).to_contain_text("loss ")
    page.screenshot(path=str(_output_dir(request) / "training-running.png"), full_page=True)

    run = page.get_by_role("link", name="Run your model")
    expect(run).to_be_visible(timeout=240_000)  # the page reloads with the result when the training ends
    expect(page.locator("#status-badge")).to_have_text("succeeded")
    assert progress.evaluate("el => el.value") == 100
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(_output_dir(request) / "training-done-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    run.click()
    expect(page.locator("h1.model-title")).to_contain_text("proverbial")
    page.get_by_label("Prompt").fill("A ")
    page.locator("#id_seed").fill("5")
    page.get_by_role("button", name="Run").click()
    expect(page.locator("#run-output #status-badge")).to_have_text("succeeded", timeout=120_000)
    text = page.locator("#output-text").inner_text()
    assert text.strip(), "the trained model wrote something"
    page.goto("/history")
    expect(page.locator("#trainings")).to_contain_text(f"{new_username}/proverbial")

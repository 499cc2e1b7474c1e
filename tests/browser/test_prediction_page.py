"""The prediction page at /p/<id>: live status and streamed output, cancel, results, errors, access."""

import json
import re

import httpx
import pytest
from playwright.sync_api import expect

from tests.browser.conftest import RESULTS, screenshots
from tests.browser.prediction_steps import api_prediction, log_in, run
from tests.server import wait_until

# Records, on every change to the page, the output text's length and the status shown then.
WATCH_OUTPUT = """
document.addEventListener("DOMContentLoaded", () => {
  window.__seen = [];
  const record = () => {
    const text = document.getElementById("output-text");
    const badge = document.getElementById("status-badge");
    if (text && badge) window.__seen.push([text.textContent.length, badge.dataset.status]);
  };
  new MutationObserver(record).observe(document.body, { childList: true, subtree: true, characterData: true });
  record();
});
"""


@pytest.fixture
def alice_page(page, cogmill, token):
    log_in(page, cogmill, "alice")
    return page


def test_text_streams_into_the_page_as_it_is_generated(alice_page, cogmill, token):
    page = alice_page
    page.add_init_script(WATCH_OUTPUT)
    prediction = run(cogmill, token, "cogmill/textgen",
                     {"prompt": "The best way to", "max_tokens": 1500, "seed": 7}, wait=False)
    page.goto(f"/p/{prediction['id']}")
    # Two different partial lengths, each seen while the page still said the prediction was running.
    page.wait_for_function(
        """() => new Set((window.__seen || []).filter(([n, s]) => n > 0 && s === "processing")
                 .map(([n]) => n)).size >= 2""",
        timeout=120_000,
    )
    shots = RESULTS / "test_text_streams_into_the_page_as_it_is_generated"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "streaming.png"))  # mid-stream, for the README
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=120_000)
    final = api_prediction(cogmill, token, prediction["id"])
    text = "".join(final["output"])
    assert len(text) > 100
    expect(page.locator("#output-text")).to_have_text(text, use_inner_text=False)
    seen = page.evaluate("window.__seen")
    partial = {n for n, status in seen if 0 < n < len(text) and status == "processing"}
    assert len(partial) >= 2, seen[-20:]
    expect(page.locator(".timings")).to_contain_text("Predict time")
    expect(page.locator(".status-panel [hx-trigger]")).to_have_count(0)  # polling stopped
    expect(page.locator("#logs")).to_be_visible()  # the logs, with the seed used, stay open after the run
    expect(page.locator("#logs")).to_contain_text("Using seed: 7")


def test_cancel_a_running_prediction_from_its_page(alice_page, cogmill, token, gate):
    page = alice_page
    prediction = run(cogmill, token, "testers/gated", {"gate": str(gate)}, wait=False)
    page.goto(f"/p/{prediction['id']}")
    expect(page.locator("#output-text")).to_have_text("first ", timeout=120_000)
    expect(page.locator("#status-badge")).to_have_text("processing")
    page.get_by_role("button", name="Cancel").click()
    expect(page.locator("#status-badge")).to_have_text("canceled", timeout=60_000)
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    assert api_prediction(cogmill, token, prediction["id"])["status"] == "canceled"


def test_hello_world_shows_its_output_input_and_metrics(alice_page, cogmill, token):
    page = alice_page
    prediction = run(cogmill, token, "cogmill/hello-world", {"text": "x"})
    page.goto(f"/p/{prediction['id']}")
    expect(page.locator("#status-badge")).to_have_text("succeeded")
    expect(page.locator("#output-markdown")).to_have_text("hello x")
    expect(page.locator("#inputs")).to_contain_text("text")
    for label in ("Predict time", "Total"):  # the times, once: in the status panel
        expect(page.locator(".timings")).to_contain_text(label)
    metrics = page.locator("#metrics")
    expect(metrics).to_contain_text("Cost")
    expect(metrics).not_to_contain_text("Predict time")
    expect(metrics).to_contain_text("$")
    tweak = page.get_by_role("link", name="Tweak it")
    expect(tweak).to_have_attribute("href", f"/cogmill/hello-world?version={prediction['version']}&text=x")
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)


def test_a_failed_prediction_shows_its_error(alice_page, cogmill, token):
    page = alice_page
    prediction = run(cogmill, token, "testers/failing", {"reason": "the flux capacitor broke"})
    page.goto(f"/p/{prediction['id']}")
    expect(page.locator("#status-badge")).to_have_text("failed")
    expect(page.locator("#prediction-error")).to_contain_text("the flux capacitor broke")
    expect(page.locator("#logs")).to_contain_text("about to fail")
    expect(page.locator("#logs")).to_contain_text("Traceback (most recent call last):")  # where it failed
    expect(page.locator("#logs")).to_be_visible()


def test_another_users_prediction_is_not_found(alice_page, cogmill, other_token):
    page = alice_page
    theirs = run(cogmill, other_token, "cogmill/hello-world", {"text": "secret stuff"})
    response = page.goto(f"/p/{theirs['id']}")
    assert response.status == 404
    expect(page.locator("body")).not_to_contain_text("secret stuff")
    csrf = page.context.cookies()
    token_cookie = next(c["value"] for c in csrf if c["name"] == "csrftoken")
    answer = page.request.post(f"/p/{theirs['id']}/cancel", headers={"X-CSRFToken": token_cookie})
    assert answer.status == 404


def test_logged_out_visitors_get_not_found(page, cogmill, token):
    prediction = run(cogmill, token, "cogmill/hello-world", {"text": "private"})
    assert page.goto(f"/p/{prediction['id']}").status == 404
    assert httpx.get(f"{cogmill.base_url}/p/{prediction['id']}").status_code == 404


def test_without_javascript_a_running_page_refreshes_itself(browser, cogmill, token, gate):
    context = browser.new_context(base_url=cogmill.base_url, java_script_enabled=False)
    try:
        page = context.new_page()
        log_in(page, cogmill, "alice")
        prediction = run(cogmill, token, "testers/gated", {"gate": str(gate)}, wait=False)
        api_wait_for_output(cogmill, token, prediction["id"])
        page.goto(f"/p/{prediction['id']}")
        expect(page.locator("#output-text")).to_have_text("first ")
        expect(page.locator("#status-badge")).to_have_text("processing")
        assert page.content().count('<noscript><meta http-equiv="refresh"') == 1
        assert 'http-equiv="refresh"' in page.content()
        gate.write_text("go")
        wait_until(lambda: api_prediction(cogmill, token, prediction["id"])["status"] == "succeeded", 60)
        page.get_by_role("link", name="Refresh").click()
        expect(page.locator("#status-badge")).to_have_text("succeeded")
        expect(page.locator("#output-text")).to_have_text("first t0 t1 t2 ", use_inner_text=False)
        assert 'http-equiv="refresh"' not in page.content()
    finally:
        context.close()


def api_wait_for_output(cogmill, token: str, prediction_id: str) -> None:
    wait_until(lambda: api_prediction(cogmill, token, prediction_id)["output"], 120, 0.1, "first output")


# Records each value the running clock shows.
WATCH_CLOCK = """
document.addEventListener("DOMContentLoaded", () => {
  window.__clock = [];
  setInterval(() => {
    const shown = document.querySelector("[data-elapsed]")?.textContent;
    if (shown && shown !== window.__clock.at(-1)) window.__clock.push(shown);
  }, 20);
});
"""


def test_the_elapsed_time_ticks_smoothly_between_polls(alice_page, cogmill, token, gate, request):
    page = alice_page
    page.add_init_script(WATCH_CLOCK)
    prediction = run(cogmill, token, "testers/gated", {"gate": str(gate)}, wait=False)
    page.goto(f"/p/{prediction['id']}")
    page.wait_for_function("() => (window.__clock || []).length >= 12", timeout=60_000)
    shown = page.evaluate("window.__clock")
    assert all(re.fullmatch(r"\d+\.\ds", value) for value in shown), shown  # tenths of a second
    seconds = [float(value[:-1]) for value in shown]
    assert seconds == sorted(seconds), shown  # a poll never moves it back
    screenshots(page, request, "running")
    gate.write_text("go")
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("[data-elapsed]")).to_have_count(0)


def test_a_finished_prediction_has_its_json_logs_and_run_again(alice_page, cogmill, token, request):
    page = alice_page
    prediction = run(cogmill, token, "cogmill/hello-world", {"text": "twice"})
    page.goto(f"/p/{prediction['id']}")
    page.locator("#json-view summary").click()
    body = json.loads(page.locator("#prediction-json").text_content())
    assert body["id"] == prediction["id"] and body["output"] == "hello twice" and body["status"] == "succeeded"
    assert body["input"] == {"text": "twice"}
    screenshots(page, request, "finished")

    page.get_by_role("button", name="Run again").click()
    expect(page).not_to_have_url(re.compile(prediction["id"]))
    expect(page).to_have_url(re.compile(r"/p/\w+$"))
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=60_000)
    expect(page.locator("#output-markdown")).to_have_text("hello twice")


def test_a_text_file_output_is_shown_in_place(alice_page, cogmill, token, request):
    page = alice_page
    prediction = run(cogmill, token, "testers/files", {"text": "a line of text\nand <b>another</b>"})
    page.goto(f"/p/{prediction['id']}")
    preview = page.locator("pre[data-preview]")
    expect(preview).to_have_text("a line of text\nand <b>another</b>", use_inner_text=False)
    expect(page.get_by_role("link", name=re.compile(r"\.txt$"))).to_be_visible()
    screenshots(page, request, "text-file")

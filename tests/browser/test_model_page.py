"""The model page in a real browser: run the generated form, field errors in place, uploads, API tab."""

import re

from playwright.sync_api import Page, expect

from tests.browser.conftest import RESULTS, screenshots
from tests.server import UPLOAD_LIMIT

PASSWORD = "model-page-pass-phrase-7"


def log_in(page: Page, cogmill, username: str) -> None:
    cogmill.manage("shell", "-c", "from accounts.models import User; "
                   f"User.objects.create_user({username!r}, password={PASSWORD!r})")
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name=username)).to_be_visible()


def _shot_dir(name: str):
    """Where a test keeps screenshots of intermediate states (the fixture saves only the last)."""
    path = RESULTS / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def expect_output_panel(page: Page, model: str) -> None:
    """The run shows in the output panel, and the address is the model page showing that run."""
    expect(page.locator("#run-output #status-badge")).to_be_visible()
    expect(page).to_have_url(re.compile(rf"/{model}\?version=\w+&prediction=\w+$"))


def test_run_hello_world_from_the_form(page: Page, cogmill, new_username):
    log_in(page, cogmill, new_username)
    page.goto("/cogmill/hello-world")
    expect(page.get_by_role("heading", name="cogmill / hello-world")).to_be_visible()
    expect(page.locator("label[for=id_text]")).to_have_class(re.compile(r"\brequired\b"))
    page.get_by_label("Text").fill("from the browser")
    page.get_by_role("button", name="Run").click()
    expect_output_panel(page, "cogmill/hello-world")
    expect(page.locator("#run-output").get_by_text("hello from the browser").first).to_be_visible(timeout=90_000)


def test_anonymous_visitors_see_the_form_and_are_asked_to_log_in(page: Page, cogmill):
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto("/cogmill/textgen")
    expect(page.get_by_label("Prompt")).to_have_value("I just found out that")
    page.screenshot(path=str(_shot_dir("test_anonymous_visitors_see_the_form") / "phone.png"), full_page=True)
    expect(page.get_by_role("button", name="Run")).to_have_count(0)
    page.get_by_role("link", name="Log in to run").click()
    expect(page).to_have_url(re.compile(r"/login\?next=%2Fcogmill%2Ftextgen"))


def test_out_of_range_value_is_shown_next_to_its_field(page: Page, cogmill, new_username):
    log_in(page, cogmill, new_username)
    page.goto("/cogmill/textgen")
    page.get_by_label("Prompt").fill("Keep this prompt")
    page.get_by_label("Max Tokens").fill("42")
    box = page.locator("#id_temperature")
    expect(page.locator("input[type=range][data-range-for=id_temperature]")).to_be_visible()  # JS showed it
    box.evaluate("el => { el.removeAttribute('max'); el.removeAttribute('min'); }")
    box.fill("99")
    page.get_by_role("button", name="Run").click()

    field = page.locator('.field[data-field="temperature"]')
    expect(field.locator(".errorlist")).to_contain_text("Must be at most 2.")
    expect(box).to_be_focused()  # the keyboard lands on the field with the problem
    expect(field).to_have_class(re.compile(r"\bhas-error\b"))
    expect(page.locator('.field[data-field="prompt"] .errorlist')).to_have_count(0)
    expect(page.get_by_label("Prompt")).to_have_value("Keep this prompt")
    expect(page.get_by_label("Max Tokens")).to_have_value("42")
    expect(box).to_have_value("99")
    assert "/p/" not in page.url


def test_upload_a_file_input_and_run(page: Page, cogmill, new_username, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("words from an uploaded file")
    log_in(page, cogmill, new_username)
    page.goto("/testers/reader")
    page.get_by_label("File").set_input_files(str(note))
    expect(page.locator(".file-preview")).to_contain_text("note.txt")
    page.get_by_role("button", name="Run").click()
    expect_output_panel(page, "testers/reader")
    expect(page.locator("#run-output").get_by_text("words from an uploaded file").first).to_be_visible(timeout=90_000)


def _too_big(tmp_path):
    big = tmp_path / "big.txt"
    big.write_bytes(b"x" * (UPLOAD_LIMIT + 1))
    return big


def test_a_file_over_the_limit_is_refused_before_upload(page: Page, cogmill, new_username, tmp_path):
    log_in(page, cogmill, new_username)
    page.goto("/testers/reader")
    page.get_by_label("File").set_input_files(str(_too_big(tmp_path)))
    expect(page.locator("[data-field=file] .errorlist")).to_contain_text("big.txt is 2.0 MB; files may be at most 2.0 MB")
    expect(page.get_by_label("File")).to_have_value("")  # cleared: nothing big is sent


def test_a_file_over_the_limit_is_refused_without_javascript(browser, cogmill, new_username, tmp_path):
    context = browser.new_context(base_url=cogmill.base_url, java_script_enabled=False)
    page = context.new_page()
    try:
        log_in(page, cogmill, new_username)
        page.goto("/testers/reader")
        page.get_by_label("File").set_input_files(str(_too_big(tmp_path)))
        page.get_by_role("button", name="Run").click()
        expect(page.locator("[data-field=file] .errorlist")).to_contain_text("files may be at most 2.0")
        expect(page).to_have_url(re.compile(r"/testers/reader"))
    finally:
        context.close()


def test_api_tab_shows_one_language_at_a_time_with_the_typed_input(page: Page, cogmill, new_username, request):
    errors = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    log_in(page, cogmill, new_username)
    version = cogmill.versions["hello-world"]
    page.goto("/cogmill/hello-world")
    page.get_by_label("Text").fill("typed for the snippet")
    page.get_by_role("navigation", name="Model tabs").get_by_role("link", name="API").click()
    languages = page.get_by_role("tablist", name="Language")
    python = page.locator("#snippet-python")
    expect(languages.get_by_role("tab", name="Python")).to_have_attribute("aria-selected", "true")
    expect(python).to_be_visible()
    expect(page.locator("#snippet-javascript")).to_be_hidden()  # one language at a time
    expect(python).to_contain_text(f"cogmill/hello-world:{version}")
    expect(python).to_contain_text('"text": "typed for the snippet"')
    expect(python).to_contain_text(f'base_url="{cogmill.base_url}"')
    expect(page.locator("#setup-python")).to_contain_text("pip install replicate")
    expect(python.locator("span").first).to_be_visible()  # highlighted
    expect(page.get_by_role("button", name="Copy")).to_have_count(2)  # the setup and the code
    expect(page).to_have_url(re.compile(r"tab=api"))
    expect(page).to_have_url(re.compile(r"text=typed(\+|%20)for(\+|%20)the(\+|%20)snippet"))
    screenshots(page, request, "api-python")

    languages.get_by_role("tab", name="Python").focus()
    page.keyboard.press("ArrowRight")  # the keyboard moves between languages
    expect(languages.get_by_role("tab", name="JavaScript")).to_be_focused()
    expect(page.locator("#snippet-javascript")).to_contain_text(f'baseUrl: "{cogmill.base_url}/v1"')
    expect(python).to_be_hidden()
    languages.get_by_role("tab", name="cURL").click()
    expect(page.locator("#snippet-curl")).to_contain_text(version)
    screenshots(page, request, "api-curl")
    page.reload()  # the language chosen is remembered
    expect(page.get_by_role("tablist", name="Language").get_by_role("tab", name="cURL")).to_have_attribute(
        "aria-selected", "true")
    page.get_by_role("tablist", name="Language").get_by_role("tab", name="HTTP").click()
    expect(page.locator("#snippet-http")).to_contain_text("POST /v1/predictions HTTP/1.1")
    assert not errors, errors

    page.get_by_role("navigation", name="Model tabs").get_by_role("link", name="Playground").click()
    expect(page.get_by_label("Text")).to_have_value("typed for the snippet")

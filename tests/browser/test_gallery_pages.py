"""Share links and team galleries, driven through the pages in a real browser."""

import re
import uuid
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import RESULTS

PASSWORD = "a-long-pass-phrase-42"


@pytest.fixture
def owner(cogmill, new_username) -> str:
    """A person with a password, a member of a fresh organization named `<username>-team`."""
    script = (
        "from accounts.models import User, Membership\n"
        f"u = User.objects.create_user({new_username!r}, password={PASSWORD!r})\n"
        f"o = User.objects.create_user({new_username + '-team'!r}, kind='organization')\n"
        "Membership.objects.create(organization=o, member=u, role='admin')\n"
    )
    cogmill.manage("shell", "-c", script)
    return new_username


def log_in(page: Page, username: str) -> None:
    page.goto("/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("link", name=username)).to_be_visible()


def run_hello(cogmill, username: str, text: str) -> str:
    """A finished hello-world prediction of the user's, made through the API; returns its id."""
    token = cogmill.token(username)
    response = httpx.post(
        f"{cogmill.base_url}/v1/predictions",
        json={"version": cogmill.versions["hello-world"], "input": {"text": text}},
        headers={"Authorization": f"Bearer {token}", "Prefer": "wait=60"}, timeout=90,
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "succeeded", body
    return body["id"]


def test_a_shared_prediction_opens_logged_out_read_only(page: Page, browser, cogmill, owner):
    text = f"share {uuid.uuid4().hex[:6]}"
    prediction_id = run_hello(cogmill, owner, text)

    mine = browser.new_context(base_url=cogmill.base_url)
    try:
        owner_page = mine.new_page()
        log_in(owner_page, owner)
        owner_page.goto(f"/p/{prediction_id}")
        owner_page.get_by_role("button", name="Share link").click()
        expect(owner_page.get_by_text("Anyone with the link can see this prediction.")).to_be_visible()
        expect(owner_page.get_by_label("Share link")).to_have_value(f"{cogmill.base_url}/p/{prediction_id}")
        shots = RESULTS / "test_a_shared_prediction_opens_logged_out_read_only"
        owner_page.screenshot(path=str(shots / "owner.png"), full_page=True)
    finally:
        mine.close()

    # `page` is a fresh context: no cookies, nobody logged in.
    page.goto(f"/p/{prediction_id}")
    expect(page.locator("#output-text")).to_contain_text(f"hello {text}")
    expect(page.locator("#inputs")).to_contain_text(text)
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    expect(page.get_by_role("button", name=re.compile("Make private|Share link"))).to_have_count(0)
    expect(page.get_by_role("link", name="Delete data")).to_have_count(0)


def test_a_private_prediction_is_not_found_logged_out(page: Page, cogmill, owner):
    prediction_id = run_hello(cogmill, owner, "private")
    response = page.goto(f"/p/{prediction_id}")
    assert response.status == 404


def test_gallery_star_and_use_this_prompt(page: Page, cogmill, owner):
    org = f"{owner}-team"
    text = f"gallery {uuid.uuid4().hex[:6]}"
    prediction_id = run_hello(cogmill, owner, text)
    log_in(page, owner)

    page.goto(f"/p/{prediction_id}")
    page.get_by_label("Add to a team gallery").select_option(org)
    page.get_by_role("button", name="Add to gallery").click()
    page.get_by_role("link", name=f"see {org}’s gallery").click()
    expect(page).to_have_url(f"{cogmill.base_url}/galleries/{org}")

    card = page.locator("article.gallery-card").filter(has_text=text)
    expect(card).to_contain_text(f"hello {text}")
    expect(card).to_contain_text("cogmill/hello-world")
    expect(card).to_contain_text(f"Added by {owner}")

    card.get_by_role("button", name="Star").click()
    expect(card.get_by_role("button", name="Unstar")).to_have_attribute("aria-pressed", "true")
    expect(card.locator(".star-count")).to_have_text("1")

    page.get_by_role("link", name="Most starred").click()
    expect(page).to_have_url(re.compile(r"\?sort=stars$"))
    expect(page.locator("article.gallery-card").first).to_contain_text(text)
    shots = RESULTS / "test_gallery_star_and_use_this_prompt"
    page.screenshot(path=str(shots / "gallery.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    page.screenshot(path=str(shots / "gallery-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})

    card = page.locator("article.gallery-card").filter(has_text=text)
    card.get_by_role("link", name="Use this prompt").click()
    expect(page).to_have_url(re.compile(r"/cogmill/hello-world\?"))
    query = parse_qs(urlparse(page.url).query)
    assert query == {"version": [cogmill.versions["hello-world"]], "text": [text]}
    expect(page.locator("form [name=text]")).to_have_value(text)

"""Sign up, log in, API tokens and organizations, driven through the pages in a real browser."""

import re
import uuid

import httpx
from playwright.sync_api import Page, expect

from tests.browser.conftest import _output_dir

PASSWORD = "a-long-pass-phrase-42"


def sign_up(page: Page, username: str, next_path: str = "") -> None:
    page.goto(f"/signup{next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Sign up").click()


def log_out(page: Page) -> None:
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()


def api_account(cogmill, raw: str) -> httpx.Response:
    return httpx.get(f"{cogmill.base_url}/v1/account", headers={"Authorization": f"Bearer {raw}"}, timeout=30)


def test_sign_up_then_create_use_and_revoke_a_token(page: Page, cogmill, new_username):
    sign_up(page, new_username)
    expect(page).to_have_url(f"{cogmill.base_url}/")
    expect(page.get_by_role("link", name=new_username)).to_be_visible()

    page.get_by_role("link", name=new_username).click()
    expect(page).to_have_url(f"{cogmill.base_url}/account")
    page.get_by_label("Name").fill("ci runner")
    page.get_by_role("button", name="Create token").click()
    shown = page.locator("#new-token")
    expect(shown).to_have_text(re.compile(r"^cm_\w{40}$"))
    raw = shown.inner_text()
    expect(page.get_by_role("button", name="Copy").first).to_be_visible()

    response = api_account(cogmill, raw)
    assert response.status_code == 200
    assert response.json()["username"] == new_username

    page.reload()
    expect(page.locator("#new-token")).to_have_count(0)
    expect(page.get_by_text(raw)).to_have_count(0)
    row = page.get_by_role("row").filter(has_text="ci runner")
    expect(row).to_contain_text(raw[:11] + "…")
    expect(row).to_contain_text("ago")  # last used, by the API call above

    row.get_by_role("button", name="Revoke ci runner").click()
    expect(page.get_by_text("Token “ci runner” revoked")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text="ci runner")).to_have_count(0)
    assert api_account(cogmill, raw).status_code == 401


def test_webhook_secret_is_revealed_on_click(page: Page, cogmill, new_username):
    sign_up(page, new_username)
    page.goto("/account")
    secret = page.locator("#webhook-secret")
    expect(secret).to_be_hidden()
    page.get_by_text("Reveal secret").click()
    expect(secret).to_be_visible()
    expect(secret).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]{40,}$"))


def test_login_errors_keep_the_username_and_next_is_followed(page: Page, cogmill, new_username):
    sign_up(page, new_username)
    expect(page.get_by_role("link", name=new_username)).to_be_visible()
    log_out(page)

    page.goto("/account")
    expect(page).to_have_url(re.compile(r"/login\?next=/account$"))
    page.get_by_label("Username").fill(new_username)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Log in").click()
    expect(page.locator(".errorlist")).to_contain_text("Please enter a correct username and password")
    expect(page.get_by_label("Username")).to_have_value(new_username)

    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page).to_have_url(f"{cogmill.base_url}/account")
    expect(page.get_by_role("heading", name=new_username)).to_be_visible()


def test_sign_up_with_a_taken_or_invalid_username_shows_a_field_error(page: Page, cogmill, new_username):
    sign_up(page, new_username)
    expect(page.get_by_role("link", name=new_username)).to_be_visible()
    log_out(page)

    sign_up(page, new_username)
    field = page.locator(".field.has-error")
    expect(field).to_contain_text(f"“{new_username}” is already taken.")
    expect(page.get_by_label("Username")).to_have_value(new_username)

    sign_up(page, "Has Spaces")
    expect(page.locator(".field.has-error")).to_contain_text("lowercase letters, digits")
    expect(page.get_by_label("Username")).to_have_value("Has Spaces")


def test_create_an_organization_and_invite_a_member(page: Page, cogmill, new_username):
    teammate = f"t{uuid.uuid4().hex[:10]}"
    cogmill.token(teammate)  # creates the person
    org = f"org-{uuid.uuid4().hex[:8]}"
    sign_up(page, new_username, "?next=/account")
    expect(page).to_have_url(f"{cogmill.base_url}/account")

    page.get_by_role("link", name="New organization").click()
    page.get_by_label("Name").fill(org)
    page.get_by_role("button", name="Create organization").click()
    expect(page).to_have_url(f"{cogmill.base_url}/orgs/{org}")
    expect(page.get_by_role("row").filter(has_text=new_username)).to_contain_text("(you)")

    page.get_by_label("Username").fill("nobody-by-this-name")
    page.get_by_role("button", name="Add member").click()
    expect(page.locator("#invite .field.has-error")).to_contain_text(
        "There is no person with the username “nobody-by-this-name”.")
    expect(page.get_by_label("Username")).to_have_value("nobody-by-this-name")

    page.get_by_label("Username").fill(teammate)
    page.get_by_role("button", name="Add member").click()
    expect(page.get_by_text(f"{teammate} is invited to {org} as member: they join when they accept.")).to_be_visible()
    expect(page.get_by_role("row").filter(has_text=teammate)).to_contain_text("invited")
    row = page.get_by_role("row").filter(has_text=teammate)
    expect(row.get_by_label(f"Role of {teammate}")).to_have_value("member")

    row.get_by_label(f"Role of {teammate}").select_option("admin")
    row.get_by_role("button", name="Save").click()
    expect(page.get_by_text(f"{teammate} is now admin.")).to_be_visible()

    page.goto("/account")
    orgs = page.locator("#organizations")
    expect(orgs.get_by_role("link", name=org)).to_be_visible()
    expect(orgs).to_contain_text("admin")


def test_data_retention_is_chosen_on_the_account_page(page: Page, cogmill, new_username, request):
    sign_up(page, new_username)
    page.goto("/account#retention")
    retention = page.get_by_label("Keep API prediction data for")
    expect(retention).to_have_value("")  # keep forever, until chosen otherwise
    retention.select_option(label="1 hour, like Replicate")
    page.get_by_role("button", name="Save").click()
    expect(page.get_by_text("Data retention saved.")).to_be_visible()
    expect(page.get_by_label("Keep API prediction data for")).to_have_value("1h")
    page.set_viewport_size({"width": 390, "height": 844})  # a phone: the card still fits
    card = page.locator("#retention")
    card.scroll_into_view_if_needed()
    assert card.bounding_box()["width"] <= 390
    card.screenshot(path=str(_output_dir(request) / "retention-phone.png"))

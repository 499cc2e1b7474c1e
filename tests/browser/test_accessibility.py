"""Every page, checked by axe-core (vendored in tests/browser/vendor, run in the page by playwright) at
desktop and phone widths, light and dark: no serious or critical violation. And the phone menu works
from the keyboard and tells a screen reader whether it is open."""


import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import DESKTOP, PHONE, RESULTS, axe_violations, screenshots
from tests.browser.prediction_steps import PASSWORD, log_in, run
from tests.server import ROOT

ANONYMOUS_PAGES = ("/login", "/signup", "/", "/cogmill/textgen", "/nobody/nothing")


@pytest.fixture(scope="module")
def site(cogmill):
    """A staff member with an organization, a token and runs of each kind to show."""
    username = "axe-reader"
    cogmill.manage("shell", "-c", (
        "from accounts.models import User, Membership\n"
        f"u, _ = User.objects.update_or_create(username={username!r}, defaults={{'is_staff': True, "
        "'is_superuser': True})\n"
        f"u.set_password({PASSWORD!r}); u.save()\n"
        f"o, _ = User.objects.get_or_create(username={username + '-team'!r}, defaults={{'kind': 'organization'}})\n"
        "Membership.objects.get_or_create(organization=o, member=u, defaults={'role': 'admin'})\n"
    ))
    token = cogmill.token(username)
    cogmill.push(ROOT / "examples" / "hello-world", f"{username}/greeter")  # a model of theirs, for Settings
    runs = {
        "text": run(cogmill, token, "cogmill/textgen", {"prompt": "A", "max_tokens": 60, "seed": 1})["id"],
        "hello": run(cogmill, token, "cogmill/hello-world", {"text": "axe"})["id"],
        "failed": run(cogmill, token, "testers/failing", {"reason": "checked by axe"})["id"],
        "file": run(cogmill, token, "testers/files", {"text": "a text file"})["id"],
    }
    team = f"{username}-team"
    pages = [
        "/", "/?filter=mine", "/cogmill/textgen", "/cogmill/textgen?tab=api", "/cogmill/textgen?tab=examples",
        "/cogmill/textgen?tab=train", "/cogmill/textgen?tab=readme", "/cogmill/textgen?tab=versions",
        f"/cogmill/hello-world?prediction={runs['hello']}", "/testers/reader",
        *(f"/p/{pid}" for pid in runs.values()), f"/p/{runs['hello']}/remove",
        "/history", "/galleries", f"/galleries/{team}", "/deployments", "/deployments/new",
        "/account", "/account/password", "/account/spend", f"/orgs/{team}", f"/orgs/{team}/spend",
        "/admin/billing/", "/nobody/nothing", f"/{username}/greeter?tab=settings",
    ]
    return {"username": username, "pages": pages}


@pytest.mark.parametrize("scheme", ["light", "dark"])
@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["desktop", "phone"])
def test_no_page_has_a_serious_accessibility_violation(browser, cogmill, site, scheme, viewport, request):
    context = browser.new_context(base_url=cogmill.base_url, viewport=viewport, color_scheme=scheme)
    context.set_default_timeout(30_000)
    page = context.new_page()
    try:
        problems = [problem for path in ANONYMOUS_PAGES for problem in axe_violations(page, path)]
        log_in(page, cogmill, site["username"])
        problems += [problem for path in site["pages"] for problem in axe_violations(page, path)]
        assert not problems, "\n".join(problems)
        if scheme == "dark" and viewport == DESKTOP:
            for name, path in (("model", "/cogmill/textgen"), ("prediction", site["pages"][8]), ("history", "/history")):
                page.goto(path)
                screenshots(page, request, f"dark-{name}")
    finally:
        context.close()


def test_the_phone_menu_works_from_the_keyboard(page: Page, cogmill, request):
    page.set_viewport_size(PHONE)
    page.goto("/")
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(nav.get_by_role("link", name="Explore")).to_be_hidden()
    page.keyboard.press("Tab")  # the skip link first
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    expect(menu).to_be_focused()
    page.keyboard.press("Enter")
    expect(menu).to_have_attribute("aria-expanded", "true")
    page.keyboard.press("Tab")
    expect(nav.get_by_role("link", name="Explore")).to_be_focused()
    shots = RESULTS / "test_the_phone_menu_works_from_the_keyboard"
    shots.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(shots / "menu-open-phone.png"))
    page.keyboard.press("Escape")
    expect(menu).to_have_attribute("aria-expanded", "false")
    expect(menu).to_be_focused()
    expect(nav.get_by_role("link", name="Explore")).to_be_hidden()


def test_without_javascript_the_phone_menu_is_simply_shown(browser, cogmill):
    context = browser.new_context(base_url=cogmill.base_url, viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto("/")
        expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Log in")).to_be_visible()
        expect(page.get_by_role("button", name="Menu")).to_be_hidden()
    finally:
        context.close()

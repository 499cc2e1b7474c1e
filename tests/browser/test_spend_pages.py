"""Spend in a real browser: a staff member prices cpu on /admin/billing/; a person runs
cogmill/hello-world, sets a small monthly limit on /account/spend, runs again until the run form is
refused, and sees why (the form's message and the header's banner); the staff's billing view draws
its chart and exports one CSV row per ledger entry.

The server is shared with the other browser tests, so the cpu price is put back afterwards. A run
holds COGMILL_SPEND_RESERVE_SECONDS (60) of its hardware until it ends: at $0.0002/s that is $0.012,
more than a $0.01 limit leaves."""

import csv
import io

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshots
from tests.browser.prediction_steps import log_in

RUN_MS = 120_000
CPU_PRICE = "0.0002"




def _shell(cogmill, code: str) -> str:
    """What `code` printed last (the shell may print a note of its own first)."""
    lines = cogmill.manage("shell", "-c", code).stdout.strip().splitlines()
    return lines[-1] if lines else ""


def _staff(cogmill, username: str) -> None:
    _shell(cogmill, "from accounts.models import User\n"
                    f"User.objects.update_or_create(username={username!r}, defaults={{'is_staff': True, 'is_superuser': True}})\n")


@pytest.fixture
def cpu_price(cogmill):
    """cpu's price before the test, put back (through billing, so its history is kept) after it."""
    before = _shell(cogmill, "from playground.models import Hardware\n"
                             "print(Hardware.objects.get(sku='cpu').price_per_second)")
    yield before
    _shell(cogmill, "from decimal import Decimal\nfrom playground.models import Hardware\n"
                    "from playground.services import billing\n"
                    f"billing.set_price(Hardware.objects.get(sku='cpu'), Decimal({before!r}))")


def _run(page: Page, text: str) -> None:
    page.goto("/cogmill/hello-world")
    page.get_by_label("Text").fill(text)
    page.get_by_role("button", name="Run").click()


def test_a_small_limit_stops_runs_and_says_so(page: Page, cogmill, new_username, request, cpu_price):
    staff = f"{new_username}s"
    _staff(cogmill, staff)
    log_in(page, cogmill, staff)
    page.goto("/admin/billing/")
    page.locator("#id_price-hardware").select_option("cpu")
    page.locator("#id_price-price_per_second").fill(CPU_PRICE)
    page.get_by_role("button", name="Set price").click()
    expect(page.locator(".messages")).to_contain_text(f"cpu costs ${CPU_PRICE}/s")
    expect(page.locator("#price-cpu")).to_contain_text(f"${CPU_PRICE}")
    page.context.clear_cookies()

    log_in(page, cogmill, new_username)
    _run(page, "before the limit")
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=RUN_MS)

    page.goto("/account")
    expect(page.locator("#spend-summary")).to_contain_text("no monthly limit")
    page.get_by_role("link", name="Spend and limit").click()
    expect(page.locator("#by-model")).to_contain_text("cogmill/hello-world")
    expect(page.locator("#by-token")).to_contain_text("web")
    expect(page.locator("#spend-chart g.bar[data-runs='1']")).to_have_count(1)
    page.get_by_label("Monthly limit (USD)").fill("0.01")
    page.get_by_role("button", name="Set limit").click()
    expect(page.locator(".messages")).to_contain_text("is now $0.01")
    expect(page.locator("#month-limit")).to_have_text("$0.01")
    screenshots(page, request, "spend")

    for attempt in range(3):  # the first one already finds no room for the 60 s a run holds
        _run(page, f"after the limit {attempt}")
        refused = page.locator("#run-form .message.error").filter(has_text="Monthly spend limit reached")
        expect(refused.or_(page.locator("#run-output #status-badge"))).to_be_visible()  # one or the other
        if refused.count():
            break
        expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=RUN_MS)
    expect(refused.first).to_be_visible()
    expect(page.locator("#run-output-empty")).to_be_visible()  # nothing ran
    page.reload()
    expect(page.locator("#limit-banner")).to_contain_text("Monthly spend limit reached")
    expect(page.locator("#limit-banner")).to_contain_text("of your $0.01 monthly limit")
    screenshots(page, request, "refused")

    page.locator("#limit-banner").get_by_role("link", name="See spend and limit").click()
    page.locator("#lift-limit").click()
    expect(page.locator(".messages")).to_contain_text("is lifted")
    expect(page.locator("#limit-banner")).to_have_count(0)


def test_the_billing_view_charts_spend_and_exports_the_ledger(page: Page, cogmill, new_username, request):
    staff = f"{new_username}s"
    _staff(cogmill, staff)
    log_in(page, cogmill, staff)
    page.goto("/admin/billing/")
    expect(page.locator("#billing-chart")).to_be_visible()
    expect(page.locator("#billing-chart g.bar")).not_to_have_count(0)
    expect(page.locator("#top-spenders")).to_be_visible()
    with page.expect_download() as download:
        page.locator("#ledger-csv").click()
    with open(download.value.path(), encoding="utf-8") as exported:
        rows = list(csv.reader(io.StringIO(exported.read())))
    start, end = page.locator("#id_start").input_value(), page.locator("#id_end").input_value()
    count = _shell(cogmill, "import datetime as dt\nfrom playground.services import spend_reports\n"
                            f"print(spend_reports.entries(dt.date.fromisoformat({start!r}), "
                            f"dt.date.fromisoformat({end!r})).count())")
    assert rows[0][:3] == ["created_at", "kind", "run_id"]
    assert len(rows) - 1 == int(count)
    assert len({row[2] for row in rows[1:]}) == len(rows) - 1  # one row per run
    screenshots(page, request, "billing")

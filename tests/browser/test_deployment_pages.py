"""Deployments in a real browser: create one of cogmill/hello-world through the form (the version
picker and the cost estimate follow what is typed), watch its kept-warm instance come up in the
live instance table, run it from its page to a succeeded prediction, see it in the list, change it
(release 2), then delete it."""

from playwright.sync_api import Page, expect

from tests.browser.conftest import screenshots
from tests.browser.prediction_steps import log_in

BOOT_MS = 180_000  # a kept-warm instance: a worker boots hello-world's Cog server
RUN_MS = 120_000




def test_create_a_deployment_watch_it_warm_up_run_change_and_delete_it(page: Page, cogmill, new_username, request):
    version_id = cogmill.versions["hello-world"]
    log_in(page, cogmill, new_username)
    page.get_by_role("navigation").get_by_role("link", name="Deployments").click()
    expect(page.locator("#no-deployments")).to_be_visible()
    page.get_by_role("link", name="New deployment").click()

    page.locator("#id_name").fill("hello-prod")
    model = page.locator("#id_model")
    model.fill("cogmill/hello-world")
    model.press("Tab")
    expect(page.locator(f"#id_version option[value='{version_id}']")).to_have_count(1)  # fetched for the model
    page.locator("#id_version").select_option(version_id)
    page.locator("#id_hardware").select_option("cpu")
    page.locator("#id_min_instances").fill("1")
    page.locator("#id_max_instances").fill("2")
    expect(page.locator("#cost-range")).to_have_text("$0.36 – $0.72 per hour")
    expect(page.locator("#id_version")).to_have_value(version_id)
    screenshots(page, request, "new-deployment")
    page.get_by_role("button", name="Create deployment").click()

    page.wait_for_url(f"**/deployments/{new_username}/hello-prod")
    expect(page.locator(".messages")).to_contain_text("release 1 is live")
    expect(page.locator("#hourly-cost")).to_have_text("$0.36 idle – $0.72 busy")
    expect(page.locator("#release-1")).to_contain_text("cogmill/hello-world")
    ready = page.locator("#instances tr[data-state='ready']")
    expect(ready).to_have_count(1, timeout=BOOT_MS)  # the table polls itself; no reload
    expect(ready).to_contain_text("kept warm")

    page.locator("#run-form [name=text]").fill("deployments")
    page.locator("#run-form").get_by_role("button", name="Run").click()
    page.wait_for_url("**/p/*")
    expect(page.locator("#status-badge")).to_have_text("succeeded", timeout=RUN_MS)
    expect(page.locator("#output-text")).to_contain_text("hello deployments")

    page.goto("/deployments")
    row = page.locator(f"#deployment-{new_username}-hello-prod")
    expect(row).to_contain_text("cogmill/hello-world")
    expect(row).to_contain_text("1 ready")
    screenshots(page, request, "deployments")
    row.get_by_role("link", name=f"{new_username}/hello-prod").click()
    expect(page.locator("#stat-requests")).to_have_text("1")
    expect(page.locator("#stats-chart g.bar[data-requests='1']")).to_have_count(1)
    screenshots(page, request, "deployment")

    page.get_by_role("link", name="Edit").click()
    page.locator("#id_max_instances").fill("3")
    expect(page.locator("#cost-range")).to_have_text("$0.36 – $1.08 per hour")
    screenshots(page, request, "edit")
    page.get_by_role("button", name="Save as release 2").click()
    expect(page.locator(".messages")).to_contain_text("Release 2 is live.")
    expect(page.locator("#release-2")).to_contain_text("1–3")
    expect(page.locator("#hourly-cost")).to_have_text("$0.36 idle – $1.08 busy")

    page.get_by_role("link", name="Delete").click()
    page.get_by_role("button", name="Delete deployment").click()
    page.wait_for_url("**/deployments")
    expect(page.locator(".messages")).to_contain_text(f"{new_username}/hello-prod is deleted")
    expect(page.locator("#no-deployments")).to_be_visible()

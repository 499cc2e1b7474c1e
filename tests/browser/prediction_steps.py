"""Shared steps of the page tests: logging a browser in, running predictions through the API."""

import httpx
from playwright.sync_api import Page

PASSWORD = "correct-horse-battery-7"


def log_in(page: Page, cogmill, username: str) -> None:
    """Give `username` (created if missing) a known password and log in through /login."""
    cogmill.manage("shell", "-c", (
        "from accounts.models import User\n"
        f"user, _ = User.objects.get_or_create(username={username!r})\n"
        f"user.set_password({PASSWORD!r})\n"
        "user.save()\n"
    ))
    page.goto("/login?next=/history")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.locator("form[action='/login'] button[type=submit]").click()
    page.wait_for_url("**/history")


def run(cogmill, token: str, model: str, input_: dict, wait: bool = True) -> dict:
    """Create a prediction through the API; with `wait`, answer once it has finished."""
    headers = {"Authorization": f"Bearer {token}"}
    if wait:
        headers["Prefer"] = "wait=60"
    response = httpx.post(f"{cogmill.base_url}/v1/predictions", headers=headers, timeout=180,
                          json={"version": model, "input": input_})
    assert response.status_code == 201, response.text
    return response.json()


def api_prediction(cogmill, token: str, prediction_id: str) -> dict:
    response = httpx.get(f"{cogmill.base_url}/v1/predictions/{prediction_id}",
                         headers={"Authorization": f"Bearer {token}"}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()

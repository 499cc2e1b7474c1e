"""A model's builds as its owner follows them on the model page: a push that fails to build shows
its error there, and the model stays off Explore for everyone else."""

import httpx
from playwright.sync_api import expect

from playground.bundles import pack_dir
from tests.browser.conftest import screenshots
from tests.browser.test_model_page import log_in


def test_a_failed_build_shows_its_error_to_the_owner(page, cogmill, new_username, request, tmp_path, browser):
    log_in(page, cogmill, new_username)
    token = cogmill.token(new_username)
    (tmp_path / "cog.yaml").write_text('predict: "predict.py:Predictor"\n')
    (tmp_path / "predict.py").write_text("import not_a_module_anywhere\n")
    pushed = httpx.post(f"{cogmill.base_url}/v1/models/{new_username}/broken/versions",
                        headers={"Authorization": f"Bearer {token}"},
                        files={"bundle": ("model.tar.gz", pack_dir(tmp_path), "application/gzip")}, timeout=60)
    assert pushed.status_code == 201
    page.goto(f"/{new_username}/broken")
    builds = page.locator("#builds")
    expect(builds.locator(".build-status")).to_have_text("Failed", timeout=120_000)  # the card refreshes itself
    expect(builds.locator(".build-error")).to_contain_text("not_a_module_anywhere")
    screenshots(page, request, "failed-build")
    others = browser.new_context(base_url=cogmill.base_url).new_page()
    others.goto("/")
    expect(others.get_by_role("heading", name="Explore")).to_be_visible()
    assert f"{new_username}/broken" not in others.content()
    others.context.close()

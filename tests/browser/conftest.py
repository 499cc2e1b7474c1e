"""Page tests in a real browser: Debian's chromium driven by playwright, against the e2e server.

Each test leaves a screenshot of its final page in test-results/<test name>/.
"""

import re
import shutil
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from tests.server import ROOT

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run"]
RESULTS = ROOT / "test-results"


@pytest.fixture(scope="module")
def browser():
    # Per module, not per session: playwright's sync API keeps an event loop on this thread
    # while it runs, and Django's async_to_sync refuses to run beside one in later tests.
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS, headless=True)
        yield browser
        browser.close()


def _output_dir(request) -> Path:
    name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])
    path = RESULTS / name
    path.mkdir(parents=True, exist_ok=True)
    return path


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


def screenshots(page, request, name: str) -> None:
    """`name`-desktop.png and `name`-phone.png of the page as it is, beside the test's other files."""
    folder = _output_dir(request)
    page.screenshot(path=str(folder / f"{name}-desktop.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(folder / f"{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


@pytest.fixture
def page(browser, cogmill, request):
    """A fresh browser context (no cookies) on the test server; screenshot saved at the end."""
    context = browser.new_context(base_url=cogmill.base_url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(30_000)
    page = context.new_page()
    yield page
    page.screenshot(path=str(_output_dir(request) / "screenshot.png"), full_page=True)
    context.close()


@pytest.fixture
def new_username() -> str:
    return f"u{uuid.uuid4().hex[:10]}"


# axe-core (vendored, MPL-2.0, licence beside it), run in the page: what the accessibility tests check.
AXE = Path(__file__).parent / "vendor" / "axe-4.11.0.min.js"
BLOCKING = ("serious", "critical")
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" ") + " — " + n.failureSummary.split("\\n")[1]),
  }));
}"""


def axe_violations(page, path: str) -> list[str]:
    """The serious and critical accessibility problems axe-core finds on `path`, as lines to read."""
    page.goto(path)
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(RUN_AXE)
    return [f"{path}: [{v['impact']}] {v['id']}: {v['help']}\n      " + "\n      ".join(v["nodes"])
            for v in found if v["impact"] in BLOCKING]

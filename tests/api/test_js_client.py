"""The official JS client, unmodified, against a real Cogmill running real Cog models.

tests/js/conformance.mjs drives Cogmill with the npm `replicate` package pinned in
tests/js/package.json (`make test` installs it with `npm ci`). It runs once, as its own account,
and prints one JSON line per check; each check is one test here.
"""

import json
import os
import shutil
import subprocess

import pytest

from tests.server import ROOT

JS_DIR = ROOT / "tests" / "js"
SCRIPT = JS_DIR / "conformance.mjs"
NODE_TIMEOUT = 480  # seconds for the whole script; each check has its own 180 s deadline inside
USERNAME = "jsclient"

# The checks conformance.mjs runs, in its order; the script must report exactly these.
CHECKS = [
    "run-hello-world",
    "run-pinned-version",
    "run-poll-mode",
    "run-iterator-gated",
    "run-short-block-wait-polls-after-it",
    "run-iterator-textgen",
    "run-failing-model-throws",
    "run-file-output-url",
    "stream-textgen",
    "stream-unsupported-model-throws",
    "stream-gated-exact-chunks",
    "predictions-create-and-wait",
    "predictions-create-by-model-with-block-wait",
    "predictions-cancel",
    "models-get",
    "models-versions",
    "models-search",
    "models-list-public-latest-version-first",
    "accounts-current",
    "files-create-get-list-delete",
    "files-create-blob-then-run-reader",
    "run-reader-blob-input",
    "paginate-predictions",
    "trainings-create-get-list-cancel",
    "deployments-create-get-list-update-run-delete",
    "webhook-validate",
    "error-bad-token-401",
    "error-unknown-model-404",
    "error-invalid-input-422",
]


def _pinned_version() -> str:
    return json.loads((JS_DIR / "package.json").read_text())["dependencies"]["replicate"]


@pytest.fixture(scope="module")
def conformance(cogmill) -> dict:
    """Run the Node script once; answer {"results": {check: line}, "summary": ..., "output": ...}."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("node is not on PATH: `make test` installs Node.js (Debian: apt-get install nodejs npm)")
    if not (JS_DIR / "node_modules" / "replicate" / "package.json").exists():
        pytest.fail("the npm `replicate` client is not installed: run `make test`, or "
                    "`npm ci --prefix tests/js --no-audit --no-fund`")
    env = {
        **os.environ,
        "BASE_URL": cogmill.base_url,
        "TOKEN": cogmill.token(USERNAME),
        "EXPECTED_USERNAME": USERNAME,
        "VERSIONS": json.dumps(cogmill.versions),
        "WORK_DIR": os.environ["COGMILL_TEST_GATES"],  # its gate files: a folder the model sandboxes can read
    }
    try:
        proc = subprocess.run([node, str(SCRIPT)], cwd=JS_DIR, env=env, capture_output=True, text=True,
                              check=False, timeout=NODE_TIMEOUT)
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"conformance.mjs ran past {NODE_TIMEOUT}s; its output so far:\n"
                    f"{exc.stdout}\n{exc.stderr}")
    results, summary = {}, None
    for line in proc.stdout.splitlines():
        if not line.startswith("{"):
            continue
        record = json.loads(line)
        if "summary" in record:
            summary = record["summary"]
        else:
            results[record["check"]] = record
    output = f"exit {proc.returncode}\nstdout:\n{proc.stdout}\nstderr:\n{proc.stderr[-4000:]}"
    return {"results": results, "summary": summary, "returncode": proc.returncode, "output": output}


def test_the_script_runs_every_check_with_the_pinned_client(conformance):
    summary = conformance["summary"]
    assert summary is not None, conformance["output"]
    assert summary["client"] == f"replicate@{_pinned_version()}"
    assert list(conformance["results"]) == CHECKS, conformance["output"]
    assert summary["total"] == len(CHECKS)
    assert conformance["returncode"] == (1 if summary["failed"] else 0), conformance["output"]


@pytest.mark.parametrize("name", CHECKS)
def test_js_client(conformance, name):
    result = conformance["results"].get(name)
    assert result is not None, f"conformance.mjs did not report {name}\n{conformance['output']}"
    assert result["ok"], f"{name} failed:\n{result.get('message')}"

"""The model page's API tab gives code that works: each language's snippet, read from the page as a
visitor copies it, is run as it is (Python and JavaScript with the official clients, cURL with curl,
the HTTP request with a plain HTTP client) against a real Cogmill, with a text input and with a file
input that the snippet uploads. Only the token is filled in, and the file is put where the snippet
looks for it."""

import html
import json
import os
import re
import shlex
import subprocess
import sys

import httpx
import pytest

from tests.server import ROOT

NODE_MODULES = ROOT / "tests" / "js" / "node_modules"
CASES = {  # model page with its form's values -> what the run answers
    "hello": ("/cogmill/hello-world?tab=api&text=from+a+snippet", "hello from a snippet"),
    "file": ("/testers/reader?tab=api", "read back from an uploaded file"),
}


def _code(cogmill, page: str, element_id: str) -> str:
    body = httpx.get(cogmill.base_url + page, timeout=30).text
    block = body.split(f'id="{element_id}"')[1].split(">", 1)[1].split("</pre>")[0]
    return html.unescape(re.sub(r"<[^>]+>", "", block))


@pytest.fixture
def workdir(tmp_path):
    """Where a snippet runs: `path/to/file` holds the file it uploads, and the JS client resolves."""
    (tmp_path / "path" / "to").mkdir(parents=True)
    (tmp_path / "path" / "to" / "file").write_text(CASES["file"][1])
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    return tmp_path


def _run(cmd: list[str], cwd, token: str) -> str:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "REPLICATE_API_TOKEN": token})
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("case", CASES)
def test_the_python_snippet_runs(cogmill, token, workdir, case):
    page, expected = CASES[case]
    (workdir / "snippet.py").write_text(_code(cogmill, page, "snippet-python"))
    assert expected in _run([sys.executable, "snippet.py"], workdir, token)


@pytest.mark.parametrize("case", CASES)
def test_the_javascript_snippet_runs(cogmill, token, workdir, case):
    page, expected = CASES[case]
    (workdir / "snippet.mjs").write_text(_code(cogmill, page, "snippet-javascript"))
    assert expected in _run(["node", "snippet.mjs"], workdir, token)


def _uploaded(commands: list[str], code: str, run_one) -> str:
    """`code` with each upload's placeholder replaced by the id the upload answered."""
    for command in commands:
        placeholder = re.search(r"replaces (\w+) below", command).group(1)
        code = code.replace(placeholder, json.loads(run_one(command))["id"])
    return code


@pytest.mark.parametrize("case", CASES)
def test_the_curl_snippet_runs(cogmill, token, workdir, case):
    page, expected = CASES[case]
    *uploads, call = _code(cogmill, page, "snippet-curl").strip().split("\n\n")
    assert len(uploads) == (case == "file")
    call = _uploaded(uploads, call, lambda command: _run(["bash", "-c", command], workdir, token))
    answer = json.loads(_run(["bash", "-c", call], workdir, token))
    assert answer["status"] == "succeeded" and answer["output"] == expected


@pytest.mark.parametrize("case", CASES)
def test_the_http_request_is_answered(cogmill, token, workdir, case):
    page, expected = CASES[case]
    request = _code(cogmill, page, "snippet-http").replace("YOUR_TOKEN", token)
    head, body = request.split("\n\n", 1)
    start, *header_lines = head.splitlines()
    method, path, _ = start.split()
    headers = dict(line.split(": ", 1) for line in header_lines)
    assert headers.pop("Host") == cogmill.base_url.split("://")[1]
    if case == "file":
        uploaded = httpx.post(f"{cogmill.base_url}/v1/files", headers={"Authorization": f"Bearer {token}"},
                              files={"content": ("file", expected.encode())}, timeout=30).json()
        body = body.replace("FILE_FILE_ID", uploaded["id"])
    answer = httpx.request(method, cogmill.base_url + path, headers=headers, content=body, timeout=120)
    assert answer.status_code == 201 and answer.json()["output"] == expected, answer.text


def test_every_line_of_the_curl_snippet_is_a_shell_word_list(cogmill):
    """The command parses as shell words, with the JSON body as one quoted word."""
    call = _code(cogmill, CASES["hello"][0], "snippet-curl").replace("\\\n", " ")
    words = shlex.split(call)
    assert words[:4] == ["curl", "-s", "-X", "POST"]
    assert json.loads(words[-1])["input"] == {"text": "from a snippet"}

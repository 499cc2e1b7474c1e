"""`cogmill` in a terminal (a pseudo-terminal, read as it comes): a streaming model's text appears
while the run is still going, and a file output's download shows a progress bar."""

from __future__ import annotations

import os
import re

import httpx
import pexpect

from tests.cli.test_cli import COGMILL


def _spawn(cogmill, token, tmp_path, *args: str) -> pexpect.spawn:
    env = {**os.environ, "REPLICATE_BASE_URL": cogmill.base_url, "REPLICATE_API_TOKEN": token,
           "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color", "COLUMNS": "100"}
    return pexpect.spawn(str(COGMILL), list(args), cwd=str(tmp_path), env=env, encoding="utf-8", timeout=180,
                         dimensions=(40, 100))


def test_streamed_text_shows_while_the_run_goes(cogmill, token, tmp_path):
    child = _spawn(cogmill, token, tmp_path, "run", "cogmill/textgen", "-i", "prompt=The", "-i",
                   "max_tokens=2000", "-i", "seed=5")
    child.expect(r"\w{3,}")  # the first words are on the screen...
    listed = httpx.get(f"{cogmill.base_url}/v1/predictions", headers={"Authorization": f"Bearer {token}"},
                       timeout=30).json()["results"]
    this = [p for p in listed if p["model"] == "cogmill/textgen" and (p["input"] or {}).get("max_tokens") == 2000]
    assert this and this[0]["status"] == "processing", listed[:2]  # ...while the model writes
    child.expect(pexpect.EOF)
    child.close()
    assert child.exitstatus == 0


def test_a_download_shows_a_progress_bar_and_the_saved_path(cogmill, token, tmp_path):
    child = _spawn(cogmill, token, tmp_path, "run", "testers/files", "-i", "text=progress", "-o", "saved")
    child.expect(pexpect.EOF)
    child.close()
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)
    assert child.exitstatus == 0, screen
    assert "━" in screen and re.search(r"8(/8)? bytes", screen), screen  # rich's bar and its byte count
    saved = [line.strip() for line in screen.splitlines() if line.strip().startswith("saved/")]
    assert saved and (tmp_path / saved[-1]).read_text() == "progress"

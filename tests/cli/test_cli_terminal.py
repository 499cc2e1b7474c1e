"""`cogmill` in a terminal (a pseudo-terminal, read as it comes): a streaming model's text appears
while the run is still going, a file output's download shows a progress bar, and Ctrl-C asks
whether to cancel the run."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import signal
import struct
import subprocess
import termios

import httpx
import pexpect
from pexpect.fdpexpect import fdspawn

from tests.cli.test_cli import COGMILL
from tests.server import wait_until


class Terminal(fdspawn):
    """The command on a pseudo-terminal of 40×100, read as it comes: its standard streams are the
    terminal, so it draws what a person sees. Started with subprocess, not pexpect.spawn's fork of
    this threaded process, which can deadlock the child."""

    def __init__(self, cogmill, token, tmp_path, *args: str) -> None:
        env = {**os.environ, "REPLICATE_BASE_URL": cogmill.base_url, "REPLICATE_API_TOKEN": token,
               "XDG_CONFIG_HOME": str(tmp_path / "config"), "TERM": "xterm-256color", "COLUMNS": "100"}
        controller, terminal = pty.openpty()
        fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 100, 0, 0))
        # A suite run as a background job inherits SIGINT ignored, and an ignored signal stays
        # ignored across exec: handled here while starting, it reaches the command at its default,
        # so the command hears Ctrl-C as it would from a terminal.
        previous = signal.signal(signal.SIGINT, signal.default_int_handler)
        try:
            self.process = subprocess.Popen([str(COGMILL), *args], cwd=tmp_path, env=env, stdin=terminal,
                                            stdout=terminal, stderr=terminal, start_new_session=True)
        finally:
            signal.signal(signal.SIGINT, previous)
        os.close(terminal)  # the child's now: its end reads as EOF here once the command exits
        super().__init__(controller, encoding="utf-8", timeout=180)

    def finish(self) -> int:
        self.expect(pexpect.EOF)
        code = self.process.wait(timeout=30)
        self.close()
        return code


def test_streamed_text_shows_while_the_run_goes(cogmill, token, tmp_path):
    child = Terminal(cogmill, token, tmp_path, "run", "cogmill/textgen", "-i", "prompt=The", "-i",
                     "max_tokens=2000", "-i", "seed=5")
    child.expect(r"\w{3,}")  # the first words are on the screen...
    listed = httpx.get(f"{cogmill.base_url}/v1/predictions", headers={"Authorization": f"Bearer {token}"},
                       timeout=30).json()["results"]
    this = [p for p in listed if p["model"] == "cogmill/textgen" and (p["input"] or {}).get("max_tokens") == 2000]
    assert this and this[0]["status"] == "processing", listed[:2]  # ...while the model writes
    assert child.finish() == 0


def test_a_download_shows_a_progress_bar_and_the_saved_path(cogmill, token, tmp_path):
    child = Terminal(cogmill, token, tmp_path, "run", "testers/files", "-i", "text=progress", "-o", "saved")
    code = child.finish()
    screen = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", child.before)
    assert code == 0, screen
    assert "━" in screen and re.search(r"8(/8)? bytes", screen), screen  # rich's bar and its byte count
    saved = [line.strip() for line in screen.splitlines() if line.strip().startswith("saved/")]
    assert saved and (tmp_path / saved[-1]).read_text() == "progress"


def test_ctrl_c_during_a_run_offers_to_cancel_it(cogmill, token, tmp_path):
    # gated streams "first " and then waits (for a file it cannot see here), so Ctrl-C lands mid-run
    child = Terminal(cogmill, token, tmp_path, "run", "testers/gated", "-i", "gate=/nowhere/gate", "-i", "tokens=1")
    child.expect("first")
    child.process.send_signal(signal.SIGINT)  # what Ctrl-C sends
    child.expect(r"Cancel (\w+)\? \[Y/n\]")
    prediction_id = child.match.group(1)
    child.send("y\r")
    child.expect(f"Canceled {prediction_id}")
    assert child.finish() == 130
    headers = {"Authorization": f"Bearer {token}"}
    wait_until(lambda: httpx.get(f"{cogmill.base_url}/v1/predictions/{prediction_id}", headers=headers,
                                 timeout=30).json()["status"] == "canceled", 60, 0.2, "the run to be canceled")


def test_ctrl_c_before_the_run_is_asked_for_stops_with_nothing_started(cogmill, token, tmp_path):
    def hello_world_runs() -> int:
        listed = httpx.get(f"{cogmill.base_url}/v1/predictions", headers={"Authorization": f"Bearer {token}"},
                           timeout=30).json()["results"]
        return sum(p["model"] == "cogmill/hello-world" for p in listed)

    before = hello_world_runs()
    fifo = tmp_path / "prompt"
    os.mkfifo(fifo)
    child = Terminal(cogmill, token, tmp_path, "run", "cogmill/hello-world", "-i", f"text=@{fifo.name}")
    with open(fifo, "w"):  # opens once the command reads the pipe; it waits there for the text
        child.process.send_signal(signal.SIGINT)
        child.expect("Stopped.")
        assert child.finish() == 130
    assert "Traceback" not in child.before and "Aborted" not in child.before
    assert hello_world_runs() == before


def test_text_read_from_a_pipe_is_the_input(cogmill, token, tmp_path):
    fifo = tmp_path / "prompt"
    os.mkfifo(fifo)
    child = Terminal(cogmill, token, tmp_path, "run", "cogmill/hello-world", "-i", f"text=@{fifo.name}")
    with open(fifo, "w") as pipe:
        pipe.write("piped")
    child.expect("hello piped")
    assert child.finish() == 0

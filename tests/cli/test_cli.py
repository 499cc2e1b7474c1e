"""The installed `cogmill` command against a real running Cogmill, as a person or a script uses it:
what it prints, the files it saves, and the exit code of each kind of failure (usage 2, auth 3, not
found 4, model failure 5, network 6)."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest

COGMILL = Path(sys.executable).parent / "cogmill"


@pytest.fixture
def cli(cogmill, token, tmp_path):
    """Run `cogmill ARGS` from a fresh folder with a config home of its own; the server and token
    from the environment, as the official clients read them."""

    def run(*args: str, env: dict | None = None, stdin: str | None = None) -> subprocess.CompletedProcess:
        environment = {**os.environ, "XDG_CONFIG_HOME": str(tmp_path / "config"), "COLUMNS": "200",
                       "REPLICATE_BASE_URL": cogmill.base_url, "REPLICATE_API_TOKEN": token, **(env or {})}
        environment = {k: v for k, v in environment.items() if v is not None}
        return subprocess.run([str(COGMILL), *args], cwd=tmp_path, env=environment, input=stdin,
                              capture_output=True, text=True, timeout=240)

    return run


def test_whoami_and_a_run_with_typed_inputs(cli):
    assert cli("whoami").stdout == "alice\n"
    done = cli("run", "cogmill/hello-world", "-i", "text=world")
    assert (done.returncode, done.stdout) == (0, "hello world\n"), done.stderr
    assert cli("predict", "cogmill/hello-world", "-i", "text=again").stdout == "hello again\n"


def test_a_streaming_model_writes_its_text(cli):
    done = cli("run", "cogmill/textgen", "-i", "prompt=The", "-i", "max_tokens=80", "-i", "seed=3",
               "-i", "temperature=0.5")
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.strip()) > 20


def test_a_file_goes_up_with_at_and_a_file_output_is_saved_here(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("read me back")
    done = cli("run", "testers/reader", "-i", "file=@notes.txt")
    assert (done.returncode, done.stdout) == (0, "read me back\n"), done.stderr
    saved = cli("run", "testers/files", "-i", "text=kept on disk", "-o", "out")
    assert saved.returncode == 0, saved.stderr
    path = tmp_path / saved.stdout.strip()
    assert path.parent == tmp_path / "out" and path.read_text() == "kept on disk"
    again = cli("run", "testers/files", "-i", "text=kept on disk", "-o", "out")
    assert again.returncode == 0, again.stderr
    assert (tmp_path / again.stdout.strip()) != path and path.read_text() == "kept on disk"  # nothing overwritten


def test_json_and_no_wait_are_for_scripts(cli):
    queued = cli("run", "cogmill/hello-world", "-i", "text=later", "--no-wait")
    prediction_id = queued.stdout.strip()
    assert queued.returncode == 0 and len(prediction_id) > 10
    done = json.loads(cli("run", "cogmill/hello-world", "-i", "text=json", "--json").stdout)
    assert (done["status"], done["output"]) == ("succeeded", "hello json")
    fetched = json.loads(cli("predictions", "get", prediction_id, "--json").stdout)
    assert fetched["id"] == prediction_id
    listed = json.loads(cli("predictions", "list", "--json", "--limit", "50").stdout)
    assert prediction_id in {p["id"] for p in listed}
    assert "cogmill/hello-world" in cli("models", "list").stdout
    assert "text" in cli("models", "get", "cogmill/hello-world").stdout
    assert "cpu" in {h["sku"] for h in json.loads(cli("hardware", "list", "--json").stdout)}


def test_login_keeps_the_token_for_its_owner_alone(cli, cogmill, token, tmp_path):
    logged = cli("login", "--base-url", cogmill.base_url, "--token-stdin", stdin=token + "\n",
                 env={"REPLICATE_API_TOKEN": None, "REPLICATE_BASE_URL": None})
    assert logged.returncode == 0 and "as alice" in logged.stdout, logged.stderr
    kept = tmp_path / "config" / "cogmill" / "config.json"
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    assert cli("whoami", env={"REPLICATE_API_TOKEN": None, "REPLICATE_BASE_URL": None}).stdout == "alice\n"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(("args", "env", "code", "said"), [
    (("run", "cogmill/hello-world", "-i", "text"), {}, 2, "give each input as key=value"),
    (("run", "cogmill/textgen", "-i", "max_tokens=many"), {}, 2, "'many' is not a whole number"),
    (("run", "cogmill/textgen", "-i", "max_tokens=999999"), {}, 2, "max_tokens"),
    (("run", "nobody"), {}, 2, "name a model as owner/name"),
    (("whoami",), {"REPLICATE_API_TOKEN": "r8_not-a-token"}, 3, "token"),
    (("whoami",), {"REPLICATE_API_TOKEN": None}, 3, "no API token"),
    (("run", "nobody/nothing", "-i", "x=1"), {}, 4, "not found"),
    (("run", "testers/failing", "-i", "reason=kaput"), {}, 5, "the model failed: ValueError: kaput"),
    (("whoami",), {"REPLICATE_BASE_URL": "http://127.0.0.1:{port}"}, 6, "cannot reach"),
])
def test_each_kind_of_failure_says_why_with_its_exit_code(cli, args, env, code, said):
    env = {k: (v.format(port=_closed_port()) if isinstance(v, str) else v) for k, v in env.items()}
    done = cli(*args, env=env)
    assert done.returncode == code, (done.stdout, done.stderr)
    assert said.lower() in done.stderr.lower()
    assert "Traceback" not in done.stderr


def test_every_command_has_help_with_an_example(cli):
    for command in (["run"], ["predict"], ["login"], ["whoami"], ["predictions", "list"], ["predictions", "get"],
                    ["predictions", "cancel"], ["models", "list"], ["models", "get"], ["hardware", "list"]):
        shown = cli(*command, "--help")
        assert shown.returncode == 0 and "Example" in shown.stdout, command

"""The installed `cogmill` command against a real running Cogmill, as a person or a script uses it:
what it prints, the files it saves, and the exit code of each kind of failure (usage 2, auth 3, not
found 4, model failure 5, network 6)."""

from __future__ import annotations

import json
import os
import shutil
import socket
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.server import ROOT

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
    assert "cogmill/hello-world" in cli("models", "list", "--limit", "500").stdout
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


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def test_push_follows_the_build_and_leaves_out_what_dockerignore_names(cli, tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(ROOT / "examples" / "hello-world", folder)
    (folder / "secret.env").write_text("TOKEN=one")
    (folder / ".dockerignore").write_text("secret.env\n")
    model = f"alice/{_name('pushed')}"
    pushed = cli("push", "model", model)
    assert pushed.returncode == 0, pushed.stderr
    ref = pushed.stdout.strip()
    assert ref.startswith(f"{model}:") and len(ref.partition(":")[2]) == 64
    assert "upload" in pushed.stderr and "Generating OpenAPI schema" in pushed.stderr  # the bar, the build log
    assert cli("run", ref, "-i", "text=pushed").stdout == "hello pushed\n"
    (folder / "secret.env").write_text("TOKEN=two")  # left out: the same bundle, the same version
    again = json.loads(cli("push", "model", model, "--json").stdout)
    assert (again["id"], again["build"]["status"]) == (ref.partition(":")[2], "ready")

    (folder / "predict.py").write_text("import not_a_module_anywhere\n")
    broken = cli("push", "model", model)
    assert broken.returncode == 5 and "the build failed" in broken.stderr
    assert "not_a_module_anywhere" in broken.stderr  # its log says why
    assert [v["id"] for v in json.loads(cli("versions", "list", model, "--json").stdout)] == [ref.partition(":")[2]]
    assert cli("push", "nowhere", model).returncode == 2
    (tmp_path / "empty").mkdir()
    refused = cli("push", "empty", model)
    assert refused.returncode == 2 and "no cog.yaml" in refused.stderr


def test_models_are_created_listed_and_deleted(cli, cogmill):
    model = f"alice/{_name('empty')}"
    assert cli("models", "create", model, "--description", "Nothing yet").stdout == f"{model}\n"
    assert "Nothing yet" in cli("models", "get", model).stdout
    twice = cli("models", "create", model)
    assert twice.returncode == 1 and "already exists" in twice.stderr
    assert cli("models", "create", "bob/theirs").returncode == 3  # not your namespace
    assert cli("models", "delete", model, "--yes").returncode == 0
    assert cli("models", "get", model).returncode == 4
    assert cogmill.versions["hello-world"] in cli("versions", "list", "cogmill/hello-world").stdout


def test_a_training_streams_its_logs_and_prints_the_version_it_made(cli):
    destination = f"alice/{_name('tuned')}"
    assert cli("models", "create", destination).returncode == 0
    corpus = ROOT / "examples" / "textgen" / "samples" / "proverbs.txt"
    trained = cli("trainings", "create", "cogmill/textgen", "-d", destination, "-i", f"data=@{corpus}",
                  "-i", "steps=20")
    assert trained.returncode == 0, trained.stderr
    assert "step 20/20" in trained.stderr  # the logs, as they came
    made = trained.stdout.strip()
    assert made.startswith(f"{destination}:")
    assert cli("run", made, "-i", "prompt=A", "-i", "max_tokens=20").returncode == 0
    listed = json.loads(cli("trainings", "list", "--json").stdout)
    training = next(t for t in listed if t["destination"] == destination)
    assert made in cli("trainings", "get", training["id"]).stdout

    queued = cli("trainings", "create", "cogmill/textgen", "-d", destination, "-i", f"data=@{corpus}",
                 "-i", "steps=5000", "--no-wait")
    canceled = cli("trainings", "cancel", queued.stdout.strip())
    assert canceled.returncode == 0 and queued.stdout.strip() in canceled.stdout
    missing = cli("trainings", "create", "cogmill/textgen", "-d", f"alice/{_name('nowhere')}", "-i", f"data=@{corpus}")
    assert missing.returncode == 4 and "cogmill models create" in missing.stderr
    untrainable = cli("trainings", "create", "cogmill/hello-world", "-d", destination)
    assert untrainable.returncode == 1 and "cannot be trained" in untrainable.stderr


def test_a_deployment_is_created_changed_and_deleted(cli):
    name = _name("greeter")
    created = json.loads(cli("deployments", "create", name, "--model", "cogmill/hello-world", "--hardware", "cpu",
                             "--json").stdout)
    assert (created["name"], created["current_release"]["number"]) == (name, 1)
    changed = cli("deployments", "update", f"alice/{name}", "--max-instances", "2")
    assert changed.returncode == 0 and "0–2" in changed.stdout, changed.stderr
    assert f"alice/{name}" in cli("deployments", "list").stdout
    assert json.loads(cli("deployments", "get", f"alice/{name}", "--json").stdout)["current_release"]["number"] == 2
    refused = cli("deployments", "update", f"alice/{name}", "--min-instances", "3")  # more than max
    assert refused.returncode == 2 and "min_instances" in refused.stderr
    assert cli("deployments", "update", f"alice/{name}").returncode == 2  # nothing to change
    assert cli("deployments", "delete", f"alice/{name}", "--yes").returncode == 0
    assert cli("deployments", "get", f"alice/{name}").returncode == 4


def test_files_are_uploaded_listed_and_deleted(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("a file of mine")
    [uploaded] = json.loads(cli("files", "upload", "notes.txt", "--json").stdout)
    assert (uploaded["name"], uploaded["size"]) == ("notes.txt", 14)
    assert uploaded["id"] in {f["id"] for f in json.loads(cli("files", "list", "--json", "--limit", "100").stdout)}
    assert cli("files", "delete", uploaded["id"], "--yes").returncode == 0
    listed = cli("files", "list", "--json", "--limit", "100")
    assert listed.returncode == 0 and uploaded["id"] not in {f["id"] for f in json.loads(listed.stdout)}
    assert cli("files", "delete", uploaded["id"], "--yes").returncode == 4

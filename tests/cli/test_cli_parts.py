"""The command's parts on their own, no server: inputs typed by a real schema's shapes, the token
kept with its server, file names that cannot escape the folder, and server text that is never
read as markup."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import subprocess
import tarfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli import config
from cli.errors import USAGE, CliError
from cli.inputs import parse
from cli.main import main
from cli.push import pack
from cli.running import free_name
from tests.cli.test_cli import COGMILL

COMPONENTS = {"size": {"title": "size", "type": "integer", "enum": [1, 2, 4]},
              "voice": {"title": "voice", "type": "string", "enum": ["slt", "kal"]}}
PROPERTIES = {
    "scale": {"allOf": [{"$ref": "#/components/schemas/size"}], "default": 2},
    "voice": {"allOf": [{"$ref": "#/components/schemas/voice"}]},
    "steps": {"type": "integer"}, "strength": {"type": "number"}, "fast": {"type": "boolean"},
    "prompt": {"type": "string"}, "image": {"type": "string", "format": "uri"},
    "images": {"type": "array", "items": {"type": "string", "format": "uri"}}, "tags": {"type": "array"},
}


def _uploads(path: Path) -> str:
    return f"https://files.example/{path.name}"


def test_inputs_are_typed_by_the_schema(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("a.png").write_bytes(b"\x89PNG")
    Path("b.png").write_bytes(b"\x89PNG")
    Path("notes.txt").write_text("from a file")
    given = ("scale=4", "voice=kal", "steps=20", "strength=0.5", "fast=yes", "prompt=@notes.txt", "image=@a.png",
             "images=@a.png", "images=@b.png", "tags=[1, 2]", "other={\"x\": 1}", "plain=words")
    assert parse(given, PROPERTIES, _uploads, COMPONENTS) == {
        "scale": 4, "voice": "kal", "steps": 20, "strength": 0.5, "fast": True, "prompt": "from a file",
        "image": "https://files.example/a.png", "images": ["https://files.example/a.png", "https://files.example/b.png"],
        "tags": [1, 2], "other": {"x": 1}, "plain": "words"}


@pytest.mark.parametrize(("pair", "said"), [
    ("scale=3", "choose one of 1, 2, 4"),
    ("steps=2.5", "is not a whole number"),
    ("strength=nan", "is not a number"),
    ("fast=maybe", "is not true or false"),
    ("tags=[1,", "not JSON"),
    ("image=@missing.png", "no file missing.png"),
    ("prompt=@a.png", "is not UTF-8 text"),
    ("novalue", "give each input as key=value"),
])
def test_each_bad_input_is_a_usage_error_that_says_why(tmp_path, monkeypatch, pair, said):
    monkeypatch.chdir(tmp_path)
    Path("a.png").write_bytes(b"\x89PNG\xff\xfe")
    with pytest.raises(CliError) as caught:
        parse((pair,), PROPERTIES, _uploads, COMPONENTS)
    assert caught.value.code == USAGE and said in caught.value.message


def test_a_stored_token_goes_only_to_the_server_it_was_given_for(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    monkeypatch.delenv("REPLICATE_BASE_URL", raising=False)
    path = config.store("http://cogmill.local:8000/", "r8_local")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and json.loads(path.read_text())["token"] == "r8_local"
    assert (config.base_url(), config.token()) == ("http://cogmill.local:8000", "r8_local")
    monkeypatch.setenv("REPLICATE_BASE_URL", "https://elsewhere.example")
    assert config.token() is None  # not sent to another server
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_env")
    assert config.token() == "r8_env"  # the environment's pair wins


@pytest.mark.parametrize(("name", "saved"), [("out.png", "out.png"), ("..", "output"), (".hidden.png", "output.png"),
                                             ("", "output"), ("...", "output")])
def test_a_downloaded_file_is_named_inside_its_folder(tmp_path, name, saved):
    assert free_name(tmp_path, name) == tmp_path / saved
    (tmp_path / saved).write_text("taken")
    assert free_name(tmp_path, name).parent == tmp_path and free_name(tmp_path, name).name != saved


def test_what_a_server_says_is_printed_as_text_never_as_markup(monkeypatch):
    """An error naming `[/path]` (rich markup's closing tag) is said as it is, with its exit code."""
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_x")

    def refuse(self, method, path, **kwargs):
        raise CliError("model [bold]x[/] not found in [/models]", 4)

    monkeypatch.setattr("cli.client.Api.request", refuse)
    done = CliRunner().invoke(main, ["whoami"])
    assert done.exit_code == 4 and "model [bold]x[/] not found in [/models]" in done.output


def _members(data: bytes) -> dict[str, bytes]:
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isreg()}


def test_push_packs_the_folder_less_what_its_ignore_files_name(tmp_path):
    """Docker's rules: a pattern is anchored at the folder, `**` crosses folders, `!` takes a path
    back; tools' leftovers (.git, .venv, __pycache__, .pyc) never go."""
    files = {"cog.yaml": "predict: predict.py:P", "predict.py": "x", "weights/a.bin": "w", "weights/keep.bin": "k",
             "secret.env": "s", "sub/secret.env": "kept: anchored at the top", "logs/a/b.log": "l", "notes.log": "l",
             ".git/HEAD": "g", ".venv/bin/python": "v", "__pycache__/p.pyc": "c", "sub/x.pyc": "c"}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    (tmp_path / ".dockerignore").write_text("# not a pattern\nweights/\n!weights/keep.bin\n/secret.env\n./sub/x.txt\n")
    (tmp_path / ".cogignore").write_text("**/*.log\n")
    (tmp_path / "sub" / "x.txt").write_text("left out: ./ is the folder")
    data, count, skipped = pack(tmp_path)
    packed = _members(data)
    assert set(packed) == {"cog.yaml", "predict.py", "weights/keep.bin", "sub/secret.env", ".dockerignore",
                           ".cogignore"} and count == len(packed) and skipped == []
    assert packed["sub/secret.env"] == b"kept: anchored at the top"
    (tmp_path / "secret.env").write_text("changed, and left out")
    assert pack(tmp_path)[0] == data  # the same files give the same bytes: the same version


def test_push_packs_links_as_files_and_says_what_it_cannot_pack(tmp_path):
    """The server takes regular files only: a link inside the folder goes as the file it names, a
    hard link as a file of its own; a link out of the folder, a linked folder or a socket is left out
    and said. Modes are 0644/0755 whatever the umask, so any machine packs the same bytes."""
    (tmp_path / "cog.yaml").write_text("predict: predict.py:P")
    (tmp_path / "predict.py").write_text("x")
    (tmp_path / "run.sh").write_text("#!/bin/sh")
    (tmp_path / "run.sh").chmod(0o700)
    (tmp_path / "alias.py").symlink_to("predict.py")
    os.link(tmp_path / "predict.py", tmp_path / "hard.py")
    (tmp_path / "outside").symlink_to("/etc/hostname")
    (tmp_path / "linked").symlink_to(tmp_path.parent)
    with socket.socket(socket.AF_UNIX) as listener:
        listener.bind(str(tmp_path / "s.sock"))
        data, count, skipped = pack(tmp_path)
    packed = _members(data)
    assert set(packed) == {"cog.yaml", "predict.py", "run.sh", "alias.py", "hard.py"}
    assert packed["alias.py"] == packed["hard.py"] == b"x"
    assert skipped == ["linked (a link to a folder)", "outside (a link out of the folder)", "s.sock (not a regular file)"]
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        assert {m.name: m.mode for m in tar}["run.sh"] == 0o755 and {m.mode for m in tar} == {0o644, 0o755}


def _commands(group: click.Group, path: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))
        else:
            yield (*path, name)


def test_every_command_has_help_with_an_example():
    found = list(_commands(main))
    assert len(found) == 26  # each verb of each noun
    for command in found:
        shown = CliRunner().invoke(main, [*command, "--help"])
        assert shown.exit_code == 0 and "Example" in shown.output, command


def test_deleting_asks_first_and_no_keeps_it(monkeypatch):
    monkeypatch.setenv("REPLICATE_API_TOKEN", "r8_x")
    sent = []
    monkeypatch.setattr("cli.client.Api.request", lambda self, method, path, **kwargs: sent.append(path))
    kept = CliRunner().invoke(main, ["models", "delete", "alice/mine"], input="n\n")
    assert kept.exit_code == 1 and "Delete alice/mine?" in kept.output and sent == []
    gone = CliRunner().invoke(main, ["deployments", "delete", "alice/greeter"], input="y\n")
    assert gone.exit_code == 0 and sent == ["/deployments/alice/greeter"]


def test_the_shell_completes_commands_and_verbs():
    """What bash gets from `eval "$(_COGMILL_COMPLETE=bash_source cogmill)"` as a person types."""
    def complete(line: str) -> list[str]:
        env = {**os.environ, "_COGMILL_COMPLETE": "bash_complete", "COMP_WORDS": line,
               "COMP_CWORD": str(len(line.split()) - (0 if line.endswith(" ") else 1))}
        done = subprocess.run([str(COGMILL)], env=env, capture_output=True, text=True, timeout=60)
        return [item.partition(",")[2] for item in done.stdout.split()]

    assert complete("cogmill pre") == ["predict", "predictions"]
    assert complete("cogmill deployments ") == ["create", "delete", "get", "list", "update"]
    source = subprocess.run([str(COGMILL)], env={**os.environ, "_COGMILL_COMPLETE": "bash_source"},
                            capture_output=True, text=True, timeout=60)
    assert "complete -o nosort -F _cogmill_completion cogmill" in source.stdout

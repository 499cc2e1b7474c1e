"""`cogmill push DIR owner/name`: a Cog model folder packed (as `.dockerignore` and `.cogignore`
say), uploaded, and its build followed to a version. Cogmill's own verb: replicate.com takes pushes
from Cog's CLI instead."""

from __future__ import annotations

import io
import os
import sys
import tarfile
import time
from pathlib import Path

import click
import pathspec

from cli.errors import MODEL_FAILED, USAGE, CliError
from cli.running import INTERRUPTED, transfer_bar
from cli.shell import api, json_option, model_name, print_json, say

IGNORE_FILES = (".dockerignore", ".cogignore")
# Never part of a model: what tools leave beside it.
ALWAYS_LEFT_OUT = {".git", ".cog", ".venv", "__pycache__"}
BUILD_POLL_SECONDS = 1.0


def ignored_by(folder: Path) -> pathspec.PathSpec:
    """The folder's ignore files as one spec. Their patterns are Docker's: each is anchored at the
    folder (`data` is ./data, not every data), `**` crosses folders and `!` takes a path back."""
    lines = []
    for name in IGNORE_FILES:
        path = folder / name
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                negated, pattern = line.startswith("!"), line.lstrip("!").strip().lstrip("/")
                if pattern:
                    lines.append(("!" if negated else "") + "/" + pattern)
    return pathspec.GitIgnoreSpec.from_lines(lines)


def pack(folder: Path) -> tuple[bytes, int]:
    """The folder as a tar.gz, and how many files it holds. The same files give the same bytes
    (times, owners and order fixed), so pushing an unchanged folder again names the same version."""
    spec = ignored_by(folder)
    names = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if d not in ALWAYS_LEFT_OUT)
        for name in sorted(files):
            rel = (Path(root) / name).relative_to(folder).as_posix()
            if not name.endswith(".pyc") and not spec.match_file(rel):
                names.append(rel)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT, compresslevel=6) as tar:
        for rel in names:
            info = tar.gettarinfo(str(folder / rel), arcname=rel)
            info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
            if info.isreg():
                with (folder / rel).open("rb") as handle:
                    tar.addfile(info, handle)
            else:
                tar.addfile(info)  # a link stays a link; the server refuses one out of the folder
    data = buffer.getvalue()
    return data[:4] + b"\0\0\0\0" + data[8:], len(names)  # gzip's own timestamp zeroed too


@click.command()
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.argument("model")
@json_option
@click.pass_context
def push(ctx: click.Context, folder: Path, model: str, as_json: bool) -> None:
    """Push the Cog model in FOLDER as a new version of MODEL (owner/name, yours; made, private, if
    it does not exist yet). Files `.dockerignore` or `.cogignore` name are left out. Follows the build
    and prints owner/name:version when it is ready.

    \b
    Examples:
      cogmill push . alice/my-model
      cogmill push examples/hello-world alice/hello --json
    """
    name = model_name(model)
    if not (folder / "cog.yaml").is_file():
        raise CliError(f"{folder} has no cog.yaml: push the folder of a Cog model", USAGE)
    data, count = pack(folder)
    say(f"Packed {count} files from {folder} ({len(data):,} bytes)")
    client = api(ctx)
    with transfer_bar() as progress:
        task = progress.add_task("⬆ upload", total=len(data))
        version = client.send(f"/models/{name}/versions", data, "application/gzip",
                              lambda done, total: progress.update(task, completed=done, total=total))
    if "id" not in version:
        raise CliError(f"{client.base_url} took the push but did not say its version")
    version = _follow_build(client, name, version)
    if as_json:
        print_json(version)
    build = version.get("build") or {}
    if build.get("status") != "ready":
        raise CliError(f"the build failed: {build.get('error') or 'see its log above'}", MODEL_FAILED)
    click.echo(f"{name}:{version['id']}")


def _follow_build(client, name: str, version: dict) -> dict:
    """The version once its build has ended, its log written to standard error as it grows."""
    shown = ""
    try:
        while True:
            build = version.get("build") or {}
            logs = str(build.get("logs") or "")
            if logs != shown:
                if logs.startswith(shown):  # it grew: the new part
                    sys.stderr.write(logs[len(shown):])
                else:  # a build begun again: all of it
                    sys.stderr.write("\n" + logs)
                sys.stderr.flush()
                shown = logs
            if build.get("status") in ("ready", "failed") or not build:
                if shown and not shown.endswith("\n"):
                    sys.stderr.write("\n")
                return version
            time.sleep(BUILD_POLL_SECONDS)
            version = client.get_object(f"/models/{name}/versions/{version['id']}")
    except KeyboardInterrupt:
        say(f"\nThe build goes on without you: cogmill versions list {name}")
        sys.exit(INTERRUPTED)

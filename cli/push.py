"""`cogmill push DIR owner/name`: a Cog model folder packed (as `.dockerignore` and `.cogignore`
say), uploaded, and its build followed to a version. Cogmill's own verb: replicate.com takes pushes
from Cog's CLI instead."""

from __future__ import annotations

import io
import os
import posixpath
import sys
import tarfile
import time
from pathlib import Path

import click
import pathspec

from cli.errors import INTERRUPTED, MODEL_FAILED, USAGE, CliError
from cli.running import transfer_bar
from cli.shell import api, json_option, model_name, print_json, say

IGNORE_FILES = (".dockerignore", ".cogignore")
# Never part of a model: what tools leave beside it.
ALWAYS_LEFT_OUT = {".git", ".cog", ".venv", "__pycache__"}
BUILD_POLL_SECONDS = 1.0


def ignored_by(folder: Path) -> tuple[pathspec.PathSpec, bool]:
    """The folder's ignore files as one spec, and whether any pattern takes a path back. Their
    patterns are Docker's: each is cleaned (`./a/` is `a`) and anchored at the folder (`data` is
    ./data, not every data, and a file or a folder of that name), `**` crosses folders, `!` takes a
    path back."""
    lines = []
    for name in IGNORE_FILES:
        path = folder / name
        if path.is_file():
            for line in path.read_text(errors="replace").splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                negated, pattern = line.startswith("!"), line.lstrip("!").strip()
                pattern = posixpath.normpath("/" + pattern).lstrip("/")
                if pattern and pattern != ".":
                    lines.append(("!" if negated else "") + "/" + pattern)
    return pathspec.GitIgnoreSpec.from_lines(lines), any(line.startswith("!") for line in lines)


def _packed(folder: Path) -> tuple[list[tuple[str, Path]], list[str]]:
    """(name in the bundle, file to read) for each file that goes, sorted; and what was left out
    that the owner may not expect (links out of the folder, sockets and the like)."""
    spec, takes_back = ignored_by(folder)
    root_real = folder.resolve()
    chosen, skipped = [], []
    for root, dirs, files in os.walk(folder):
        here = Path(root)
        kept_dirs = []
        for d in sorted(dirs):
            rel = (here / d).relative_to(folder).as_posix()
            if d in ALWAYS_LEFT_OUT or (not takes_back and spec.match_file(rel + "/")):
                continue  # never walked into: a large ignored folder costs nothing
            if (here / d).is_symlink():
                skipped.append(f"{rel} (a link to a folder)")
                continue
            kept_dirs.append(d)
        dirs[:] = kept_dirs
        for name in sorted(files):
            path = here / name
            rel = path.relative_to(folder).as_posix()
            if name.endswith(".pyc") or spec.match_file(rel):
                continue
            target = path.resolve()
            if not target.is_relative_to(root_real):
                skipped.append(f"{rel} (a link out of the folder)")
            elif not target.is_file():
                skipped.append(f"{rel} (not a regular file)")
            else:
                chosen.append((rel, target))  # a link inside the folder goes as the file it names
    return chosen, skipped


def pack(folder: Path) -> tuple[bytes, int, list[str]]:
    """The folder as a tar.gz of regular files, how many it holds, and what was left out that the
    owner may not expect. The same files give the same bytes (times, owners, modes and order
    fixed), so pushing an unchanged folder again, from any machine, names the same version."""
    chosen, skipped = _packed(folder)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT, compresslevel=6) as tar:
        for rel, path in chosen:
            info = tarfile.TarInfo(rel)
            stat = path.stat()
            info.size = stat.st_size
            info.mode = 0o755 if stat.st_mode & 0o111 else 0o644
            with path.open("rb") as handle:
                tar.addfile(info, handle)
    data = buffer.getvalue()
    return data[:4] + b"\0\0\0\0" + data[8:], len(chosen), skipped  # gzip's own timestamp zeroed too


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
    data, count, skipped = pack(folder)
    for what in skipped:
        say(f"Left out {what}")
    say(f"Packed {count} files from {folder} ({len(data):,} bytes)")
    client = api(ctx)
    with transfer_bar() as progress:
        task = progress.add_task("⬆ upload", total=len(data))
        version = client.send(f"/models/{name}/versions", data, "application/gzip",
                              lambda done, total: progress.update(task, completed=done, total=total))
    if "id" not in version:
        raise CliError(f"{client.base_url} took the push but did not say its version")
    version = _follow_build(client, name, version)
    build = version.get("build") if isinstance(version.get("build"), dict) else {}
    if as_json:
        print_json(version)
    if build.get("status") != "ready":
        raise CliError(f"the build failed: {build.get('error') or 'see its log above'}", MODEL_FAILED)
    if not as_json:
        click.echo(f"{name}:{version['id']}")


def _follow_build(client, name: str, version: dict) -> dict:
    """The version once its build has ended, its log written to standard error as it grows."""
    shown = ""
    try:
        while True:
            build = version.get("build") if isinstance(version.get("build"), dict) else {}
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
        say(f"\nThe build of {name}:{version['id']} goes on; push the same folder again to follow it.")
        sys.exit(INTERRUPTED)

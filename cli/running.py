"""Running things and following them to their end: `run`/`predict` (text as it streams, files saved
with a progress bar, Ctrl-C offers to cancel) and the end of a training."""

from __future__ import annotations

import os
import sys
import time
import webbrowser
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import click
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from cli.client import Api, StreamBroke
from cli.errors import INTERRUPTED, MODEL_FAILED, CliError
from cli.inputs import parse
from cli.shell import TERMINAL, api, err, print_json, resolve_version, say, schema, split_ref

POLL_SECONDS = 0.5


def _run_options(command):
    for option in reversed([
        click.argument("ref"),
        click.option("-i", "--input", "inputs", multiple=True, metavar="KEY=VALUE",
                     help="An input; typed by the model's schema. @file uploads a file (or reads a text file)."),
        click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the output, or print the id."),
        click.option("--json", "as_json", is_flag=True, help="Print the prediction as JSON; download nothing."),
        click.option("--web", is_flag=True, help="Open the prediction's page in a browser."),
        click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
                     show_default=True, help="Where file outputs are saved."),
    ]):
        command = option(command)
    return command


@click.command()
@_run_options
@click.pass_context
def run(ctx: click.Context, ref: str, inputs: tuple[str, ...], wait: bool, as_json: bool, web: bool,
        output_dir: Path) -> None:
    """Run a model: stream its text as it comes, save its files here.

    \b
    Examples:
      cogmill run cogmill/hello-world -i text=world
      cogmill run cogmill/textgen -i prompt="Once upon" -i max_tokens=200
      cogmill run cogmill/upscale -i image=@photo.jpg -o out/
      cogmill run owner/model:VERSION -i prompt=@prompt.txt --json
    """
    client = api(ctx)
    model, version_id = split_ref(ref)
    version = resolve_version(client, model, version_id)
    properties, output_schema, components = schema(version)
    data = parse(inputs, properties, client.upload, components)
    try:
        if version_id:
            prediction = client.post("/predictions", {"version": version.get("id", version_id), "input": data})
        else:
            prediction = client.post(f"/models/{model}/predictions", {"input": data})
    except KeyboardInterrupt:
        say("\nStopped while asking for the run: if it reached the server it goes on (cogmill predictions list).")
        sys.exit(INTERRUPTED)
    try:
        started(prediction, client, web)
    except KeyboardInterrupt:
        _offer_cancel(client, prediction, "predictions")
        sys.exit(INTERRUPTED)
    if not wait:
        print_json(prediction) if as_json else click.echo(prediction["id"])
        return
    stream = not as_json and output_schema.get("x-cog-array-display") == "concatenate"
    prediction, streamed = follow(client, prediction, _text_writer() if stream else None)
    if stream:
        click.echo()  # the streamed text's end of line
    if as_json:
        print_json(prediction)  # a failed one too: scripts read its error
    ended(prediction)
    if not as_json and not streamed:
        _show_output(client, prediction.get("output"), output_schema, output_dir)


@click.command()
@_run_options
@click.pass_context
def predict(ctx: click.Context, **options) -> None:
    """`cogmill run` under the name Replicate's CLI gives it.

    \b
    Example:
      cogmill predict cogmill/hello-world -i text=world
    """
    ctx.invoke(run, **options)


def started(run_: dict, client: Api, web: bool = False) -> None:
    """Check a new run's answer; open its page with `web`."""
    if "id" not in run_:
        raise CliError(f"{client.base_url} started it but did not say its id")
    web_url = _urls(run_).get("web")
    if web and isinstance(web_url, str):
        webbrowser.open(web_url)


def _urls(run_: dict) -> dict:
    return run_["urls"] if isinstance(run_.get("urls"), dict) else {}


def _text_writer() -> Callable[[str, str], None]:
    """Output events written as they come, from the first visible character (as the pages show it)."""
    leading = True

    def write(event: str, data: str) -> None:
        nonlocal leading
        if event == "output":
            text = data.lstrip() if leading else data
            leading = leading and not text
            sys.stdout.write(text)
            sys.stdout.flush()

    return write


def follow(client: Api, run_: dict, on_event: Callable[[str, str], None] | None,
           kind: str = "predictions") -> tuple[dict, bool]:
    """The run (of `kind`, predictions or trainings) once it has ended. With `on_event`, its
    stream's events go to it as they come; says whether they all came (else only its end was
    polled). Ctrl-C offers to cancel it; a failure to reach the server says it may still be running."""
    try:
        streamed = _stream(client, run_, on_event) if on_event else False
        while run_.get("status") not in TERMINAL:
            time.sleep(POLL_SECONDS)
            run_ = client.get_object(f"/{kind}/{run_['id']}")
    except KeyboardInterrupt:
        _offer_cancel(client, run_, kind)
        sys.exit(INTERRUPTED)
    except CliError as exc:
        exc.message += f"\n({run_['id']} may still be running: cogmill {kind} get {run_['id']})"
        raise
    return run_, streamed


def _stream(client: Api, run_: dict, on_event: Callable[[str, str], None]) -> bool:
    stream_url = _urls(run_).get("stream")
    if not isinstance(stream_url, str):
        return False
    try:
        for event, data in client.stream(stream_url):
            on_event(event, data)
        return True
    except StreamBroke as exc:
        say(f"\n(the stream broke: {exc}; following it by polling instead, its whole output shown at the end)")
        return False


def _offer_cancel(client: Api, run_: dict, kind: str) -> None:
    """Ctrl-C while a run goes: ask whether to cancel it (it runs on otherwise)."""
    try:
        if click.confirm(f"\nCancel {run_['id']}?", default=True, err=True):
            client.post(f"/{kind}/{run_['id']}/cancel")
            say(f"Canceled {run_['id']}.")
        else:
            say(f"It goes on: cogmill {kind} get {run_['id']}")
    except (click.Abort, EOFError):
        pass
    except CliError as exc:  # still stopped by Ctrl-C: say what went wrong, and that it may go on
        say(f"Could not cancel {run_['id']}: {exc.message}; it may still be running: cogmill {kind} get {run_['id']}")


def ended(run_: dict) -> None:
    """A run that did not succeed, as its error and exit code."""
    if run_["status"] == "failed":
        raise CliError(f"the model failed: {run_.get('error') or 'no error given'}", MODEL_FAILED)
    if run_["status"] in ("canceled", "aborted"):
        raise CliError(f"{run_['id']} was {run_['status']}", MODEL_FAILED)


def _show_output(client: Api, output, output_schema: dict, output_dir: Path) -> None:
    items = output_schema.get("items") or {}
    if output_schema.get("format") == "uri" and isinstance(output, str):
        _save(client, [output], output_dir)
    elif items.get("format") == "uri" and isinstance(output, list):
        _save(client, output, output_dir)
    elif isinstance(output, list) and all(isinstance(x, str) for x in output) and output_schema.get("x-cog-array-type"):
        click.echo("".join(output))
    elif isinstance(output, str):
        click.echo(output)
    elif output is not None:
        print_json(output)
        if files := _file_fields(output, output_schema):  # an object's files (a drawn image) saved too
            _save(client, files, output_dir)


def _file_fields(output, output_schema: dict) -> list[str]:
    """The URLs in an object output's fields that its schema types as files."""
    if not isinstance(output, dict):
        return []
    urls = []
    for key, prop in (output_schema.get("properties") or {}).items():
        value = output.get(key)
        if prop.get("format") == "uri" and isinstance(value, str):
            urls.append(value)
        elif (prop.get("items") or {}).get("format") == "uri" and isinstance(value, list):
            urls += [v for v in value if isinstance(v, str)]
    return urls


def transfer_bar() -> Progress:
    """A progress bar of bytes moved, on standard error."""
    return Progress(TextColumn("{task.description}", markup=False), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    console=err)


def _save(client: Api, urls: list[str], folder: Path) -> None:
    """Each file output downloaded into `folder` with a progress bar (on stderr); their paths printed."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    with transfer_bar() as progress:
        for url in urls:
            target = free_name(folder, Path(urlparse(url).path).name)
            task = progress.add_task(f"⬇ {target.name}", total=None)
            client.download(url, target, lambda done, total, task=task: progress.update(task, completed=done, total=total))
            saved.append(target)
    click.echo("\n".join(str(path) for path in saved))


def free_name(folder: Path, name: str) -> Path:
    """`name` in `folder`, or name-1, name-2… when that is taken: nothing is overwritten. A name that
    is empty, hidden or a path step (".", "..") becomes "output"."""
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        name = "output" + (Path(name).suffix if name and not name.startswith("..") else "")
    target, stem, suffix, n = folder / name, Path(name).stem, Path(name).suffix, 0
    while os.path.lexists(target):  # a dangling link is taken too
        n += 1
        target = folder / f"{stem}-{n}{suffix}"
    return target

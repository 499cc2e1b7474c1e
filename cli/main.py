"""`cogmill`: run models, and list and manage what an account has, over the public HTTP API.

Tables for people, `--json` for scripts. Exit codes: 0 done, 1 other failures, 2 usage (or input the
API refused), 3 authentication, 4 not found, 5 the model failed, 6 network.
"""

from __future__ import annotations

import json
import sys
import time
import webbrowser
from pathlib import Path
from urllib.parse import urlparse

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn
from rich.table import Table
from rich.text import Text

from cli import config
from cli.client import Api, StreamBroke
from cli.errors import MODEL_FAILED, NOT_FOUND, USAGE, CliError
from cli.inputs import parse

TERMINAL = {"succeeded", "failed", "canceled", "aborted"}
INTERRUPTED = 130  # what a shell expects of a command stopped by Ctrl-C
POLL_SECONDS = 0.5
out = Console()
err = Console(stderr=True)


class Group(click.Group):
    """Commands that fail with a CliError say its message and exit with its code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CliError as exc:
            err.print(f"[bold red]Error:[/] {escape(exc.message)}", highlight=False)
            sys.exit(exc.code)


def _api(ctx: click.Context) -> Api:
    if ctx.obj is None:
        ctx.obj = Api()
        ctx.call_on_close(ctx.obj.close)
    return ctx.obj


def _print_json(value) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option("0.1.0", prog_name="cogmill")
def main() -> None:
    """Run Cog models and manage them over Replicate's HTTP API: on Cogmill, or on replicate.com.

    \b
    Point it at a server and an account with REPLICATE_BASE_URL and REPLICATE_API_TOKEN, or once
    with `cogmill login`. Shell completion: eval "$(_COGMILL_COMPLETE=bash_source cogmill)".

    \b
    Examples:
      cogmill login --base-url http://127.0.0.1:8000
      cogmill run cogmill/hello-world -i text=world
      cogmill predictions list --json
    """


# ---------------------------------------------------------------- account

@main.command()
@click.option("--base-url", default=None, help="The server (default: REPLICATE_BASE_URL, or replicate.com).")
@click.option("--token-stdin", is_flag=True, help="Read the token from standard input instead of asking.")
def login(base_url: str | None, token_stdin: bool) -> None:
    """Keep an API token (and server) for later commands, in a file only you can read.

    \b
    Examples:
      cogmill login --base-url http://127.0.0.1:8000
      echo "$TOKEN" | cogmill login --token-stdin
    """
    base = (base_url or config.base_url()).rstrip("/")
    token = sys.stdin.readline().strip() if token_stdin else click.prompt("API token", hide_input=True).strip()
    if not token:
        raise CliError("no token given", USAGE)
    api = Api(base, token)
    try:
        account = api.get_object("/account")
    finally:
        api.close()
    path = config.store(base, token)
    out.print(f"Logged in to {base} as {account.get('username')} (token kept in {path})", highlight=False, markup=False)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="The account as JSON.")
@click.pass_context
def whoami(ctx: click.Context, as_json: bool) -> None:
    """The account the token belongs to.

    \b
    Example:
      cogmill whoami
    """
    account = _api(ctx).get_object("/account")
    if as_json:
        _print_json(account)
    else:
        click.echo(account.get("username", ""))


# ---------------------------------------------------------------- running a model

def _split_ref(ref: str) -> tuple[str, str | None]:
    model, _, version = ref.partition(":")
    if model.count("/") != 1 or not all(model.split("/")):
        raise CliError(f"{ref!r}: name a model as owner/name, or owner/name:version", USAGE)
    return model, version or None


def _version(api: Api, model: str, version: str | None) -> dict:
    if version:
        return api.get_object(f"/models/{model}/versions/{version}")
    latest = api.get_object(f"/models/{model}").get("latest_version")
    if not isinstance(latest, dict):
        raise CliError(f"{model} has no version to run yet", NOT_FOUND)
    return latest


def _schema(version: dict) -> tuple[dict, dict, dict]:
    """The version's input properties, its output schema and its components.schemas (for $refs)."""
    schemas = ((version.get("openapi_schema") or {}).get("components") or {}).get("schemas") or {}
    return (schemas.get("Input") or {}).get("properties") or {}, schemas.get("Output") or {}, schemas


@main.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.argument("ref")
@click.option("-i", "--input", "inputs", multiple=True, metavar="KEY=VALUE",
              help="An input; typed by the model's schema. @file uploads a file (or reads a text file).")
@click.option("--wait/--no-wait", default=True, show_default=True, help="Wait for the output, or print the id.")
@click.option("--json", "as_json", is_flag=True, help="Print the prediction as JSON; download nothing.")
@click.option("--web", is_flag=True, help="Open the prediction's page in a browser.")
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."),
              show_default=True, help="Where file outputs are saved.")
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
    api = _api(ctx)
    model, version_id = _split_ref(ref)
    version = _version(api, model, version_id)
    properties, output_schema, components = _schema(version)
    data = parse(inputs, properties, api.upload, components)
    if version_id:
        prediction = api.post("/predictions", {"version": version.get("id", version_id), "input": data})
    else:
        prediction = api.post(f"/models/{model}/predictions", {"input": data})
    if "id" not in prediction:
        raise CliError(f"{api.base_url} made a prediction but did not say its id")
    web_url = (prediction.get("urls") or {}).get("web")
    if web and web_url:
        webbrowser.open(web_url)
    if not wait:
        _print_json(prediction) if as_json else click.echo(prediction["id"])
        return
    stream = not as_json and output_schema.get("x-cog-array-display") == "concatenate"
    try:
        prediction, streamed = _follow(api, prediction, stream)
    except KeyboardInterrupt:
        _offer_cancel(api, prediction)
        sys.exit(INTERRUPTED)
    except CliError as exc:
        exc.message += f"\n(prediction {prediction['id']} may still be running: cogmill predictions get {prediction['id']})"
        raise
    _finish(api, prediction, output_schema, as_json, streamed, output_dir)


@main.command(context_settings={"help_option_names": ["-h", "--help"]})
@click.pass_context
@click.argument("ref")
@click.option("-i", "--input", "inputs", multiple=True, metavar="KEY=VALUE", help="As for `cogmill run`.")
@click.option("--wait/--no-wait", default=True, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--web", is_flag=True)
@click.option("-o", "--output-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."))
def predict(ctx: click.Context, **options) -> None:
    """`cogmill run` under the name Replicate's CLI gives it.

    \b
    Example:
      cogmill predict cogmill/hello-world -i text=world
    """
    ctx.invoke(run, **options)


def _follow(api: Api, prediction: dict, stream: bool) -> tuple[dict, bool]:
    """The prediction once it has ended, and whether its text was written as the stream brought it
    (else it was polled, and its output is still to show)."""
    stream_url = (prediction.get("urls") or {}).get("stream")
    streamed = False
    if stream and stream_url:
        leading = True  # from its first visible character, as the pages show it
        try:
            for event, data in api.stream(stream_url):
                if event == "output":
                    text = data.lstrip() if leading else data
                    leading = leading and not text
                    sys.stdout.write(text)
                    sys.stdout.flush()
            streamed = True
        except StreamBroke as exc:
            err.print(f"\n(the stream broke: {exc}; the whole output follows when the run ends)",
                      highlight=False, markup=False)
        sys.stdout.write("\n")
    while prediction.get("status") not in TERMINAL:
        time.sleep(POLL_SECONDS)
        prediction = api.get_object(f"/predictions/{prediction['id']}")
    return prediction, streamed


def _offer_cancel(api: Api, prediction: dict) -> None:
    """Ctrl-C while a run goes: ask whether to cancel it (it runs on otherwise)."""
    try:
        if click.confirm(f"\nCancel prediction {prediction['id']}?", default=True, err=True):
            api.post(f"/predictions/{prediction['id']}/cancel")
            err.print(f"Canceled {prediction['id']}.", highlight=False)
        else:
            err.print(f"It goes on: cogmill predictions get {prediction['id']}", highlight=False)
    except (click.Abort, EOFError):
        pass


def _finish(api: Api, prediction: dict, output_schema: dict, as_json: bool, streamed: bool,
            output_dir: Path) -> None:
    if as_json:
        _print_json(prediction)
    if prediction["status"] == "failed":
        raise CliError(f"the model failed: {prediction.get('error') or 'no error given'}", MODEL_FAILED)
    if prediction["status"] in ("canceled", "aborted"):
        raise CliError(f"prediction {prediction['id']} was {prediction['status']}", MODEL_FAILED)
    if as_json or streamed:
        return
    _show_output(api, prediction.get("output"), output_schema, output_dir)


def _show_output(api: Api, output, output_schema: dict, output_dir: Path) -> None:
    items = output_schema.get("items") or {}
    if output_schema.get("format") == "uri" and isinstance(output, str):
        _save(api, [output], output_dir)
    elif items.get("format") == "uri" and isinstance(output, list):
        _save(api, output, output_dir)
    elif isinstance(output, list) and all(isinstance(x, str) for x in output) and output_schema.get("x-cog-array-type"):
        click.echo("".join(output))
    elif isinstance(output, str):
        click.echo(output)
    elif output is not None:
        _print_json(output)
        if files := _file_fields(output, output_schema):  # an object's files (a drawn image) saved too
            _save(api, files, output_dir)


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


def _save(api: Api, urls: list[str], folder: Path) -> None:
    """Each file output downloaded into `folder` with a progress bar (on stderr); their paths printed."""
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    with Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                  console=err) as progress:
        for url in urls:
            target = _free_name(folder, Path(urlparse(url).path).name)
            task = progress.add_task(f"⬇ {target.name}", total=None)
            api.download(url, target, lambda done, total, task=task: progress.update(task, completed=done, total=total))
            saved.append(target)
    click.echo("\n".join(str(path) for path in saved))


def _free_name(folder: Path, name: str) -> Path:
    """`name` in `folder`, or name-1, name-2… when that is taken: nothing is overwritten. A name that
    is empty, hidden or a path step (".", "..") becomes "output"."""
    if not name or name.startswith(".") or "/" in name or "\\" in name:
        name = "output" + (Path(name).suffix if name and not name.startswith("..") else "")
    target, stem, suffix, n = folder / name, Path(name).stem, Path(name).suffix, 0
    while target.exists():
        n += 1
        target = folder / f"{stem}-{n}{suffix}"
    return target


# ---------------------------------------------------------------- listing

def _table(columns: list[str], rows: list[list[str]]) -> None:
    """Columns of one line each, as wide as their longest cell; the last gives way to the terminal's
    width and is cut short with an ellipsis."""
    widths = [max([len(column), *(len(row[n]) for row in rows)]) for n, column in enumerate(columns)]
    room = max(12, out.width - sum(widths[:-1]) - 2 * (len(columns) - 1))
    table = Table(box=None, header_style="bold", pad_edge=False)
    for n, column in enumerate(columns):
        last = n == len(columns) - 1
        table.add_column(column, no_wrap=True, overflow="ellipsis", width=min(widths[n], room) if last else widths[n])
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))  # what the server says is text, never markup
    out.print(table)


@main.group()
def predictions() -> None:
    """Your predictions: list, get, cancel."""


@predictions.command("list")
@click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="How many, newest first.")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def predictions_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Your latest predictions.

    \b
    Example:
      cogmill predictions list --limit 5
    """
    found = list(_api(ctx).pages("/predictions", limit))
    if as_json:
        return _print_json(found)
    _table(["id", "model", "status", "created"],
           [[str(p.get("id")), p.get("model") or "", str(p.get("status")), (p.get("created_at") or "")[:19]]
            for p in found if isinstance(p, dict)])


@predictions.command("get")
@click.argument("prediction_id")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def predictions_get(ctx: click.Context, prediction_id: str, as_json: bool) -> None:
    """One prediction: its status, output and error.

    \b
    Example:
      cogmill predictions get PREDICTION_ID
    """
    p = _api(ctx).get_object(f"/predictions/{prediction_id}")
    if as_json:
        return _print_json(p)
    _table(["field", "value"], [["id", str(p.get("id"))], ["model", p.get("model") or ""], ["status", str(p.get("status"))],
                                ["created", p.get("created_at") or ""], ["error", p.get("error") or ""],
                                ["output", json.dumps(p.get("output"), ensure_ascii=False)[:2000]]])


@predictions.command("cancel")
@click.argument("prediction_id")
@click.pass_context
def predictions_cancel(ctx: click.Context, prediction_id: str) -> None:
    """Cancel a prediction that has not ended.

    \b
    Example:
      cogmill predictions cancel PREDICTION_ID
    """
    p = _api(ctx).post(f"/predictions/{prediction_id}/cancel")
    click.echo(f"{p.get('id', prediction_id)} {p.get('status', 'canceled')}")


@main.group()
def models() -> None:
    """Models: list, get."""


@models.command("list")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(min=1))
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def models_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The models you may see.

    \b
    Example:
      cogmill models list
    """
    found = list(_api(ctx).pages("/models", limit))
    if as_json:
        return _print_json(found)
    _table(["model", "visibility", "runs", "description"],
           [[f"{m.get('owner')}/{m.get('name')}", m.get("visibility") or "", str(m.get("run_count", "")),
             m.get("description") or ""] for m in found if isinstance(m, dict)])


@models.command("get")
@click.argument("model")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def models_get(ctx: click.Context, model: str, as_json: bool) -> None:
    """One model, with its latest version's inputs.

    \b
    Example:
      cogmill models get cogmill/textgen
    """
    name, _ = _split_ref(model)
    m = _api(ctx).get_object(f"/models/{name}")
    if as_json:
        return _print_json(m)
    out.print(f"{m.get('owner')}/{m.get('name')} ({m.get('visibility')}) {m.get('description') or ''}",
              highlight=False, markup=False)
    latest = m.get("latest_version")
    if isinstance(latest, dict):
        properties, _, _ = _schema(latest)
        out.print(f"latest version {latest.get('id')}", highlight=False, markup=False)
        _table(["input", "type", "default", "description"],
               [[key, prop.get("type") or prop.get("format") or "", json.dumps(prop.get("default"))
                 if "default" in prop else "", (prop.get("description") or "")[:60]]
                for key, prop in sorted(properties.items(), key=lambda kv: kv[1].get("x-order", 0))])


@main.group()
def hardware() -> None:
    """Hardware models run on."""


@hardware.command("list")
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def hardware_list(ctx: click.Context, as_json: bool) -> None:
    """The hardware SKUs to run a model on.

    \b
    Example:
      cogmill hardware list
    """
    found = _api(ctx).get("/hardware")
    found = found if isinstance(found, list) else []
    if as_json:
        return _print_json(found)
    _table(["sku", "name"], [[str(h.get("sku")), str(h.get("name"))] for h in found if isinstance(h, dict)])


def entry() -> None:
    """The console script: `main` with its own program name."""
    main(prog_name="cogmill")


if __name__ == "__main__":
    entry()

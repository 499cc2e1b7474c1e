"""What every command shares: the consoles, the API client of a command's context, JSON and table
output, and naming a model or version."""

from __future__ import annotations

import json
import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from cli.client import Api
from cli.errors import INTERRUPTED, NOT_FOUND, USAGE, CliError

TERMINAL = {"succeeded", "failed", "canceled", "aborted"}
out = Console()
err = Console(stderr=True)


class Group(click.Group):
    """Commands that fail with a CliError say its message and exit with its code; Ctrl-C where a
    command does not handle it stops it with the code shells expect."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CliError as exc:
            err.print(f"[bold red]Error:[/] {escape(exc.message)}", highlight=False)
            sys.exit(exc.code)
        except KeyboardInterrupt:
            err.print("\nStopped.", highlight=False)
            sys.exit(INTERRUPTED)


def api(ctx: click.Context) -> Api:
    """The command's client, made once and closed when the command ends."""
    root = ctx.find_root()
    if root.obj is None:
        root.obj = Api()
        root.call_on_close(root.obj.close)
    return root.obj


def json_option(command):
    return click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON, for scripts.")(command)


def print_json(value) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False))


def say(text: str) -> None:
    """A line for people on standard error (standard output stays for what scripts read)."""
    err.print(text, highlight=False, markup=False)


def table(columns: list[str], rows: list[list[str]]) -> None:
    """Columns of one line each, as wide as their longest cell; the last gives way to the terminal's
    width and is cut short with an ellipsis."""
    widths = [max([len(column), *(len(row[n]) for row in rows)]) for n, column in enumerate(columns)]
    room = max(12, out.width - sum(widths[:-1]) - 2 * (len(columns) - 1))
    shown = Table(box=None, header_style="bold", pad_edge=False)
    for n, column in enumerate(columns):
        last = n == len(columns) - 1
        shown.add_column(column, no_wrap=True, overflow="ellipsis", width=min(widths[n], room) if last else widths[n])
    for row in rows:
        shown.add_row(*(Text(cell) for cell in row))  # what the server says is text, never markup
    out.print(shown)


def fields(pairs: list[tuple[str, object]]) -> None:
    """One object as a two-column table of its fields."""
    table(["field", "value"], [[name, "" if value is None else str(value)] for name, value in pairs])


def split_ref(ref: str) -> tuple[str, str | None]:
    """`owner/name[:version]` as ("owner/name", version or None)."""
    model, _, version = ref.partition(":")
    if model.count("/") != 1 or not all(model.split("/")):
        raise CliError(f"{ref!r}: name a model as owner/name, or owner/name:version", USAGE)
    return model, version or None


def model_name(ref: str, what: str = "a model") -> str:
    """`owner/name` of a model (or of `what`), with no version."""
    owner, slash, name = ref.partition("/")
    if not (owner and slash and name) or "/" in name or ":" in ref:
        raise CliError(f"{ref!r}: name {what} here as owner/name", USAGE)
    return ref


def resolve_version(client: Api, model: str, version: str | None) -> dict:
    """The version named, or the model's latest."""
    if version:
        return client.get_object(f"/models/{model}/versions/{version}")
    latest = client.get_object(f"/models/{model}").get("latest_version")
    if not isinstance(latest, dict):
        raise CliError(f"{model} has no version yet", NOT_FOUND)
    return latest


def schema(version: dict, training: bool = False) -> tuple[dict, dict, dict]:
    """The version's input properties (of its train() with `training`), its output schema and its
    components.schemas (for $refs)."""
    def part(value, key: str) -> dict:
        found = value.get(key) if isinstance(value, dict) else None
        return found if isinstance(found, dict) else {}

    schemas = part(part(part(version, "openapi_schema"), "components"), "schemas")
    prefix = "Training" if training else ""
    return part(part(schemas, f"{prefix}Input"), "properties"), part(schemas, f"{prefix}Output"), schemas


def when(stamp: str | None) -> str:
    """An ISO time as a table shows it: to the second."""
    return (stamp or "").replace("T", " ")[:19]

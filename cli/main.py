"""`cogmill`: run models, and list and manage what an account has, over the public HTTP API.

Tables for people, `--json` for scripts. Exit codes: 0 done, 1 other failures, 2 usage (or input the
API refused), 3 authentication, 4 not found, 5 the model failed, 6 network.
"""

from __future__ import annotations

import sys

import click

from cli import config
from cli.client import Api
from cli.errors import USAGE, CliError
from cli.manage import deployments, files, hardware, models, predictions, trainings, versions
from cli.push import push
from cli.running import predict, run
from cli.shell import Group, api, out, print_json


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
    account = api(ctx).get_object("/account")
    if as_json:
        print_json(account)
    else:
        click.echo(account.get("username", ""))


for command in (run, predict, push, predictions, models, versions, hardware, trainings, deployments, files):
    main.add_command(command)


def entry() -> None:
    """The console script: `main` with its own program name."""
    main(prog_name="cogmill")


if __name__ == "__main__":
    entry()

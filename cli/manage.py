"""Listing and managing what an account has: predictions, models, versions, hardware, trainings,
deployments and files. Tables for people, `--json` for scripts."""

from __future__ import annotations

import json
from pathlib import Path

import click

from cli.errors import NOT_FOUND, CliError
from cli.inputs import parse
from cli.running import ended, follow, started
from cli.shell import (
    api,
    fields,
    json_option,
    model_name,
    out,
    print_json,
    resolve_version,
    say,
    schema,
    split_ref,
    table,
    when,
)

LIMIT = click.option("--limit", default=20, show_default=True, type=click.IntRange(min=1), help="How many, newest first.")
SURE = click.option("--yes", "-y", is_flag=True, help="Delete without asking.")


def _sure(what: str, yes: bool) -> None:
    """Deleting asks first, naming what goes, unless --yes said so already."""
    if not yes:
        click.confirm(f"Delete {what}? This cannot be undone", abort=True, err=True)


def _output(value) -> str:
    return json.dumps(value, ensure_ascii=False)[:2000]


# ---------------------------------------------------------------- predictions

@click.group()
def predictions() -> None:
    """Your predictions: list, get, cancel."""


@predictions.command("list")
@LIMIT
@json_option
@click.pass_context
def predictions_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Your latest predictions.

    \b
    Example:
      cogmill predictions list --limit 5
    """
    found = list(api(ctx).pages("/predictions", limit))
    if as_json:
        return print_json(found)
    table(["id", "model", "status", "created"],
          [[str(p.get("id")), p.get("model") or "", str(p.get("status")), when(p.get("created_at"))]
           for p in found if isinstance(p, dict)])


@predictions.command("get")
@click.argument("prediction_id")
@json_option
@click.pass_context
def predictions_get(ctx: click.Context, prediction_id: str, as_json: bool) -> None:
    """One prediction: its status, output and error.

    \b
    Example:
      cogmill predictions get PREDICTION_ID
    """
    p = api(ctx).get_object(f"/predictions/{prediction_id}")
    if as_json:
        return print_json(p)
    fields([("id", p.get("id")), ("model", p.get("model")), ("status", p.get("status")),
            ("created", p.get("created_at")), ("error", p.get("error")), ("output", _output(p.get("output")))])


@predictions.command("cancel")
@click.argument("prediction_id")
@click.pass_context
def predictions_cancel(ctx: click.Context, prediction_id: str) -> None:
    """Cancel a prediction that has not ended.

    \b
    Example:
      cogmill predictions cancel PREDICTION_ID
    """
    p = api(ctx).post(f"/predictions/{prediction_id}/cancel")
    click.echo(f"{p.get('id', prediction_id)} {p.get('status', 'canceled')}")


# ---------------------------------------------------------------- models and versions

@click.group()
def models() -> None:
    """Models: list, get, create, delete."""


@models.command("list")
@LIMIT
@json_option
@click.pass_context
def models_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """The models you may see.

    \b
    Example:
      cogmill models list
    """
    found = list(api(ctx).pages("/models", limit))
    if as_json:
        return print_json(found)
    table(["model", "visibility", "runs", "description"],
          [[f"{m.get('owner')}/{m.get('name')}", m.get("visibility") or "", str(m.get("run_count", "")),
            m.get("description") or ""] for m in found if isinstance(m, dict)])


@models.command("get")
@click.argument("model")
@json_option
@click.pass_context
def models_get(ctx: click.Context, model: str, as_json: bool) -> None:
    """One model, with its latest version's inputs.

    \b
    Example:
      cogmill models get cogmill/textgen
    """
    m = api(ctx).get_object(f"/models/{model_name(model)}")
    if as_json:
        return print_json(m)
    out.print(f"{m.get('owner')}/{m.get('name')} ({m.get('visibility')}) {m.get('description') or ''}",
              highlight=False, markup=False)
    latest = m.get("latest_version")
    if isinstance(latest, dict):
        properties, _, _ = schema(latest)
        out.print(f"latest version {latest.get('id')}", highlight=False, markup=False)
        table(["input", "type", "default", "description"],
              [[key, prop.get("type") or prop.get("format") or "", json.dumps(prop.get("default"))
                if "default" in prop else "", (prop.get("description") or "")[:60]]
               for key, prop in sorted(properties.items(), key=lambda kv: kv[1].get("x-order", 0))])


@models.command("create")
@click.argument("model")
@click.option("--visibility", type=click.Choice(["private", "public"]), default="private", show_default=True)
@click.option("--hardware", default="cpu", show_default=True, help="A SKU of `cogmill hardware list`.")
@click.option("--description", default=None)
@json_option
@click.pass_context
def models_create(ctx: click.Context, model: str, visibility: str, hardware: str, description: str | None,
                  as_json: bool) -> None:
    """A new, empty model of yours: push a version to it, or train into it.

    \b
    Examples:
      cogmill models create alice/my-model
      cogmill models create alice/shared --visibility public --description "Says hello"
    """
    owner, name = model_name(model).split("/")
    body = {"owner": owner, "name": name, "visibility": visibility, "hardware": hardware}
    if description is not None:
        body["description"] = description
    created = api(ctx).post("/models", body)
    if as_json:
        return print_json(created)
    click.echo(f"{created.get('owner')}/{created.get('name')}")


@models.command("delete")
@click.argument("model")
@SURE
@click.pass_context
def models_delete(ctx: click.Context, model: str, yes: bool) -> None:
    """Delete a model of yours.

    \b
    Example:
      cogmill models delete alice/my-model --yes
    """
    name = model_name(model)
    _sure(name, yes)
    api(ctx).delete(f"/models/{name}")
    say(f"Deleted {name}.")


@click.group()
def versions() -> None:
    """A model's versions."""


@versions.command("list")
@click.argument("model")
@LIMIT
@json_option
@click.pass_context
def versions_list(ctx: click.Context, model: str, limit: int, as_json: bool) -> None:
    """A model's versions, newest first.

    \b
    Example:
      cogmill versions list cogmill/textgen
    """
    found = list(api(ctx).pages(f"/models/{model_name(model)}/versions", limit))
    if as_json:
        return print_json(found)
    table(["id", "created", "cog"], [[str(v.get("id")), when(v.get("created_at")), v.get("cog_version") or ""]
                                     for v in found if isinstance(v, dict)])


@click.group()
def hardware() -> None:
    """Hardware models run on."""


@hardware.command("list")
@json_option
@click.pass_context
def hardware_list(ctx: click.Context, as_json: bool) -> None:
    """The hardware SKUs to run a model on.

    \b
    Example:
      cogmill hardware list
    """
    found = api(ctx).get("/hardware")
    found = found if isinstance(found, list) else []
    if as_json:
        return print_json(found)
    table(["sku", "name"], [[str(h.get("sku")), str(h.get("name"))] for h in found if isinstance(h, dict)])


# ---------------------------------------------------------------- trainings

@click.group()
def trainings() -> None:
    """Fine-tune a model into one of yours: create, list, get, cancel."""


@trainings.command("create")
@click.argument("ref")
@click.option("-d", "--destination", required=True, metavar="OWNER/NAME",
              help="Your model that gets the trained version (create it first with `cogmill models create`).")
@click.option("-i", "--input", "inputs", multiple=True, metavar="KEY=VALUE",
              help="A training input; typed by the schema of the model's train(). @file uploads a file.")
@click.option("--wait/--no-wait", default=True, show_default=True,
              help="Follow its logs to the end, or print its id at once.")
@json_option
@click.option("--web", is_flag=True, help="Open the training's page in a browser.")
@click.pass_context
def trainings_create(ctx: click.Context, ref: str, destination: str, inputs: tuple[str, ...], wait: bool,
                     as_json: bool, web: bool) -> None:
    """Train a model (at a version, or its latest) on your data: a new version of DESTINATION.

    Its logs go to standard error as they come; the new version, as owner/name:version, to standard
    output.

    \b
    Examples:
      cogmill models create alice/proverbs
      cogmill trainings create cogmill/textgen -d alice/proverbs -i data=@proverbs.zip -i steps=300
      cogmill trainings create cogmill/textgen:VERSION -d alice/proverbs -i data=@notes.txt --no-wait
    """
    client = api(ctx)
    model, version_id = split_ref(ref)
    destination = model_name(destination, "the destination")
    version = resolve_version(client, model, version_id)
    properties, _, components = schema(version, training=True)
    if not properties:
        raise CliError(f"{model} cannot be trained: its version has no train()")
    data = parse(inputs, properties, client.upload, components)
    try:
        training = client.post(f"/models/{model}/versions/{version.get('id', version_id)}/trainings",
                               {"destination": destination, "input": data})
    except CliError as exc:
        if exc.code == NOT_FOUND and "destination" in exc.message:
            exc.message += f"\n(create it first: cogmill models create {destination})"
        raise
    started(training, client, web)
    if not wait:
        print_json(training) if as_json else click.echo(training["id"])
        return
    say(f"Training {training['id']} into {destination}")
    training, _ = follow(client, training, None if as_json else _logs_writer(), kind="trainings")
    if as_json:
        print_json(training)
    ended(training)
    if not as_json:
        click.echo(_made(training) or "")


def _made(training: dict) -> str | None:
    """The version a training made, as owner/name:version."""
    output = training.get("output")
    return output.get("version") if isinstance(output, dict) else None


def _logs_writer():
    def write(event: str, data: str) -> None:
        if event == "logs":
            say(data)

    return write


@trainings.command("list")
@LIMIT
@json_option
@click.pass_context
def trainings_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Your latest trainings.

    \b
    Example:
      cogmill trainings list
    """
    found = list(api(ctx).pages("/trainings", limit))
    if as_json:
        return print_json(found)
    table(["id", "model", "destination", "status", "created"],
          [[str(t.get("id")), t.get("model") or "", t.get("destination") or "", str(t.get("status")),
            when(t.get("created_at"))] for t in found if isinstance(t, dict)])


@trainings.command("get")
@click.argument("training_id")
@json_option
@click.pass_context
def trainings_get(ctx: click.Context, training_id: str, as_json: bool) -> None:
    """One training: its status, the version it made, its error.

    \b
    Example:
      cogmill trainings get TRAINING_ID
    """
    t = api(ctx).get_object(f"/trainings/{training_id}")
    if as_json:
        return print_json(t)
    made = _made(t)
    fields([("id", t.get("id")), ("model", f"{t.get('model')}:{t.get('version')}"), ("destination", t.get("destination")),
            ("status", t.get("status")), ("created", t.get("created_at")), ("made", made), ("error", t.get("error"))])


@trainings.command("cancel")
@click.argument("training_id")
@click.pass_context
def trainings_cancel(ctx: click.Context, training_id: str) -> None:
    """Cancel a training that has not ended.

    \b
    Example:
      cogmill trainings cancel TRAINING_ID
    """
    t = api(ctx).post(f"/trainings/{training_id}/cancel")
    click.echo(f"{t.get('id', training_id)} {t.get('status', 'canceled')}")


# ---------------------------------------------------------------- deployments

@click.group()
def deployments() -> None:
    """Deployments (a model on instances kept for it): list, get, create, update, delete."""


def _deployment_fields(d: dict) -> dict[str, str]:
    """What a person reads of a deployment and its current release."""
    release = d.get("current_release") if isinstance(d.get("current_release"), dict) else {}
    configuration = release.get("configuration") if isinstance(release.get("configuration"), dict) else {}
    return {"deployment": f"{d.get('owner')}/{d.get('name')}", "release": str(release.get("number", "")),
            "model": str(release.get("model") or ""), "version": str(release.get("version") or ""),
            "hardware": str(configuration.get("hardware") or ""),
            "instances": f"{configuration.get('min_instances')}–{configuration.get('max_instances')}"}


def _show_deployment(d: dict, as_json: bool) -> None:
    if as_json:
        return print_json(d)
    shown = _deployment_fields(d)
    fields([(key, shown[key]) for key in ("deployment", "release", "model", "version", "hardware", "instances")])


def _scale_options(command):
    for option in reversed([
        click.option("--hardware", default=None, help="A SKU of `cogmill hardware list`."),
        click.option("--min-instances", type=click.IntRange(min=0), default=None, help="Instances kept warm."),
        click.option("--max-instances", type=click.IntRange(min=0), default=None, help="Instances at most."),
    ]):
        command = option(command)
    return command


@deployments.command("list")
@LIMIT
@json_option
@click.pass_context
def deployments_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Your deployments and your organizations'.

    \b
    Example:
      cogmill deployments list
    """
    found = list(api(ctx).pages("/deployments", limit))
    if as_json:
        return print_json(found)
    columns = ["deployment", "model", "hardware", "instances", "version"]
    table(columns, [[_deployment_fields(d)[key] for key in columns] for d in found if isinstance(d, dict)])


@deployments.command("get")
@click.argument("deployment")
@json_option
@click.pass_context
def deployments_get(ctx: click.Context, deployment: str, as_json: bool) -> None:
    """One deployment and its current release.

    \b
    Example:
      cogmill deployments get alice/greeter
    """
    _show_deployment(api(ctx).get_object(f"/deployments/{model_name(deployment, 'a deployment')}"), as_json)


@deployments.command("create")
@click.argument("name")
@click.option("--model", "ref", required=True, metavar="OWNER/NAME[:VERSION]", help="What it runs (latest version if none).")
@_scale_options
@click.option("--owner", default=None, help="An organization of yours to own it (default: you).")
@json_option
@click.pass_context
def deployments_create(ctx: click.Context, name: str, ref: str, hardware: str | None, min_instances: int | None,
                       max_instances: int | None, owner: str | None, as_json: bool) -> None:
    """A deployment NAME of a model: its own instances, scaled between --min-instances and --max-instances.

    \b
    Examples:
      cogmill deployments create greeter --model cogmill/hello-world --hardware cpu
      cogmill deployments create greeter --model cogmill/hello-world:VERSION --min-instances 1 --max-instances 2
    """
    model, version = split_ref(ref)
    body = {"name": name, "model": model, "version": version, "hardware": hardware or "cpu",
            "min_instances": 0 if min_instances is None else min_instances,
            "max_instances": 1 if max_instances is None else max_instances, "owner": owner}
    _show_deployment(api(ctx).post("/deployments", {k: v for k, v in body.items() if v is not None}), as_json)


@deployments.command("update")
@click.argument("deployment")
@click.option("--model", "ref", default=None, metavar="OWNER/NAME[:VERSION]", help="Run this instead.")
@_scale_options
@json_option
@click.pass_context
def deployments_update(ctx: click.Context, deployment: str, ref: str | None, hardware: str | None,
                       min_instances: int | None, max_instances: int | None, as_json: bool) -> None:
    """Change what a deployment runs or how: a new release.

    \b
    Examples:
      cogmill deployments update alice/greeter --max-instances 3
      cogmill deployments update alice/greeter --model cogmill/hello-world:VERSION
    """
    changes: dict = {"hardware": hardware, "min_instances": min_instances, "max_instances": max_instances}
    if ref:
        changes["model"], changes["version"] = split_ref(ref)
    changes = {k: v for k, v in changes.items() if v is not None}
    if not changes:
        raise click.UsageError("nothing to change: give --model, --hardware, --min-instances or --max-instances")
    _show_deployment(api(ctx).patch(f"/deployments/{model_name(deployment, 'a deployment')}", changes), as_json)


@deployments.command("delete")
@click.argument("deployment")
@SURE
@click.pass_context
def deployments_delete(ctx: click.Context, deployment: str, yes: bool) -> None:
    """Delete a deployment (its instances stop; its predictions stay).

    \b
    Example:
      cogmill deployments delete alice/greeter --yes
    """
    name = model_name(deployment, "a deployment")
    _sure(f"the deployment {name}", yes)
    api(ctx).delete(f"/deployments/{name}")
    say(f"Deleted {name}.")


# ---------------------------------------------------------------- files

@click.group()
def files() -> None:
    """Files you uploaded for model inputs: upload, list, delete."""


@files.command("upload")
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
@click.pass_context
def files_upload(ctx: click.Context, paths: tuple[Path, ...], as_json: bool) -> None:
    """Upload files; each one's URL is what a model input takes.

    \b
    Example:
      cogmill files upload photo.jpg notes.txt
    """
    client = api(ctx)
    created = [client.create_file(path) for path in paths]
    if as_json:
        return print_json(created)  # a list, however many files
    table(["id", "name", "size", "url"], [[str(f.get("id")), str(f.get("name")), str(f.get("size")),
                                           str(f["urls"]["get"])] for f in created])


@files.command("list")
@LIMIT
@json_option
@click.pass_context
def files_list(ctx: click.Context, limit: int, as_json: bool) -> None:
    """Your files, newest first.

    \b
    Example:
      cogmill files list
    """
    found = list(api(ctx).pages("/files", limit))
    if as_json:
        return print_json(found)
    table(["id", "name", "size", "type", "created"],
          [[str(f.get("id")), str(f.get("name")), str(f.get("size")), str(f.get("content_type")),
            when(f.get("created_at"))] for f in found if isinstance(f, dict)])


@files.command("delete")
@click.argument("file_ids", nargs=-1, required=True)
@SURE
@click.pass_context
def files_delete(ctx: click.Context, file_ids: tuple[str, ...], yes: bool) -> None:
    """Delete files of yours.

    \b
    Example:
      cogmill files delete FILE_ID --yes
    """
    _sure(" and ".join(file_ids), yes)
    client = api(ctx)
    for file_id in file_ids:
        client.delete(f"/files/{file_id}")
        say(f"Deleted {file_id}.")

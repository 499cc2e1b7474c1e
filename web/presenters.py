"""What pages show, computed from domain objects: output and inputs as displayed, timings,
metrics and cost, status labels, prefilled-form links, gallery cards, example summaries and
deployments (cost per hour, instances, the last hour's chart)."""

import hashlib
import json
import mimetypes
import re
from dataclasses import dataclass, field
from decimal import Decimal
from urllib.parse import urlencode, urlparse

import markdown
import nh3
import pygments
from django.conf import settings
from django.urls import reverse
from django.utils import timezone
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name

from accounts.services import is_admin
from playground import capabilities, sealing
from playground.cogschema import UNSHAREABLE_KINDS
from playground.models import (
    BuildStatus,
    DeploymentRelease,
    GalleryItem,
    Hardware,
    Instance,
    Model,
    Prediction,
    Status,
)
from playground.services import catalog, deployments, files, runs

SECRET_MASK = "••••••••"
SCROLLING_TABLE = '<div class="table-wrap" tabindex="0" role="region" aria-label="Table"><table>'
TEXT_PREVIEW_BYTES = 16 * 1024  # of a text file a run wrote, shown in its page
PROMPT_FIELDS = ("prompt", "text", "question", "query", "instruction", "message")
EXCERPT_CHARS = 400


# ---------------------------------------------------------------- output

def media_kind(url: str) -> str:
    """image, audio, video or file, by the URL's file name."""
    mime = mimetypes.guess_type(urlparse(url).path)[0] or ""
    major = mime.split("/")[0]
    return major if major in ("image", "audio", "video") else "file"


SAFE_DATA_IMAGES = ("data:image/png", "data:image/jpeg", "data:image/gif", "data:image/webp", "data:image/avif")


def safe_url(url: str) -> bool:
    """Whether a URL a model or a user gave may become a link or a source in a page: http(s), or a
    raster data: image. Never `javascript:` or other schemes that run in the page's origin."""
    scheme = urlparse(url).scheme.lower()
    return scheme in ("http", "https") or url.lower().startswith(SAFE_DATA_IMAGES)


def _file_entry(url: object) -> dict:
    url = str(url)
    name = urlparse(url).path.rsplit("/", 1)[-1] or url
    if not safe_url(url):
        return {"url": None, "kind": "text", "name": url}  # shown as text, never as a link
    return {"url": url, "kind": media_kind(url), "name": name}


def highlight(code: str, language: str) -> str:
    """`code` as HTML with Pygments' token classes (static/css/highlight.css colours them); every
    character of it escaped, whatever it holds."""
    return pygments.highlight(code, get_lexer_by_name(language), HtmlFormatter(nowrap=True))


def render_markdown(text: str, line_breaks: bool = True) -> str:
    """Markdown (a model's output, a README), sanitized: never raw HTML from a model or an owner."""
    extensions = ["fenced_code", "tables", *(["nl2br"] if line_breaks else [])]
    html = nh3.clean(markdown.markdown(text, extensions=extensions))
    # A wide table scrolls sideways in a region the keyboard can reach.
    return html.replace("<table>", SCROLLING_TABLE).replace("</table>", "</table></div>")


def output_view(prediction: Prediction, inputs: list[dict] = ()) -> dict:
    """What the template needs to show the output as it is now. `inputs` (input_rows) lets one image
    made from one image be shown as a before/after comparison."""
    schema = prediction.version.schema
    kind = schema.output_kind()
    out = prediction.signed(prediction.output)
    view = {"kind": kind, "empty": out is None or out == [] or out == ""}
    if kind == "text":
        text = "".join(str(c) for c in out) if isinstance(out, list) else ("" if out is None else str(out))
        text = text.lstrip()  # a continuation's first space (" the cat") is not shown as a stray indent
        view["text"] = text
        if prediction.status == Status.SUCCEEDED and text:
            view["html"] = render_markdown(text)
    elif kind in ("file", "files"):
        urls = out if isinstance(out, list) else ([] if out is None else [out])
        _add_files(prediction, view, urls)
    else:
        view["json"] = "" if out is None else json.dumps(out, indent=2, ensure_ascii=False)
        # An object's file fields (an annotated image beside the numbers) show as files too.
        _add_files(prediction, view, _uri_fields(schema.output(), out))
        view["vectors"], view["vectors_total"] = vectors(out)
    if prediction.status == Status.SUCCEEDED and kind in ("file", "files"):
        view["compare"] = _comparison(view, inputs)
    return view


def _add_files(prediction: Prediction, view: dict, urls: list) -> None:
    entries = [_file_entry(u) for u in urls]
    view["images"] = [f for f in entries if f["kind"] == "image"]
    view["others"] = [f for f in entries if f["kind"] != "image"]
    _add_text_previews(prediction, view["others"])


def _uri_fields(output_schema: dict, out: object) -> list[str]:
    """The file URLs in an object output's top-level fields that its schema types as files."""
    if not isinstance(out, dict):
        return []
    urls = []
    for key, prop in (output_schema.get("properties") or {}).items():
        value = out.get(key)
        items = prop.get("items") or {}
        if prop.get("format") == "uri" and isinstance(value, str):
            urls.append(value)
        elif items.get("format") == "uri" and isinstance(value, list):
            urls += [v for v in value if isinstance(v, str)]
    return urls


VECTOR_MIN_LENGTH = 8  # shorter lists of numbers are read, not copied
VECTORS_SHOWN = 50  # a page lists the first ones; the JSON (and the API) has them all


def vectors(out: object) -> tuple[list[dict], int]:
    """Lists of numbers in an output (an embedding, or a list of them, bare or in objects beside their
    text), the first VECTORS_SHOWN each with a label, its length, its first numbers and the JSON to
    copy; and how many there are."""
    def numbers(value: object) -> bool:
        return (isinstance(value, list) and len(value) >= VECTOR_MIN_LENGTH
                and all(isinstance(x, (int, float)) and not isinstance(x, bool) for x in value))

    found = []
    items = out if isinstance(out, list) and not numbers(out) else [out]
    for index, item in enumerate(items):
        if numbers(item):
            found.append((f"#{index}" if len(items) > 1 else "vector", item))
        elif isinstance(item, dict):
            label = next((str(v) for v in item.values() if isinstance(v, str)), f"#{index}")
            found += [(label, v) for v in item.values() if numbers(v)]
    return [{"label": label, "length": len(v), "head": ", ".join(f"{x:.4g}" for x in v[:4]),
             "json": json.dumps(v)} for label, v in found[:VECTORS_SHOWN]], len(found)


def _comparison(view: dict, inputs: list[dict]) -> dict | None:
    """Before and after, when a run made one image from the one image it was given (an upscale, a cut
    out background): the two shown over each other with a slider."""
    if len(view.get("images", [])) != 1 or view.get("others"):
        return None
    given = [f for row in inputs if row["kind"] == "files" for f in row["files"]]
    if len(given) != 1 or given[0]["kind"] != "image" or not given[0]["url"]:
        return None
    return {"before": given[0]["url"], "after": view["images"][0]["url"], "name": view["images"][0]["name"]}


def _add_text_previews(prediction: Prediction, entries: list[dict]) -> None:
    """A text file the run wrote (.txt, .md, .csv, .json) shows its start in the page."""
    if not any(e["kind"] == "file" and e["url"] for e in entries):
        return
    own = {f.id: f for f in prediction.files.all()}
    for entry in entries:
        parts = capabilities.file_url_parts(entry["url"]) if entry["kind"] == "file" and entry["url"] else None
        if parts and (f := own.get(parts[0])) and (preview := files.text_preview(f, TEXT_PREVIEW_BYTES)):
            entry["preview"], entry["truncated"] = preview


def api_json(prediction: Prediction) -> str:
    """The prediction as the API answers its owner. Its secrets are stored masked already; they are
    masked here again, as the API masks them, whatever the row holds."""
    body = prediction.to_dict()
    kinds = prediction.schema.input_kinds()
    body["input"] = {key: sealing.MASK if kinds.get(key) == "secret" else value
                     for key, value in (body["input"] or {}).items()}
    return json.dumps(body, indent=2, ensure_ascii=False)


# ---------------------------------------------------------------- input, metrics, timings

def input_rows(prediction: Prediction, viewer) -> list[dict]:
    """Each input as `viewer` sees it: files as links (runs.shown_input), secrets masked."""
    kinds = prediction.schema.input_kinds()
    shown = runs.shown_input(prediction, viewer)
    rows = []
    for key, value in shown.items():
        kind = kinds.get(key)
        if kind == "secret":
            rows.append({"name": key, "kind": "secret", "value": SECRET_MASK})
        elif kind in ("file", "files"):
            urls = value if isinstance(value, list) else [value]
            rows.append({"name": key, "kind": "files", "files": [_file_entry(u) for u in urls]})
        elif isinstance(value, (dict, list)):
            rows.append({"name": key, "kind": "json", "value": json.dumps(value, indent=2, ensure_ascii=False)})
        else:
            rows.append({"name": key, "kind": "text", "value": json.dumps(value) if value is None or isinstance(value, bool) else value})
    return rows


def offered_files(run: Prediction, viewer) -> dict[str, dict]:
    """{input: offer} of the run's file inputs that a run form may offer `viewer` to run again
    (runs.offerable_input_file): the run's id, the file's name and kind, and a signed URL their
    browser can show it by."""
    offers = {}
    for name, kind in run.schema.input_kinds().items():
        if kind == "file" and (f := runs.offerable_input_file(viewer, run, name)) is not None:
            offers[name] = {"run": run.id, "url": capabilities.signed_file_url(f.url), "name": f.name,
                            "kind": media_kind(f.name)}
    return offers


def format_seconds(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 60:
        return f"{seconds:.2f}s" if seconds < 1 else f"{seconds:.1f}s" if seconds < 10 else f"{seconds:.0f}s"
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m {secs:02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def format_cost(amount: Decimal) -> str:
    """Dollars: cents for large amounts, enough digits to see fractions of a cent otherwise."""
    if amount >= 1:
        return f"${amount:,.2f}"
    text = f"{amount:.6f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def timings(prediction: Prediction) -> list[tuple[str, str]]:
    """Label and duration of each phase so far: queued, booting, running, total."""
    now = timezone.now()
    metrics = prediction.metrics or {}
    cold = metrics.get("boot_time", metrics.get("cold_start_time"))  # cold_start_time: runs before boot_time
    end = prediction.completed_at or now
    rows = []
    waited_until = prediction.started_at or (end if prediction.is_terminal else now)
    waited = (waited_until - prediction.created_at).total_seconds()
    if cold is not None:
        rows.append(("Queued", format_seconds(max(waited - cold, 0))))
        rows.append(("Booting (cold start)", format_seconds(cold)))
    elif metrics.get("cold_start") is False:
        rows.append(("Queued (warm instance)", format_seconds(waited)))
    else:
        rows.append(("Queued" if prediction.status == Status.STARTING else "Queued and booting",
                     format_seconds(waited)))
    if prediction.started_at:
        running = metrics.get("predict_time")
        if running is None:
            running = (end - prediction.started_at).total_seconds()
        rows.append(("Running" if not prediction.is_terminal else "Predict time", format_seconds(running)))
    total = metrics.get("total_time")
    if total is None:
        total = (end - prediction.created_at).total_seconds()
    rows.append(("Total", format_seconds(total)) if prediction.is_terminal else ("Elapsed", format_clock(total)))
    return rows


def format_clock(seconds: float) -> str:
    """A running clock, as the page's script ticks it on: tenths of a second, then minutes."""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes = int(seconds // 60)
    return f"{minutes}m {int(seconds % 60):02d}s" if minutes < 60 else f"{minutes // 60}h {minutes % 60:02d}m"


def metrics_rows(prediction: Prediction) -> list[tuple[str, str]]:
    """Cost and the model's own metrics; the times are the status panel's (timings), shown once."""
    metrics = prediction.metrics or {}
    rows = []
    cost = runs.cost_of(prediction)
    if cost is not None:
        rows.append(("Cost", format_cost(cost)))
    skip = {"predict_time", "cold_start_time", "boot_time", "cold_start", "total_time"}
    rows += [(k.replace("_", " ").capitalize(), str(v)) for k, v in metrics.items() if k not in skip]
    return rows


def waiting_for(run) -> str | None:
    """The hardware a queued run waits for when no worker serves it, to say why it has not started."""
    return runs.missing_hardware(run) if run.status == Status.STARTING else None


def status_label(prediction: Prediction) -> str:
    if prediction.status == Status.STARTING:
        return "queued" if prediction.cancel_requested_at is None else "canceling"
    if prediction.status == Status.PROCESSING and prediction.cancel_requested_at:
        return "canceling"
    return prediction.status


# ---------------------------------------------------------------- links that prefill the run form

def prefill_url(prediction) -> str:
    """The model page with its run form filled from a prediction ("Tweak it", "Use this prompt").

    Secrets and files are left out: the link may be shown to others, and files can't be prefilled.
    """
    query = {"version": prediction.version.version_id, **prefill_query(prediction)}
    return f"{reverse('model', args=[prediction.model.owner.username, prediction.model.name])}?{urlencode(query)}"


def prefill_query(prediction) -> dict[str, str]:
    """The GET parameters that fill the run form with a prediction's input, less secrets and files."""
    kinds = prediction.version.schema.input_kinds()
    kept = {k: v for k, v in (prediction.input or {}).items() if k in kinds and kinds[k] not in UNSHAREABLE_KINDS}
    return query_from_input(kept)


def query_from_input(data: dict) -> dict[str, str]:
    """GET parameters that prefill a form with a prediction's input (for "tweak it" links)."""
    params = {}
    for name, value in data.items():
        if isinstance(value, bool):
            params[name] = "true" if value else "false"
        elif isinstance(value, list):
            params[name] = "\n".join(str(v) for v in value)
        elif isinstance(value, dict):
            params[name] = json.dumps(value)
        elif value is not None:
            params[name] = str(value)
    return params


# ---------------------------------------------------------------- gallery cards

def prompt_fields(prediction: Prediction) -> dict[str, str]:
    """Non-file, non-secret inputs as form values (JSON for anything but strings), in input order."""
    kinds = prediction.schema.input_kinds()
    fields: dict[str, str] = {}
    for key, value in (prediction.input or {}).items():
        if kinds.get(key) in UNSHAREABLE_KINDS or value is None:
            continue
        fields[key] = value if isinstance(value, str) else json.dumps(value)
    return fields


def main_prompt(prediction: Prediction, fields: dict[str, str]) -> tuple[str, str] | None:
    """The (name, value) that reads as the prompt: a well-known name, else the first text input."""
    texts = [name for name in fields if isinstance(prediction.input.get(name), str) and fields[name]]
    for name in [*(n for n in PROMPT_FIELDS if n in texts), *texts]:
        return name, fields[name]
    return None


@dataclass
class Preview:
    """A card's glimpse of an output: a text excerpt, images, or other files as (name, url)."""

    text: str = ""
    images: list[str] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)


def output_preview(prediction: Prediction) -> Preview:
    """Streamed token lists read as one text; file outputs become images or download links."""
    output = prediction.signed(prediction.output)
    if output is None:
        return Preview()
    items = output if isinstance(output, list) else [output]
    if prediction.version.schema.output_is_files():
        urls = [str(v) for v in items if safe_url(str(v))]
        others = [(urlparse(u).path.rsplit("/", 1)[-1] or u, u) for u in urls if media_kind(u) != "image"]
        return Preview(images=[u for u in urls if media_kind(u) == "image"][:4], files=others[:4])
    if all(isinstance(v, str) for v in items):
        text = "".join(items) if prediction.version.schema.output_is_iterator() else "\n".join(items)
    else:
        text = json.dumps(output, indent=2)
    return Preview(text=_excerpt(text))


def _excerpt(text: str) -> str:
    return text if len(text) <= EXCERPT_CHARS else text[:EXCERPT_CHARS].rstrip() + "…"


@dataclass
class Card:
    """What a gallery card shows about one item."""

    item: GalleryItem
    preview: Preview
    prompt: tuple[str, str] | None
    fields: dict[str, str] = field(default_factory=dict)
    use_url: str | None = None
    removable: bool = False

    @property
    def succeeded(self) -> bool:
        return self.item.prediction.status == Status.SUCCEEDED


def cards(items, user) -> list[Card]:
    items = list(items)
    runnable = catalog.visible_model_ids(user, {i.prediction.model_id for i in items})
    admin = bool(items) and is_admin(user, items[0].organization)
    return [_card(item, user, item.prediction.model_id in runnable, admin) for item in items]


def _card(item: GalleryItem, user, runnable: bool, admin: bool) -> Card:
    prediction = item.prediction
    fields = prompt_fields(prediction)
    prompt = main_prompt(prediction, fields)
    others = {k: v for k, v in fields.items() if not prompt or k != prompt[0]}
    return Card(
        item=item, preview=output_preview(prediction), prompt=prompt, fields=others,
        use_url=prefill_url(prediction) if runnable and not prediction.data_removed else None,
        removable=admin or item.added_by_id == user.pk,
    )


# ---------------------------------------------------------------- model examples

def model_cards(models) -> list[dict]:
    """Explore's cards: each model with its cover, or else a glimpse of its default example's output."""
    cards = []
    for model in models:
        cover = model.shown_cover_url
        example = model.default_example if not cover and model.default_example_id else None
        cards.append({"model": model, "cover": cover, "sample": output_preview(example) if example else None})
    return cards


def coming_builds(versions, user) -> list[dict]:
    """Explore's list of models on their way, one line a model (its oldest waiting build): its key for
    the list's refresh, name, state, and for the owner the build log's last line."""
    shown = {}
    for version in versions:
        if version.model_id in shown:
            continue
        mine = user.is_authenticated and version.model.owner_id == user.pk
        lines = version.build_log.strip().splitlines() if mine else []
        shown[version.model_id] = {"key": str(version.pk), "model": version.model, "since": version.created_at,
                                   "building": version.build_status == BuildStatus.BUILDING,
                                   "last_line": lines[-1][:160] if lines else ""}
    return list(shown.values())


def cover_choices(predictions) -> list[dict]:
    """The images these runs wrote, as covers to pick: the stored URL to keep (value), and a signed
    one to show (src)."""
    choices = []
    for prediction in predictions:
        own = {f.url for f in prediction.files.all()}
        for url in capabilities.file_urls_in(prediction.output) & own:
            if media_kind(url) == "image":
                name = urlparse(url).path.rsplit("/", 1)[-1]
                choices.append({"value": url, "name": f"{name} ({prediction.id[:8]})", "src": prediction.signed(url)})
    return choices


def summary(value: object, joined: bool) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return ("" if joined else "\n").join(value)
    return json.dumps(value, ensure_ascii=False)


def examples(model: Model) -> list[dict]:
    found = []
    for prediction in catalog.examples_of(model).order_by("-created_at"):
        found.append({
            "prediction": prediction,
            "input": [(k, summary(v, False)) for k, v in prediction.input.items()],
            "output": summary(prediction.signed(prediction.output), prediction.version.schema.output_is_iterator()),
            "is_default": prediction.pk == model.default_example_id,
            "tweak_url": prefill_url(prediction),
        })
    return found


# ---------------------------------------------------------------- trainings

# The log convention a trainer follows for the progress bar: `step 120/600 loss 1.93` on its own line.
PROGRESS_LINE = re.compile(r"^step (\d+)/(\d+)(?:\s+loss\s+([-+0-9.eE]+|nan|inf))?\s*$", re.MULTILINE)


def training_progress(logs: str) -> dict | None:
    """The last `step N/TOTAL loss X` line of a training's logs: step, total, percent and loss."""
    found = None
    for found in PROGRESS_LINE.finditer(logs or ""):
        pass
    if found is None or int(found[2]) == 0:
        return None
    step, total = int(found[1]), int(found[2])
    return {"step": step, "total": total, "percent": min(100, round(100 * step / total)), "loss": found[3]}


# ---------------------------------------------------------------- deployments

INSTANCE_STATES = ("requested", "booting", "ready", "busy", "stopping")
CHART_WIDTH, CHART_HEIGHT, CHART_GAP = 360, 100, 4


def hardware_choices() -> list[tuple[str, str]]:
    """(sku, label) of every hardware, with its price, for a form's select."""
    return [(hw.sku, f"{hw.name} · {format_cost(hw.price_per_hour)}/hour") for hw in Hardware.objects.all()]


def hourly_cost(release: DeploymentRelease) -> dict:
    """A release's cost per hour as shown: min instances idle, max instances busy, one instance."""
    idle, busy = deployments.hourly_cost(release)
    return {"idle": format_cost(idle), "busy": format_cost(busy), "min": release.min_instances,
            "max": release.max_instances, "hardware": release.hardware.name,
            "each": format_cost(release.hardware.price_per_hour)}


def cost_estimate(hardware: Hardware | None, min_instances: int | None, max_instances: int | None) -> dict | None:
    """The deployment form's estimate, by the same rule as a release's (None until it can be said)."""
    if hardware is None or min_instances is None or max_instances is None or min(min_instances, max_instances) < 0:
        return None
    return hourly_cost(DeploymentRelease(hardware=hardware, min_instances=min_instances, max_instances=max_instances))


def worker_label(name: str, viewer) -> str:
    """A worker as a page shows it: its name (often a host name) to staff, to others a label that
    tells workers apart and says nothing of the machine."""
    if viewer.is_staff:
        return name
    return "worker " + hashlib.sha256(f"{settings.SECRET_KEY}:{name}".encode()).hexdigest()[:6]


def instance_rows(instances, viewer) -> list[dict]:
    """Each instance as the deployment page's table shows it to `viewer`."""
    now = timezone.now()
    return [{
        "id": instance.pk,
        "state": instance.shown_state,
        "worker": worker_label(instance.worker_id, viewer) if instance.worker_id else None,
        "release": instance.release.number if instance.release_id else None,
        "pinned": instance.pinned,
        "in_use": instance.in_use,
        "slots": instance.slots,
        "since": format_seconds(max((now - instance.state_since).total_seconds(), 0)),
        "since_at": instance.state_since,
        "boot": format_seconds(instance.boot_seconds) if instance.boot_seconds is not None else None,
    } for instance in instances]


def state_counts(states) -> list[tuple[str, int]]:
    """(state, how many) in the order an instance goes through them, leaving out the absent ones."""
    states = list(states)
    return [(state, states.count(state)) for state in INSTANCE_STATES if state in states]


def deployment_rows(listed) -> list[dict]:
    """The deployments list: each with its current release and its instances counted by state (one
    query for the whole page)."""
    listed = list(listed)
    states: dict[int, list[str]] = {d.pk: [] for d in listed}
    for instance in Instance.objects.filter(release__deployment__in=listed).select_related("release"):
        states[instance.release.deployment_id].append(instance.shown_state)
    return [{"deployment": d, "release": d.current_release, "instances": state_counts(states[d.pk])}
            for d in listed]


def deployment_stats(stats: dict) -> dict:
    """The last hour in numbers, and the bars of its chart: requests per five minutes, with the
    cold starts among them drawn over each bar (SVG units of a CHART_WIDTH × CHART_HEIGHT box, as
    text so no locale writes a decimal comma into them)."""
    buckets = stats["buckets"]
    peak = max([b["requests"] for b in buckets] + [1])
    step = CHART_WIDTH / max(len(buckets), 1)
    bars = []
    for i, bucket in enumerate(buckets):
        height = CHART_HEIGHT * bucket["requests"] / peak
        cold = CHART_HEIGHT * bucket["cold_starts"] / peak
        bars.append({
            "x": _svg(i * step + CHART_GAP / 2), "width": _svg(step - CHART_GAP),
            "y": _svg(CHART_HEIGHT - height), "height": _svg(height),
            "cold_y": _svg(CHART_HEIGHT - cold), "cold_height": _svg(cold),
            "requests": bucket["requests"], "cold_starts": bucket["cold_starts"],
            "p50": format_seconds(bucket["p50"]), "start": bucket["start"],
        })
    return {"requests": stats["requests"], "p50": format_seconds(stats["p50"]), "cold_starts": stats["cold_starts"],
            "bars": bars, "peak": peak, "width": CHART_WIDTH, "height": CHART_HEIGHT}


def _svg(number: float) -> str:
    return f"{round(number, 1):g}"


# ---------------------------------------------------------------- spend

SPEND_CSV_HEADER = ["created_at", "kind", "run_id", "model", "version", "deployment", "hardware", "seconds",
                    "price_per_second", "cost", "token"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe(value: object) -> str:
    """A CSV cell a spreadsheet shows as text: one that starts like a formula (model and token names
    are chosen by users) gets a leading apostrophe."""
    text = "" if value is None else str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def spend_csv_rows(entries):
    """The header, then one row per ledger entry: amounts as the ledger keeps them, "web" for runs
    started from a page."""
    yield SPEND_CSV_HEADER
    for entry in entries:
        yield [csv_safe(cell) for cell in (
            entry.created_at.isoformat(), entry.kind, entry.run_id, entry.model, entry.version, entry.deployment,
            entry.hardware, entry.seconds, entry.price_per_second, entry.cost,
            entry.token_name or "web")]


def spend_chart(days: list[dict]) -> dict:
    """Spend per day as bars in the deployment chart's box (CHART_WIDTH × CHART_HEIGHT SVG units);
    `days` are rows of `date` (a date), `cost` and `runs`."""
    peak = max([Decimal(d["cost"]) for d in days] + [Decimal(0)])
    step = CHART_WIDTH / max(len(days), 1)
    gap = min(CHART_GAP, step / 3)
    bars = []
    for i, day in enumerate(days):
        cost = Decimal(day["cost"])
        height = float(CHART_HEIGHT * cost / peak) if peak else 0.0
        bars.append({"x": _svg(i * step + gap / 2), "width": _svg(step - gap), "y": _svg(CHART_HEIGHT - height),
                     "height": _svg(height), "cost": cost, "amount": cost.quantize(Decimal("0.00000001")), "shown": format_cost(cost), "runs": day["runs"],
                     "date": day["date"]})
    return {"bars": bars, "peak": format_cost(peak), "width": CHART_WIDTH, "height": CHART_HEIGHT,
            "first": bars[0]["date"] if bars else None, "last": bars[-1]["date"] if bars else None}


def limit_notice(notice: dict | None) -> dict | None:
    """billing.notice as the spend pages say it: amounts in dollars, a bar's width, and a level
    (ok, warn at 80%, reached at 100%)."""
    if notice is None:
        return None
    percent = notice["percent"]
    level = "reached" if percent >= 100 else "warn" if percent >= 80 else "ok"
    return {**notice, "spent_shown": format_cost(notice["spent"]), "limit_shown": f"${notice['limit']:,.2f}",
            "width": min(percent, 100), "level": level}

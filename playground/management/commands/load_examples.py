import time
from pathlib import Path

import yaml
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.templatetags.static import static

from accounts.models import User
from playground.errors import DomainError
from playground.models import Source, Status
from playground.services import catalog, files, runs

EXAMPLES = Path(settings.BASE_DIR) / "examples"
EXAMPLE_RUN_SECONDS = 300
SAMPLE_PREFIX = "@"  # an example input "@samples/x.png" is that file of the example's folder


def catalogue() -> dict:
    """examples/catalog.yaml: `first`, `collections` and `models`."""
    return yaml.safe_load((EXAMPLES / "catalog.yaml").read_text()) or {}


class Command(BaseCommand):
    help = ("Push the example models in examples/ as OWNER/<folder> (queueing every build first, then waiting "
            "for each), and give each the description, cover, collections and default example "
            "examples/catalog.yaml lists, unless it has them.")

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="only these examples (folder names); all by default")
        parser.add_argument("--owner", default="cogmill", help="the account they are pushed to")
        which = parser.add_mutually_exclusive_group()
        which.add_argument("--first", action="store_true", help="only the catalogue's `first` examples")
        which.add_argument("--rest", action="store_true", help="all but the catalogue's `first` examples")

    def handle(self, names: list[str], owner: str, first: bool, rest: bool, **options):
        described = catalogue()
        folders = sorted(p for p in EXAMPLES.iterdir() if (p / "cog.yaml").is_file())
        unknown = set(names) - {p.name for p in folders}
        if unknown:
            raise CommandError(f"no example named {', '.join(sorted(unknown))}")
        firsts = set(described.get("first") or [])
        chosen = [f for f in folders if (not names or f.name in names)
                  and (not first or f.name in firsts) and (not rest or f.name not in firsts)]
        # Every build is queued before any is waited for, so Explore lists them all as they come.
        for folder in chosen:
            call_command("push_model", str(folder), f"{owner}/{folder.name}", no_wait=True,
                         stdout=self.stdout, stderr=self.stderr)
        failed = []
        for folder in chosen:
            try:
                call_command("push_model", str(folder), f"{owner}/{folder.name}", stdout=self.stdout,
                             stderr=self.stderr)
            except CommandError as exc:  # one example that does not build leaves the rest be
                self.stderr.write(f"{owner}/{folder.name}: {exc}")
                failed.append(folder.name)
                continue
            models = described.get("models") or {}
            self._describe(owner, folder, models.get(folder.name) or {}, described.get("collections") or {})
        if failed:
            raise CommandError(f"not built: {', '.join(failed)}")

    def _describe(self, owner: str, folder: Path, details: dict, collections: dict) -> None:
        """Once per model (a mark under the data folder says it was done): what its owner clears or
        changes later stays so, and a failing example is not run again at every start."""
        name = folder.name
        mark = Path(settings.DATA_DIR) / "examples-described" / f"{owner}--{name}"
        if mark.exists():
            return
        user = User.objects.get(username=owner)
        model = catalog.get_model(user, f"{owner}/{name}")
        changes = {}
        if details.get("description") and not model.description:
            changes["description"] = details["description"].strip()
        if details.get("cover") and not model.cover_image_url:
            changes["cover_image_url"] = settings.PUBLIC_URL + static(details["cover"])
        if changes:
            catalog.update_model(model, changes)
        for slug in details.get("collections") or []:
            about = collections.get(slug) or {}
            catalog.add_to_collection(model, slug, about.get("name") or slug.title(), about.get("description") or "")
        if details.get("example") is not None and model.default_example_id is None:
            self._make_example(user, model, self._input(user, folder, details["example"]))
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()

    @staticmethod
    def _input(user, folder: Path, data: dict) -> dict:
        """The example's input, each "@path" value an upload of that file of the example's, kept for
        as long as the example is."""
        given = {}
        for key, value in data.items():
            if isinstance(value, str) and value.startswith(SAMPLE_PREFIX):
                path = (folder / value[len(SAMPLE_PREFIX):]).resolve()
                if not path.is_relative_to(folder.resolve()) or not path.is_file():
                    raise CommandError(f"{folder.name}: example input {key} names no file of the example: {value}")
                upload = SimpleUploadedFile(path.name, path.read_bytes())
                value = files.create_upload(user, upload, None, kept=True).api_url
            given[key] = value
        return given

    def _make_example(self, user, model, data: dict) -> None:
        """Run the example input as the owner and make it the default example once it has succeeded."""
        try:
            prediction = runs.create_prediction(user, catalog.latest_runnable(model), data, source=Source.API)
        except DomainError as exc:
            self.stderr.write(f"{model.full_name}: no default example ({exc})")
            return
        deadline = time.monotonic() + EXAMPLE_RUN_SECONDS
        while not prediction.is_terminal and time.monotonic() < deadline:
            time.sleep(0.5)
            prediction.refresh_from_db()
        if prediction.status != Status.SUCCEEDED:
            self.stderr.write(f"{model.full_name}: its example run ended {prediction.status}: {prediction.error or ''}")
            return
        catalog.update_model(model, {"default_example": prediction.id})
        self.stdout.write(f"{model.full_name}: default example {prediction.id}")

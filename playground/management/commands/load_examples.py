import time
from pathlib import Path

import yaml
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management.base import BaseCommand, CommandError
from django.templatetags.static import static

from accounts.models import User
from playground.bundles import pack_dir
from playground.errors import DomainError
from playground.management.commands.push_model import wait_for_build
from playground.models import Source, Status, Version
from playground.services import catalog, files, runs

EXAMPLES = Path(settings.BASE_DIR) / "examples"
EXAMPLE_RUN_SECONDS = 300
BUILD_SECONDS = 1800
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
        models = described.get("models") or {}
        collections = described.get("collections") or {}
        # Every build is queued, and every model described, before any build is waited for: Explore
        # lists them all as on their way, and each shows its cover and description once it is ready.
        queued, failed = {}, []
        for folder in chosen:
            try:
                queued[folder.name] = self._push(owner, folder)
            except CommandError as exc:  # one example that cannot be pushed leaves the rest be
                self.stderr.write(f"{owner}/{folder.name}: {exc}")
                failed.append(folder.name)
                continue
            if not self._mark(owner, folder.name).exists():
                self._describe(owner, folder.name, models.get(folder.name) or {}, collections)
        for folder in chosen:
            if folder.name not in queued:
                continue
            try:  # waited for, not pushed again: a failed build is not queued a second time
                version = wait_for_build(queued[folder.name], BUILD_SECONDS, self.stderr)
            except CommandError as exc:
                self.stderr.write(f"{owner}/{folder.name}: {exc}")
                failed.append(folder.name)
                continue
            self.stdout.write(f"{owner}/{folder.name}:{version.version_id}")
            mark = self._mark(owner, folder.name)
            if not mark.exists():
                self._first_example(owner, folder, models.get(folder.name) or {})
                mark.parent.mkdir(parents=True, exist_ok=True)
                mark.touch()
        if failed:
            raise CommandError(f"not built: {', '.join(failed)}")

    def _push(self, owner: str, folder: Path) -> Version:
        """The example's bundle pushed (the same bytes again are the same version), its build queued."""
        user, _ = User.objects.get_or_create(username=owner)
        try:
            version, _ = catalog.push_version(user, folder.name, pack_dir(folder), operator=True)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        return version

    @staticmethod
    def _mark(owner: str, name: str) -> Path:
        """Says the example was described and given its default example once: what its owner clears or
        changes later stays so, and a failing example is not run again at every start."""
        return Path(settings.DATA_DIR) / "examples-described" / f"{owner}--{name}"

    def _describe(self, owner: str, name: str, details: dict, collections: dict) -> None:
        """The description, cover and collections the catalogue gives, where the model has none."""
        model = catalog.get_model(User.objects.get(username=owner), f"{owner}/{name}")
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

    def _first_example(self, owner: str, folder: Path, details: dict) -> None:
        user = User.objects.get(username=owner)
        model = catalog.get_model(user, f"{owner}/{folder.name}")
        if details.get("example") is not None and model.default_example_id is None:
            self._make_example(user, model, self._input(user, folder, details["example"]))

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
        """Run the example input as the owner and make it the default example once it has succeeded;
        the files uploaded for it go again if it did not."""
        try:
            prediction = runs.create_prediction(user, catalog.latest_runnable(model), data, source=Source.API)
        except DomainError as exc:
            self.stderr.write(f"{model.full_name}: no default example ({exc})")
            self._drop_uploads(user, data)
            return
        deadline = time.monotonic() + EXAMPLE_RUN_SECONDS
        while not prediction.is_terminal and time.monotonic() < deadline:
            time.sleep(0.5)
            prediction.refresh_from_db()
        if prediction.status != Status.SUCCEEDED:
            self.stderr.write(f"{model.full_name}: its example run ended {prediction.status}: {prediction.error or ''}")
            self._drop_uploads(user, data)
            return
        catalog.update_model(model, {"default_example": prediction.id})
        self.stdout.write(f"{model.full_name}: default example {prediction.id}")

    @staticmethod
    def _drop_uploads(user, data: dict) -> None:
        for value in data.values():
            f = files.stored_file(value) if isinstance(value, str) else None
            if f is not None and f.owner_id == user.pk:
                files.delete_file(f)

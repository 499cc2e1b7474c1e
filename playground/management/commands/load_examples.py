import time
from pathlib import Path

import yaml
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.templatetags.static import static

from accounts.models import User
from playground.errors import DomainError
from playground.models import Source, Status
from playground.services import catalog, runs

EXAMPLES = Path(settings.BASE_DIR) / "examples"
EXAMPLE_RUN_SECONDS = 300


class Command(BaseCommand):
    help = ("Push the example models in examples/ as OWNER/<folder> (waiting for each build), and give each "
            "the description, cover and default example examples/catalog.yaml lists, unless it has them.")

    def add_arguments(self, parser):
        parser.add_argument("names", nargs="*", help="only these examples (folder names); all by default")
        parser.add_argument("--owner", default="cogmill", help="the account they are pushed to")

    def handle(self, names: list[str], owner: str, **options):
        described = yaml.safe_load((EXAMPLES / "catalog.yaml").read_text()) or {}
        folders = sorted(p for p in EXAMPLES.iterdir() if (p / "cog.yaml").is_file())
        unknown = set(names) - {p.name for p in folders}
        if unknown:
            raise CommandError(f"no example named {', '.join(sorted(unknown))}")
        for folder in folders:
            if names and folder.name not in names:
                continue
            call_command("push_model", str(folder), f"{owner}/{folder.name}", stdout=self.stdout, stderr=self.stderr)
            self._describe(owner, folder.name, described.get(folder.name) or {})

    def _describe(self, owner: str, name: str, details: dict) -> None:
        """Once per model (a mark under the data folder says it was done): what its owner clears or
        changes later stays so, and a failing example is not run again at every start."""
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
        if details.get("example") is not None and model.default_example_id is None:
            self._make_example(user, model, details["example"])
        mark.parent.mkdir(parents=True, exist_ok=True)
        mark.touch()

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

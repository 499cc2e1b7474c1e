import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from accounts.models import User
from cogmill.celery import app
from playground.bundles import pack_dir
from playground.errors import DomainError
from playground.models import BuildStatus, Version
from playground.services import catalog
from playground.worker import builds


class Command(BaseCommand):
    help = "Push a Cog model folder as a new version of OWNER/NAME, wait for its build, print OWNER/NAME:VERSION."

    def add_arguments(self, parser):
        parser.add_argument("directory", type=Path)
        parser.add_argument("model", help="OWNER/NAME; the owner is created if missing")
        parser.add_argument("--timeout", type=float, default=1800, help="seconds to wait for the build")
        parser.add_argument("--no-wait", action="store_true", help="queue the build and return")

    def handle(self, directory: Path, model: str, timeout: float, no_wait: bool, **options):
        owner_name, _, name = model.partition("/")
        if not owner_name or not name or "/" in name:
            raise CommandError(f"model must be OWNER/NAME, not {model!r}")
        if not directory.is_dir():
            raise CommandError(f"{directory} is not a folder")
        owner, created = User.objects.get_or_create(username=owner_name)
        if created:
            self.stderr.write(f"created user {owner_name}")
        try:
            version, _ = catalog.push_version(owner, name, pack_dir(directory), operator=True)
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        if not no_wait:
            version = wait_for_build(version, timeout, self.stderr)
        self.stdout.write(f"{owner_name}/{name}:{version.version_id}")


def wait_for_build(version: Version, timeout: float, stderr) -> Version:
    """The version once built (building it in this process when no worker answers); CommandError
    with its log on `stderr` when the build fails or takes longer than `timeout` seconds."""
    if not app.control.ping(timeout=2.0):
        stderr.write("no worker answered; building in this process")
        builds.build_version(version.pk)
    deadline = time.monotonic() + timeout
    while True:
        version.refresh_from_db()
        if version.build_status == BuildStatus.READY:
            return version
        if version.build_status == BuildStatus.FAILED:
            stderr.write(version.build_log + "\n")
            raise CommandError(f"build failed: {version.build_error}")
        if time.monotonic() > deadline:
            raise CommandError(f"build still {version.build_status} after {timeout:.0f}s")
        time.sleep(0.5)

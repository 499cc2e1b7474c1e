from django.core.management.base import BaseCommand, CommandError

from accounts.models import ApiToken, User


class Command(BaseCommand):
    help = "Print a new API token for USERNAME on stdout (and nothing else)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--create-user", action="store_true", help="create the user if missing")
        parser.add_argument("--name", default="cli", help="a name to recognise the token by")
        parser.add_argument("--read-only", action="store_true")

    def handle(self, username, create_user, name, read_only, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            if not create_user:
                raise CommandError(f"no user named {username!r}; pass --create-user to create it")
            user = User.objects.create_user(username=username)
        _, raw = ApiToken.issue(user, name=name, read_only=read_only)
        self.stdout.write(raw)

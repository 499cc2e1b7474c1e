"""Account rules: usernames (owner namespaces), organizations and their members."""

import re

from django.contrib.auth import get_user
from django.db import transaction
from django.utils import timezone

from accounts.models import ApiToken, Membership, User
from playground.errors import Forbidden, Invalid, NotFound

USERNAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,38}$")
# First path segments the site itself uses: an account with one of these names would have
# pages (`/<owner>/<model>`) hidden behind the site's own routes.
RESERVED_USERNAMES = frozenset({
    "account", "accounts", "admin", "api", "avatars", "collections", "deployments", "explore", "galleries",
    "healthz", "history", "login", "logout", "models", "new", "orgs", "output", "predictions",
    "settings", "signup", "static", "trainings", "v1",
    "p", "t",  # /p/<prediction> and /t/<training> would hide their models
})


def check_username(name: str) -> None:
    """Raise Invalid unless `name` can be a new owner namespace."""
    if not USERNAME_RE.match(name):
        raise Invalid.field(
            "username", "Use 1 to 39 lowercase letters, digits, '-' and '_', starting with a letter or digit.",
            "invalid",
        )
    if name in RESERVED_USERNAMES or User.objects.filter(username__iexact=name).exists():
        raise Invalid.field("username", f"“{name}” is already taken.", "taken")


@transaction.atomic
def create_organization(creator: User, name: str) -> User:
    """A new organization account, with `creator` as its first admin."""
    if creator.is_organization:
        raise Forbidden("organizations cannot create organizations")
    check_username(name)
    org = User(username=name, kind=User.Kind.ORGANIZATION)
    org.set_unusable_password()
    org.save()
    Membership.objects.create(organization=org, member=creator, role=Membership.Role.ADMIN)
    return org


def organization_for(name: str, viewer: User) -> tuple[User, Membership]:
    """The organization and the viewer's membership in it; 404 for anyone outside it."""
    membership = (
        Membership.objects.active().select_related("organization")
        .filter(organization__username=name, organization__kind=User.Kind.ORGANIZATION, member=viewer)
        .first()
    )
    if membership is None:
        raise NotFound("no such organization")
    return membership.organization, membership


def is_member(user, organization: User) -> bool:
    if not user.is_authenticated:
        return False
    return Membership.objects.active().filter(organization=organization, member=user).exists()


def is_admin(user, organization: User) -> bool:
    admins = Membership.objects.active().filter(role=Membership.Role.ADMIN)
    return admins.filter(organization=organization, member=user).exists()


def _require_admin(org: User, actor: User) -> None:
    if not is_admin(actor, org):
        raise Forbidden("only an organization's admins can manage its members")


def _check_role(role: str) -> None:
    if role not in Membership.Role.values:
        raise Invalid.field("role", f"Choose one of: {', '.join(Membership.Role.values)}.", "invalid_role")


@transaction.atomic
def invite_member(org: User, actor: User, username: str, role: str = Membership.Role.MEMBER) -> Membership:
    """Invite an existing person: they are a member once they accept. Raises Invalid for the
    username/role."""
    _require_admin(org, actor)
    _check_role(role)
    person = User.objects.filter(username=username, kind=User.Kind.USER, is_active=True).first()
    if person is None:
        raise Invalid.field("username", f"There is no person with the username “{username}”.", "unknown")
    existing = Membership.objects.filter(organization=org, member=person).first()
    if existing is not None:
        state = "a member of" if existing.accepted_at else "invited to"
        raise Invalid.field("username", f"{username} is already {state} {org.username}.", "member")
    return Membership.objects.create(organization=org, member=person, role=role, accepted_at=None)


def invitations(person: User):
    """The invitations waiting for `person`'s answer."""
    return Membership.objects.filter(member=person, accepted_at__isnull=True).select_related("organization")


@transaction.atomic
def answer_invitation(person: User, org_name: str, accept: bool) -> Membership | None:
    """`person` joins (accept) or turns down an invitation of theirs; NotFound if there is none."""
    invitation = invitations(person).filter(organization__username=org_name).select_for_update().first()
    if invitation is None:
        raise NotFound("no such invitation")
    if not accept:
        invitation.delete()
        return None
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    return invitation


def _membership(org: User, username: str) -> Membership:
    membership = Membership.objects.filter(organization=org, member__username=username).first()
    if membership is None:
        raise NotFound("no such member")
    return membership


def _check_keeps_an_admin(membership: Membership) -> None:
    admins = Membership.objects.active().filter(organization=membership.organization, role=Membership.Role.ADMIN)
    if membership.accepted_at and membership.role == Membership.Role.ADMIN and admins.count() == 1:
        raise Invalid.field("role", "An organization needs at least one admin.", "last_admin")


@transaction.atomic
def change_role(org: User, actor: User, username: str, role: str) -> Membership:
    _require_admin(org, actor)
    _check_role(role)
    membership = _membership(org, username)
    if role != membership.role:
        _check_keeps_an_admin(membership)
        membership.role = role
        membership.save(update_fields=["role"])
    return membership


@transaction.atomic
def remove_member(org: User, actor: User, username: str) -> None:
    _require_admin(org, actor)
    membership = _membership(org, username)
    _check_keeps_an_admin(membership)
    membership.delete()


def requester(request):
    """Who asks, on a route that takes either (a capability URL): the account of a Bearer token, else
    the session's user, anonymous when neither."""
    scheme, _, raw = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() in {"bearer", "token"} and (found := ApiToken.objects.authenticate(raw.strip())) is not None:
        return found.user
    return get_user(request)
